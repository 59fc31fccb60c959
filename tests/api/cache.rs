//! The read cache is never wrong: every cached read, warmed first, shows the
//! new state right after each write that affects it, and personal fields
//! never leak from one caller's entry to another.

use conduit_tests::{TestApp, TestUser, slugs};
use serde_json::{Value, json};

async fn app() -> TestApp {
    // The cache is on by default; make it explicit.
    TestApp::spawn_with(|settings| settings.cache_mb = 32).await
}

/// Reads `path` twice (warming the cache), returning the second body.
async fn warm(app: &TestApp, path: &str, user: Option<&TestUser>) -> Value {
    let token = user.map(|user| user.token.as_str());
    app.get(path, token).await;
    let response = app.get(path, token).await;
    assert_eq!(response.status, 200, "{path}: {}", response.text);
    response.body
}

#[tokio::test]
async fn lists_show_every_article_write_at_once() {
    let app = app().await;
    let jake = app.register("jake").await;
    let anna = app.register("anna").await;
    app.create_article(&jake, "First", &["rust"]).await;

    let paths = [
        "/api/articles",
        "/api/articles?tag=rust",
        "/api/articles?author=jake",
    ];
    for path in paths {
        assert_eq!(slugs(&warm(&app, path, None).await), ["first"], "{path}");
        warm(&app, path, Some(&anna)).await;
    }

    app.create_article(&jake, "Second", &["rust"]).await;
    for path in paths {
        let body = app.get(path, None).await.body;
        assert_eq!(slugs(&body), ["second", "first"], "after create: {path}");
        assert_eq!(body["articlesCount"], 2);
        let body = app.get(path, Some(&anna.token)).await.body;
        assert_eq!(
            slugs(&body),
            ["second", "first"],
            "after create, signed in: {path}"
        );
    }

    app.put(
        "/api/articles/second",
        Some(&jake.token),
        &json!({"article": {"title": "Renamed", "description": "new"}}),
    )
    .await;
    for path in paths {
        let body = app.get(path, None).await.body;
        assert_eq!(slugs(&body), ["renamed", "first"], "after update: {path}");
        assert_eq!(body["articles"][0]["description"], "new");
    }

    app.post(
        "/api/articles/first/favorite",
        Some(&anna.token),
        &json!({}),
    )
    .await;
    let favorited = "/api/articles?favorited=anna";
    for path in paths {
        let for_anna = app.get(path, Some(&anna.token)).await.body;
        let first = &for_anna["articles"][1];
        assert_eq!(
            (first["favorited"].clone(), first["favoritesCount"].clone()),
            (json!(true), json!(1)),
            "{path}"
        );
        let for_anonymous = app.get(path, None).await.body;
        let first = &for_anonymous["articles"][1];
        assert_eq!(
            (first["favorited"].clone(), first["favoritesCount"].clone()),
            (json!(false), json!(1)),
            "{path}"
        );
    }
    assert_eq!(slugs(&warm(&app, favorited, None).await), ["first"]);

    app.delete("/api/articles/first/favorite", Some(&anna.token))
        .await;
    assert_eq!(
        slugs(&app.get(favorited, None).await.body),
        Vec::<String>::new()
    );
    assert_eq!(
        app.get("/api/articles", Some(&anna.token)).await.body["articles"][1]["favorited"],
        false
    );

    app.delete("/api/articles/renamed", Some(&jake.token)).await;
    for path in paths {
        assert_eq!(
            slugs(&app.get(path, None).await.body),
            ["first"],
            "after delete: {path}"
        );
    }
}

#[tokio::test]
async fn one_article_shows_updates_favorites_follows_and_author_changes() {
    let app = app().await;
    let jake = app.register("jake").await;
    let anna = app.register("anna").await;
    app.create_article(&jake, "Post", &[]).await;
    let path = "/api/articles/post";
    warm(&app, path, None).await;
    warm(&app, path, Some(&anna)).await;

    app.put(
        path,
        Some(&jake.token),
        &json!({"article": {"body": "edited"}}),
    )
    .await;
    assert_eq!(app.get(path, None).await.body["article"]["body"], "edited");

    app.post("/api/articles/post/favorite", Some(&anna.token), &json!({}))
        .await;
    let for_anna = app.get(path, Some(&anna.token)).await.body;
    assert_eq!(for_anna["article"]["favorited"], true);
    assert_eq!(
        app.get(path, None).await.body["article"]["favorited"],
        false
    );
    assert_eq!(
        app.get(path, None).await.body["article"]["favoritesCount"],
        1
    );

    app.post("/api/profiles/jake/follow", Some(&anna.token), &json!({}))
        .await;
    assert_eq!(
        app.get(path, Some(&anna.token)).await.body["article"]["author"]["following"],
        true
    );
    assert_eq!(
        app.get(path, None).await.body["article"]["author"]["following"],
        false
    );

    app.put(
        "/api/user",
        Some(&jake.token),
        &json!({"user": {"bio": "new bio"}}),
    )
    .await;
    assert_eq!(
        app.get(path, None).await.body["article"]["author"]["bio"],
        "new bio"
    );
    let list = app.get("/api/articles", None).await.body;
    assert_eq!(list["articles"][0]["author"]["bio"], "new bio");
}

