//! The account lifecycle end to end: the emails are real (`.eml` files
//! written by the server's jobs), and every link in them is followed.

use conduit_application::jobs::{JobFilter, JobState};
use conduit_tests::{PUBLIC_URL, TestApp, TestUser};
use serde_json::json;

fn invalid_token() -> serde_json::Value {
    json!({"errors": {"token": ["is invalid or expired"]}})
}

fn verify_prefix() -> String {
    format!("{PUBLIC_URL}/verify-email?token=")
}

fn reset_prefix() -> String {
    format!("{PUBLIC_URL}/reset-password?token=")
}

fn unsubscribe_prefix() -> String {
    format!("{PUBLIC_URL}/api/users/unsubscribe?token=")
}

#[tokio::test]
async fn registration_sends_a_welcome_whose_link_verifies_the_address_once() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let registered = app.get("/api/user", Some(&jake.token)).await;
    assert_eq!(registered.body["user"]["emailVerified"], false);
    assert_eq!(registered.body["user"]["emailNotifications"], true);

    let welcome = app.emails_to(&jake.email, 1).await.remove(0);
    assert!(welcome.subject.contains("Welcome"), "{}", welcome.subject);
    assert!(
        welcome.html.contains("Verify my address"),
        "{}",
        welcome.html
    );
    assert_eq!(welcome.list_unsubscribe, None, "not a notification");
    assert!(
        welcome.message_id.starts_with("job-"),
        "{}",
        welcome.message_id
    );
    let token = welcome.token_after(&verify_prefix());
    assert_eq!(token.len(), 43);
    assert!(
        welcome.html.contains(&token),
        "the HTML part has the same link"
    );

    let verified = app
        .post("/api/users/verify-email", None, &json!({"token": token}))
        .await;
    assert_eq!(verified.status, 200, "{}", verified.text);
    assert_eq!(verified.body["user"]["username"], "jake");
    assert_eq!(verified.body["user"]["emailVerified"], true);
    let signed_in = verified.body["user"]["token"].as_str().unwrap();
    assert_eq!(
        app.get("/api/user", Some(signed_in)).await.body["user"]["emailVerified"],
        true
    );

    let again = app
        .post("/api/users/verify-email", None, &json!({"token": token}))
        .await;
    assert_eq!(again.status, 422);
    assert_eq!(again.body, invalid_token());
    let wrong = app
        .post(
            "/api/users/verify-email",
            None,
            &json!({"token": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert_eq!(wrong.body, invalid_token());

    let resend = app
        .post(
            "/api/users/verify-email/resend",
            Some(signed_in),
            &json!({}),
        )
        .await;
    assert_eq!(resend.status, 422);
    assert_eq!(
        resend.body,
        json!({"errors": {"email": ["is already verified"]}})
    );
}

#[tokio::test]
async fn a_new_address_is_unverified_and_only_the_link_sent_to_it_verifies_it() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let old_link = app
        .emails_to(&jake.email, 1)
        .await
        .remove(0)
        .token_after(&verify_prefix());

    let changed = app
        .put(
            "/api/user",
            Some(&jake.token),
            &json!({"user": {"email": "jake.new@example.com"}}),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.body["user"]["emailVerified"], false);

    // The link sent to the old address no longer verifies anything.
    let stale = app
        .post("/api/users/verify-email", None, &json!({"token": old_link}))
        .await;
    assert_eq!(stale.status, 422);
    assert_eq!(stale.body, invalid_token());

    let email = app.emails_to("jake.new@example.com", 1).await.remove(0);
    assert!(email.subject.contains("Verify"), "{}", email.subject);
    let verified = app
        .post(
            "/api/users/verify-email",
            None,
            &json!({"token": email.token_after(&verify_prefix())}),
        )
        .await;
    assert_eq!(verified.status, 200, "{}", verified.text);
    assert_eq!(verified.body["user"]["email"], "jake.new@example.com");
    assert_eq!(verified.body["user"]["emailVerified"], true);
}

#[tokio::test]
async fn resending_sends_a_second_working_link() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    app.emails_to(&jake.email, 1).await;
    let resend = app
        .post(
            "/api/users/verify-email/resend",
            Some(&jake.token),
            &json!({}),
        )
        .await;
    assert_eq!(resend.status, 202, "{}", resend.text);
    let emails = app.emails_to(&jake.email, 2).await;
    let token = emails[1].token_after(&verify_prefix());
    assert_ne!(token, emails[0].token_after(&verify_prefix()));
    assert_ne!(emails[0].message_id, emails[1].message_id);
    let verified = app
        .post("/api/users/verify-email", None, &json!({"token": token}))
        .await;
    assert_eq!(verified.status, 200, "{}", verified.text);
}

async fn request_reset(app: &TestApp, email: &str) -> conduit_tests::TestResponse {
    app.post(
        "/api/users/password-reset",
        None,
        &json!({"user": {"email": email}}),
    )
    .await
}

