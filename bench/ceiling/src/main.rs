//! Ceiling server for the load benchmark: answers every request (any method,
//! any path) with the same ~1 KB JSON body, with no I/O beyond the socket.
//!
//! ```text
//! bench-ceiling [ADDR]          # or CEILING_BIND=ADDR; default 127.0.0.1:8089
//! ```
//!
//! Uses one worker per CPU core, like Conduit with `CONDUIT_WORKERS=0`.

use std::thread::available_parallelism;

use actix_web::http::header::ContentType;
use actix_web::{App, HttpResponse, HttpServer, web};

/// A fixed body shaped like one of Conduit's single-article responses, padded
/// to about 1 KB.
fn body() -> String {
    let padding = "lorem ipsum dolor sit amet ".repeat(28);
    let body = format!(
        concat!(
            r#"{{"article":{{"slug":"how-to-train-your-dragon","title":"How to train your dragon","#,
            r#""description":"Ever wonder how?","body":"{}","tagList":["dragons","training"],"#,
            r#""createdAt":"2016-02-18T03:22:56.637Z","updatedAt":"2016-02-18T03:48:35.824Z","#,
            r#""favorited":false,"favoritesCount":0,"author":{{"username":"jake","#,
            r#""bio":"I work at statefarm","image":"https://i.stack.imgur.com/xHWG8.jpg","#,
            r#""following":false}}}}}}"#
        ),
        padding.trim_end()
    );
    body
}

fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("CEILING_BIND").ok())
        .unwrap_or_else(|| "127.0.0.1:8089".to_owned());
    let workers = available_parallelism().map_or(1, |n| n.get());
    let body = web::Bytes::from(body());
    eprintln!(
        "bench-ceiling: {address}, {workers} workers, {} byte body",
        body.len()
    );

    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || {
            let body = body.clone();
            App::new().default_service(web::to(move || {
                let body = body.clone();
                async move {
                    HttpResponse::Ok()
                        .insert_header(ContentType::json())
                        .body(body)
                }
            }))
        })
        .workers(workers)
        .bind(&address)?
        .run()
        .await
    })
}
