//! The account lifecycle beyond sign-up: verifying the address, resetting a
//! forgotten password, and unsubscribing from notification emails, each
//! through a one-time token sent by email.
//!
//! The emails themselves are jobs that the events recorded here cause (see
//! `reactions`); nothing here talks to a mail server.

use std::sync::Arc;

use async_trait::async_trait;
use conduit_domain::{Email, Password, UserId};

use crate::error::{AppError, FieldErrors};
use crate::events::DomainEvent;
use crate::ports::{
    Database, OneTimeTokens, PasswordHasher, TokenPurpose, TokenService, UnitOfWork, UserChanges,
};
use crate::storage::Storage;
use crate::users::SignedIn;

/// The one answer to a wrong, used or expired token, whatever the reason.
fn invalid_token() -> AppError {
    AppError::Validation(FieldErrors::single("token", "is invalid or expired"))
}

/// The account lifecycle, as the HTTP layer sees it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AccountUseCases: Send + Sync {
    /// Marks the address the token was sent to as verified, and signs in.
    async fn verify_email(&self, token: String) -> Result<SignedIn, AppError>;
    /// Sends a new verification link to the user's address.
    async fn resend_verification(&self, user: UserId) -> Result<(), AppError>;
    /// Sends a reset link when an account has this address. Succeeds alike
    /// whether or not one does, so that nobody learns who has an account.
    async fn request_password_reset(&self, email: String) -> Result<(), AppError>;
    /// Sets a new password with a reset token: every earlier access token
    /// is revoked, and the answer carries a fresh one.
    async fn reset_password(&self, token: String, password: String) -> Result<SignedIn, AppError>;
    /// Turns notification emails off, without signing in.
    async fn unsubscribe(&self, token: String) -> Result<(), AppError>;
}

pub struct AccountService<D> {
    storage: Storage<D>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn TokenService>,
    one_time: Arc<dyn OneTimeTokens>,
}

impl<D: Database> AccountService<D> {
    pub fn new(
        storage: impl Into<Storage<D>>,
        hasher: Arc<dyn PasswordHasher>,
        tokens: Arc<dyn TokenService>,
        one_time: Arc<dyn OneTimeTokens>,
    ) -> Self {
        Self {
            storage: storage.into(),
            hasher,
            tokens,
            one_time,
        }
    }
}

