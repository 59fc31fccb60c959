//! Email through a real SMTP server (`tests/support/smtp_sink.py`, aiosmtpd):
//! delivery, an outage the queue rides out, and a permanent refusal.
//!
//! `#[ignore]`d so that `cargo test` needs nothing but cargo; `cargo xtask
//! test` runs them on every backend it tests when python3 has aiosmtpd, and
//! CI requires them.

use std::time::{Duration, Instant};

use conduit_application::jobs::{Job, JobFilter, JobState};
use conduit_infrastructure::smtp_sink::Sink;
use conduit_tests::{SentEmail, TestApp};

async fn spawn_sending_to(url: String) -> TestApp {
    TestApp::spawn_with(move |settings| {
        settings.smtp_url = Some(url.as_str().into());
        // Retries 50 ms, 0.8 s, 4 s, 12.8 s after each failure.
        settings.job_backoff_base = Duration::from_millis(50);
    })
    .await
}

/// What the sink accepted, as the server sent it.
fn accepted(sink: &Sink) -> Vec<(Vec<String>, SentEmail)> {
    sink.messages()
        .iter()
        .map(|message| {
            let recipients = message["rcpt_tos"]
                .as_array()
                .unwrap()
                .iter()
                .map(|to| to.as_str().unwrap().to_owned())
                .collect();
            let raw = message["raw"].as_str().unwrap();
            (recipients, SentEmail::parse(raw.as_bytes()))
        })
        .collect()
}

async fn wait_for<T>(what: &str, limit: Duration, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "waited {limit:?} for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn mail_jobs(app: &TestApp) -> Vec<Job> {
    app.jobs()
        .list(JobFilter {
            queue: Some("mail".to_owned()),
            ..JobFilter::default()
        })
        .await
        .unwrap()
}

#[tokio::test]
#[ignore = "needs python3 with aiosmtpd: run by `cargo xtask test`"]
async fn a_welcome_email_is_delivered_by_smtp_as_text_and_html_with_the_jobs_message_id() {
    let sink = Sink::start();
    let app = spawn_sending_to(sink.url()).await;
    let jake = app.register("jake").await;
    let (recipients, email) = wait_for("the welcome email", Duration::from_secs(10), async || {
        accepted(&sink).into_iter().next()
    })
    .await;
    assert_eq!(recipients, std::slice::from_ref(&jake.email));
    assert_eq!(email.to, jake.email);
    assert!(email.subject.starts_with("Welcome"), "{}", email.subject);
    assert!(
        email.text.contains("/verify-email?token="),
        "{}",
        email.text
    );
    assert!(email.html.contains("Verify my address"), "{}", email.html);
    let job = wait_for("the completed job", Duration::from_secs(10), async || {
        mail_jobs(&app)
            .await
            .into_iter()
            .find(|job| job.state == JobState::Completed)
    })
    .await;
    assert_eq!(email.message_id, format!("job-{}@conduit.test", job.id.0));
    assert_eq!(job.kind, "welcome_email");
}

#[tokio::test]
#[ignore = "needs python3 with aiosmtpd: run by `cargo xtask test`"]
async fn an_email_that_met_an_smtp_outage_is_delivered_once_the_server_is_back() {
    // Reserve a port, and leave nothing listening on it for now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_sending_to(format!("smtp://127.0.0.1:{port}")).await;
    let jake = app.register("jake").await;
    let failed = wait_for("a failed attempt", Duration::from_secs(10), async || {
        mail_jobs(&app)
            .await
            .into_iter()
            .find(|job| !job.errors.is_empty())
    })
    .await;
    assert!(
        failed.errors[0].error.contains("mail server unavailable"),
        "{:?}",
        failed.errors
    );

    let sink = Sink::launch(port, None, tempfile::tempdir().unwrap());
    let (recipients, _) = wait_for(
        "the delivery after the outage",
        Duration::from_secs(30),
        async || accepted(&sink).into_iter().next(),
    )
    .await;
    assert_eq!(recipients, std::slice::from_ref(&jake.email));
    let job = wait_for("the job to complete", Duration::from_secs(10), async || {
        app.jobs()
            .show(failed.id.0)
            .await
            .ok()
            .filter(|job| job.state == JobState::Completed)
    })
    .await;
    assert!(job.attempt >= 2, "attempt {}", job.attempt);
    assert_eq!(job.errors.len(), usize::try_from(job.attempt - 1).unwrap());
    assert_eq!(accepted(&sink).len(), 1, "delivered once");
}

#[tokio::test]
#[ignore = "needs python3 with aiosmtpd: run by `cargo xtask test`"]
async fn an_address_the_server_refuses_for_good_is_discarded_at_once_with_the_reply() {
    let sink = Sink::start();
    let app = spawn_sending_to(sink.url()).await;
    let registered = app
        .post(
            "/api/users",
            None,
            &serde_json::json!({"user": {
                "username": "nobody",
                "email": "perm-fail@example.com",
                "password": "password1"
            }}),
        )
        .await;
    assert_eq!(
        registered.status, 201,
        "registration does not wait for email"
    );
    let job = wait_for("the discarded job", Duration::from_secs(10), async || {
        mail_jobs(&app)
            .await
            .into_iter()
            .find(|job| job.state == JobState::Discarded)
    })
    .await;
    assert_eq!(job.attempt, 1, "a 5xx is not retried");
    let error = &job.errors.last().unwrap().error;
    assert!(error.contains("550"), "{error}");
    assert!(accepted(&sink).is_empty());
}
