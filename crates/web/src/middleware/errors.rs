//! Every error response gets a JSON body in the contract's shape,
//! `{"errors": {field: [message]}}`. A 500 never shows its cause, only the
//! request id to quote when reporting it.

use actix_web::HttpResponse;
use actix_web::body::BoxBody;
use actix_web::http::StatusCode;
use actix_web::http::header;

use super::is_json;
use crate::error::GenericErrorModel;

/// The JSON body for an error response that has none of its own.
pub(super) fn fallback_body(status: StatusCode, request_id: &str) -> GenericErrorModel {
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

/// Gives a 500, and any other error response whose body is not JSON, the
/// fallback body, keeping its other headers. Everything else is returned
/// as it is, and so are the HTML pages a browser asked for (an expired
/// unsubscribe link), which handlers build on purpose.
pub(super) fn json_error_body(
    response: HttpResponse<BoxBody>,
    request_id: &str,
) -> HttpResponse<BoxBody> {
    let status = response.status();
    let replace = status == StatusCode::INTERNAL_SERVER_ERROR
        || (status.is_client_error() && !is_json(&response) && !is_html(&response))
        || status.is_server_error() && !is_json(&response);
    if !replace {
        return response;
    }
    let mut replaced = HttpResponse::build(status).json(fallback_body(status, request_id));
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replaced.headers_mut().append(name.clone(), value.clone());
        }
    }
    replaced
}

fn is_html(response: &HttpResponse<BoxBody>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"))
}

#[cfg(test)]
mod tests {
    use actix_web::HttpResponse;
    use actix_web::http::StatusCode;

    use super::json_error_body;

    async fn body_of(response: HttpResponse) -> serde_json::Value {
        let bytes = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[actix_web::test]
    async fn a_500_loses_its_cause_and_keeps_its_other_headers() {
        let response = HttpResponse::InternalServerError()
            .insert_header(("retry-after", "5"))
            .json(serde_json::json!({"errors": {"db": ["password authentication failed"]}}));
        let response = json_error_body(response, "req-7");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers().get("retry-after").unwrap(), "5");
        assert_eq!(
            body_of(response).await,
            serde_json::json!({"errors": {"server": ["internal error (request id req-7)"]}})
        );
    }

    #[actix_web::test]
    async fn a_plain_text_error_gets_a_json_body() {
        let response = json_error_body(HttpResponse::NotFound().body("nothing here"), "req-8");
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "application/json"
        );
        assert_eq!(
            body_of(response).await,
            serde_json::json!({"errors": {"path": ["not found"]}})
        );
    }
}
