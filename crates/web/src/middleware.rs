//! The request envelope: a request id, one tracing span per request with
//! method, route, status and latency, panics turned into 500s, and a JSON
//! body on every error response.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::Data;
use actix_web::{HttpMessage, HttpResponse};
use futures_util::FutureExt;
use tracing::Instrument;

use crate::WebState;
use crate::error::GenericErrorModel;

/// The JSON API loads nothing and may not be framed.
const API_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/// Swagger UI loads its own script, styles and images, and calls the API.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
    form-action 'none'";

/// Conditional GETs: a JSON 200 gets a strong `ETag` (a hash of its bytes),
/// and a request whose `If-None-Match` names it gets `304 Not Modified`
/// without the body. Answers depend on the caller's token, hence
/// `Vary: Authorization` and `Cache-Control: private, no-cache` (a cache may
/// keep them but must revalidate).
fn conditional(
    response: HttpResponse<BoxBody>,
    if_none_match: Option<&HeaderValue>,
) -> HttpResponse<BoxBody> {
    if response.status() != StatusCode::OK || !is_json(&response) {
        return response;
    }
    let (head, body) = response.into_parts();
    let bytes = match body.try_into_bytes() {
        Ok(bytes) => bytes,
        // A streaming body is left as it is.
        Err(body) => return head.set_body(body),
    };
    let etag = format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(&bytes));
    let matches = if_none_match
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

/// Headers every response carries.
fn add_security_headers(headers: &mut header::HeaderMap, path: &str, tls: bool) {
    let csp = if path.starts_with("/swagger-ui") {
        DOCS_CSP
    } else {
        API_CSP
    };
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if tls {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    headers.remove(header::SERVER);
}

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the current request, as logged and as returned in `X-Request-Id`.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Takes the caller's `X-Request-Id` when it is a sane token (so ids can be
/// followed across services), or makes a new one.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| {
            (1..=128).contains(&value.len())
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), ToOwned::to_owned)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-text panic payload")
}

fn is_json(response: &HttpResponse<BoxBody>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}

/// The JSON body for an error response that has none of its own.
fn fallback_body(status: StatusCode, request_id: &str) -> GenericErrorModel {
    match status {
        StatusCode::NOT_FOUND => GenericErrorModel::single("path", "not found"),
        StatusCode::METHOD_NOT_ALLOWED => {
            GenericErrorModel::single("method", "is not allowed for this path")
        }
        StatusCode::PAYLOAD_TOO_LARGE => GenericErrorModel::single("body", "is too large"),
        status if status.is_server_error() => GenericErrorModel::single(
            "server",
            format!("internal error (request id {request_id})"),
        ),
        status => GenericErrorModel::single(
            "request",
            status
                .canonical_reason()
                .unwrap_or("is invalid")
                .to_lowercase(),
        ),
    }
}

/// A failure that left no response to decorate (a panic, or an error raised
/// by an inner middleware). actix renders it through `ResponseError`, which
/// needs no request, so it still gets the JSON body and the request id.
#[derive(Debug)]
struct EnvelopeError {
    status: StatusCode,
    request_id: String,
}

impl std::fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "request {} failed with {}", self.request_id, self.status)
    }
}

impl actix_web::ResponseError for EnvelopeError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response =
            HttpResponse::build(self.status).json(fallback_body(self.status, &self.request_id));
        if let Ok(value) = HeaderValue::from_str(&self.request_id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        add_security_headers(response.headers_mut(), "", false);
        response
    }
}

/// Logs the outcome in the request's span and counts it in the metrics.
fn record(
    span: &tracing::Span,
    state: Option<&WebState>,
    method: &str,
    route: &str,
    status: StatusCode,
    started: Instant,
) {
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(state) = state {
        state
            .metrics
            .observe(method, route, status.as_u16(), elapsed);
    }
    span.record("route", route);
    let latency_ms = elapsed * 1_000.0;
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), latency_ms, "request completed");
        } else {
            tracing::info!(status = status.as_u16(), latency_ms, "request completed");
        }
    });
}

