//! The security headers every response carries, with a Content Security
//! Policy chosen by path: the JSON API loads nothing, Swagger UI loads its
//! own assets.

use actix_web::http::header::{self, HeaderMap, HeaderValue};

/// The JSON API loads nothing and may not be framed.
const API_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/// The unsubscribe page styles itself inline and posts its one form back.
const UNSUBSCRIBE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";
/// Swagger UI loads its own script, styles and images, and calls the API.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
    form-action 'none'";

/// Headers every response carries. `Strict-Transport-Security` only when
/// served over TLS, and no `Server` header.
pub(super) fn add_security_headers(headers: &mut HeaderMap, path: &str, tls: bool) {
    let csp = if path.starts_with("/swagger-ui") {
        DOCS_CSP
    } else if path == "/api/users/unsubscribe" {
        UNSUBSCRIBE_CSP
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
