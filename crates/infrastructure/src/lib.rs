//! Infrastructure layer: the adapters behind the application's ports.
//!
//! - [`db`]: Diesel over SQLite or PostgreSQL (one `MultiConnection`),
//!   an r2d2 pool, embedded migrations and the repositories.
//! - [`hashing`]: argon2id password hashing off the async workers.
//! - [`mail`]: outbound email through SMTP (lettre, rustls, pooled), or
//!   into `.eml` files when no server is configured.
//! - [`tokens`]: HS256 JWTs and the signing secret.

pub mod cache;
pub mod db;
pub mod error;
pub mod files;
pub mod hashing;
pub mod images;
pub mod mail;
pub mod tokens;

#[cfg(feature = "test-support")]
pub mod smtp_sink;
#[cfg(feature = "test-support")]
pub mod testing;
