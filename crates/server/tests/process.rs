//! The `conduit` executable as an operator runs it: signals, crashes, TLS.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: failing loudly is the point"
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use conduit_infrastructure::testing::TestDatabase;
use serde_json::{Value, json};

/// A `conduit` process on a free port.
struct Server {
    child: Child,
    port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    fn start(db: &TestDatabase, data: &Path, extra_env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_conduit"));
        command
            .env_clear()
            .env("CONDUIT_BIND", format!("127.0.0.1:{port}"))
            .env("CONDUIT_DATABASE_URL", db.url())
            .env("CONDUIT_DATA_DIR", data)
            .env("CONDUIT_LOG", "warn")
            .env("CONDUIT_WORKERS", "2")
            .env("CONDUIT_RATE_REGISTER_PER_IP", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (name, value) in extra_env {
            command.env(name, value);
        }
        let child = command.spawn().expect("starting conduit");
        let server = Self { child, port };
        server.wait_until_listening();
        server
    }

    fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "conduit did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit and returns its exit code.
    fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "conduit did not exit in time");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn post(url: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(url).json(body);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Token {token}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish_then_exits_cleanly() {
    let db = TestDatabase::new();
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(&db, data.path(), &[("CONDUIT_SHUTDOWN_GRACE", "20s")]);

    // A registration whose body is still arriving when the signal comes.
    let body =
        json!({"user": {"username": "late", "email": "late@example.com", "password": "password1"}})
            .to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    write!(
        stream,
        "POST /api/users HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{first}",
        body.len()
    )
    .unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));

    server.signal("-TERM");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "still running while a request is in flight"
    );

    stream.write_all(rest.as_bytes()).unwrap();
    let mut response = String::new();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    assert!(response.contains("\"username\":\"late\""), "{response}");

    assert_eq!(server.wait_exit(Duration::from_secs(20)), Some(0));
}

#[tokio::test]
async fn an_acknowledged_write_survives_kill_9() {
    let db = TestDatabase::new();
    let data = tempfile::tempdir().unwrap();
    let token;
    {
        let server = Server::start(&db, data.path(), &[]);
        let (status, user) = post(
            &server.url("/api/users"),
            None,
            &json!({"user": {"username": "durable", "email": "durable@example.com", "password": "password1"}}),
        )
        .await;
        assert_eq!(status, 201);
        token = user["user"]["token"].as_str().unwrap().to_owned();
        let (status, _) = post(
            &server.url("/api/articles"),
            Some(&token),
            &json!({"article": {"title": "Written before the crash", "description": "d", "body": "b", "tagList": ["kept"]}}),
        )
        .await;
        assert_eq!(status, 201);
        server.signal("-KILL");
    }

    let server = Server::start(&db, data.path(), &[]);
    let article: Value = reqwest::get(server.url("/api/articles/written-before-the-crash"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(article["article"]["title"], "Written before the crash");
    assert_eq!(article["article"]["tagList"], json!(["kept"]));
    let me = reqwest::Client::new()
        .get(server.url("/api/user"))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        me.status(),
        200,
        "the token survives too: the secret was stored"
    );
}

#[tokio::test]
async fn serves_https_with_a_certificate_made_at_test_time() {
    let db = TestDatabase::new();
    let data = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_pem = certified.cert.pem();
    let cert_path = data.path().join("cert.pem");
    let key_path = data.path().join("key.pem");
    std::fs::write(&cert_path, &cert_pem).unwrap();
    std::fs::write(&key_path, certified.key_pair.serialize_pem()).unwrap();

    let server = Server::start(
        &db,
        data.path(),
        &[
            ("CONDUIT_TLS_CERT", cert_path.to_str().unwrap()),
            ("CONDUIT_TLS_KEY", key_path.to_str().unwrap()),
        ],
    );
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .resolve("localhost", ([127, 0, 0, 1], server.port).into())
        .build()
        .unwrap();
    let response = client
        .get(format!("https://localhost:{}/api/tags", server.port))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("strict-transport-security"));
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"tags": []}));

    let plain = reqwest::get(server.url("/api/tags")).await;
    assert!(
        plain.is_err() || !plain.unwrap().status().is_success(),
        "plain HTTP is not served"
    );
}

