use conduit_application::error::{Cause, RepoError};
use conduit_application::ports::{NewUser, PasswordHash, UserChanges, UserRepository};
use conduit_application::views::Account;
use conduit_domain::{Email, UserId, Username};
use diesel::prelude::*;

use crate::db::errors::OrRepoError;
use crate::db::rows::{AccountRow, NewUserRow, UserChangesRow};
use crate::db::schema::users;
use crate::db::{DieselUow, MultiBackend};

impl DieselUow<'_> {
    /// Whether `query` matches a user other than `except` (the one being updated).
    fn any_other_user(
        &mut self,
        mut query: users::BoxedQuery<'_, MultiBackend>,
        except: Option<UserId>,
    ) -> Result<bool, RepoError> {
        if let Some(except) = except {
            query = query.filter(users::id.ne(except.0));
        }
        query
            .select(users::id)
            .first::<i64>(self.conn)
            .optional()
            .or_repo_error()
            .map(|found| found.is_some())
    }
}

impl UserRepository for DieselUow<'_> {
    fn insert(&mut self, user: &NewUser) -> Result<Account, RepoError> {
        let now = user.now.naive_utc();
        let id = diesel::insert_into(users::table)
            .values(NewUserRow {
                username: user.username.as_str(),
                username_key: user.username.canonical(),
                email: user.email.as_str(),
                email_key: user.email.canonical(),
                password_hash: user.password_hash.as_str(),
                created_at: now,
                updated_at: now,
            })
            .returning(users::id)
            .get_result::<i64>(self.conn)
            .or_repo_error()?;
        Ok(Account {
            id: UserId(id),
            username: user.username.as_str().to_owned(),
            email: user.email.as_str().to_owned(),
            bio: None,
            image: None,
            token_version: 0,
            email_verified: false,
            email_notifications: true,
        })
    }

    fn find_by_id(&mut self, id: UserId) -> Result<Option<Account>, RepoError> {
        users::table
            .find(id.0)
            .select(AccountRow::as_select())
            .first(self.conn)
            .optional()
            .or_repo_error()
            .map(|row| row.map(Account::from))
    }

    fn find_by_username(&mut self, username: &Username) -> Result<Option<Account>, RepoError> {
        users::table
            .filter(users::username_key.eq(username.canonical()))
            .select(AccountRow::as_select())
            .first(self.conn)
            .optional()
            .or_repo_error()
            .map(|row| row.map(Account::from))
    }

    fn find_credentials(
        &mut self,
        email: &Email,
    ) -> Result<Option<(Account, PasswordHash)>, RepoError> {
        users::table
            .filter(users::email_key.eq(email.canonical()))
            .select((AccountRow::as_select(), users::password_hash))
            .first::<(AccountRow, String)>(self.conn)
            .optional()
            .or_repo_error()
            .map(|row| row.map(|(row, hash)| (row.into(), PasswordHash::new(hash))))
    }

    fn email_taken(&mut self, email: &Email, except: Option<UserId>) -> Result<bool, RepoError> {
        let query = users::table
            .filter(users::email_key.eq(email.canonical()))
            .into_boxed();
        self.any_other_user(query, except)
    }

    fn username_taken(
        &mut self,
        username: &Username,
        except: Option<UserId>,
    ) -> Result<bool, RepoError> {
        let query = users::table
            .filter(users::username_key.eq(username.canonical()))
            .into_boxed();
        self.any_other_user(query, except)
    }

    fn update(&mut self, id: UserId, changes: &UserChanges) -> Result<Account, RepoError> {
        let UserChanges {
            username,
            email,
            password_hash,
            bio,
            image,
            email_verified,
            email_notifications,
            now,
        } = changes;
        // Diesel cannot build an UPDATE without a column to set ("There are
        // no changes to save"); with nothing to change there is nothing to do.
        if !changes.is_empty() {
            let row = UserChangesRow {
                username: username.as_ref().map(Username::as_str),
                username_key: username.as_ref().map(Username::canonical),
                email: email.as_ref().map(Email::as_str),
                email_key: email.as_ref().map(Email::canonical),
                password_hash: password_hash.as_ref().map(PasswordHash::as_str),
                bio: bio.as_ref().map(Option::as_deref),
                image: image.as_ref().map(Option::as_deref),
                email_verified: *email_verified,
                email_notifications: *email_notifications,
                updated_at: now.map(|now| now.naive_utc()),
            };
            diesel::update(users::table.find(id.0))
                .set(row)
                .execute(self.conn)
                .or_repo_error()?;
        }
        self.find_by_id(id)?.ok_or_else(|| {
            RepoError::Other(Cause::from(format!("user {} vanished during update", id.0)))
        })
    }

    fn token_version(&mut self, id: UserId) -> Result<Option<i64>, RepoError> {
        users::table
            .find(id.0)
            .select(users::token_version)
            .first(self.conn)
            .optional()
            .or_repo_error()
    }

    fn revoke_tokens(&mut self, id: UserId) -> Result<i64, RepoError> {
        diesel::update(users::table.find(id.0))
            .set(users::token_version.eq(users::token_version + 1))
            .returning(users::token_version)
            .get_result(self.conn)
            .or_repo_error()
    }
}
