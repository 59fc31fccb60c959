use conduit_tests::{TestApp, error_fields};
use serde_json::json;

#[tokio::test]
async fn add_list_and_delete_comments() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let anna = app.register("anna").await;
    app.create_article(&jake, "Talk", &[]).await;

    let first = app
        .post(
            "/api/articles/talk/comments",
            Some(&anna.token),
            &json!({"comment": {"body": "First!"}}),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let comment = &first.body["comment"];
    assert_eq!(comment["body"], "First!");
    assert_eq!(comment["author"]["username"], "anna");
    let first_id = comment["id"].as_i64().unwrap();
    app.post(
        "/api/articles/talk/comments",
        Some(&jake.token),
        &json!({"comment": {"body": "Thanks"}}),
    )
    .await;

    let listed = app.get("/api/articles/talk/comments", None).await;
    assert_eq!(listed.status, 200);
    let bodies: Vec<_> = listed.body["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].clone())
        .collect();
    assert_eq!(bodies, [json!("First!"), json!("Thanks")], "oldest first");

    app.post("/api/profiles/anna/follow", Some(&jake.token), &json!({}))
        .await;
    let for_jake = app
        .get("/api/articles/talk/comments", Some(&jake.token))
        .await;
    assert_eq!(for_jake.body["comments"][0]["author"]["following"], true);
    assert_eq!(for_jake.body["comments"][1]["author"]["following"], false);

    let forbidden = app
        .delete(
            &format!("/api/articles/talk/comments/{first_id}"),
            Some(&jake.token),
        )
        .await;
    assert_eq!(
        forbidden.status, 403,
        "only the comment's author may delete it"
    );
    assert_eq!(
        forbidden.body,
        json!({"errors": {"comment": ["can only be changed by its author"]}})
    );

    let deleted = app
        .delete(
            &format!("/api/articles/talk/comments/{first_id}"),
            Some(&anna.token),
        )
        .await;
    assert_eq!(deleted.status, 204);
    let listed = app.get("/api/articles/talk/comments", None).await;
    assert_eq!(listed.body["comments"].as_array().unwrap().len(), 1);

    let gone = app
        .delete(
            &format!("/api/articles/talk/comments/{first_id}"),
            Some(&anna.token),
        )
        .await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.body, json!({"errors": {"comment": ["not found"]}}));
}

#[tokio::test]
async fn comments_need_a_token_a_body_and_a_matching_article() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    app.create_article(&jake, "One", &[]).await;
    app.create_article(&jake, "Two", &[]).await;
    let on_one = app
        .post(
            "/api/articles/one/comments",
            Some(&jake.token),
            &json!({"comment": {"body": "hi"}}),
        )
        .await;
    let id = on_one.body["comment"]["id"].as_i64().unwrap();

    assert_eq!(
        app.post(
            "/api/articles/one/comments",
            None,
            &json!({"comment": {"body": "hi"}})
        )
        .await
        .status,
        401
    );
    assert_eq!(
        app.delete(&format!("/api/articles/one/comments/{id}"), None)
            .await
            .status,
        401
    );

    for body in [
        json!({"comment": {"body": ""}}),
        json!({"comment": {"body": "   "}}),
        json!({"comment": {"body": "x".repeat(5001)}}),
        json!({"comment": {}}),
    ] {
        let response = app
            .post("/api/articles/one/comments", Some(&jake.token), &body)
            .await;
        assert_eq!(response.status, 422, "{body}");
        assert_eq!(error_fields(&response.body), ["body"]);
    }

    let wrong_article = app
        .delete(
            &format!("/api/articles/two/comments/{id}"),
            Some(&jake.token),
        )
        .await;
    assert_eq!(
        wrong_article.status, 404,
        "a comment is deleted through its own article only"
    );
    for bad_id in ["abc", "-1", "99999999999999999999", "1.5"] {
        let response = app
            .delete(
                &format!("/api/articles/one/comments/{bad_id}"),
                Some(&jake.token),
            )
            .await;
        assert_eq!(response.status, 404, "{bad_id}");
    }
}