#[tokio::test]
async fn a_password_reset_link_sets_a_new_password_once_and_revokes_every_token() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let known = request_reset(&app, &jake.email).await;
    let unknown = request_reset(&app, "nobody@example.com").await;
    assert_eq!(known.status, 202, "{}", known.text);
    assert_eq!(unknown.status, 202);
    assert_eq!(known.body, unknown.body, "no account enumeration");

    let emails = app.emails_to(&jake.email, 2).await;
    let reset = emails
        .iter()
        .find(|email| email.subject.contains("Reset"))
        .expect("a reset email");
    assert!(reset.text.contains("30 minutes"), "{}", reset.text);
    let token = reset.token_after(&reset_prefix());

    let weak = app
        .post(
            "/api/users/password-reset/confirm",
            None,
            &json!({"token": token, "password": "short"}),
        )
        .await;
    assert_eq!(weak.status, 422);
    assert!(weak.body["errors"]["password"].is_array(), "{}", weak.text);

    let confirmed = app
        .post(
            "/api/users/password-reset/confirm",
            None,
            &json!({"token": token, "password": "a brand new password"}),
        )
        .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
    let fresh = confirmed.body["user"]["token"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/api/user", Some(&fresh)).await.status, 200);
    let old = app.get("/api/user", Some(&jake.token)).await;
    assert_eq!(old.status, 401);
    assert_eq!(old.body, json!({"errors": {"token": ["has been revoked"]}}));

    let reused = app
        .post(
            "/api/users/password-reset/confirm",
            None,
            &json!({"token": token, "password": "yet another password"}),
        )
        .await;
    assert_eq!(reused.status, 422);
    assert_eq!(reused.body, invalid_token());

    let login = |password: &'static str| {
        let email = jake.email.clone();
        let app = &app;
        async move {
            app.post(
                "/api/users/login",
                None,
                &json!({"user": {"email": email, "password": password}}),
            )
            .await
            .status
        }
    };
    assert_eq!(login("a brand new password").await, 200);
    assert_eq!(login("yet another password").await, 401);
    // Nobody else got an email.
    assert!(
        app.emails().iter().all(|email| email.to == jake.email),
        "an email went to an unknown address"
    );
}

#[tokio::test]
async fn reset_requests_are_limited_per_address_like_log_ins() {
    let app = TestApp::spawn_with(|settings| settings.rate_login_per_account = 3).await;
    for _ in 0..3 {
        assert_eq!(request_reset(&app, "jake@example.com").await.status, 202);
    }
    let limited = request_reset(&app, "JAKE@example.com").await;
    assert_eq!(limited.status, 429, "{}", limited.text);
    assert!(limited.header("retry-after").is_some());
    assert_eq!(request_reset(&app, "anna@example.com").await.status, 202);
}

