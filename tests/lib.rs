//! Test harness for the black-box HTTP tests: `TestApp::spawn()` starts the
//! real server (the same `Application` the binary runs) on a free port with
//! its own database and data directory, and talks to it over TCP.
//!
//! Logs are quiet unless `TEST_LOG` is set. The database is a temporary
//! SQLite file, or a fresh PostgreSQL database when
//! `CONDUIT_TEST_BACKEND=postgres` (see `conduit_infrastructure::testing`).

#![expect(
    clippy::expect_used,
    reason = "test harness: failing loudly is the point"
)]

use std::sync::{Arc, Once};

use conduit_application::jobs::JobUseCases;
use conduit_infrastructure::testing::TestDatabase;
use conduit_server::config::{LogFormat, Settings};
use conduit_server::startup::Application;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// A running server and a client for it.
pub struct TestApp {
    pub address: String,
    /// The operators' listener, when `metrics_bind` was set.
    pub metrics_address: Option<String>,
    pub client: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
    jobs: Arc<dyn JobUseCases>,
    db: Arc<TestDatabase>,
    _data: tempfile::TempDir,
}

/// An email the server wrote as a `.eml` file (no SMTP server configured).
#[derive(Debug, Clone)]
pub struct SentEmail {
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub text: String,
    pub html: String,
    /// `List-Unsubscribe` and `List-Unsubscribe-Post`, when present.
    pub list_unsubscribe: Option<String>,
    pub list_unsubscribe_post: Option<String>,
}

impl SentEmail {
    pub fn parse(bytes: &[u8]) -> Self {
        let message = mail_parser::MessageParser::default()
            .parse(bytes)
            .expect("a parseable email");
        let header = |name: &str| {
            message
                .header_raw(name)
                .map(|value| value.trim().to_owned())
        };
        Self {
            to: message
                .to()
                .and_then(|to| to.first())
                .and_then(|address| address.address())
                .unwrap_or_default()
                .to_owned(),
            subject: message.subject().unwrap_or_default().to_owned(),
            message_id: message.message_id().unwrap_or_default().to_owned(),
            text: message
                .body_text(0)
                .map(|text| text.into_owned())
                .unwrap_or_default(),
            html: message
                .body_html(0)
                .map(|html| html.into_owned())
                .unwrap_or_default(),
            list_unsubscribe: header("List-Unsubscribe"),
            list_unsubscribe_post: header("List-Unsubscribe-Post"),
        }
    }

    /// The token of the first link in the text part that starts with `prefix`.
    pub fn token_after(&self, prefix: &str) -> String {
        let start = self
            .text
            .find(prefix)
            .unwrap_or_else(|| panic!("no {prefix} link in {}", self.text))
            + prefix.len();
        self.text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl TestResponse {
    /// The header as text, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// A registered user.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub username: String,
    pub email: String,
    pub password: String,
    pub token: String,
}

static TRACING: Once = Once::new();

/// Where links in the test servers' emails point.
pub const PUBLIC_URL: &str = "https://conduit.test";

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts a server whose settings `configure` may change first.
    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> Self {
        Self::spawn_on(Arc::new(TestDatabase::new()), configure).await
    }

    /// Starts a second server on this one's database: two instances behind
    /// one load balancer. Give both the same `jwt_secret`.
    pub async fn spawn_beside(&self, configure: impl FnOnce(&mut Settings)) -> Self {
        Self::spawn_on(Arc::clone(&self.db), configure).await
    }

    async fn spawn_on(db: Arc<TestDatabase>, configure: impl FnOnce(&mut Settings)) -> Self {
        TRACING.call_once(|| {
            if std::env::var_os("TEST_LOG").is_some() {
                let _ = conduit_server::telemetry::init("info", LogFormat::Text);
            }
        });
        let data = tempfile::tempdir().expect("creating a data directory");
        let mut settings = Settings::defaults();
        settings.bind = "127.0.0.1:0".parse().expect("a valid address");
        settings.public_url = Some(PUBLIC_URL.to_owned());
        settings.database_url = db.url().into();
        settings.data_dir = data.path().to_owned();
        settings.jwt_secret = None;
        settings.workers = 2;
        settings.hash_concurrency = 2;
        settings.db_pool_size = 4;
        // Tests register and log in far faster than people do; the tests of
        // the limits turn them back on.
        settings.rate_login_per_ip = 0;
        settings.rate_login_per_account = 0;
        settings.rate_register_per_ip = 0;
        // Instances in one process need names of their own.
        settings.instance = Some(format!("test-{}", uuid::Uuid::new_v4().simple()));
        // Tests stop servers at once; nothing waits for a grace.
        settings.shutdown_grace = std::time::Duration::from_secs(2);
        configure(&mut settings);
        let app = Application::build(&settings)
            .await
            .expect("starting the server");
        let address = format!("http://127.0.0.1:{}", app.port());
        let metrics_address = app
            .metrics_port()
            .map(|port| format!("http://127.0.0.1:{port}"));
        let handle = app.handle();
        let jobs = app.jobs();
        tokio::spawn(app.run_until_stopped());
        Self {
            address,
            metrics_address,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("building the HTTP client"),
            handle,
            jobs,
            db,
            _data: data,
        }
    }

    /// Two instances on one PostgreSQL database, sharing a JWT secret, as
    /// behind a load balancer; `None`, after saying why, on SQLite (only
    /// PostgreSQL is shared by several instances).
    pub async fn pair_on_postgres() -> Option<(Self, Self)> {
        if conduit_infrastructure::testing::backend()
            != conduit_infrastructure::db::BackendKind::Postgres
        {
            eprintln!(
                "skipped: several instances share only a PostgreSQL database (CONDUIT_TEST_BACKEND=postgres)"
            );
            return None;
        }
        let secret = "a-secret-shared-by-every-instance-0123456789";
        let first = Self::spawn_with(|settings| settings.jwt_secret = Some(secret.into())).await;
        let second = first
            .spawn_beside(|settings| settings.jwt_secret = Some(secret.into()))
            .await;
        Some((first, second))
    }

    /// Where this instance writes its emails.
    pub fn mail_dir(&self) -> std::path::PathBuf {
        self._data.path().join("mail")
    }

    /// Every email written so far, oldest first.
    pub fn emails(&self) -> Vec<SentEmail> {
        let Ok(entries) = std::fs::read_dir(self.mail_dir()) else {
            return Vec::new();
        };
        let mut paths: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|path| SentEmail::parse(&std::fs::read(path).expect("reading an email")))
            .collect()
    }