#[tokio::test]
async fn a_bad_certificate_path_stops_startup_with_a_clear_message() {
    let db = TestDatabase::new();
    let data = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_conduit"))
        .env_clear()
        .env("CONDUIT_BIND", format!("127.0.0.1:{}", free_port()))
        .env("CONDUIT_DATABASE_URL", db.url())
        .env("CONDUIT_DATA_DIR", data.path())
        .env("CONDUIT_TLS_CERT", "/nonexistent/cert.pem")
        .env("CONDUIT_TLS_KEY", "/nonexistent/key.pem")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/cert.pem"), "{stderr}");
}

// ------------------------------------------------------------------ jobs

/// Runs `conduit <args>` against the server's database and returns what it printed.
fn conduit(db: &TestDatabase, data: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_conduit"))
        .env_clear()
        .env("CONDUIT_DATABASE_URL", db.url())
        .env("CONDUIT_DATA_DIR", data)
        .env("CONDUIT_LOG", "warn")
        .args(args)
        .output()
        .expect("running conduit");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "conduit {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Enqueues one probe job; returns its id.
fn probe(db: &TestDatabase, data: &Path, extra: &[&str]) -> String {
    let mut args = vec!["jobs", "probe"];
    args.extend_from_slice(extra);
    let printed = conduit(db, data, &args);
    printed.trim().rsplit(' ').next().expect("an id").to_owned()
}

/// A field of `conduit jobs show ID`.
fn job_field(shown: &str, field: &str) -> String {
    shown
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .map(|value| value.trim().to_owned())
        .unwrap_or_else(|| panic!("no {field} in {shown}"))
}

/// Waits until the job is in `state`; returns `conduit jobs show` then.
fn wait_for_state(
    db: &TestDatabase,
    data: &Path,
    id: &str,
    state: &str,
    within: Duration,
) -> String {
    let deadline = Instant::now() + within;
    loop {
        let shown = conduit(db, data, &["jobs", "show", id]);
        if job_field(&shown, "state") == state {
            return shown;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} never became {state}:\n{shown}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Quick heartbeats and rescues, so that a test sees them within seconds.
const FAST_JOBS: [(&str, &str); 5] = [
    ("CONDUIT_JOB_HEARTBEAT", "200ms"),
    ("CONDUIT_JOB_MAINTENANCE_INTERVAL", "200ms"),
    ("CONDUIT_JOB_RESCUE_AFTER", "2s"),
    ("CONDUIT_JOB_POLL_INTERVAL", "100ms"),
    ("CONDUIT_JOB_BACKOFF_BASE", "10ms"),
];

fn with_fast_jobs<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = FAST_JOBS.to_vec();
    env.extend_from_slice(extra);
    env
}

#[tokio::test]
async fn a_job_whose_server_is_killed_mid_run_completes_once_after_a_restart() {
    let db = TestDatabase::new();
    let data = tempfile::tempdir().unwrap();
    let mut first = Server::start(
        &db,
        data.path(),
        &with_fast_jobs(&[("CONDUIT_INSTANCE", "first")]),
    );
    let id = probe(&db, data.path(), &["--sleep", "3s"]);
    wait_for_state(&db, data.path(), &id, "running", Duration::from_secs(10));

    first.signal("-KILL");
    first.wait_exit(Duration::from_secs(5));
    let orphaned = conduit(&db, data.path(), &["jobs", "show", &id]);
    assert_eq!(
        job_field(&orphaned, "state"),
        "running",
        "nobody finished it:\n{orphaned}"
    );
    assert_eq!(job_field(&orphaned, "attempted by"), "first");

    let second = Server::start(
        &db,
        data.path(),
        &with_fast_jobs(&[("CONDUIT_INSTANCE", "second")]),
    );
    let done = wait_for_state(&db, data.path(), &id, "completed", Duration::from_secs(30));
    assert_eq!(job_field(&done, "attempt"), "2 of 25", "{done}");
    assert_eq!(job_field(&done, "attempted by"), "second", "{done}");
    assert!(
        done.contains("attempt 1 at")
            && done.contains("rescued: worker first stopped heartbeating"),
        "{done}"
    );
    // Completed once: the restarted instance ran it to the end exactly once.
    let metrics = reqwest::get(second.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "conduit_job_attempts_total{kind=\"probe\",outcome=\"completed\",queue=\"default\"} 1\n"
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn sigterm_lets_a_running_job_finish_within_the_grace() {
    let db = TestDatabase::new();
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        &db,
        data.path(),
        &with_fast_jobs(&[("CONDUIT_SHUTDOWN_GRACE", "20s")]),
    );
    let id = probe(&db, data.path(), &["--sleep", "1500ms"]);
    wait_for_state(&db, data.path(), &id, "running", Duration::from_secs(10));
    server.signal("-TERM");
    assert_eq!(server.wait_exit(Duration::from_secs(15)), Some(0));
    let shown = conduit(&db, data.path(), &["jobs", "show", &id]);
    assert_eq!(job_field(&shown, "state"), "completed", "{shown}");
    assert_eq!(job_field(&shown, "attempt"), "1 of 25", "{shown}");
}

#[tokio::test]
async fn sigterm_releases_a_running_job_for_a_retry_when_the_grace_runs_out() {
    let db = TestDatabase::new();
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        &db,
        data.path(),
        &with_fast_jobs(&[("CONDUIT_SHUTDOWN_GRACE", "2s")]),
    );
    let id = probe(&db, data.path(), &["--sleep", "60s"]);
    wait_for_state(&db, data.path(), &id, "running", Duration::from_secs(10));
    let signalled = Instant::now();
    server.signal("-TERM");
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
    let took = signalled.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "stopped within the grace, took {took:?}"
    );
    let shown = conduit(&db, data.path(), &["jobs", "show", &id]);
    assert_eq!(job_field(&shown, "state"), "available", "{shown}");
    assert_eq!(
        job_field(&shown, "attempt"),
        "0 of 25",
        "the interrupted attempt does not count:\n{shown}"
    );
    assert!(
        shown.contains("interrupted: the instance stopped"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_job_that_fails_every_attempt_is_discarded_and_listed_with_its_last_error() {
    let db = TestDatabase::new();
    let data = tempfile::tempdir().unwrap();
    let _server = Server::start(&db, data.path(), &with_fast_jobs(&[]));
    let fine = probe(&db, data.path(), &[]);
    let doomed = probe(&db, data.path(), &["--fail", "10", "--attempts", "3"]);
    wait_for_state(
        &db,
        data.path(),
        &fine,
        "completed",
        Duration::from_secs(10),
    );
    let shown = wait_for_state(
        &db,
        data.path(),
        &doomed,
        "discarded",
        Duration::from_secs(20),
    );
    assert_eq!(job_field(&shown, "attempt"), "3 of 3", "{shown}");
    for attempt in 1..=3 {
        assert!(
            shown.contains(&format!("planned failure {attempt} of 10")),
            "{shown}"
        );
    }

    let listed = conduit(&db, data.path(), &["jobs", "list"]);
    eprintln!("conduit jobs list:\n{listed}");
    let line = listed
        .lines()
        .find(|line| line.split_whitespace().next() == Some(doomed.as_str()))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(
        line.contains("discarded")
            && line.contains("3/3")
            && line.contains("planned failure 3 of 10"),
        "{line}"
    );
    let discarded = conduit(&db, data.path(), &["jobs", "list", "--state", "discarded"]);
    assert!(
        discarded.contains(&doomed)
            && !discarded
                .lines()
                .any(|line| line.starts_with(&format!("{fine} "))),
        "{discarded}"
    );

    // An operator gives it another go: one more attempt, which fails again.
    let retried = conduit(&db, data.path(), &["jobs", "retry", &doomed]);
    assert!(retried.contains("available again"), "{retried}");
    let shown = wait_for_state(
        &db,
        data.path(),
        &doomed,
        "discarded",
        Duration::from_secs(20),
    );
    assert_eq!(job_field(&shown, "attempt"), "4 of 4", "{shown}");
}
