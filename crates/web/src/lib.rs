//! HTTP layer: actix-web handlers for the RealWorld API, their DTOs and
//! extractors, the error mapping, the request envelope, CORS and the OpenAPI
//! document with its Swagger UI.
//!
//! The layer sees the application only through its `*UseCases` traits, so
//! its tests run against mockall mocks and the binary decides what is behind.

pub mod dto;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod rate_limit;
#[cfg(test)]
mod test_support;

use std::sync::Arc;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::web::{self, Data, QueryConfig};
use actix_web::{App, HttpResponse};
use conduit_application::FieldErrors;
use conduit_application::accounts::AccountUseCases;
use conduit_application::articles::ArticleUseCases;
use conduit_application::comments::CommentUseCases;
use conduit_application::health::HealthCheck;
use conduit_application::jobs::JobUseCases;
use conduit_application::profiles::ProfileUseCases;
use conduit_application::tags::TagUseCases;
use conduit_application::uploads::UploadUseCases;
use conduit_application::users::UserUseCases;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ApiError;
use crate::handlers::{accounts, articles, comments, health, profiles, tags, uploads, users};
use crate::metrics::Metrics;
use crate::rate_limit::{RateLimitSettings, RateLimits};

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/api-docs/openapi.json";

/// The use cases behind the handlers.
#[derive(Clone)]
pub struct Services {
    pub users: Arc<dyn UserUseCases>,
    pub accounts: Arc<dyn AccountUseCases>,
    pub uploads: Arc<dyn UploadUseCases>,
    pub profiles: Arc<dyn ProfileUseCases>,
    pub articles: Arc<dyn ArticleUseCases>,
    pub comments: Arc<dyn CommentUseCases>,
    pub tags: Arc<dyn TagUseCases>,
    pub health: Arc<dyn HealthCheck>,
    /// For the queue's metrics.
    pub jobs: Arc<dyn JobUseCases>,
}

/// HTTP settings the handlers need.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest accepted JSON body, in bytes.
    pub json_limit: usize,
    /// How long a client may take to send a request body.
    pub body_timeout: Duration,
    /// Origins allowed by CORS; empty means any origin (without credentials).
    pub cors_origins: Vec<String>,
    /// Limits on log-in and registration attempts.
    pub rate_limits: RateLimitSettings,
    /// How long `/health/ready` waits for the database.
    pub readiness_timeout: Duration,
    /// Served over TLS: responses then carry `Strict-Transport-Security`.
    pub tls: bool,
    /// `/metrics` is served on a listener of its own, not on the API's.
    pub separate_metrics: bool,
    /// The public origin, for absolute URLs of uploads.
    pub public_url: String,
    /// The largest file `POST /api/uploads` reads.
    pub upload_max_bytes: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            json_limit: 1024 * 1024,
            body_timeout: Duration::from_secs(10),
            cors_origins: Vec::new(),
            rate_limits: RateLimitSettings::default(),
            readiness_timeout: Duration::from_secs(2),
            tls: false,
            separate_metrics: false,
            public_url: "http://127.0.0.1:8080".to_owned(),
            upload_max_bytes: 5 * 1024 * 1024,
        }
    }
}

/// State shared by every worker: settings, metrics and rate-limit buckets.
pub struct WebState {
    pub settings: HttpSettings,
    pub metrics: Arc<Metrics>,
    pub limits: RateLimits,
}

impl WebState {
    pub fn new(settings: HttpSettings) -> Arc<Self> {
        Arc::new(Self {
            limits: RateLimits::new(settings.rate_limits),
            metrics: Arc::new(Metrics::new()),
            settings,
        })
    }
}

fn cors(settings: &HttpSettings) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::HeaderName::from_static("x-requested-with"),
            middleware::REQUEST_ID_HEADER,
        ])
        .expose_headers([middleware::REQUEST_ID_HEADER, header::RETRY_AFTER])
        .max_age(3600);
    if settings.cors_origins.is_empty() {
        cors = cors.allow_any_origin().send_wildcard();
    } else {
        for origin in &settings.cors_origins {
            cors = cors.allowed_origin(origin);
        }
    }
    cors
}

