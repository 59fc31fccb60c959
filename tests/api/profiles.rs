use conduit_tests::TestApp;
use serde_json::json;

#[tokio::test]
async fn profile_follow_and_unfollow() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    app.register("celeb").await;

    let anonymous = app.get("/api/profiles/celeb", None).await;
    assert_eq!(anonymous.status, 200);
    assert_eq!(
        anonymous.body,
        json!({"profile": {"username": "celeb", "bio": null, "image": null, "following": false}})
    );

    let followed = app
        .post("/api/profiles/celeb/follow", Some(&jake.token), &json!({}))
        .await;
    assert_eq!(followed.status, 200, "{}", followed.text);
    assert_eq!(followed.body["profile"]["following"], true);

    let seen_by_jake = app.get("/api/profiles/celeb", Some(&jake.token)).await;
    assert_eq!(seen_by_jake.body["profile"]["following"], true);
    let seen_by_anonymous = app.get("/api/profiles/celeb", None).await;
    assert_eq!(seen_by_anonymous.body["profile"]["following"], false);

    let again = app
        .post("/api/profiles/celeb/follow", Some(&jake.token), &json!({}))
        .await;
    assert_eq!(again.status, 200, "following twice is idempotent");

    let unfollowed = app
        .delete("/api/profiles/celeb/follow", Some(&jake.token))
        .await;
    assert_eq!(unfollowed.status, 200);
    assert_eq!(unfollowed.body["profile"]["following"], false);
    let seen_after = app.get("/api/profiles/celeb", Some(&jake.token)).await;
    assert_eq!(seen_after.body["profile"]["following"], false);
}

#[tokio::test]
async fn profile_names_ignore_case() {
    let app = TestApp::spawn().await;
    app.register("Celeb").await;
    let response = app.get("/api/profiles/cELEB", None).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body["profile"]["username"], "Celeb");
}

#[tokio::test]
async fn following_yourself_is_422() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let response = app
        .post("/api/profiles/jake/follow", Some(&jake.token), &json!({}))
        .await;
    assert_eq!(response.status, 422);
    assert_eq!(conduit_tests::error_fields(&response.body), ["username"]);
}

#[tokio::test]
async fn unknown_profiles_are_404_and_follow_needs_a_token() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    for path in ["/api/profiles/nobody", "/api/profiles/..%2F..%2Fetc"] {
        let response = app.get(path, None).await;
        assert_eq!(response.status, 404, "{path}");
        assert_eq!(response.body, json!({"errors": {"profile": ["not found"]}}));
    }
    let follow = app
        .post("/api/profiles/nobody/follow", Some(&jake.token), &json!({}))
        .await;
    assert_eq!(follow.status, 404);
    let anonymous = app
        .post("/api/profiles/jake/follow", None, &json!({}))
        .await;
    assert_eq!(anonymous.status, 401);
    let anonymous = app.delete("/api/profiles/jake/follow", None).await;
    assert_eq!(anonymous.status, 401);
}