#[tokio::test]
async fn the_feed_follows_follows_and_new_articles() {
    let app = app().await;
    let reader = app.register("reader").await;
    let writer = app.register("writer").await;
    app.create_article(&writer, "Old", &[]).await;
    let feed = "/api/articles/feed";
    assert_eq!(warm(&app, feed, Some(&reader)).await["articlesCount"], 0);

    app.post(
        "/api/profiles/writer/follow",
        Some(&reader.token),
        &json!({}),
    )
    .await;
    assert_eq!(
        slugs(&app.get(feed, Some(&reader.token)).await.body),
        ["old"]
    );

    app.create_article(&writer, "New", &[]).await;
    assert_eq!(
        slugs(&app.get(feed, Some(&reader.token)).await.body),
        ["new", "old"]
    );

    app.delete("/api/profiles/writer/follow", Some(&reader.token))
        .await;
    assert_eq!(
        app.get(feed, Some(&reader.token)).await.body["articlesCount"],
        0
    );
}

#[tokio::test]
async fn comments_profiles_and_tags_show_their_writes() {
    let app = app().await;
    let jake = app.register("jake").await;
    let anna = app.register("anna").await;
    app.create_article(&jake, "Talk", &["chat"]).await;

    let comments = "/api/articles/talk/comments";
    assert_eq!(warm(&app, comments, None).await, json!({"comments": []}));
    warm(&app, comments, Some(&jake)).await;
    let added = app
        .post(
            comments,
            Some(&anna.token),
            &json!({"comment": {"body": "hello"}}),
        )
        .await;
    let id = added.body["comment"]["id"].as_i64().unwrap();
    assert_eq!(
        app.get(comments, None).await.body["comments"][0]["body"],
        "hello"
    );
    app.post("/api/profiles/anna/follow", Some(&jake.token), &json!({}))
        .await;
    assert_eq!(
        app.get(comments, Some(&jake.token)).await.body["comments"][0]["author"]["following"],
        true
    );
    app.put(
        "/api/user",
        Some(&anna.token),
        &json!({"user": {"image": "https://example.com/anna.png"}}),
    )
    .await;
    assert_eq!(
        app.get(comments, None).await.body["comments"][0]["author"]["image"],
        "https://example.com/anna.png"
    );
    app.delete(&format!("{comments}/{id}"), Some(&anna.token))
        .await;
    assert_eq!(app.get(comments, None).await.body, json!({"comments": []}));

    let profile = "/api/profiles/anna";
    assert_eq!(
        warm(&app, profile, Some(&jake)).await["profile"]["following"],
        true
    );
    warm(&app, profile, None).await;
    app.delete("/api/profiles/anna/follow", Some(&jake.token))
        .await;
    assert_eq!(
        app.get(profile, Some(&jake.token)).await.body["profile"]["following"],
        false
    );
    app.put(
        "/api/user",
        Some(&anna.token),
        &json!({"user": {"bio": "hi there"}}),
    )
    .await;
    assert_eq!(
        app.get(profile, None).await.body["profile"]["bio"],
        "hi there"
    );
    app.put(
        "/api/user",
        Some(&anna.token),
        &json!({"user": {"username": "anna2"}}),
    )
    .await;
    assert_eq!(
        app.get(profile, None).await.status,
        404,
        "the old name is gone"
    );
    assert_eq!(
        app.get("/api/profiles/anna2", None).await.body["profile"]["bio"],
        "hi there"
    );

    assert_eq!(
        warm(&app, "/api/tags", None).await,
        json!({"tags": ["chat"]})
    );
    app.create_article(&jake, "More", &["chat", "fresh"]).await;
    assert_eq!(
        app.get("/api/tags", None).await.body,
        json!({"tags": ["chat", "fresh"]})
    );
    app.delete("/api/articles/more", Some(&jake.token)).await;
    assert_eq!(
        app.get("/api/tags", None).await.body,
        json!({"tags": ["chat"]})
    );
}

