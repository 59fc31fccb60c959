use chrono::{DateTime, Utc};
use conduit_application::error::RepoError;
use conduit_application::ports::{
    AccountTokenRepository, NewAccountToken, TokenDigest, TokenPurpose,
};
use conduit_domain::UserId;
use diesel::prelude::*;

use crate::db::DieselUow;
use crate::db::errors::OrRepoError;
use crate::db::schema::account_tokens;

impl AccountTokenRepository for DieselUow<'_> {
    fn insert(&mut self, token: &NewAccountToken) -> Result<(), RepoError> {
        diesel::insert_into(account_tokens::table)
            .values((
                account_tokens::user_id.eq(token.user.0),
                account_tokens::purpose.eq(token.purpose.as_str()),
                account_tokens::digest.eq(&token.digest.0),
                account_tokens::created_at.eq(token.now.naive_utc()),
                account_tokens::expires_at.eq(token.expires_at.naive_utc()),
            ))
            .execute(self.conn)
            .or_repo_error()?;
        Ok(())
    }

    fn consume(
        &mut self,
        digest: &TokenDigest,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<Option<UserId>, RepoError> {
        // One conditional UPDATE: of two concurrent uses, only one finds
        // the token unused.
        let now = now.naive_utc();
        diesel::update(
            account_tokens::table
                .filter(account_tokens::digest.eq(&digest.0))
                .filter(account_tokens::purpose.eq(purpose.as_str()))
                .filter(account_tokens::used_at.is_null())
                .filter(account_tokens::expires_at.gt(now)),
        )
        .set(account_tokens::used_at.eq(now))
        .returning(account_tokens::user_id)
        .get_result::<i64>(self.conn)
        .optional()
        .or_repo_error()
        .map(|user| user.map(UserId))
    }

    fn is_usable(
        &mut self,
        digest: &TokenDigest,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        account_tokens::table
            .filter(account_tokens::digest.eq(&digest.0))
            .filter(account_tokens::purpose.eq(purpose.as_str()))
            .filter(account_tokens::used_at.is_null())
            .filter(account_tokens::expires_at.gt(now.naive_utc()))
            .select(account_tokens::id)
            .first::<i64>(self.conn)
            .optional()
            .or_repo_error()
            .map(|found| found.is_some())
    }

    fn revoke(
        &mut self,
        user: UserId,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<u64, RepoError> {
        diesel::update(
            account_tokens::table
                .filter(account_tokens::user_id.eq(user.0))
                .filter(account_tokens::purpose.eq(purpose.as_str()))
                .filter(account_tokens::used_at.is_null()),
        )
        .set(account_tokens::used_at.eq(now.naive_utc()))
        .execute(self.conn)
        .or_repo_error()
        .map(|count| count as u64)
    }

    fn prune(&mut self, before: DateTime<Utc>) -> Result<u64, RepoError> {
        diesel::delete(
            account_tokens::table.filter(account_tokens::expires_at.lt(before.naive_utc())),
        )
        .execute(self.conn)
        .or_repo_error()
        .map(|count| count as u64)
    }
}
