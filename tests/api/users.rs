use conduit_tests::{TestApp, error_fields};
use serde_json::json;

#[tokio::test]
async fn register_login_current_user_and_update_round_trip() {
    let app = TestApp::spawn().await;

    let registered = app
        .post(
            "/api/users",
            None,
            &json!({"user": {"username": "jake", "email": "jake@jake.jake", "password": "jakejake"}}),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.text);
    let user = &registered.body["user"];
    assert_eq!(user["username"], "jake");
    assert_eq!(user["email"], "jake@jake.jake");
    assert_eq!(user["bio"], serde_json::Value::Null);
    assert_eq!(user["image"], serde_json::Value::Null);
    assert_eq!(
        user.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "bio",
            "email",
            "emailNotifications",
            "emailVerified",
            "image",
            "token",
            "username"
        ]
    );

    let login = app
        .post(
            "/api/users/login",
            None,
            &json!({"user": {"email": "JAKE@Jake.Jake", "password": "jakejake"}}),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text);
    let token = login.body["user"]["token"].as_str().unwrap().to_owned();

    let current = app.get("/api/user", Some(&token)).await;
    assert_eq!(current.status, 200);
    assert_eq!(current.body["user"]["username"], "jake");
    assert_eq!(current.body["user"]["token"], token.as_str());

    let updated = app
        .put(
            "/api/user",
            Some(&token),
            &json!({"user": {"bio": "I like to skateboard", "image": "https://i.stack.imgur.com/xHWG8.jpg"}}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.body["user"]["bio"], "I like to skateboard");
    assert_eq!(
        updated.body["user"]["image"],
        "https://i.stack.imgur.com/xHWG8.jpg"
    );

    let cleared = app
        .put(
            "/api/user",
            Some(&token),
            &json!({"user": {"bio": null, "image": ""}}),
        )
        .await;
    assert_eq!(cleared.status, 200, "{}", cleared.text);
    assert_eq!(cleared.body["user"]["bio"], serde_json::Value::Null);
    assert_eq!(cleared.body["user"]["image"], serde_json::Value::Null);
}

#[tokio::test]
async fn changing_the_password_changes_what_logs_in() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let changed = app
        .put(
            "/api/user",
            Some(&jake.token),
            &json!({"user": {"password": "a brand new password"}}),
        )
        .await;
    assert_eq!(changed.status, 200);
    let old = app
        .post(
            "/api/users/login",
            None,
            &json!({"user": {"email": jake.email, "password": jake.password}}),
        )
        .await;
    assert_eq!(old.status, 401);
    let new = app
        .post(
            "/api/users/login",
            None,
            &json!({"user": {"email": jake.email, "password": "a brand new password"}}),
        )
        .await;
    assert_eq!(new.status, 200);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_401() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let wrong_password = app
        .post(
            "/api/users/login",
            None,
            &json!({"user": {"email": jake.email, "password": "not the password"}}),
        )
        .await;
    let unknown_email = app
        .post(
            "/api/users/login",
            None,
            &json!({"user": {"email": "nobody@example.com", "password": "not the password"}}),
        )
        .await;
    assert_eq!(wrong_password.status, 401);
    assert_eq!(unknown_email.status, 401);
    assert_eq!(wrong_password.body, unknown_email.body);
    assert_eq!(wrong_password.header("www-authenticate"), Some("Token"));
}

#[tokio::test]
async fn duplicate_email_or_username_is_422_ignoring_case() {
    let app = TestApp::spawn().await;
    app.register("jake").await;
    let same_email = app
        .post(
            "/api/users",
            None,
            &json!({"user": {"username": "other", "email": "JAKE@example.com", "password": "password1"}}),
        )
        .await;
    assert_eq!(same_email.status, 422);
    assert_eq!(
        same_email.body,
        json!({"errors": {"email": ["has already been taken"]}})
    );

    let same_username = app
        .post(
            "/api/users",
            None,
            &json!({"user": {"username": "JAKE", "email": "other@example.com", "password": "password1"}}),
        )
        .await;
    assert_eq!(same_username.status, 422);
    assert_eq!(
        same_username.body,
        json!({"errors": {"username": ["has already been taken"]}})
    );
}

#[tokio::test]
async fn simultaneous_registrations_with_one_email_give_one_201() {
    let app = TestApp::spawn().await;
    let bodies: Vec<_> = (0..20)
        .map(|i| json!({"user": {"username": format!("racer{i}"), "email": "race@example.com", "password": "password1"}}))
        .collect();
    let attempts = bodies.iter().map(|body| app.post("/api/users", None, body));
    let responses = futures_util::future::join_all(attempts).await;
    let created = responses.iter().filter(|r| r.status == 201).count();
    let rejected: Vec<_> = responses.iter().filter(|r| r.status == 422).collect();
    assert_eq!(created, 1, "{responses:?}");
    assert_eq!(rejected.len(), 19, "{responses:?}");
    for response in rejected {
        assert_eq!(
            response.body,
            json!({"errors": {"email": ["has already been taken"]}})
        );
    }
}

#[tokio::test]
async fn invalid_registration_fields_are_each_reported() {
    let app = TestApp::spawn().await;
    let response = app
        .post(
            "/api/users",
            None,
            &json!({"user": {"username": "no spaces allowed", "email": "not-an-email", "password": "short"}}),
        )
        .await;
    assert_eq!(response.status, 422);
    assert_eq!(
        error_fields(&response.body),
        ["email", "password", "username"]
    );
}