async fn publish(app: &TestApp, author: &TestUser, title: &str) -> String {
    app.create_article(author, title, &[]).await["slug"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_comment_emails_the_author_who_can_unsubscribe_in_one_click() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let anna = app.register("anna").await;
    let slug = publish(&app, &jake, "Dragons").await;
    let path = format!("/api/articles/{slug}/comments");

    // Jake's own comment tells no one.
    app.post(
        &path,
        Some(&jake.token),
        &json!({"comment": {"body": "mine"}}),
    )
    .await;
    app.post(
        &path,
        Some(&anna.token),
        &json!({"comment": {"body": "Nice <b>dragons</b>!"}}),
    )
    .await;
    let emails = app.emails_to(&jake.email, 2).await;
    let notice = emails
        .iter()
        .find(|email| email.subject.contains("commented"))
        .expect("a comment email");
    assert_eq!(notice.subject, "anna commented on \"Dragons\"");
    assert!(
        notice.text.contains("Nice <b>dragons</b>!"),
        "{}",
        notice.text
    );
    assert!(
        notice.html.contains("Nice &#60;b&#62;dragons&#60;/b&#62;!")
            || notice.html.contains("Nice &lt;b&gt;dragons&lt;/b&gt;!"),
        "what users write is escaped: {}",
        notice.html
    );
    assert!(
        notice
            .text
            .contains(&format!("{PUBLIC_URL}/article/{slug}"))
    );
    let unsubscribe = notice.token_after(&unsubscribe_prefix());
    assert_eq!(
        notice.list_unsubscribe.as_deref(),
        Some(format!("<{}{unsubscribe}>", unsubscribe_prefix()).as_str())
    );
    assert_eq!(
        notice.list_unsubscribe_post.as_deref(),
        Some("List-Unsubscribe=One-Click")
    );

    // What a mail client sends for one-click unsubscribe (RFC 8058).
    let one_click = conduit_tests::read(
        reqwest::Client::new()
            .post(app.url(&format!("/api/users/unsubscribe?token={unsubscribe}")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(one_click.status, 200, "{}", one_click.text);
    assert_eq!(one_click.body, json!({"emailNotifications": false}));
    assert_eq!(
        app.get("/api/user", Some(&jake.token)).await.body["user"]["emailNotifications"],
        false
    );

    // No more comment emails; the job still completes.
    app.post(
        &path,
        Some(&anna.token),
        &json!({"comment": {"body": "again"}}),
    )
    .await;
    wait_until_no_mail_job_is_pending(&app).await;
    assert!(
        !app.emails()
            .iter()
            .any(|email| email.text.contains("again")),
        "an unsubscribed author got a comment email"
    );
    // Notifications can be turned back on.
    let back_on = app
        .put(
            "/api/user",
            Some(&jake.token),
            &json!({"user": {"emailNotifications": true}}),
        )
        .await;
    assert_eq!(back_on.status, 200, "{}", back_on.text);
    assert_eq!(back_on.body["user"]["emailNotifications"], true);
}

async fn wait_until_no_mail_job_is_pending(app: &TestApp) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let pending = app
            .jobs()
            .list(JobFilter {
                queue: Some("mail".to_owned()),
                limit: 1000,
                ..JobFilter::default()
            })
            .await
            .unwrap()
            .into_iter()
            .filter(|job| !job.state.is_final())
            .count();
        if pending == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{pending} mail jobs still pending"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_new_article_emails_each_follower_once_and_strangers_never() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let fans = [
        app.register("fan1").await,
        app.register("fan2").await,
        app.register("fan3").await,
    ];
    let stranger = app.register("stranger").await;
    for fan in &fans {
        let followed = app
            .post("/api/profiles/jake/follow", Some(&fan.token), &json!({}))
            .await;
        assert_eq!(followed.status, 200);
    }
    // fan3 wants no notifications.
    app.put(
        "/api/user",
        Some(&fans[2].token),
        &json!({"user": {"emailNotifications": false}}),
    )
    .await;
    let slug = publish(&app, &jake, "Fresh ideas").await;
    wait_until_no_mail_job_is_pending(&app).await;

    for fan in &fans[..2] {
        let news: Vec<_> = app
            .emails_to(&fan.email, 1)
            .await
            .into_iter()
            .filter(|email| email.subject == "New from jake: Fresh ideas")
            .collect();
        assert_eq!(news.len(), 1, "{} got {news:?}", fan.username);
        assert!(
            news[0]
                .text
                .contains(&format!("{PUBLIC_URL}/article/{slug}"))
        );
        assert!(news[0].list_unsubscribe.is_some());
    }
    for nobody in [&fans[2], &stranger, &jake] {
        assert!(
            !app.emails()
                .iter()
                .any(|email| email.to == nobody.email && email.subject.starts_with("New from")),
            "{} got an article email",
            nobody.username
        );
    }
}

#[tokio::test]
async fn an_unsubscribe_link_opened_in_a_browser_asks_before_it_acts() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let anna = app.register("anna").await;
    let slug = publish(&app, &jake, "Dragons").await;
    app.post(
        &format!("/api/articles/{slug}/comments"),
        Some(&anna.token),
        &json!({"comment": {"body": "hi"}}),
    )
    .await;
    let notice = app
        .emails_to(&jake.email, 2)
        .await
        .into_iter()
        .find(|email| email.subject.contains("commented"))
        .unwrap();
    let path = format!(
        "/api/users/unsubscribe?token={}",
        notice.token_after(&unsubscribe_prefix())
    );
    let page = app.get(&path, None).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("<form method=\"post\""), "{}", page.text);
    // Opening the link (as a mail scanner does) changed nothing.
    assert_eq!(
        app.get("/api/user", Some(&jake.token)).await.body["user"]["emailNotifications"],
        true
    );
    let first = app.post(&path, None, &json!({})).await;
    assert_eq!(first.status, 200);
    let second = app.post(&path, None, &json!({})).await;
    assert_eq!(second.status, 422);
    assert_eq!(second.body, invalid_token());
}

#[tokio::test]
async fn an_smtp_outage_leaves_emails_retryable_in_the_queue_with_the_error() {
    // Nothing listens on this port: every attempt fails to connect.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let app = TestApp::spawn_with(|settings| {
        settings.smtp_url = Some(format!("smtp://127.0.0.1:{port}").as_str().into());
    })
    .await;
    let jake = app.register("jake").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let job = loop {
        let jobs = app
            .jobs()
            .list(JobFilter {
                queue: Some("mail".to_owned()),
                ..JobFilter::default()
            })
            .await
            .unwrap();
        if let Some(job) = jobs
            .into_iter()
            .find(|job| job.state == JobState::Retryable)
        {
            break job;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no retryable mail job"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(job.kind, "welcome_email");
    assert_eq!(job.attempt, 1);
    let error = &job.errors.last().unwrap().error;
    assert!(error.contains("mail server unavailable"), "{error}");
    assert!(
        app.emails().is_empty(),
        "no file fallback when SMTP is configured"
    );
    // The account itself was created and works.
    assert_eq!(app.get("/api/user", Some(&jake.token)).await.status, 200);
}
