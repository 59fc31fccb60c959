use conduit_tests::TestApp;

#[tokio::test]
async fn the_served_openapi_document_is_the_committed_one() {
    let app = TestApp::spawn().await;
    let served = app.get("/api-docs/openapi.json", None).await;
    assert_eq!(served.status, 200);
    let committed: serde_json::Value =
        serde_json::from_str(include_str!("../../docs/openapi.json"))
            .expect("docs/openapi.json is JSON");
    assert!(
        served.body == committed,
        "docs/openapi.json is stale: regenerate it with `cargo run -q -- openapi > docs/openapi.json`"
    );
}

#[tokio::test]
async fn swagger_ui_and_its_assets_are_served_offline() {
    let app = TestApp::spawn().await;
    let redirect = app.get("/swagger-ui", None).await;
    assert!(
        matches!(redirect.status, 301 | 302 | 307 | 308),
        "{}",
        redirect.status
    );

    let index = app.get("/swagger-ui/", None).await;
    assert_eq!(index.status, 200);
    assert!(index.text.contains("swagger-ui"), "{}", index.text);
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-initializer.js",
    ] {
        let response = app.get(&format!("/swagger-ui/{asset}"), None).await;
        assert_eq!(response.status, 200, "{asset}");
        assert!(!response.text.is_empty(), "{asset}");
    }
    let initializer = app.get("/swagger-ui/swagger-initializer.js", None).await;
    assert!(initializer.text.contains("/api-docs/openapi.json"));
}