#[tokio::test]
async fn update_rejects_bad_fields_and_taken_names() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    app.register("celeb").await;
    for (body, field) in [
        (json!({"user": {"image": "javascript:alert(1)"}}), "image"),
        (json!({"user": {"email": "nope"}}), "email"),
        (json!({"user": {"username": "celeb"}}), "username"),
        (json!({"user": {"email": "CELEB@example.com"}}), "email"),
        (json!({"user": {"bio": "x".repeat(1001)}}), "bio"),
        (json!({"user": {}}), "user"),
    ] {
        let response = app.put("/api/user", Some(&jake.token), &body).await;
        assert_eq!(response.status, 422, "{body}: {}", response.text);
        assert_eq!(error_fields(&response.body), [field], "{body}");
    }
}

#[tokio::test]
async fn tokens_are_checked_on_every_protected_call() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let bearer = app
        .client
        .get(app.url("/api/user"))
        .header("Authorization", format!("Bearer {}", jake.token))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200, "Bearer is accepted too");

    for header in [
        None,
        Some("Token".to_owned()),
        Some("Token ".to_owned()),
        Some("Basic abc".to_owned()),
        Some("Token garbage".to_owned()),
        Some(format!("Token {}x", jake.token)),
        Some(jake.token.clone()),
    ] {
        let mut request = app.client.get(app.url("/api/user"));
        if let Some(header) = &header {
            request = request.header("Authorization", header);
        }
        let response = conduit_tests::read(request.send().await.unwrap()).await;
        assert_eq!(response.status, 401, "{header:?}");
        assert_eq!(error_fields(&response.body), ["token"], "{header:?}");
    }
}

#[tokio::test]
async fn tokens_survive_a_restart_with_the_same_data_directory() {
    let data = tempfile::tempdir().unwrap();
    let db = conduit_infrastructure::testing::TestDatabase::new();
    let configure = |settings: &mut conduit_server::config::Settings| {
        settings.data_dir = data.path().to_owned();
        settings.database_url = db.url().into();
    };
    let token = {
        let first = TestApp::spawn_with(configure).await;
        first.register("jake").await.token
    };
    let second = TestApp::spawn_with(configure).await;
    let response = second.get("/api/user", Some(&token)).await;
    assert_eq!(response.status, 200, "{}", response.text);
}

#[tokio::test]
async fn a_password_change_revokes_every_earlier_token_and_returns_a_fresh_one() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let second_device = app
        .post(
            "/api/users/login",
            None,
            &json!({"user": {"email": jake.email, "password": jake.password}}),
        )
        .await
        .body["user"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.get("/api/user", Some(&second_device)).await.status, 200);

    let changed = app
        .put(
            "/api/user",
            Some(&jake.token),
            &json!({"user": {"password": "a brand new password"}}),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    let fresh = changed.body["user"]["token"].as_str().unwrap().to_owned();
    assert_ne!(fresh, jake.token);

    for old in [&jake.token, &second_device] {
        let refused = app.get("/api/user", Some(old)).await;
        assert_eq!(refused.status, 401, "{}", refused.text);
        assert_eq!(
            refused.body,
            json!({"errors": {"token": ["has been revoked"]}})
        );
    }
    let current = app.get("/api/user", Some(&fresh)).await;
    assert_eq!(current.status, 200, "{}", current.text);
    assert_eq!(current.body["user"]["username"], "jake");
}

#[tokio::test]
async fn a_profile_change_without_a_password_keeps_tokens_valid() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let changed = app
        .put(
            "/api/user",
            Some(&jake.token),
            &json!({"user": {"bio": "hi"}}),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.body["user"]["token"], jake.token.as_str());
    assert_eq!(app.get("/api/user", Some(&jake.token)).await.status, 200);
}

#[tokio::test]
async fn logout_revokes_the_callers_tokens_and_no_one_elses() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let anna = app.register("anna").await;
    // Warm the cached record first: revocation must reach it.
    assert_eq!(app.get("/api/user", Some(&jake.token)).await.status, 200);

    let logout = app
        .post("/api/users/logout", Some(&jake.token), &json!({}))
        .await;
    assert_eq!(logout.status, 204, "{}", logout.text);
    assert!(logout.text.is_empty());

    let refused = app.get("/api/user", Some(&jake.token)).await;
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.body,
        json!({"errors": {"token": ["has been revoked"]}})
    );
    let again = app
        .post("/api/users/logout", Some(&jake.token), &json!({}))
        .await;
    assert_eq!(again.status, 401);
    assert_eq!(app.get("/api/user", Some(&anna.token)).await.status, 200);

    let login = app
        .post(
            "/api/users/login",
            None,
            &json!({"user": {"email": jake.email, "password": jake.password}}),
        )
        .await;
    assert_eq!(login.status, 200);
    let token = login.body["user"]["token"].as_str().unwrap();
    assert_eq!(app.get("/api/user", Some(token)).await.status, 200);
}

#[tokio::test]
async fn a_logout_through_one_instance_is_refused_by_the_others() {
    let Some((first, second)) = TestApp::pair_on_postgres().await else {
        return;
    };
    let jake = first.register("jake").await;
    // The other instance holds jake's record, token version included.
    assert_eq!(second.get("/api/user", Some(&jake.token)).await.status, 200);

    let logout = first
        .post("/api/users/logout", Some(&jake.token), &json!({}))
        .await;
    assert_eq!(logout.status, 204);
    let logged_out = std::time::Instant::now();
    let deadline = logged_out + std::time::Duration::from_secs(5);
    loop {
        if second.get("/api/user", Some(&jake.token)).await.status == 401 {
            eprintln!(
                "the other instance refused the token after {:?}",
                logged_out.elapsed()
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the other instance still accepts a revoked token"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
