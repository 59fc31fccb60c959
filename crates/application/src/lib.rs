//! Application layer: one use case per API operation, and the ports those
//! use cases need (repositories inside a unit of work, password hashing,
//! tokens, the clock, outbound email); the change events writes record, the
//! job queue and the supervisor of background tasks. Adapters for the ports live in `conduit-infrastructure`; the HTTP
//! layer calls the use cases through the `*UseCases` traits.

pub mod accounts;
pub mod articles;
pub mod cache;
pub mod comments;
pub mod error;
pub mod events;
pub mod health;
pub mod jobs;
pub mod mail;
pub mod notifications;
mod personalize;
pub mod ports;
pub mod profiles;
pub mod reactions;
pub mod storage;
pub mod supervisor;
pub mod tags;
pub mod uploads;
pub mod users;
pub mod views;

#[cfg(any(test, feature = "mocks"))]
pub mod testing;

pub use error::{AppError, AuthFailure, FieldErrors};
