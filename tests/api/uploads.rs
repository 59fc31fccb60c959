//! Uploads end to end: the real server, real images, hostile files, and the
//! files served back as an `<img>` on another origin would load them.

use std::io::Cursor;
use std::time::Duration;

use conduit_infrastructure::testing::png_claiming;
use conduit_tests::{PUBLIC_URL, TestApp, TestResponse, read};
use image::{DynamicImage, Rgba, RgbaImage};
use serde_json::json;

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = DynamicImage::ImageRgba8(RgbaImage::from_fn(width, height, |x, y| {
        Rgba([(x % 256) as u8, (y % 256) as u8, 200, 255])
    }));
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .unwrap();
    bytes
}

async fn send_upload(
    app: &TestApp,
    token: Option<&str>,
    part: &str,
    bytes: Vec<u8>,
) -> TestResponse {
    let form = reqwest::multipart::Form::new().part(
        part.to_owned(),
        reqwest::multipart::Part::bytes(bytes)
            // What a client claims is ignored: the bytes decide.
            .file_name("../../etc/passwd.svg")
            .mime_str("image/svg+xml")
            .unwrap(),
    );
    let mut request = reqwest::Client::new()
        .post(app.url("/api/uploads"))
        .multipart(form);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Token {token}"));
    }
    read(request.send().await.unwrap()).await
}

/// The path of an absolute URL this server made.
fn path_of(url: &str) -> &str {
    url.strip_prefix(PUBLIC_URL)
        .unwrap_or_else(|| panic!("{url} is not under {PUBLIC_URL}"))
}