/// Uses a token of `purpose`, answering its user, or the invalid-token error.
fn consume(
    uow: &mut dyn UnitOfWork,
    digest: &crate::ports::TokenDigest,
    purpose: TokenPurpose,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<UserId, AppError> {
    uow.account_tokens()
        .consume(digest, purpose, now)?
        .ok_or_else(invalid_token)
}

#[async_trait]
impl<D: Database> AccountUseCases for AccountService<D> {
    #[tracing::instrument(skip_all)]
    async fn verify_email(&self, token: String) -> Result<SignedIn, AppError> {
        let digest = self.one_time.digest(&token);
        let now = self.storage.now();
        let account = self
            .storage
            .write(move |uow| {
                let user = consume(uow, &digest, TokenPurpose::VerifyEmail, now)?;
                uow.account_tokens()
                    .revoke(user, TokenPurpose::VerifyEmail, now)?;
                let changes = UserChanges {
                    email_verified: Some(true),
                    now: Some(now),
                    ..UserChanges::default()
                };
                let account = uow.users().update(user, &changes)?;
                uow.record(DomainEvent::EmailVerified { user });
                Ok(account)
            })
            .await?;
        tracing::info!(user_id = account.id.0, "email verified");
        let token = self.tokens.issue(account.id, account.token_version)?;
        Ok(SignedIn { account, token })
    }

    #[tracing::instrument(skip_all, fields(user_id = user.0))]
    async fn resend_verification(&self, user: UserId) -> Result<(), AppError> {
        self.storage
            .write(move |uow| {
                let account = uow
                    .users()
                    .find_by_id(user)?
                    .ok_or(AppError::NotFound("user"))?;
                if account.email_verified {
                    return Err(AppError::Validation(FieldErrors::single(
                        "email",
                        "is already verified",
                    )));
                }
                uow.record(DomainEvent::VerificationRequested { user });
                Ok(())
            })
            .await
    }

    #[tracing::instrument(skip_all)]
    async fn request_password_reset(&self, email: String) -> Result<(), AppError> {
        let email = Email::parse(email).map_err(|error| AppError::validation("email", error))?;
        let requested = self
            .storage
            .write(move |uow| {
                let Some((account, _)) = uow.users().find_credentials(&email)? else {
                    return Ok(None);
                };
                uow.record(DomainEvent::PasswordResetRequested { user: account.id });
                Ok(Some(account.id))
            })
            .await?;
        if let Some(user) = requested {
            tracing::info!(user_id = user.0, "password reset requested");
        }
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn reset_password(&self, token: String, password: String) -> Result<SignedIn, AppError> {
        let password =
            Password::parse(password).map_err(|error| AppError::validation("password", error))?;
        let digest = self.one_time.digest(&token);
        let now = self.storage.now();
        // Look before hashing: an invalid token costs no hash. The token is
        // used in the write below, which a concurrent use cannot both win.
        let known = self
            .storage
            .db
            .read({
                let digest = digest.clone();
                move |uow| {
                    Ok(uow
                        .account_tokens()
                        .is_usable(&digest, TokenPurpose::ResetPassword, now)?)
                }
            })
            .await?;
        if !known {
            return Err(invalid_token());
        }
        let password_hash = self.hasher.hash(password).await?;
        let account = self
            .storage
            .write(move |uow| {
                let user = consume(uow, &digest, TokenPurpose::ResetPassword, now)?;
                uow.account_tokens()
                    .revoke(user, TokenPurpose::ResetPassword, now)?;
                // The link reached the address: it is the user's.
                let changes = UserChanges {
                    password_hash: Some(password_hash.clone()),
                    email_verified: Some(true),
                    now: Some(now),
                    ..UserChanges::default()
                };
                let mut account = uow.users().update(user, &changes)?;
                account.token_version = uow.users().revoke_tokens(user)?;
                uow.record(DomainEvent::UserUpdated {
                    user,
                    profile: false,
                    email: false,
                    password: true,
                });
                Ok(account)
            })
            .await?;
        tracing::info!(user_id = account.id.0, "password reset");
        let token = self.tokens.issue(account.id, account.token_version)?;
        Ok(SignedIn { account, token })
    }

    #[tracing::instrument(skip_all)]
    async fn unsubscribe(&self, token: String) -> Result<(), AppError> {
        let digest = self.one_time.digest(&token);
        let now = self.storage.now();
        let user = self
            .storage
            .write(move |uow| {
                let user = consume(uow, &digest, TokenPurpose::Unsubscribe, now)?;
                let changes = UserChanges {
                    email_notifications: Some(false),
                    now: Some(now),
                    ..UserChanges::default()
                };
                uow.users().update(user, &changes)?;
                uow.record(DomainEvent::UserUpdated {
                    user,
                    profile: false,
                    email: false,
                    password: false,
                });
                Ok(user)
            })
            .await?;
        tracing::info!(user_id = user.0, "unsubscribed from notification emails");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use mockall::predicate::eq;

    use super::*;
    use crate::ports::{
        MockOneTimeTokens, MockPasswordHasher, MockTokenService, PasswordHash, TokenDigest,
    };
    use crate::testing::{FakeDb, account};

    const JAKE: UserId = UserId(7);

    fn one_time() -> MockOneTimeTokens {
        let mut tokens = MockOneTimeTokens::new();
        tokens
            .expect_digest()
            .returning(|secret| TokenDigest(format!("digest-of-{secret}")));
        tokens
    }

    fn access_tokens() -> MockTokenService {
        let mut tokens = MockTokenService::new();
        tokens
            .expect_issue()
            .returning(|user, version| Ok(format!("token-for-{}-v{version}", user.0)));
        tokens
    }

    fn service(db: FakeDb, hasher: MockPasswordHasher) -> (AccountService<FakeDb>, Arc<FakeDb>) {
        let db = Arc::new(db);
        let service = AccountService::new(
            Arc::clone(&db),
            Arc::new(hasher),
            Arc::new(access_tokens()),
            Arc::new(one_time()),
        );
        (service, db)
    }

    fn digest(secret: &str) -> TokenDigest {
        TokenDigest(format!("digest-of-{secret}"))
    }

    #[tokio::test]
    async fn a_valid_verification_token_verifies_the_address_and_signs_in() {
        let db = FakeDb::new().writing(|repos| {
            repos
                .account_tokens
                .expect_consume()
                .withf(|found, purpose, _| {
                    *found == digest("good") && *purpose == TokenPurpose::VerifyEmail
                })
                .times(1)
                .returning(|_, _, _| Ok(Some(JAKE)));
            repos
                .account_tokens
                .expect_revoke()
                .withf(|user, purpose, _| *user == JAKE && *purpose == TokenPurpose::VerifyEmail)
                .times(1)
                .returning(|_, _, _| Ok(1));
            repos
                .users
                .expect_update()
                .withf(|user, changes| {
                    *user == JAKE
                        && changes.email_verified == Some(true)
                        && changes.email.is_none()
                        && changes.password_hash.is_none()
                })
                .times(1)
                .returning(|_, _| {
                    let mut jake = account(7, "jake");
                    jake.email_verified = true;
                    Ok(jake)
                });
        });
        let (service, db) = service(db, MockPasswordHasher::new());
        let signed_in = service
            .verify_email("good".to_owned())
            .await
            .expect("verified");
        assert!(signed_in.account.email_verified);
        assert_eq!(signed_in.token, "token-for-7-v0");
        assert_eq!(db.events(), [DomainEvent::EmailVerified { user: JAKE }]);
    }

    #[tokio::test]
    async fn a_wrong_used_or_expired_token_is_one_422_and_changes_nothing() {
        let db = FakeDb::new().writing(|repos| {
            repos
                .account_tokens
                .expect_consume()
                .returning(|_, _, _| Ok(None));
            repos.users.expect_update().never();
        });
        let (service, db) = service(db, MockPasswordHasher::new());
        for outcome in [
            service.verify_email("bad".to_owned()).await.map(|_| ()),
            service.unsubscribe("bad".to_owned()).await,
        ] {
            match outcome {
                Err(AppError::Validation(errors)) => assert_eq!(
                    errors,
                    FieldErrors::single("token", "is invalid or expired")
                ),
                other => panic!("expected a 422, got {other:?}"),
            }
        }
        assert!(db.events().is_empty());
    }

    #[tokio::test]
    async fn a_reset_request_for_an_unknown_address_succeeds_and_sends_nothing() {
        let db = FakeDb::new().writing(|repos| {
            repos
                .users
                .expect_find_credentials()
                .times(1)
                .returning(|_| Ok(None));
        });
        let (service, db) = service(db, MockPasswordHasher::new());
        service
            .request_password_reset("nobody@example.com".to_owned())
            .await
            .expect("the same answer as for a known address");
        assert!(db.events().is_empty());
    }

    #[tokio::test]
    async fn a_reset_request_for_a_known_address_records_it() {
        let db = FakeDb::new().writing(|repos| {
            repos
                .users
                .expect_find_credentials()
                .withf(|email| email.as_str() == "jake@example.com")
                .returning(|_| {
                    Ok(Some((
                        account(7, "jake"),
                        PasswordHash::new("hash".to_owned()),
                    )))
                });
        });
        let (service, db) = service(db, MockPasswordHasher::new());
        service
            .request_password_reset("jake@example.com".to_owned())
            .await
            .expect("requested");
        assert_eq!(
            db.events(),
            [DomainEvent::PasswordResetRequested { user: JAKE }]
        );
    }

    #[tokio::test]
    async fn a_reset_sets_the_password_revokes_access_tokens_and_signs_in_afresh() {
        let db = FakeDb::new()
            .reading(|repos| {
                repos
                    .account_tokens
                    .expect_is_usable()
                    .returning(|_, _, _| Ok(true));
            })
            .writing(|repos| {
                repos
                    .account_tokens
                    .expect_consume()
                    .withf(|found, purpose, _| {
                        *found == digest("reset") && *purpose == TokenPurpose::ResetPassword
                    })
                    .returning(|_, _, _| Ok(Some(JAKE)));
                repos
                    .account_tokens
                    .expect_revoke()
                    .withf(|_, purpose, _| *purpose == TokenPurpose::ResetPassword)
                    .returning(|_, _, _| Ok(0));
                repos
                    .users
                    .expect_update()
                    .withf(|_, changes| {
                        changes
                            .password_hash
                            .as_ref()
                            .is_some_and(|hash| hash.as_str() == "hash-of-a new password")
                    })
                    .returning(|_, _| Ok(account(7, "jake")));
                repos
                    .users
                    .expect_revoke_tokens()
                    .with(eq(JAKE))
                    .times(1)
                    .returning(|_| Ok(3));
            });
        let mut hasher = MockPasswordHasher::new();
        hasher
            .expect_hash()
            .times(1)
            .returning(|password| Ok(PasswordHash::new(format!("hash-of-{}", password.expose()))));
        let (service, db) = service(db, hasher);
        let signed_in = service
            .reset_password("reset".to_owned(), "a new password".to_owned())
            .await
            .expect("reset");
        assert_eq!(signed_in.token, "token-for-7-v3");
        assert_eq!(
            db.events(),
            [DomainEvent::UserUpdated {
                user: JAKE,
                profile: false,
                email: false,
                password: true
            }]
        );
    }

    #[tokio::test]
    async fn a_reset_with_an_unknown_token_costs_no_hash() {
        let db = FakeDb::new().reading(|repos| {
            repos
                .account_tokens
                .expect_is_usable()
                .returning(|_, _, _| Ok(false));
        });
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_hash().never();
        let (service, db) = service(db, hasher);
        let refused = service
            .reset_password("bad".to_owned(), "a new password".to_owned())
            .await;
        assert!(
            matches!(refused, Err(AppError::Validation(_))),
            "{refused:?}"
        );
        assert_eq!(db.writes(), 0);
    }

    #[tokio::test]
    async fn resending_to_a_verified_address_is_refused() {
        let db = FakeDb::new().writing(|repos| {
            repos.users.expect_find_by_id().returning(|_| {
                let mut jake = account(7, "jake");
                jake.email_verified = true;
                Ok(Some(jake))
            });
        });
        let (service, db) = service(db, MockPasswordHasher::new());
        let refused = service.resend_verification(JAKE).await;
        match refused {
            Err(AppError::Validation(errors)) => {
                assert_eq!(errors, FieldErrors::single("email", "is already verified"));
            }
            other => panic!("expected a 422, got {other:?}"),
        }
        assert!(db.events().is_empty());
    }

    #[tokio::test]
    async fn unsubscribing_turns_notifications_off() {
        let db = FakeDb::new().writing(|repos| {
            repos
                .account_tokens
                .expect_consume()
                .withf(|_, purpose, _| *purpose == TokenPurpose::Unsubscribe)
                .returning(|_, _, _| Ok(Some(JAKE)));
            repos
                .users
                .expect_update()
                .withf(|_, changes| changes.email_notifications == Some(false))
                .times(1)
                .returning(|_, _| Ok(account(7, "jake")));
        });
        let (service, _db) = service(db, MockPasswordHasher::new());
        service
            .unsubscribe("off".to_owned())
            .await
            .expect("unsubscribed");
    }
}