    /// Waits (up to 10 s) until `count` emails to `to` exist; answers them.
    pub async fn emails_to(&self, to: &str, count: usize) -> Vec<SentEmail> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let found: Vec<_> = self
                .emails()
                .into_iter()
                .filter(|email| email.to == to)
                .collect();
            if found.len() >= count {
                return found;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{count} emails to {to} expected, found {}: {found:?}",
                found.len()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The job queue of this instance, as operators see it.
    pub fn jobs(&self) -> &dyn JobUseCases {
        &*self.jobs
    }

    /// The server's database, for what the API cannot do.
    pub fn db(&self) -> &TestDatabase {
        &self.db
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Sends a request with an optional token and JSON body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> TestResponse {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Token {token}"));
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        read(request.send().await.expect("sending a request")).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> TestResponse {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> TestResponse {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: &Value) -> TestResponse {
        self.request(Method::PUT, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> TestResponse {
        self.request(Method::DELETE, path, token, None).await
    }

    /// Registers `username` (email `<username>@example.com`).
    pub async fn register(&self, username: &str) -> TestUser {
        let email = format!("{username}@example.com");
        let password = format!("{username}-password");
        let response = self
            .post(
                "/api/users",
                None,
                &json!({"user": {"username": username, "email": email, "password": password}}),
            )
            .await;
        assert_eq!(
            response.status, 201,
            "registering {username}: {}",
            response.text
        );
        TestUser {
            username: username.to_owned(),
            email,
            password,
            token: response.body["user"]["token"]
                .as_str()
                .expect("a token")
                .to_owned(),
        }
    }

    /// Creates an article by `author` and returns it (the `article` object).
    pub async fn create_article(&self, author: &TestUser, title: &str, tags: &[&str]) -> Value {
        let response = self
            .post(
                "/api/articles",
                Some(&author.token),
                &json!({"article": {
                    "title": title,
                    "description": format!("About {title}"),
                    "body": format!("All about {title}."),
                    "tagList": tags,
                }}),
            )
            .await;
        assert_eq!(response.status, 201, "creating {title}: {}", response.text);
        response.body["article"].clone()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stops the worker threads; the runtime that awaited the server may
        // already be gone, so the returned future is not awaited.
        drop(self.handle.stop(false));
    }
}

/// Reads a whole response; the body is parsed as JSON when it is JSON.
pub async fn read(response: reqwest::Response) -> TestResponse {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("reading a response body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    TestResponse {
        status,
        headers,
        text,
        body,
    }
}

/// The slugs of a `{"articles": [...]}` page, in order.
pub fn slugs(body: &Value) -> Vec<String> {
    body["articles"]
        .as_array()
        .expect("an articles page")
        .iter()
        .map(|article| article["slug"].as_str().expect("a slug").to_owned())
        .collect()
}

/// The field names of a RealWorld error body.
pub fn error_fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_object()
        .map(|errors| errors.keys().cloned().collect())
        .unwrap_or_default()
}