async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> (TestResponse, Vec<u8>) {
    let mut request = reqwest::Client::new().get(app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap().to_vec();
    (
        TestResponse {
            status,
            headers,
            text: String::new(),
            body: serde_json::Value::Null,
        },
        bytes,
    )
}

#[tokio::test]
async fn an_uploaded_image_is_stored_once_and_served_with_caching_headers_and_ranges() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let created = send_upload(&app, Some(&jake.token), "file", png(640, 480)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let upload = &created.body["upload"];
    assert_eq!(upload["contentType"], "image/png");
    assert_eq!(
        (upload["width"].clone(), upload["height"].clone()),
        (json!(640), json!(480))
    );
    let url = upload["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{PUBLIC_URL}/files/")), "{url}");
    assert!(url.ends_with(".png"), "{url}");
    assert!(
        !url.contains("passwd"),
        "the client's file name never reaches a path"
    );
    assert_eq!(upload["variants"]["thumb"], format!("{url}/thumb"));
    assert_eq!(upload["variants"]["medium"], format!("{url}/medium"));

    // The same image again is the same file.
    let again = send_upload(&app, Some(&jake.token), "file", png(640, 480)).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body["upload"]["url"], url);

    let (file, bytes) = get(&app, path_of(url), &[]).await;
    assert_eq!(file.status, 200);
    assert_eq!(file.header("content-type"), Some("image/png"));
    assert_eq!(bytes.len() as u64, upload["size"].as_u64().unwrap());
    assert_eq!(
        file.header("content-length"),
        Some(bytes.len().to_string().as_str())
    );
    assert_eq!(
        file.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(file.header("x-content-type-options"), Some("nosniff"));
    assert!(
        file.header("content-security-policy")
            .unwrap()
            .starts_with("default-src 'none'")
    );
    assert_eq!(file.header("accept-ranges"), Some("bytes"));
    let etag = file.header("etag").unwrap().to_owned();
    assert!(!etag.starts_with("W/"), "a strong tag: {etag}");
    assert_eq!(
        image::guess_format(&bytes).unwrap(),
        image::ImageFormat::Png
    );

    let (not_modified, empty) = get(&app, path_of(url), &[("If-None-Match", &etag)]).await;
    assert_eq!(not_modified.status, 304);
    assert!(empty.is_empty());

    let (partial, range) = get(&app, path_of(url), &[("Range", "bytes=0-9")]).await;
    assert_eq!(partial.status, 206);
    assert_eq!(range, bytes[..10]);
    assert_eq!(
        partial.header("content-range"),
        Some(format!("bytes 0-9/{}", bytes.len()).as_str())
    );
    let (tail, last) = get(&app, path_of(url), &[("Range", "bytes=-4")]).await;
    assert_eq!(tail.status, 206);
    assert_eq!(last, bytes[bytes.len() - 4..]);
    let (outside, _) = get(&app, path_of(url), &[("Range", "bytes=99999999-")]).await;
    assert_eq!(outside.status, 416);
    assert_eq!(
        outside.header("content-range"),
        Some(format!("bytes */{}", bytes.len()).as_str())
    );

    let head = read(
        reqwest::Client::new()
            .head(app.url(path_of(url)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(bytes.len().to_string().as_str())
    );
    assert!(head.text.is_empty());

    // The avatar field takes the URL as it is.
    let avatar = app
        .put(
            "/api/user",
            Some(&jake.token),
            &json!({"user": {"image": url}}),
        )
        .await;
    assert_eq!(avatar.status, 200, "{}", avatar.text);
}

#[tokio::test]
async fn variants_serve_the_original_until_their_job_has_made_them() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let created = send_upload(&app, Some(&jake.token), "file", png(1600, 800)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let thumb = created.body["upload"]["variants"]["thumb"]
        .as_str()
        .unwrap()
        .to_owned();
    let medium = created.body["upload"]["variants"]["medium"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let dimensions = |bytes: &[u8]| {
        let image = image::load_from_memory(bytes).unwrap();
        (image.width(), image.height())
    };
    loop {
        let mut made = 0;
        for (url, size) in [(&thumb, (128, 128)), (&medium, (1024, 512))] {
            let (file, bytes) = get(&app, path_of(url), &[]).await;
            assert_eq!(file.status, 200);
            let served = dimensions(&bytes);
            if served == size {
                made += 1;
                assert_eq!(
                    file.header("cache-control"),
                    Some("public, max-age=31536000, immutable")
                );
            } else {
                // Until then: the original, cached briefly.
                assert_eq!(served, (1600, 800), "{url}");
                assert_eq!(file.header("cache-control"), Some("public, max-age=60"));
            }
        }
        if made == 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "variants never made");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn hostile_and_broken_files_get_a_422_on_file_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let jake = app.register("jake").await;
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>".to_vec();
    let html = b"<html><script>alert(document.cookie)</script></html>".to_vec();
    let mut truncated = png(64, 64);
    truncated.truncate(40);
    for (bytes, message) in [
        (svg, "must be a PNG, JPEG, WebP or GIF image"),
        (html, "must be a PNG, JPEG, WebP or GIF image"),
        (
            b"%PDF-1.4\n".to_vec(),
            "must be a PNG, JPEG, WebP or GIF image",
        ),
        (Vec::new(), "is empty"),
        (truncated, "is not a readable image (truncated or corrupt)"),
        (
            png_claiming(100_000, 100_000),
            "is 100000 × 100000 pixels; at most 40000000 pixels are allowed",
        ),
    ] {
        let refused = send_upload(&app, Some(&jake.token), "file", bytes).await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        assert_eq!(refused.body, json!({"errors": {"file": [message]}}));
    }
    let unnamed = send_upload(&app, Some(&jake.token), "picture", png(8, 8)).await;
    assert_eq!(unnamed.status, 422);
    assert!(
        unnamed.body["errors"]["file"].is_array(),
        "{}",
        unnamed.text
    );
    let anonymous = send_upload(&app, None, "file", png(8, 8)).await;
    assert_eq!(anonymous.status, 401);

    let (missing, _) = get(&app, &format!("/files/{}.png", "0".repeat(64)), &[]).await;
    assert_eq!(missing.status, 404);
    for traversal in [
        "/files/..%2F..%2Fetc%2Fpasswd",
        "/files/conduit.db",
        "/files/x.svg",
    ] {
        let (refused, _) = get(&app, traversal, &[]).await;
        assert_eq!(refused.status, 404, "{traversal}");
    }
}

#[tokio::test]
async fn a_file_beyond_the_size_limit_is_413_and_a_user_beyond_the_quota_422() {
    let app = TestApp::spawn_with(|settings| {
        settings.upload_max_bytes = 2_000;
        settings.upload_quota_bytes = 3_000;
    })
    .await;
    let jake = app.register("jake").await;
    let noise: Vec<u8> = (0..5_000u32).map(|n| (n * 7919 % 251) as u8).collect();
    let large = send_upload(&app, Some(&jake.token), "file", noise).await;
    assert_eq!(large.status, 413, "{}", large.text);
    assert_eq!(
        large.body,
        json!({"errors": {"file": ["is too large (maximum is 2000 bytes)"]}})
    );
    let mut stored = 0;
    let mut refused = None;
    for side in 8..40 {
        let response = send_upload(&app, Some(&jake.token), "file", png(side, side)).await;
        match response.status {
            201 => stored += response.body["upload"]["size"].as_u64().unwrap(),
            422 => {
                refused = Some(response);
                break;
            }
            other => panic!("{other}: {}", response.text),
        }
    }
    let refused = refused.expect("the quota was never reached");
    let message = refused.body["errors"]["file"][0].as_str().unwrap();
    assert!(message.contains("quota of 3000 bytes"), "{message}");
    assert!(stored <= 3_000, "{stored} bytes stored");
}
