use conduit_tests::{TestApp, error_fields, slugs};
use serde_json::json;

#[tokio::test]
async fn create_get_update_and_delete_an_article() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;

    let created = app
        .post(
            "/api/articles",
            Some(&jake.token),
            &json!({"article": {"title": "How to train your dragon", "description": "Ever wonder how?",
                                 "body": "You have to believe", "tagList": ["training", " dragons ", "training"]}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let article = &created.body["article"];
    assert_eq!(article["slug"], "how-to-train-your-dragon");
    assert_eq!(article["tagList"], json!(["dragons", "training"]));
    assert_eq!(article["favorited"], false);
    assert_eq!(article["favoritesCount"], 0);
    assert_eq!(article["author"]["username"], "jake");
    assert_eq!(article["createdAt"], article["updatedAt"]);
    let created_at = article["createdAt"].as_str().unwrap();
    assert!(
        created_at.ends_with('Z') && created_at.len() == 24,
        "{created_at}"
    );

    let fetched = app
        .get("/api/articles/how-to-train-your-dragon", None)
        .await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body["article"]["body"], "You have to believe");

    let updated = app
        .put(
            "/api/articles/how-to-train-your-dragon",
            Some(&jake.token),
            &json!({"article": {"title": "Did you train your dragon?", "body": "With two hands"}}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    let article = &updated.body["article"];
    assert_eq!(article["slug"], "did-you-train-your-dragon");
    assert_eq!(article["body"], "With two hands");
    assert_eq!(article["description"], "Ever wonder how?");
    assert_ne!(article["updatedAt"], article["createdAt"]);
    assert_eq!(
        app.get("/api/articles/how-to-train-your-dragon", None)
            .await
            .status,
        404
    );

    let deleted = app
        .delete("/api/articles/did-you-train-your-dragon", Some(&jake.token))
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        app.get("/api/articles/did-you-train-your-dragon", None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn same_titles_get_distinct_slugs_also_when_created_at_once() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let body = json!({"article": {"title": "Same title", "description": "d", "body": "b"}});
    let creates = (0..10).map(|_| app.post("/api/articles", Some(&jake.token), &body));
    let responses = futures_util::future::join_all(creates).await;
    let mut slugs: Vec<_> = responses
        .iter()
        .map(|response| {
            assert_eq!(response.status, 201, "{}", response.text);
            response.body["article"]["slug"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(slugs.contains(&"same-title".to_owned()), "{slugs:?}");
    assert!(slugs.iter().all(|slug| slug.starts_with("same-title")));
    slugs.sort();
    slugs.dedup();
    assert_eq!(slugs.len(), 10);
}

#[tokio::test]
async fn only_the_author_may_update_or_delete() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let other = app.register("other").await;
    app.create_article(&jake, "Mine", &[]).await;

    let update = app
        .put(
            "/api/articles/mine",
            Some(&other.token),
            &json!({"article": {"body": "hijacked"}}),
        )
        .await;
    assert_eq!(update.status, 403);
    assert_eq!(
        update.body,
        json!({"errors": {"article": ["can only be changed by its author"]}})
    );
    let delete = app.delete("/api/articles/mine", Some(&other.token)).await;
    assert_eq!(delete.status, 403);
    let unchanged = app.get("/api/articles/mine", None).await;
    assert_eq!(unchanged.body["article"]["body"], "All about Mine.");

    assert_eq!(
        app.put(
            "/api/articles/mine",
            None,
            &json!({"article": {"body": "x"}})
        )
        .await
        .status,
        401
    );
    assert_eq!(app.delete("/api/articles/mine", None).await.status, 401);
    assert_eq!(
        app.post("/api/articles", None, &json!({"article": {}}))
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn unknown_slugs_are_404() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let not_found = json!({"errors": {"article": ["not found"]}});
    for response in [
        app.get("/api/articles/nope", None).await,
        app.put(
            "/api/articles/nope",
            Some(&jake.token),
            &json!({"article": {"body": "x"}}),
        )
        .await,
        app.delete("/api/articles/nope", Some(&jake.token)).await,
        app.post("/api/articles/nope/favorite", Some(&jake.token), &json!({}))
            .await,
        app.delete("/api/articles/nope/favorite", Some(&jake.token))
            .await,
        app.get("/api/articles/nope/comments", None).await,
        app.post(
            "/api/articles/nope/comments",
            Some(&jake.token),
            &json!({"comment": {"body": "hi"}}),
        )
        .await,
    ] {
        assert_eq!(response.status, 404, "{}", response.text);
        assert_eq!(response.body, not_found);
    }
}

#[tokio::test]
async fn invalid_article_fields_are_422() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let valid = json!({"title": "T", "description": "D", "body": "B", "tagList": ["a"]});
    for (field, value) in [
        ("title", json!("")),
        ("title", json!("   ")),
        // Only zero-width characters: as blank as spaces.
        ("title", json!("\u{200b}\u{200b}")),
        ("title", json!("\u{200d}\u{feff}\u{2060}")),
        ("title", json!("x".repeat(201))),
        ("description", json!("")),
        ("description", json!("\u{3164}")),
        ("description", json!("x".repeat(501))),
        ("body", json!(" ")),
        ("body", json!("x".repeat(100_001))),
        ("tagList", json!([""])),
        ("tagList", json!(["x".repeat(41)])),
        (
            "tagList",
            json!((0..11).map(|i| format!("t{i}")).collect::<Vec<_>>()),
        ),
        ("tagList", json!("not-an-array")),
        ("title", json!(7)),
    ] {
        let mut article = valid.clone();
        article[field] = value;
        let response = app
            .post(
                "/api/articles",
                Some(&jake.token),
                &json!({"article": article}),
            )
            .await;
        assert_eq!(response.status, 422, "{field}: {}", response.text);
        assert_eq!(error_fields(&response.body), [field], "{field}");
    }
    let missing = app
        .post(
            "/api/articles",
            Some(&jake.token),
            &json!({"article": {"title": "T"}}),
        )
        .await;
    assert_eq!(missing.status, 422);

    app.create_article(&jake, "Exists", &[]).await;
    let empty_update = app
        .put(
            "/api/articles/exists",
            Some(&jake.token),
            &json!({"article": {}}),
        )
        .await;
    assert_eq!(empty_update.status, 422);
    let blank_title = app
        .put(
            "/api/articles/exists",
            Some(&jake.token),
            &json!({"article": {"title": ""}}),
        )
        .await;
    assert_eq!(blank_title.status, 422);
    assert_eq!(error_fields(&blank_title.body), ["title"]);
}

#[tokio::test]
async fn list_filters_combine_and_count_the_whole_match() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let anna = app.register("anna").await;
    app.create_article(&jake, "Jake one", &["rust"]).await;
    app.create_article(&jake, "Jake two", &["rust", "web"])
        .await;
    app.create_article(&anna, "Anna one", &["rust"]).await;
    app.create_article(&anna, "Anna two", &["web"]).await;
    app.post(
        "/api/articles/anna-one/favorite",
        Some(&jake.token),
        &json!({}),
    )
    .await;
    app.post(
        "/api/articles/jake-two/favorite",
        Some(&jake.token),
        &json!({}),
    )
    .await;

    let all = app.get("/api/articles", None).await;
    assert_eq!(all.status, 200);
    assert_eq!(
        slugs(&all.body),
        ["anna-two", "anna-one", "jake-two", "jake-one"]
    );
    assert_eq!(all.body["articlesCount"], 4);
    assert!(
        all.body["articles"][0].get("body").is_none(),
        "lists carry no body"
    );

    let cases = [
        ("?tag=rust", vec!["anna-one", "jake-two", "jake-one"]),
        ("?author=jake", vec!["jake-two", "jake-one"]),
        ("?author=JAKE", vec!["jake-two", "jake-one"]),
        ("?favorited=jake", vec!["anna-one", "jake-two"]),
        ("?tag=rust&author=anna", vec!["anna-one"]),
        ("?tag=web&favorited=jake", vec!["jake-two"]),
        ("?tag=web&author=jake&favorited=jake", vec!["jake-two"]),
        ("?tag=none", vec![]),
        ("?author=nobody", vec![]),
        ("?favorited=anna", vec![]),
    ];
    for (query, expected) in cases {
        let response = app.get(&format!("/api/articles{query}"), None).await;
        assert_eq!(response.status, 200, "{query}");
        assert_eq!(slugs(&response.body), expected, "{query}");
        assert_eq!(response.body["articlesCount"], expected.len(), "{query}");
    }

    let page = app.get("/api/articles?limit=2&offset=1", None).await;
    assert_eq!(slugs(&page.body), ["anna-one", "jake-two"]);
    assert_eq!(
        page.body["articlesCount"], 4,
        "the count is the total, not the page size"
    );
    let beyond = app.get("/api/articles?offset=100", None).await;
    assert_eq!(slugs(&beyond.body), Vec::<String>::new());
    assert_eq!(beyond.body["articlesCount"], 4);
}

#[tokio::test]
async fn paging_bounds_are_422() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    for query in [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=abc",
        "limit=1000000",
        "offset=-1",
        "offset=99999999999999999999",
        "offset=1.5",
        "limit=",
    ] {
        let response = app.get(&format!("/api/articles?{query}"), None).await;
        assert_eq!(response.status, 422, "{query}: {}", response.text);
        let feed = app
            .get(&format!("/api/articles/feed?{query}"), Some(&jake.token))
            .await;
        assert_eq!(feed.status, 422, "feed {query}: {}", feed.text);
    }
    assert_eq!(
        app.get("/api/articles?limit=100&offset=0", None)
            .await
            .status,
        200
    );
    assert_eq!(
        app.get("/api/articles?limit=1&offset=1000000000", None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn the_feed_shows_followed_authors_only() {
    let app = TestApp::spawn().await;
    let reader = app.register("reader").await;
    let followed = app.register("followed").await;
    let stranger = app.register("stranger").await;
    app.create_article(&followed, "Followed one", &[]).await;
    app.create_article(&stranger, "Stranger one", &[]).await;
    app.create_article(&followed, "Followed two", &[]).await;

    let empty = app.get("/api/articles/feed", Some(&reader.token)).await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.body, json!({"articles": [], "articlesCount": 0}));

    app.post(
        "/api/profiles/followed/follow",
        Some(&reader.token),
        &json!({}),
    )
    .await;
    let feed = app.get("/api/articles/feed", Some(&reader.token)).await;
    assert_eq!(slugs(&feed.body), ["followed-two", "followed-one"]);
    assert_eq!(feed.body["articlesCount"], 2);
    assert_eq!(feed.body["articles"][0]["author"]["following"], true);

    assert_eq!(app.get("/api/articles/feed", None).await.status, 401);
}

#[tokio::test]
async fn favorites_are_counted_once_and_personal() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let anna = app.register("anna").await;
    app.create_article(&jake, "Loved", &[]).await;

    let first = app
        .post(
            "/api/articles/loved/favorite",
            Some(&anna.token),
            &json!({}),
        )
        .await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body["article"]["favorited"], true);
    assert_eq!(first.body["article"]["favoritesCount"], 1);
    let twice = app
        .post(
            "/api/articles/loved/favorite",
            Some(&anna.token),
            &json!({}),
        )
        .await;
    assert_eq!(
        twice.body["article"]["favoritesCount"], 1,
        "favoriting twice is idempotent"
    );

    let for_jake = app.get("/api/articles/loved", Some(&jake.token)).await;
    assert_eq!(for_jake.body["article"]["favorited"], false);
    assert_eq!(for_jake.body["article"]["favoritesCount"], 1);
    let for_anonymous = app.get("/api/articles?author=jake", None).await;
    assert_eq!(for_anonymous.body["articles"][0]["favorited"], false);
    let for_anna = app
        .get("/api/articles?author=jake", Some(&anna.token))
        .await;
    assert_eq!(for_anna.body["articles"][0]["favorited"], true);

    let removed = app
        .delete("/api/articles/loved/favorite", Some(&anna.token))
        .await;
    assert_eq!(removed.body["article"]["favorited"], false);
    assert_eq!(removed.body["article"]["favoritesCount"], 0);
    let again = app
        .delete("/api/articles/loved/favorite", Some(&anna.token))
        .await;
    assert_eq!(
        again.body["article"]["favoritesCount"], 0,
        "unfavoriting twice is idempotent"
    );
}

#[tokio::test]
async fn fifty_users_favoriting_at_once_count_fifty() {
    let app = TestApp::spawn().await;
    let author = app.register("author").await;
    app.create_article(&author, "Popular", &[]).await;
    let mut fans = Vec::new();
    for i in 0..50 {
        fans.push(app.register(&format!("fan{i}")).await);
    }
    let empty = json!({});
    let favorites = fans
        .iter()
        .map(|fan| app.post("/api/articles/popular/favorite", Some(&fan.token), &empty));
    for response in futures_util::future::join_all(favorites).await {
        assert_eq!(response.status, 200, "{}", response.text);
    }
    let article = app.get("/api/articles/popular", None).await;
    assert_eq!(article.body["article"]["favoritesCount"], 50);
}

#[tokio::test]
async fn following_shows_on_articles_for_the_follower_only() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let anna = app.register("anna").await;
    app.create_article(&jake, "Post", &[]).await;
    app.post("/api/profiles/jake/follow", Some(&anna.token), &json!({}))
        .await;
    let for_anna = app.get("/api/articles/post", Some(&anna.token)).await;
    assert_eq!(for_anna.body["article"]["author"]["following"], true);
    let for_anonymous = app.get("/api/articles/post", None).await;
    assert_eq!(for_anonymous.body["article"]["author"]["following"], false);
    let for_jake = app.get("/api/articles/post", Some(&jake.token)).await;
    assert_eq!(for_jake.body["article"]["author"]["following"], false);
}

#[tokio::test]
async fn tags_list_only_tags_in_use_most_used_first() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    assert_eq!(app.get("/api/tags", None).await.body, json!({"tags": []}));
    app.create_article(&jake, "One", &["rust", "web"]).await;
    app.create_article(&jake, "Two", &["rust"]).await;
    app.create_article(&jake, "Three", &["gone"]).await;
    assert_eq!(
        app.get("/api/tags", None).await.body,
        json!({"tags": ["rust", "gone", "web"]})
    );

    app.delete("/api/articles/three", Some(&jake.token)).await;
    let retagged = app
        .put(
            "/api/articles/one",
            Some(&jake.token),
            &json!({"article": {"tagList": ["rust", "new"]}}),
        )
        .await;
    assert_eq!(retagged.status, 200);
    assert_eq!(retagged.body["article"]["tagList"], json!(["new", "rust"]));
    assert_eq!(
        app.get("/api/tags", None).await.body,
        json!({"tags": ["rust", "new"]})
    );
}

#[tokio::test]
async fn deleting_an_article_removes_its_comments_favorites_and_tags() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let anna = app.register("anna").await;
    app.create_article(&jake, "Doomed", &["doomed-tag"]).await;
    app.post(
        "/api/articles/doomed/favorite",
        Some(&anna.token),
        &json!({}),
    )
    .await;
    app.post(
        "/api/articles/doomed/comments",
        Some(&anna.token),
        &json!({"comment": {"body": "hi"}}),
    )
    .await;

    assert_eq!(
        app.delete("/api/articles/doomed", Some(&jake.token))
            .await
            .status,
        204
    );
    assert_eq!(
        app.get("/api/articles?favorited=anna", None).await.body["articlesCount"],
        0
    );
    assert_eq!(app.get("/api/tags", None).await.body, json!({"tags": []}));
    // The same slug can be used again and starts clean.
    let again = app.create_article(&jake, "Doomed", &[]).await;
    assert_eq!(again["slug"], "doomed");
    assert_eq!(again["favoritesCount"], 0);
    assert_eq!(
        app.get("/api/articles/doomed/comments", None).await.body,
        json!({"comments": []})
    );
}

#[tokio::test]
async fn text_round_trips_exactly() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let title = "Ünïcödé 🚀 مرحبا بالعالم";
    let body = "שלום עולם\n\n```rust\nfn main() {}\n```\n' OR 1=1; --";
    let created = app
        .post(
            "/api/articles",
            Some(&jake.token),
            &json!({"article": {"title": title, "description": "👩‍👩‍👧 \u{202e}rtl", "body": body, "tagList": ["日本語"]}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let slug = created.body["article"]["slug"].as_str().unwrap().to_owned();
    assert!(slug.is_ascii(), "{slug}");
    let fetched = app.get(&format!("/api/articles/{slug}"), None).await;
    assert_eq!(fetched.body["article"]["title"], title);
    assert_eq!(fetched.body["article"]["description"], "👩‍👩‍👧 \u{202e}rtl");
    assert_eq!(fetched.body["article"]["body"], body);
    assert_eq!(fetched.body["article"]["tagList"], json!(["日本語"]));
    let by_tag = app
        .get("/api/articles?tag=%E6%97%A5%E6%9C%AC%E8%AA%9E", None)
        .await;
    assert_eq!(by_tag.body["articlesCount"], 1);
}

#[tokio::test]
async fn favoriting_and_unfavoriting_in_a_tight_race_ends_consistent() {
    let app = TestApp::spawn().await;
    let author = app.register("author").await;
    let fan = app.register("fan").await;
    let other = app.register("other").await;
    app.create_article(&author, "Contested", &[]).await;
    app.post(
        "/api/articles/contested/favorite",
        Some(&other.token),
        &json!({}),
    )
    .await;

    let empty = json!({});
    let requests = (0..40).map(|i| {
        let (path, token) = ("/api/articles/contested/favorite", Some(fan.token.as_str()));
        let app = &app;
        let empty = &empty;
        async move {
            if i % 2 == 0 {
                app.post(path, token, empty).await
            } else {
                app.delete(path, token).await
            }
        }
    });
    for response in futures_util::future::join_all(requests).await {
        assert_eq!(response.status, 200, "{}", response.text);
    }
    let seen = app.get("/api/articles/contested", Some(&fan.token)).await;
    let favorited = seen.body["article"]["favorited"].as_bool().unwrap();
    let count = seen.body["article"]["favoritesCount"].as_i64().unwrap();
    assert_eq!(count, 1 + i64::from(favorited), "{}", seen.text);
    let listed = app.get("/api/articles?favorited=fan", None).await;
    assert_eq!(listed.body["articlesCount"], i64::from(favorited));
}
