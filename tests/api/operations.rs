//! Health checks and metrics.

use conduit_tests::TestApp;
use serde_json::json;

#[tokio::test]
async fn liveness_and_readiness_answer() {
    let app = TestApp::spawn().await;
    let live = app.get("/health/live", None).await;
    assert_eq!(live.status, 200);
    assert_eq!(live.body, json!({"status": "ok"}));
    let ready = app.get("/health/ready", None).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.body, json!({"status": "ready"}));
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    for _ in 0..3 {
        app.get("/api/articles/missing-article", None).await;
    }
    app.get("/api/user", Some(&jake.token)).await;

    let metrics = app.get("/metrics", None).await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let text = &metrics.text;
    for expected in [
        r#"conduit_http_requests_total{method="GET",route="/api/articles/{slug}",status="404"} 3"#,
        r#"conduit_http_requests_total{method="POST",route="/api/users",status="201"} 1"#,
        r#"conduit_http_requests_total{method="GET",route="/api/user",status="200"} 1"#,
        r#"conduit_http_request_duration_seconds_bucket{method="GET",route="/api/articles/{slug}",status="404",le="+Inf"} 3"#,
        "conduit_http_requests_in_flight 1",
        r#"conduit_db_pool_connections{state="max"} 4"#,
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
    assert!(text.contains(r#"conduit_db_pool_connections{state="in_use"}"#));
    // Unknown paths share one label, so scanning cannot blow up the series.
    app.get("/random/path/1", None).await;
    app.get("/random/path/2", None).await;
    let text = app.get("/metrics", None).await.text;
    assert!(
        text.contains(r#"route="<unmatched>",status="404"} 2"#),
        "{text}"
    );
    assert!(!text.contains("/random/path"));
}

#[tokio::test]
async fn metrics_can_live_on_an_operators_listener_only() {
    let app = TestApp::spawn_with(|settings| {
        settings.metrics_bind = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    app.get("/api/tags", None).await;
    assert_eq!(
        app.get("/metrics", None).await.status,
        404,
        "not on the API listener"
    );
    let operators = app.metrics_address.clone().unwrap();
    let metrics = app
        .client
        .get(format!("{operators}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains(
            r#"conduit_http_requests_total{method="GET",route="/api/tags",status="200"} 1"#
        ),
        "{text}"
    );
    let ready = app
        .client
        .get(format!("{operators}/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let api = app
        .client
        .get(format!("{operators}/api/tags"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 404, "no API there");
}
