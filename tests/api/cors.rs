use conduit_tests::TestApp;
use reqwest::{Method, Response};

/// A browser's preflight for a `method` request from `origin` that will send
/// a token and a JSON body.
async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> Response {
    app.client
        .request(Method::OPTIONS, app.url(path))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn preflight_allows_authorization_and_content_type_from_any_origin() {
    let app = TestApp::spawn().await;
    for path in [
        "/api/articles",
        "/api/user",
        "/api/tags",
        "/api/articles/some-slug/comments",
    ] {
        let response = preflight(&app, path, "https://frontend.example", "GET").await;
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        let headers = response.headers();
        assert_eq!(headers["access-control-allow-origin"], "*", "{path}");
        let allowed = headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_lowercase();
        assert!(
            allowed.contains("authorization") && allowed.contains("content-type"),
            "{allowed}"
        );
        let methods = headers["access-control-allow-methods"].to_str().unwrap();
        for method in ["GET", "POST", "PUT", "DELETE"] {
            assert!(methods.contains(method), "{methods}");
        }
    }
}

#[tokio::test]
async fn simple_requests_and_errors_carry_the_allow_origin_header() {
    let app = TestApp::spawn().await;
    for path in ["/api/tags", "/api/user", "/api/nowhere"] {
        let response = app
            .client
            .get(app.url(path))
            .header("Origin", "https://frontend.example")
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["access-control-allow-origin"],
            "*",
            "{path}"
        );
    }
}

#[tokio::test]
async fn configured_origins_are_the_only_ones_allowed() {
    let app = TestApp::spawn_with(|settings| {
        settings.cors_origins = vec!["https://app.example".to_owned()];
    })
    .await;
    let allowed = preflight(&app, "/api/articles", "https://app.example", "POST").await;
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example"
    );

    let other = preflight(&app, "/api/articles", "https://evil.example", "POST").await;
    assert!(other.headers().get("access-control-allow-origin").is_none());
}