#[tokio::test]
async fn following_shows_at_once_on_the_comments_of_whom_you_follow() {
    let app = app().await;
    let jake = app.register("jake").await;
    let anna = app.register("anna").await;
    app.create_article(&jake, "Talk", &[]).await;
    let comments = "/api/articles/talk/comments";
    app.post(
        comments,
        Some(&anna.token),
        &json!({"comment": {"body": "hello"}}),
    )
    .await;
    let following = |body: &Value| body["comments"][0]["author"]["following"].clone();
    // jake's view of anna's comment, cached.
    assert_eq!(following(&warm(&app, comments, Some(&jake)).await), false);

    app.post("/api/profiles/anna/follow", Some(&jake.token), &json!({}))
        .await;
    assert_eq!(
        following(&app.get(comments, Some(&jake.token)).await.body),
        true,
        "right after the follow"
    );
    warm(&app, comments, Some(&jake)).await;
    app.delete("/api/profiles/anna/follow", Some(&jake.token))
        .await;
    assert_eq!(
        following(&app.get(comments, Some(&jake.token)).await.body),
        false,
        "right after the unfollow"
    );
}

#[tokio::test]
async fn a_new_users_token_works_at_once() {
    let app = app().await;
    // Warm whatever the first authentication caches.
    let first = app.register("first").await;
    warm(&app, "/api/user", Some(&first)).await;
    let second = app.register("second").await;
    assert_eq!(app.get("/api/user", Some(&second.token)).await.status, 200);
}

#[tokio::test]
async fn gets_carry_an_etag_and_answer_304_until_the_data_changes() {
    let app = app().await;
    let jake = app.register("jake").await;
    app.create_article(&jake, "Tagged", &["etag"]).await;
    for path in [
        "/api/articles",
        "/api/articles/tagged",
        "/api/tags",
        "/api/profiles/jake",
    ] {
        let first = app.get(path, None).await;
        let etag = first.header("etag").expect("an ETag").to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        assert_eq!(first.header("cache-control"), Some("private, no-cache"));
        assert!(
            first
                .header("vary")
                .is_some_and(|vary| vary.contains("Authorization"))
        );

        let revalidated = conduit_tests::read(
            app.client
                .get(app.url(path))
                .header("If-None-Match", &etag)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(revalidated.status, 304, "{path}");
        assert!(revalidated.text.is_empty());
        assert_eq!(revalidated.header("etag"), Some(etag.as_str()));

        let other = conduit_tests::read(
            app.client
                .get(app.url(path))
                .header("If-None-Match", "\"0000000000000000\"")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(other.status, 200, "{path}");
    }

    let before = app
        .get("/api/articles/tagged", None)
        .await
        .header("etag")
        .unwrap()
        .to_owned();
    app.put(
        "/api/articles/tagged",
        Some(&jake.token),
        &json!({"article": {"body": "changed"}}),
    )
    .await;
    let after = conduit_tests::read(
        app.client
            .get(app.url("/api/articles/tagged"))
            .header("If-None-Match", &before)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(after.status, 200, "a changed article is sent again");
    assert_ne!(after.header("etag"), Some(before.as_str()));
}

#[tokio::test]
async fn instances_sharing_a_postgres_database_see_each_others_writes() {
    let Some((first, second)) = TestApp::pair_on_postgres().await else {
        return;
    };
    let jake = first.register("jake").await;
    first.create_article(&jake, "One", &[]).await;
    assert_eq!(
        warm(&second, "/api/articles", None).await["articlesCount"],
        1
    );
    assert_eq!(
        warm(&second, "/api/articles/one", None).await["article"]["favoritesCount"],
        0
    );

    first.create_article(&jake, "Two", &[]).await;
    first
        .post("/api/articles/one/favorite", Some(&jake.token), &json!({}))
        .await;
    let written = std::time::Instant::now();
    let deadline = written + std::time::Duration::from_secs(5);
    loop {
        let list = second.get("/api/articles", None).await.body;
        let one = second.get("/api/articles/one", None).await.body;
        if list["articlesCount"] == 2 && one["article"]["favoritesCount"] == 1 {
            eprintln!(
                "the other instance saw the writes after {:?}",
                written.elapsed()
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the other instance still serves stale data"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // Tokens work on every instance sharing the secret.
    assert_eq!(second.get("/api/user", Some(&jake.token)).await.status, 200);
}
