//! The request envelope: one middleware around every request, made of
//! focused steps. On the way out they run in this order:
//!
//! 1. `envelope`: the request id, one tracing span per request with method,
//!    route, status and latency, the request metrics, and panics or inner
//!    errors turned into JSON 500s. `request_envelope` composes the steps.
//! 2. `errors`: every error response gets a JSON body; a 500 never shows
//!    its cause.
//! 3. `conditional`: a strong `ETag` and `304 Not Modified` for JSON 200
//!    answers to GETs. Streaming and non-JSON bodies (Server-Sent Events,
//!    file downloads) pass through untouched, never buffered.
//! 4. `headers`: the security headers, with a CSP per path.
//!
//! The steps are plain functions over one response, not middlewares of
//! their own: each `from_fn` layer would cost a boxed future per request,
//! and the request id, the `If-None-Match` value and the path are taken
//! from the request once for all of them.

mod conditional;
mod envelope;
mod errors;
mod headers;

use actix_web::HttpResponse;
use actix_web::body::BoxBody;
use actix_web::http::header;

pub use envelope::{REQUEST_ID_HEADER, RequestId, request_envelope};

/// Whether the response declares a JSON body.
fn is_json(response: &HttpResponse<BoxBody>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}
