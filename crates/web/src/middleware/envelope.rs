//! The envelope itself: a request id, one tracing span per request with
//! method, route, status and latency, the request metrics, and panics or
//! inner errors turned into JSON 500s (`EnvelopeError`). `request_envelope`
//! runs the other steps on the response, in the order the `middleware`
//! module documentation gives.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::Data;
use actix_web::{HttpMessage, HttpResponse};
use futures_util::FutureExt;
use tracing::Instrument;

use super::conditional::ConditionalGet;
use super::errors::{fallback_body, json_error_body};
use super::headers::add_security_headers;
use crate::WebState;

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

/// Wraps every request; see the `middleware` module documentation.
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
    let conditional = ConditionalGet::of(&req);
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

    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "<unmatched>".to_owned());
    let (request, response) = response.into_parts();
    let mut response = json_error_body(response, &id);
    if let Some(conditional) = &conditional {
        response = conditional.respond(response);
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