/// Wraps every request; see the module documentation.
///
/// # Errors
/// `EnvelopeError` when no response came back (a panic or an inner error);
/// actix renders it as a JSON error response.
pub async fn request_envelope(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id(&req);
    req.extensions_mut().insert(RequestId(id.clone()));
    let state = req.app_data::<Data<WebState>>().cloned();
    let is_get = req.method() == actix_web::http::Method::GET;
    let if_none_match = is_get
        .then(|| req.headers().get(header::IF_NONE_MATCH).cloned())
        .flatten();
    let _in_flight = state.as_ref().map(|state| state.metrics.start());
    let method = req.method().to_string();
    let path = req.path().to_owned();
    let span = tracing::info_span!(
        "request",
        method = %method,
        path = %path,
        route = tracing::field::Empty,
        request_id = %id,
    );

    let outcome = AssertUnwindSafe(next.call(req))
        .catch_unwind()
        .instrument(span.clone())
        .await;
    // A failure has no matched route to report: it is labelled by its kind.
    let finished = match outcome {
        Ok(Ok(response)) => Ok(response.map_into_boxed_body()),
        Ok(Err(error)) => {
            span.in_scope(|| tracing::debug!(%error, "inner service failed"));
            Err((error.as_response_error().status_code(), "<error>"))
        }
        Err(panic) => {
            span.in_scope(|| {
                tracing::error!(panic = panic_message(&*panic), "handler panicked");
            });
            Err((StatusCode::INTERNAL_SERVER_ERROR, "<panic>"))
        }
    };
    let response = match finished {
        Ok(response) => response,
        Err((status, route)) => {
            record(
                &span,
                state.as_ref().map(|state| state.get_ref()),
                &method,
                route,
                status,
                started,
            );
            return Err(EnvelopeError {
                status,
                request_id: id,
            }
            .into());
        }
    };

    let status = response.status();
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "<unmatched>".to_owned());
    let (request, mut response) = response.into_parts();
    // Every error gets a JSON body; a 500 never shows its cause, only the id
    // to quote when reporting it.
    if status == StatusCode::INTERNAL_SERVER_ERROR
        || ((status.is_client_error() || status.is_server_error()) && !is_json(&response))
    {
        let headers = response.headers().clone();
        response = HttpResponse::build(status).json(fallback_body(status, &id));
        for (name, value) in &headers {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                response.headers_mut().append(name.clone(), value.clone());
            }
        }
    }
    if is_get {
        response = conditional(response, if_none_match.as_ref());
    }
    let status = response.status();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let tls = state.as_ref().is_some_and(|state| state.settings.tls);
    add_security_headers(response.headers_mut(), &path, tls);
    record(
        &span,
        state.as_ref().map(|state| state.get_ref()),
        &method,
        &route,
        status,
        started,
    );
    Ok(ServiceResponse::new(request, response))
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;
    use actix_web::test::{self, TestRequest};
    use actix_web::{App, HttpResponse, web};

    use super::request_envelope;

    async fn panics() -> HttpResponse {
        panic!("secret detail: /etc/conduit/key.pem")
    }

    #[actix_web::test]
    async fn a_panic_becomes_a_json_500_carrying_the_request_id_only() {
        let app = test::init_service(
            App::new()
                .route("/boom", web::get().to(panics))
                .wrap(actix_web::middleware::from_fn(request_envelope)),
        )
        .await;
        let request = TestRequest::get()
            .uri("/boom")
            .insert_header(("X-Request-Id", "req-42"))
            .to_request();
        let response = match test::try_call_service(&app, request).await {
            Ok(response) => response.into_parts().1,
            Err(error) => error.error_response(),
        };
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers().get("x-request-id").unwrap(), "req-42");
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "application/json"
        );
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"errors": {"server": ["internal error (request id req-42)"]}})
        );
    }

    #[actix_web::test]
    async fn the_server_keeps_answering_after_a_panic() {
        let app = test::init_service(
            App::new()
                .route("/boom", web::get().to(panics))
                .route("/fine", web::get().to(HttpResponse::Ok))
                .wrap(actix_web::middleware::from_fn(request_envelope)),
        )
        .await;
        let _ = test::try_call_service(&app, TestRequest::get().uri("/boom").to_request()).await;
        let fine = test::call_service(&app, TestRequest::get().uri("/fine").to_request()).await;
        assert_eq!(fine.status(), StatusCode::OK);
    }
}
