//! Conditional GETs: a JSON 200 gets a strong `ETag` (a hash of its bytes),
//! and a request whose `If-None-Match` names it gets `304 Not Modified`
//! without the body. Answers depend on the caller's token, hence
//! `Vary: Authorization` and `Cache-Control: private, no-cache` (a cache may
//! keep them but must revalidate).
//!
//! Only a body already whole in memory is tagged. A streaming body
//! (Server-Sent Events, a file download) and any body that is not JSON pass
//! through untouched: nothing is buffered to compute a tag.

use actix_web::HttpResponse;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceRequest;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};

use super::is_json;

/// A GET, with the `If-None-Match` it sent, kept for its response.
pub(super) struct ConditionalGet {
    if_none_match: Option<HeaderValue>,
}

impl ConditionalGet {
    /// `None` for anything but a GET: only GETs are answered conditionally.
    pub(super) fn of(req: &ServiceRequest) -> Option<Self> {
        (req.method() == Method::GET).then(|| Self {
            if_none_match: req.headers().get(header::IF_NONE_MATCH).cloned(),
        })
    }

    /// Tags a JSON 200 and turns it into a 304 when the request already
    /// holds that tag; any other response is returned as it is.
    pub(super) fn respond(&self, response: HttpResponse<BoxBody>) -> HttpResponse<BoxBody> {
        if response.status() != StatusCode::OK || !is_json(&response) {
            return response;
        }
        let (head, body) = response.into_parts();
        let bytes = match body.try_into_bytes() {
            Ok(bytes) => bytes,
            // A streaming body is handed back unread: tagging it would mean
            // buffering it whole.
            Err(streaming) => return head.set_body(streaming),
        };
        let etag = format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(&bytes));
        let matches = self
            .if_none_match
            .as_ref()
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| {
                value
                    .split(',')
                    .map(|candidate| candidate.trim().trim_start_matches("W/"))
                    .any(|candidate| candidate == etag || candidate == "*")
            });
        let mut response = if matches {
            let mut not_modified = HttpResponse::NotModified().finish();
            for (name, value) in head.headers() {
                if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                    not_modified
                        .headers_mut()
                        .append(name.clone(), value.clone());
                }
            }
            not_modified
        } else {
            head.set_body(BoxBody::new(bytes))
        };
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&etag) {
            headers.insert(header::ETAG, value);
        }
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
        let vary = match headers
            .get(header::VARY)
            .and_then(|value| value.to_str().ok())
        {
            Some(existing) => format!("{existing}, Authorization"),
            None => "Authorization".to_owned(),
        };
        if let Ok(value) = HeaderValue::from_str(&vary) {
            headers.insert(header::VARY, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use actix_web::HttpResponse;
    use actix_web::body::{BodySize, BodyStream, MessageBody};
    use actix_web::http::StatusCode;
    use actix_web::http::header::{self, HeaderValue};
    use actix_web::web::Bytes;

    use super::ConditionalGet;

    fn get(if_none_match: Option<&'static str>) -> ConditionalGet {
        ConditionalGet {
            if_none_match: if_none_match.map(HeaderValue::from_static),
        }
    }

    fn json_ok() -> HttpResponse {
        HttpResponse::Ok().json(serde_json::json!({"tags": ["dragons"]}))
    }

    #[actix_web::test]
    async fn a_streaming_json_body_passes_through_unread_and_untagged() {
        let chunks = futures_util::stream::iter([
            Ok::<_, Infallible>(Bytes::from_static(b"{\"tags\":")),
            Ok(Bytes::from_static(b"[]}")),
        ]);
        let response = HttpResponse::Ok()
            .content_type("application/json")
            .body(BodyStream::new(chunks));
        // Even `*`, which names every tag, does not make a stream a 304.
        let response = get(Some("*")).respond(response);
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get(header::ETAG).is_none());
        assert!(response.headers().get(header::CACHE_CONTROL).is_none());
        assert!(response.headers().get(header::VARY).is_none());
        assert_eq!(response.body().size(), BodySize::Stream);
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap();
        assert_eq!(body, Bytes::from_static(b"{\"tags\":[]}"));
    }

    #[actix_web::test]
    async fn a_body_that_is_not_json_is_left_untagged() {
        let response = HttpResponse::Ok()
            .content_type("text/event-stream")
            .body("data: {}\n\n");
        let response = get(None).respond(response);
        assert!(response.headers().get(header::ETAG).is_none());
        assert!(response.headers().get(header::CACHE_CONTROL).is_none());
    }

    #[actix_web::test]
    async fn a_json_200_is_tagged_and_a_request_naming_the_tag_gets_a_304() {
        let tagged = get(None).respond(json_ok());
        assert_eq!(tagged.status(), StatusCode::OK);
        let etag = tagged.headers().get(header::ETAG).unwrap().clone();
        assert_eq!(
            tagged.headers().get(header::CACHE_CONTROL).unwrap(),
            "private, no-cache"
        );
        assert_eq!(tagged.headers().get(header::VARY).unwrap(), "Authorization");

        let revalidated = ConditionalGet {
            if_none_match: Some(etag.clone()),
        }
        .respond(json_ok());
        assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(revalidated.headers().get(header::ETAG), Some(&etag));
        assert!(revalidated.headers().get(header::CONTENT_TYPE).is_none());
        let body = actix_web::body::to_bytes(revalidated.into_body())
            .await
            .unwrap();
        assert!(body.is_empty());
    }
}
