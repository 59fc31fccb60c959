//! Test support for the handler tests: one mock per use case, a runner that
//! sends one request through the whole app (routes, extractors, error
//! mapping, request envelope), and fixtures with known JSON renderings.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::test::{self, TestRequest};
use chrono::{DateTime, Utc};
use conduit_application::AppError;
use conduit_application::accounts::MockAccountUseCases;
use conduit_application::articles::MockArticleUseCases;
use conduit_application::comments::MockCommentUseCases;
use conduit_application::error::Cause;
use conduit_application::health::MockHealthCheck;
use conduit_application::jobs::MockJobUseCases;
use conduit_application::profiles::MockProfileUseCases;
use conduit_application::tags::MockTagUseCases;
use conduit_application::uploads::MockUploadUseCases;
use conduit_application::users::MockUserUseCases;
use conduit_application::views::{
    Account, ArticleRecord, ArticleSummary, ArticleView, Author, CommentView, Profile,
};
use conduit_domain::{ArticleId, CommentId, UserId};
use serde_json::Value;

use crate::rate_limit::RateLimitSettings;
use crate::{HttpSettings, Services, WebState};

/// The token that `Mocks::signed_in` accepts.
pub const TOKEN: &str = "header.payload.signature";
/// Who `TOKEN` belongs to.
pub const CALLER: UserId = UserId(1);

/// One mock per use case. A mock called against its expectations (or not
/// at all) panics: inside a handler the request envelope turns that into a
/// 500, and the mock panics again when `send` drops it, failing the test.
#[derive(Default)]
pub struct Mocks {
    pub users: MockUserUseCases,
    pub accounts: MockAccountUseCases,
    pub uploads: MockUploadUseCases,
    pub profiles: MockProfileUseCases,
    pub articles: MockArticleUseCases,
    pub comments: MockCommentUseCases,
    pub tags: MockTagUseCases,
    pub health: MockHealthCheck,
    pub jobs: MockJobUseCases,
}

impl Mocks {
    /// No token may be checked: the request is anonymous or rejected before.
    pub fn anonymous() -> Self {
        let mut mocks = Self::default();
        mocks.users.expect_authenticate().never();
        mocks
    }

    /// `TOKEN` authenticates as `CALLER`, once.
    pub fn signed_in() -> Self {
        let mut mocks = Self::default();
        mocks
            .users
            .expect_authenticate()
            .withf(|token| token == TOKEN)
            .times(1)
            .returning(|_| Ok(CALLER));
        mocks
    }

    pub fn services(self) -> Services {
        Services {
            users: Arc::new(self.users),
            accounts: Arc::new(self.accounts),
            uploads: Arc::new(self.uploads),
            profiles: Arc::new(self.profiles),
            articles: Arc::new(self.articles),
            comments: Arc::new(self.comments),
            tags: Arc::new(self.tags),
            health: Arc::new(self.health),
            jobs: Arc::new(self.jobs),
        }
    }

    /// Sends one request through the app built on these mocks. The mocks are
    /// dropped (and their call counts checked) before this returns.
    pub async fn send(self, request: TestRequest) -> Reply {
        self.send_with(HttpSettings::default(), request).await
    }

    /// `send` with other HTTP settings (rate limits stay off).
    pub async fn send_with(self, settings: HttpSettings, request: TestRequest) -> Reply {
        let state = WebState::new(HttpSettings {
            rate_limits: RateLimitSettings::off(),
            ..settings
        });
        let app = test::init_service(crate::app(self.services(), state)).await;
        let (status, headers, bytes) =
            match test::try_call_service(&app, request.to_request()).await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    (status, headers, test::read_body(response).await)
                }
                // What actix would render for an error that left no response.
                Err(error) => {
                    let response = error.error_response();
                    let status = response.status();
                    let headers = response.headers().clone();
                    let bytes = actix_web::body::to_bytes(response.into_body())
                        .await
                        .unwrap_or_default();
                    (status, headers, bytes)
                }
            };
        drop(app);
        let text = String::from_utf8(bytes.to_vec()).expect("the body is UTF-8");
        let is_json = headers
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/json"));
        let body = if text.is_empty() || !is_json {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|error| panic!("the body is not JSON ({error}): {text}"))
        };
        Reply {
            status,
            headers,
            text,
            body,
        }
    }
}

