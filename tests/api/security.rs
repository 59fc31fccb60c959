//! Authentication failures, security headers and abuse limits.

use conduit_tests::{TestApp, error_fields, read};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

const SECRET: &str = "a-test-secret-that-is-long-enough-0123456789";

async fn app_with_known_secret() -> TestApp {
    TestApp::spawn_with(|settings| settings.jwt_secret = Some(SECRET.into())).await
}

fn forge(header: &Header, claims: &serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(header, claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

#[tokio::test]
async fn every_kind_of_bad_token_gets_a_401_json_error() {
    let app = app_with_known_secret().await;
    let jake = app.register("jake").await;
    let id = {
        // The subject of a real token, to forge others for the same user.
        let payload = jake.token.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&base64_url_decode(payload)).unwrap();
        claims["sub"].as_str().unwrap().to_owned()
    };
    let valid_claims = json!({"sub": id, "iss": "conduit", "iat": now(), "exp": now() + 600});
    let good = forge(&Header::new(Algorithm::HS256), &valid_claims, SECRET);
    assert_eq!(
        app.get("/api/user", Some(&good)).await.status,
        200,
        "the forging works"
    );

    let expired = forge(
        &Header::new(Algorithm::HS256),
        &json!({"sub": id, "iss": "conduit", "iat": now() - 7200, "exp": now() - 3600}),
        SECRET,
    );
    let wrong_secret = forge(
        &Header::new(Algorithm::HS256),
        &valid_claims,
        "another-secret-another-secret-0123456789",
    );
    let other_algorithm = forge(&Header::new(Algorithm::HS384), &valid_claims, SECRET);
    let wrong_issuer = forge(
        &Header::new(Algorithm::HS256),
        &json!({"sub": id, "iss": "someone-else", "iat": now(), "exp": now() + 600}),
        SECRET,
    );
    let no_expiry = forge(
        &Header::new(Algorithm::HS256),
        &json!({"sub": id, "iss": "conduit"}),
        SECRET,
    );
    let unsigned = {
        let header = base64_url_encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = base64_url_encode(valid_claims.to_string().as_bytes());
        format!("{header}.{payload}.")
    };
    let cases = [
        ("expired", expired, "has expired"),
        ("wrongly signed", wrong_secret, "is invalid"),
        ("HS384", other_algorithm, "is invalid"),
        ("alg none", unsigned, "is invalid"),
        ("foreign issuer", wrong_issuer, "is invalid"),
        ("no expiry", no_expiry, "is invalid"),
        ("garbage", "not.a.jwt".to_owned(), "is invalid"),
    ];
    for (name, token, message) in cases {
        for path in [
            "/api/user",
            "/api/articles/feed",
            "/api/articles",
            "/api/profiles/jake",
        ] {
            let response = app.get(path, Some(&token)).await;
            assert_eq!(response.status, 401, "{name} on {path}");
            assert_eq!(
                response.body,
                json!({"errors": {"token": [message]}}),
                "{name} on {path}"
            );
            assert_eq!(response.header("www-authenticate"), Some("Token"));
        }
    }
}

#[tokio::test]
async fn a_token_of_a_deleted_user_is_rejected() {
    let app = TestApp::spawn().await;
    let ghost = app.register("ghost").await;
    app.db()
        .execute("DELETE FROM users WHERE username_key = 'ghost'");
    let response = app.get("/api/user", Some(&ghost.token)).await;
    assert_eq!(response.status, 401);
    assert_eq!(
        response.body,
        json!({"errors": {"token": ["belongs to no user"]}})
    );
    let write = app
        .post(
            "/api/articles",
            Some(&ghost.token),
            &json!({"article": {"title": "t", "description": "d", "body": "b"}}),
        )
        .await;
    assert_eq!(write.status, 401);
}

#[tokio::test]
async fn responses_carry_security_headers_and_no_server_banner() {
    let app = TestApp::spawn().await;
    for path in ["/api/tags", "/api/nowhere", "/api/user", "/health/live"] {
        let response = app.get(path, None).await;
        assert_eq!(
            response.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            response.header("referrer-policy"),
            Some("no-referrer"),
            "{path}"
        );
        assert_eq!(response.header("x-frame-options"), Some("DENY"), "{path}");
        let csp = response.header("content-security-policy").unwrap();
        assert!(csp.starts_with("default-src 'none'"), "{path}: {csp}");
        assert!(response.header("server").is_none(), "{path}");
        assert!(
            response.header("strict-transport-security").is_none(),
            "no HSTS over plain HTTP"
        );
    }
    let docs = app.get("/swagger-ui/", None).await;
    let csp = docs.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
}

#[tokio::test]
async fn a_login_burst_is_limited_while_reads_keep_answering() {
    let app = TestApp::spawn_with(|settings| {
        settings.rate_login_per_account = 5;
        settings.rate_login_per_ip = 1000;
    })
    .await;
    let jake = app.register("jake").await;
    let attempt = json!({"user": {"email": jake.email, "password": "wrong password"}});
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(app.post("/api/users/login", None, &attempt).await.status);
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);

    let limited = app.post("/api/users/login", None, &attempt).await;
    assert_eq!(limited.status, 429);
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=12).contains(&retry_after), "{retry_after}");
    assert_eq!(error_fields(&limited.body), ["request"]);
    // Even the right password waits: the account is limited, not the guess.
    let right = app
        .post(
            "/api/users/login",
            None,
            &json!({"user": {"email": jake.email, "password": jake.password}}),
        )
        .await;
    assert_eq!(right.status, 429);

    assert_eq!(app.get("/api/articles", None).await.status, 200);
    let other = app.register("other").await;
    let other_login = app
        .post(
            "/api/users/login",
            None,
            &json!({"user": {"email": other.email, "password": other.password}}),
        )
        .await;
    assert_eq!(other_login.status, 200, "other accounts are not limited");

    let metrics = app.get("/metrics", None).await;
    assert!(
        metrics
            .text
            .contains("conduit_rate_limited_total{limit=\"login_per_account\"} 5"),
        "{}",
        metrics.text
    );
}

