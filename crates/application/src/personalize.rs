//! What depends on who is looking: whether the viewer follows the people
//! shown. One query for any number of them, shared by every read that shows
//! authors (articles, comments, profiles).

use std::collections::HashSet;

use conduit_domain::UserId;

use crate::error::AppError;
use crate::ports::UnitOfWork;

/// Which of `people` `viewer` follows, in at most one query. Anonymous
/// viewers follow no one, and nobody follows themselves.
pub(crate) fn followed_authors(
    uow: &mut dyn UnitOfWork,
    viewer: Option<UserId>,
    people: impl IntoIterator<Item = UserId>,
) -> Result<HashSet<UserId>, AppError> {
    let Some(viewer) = viewer else {
        return Ok(HashSet::new());
    };
    let mut candidates: Vec<UserId> = people.into_iter().filter(|id| *id != viewer).collect();
    if candidates.is_empty() {
        return Ok(HashSet::new());
    }
    candidates.sort_unstable();
    candidates.dedup();
    Ok(uow.follows().following_among(viewer, &candidates)?)
}
