//! The OpenAPI document, generated from the handlers and DTOs.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::handlers::{articles, comments, profiles, tags, users};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Conduit API",
        description = "Conduit, a Medium-like blogging platform implementing the RealWorld API.\n\n\
            Errors always have the shape `{\"errors\": {\"field\": [\"message\"]}}`. \
            Protected operations need `Authorization: Token <jwt>` (`Bearer <jwt>` is accepted too); \
            the token comes from registration or log-in. Every response carries an `X-Request-Id`.",
        license(name = "MIT", identifier = "MIT"),
    ),
    paths(
        users::login,
        users::create_user,
        users::get_current_user,
        users::update_current_user,
        profiles::get_profile_by_username,
        profiles::follow_user_by_username,
        profiles::unfollow_user_by_username,
        articles::get_articles_feed,
        articles::get_articles,
        articles::create_article,
        articles::get_article,
        articles::update_article,
        articles::delete_article,
        comments::get_article_comments,
        comments::create_article_comment,
        comments::delete_article_comment,
        articles::create_article_favorite,
        articles::delete_article_favorite,
        tags::get_tags,
    ),
    modifiers(&TokenSecurity),
    tags(
        (name = "Articles"),
        (name = "Comments"),
        (name = "Favorites"),
        (name = "Profile"),
        (name = "Tags"),
        (name = "User and Authentication"),
    )
)]
pub struct ApiDoc;

/// The `Token` scheme: `Authorization: Token <jwt>`.
struct TokenSecurity;

impl Modify for TokenSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "Token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "Send `Token <jwt>` (or `Bearer <jwt>`), the token returned by registration or log-in.",
            ))),
        );
    }
}

/// The document as served, pretty-printed with a trailing newline (the form
/// committed as `docs/openapi.json`).
///
/// # Errors
/// Never in practice: the document is plain data.
pub fn openapi_json() -> Result<String, serde_json::Error> {
    let mut json = serde_json::to_string_pretty(&ApiDoc::openapi())?;
    json.push('\n');
    Ok(json)
}