#[tokio::test]
async fn registrations_are_limited_per_address() {
    let app = TestApp::spawn_with(|settings| settings.rate_register_per_ip = 3).await;
    for name in ["one", "two", "three"] {
        app.register(name).await;
    }
    let fourth = app
        .post("/api/users", None, &json!({"user": {"username": "four", "email": "four@example.com", "password": "password4"}}))
        .await;
    assert_eq!(fourth.status, 429);
    assert!(fourth.header("retry-after").is_some());
}

#[tokio::test]
async fn forwarded_for_decides_the_address_only_when_trusted() {
    let untrusted = TestApp::spawn_with(|settings| settings.rate_register_per_ip = 1).await;
    let trusted = TestApp::spawn_with(|settings| {
        settings.rate_register_per_ip = 1;
        settings.trust_forwarded_for = true;
    })
    .await;
    let register = |app: &TestApp, name: &str, forwarded: &str| {
        let request = app
            .client
            .post(app.url("/api/users"))
            .header("X-Forwarded-For", forwarded.to_owned())
            .json(&json!({"user": {"username": name, "email": format!("{name}@example.com"), "password": "password1"}}));
        async move { read(request.send().await.unwrap()).await.status }
    };
    assert_eq!(register(&untrusted, "aaa", "203.0.113.1").await, 201);
    assert_eq!(
        register(&untrusted, "bbb", "203.0.113.2").await,
        429,
        "a client cannot pick its address"
    );
    assert_eq!(register(&trusted, "aaa", "203.0.113.1").await, 201);
    assert_eq!(
        register(&trusted, "bbb", "203.0.113.2").await,
        201,
        "another client behind the proxy"
    );
    assert_eq!(register(&trusted, "ccc", "203.0.113.1").await, 429);
}

fn base64_url_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn base64_url_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}
