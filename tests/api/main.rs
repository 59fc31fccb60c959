//! Black-box tests: the real server over HTTP, one fresh database per test.

mod articles;
mod bad_input;
mod comments;
mod cors;
mod docs;
mod profiles;
mod users;
