//! The OpenAPI document, generated from the handlers and DTOs.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::handlers::{accounts, articles, comments, health, profiles, tags, uploads, users};

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
        users::logout,
        accounts::verify_email,
        accounts::resend_verification,
        accounts::request_password_reset,
        accounts::confirm_password_reset,
        accounts::unsubscribe_page,
        accounts::unsubscribe,
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
        uploads::create_upload,
        uploads::get_file,
        uploads::get_file_variant,
        health::live,
        health::ready,
        health::metrics,
    ),
    components(schemas(crate::error::GenericErrorModel)),
    modifiers(&TokenSecurity, &AtLeastOneField),
    tags(
        (name = "Articles"),
        (name = "Comments"),
        (name = "Favorites"),
        (name = "Profile"),
        (name = "Tags"),
        (name = "User and Authentication"),
        (name = "Account lifecycle", description = "Email verification, password reset and unsubscribing; beyond the RealWorld API"),
        (name = "Uploads", description = "Images for avatars and articles; beyond the RealWorld API"),
        (name = "Operations", description = "Liveness, readiness and Prometheus metrics"),
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

/// Update bodies must change something. Set here because utoipa 5.5's
/// `min_properties` attribute emits `maxProperties` instead.
struct AtLeastOneField;

impl Modify for AtLeastOneField {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for name in ["UpdateUser", "UpdateArticle"] {
            if let Some(utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(
                object,
            ))) = components.schemas.get_mut(name)
            {
                object.min_properties = Some(1);
            }
        }
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

#[cfg(test)]
mod tests {
    use conduit_domain::limits::{
        BIO_MAX, BODY_MAX, COMMENT_MAX, DESCRIPTION_MAX, EMAIL_MAX, IMAGE_URL_MAX, PASSWORD_MAX,
        PASSWORD_MIN, TAGS_PER_ARTICLE_MAX, TITLE_MAX, USERNAME_MAX, USERNAME_MIN,
    };
    use serde_json::Value;

    use super::*;

    fn document() -> Value {
        serde_json::to_value(ApiDoc::openapi()).expect("the document serializes")
    }

    /// Every operation of the RealWorld contract: method, path, operationId.
    const CONTRACT: [(&str, &str, &str); 19] = [
        ("post", "/api/users/login", "Login"),
        ("post", "/api/users", "CreateUser"),
        ("get", "/api/user", "GetCurrentUser"),
        ("put", "/api/user", "UpdateCurrentUser"),
        ("get", "/api/profiles/{username}", "GetProfileByUsername"),
        (
            "post",
            "/api/profiles/{username}/follow",
            "FollowUserByUsername",
        ),
        (
            "delete",
            "/api/profiles/{username}/follow",
            "UnfollowUserByUsername",
        ),
        ("get", "/api/articles/feed", "GetArticlesFeed"),
        ("get", "/api/articles", "GetArticles"),
        ("post", "/api/articles", "CreateArticle"),
        ("get", "/api/articles/{slug}", "GetArticle"),
        ("put", "/api/articles/{slug}", "UpdateArticle"),
        ("delete", "/api/articles/{slug}", "DeleteArticle"),
        ("get", "/api/articles/{slug}/comments", "GetArticleComments"),
        (
            "post",
            "/api/articles/{slug}/comments",
            "CreateArticleComment",
        ),
        (
            "delete",
            "/api/articles/{slug}/comments/{id}",
            "DeleteArticleComment",
        ),
        (
            "post",
            "/api/articles/{slug}/favorite",
            "CreateArticleFavorite",
        ),
        (
            "delete",
            "/api/articles/{slug}/favorite",
            "DeleteArticleFavorite",
        ),
        ("get", "/api/tags", "GetTags"),
    ];

    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    #[test]
    fn every_contract_operation_is_documented_under_its_path_and_method() {
        let document = document();
        for (method, path, operation_id) in CONTRACT {
            let operation = &document["paths"][path][method];
            assert!(
                operation.is_object(),
                "{method} {path} ({operation_id}) is missing"
            );
            assert_eq!(operation["operationId"], operation_id, "{method} {path}");
        }
    }

    #[test]
    fn no_operation_beyond_the_contract_operations_and_account_endpoints_is_documented() {
        let document = document();
        let mut documented = Vec::new();
        for (path, item) in document["paths"].as_object().expect("paths") {
            for method in METHODS {
                if let Some(operation) = item.get(method) {
                    documented.push((
                        method.to_owned(),
                        path.clone(),
                        operation["operationId"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    ));
                }
            }
        }
        let operations = [
            ("get", "/health/live", "Live"),
            ("get", "/health/ready", "Ready"),
            ("get", "/metrics", "Metrics"),
            // The account lifecycle beyond the RealWorld contract.
            ("post", "/api/users/logout", "Logout"),
            ("post", "/api/users/verify-email", "VerifyEmail"),
            (
                "post",
                "/api/users/verify-email/resend",
                "ResendVerificationEmail",
            ),
            ("post", "/api/users/password-reset", "RequestPasswordReset"),
            (
                "post",
                "/api/users/password-reset/confirm",
                "ConfirmPasswordReset",
            ),
            ("get", "/api/users/unsubscribe", "UnsubscribePage"),
            ("post", "/api/uploads", "CreateUpload"),
            ("get", "/files/{key}", "GetFile"),
            ("get", "/files/{key}/{variant}", "GetFileVariant"),
            ("post", "/api/users/unsubscribe", "Unsubscribe"),
        ];
        let mut expected: Vec<_> = CONTRACT
            .iter()
            .chain(operations.iter())
            .map(|(method, path, id)| ((*method).to_owned(), (*path).to_owned(), (*id).to_owned()))
            .collect();
        documented.sort();
        expected.sort();
        assert_eq!(documented, expected);
    }

    #[test]
    fn the_token_security_scheme_is_an_authorization_header() {
        let document = document();
        let scheme = &document["components"]["securitySchemes"]["Token"];
        assert_eq!(scheme["type"], "apiKey");
        assert_eq!(scheme["in"], "header");
        assert_eq!(scheme["name"], "Authorization");
    }

    #[test]
    fn protected_operations_require_the_token_and_optional_ones_allow_none() {
        let document = document();
        let requirements = |method: &str, path: &str| -> Vec<Value> {
            document["paths"][path][method]["security"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        };
        let token = serde_json::json!({"Token": []});
        let anonymous = serde_json::json!({});
        for (method, path) in [
            ("get", "/api/user"),
            ("put", "/api/user"),
            ("get", "/api/articles/feed"),
            ("post", "/api/articles"),
            ("delete", "/api/articles/{slug}/comments/{id}"),
            ("post", "/api/users/logout"),
            ("post", "/api/users/verify-email/resend"),
            ("post", "/api/uploads"),
        ] {
            assert_eq!(
                requirements(method, path),
                std::slice::from_ref(&token),
                "{method} {path}"
            );
        }
        for (method, path) in [
            ("get", "/api/articles"),
            ("get", "/api/articles/{slug}"),
            ("get", "/api/profiles/{username}"),
        ] {
            let found = requirements(method, path);
            assert!(
                found.contains(&token) && found.contains(&anonymous),
                "{method} {path}: {found:?}"
            );
        }
        for (method, path) in [("post", "/api/users"), ("post", "/api/users/login")] {
            assert!(requirements(method, path).is_empty(), "{method} {path}");
        }
    }

    /// The documented bound `keyword` of `schema.property`.
    fn bound(document: &Value, schema: &str, property: &str, keyword: &str) -> Option<u64> {
        document["components"]["schemas"][schema]["properties"][property][keyword].as_u64()
    }

    fn limit(value: usize) -> Option<u64> {
        u64::try_from(value).ok()
    }

    #[test]
    fn documented_bounds_equal_the_domain_limits() {
        let document = document();
        let cases = [
            ("NewUser", "username", "minLength", USERNAME_MIN),
            ("NewUser", "username", "maxLength", USERNAME_MAX),
            ("NewUser", "email", "maxLength", EMAIL_MAX),
            ("NewUser", "password", "minLength", PASSWORD_MIN),
            ("NewUser", "password", "maxLength", PASSWORD_MAX),
            ("LoginUser", "email", "maxLength", EMAIL_MAX),
            ("LoginUser", "password", "minLength", 1),
            ("LoginUser", "password", "maxLength", PASSWORD_MAX),
            ("UpdateUser", "username", "minLength", USERNAME_MIN),
            ("UpdateUser", "username", "maxLength", USERNAME_MAX),
            ("UpdateUser", "email", "maxLength", EMAIL_MAX),
            ("UpdateUser", "password", "minLength", PASSWORD_MIN),
            ("UpdateUser", "password", "maxLength", PASSWORD_MAX),
            ("UpdateUser", "bio", "maxLength", BIO_MAX),
            ("UpdateUser", "image", "maxLength", IMAGE_URL_MAX),
            ("NewArticle", "title", "minLength", 1),
            ("NewArticle", "title", "maxLength", TITLE_MAX),
            ("NewArticle", "description", "minLength", 1),
            ("NewArticle", "description", "maxLength", DESCRIPTION_MAX),
            ("NewArticle", "body", "minLength", 1),
            ("NewArticle", "body", "maxLength", BODY_MAX),
            ("NewArticle", "tagList", "maxItems", TAGS_PER_ARTICLE_MAX),
            ("UpdateArticle", "title", "maxLength", TITLE_MAX),
            ("UpdateArticle", "description", "maxLength", DESCRIPTION_MAX),
            ("UpdateArticle", "body", "maxLength", BODY_MAX),
            ("UpdateArticle", "tagList", "maxItems", TAGS_PER_ARTICLE_MAX),
            ("NewComment", "body", "minLength", 1),
            ("NewComment", "body", "maxLength", COMMENT_MAX),
        ];
        for (schema, property, keyword, expected) in cases {
            assert_eq!(
                bound(&document, schema, property, keyword),
                limit(expected),
                "{schema}.{property}.{keyword}"
            );
        }
    }

    #[test]
    fn the_served_json_is_the_document_with_a_trailing_newline() {
        let json = openapi_json().expect("the document serializes");
        assert!(json.ends_with("}\n"));
        let parsed: Value = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(parsed, document());
    }
}