/// What came back.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body as sent.
    pub text: String,
    /// The body parsed as JSON; `null` when empty.
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// Asserts a RealWorld error body naming exactly `fields`, each with one
    /// or more messages, and returns the first message of the first field.
    #[track_caller]
    pub fn assert_errors(&self, fields: &[&str]) -> String {
        let errors = self.body["errors"]
            .as_object()
            .unwrap_or_else(|| panic!("not an error body: {}", self.text));
        assert_eq!(
            self.body.as_object().map(|o| o.len()),
            Some(1),
            "{}",
            self.text
        );
        let names: Vec<_> = errors.keys().map(String::as_str).collect();
        assert_eq!(names, fields, "{}", self.text);
        for (field, messages) in errors {
            let messages = messages
                .as_array()
                .unwrap_or_else(|| panic!("messages of {field} are not a list: {}", self.text));
            assert!(!messages.is_empty(), "{}", self.text);
            assert!(messages.iter().all(Value::is_string), "{}", self.text);
        }
        errors
            .values()
            .next()
            .and_then(|messages| messages[0].as_str())
            .unwrap_or_default()
            .to_owned()
    }

    /// Asserts a 401 that asks for a `Token`.
    #[track_caller]
    pub fn assert_unauthorized(&self, message: &str) {
        assert_eq!(self.status, StatusCode::UNAUTHORIZED, "{}", self.text);
        assert_eq!(self.header("www-authenticate"), Some("Token"));
        assert_eq!(self.assert_errors(&["token"]), message);
    }

    /// Asserts an opaque 500 that quotes its request id.
    #[track_caller]
    pub fn assert_opaque_internal_error(&self) {
        assert_eq!(
            self.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{}",
            self.text
        );
        assert!(!self.text.contains("SELECT"), "{}", self.text);
        assert!(!self.text.contains("secret"), "{}", self.text);
        let id = self.header("x-request-id").expect("a request id");
        assert!(!id.is_empty());
        assert!(self.text.contains(id), "{} lacks {id}", self.text);
        self.assert_errors(&["server"]);
    }
}

/// The request with `Authorization: Token TOKEN`.
pub fn with_token(request: TestRequest) -> TestRequest {
    request.insert_header(("Authorization", format!("Token {TOKEN}")))
}

/// A failure whose cause must never reach the client.
pub fn internal_error() -> AppError {
    AppError::Internal(Cause::from("SELECT * FROM secret"))
}

/// A time as stored (microseconds) and its rendering (milliseconds).
pub const CREATED_AT: &str = "2016-02-18T03:22:56.637Z";
pub const UPDATED_AT: &str = "2016-02-18T03:48:35.824Z";

fn created_at() -> DateTime<Utc> {
    "2016-02-18T03:22:56.637412Z".parse().expect("a valid time")
}

fn updated_at() -> DateTime<Utc> {
    "2016-02-18T03:48:35.824999Z".parse().expect("a valid time")
}

pub fn account() -> Account {
    Account {
        id: CALLER,
        username: "jake".to_owned(),
        email: "jake@jake.jake".to_owned(),
        bio: None,
        image: None,
        token_version: 0,
        email_verified: false,
        email_notifications: true,
    }
}

pub fn profile(following: bool) -> Profile {
    Profile {
        username: "celeb".to_owned(),
        bio: Some("I work at statefarm".to_owned()),
        image: None,
        following,
    }
}

fn author() -> Author {
    Author {
        id: UserId(2),
        username: "celeb".to_owned(),
        bio: Some("I work at statefarm".to_owned()),
        image: Some("https://example.com/celeb.jpg".to_owned()),
    }
}

pub fn summary(slug: &str) -> ArticleView<ArticleSummary> {
    ArticleView {
        article: ArticleSummary {
            id: ArticleId(10),
            slug: slug.to_owned(),
            title: "How to train your dragon".to_owned(),
            description: "Ever wonder how?".to_owned(),
            tags: vec!["dragons".to_owned(), "training".to_owned()],
            created_at: created_at(),
            updated_at: updated_at(),
            favorites_count: 3,
            author: author(),
        },
        favorited: true,
        author: author().viewed(true),
    }
}

pub fn article(slug: &str, favorited: bool) -> ArticleView<ArticleRecord> {
    let view = summary(slug);
    ArticleView {
        article: ArticleRecord {
            summary: view.article,
            body: "You have to believe".to_owned(),
        },
        favorited,
        author: view.author,
    }
}

/// The JSON of `article(slug, favorited)`.
pub fn article_json(slug: &str, favorited: bool) -> Value {
    serde_json::json!({
        "slug": slug,
        "title": "How to train your dragon",
        "description": "Ever wonder how?",
        "body": "You have to believe",
        "tagList": ["dragons", "training"],
        "createdAt": CREATED_AT,
        "updatedAt": UPDATED_AT,
        "favorited": favorited,
        "favoritesCount": 3,
        "author": {
            "username": "celeb",
            "bio": "I work at statefarm",
            "image": "https://example.com/celeb.jpg",
            "following": true
        }
    })
}

pub fn comment(id: i64) -> CommentView {
    CommentView {
        id: CommentId(id),
        body: "Thank you so much!".to_owned(),
        created_at: created_at(),
        updated_at: created_at(),
        author: author().viewed(false),
    }
}
