//! One handler per operation of the RealWorld contract, named after its
//! `operationId`. Handlers only translate: DTO in, use case, DTO out.

pub mod accounts;
pub mod articles;
pub mod comments;
pub mod health;
pub mod profiles;
pub mod tags;
pub mod uploads;
pub mod users;