/// The API routes, under `/api`, and the health endpoints.
pub fn api_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .service(web::resource("/users").route(web::post().to(users::create_user)))
            .service(web::resource("/users/login").route(web::post().to(users::login)))
            .service(web::resource("/users/logout").route(web::post().to(users::logout)))
            .service(
                web::resource("/users/verify-email").route(web::post().to(accounts::verify_email)),
            )
            .service(
                web::resource("/users/verify-email/resend")
                    .route(web::post().to(accounts::resend_verification)),
            )
            .service(
                web::resource("/users/password-reset")
                    .route(web::post().to(accounts::request_password_reset)),
            )
            .service(
                web::resource("/users/password-reset/confirm")
                    .route(web::post().to(accounts::confirm_password_reset)),
            )
            .service(
                web::resource("/users/unsubscribe")
                    .route(web::get().to(accounts::unsubscribe_page))
                    .route(web::post().to(accounts::unsubscribe)),
            )
            .service(
                web::resource("/user")
                    .route(web::get().to(users::get_current_user))
                    .route(web::put().to(users::update_current_user)),
            )
            .service(
                web::resource("/profiles/{username}")
                    .route(web::get().to(profiles::get_profile_by_username)),
            )
            .service(
                web::resource("/profiles/{username}/follow")
                    .route(web::post().to(profiles::follow_user_by_username))
                    .route(web::delete().to(profiles::unfollow_user_by_username)),
            )
            .service(
                web::resource("/articles")
                    .route(web::get().to(articles::get_articles))
                    .route(web::post().to(articles::create_article)),
            )
            .service(
                web::resource("/articles/feed").route(web::get().to(articles::get_articles_feed)),
            )
            .service(
                web::resource("/articles/{slug}")
                    .route(web::get().to(articles::get_article))
                    .route(web::put().to(articles::update_article))
                    .route(web::delete().to(articles::delete_article)),
            )
            .service(
                web::resource("/articles/{slug}/comments")
                    .route(web::get().to(comments::get_article_comments))
                    .route(web::post().to(comments::create_article_comment)),
            )
            .service(
                web::resource("/articles/{slug}/comments/{id}")
                    .route(web::delete().to(comments::delete_article_comment)),
            )
            .service(
                web::resource("/articles/{slug}/favorite")
                    .route(web::post().to(articles::create_article_favorite))
                    .route(web::delete().to(articles::delete_article_favorite)),
            )
            .service(web::resource("/tags").route(web::get().to(tags::get_tags)))
            .service(web::resource("/uploads").route(web::post().to(uploads::create_upload))),
    )
    .service(
        web::resource("/files/{key}")
            .route(web::get().to(uploads::get_file))
            .route(web::head().to(uploads::get_file)),
    )
    .service(
        web::resource("/files/{key}/{variant}")
            .route(web::get().to(uploads::get_file_variant))
            .route(web::head().to(uploads::get_file_variant)),
    )
    .service(web::resource("/health/live").route(web::get().to(health::live)))
    .service(web::resource("/health/ready").route(web::get().to(health::ready)));
}

fn metrics_route(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/metrics").route(web::get().to(health::metrics)));
}

/// The operators' listener (`CONDUIT_METRICS_BIND`): `/metrics` and the
/// health endpoints, nothing of the API.
pub fn operations_app(
    services: Services,
    state: Arc<WebState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(Data::from(services.health))
        .app_data(Data::from(services.jobs))
        .app_data(Data::from(state))
        .configure(metrics_route)
        .service(web::resource("/health/live").route(web::get().to(health::live)))
        .service(web::resource("/health/ready").route(web::get().to(health::ready)))
        .default_service(web::to(not_found))
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(error::GenericErrorModel::single("path", "not found"))
}

/// The whole application: routes, documentation, CORS and the request envelope.
/// `state` is made once (`WebState::new`) and shared by every worker.
pub fn app(
    services: Services,
    state: Arc<WebState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let cors = cors(&state.settings);
    let metrics_here = !state.settings.separate_metrics;
    App::new()
        .app_data(Data::from(services.users))
        .app_data(Data::from(services.accounts))
        .app_data(Data::from(services.uploads))
        .app_data(Data::from(services.profiles))
        .app_data(Data::from(services.articles))
        .app_data(Data::from(services.comments))
        .app_data(Data::from(services.tags))
        .app_data(Data::from(services.health))
        .app_data(Data::from(services.jobs))
        .app_data(Data::from(state))
        .app_data(QueryConfig::default().error_handler(|_, _| {
            ApiError::validation(FieldErrors::single("query", "is invalid")).into()
        }))
        .configure(api_routes)
        .configure(|cfg| {
            if metrics_here {
                metrics_route(cfg);
            }
        })
        .service(SwaggerUi::new("/swagger-ui/{_:.*}").url(OPENAPI_PATH, openapi::ApiDoc::openapi()))
        .service(web::redirect("/swagger-ui", "/swagger-ui/"))
        .default_service(web::to(not_found))
        .wrap(cors)
        .wrap(actix_web::middleware::from_fn(middleware::request_envelope))
}
