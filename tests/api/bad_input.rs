//! Every malformed request gets a 4xx JSON error, never a 500, an HTML page
//! or a plain-text body.

use conduit_tests::{TestApp, TestResponse, error_fields, read};
use reqwest::Method;
use serde_json::json;

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> TestResponse {
    let mut request = app.client.request(method, app.url(path)).body(body);
    if let Some(content_type) = content_type {
        request = request.header("Content-Type", content_type);
    }
    read(request.send().await.unwrap()).await
}

fn assert_json_error(response: &TestResponse, status: u16, context: &str) {
    assert_eq!(response.status, status, "{context}: {}", response.text);
    assert!(
        response
            .header("content-type")
            .is_some_and(|value| value.starts_with("application/json")),
        "{context}: content type {:?}",
        response.header("content-type")
    );
    assert!(
        !error_fields(&response.body).is_empty(),
        "{context}: {}",
        response.text
    );
}

#[tokio::test]
async fn malformed_bodies_get_json_errors() {
    let app = TestApp::spawn().await;
    let json = Some("application/json");
    let cases: Vec<(&str, Option<&str>, Vec<u8>, u16)> = vec![
        ("not JSON", json, b"{\"user\": {".to_vec(), 400),
        ("empty body", json, Vec::new(), 400),
        ("garbage", json, b"\x00\x01\x02".to_vec(), 400),
        (
            "invalid UTF-8",
            json,
            b"{\"user\":{\"username\":\"\xff\xfe\"}}".to_vec(),
            400,
        ),
        (
            "missing user wrapper",
            json,
            br#"{"username":"jake","email":"j@j.j","password":"jakejake"}"#.to_vec(),
            422,
        ),
        ("user is null", json, br#"{"user":null}"#.to_vec(), 422),
        (
            "user is a string",
            json,
            br#"{"user":"jake"}"#.to_vec(),
            422,
        ),
        (
            "number for a string",
            json,
            br#"{"user":{"username":42,"email":"j@j.j","password":"jakejake"}}"#.to_vec(),
            422,
        ),
        (
            "null field",
            json,
            br#"{"user":{"username":null,"email":"j@j.j","password":"jakejake"}}"#.to_vec(),
            422,
        ),
        (
            "missing field",
            json,
            br#"{"user":{"email":"j@j.j","password":"jakejake"}}"#.to_vec(),
            422,
        ),
        (
            "duplicate key",
            json,
            br#"{"user":{"username":"a","username":"b","email":"j@j.j","password":"jakejake"}}"#
                .to_vec(),
            422,
        ),
        ("array body", json, b"[]".to_vec(), 422),
        ("no content type", None, br#"{"user":{}}"#.to_vec(), 415),
        (
            "text/plain",
            Some("text/plain"),
            br#"{"user":{}}"#.to_vec(),
            415,
        ),
        (
            "form",
            Some("application/x-www-form-urlencoded"),
            b"user=jake".to_vec(),
            415,
        ),
    ];
    for (name, content_type, body, status) in cases {
        let response = raw(&app, Method::POST, "/api/users", content_type, body).await;
        assert_json_error(&response, status, name);
    }
}

#[tokio::test]
async fn deeply_nested_json_is_rejected_not_overflowed() {
    let app = TestApp::spawn().await;
    let depth = 100_000;
    let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    // In a field the server reads, the wrong type is caught first.
    let body = format!("{{\"user\":{nested}}}");
    let response = raw(
        &app,
        Method::POST,
        "/api/users",
        Some("application/json"),
        body.into_bytes(),
    )
    .await;
    assert_json_error(&response, 422, "nested user");
    // In an ignored field, it is skipped without recursion, and the missing
    // fields are reported.
    let body = format!("{{\"extra\":{nested},\"user\":{{}}}}");
    let response = raw(
        &app,
        Method::POST,
        "/api/users",
        Some("application/json"),
        body.into_bytes(),
    )
    .await;
    assert_json_error(&response, 422, "nested extra field");
    assert_eq!(
        app.get("/api/tags", None).await.status,
        200,
        "the server still answers"
    );
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let app = TestApp::spawn().await;
    let big = format!(
        r#"{{"user":{{"username":"{}"}}}}"#,
        "x".repeat(10 * 1024 * 1024)
    );
    let response = raw(
        &app,
        Method::POST,
        "/api/users",
        Some("application/json"),
        big.into_bytes(),
    )
    .await;
    assert_json_error(&response, 413, "10 MB body");
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let app = TestApp::spawn().await;
    let unknown = app.get("/api/nothing-here", None).await;
    assert_json_error(&unknown, 404, "unknown route");
    let root = app.get("/", None).await;
    assert_json_error(&root, 404, "root");
    let wrong_method = raw(&app, Method::PATCH, "/api/tags", None, Vec::new()).await;
    assert_json_error(&wrong_method, 405, "PATCH /api/tags");
    let wrong_method = raw(&app, Method::DELETE, "/api/users", None, Vec::new()).await;
    assert_json_error(&wrong_method, 405, "DELETE /api/users");
}

#[tokio::test]
async fn unknown_keys_are_ignored() {
    let app = TestApp::spawn().await;
    let response = app
        .post(
            "/api/users",
            None,
            &json!({"user": {"username": "jake", "email": "jake@jake.jake", "password": "jakejake", "admin": true}, "extra": 1}),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text);
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_echoes_a_sane_one() {
    let app = TestApp::spawn().await;
    let generated = app.get("/api/tags", None).await;
    assert!(
        generated
            .header("x-request-id")
            .is_some_and(|id| id.len() >= 16)
    );
    let echoed = read(
        app.client
            .get(app.url("/api/tags"))
            .header("X-Request-Id", "trace-abc.123")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(echoed.header("x-request-id"), Some("trace-abc.123"));
    let replaced = read(
        app.client
            .get(app.url("/api/tags"))
            .header("X-Request-Id", "bad id with spaces")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_ne!(replaced.header("x-request-id"), Some("bad id with spaces"));
}

/// Strings that break naive servers: SQL, traversal, encodings, control
/// characters, size.
fn hostile_strings() -> Vec<String> {
    vec![
        "' OR '1'='1".to_owned(),
        "'; DROP TABLE users; --".to_owned(),
        "\" OR \"\"=\"".to_owned(),
        "1; SELECT pg_sleep(5)".to_owned(),
        "../../../../etc/passwd".to_owned(),
        "..\\..\\windows\\win.ini".to_owned(),
        "%2e%2e%2f%2e%2e%2f".to_owned(),
        "\u{0}null".to_owned(),
        "\u{202e}gnp.exe".to_owned(),
        "🚀🔥".to_owned(),
        "<script>alert(1)</script>".to_owned(),
        "${jndi:ldap://x}".to_owned(),
        "x".repeat(5_000),
        " ".to_owned(),
    ]
}

/// `base` with `segment` appended as one percent-encoded path segment, then `rest`.
fn url_with_segment(app: &TestApp, base: &str, segment: &str, rest: &str) -> String {
    let mut url = reqwest::Url::parse(&app.url(base)).unwrap();
    url.path_segments_mut().unwrap().push(segment);
    format!("{url}{rest}")
}

fn assert_handled(response: &TestResponse, context: &str) {
    assert!(
        response.status < 500,
        "{context}: {} {}",
        response.status,
        response.text
    );
    if response.status >= 400 {
        assert!(
            !error_fields(&response.body).is_empty(),
            "{context}: {}",
            response.text
        );
        for leak in [
            "SELECT", "sqlite", "diesel", "panicked", "/src/", "postgres",
        ] {
            assert!(
                !response.text.contains(leak),
                "{context} leaks {leak}: {}",
                response.text
            );
        }
    }
}

#[tokio::test]
async fn hostile_path_and_query_values_get_clean_4xx_or_empty_results_and_change_nothing() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    app.create_article(&jake, "Keep me", &["kept"]).await;
    let token = jake.token.as_str();
    let empty = json!({});
    let comment = json!({"comment": {"body": "hi"}});
    let update = json!({"article": {"body": "changed"}});

    for value in hostile_strings() {
        let profile = url_with_segment(&app, "/api/profiles", &value, "");
        let article = url_with_segment(&app, "/api/articles", &value, "");
        let cases = [
            (Method::GET, profile.clone(), None),
            (Method::POST, format!("{profile}/follow"), Some(&empty)),
            (Method::DELETE, format!("{profile}/follow"), None),
            (Method::GET, article.clone(), None),
            (Method::PUT, article.clone(), Some(&update)),
            (Method::DELETE, article.clone(), None),
            (Method::GET, format!("{article}/comments"), None),
            (Method::POST, format!("{article}/comments"), Some(&comment)),
            (Method::POST, format!("{article}/favorite"), Some(&empty)),
            (Method::DELETE, format!("{article}/favorite"), None),
            (
                Method::DELETE,
                url_with_segment(&app, "/api/articles/keep-me/comments", &value, ""),
                None,
            ),
        ];
        for (method, url, body) in cases {
            let mut request = app
                .client
                .request(method.clone(), &url)
                .header("Authorization", format!("Token {token}"));
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = read(request.send().await.unwrap()).await;
            assert_handled(&response, &format!("{method} {url}"));
        }
        for parameter in ["tag", "author", "favorited", "limit", "offset"] {
            let mut url = reqwest::Url::parse(&app.url("/api/articles")).unwrap();
            url.query_pairs_mut().append_pair(parameter, &value);
            let response = read(app.client.get(url.clone()).send().await.unwrap()).await;
            assert_handled(&response, &format!("GET {url}"));
            if matches!(parameter, "tag" | "author" | "favorited") {
                assert_eq!(response.status, 200, "{url}");
                assert_eq!(response.body["articlesCount"], 0, "{url}");
            } else {
                assert_eq!(response.status, 422, "{url}");
            }
        }
    }

    // Raw, undecodable or encoded-traversal paths.
    for path in [
        "/api/profiles/%FF%FE",
        "/api/articles/%00",
        "/api/articles/..%2F..%2Fetc%2Fpasswd",
        "/api/articles/%2e%2e/%2e%2e/etc/passwd",
        "/api/articles?tag=%FF",
        "/api/articles?limit=%00",
        "/api/articles?offset=1&offset=2",
    ] {
        let response = raw(&app, Method::GET, path, None, Vec::new()).await;
        assert_handled(&response, path);
    }

    // Nothing was changed or lost.
    let kept = app.get("/api/articles/keep-me", None).await;
    assert_eq!(kept.status, 200);
    assert_eq!(kept.body["article"]["body"], "All about Keep me.");
    assert_eq!(
        app.get("/api/articles", None).await.body["articlesCount"],
        1
    );
    assert_eq!(
        app.get("/api/tags", None).await.body,
        json!({"tags": ["kept"]})
    );
    let login = app
        .post(
            "/api/users/login",
            None,
            &json!({"user": {"email": jake.email, "password": jake.password}}),
        )
        .await;
    assert_eq!(login.status, 200);
}

#[tokio::test]
async fn hostile_strings_in_bodies_are_stored_verbatim_or_rejected() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    for (i, value) in hostile_strings().into_iter().enumerate() {
        let response = app
            .post(
                "/api/articles",
                Some(&jake.token),
                &json!({"article": {"title": format!("T{i} {value}"), "description": value, "body": value, "tagList": [value]}}),
            )
            .await;
        assert_handled(&response, &format!("article with {value:?}"));
        if response.status == 201 {
            let slug = response.body["article"]["slug"]
                .as_str()
                .unwrap()
                .to_owned();
            let stored = app.get(&format!("/api/articles/{slug}"), None).await;
            assert_eq!(stored.body["article"]["body"], json!(value), "round trip");
        }
    }
}
