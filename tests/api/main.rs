//! Black-box tests: the real server over HTTP, one fresh database per test.

#![expect(
    clippy::unwrap_used,
    reason = "black-box tests: failing loudly is the point"
)]

mod accounts;
mod articles;
mod bad_input;
mod cache;
mod comments;
mod cors;
mod docs;
mod jobs;
mod operations;
mod profiles;
mod security;
mod smtp;
mod uploads;
mod users;
