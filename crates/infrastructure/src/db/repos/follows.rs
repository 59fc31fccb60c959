use std::collections::HashSet;

use chrono::{DateTime, Utc};
use conduit_application::error::RepoError;
use conduit_application::ports::FollowRepository;
use conduit_domain::UserId;
use diesel::prelude::*;

use crate::db::errors::OrRepoError;
use crate::db::schema::follows;
use crate::db::{DieselUow, per_backend};

impl FollowRepository for DieselUow<'_> {
    fn follow(
        &mut self,
        follower: UserId,
        followee: UserId,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let row = (
            follows::follower_id.eq(follower.0),
            follows::followee_id.eq(followee.0),
            follows::created_at.eq(now.naive_utc()),
        );
        let inserted = per_backend!(self.conn, |conn| diesel::insert_into(follows::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(conn))
        .or_repo_error()?;
        Ok(inserted > 0)
    }

    fn unfollow(&mut self, follower: UserId, followee: UserId) -> Result<bool, RepoError> {
        let deleted = diesel::delete(follows::table.find((follower.0, followee.0)))
            .execute(self.conn)
            .or_repo_error()?;
        Ok(deleted > 0)
    }

    fn following_among(
        &mut self,
        follower: UserId,
        candidates: &[UserId],
    ) -> Result<HashSet<UserId>, RepoError> {
        if candidates.is_empty() {
            return Ok(HashSet::new());
        }
        follows::table
            .filter(follows::follower_id.eq(follower.0))
            .filter(follows::followee_id.eq_any(candidates.iter().map(|id| id.0)))
            .select(follows::followee_id)
            .load::<i64>(self.conn)
            .or_repo_error()
            .map(|ids| ids.into_iter().map(UserId).collect())
    }

    fn followers(
        &mut self,
        followee: UserId,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<UserId>, RepoError> {
        follows::table
            .filter(follows::followee_id.eq(followee.0))
            .filter(follows::follower_id.gt(after.map_or(0, |user| user.0)))
            .order(follows::follower_id.asc())
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .select(follows::follower_id)
            .load::<i64>(self.conn)
            .or_repo_error()
            .map(|ids| ids.into_iter().map(UserId).collect())
    }
}
