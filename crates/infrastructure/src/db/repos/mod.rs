//! The repository ports implemented on `DieselUow`, one module per table group.
//! Query functions return Diesel's `QueryResult`; the trait impls translate
//! errors once, through `or_repo_error`.

mod account_tokens;
mod articles;
mod comments;
pub(crate) mod events;
mod follows;
mod jobs;
mod tags;
mod uploads;
mod users;
