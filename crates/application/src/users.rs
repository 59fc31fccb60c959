//! Accounts: registration, log-in, authentication, the current user.

use std::sync::Arc;

use async_trait::async_trait;
use conduit_domain::{Bio, Email, ImageUrl, Password, UserId, Username};

use crate::cache::{CacheKey, CacheScope, CachedValue};
use crate::error::{AppError, AuthFailure, FieldErrors};
use crate::events::DomainEvent;
use crate::ports::{Database, NewUser, PasswordHasher, TokenPurpose, TokenService, UserChanges};
use crate::storage::Storage;
use crate::views::Account;

/// Registration as submitted.
#[derive(Clone, Default)]
pub struct Registration {
    pub username: String,
    pub email: String,
    pub password: String,
}

/// Log-in as submitted.
#[derive(Clone, Default)]
pub struct Login {
    pub email: String,
    pub password: String,
}

/// Changes to the current user as submitted; `None` leaves a field unchanged,
/// and for `bio` and `image`, `Some(None)` clears it.
#[derive(Clone, Default)]
pub struct AccountUpdate {
    pub username: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    pub bio: Option<Option<String>>,
    pub image: Option<Option<String>>,
    /// Whether to receive notification emails.
    pub email_notifications: Option<bool>,
}

// The plaintext password never reaches a log line.
impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password", &"***")
            .finish()
    }
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("email", &self.email)
            .field("password", &"***")
            .finish()
    }
}

impl std::fmt::Debug for AccountUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountUpdate")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("bio", &self.bio)
            .field("image", &self.image)
            .field("email_notifications", &self.email_notifications)
            .finish()
    }
}

impl AccountUpdate {
    pub fn is_empty(&self) -> bool {
        self.username.is_none()
            && self.email.is_none()
            && self.password.is_none()
            && self.bio.is_none()
            && self.image.is_none()
            && self.email_notifications.is_none()
    }
}

/// An account with a fresh access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    pub account: Account,
    pub token: String,
}

/// An account after an update. A new password revokes every token issued
/// until then, the caller's too, so the caller gets a fresh one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountUpdated {
    pub account: Account,
    /// Set when the update revoked the user's tokens.
    pub new_token: Option<String>,
}

/// The account use cases, as the HTTP layer sees them.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UserUseCases: Send + Sync {
    /// Creates an account. Email and username must be unused, ignoring case.
    async fn register(&self, registration: Registration) -> Result<SignedIn, AppError>;
    /// Checks credentials; an unknown email and a wrong password fail alike.
    async fn login(&self, login: Login) -> Result<SignedIn, AppError>;
    /// Resolves an access token to the user it was issued to. A token
    /// issued before the user's last password change or log-out is
    /// refused; the check reads the user's token version from the cache,
    /// so it costs no database round trip once warm.
    async fn authenticate(&self, token: &str) -> Result<UserId, AppError>;
    async fn current(&self, user: UserId) -> Result<Account, AppError>;
    /// Changes the account; a new password revokes every earlier token.
    async fn update(&self, user: UserId, update: AccountUpdate)
    -> Result<AccountUpdated, AppError>;
    /// Revokes every token of the user issued until now.
    async fn logout(&self, user: UserId) -> Result<(), AppError>;
}

pub struct UserService<D> {
    storage: Storage<D>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn TokenService>,
}

impl<D: Database> UserService<D> {
    pub fn new(
        storage: impl Into<Storage<D>>,
        hasher: Arc<dyn PasswordHasher>,
        tokens: Arc<dyn TokenService>,
    ) -> Self {
        Self {
            storage: storage.into(),
            hasher,
            tokens,
        }
    }

    fn sign_in(&self, account: Account) -> Result<SignedIn, AppError> {
        let token = self.tokens.issue(account.id, account.token_version)?;
        Ok(SignedIn { account, token })
    }
}

#[async_trait]
impl<D: Database> UserUseCases for UserService<D> {
    #[tracing::instrument(skip_all)]
    async fn register(&self, registration: Registration) -> Result<SignedIn, AppError> {
        let mut errors = FieldErrors::new();
        let username = errors.check("username", Username::parse(registration.username));
        let email = errors.check("email", Email::parse(registration.email));
        let password = errors.check("password", Password::parse(registration.password));
        let (Some(username), Some(email), Some(password)) = (username, email, password) else {
            return Err(AppError::Validation(errors));
        };

        let password_hash = self.hasher.hash(password).await?;
        let user = NewUser {
            username,
            email,
            password_hash,
            now: self.storage.now(),
        };
        let account = self
            .storage
            .write(move |uow| {
                // Checked first so that both fields can be reported at once;
                // the unique constraints still decide when two requests race.
                let mut taken = FieldErrors::new();
                if uow.users().email_taken(&user.email, None)? {
                    taken.add("email", "has already been taken");
                }
                if uow.users().username_taken(&user.username, None)? {
                    taken.add("username", "has already been taken");
                }
                taken.into_result()?;
                let account = uow.users().insert(&user)?;
                uow.record(DomainEvent::UserRegistered { user: account.id });
                Ok(account)
            })
            .await?;
        tracing::info!(user_id = account.id.0, "account registered");
        self.sign_in(account)
    }

    #[tracing::instrument(skip_all)]
    async fn login(&self, login: Login) -> Result<SignedIn, AppError> {
        let mut errors = FieldErrors::new();
        let email = errors.check("email", Email::parse(login.email));
        let password = errors.check("password", Password::for_login(login.password));
        let (Some(email), Some(password)) = (email, password) else {
            return Err(AppError::Validation(errors));
        };

        let found = self
            .storage
            .db
            .read(move |uow| Ok(uow.users().find_credentials(&email)?))
            .await?;
        let (account, hash) = match found {
            Some((account, hash)) => (Some(account), Some(hash)),
            None => (None, None),
        };
        let verified = self.hasher.verify(password, hash).await?;
        match account {
            Some(account) if verified => self.sign_in(account),
            _ => Err(AppError::InvalidCredentials),
        }
    }

    async fn authenticate(&self, token: &str) -> Result<UserId, AppError> {
        let claims = self.tokens.verify(token).map_err(AppError::Unauthorized)?;
        let user = claims.user;
        let current = match self.storage.cache.get(&CacheKey::TokenVersion(user)) {
            Some(CachedValue::TokenVersion(version)) => Some(version),
            _ => {
                // Only existing users are cached, never absence, so a new
                // user is never refused.
                let generation = self.storage.cache.generation(CacheScope::Users);
                let found = self
                    .storage
                    .db
                    .read(move |uow| Ok(uow.users().token_version(user)?))
                    .await?;
                if let Some(version) = found {
                    self.storage.cache.put(
                        CacheKey::TokenVersion(user),
                        generation,
                        CachedValue::TokenVersion(version),
                    );
                }
                found
            }
        };
        match current {
            Some(version) if version == claims.version => Ok(user),
            Some(_) => Err(AppError::Unauthorized(AuthFailure::RevokedToken)),
            None => Err(AppError::Unauthorized(AuthFailure::UnknownUser)),
        }
    }

    async fn current(&self, user: UserId) -> Result<Account, AppError> {
        self.storage
            .db
            .read(move |uow| {
                uow.users()
                    .find_by_id(user)?
                    .ok_or(AppError::NotFound("user"))
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(user_id = user.0))]
    async fn update(
        &self,
        user: UserId,
        update: AccountUpdate,
    ) -> Result<AccountUpdated, AppError> {
        if update.is_empty() {
            return Err(AppError::Validation(FieldErrors::single(
                "user",
                "must contain at least one field to change",
            )));
        }
        let mut errors = FieldErrors::new();
        let username = update
            .username
            .and_then(|value| errors.check("username", Username::parse(value)));
        let email = update
            .email
            .and_then(|value| errors.check("email", Email::parse(value)));
        let password = update
            .password
            .and_then(|value| errors.check("password", Password::parse(value)));
        let bio = update.bio.map(|value| {
            errors
                .check("bio", Bio::parse_optional(value.unwrap_or_default()))
                .flatten()
                .map(Bio::into_inner)
        });
        let image = update.image.map(|value| {
            errors
                .check("image", ImageUrl::parse_optional(value.unwrap_or_default()))
                .flatten()
                .map(ImageUrl::into_inner)
        });
        errors.into_result()?;

        let password_hash = match password {
            Some(password) => Some(self.hasher.hash(password).await?),
            None => None,
        };
        let now = self.storage.now();
        let changes = UserChanges {
            // A new address is unverified until its own link is followed.
            email_verified: email.as_ref().map(|_| false),
            username,
            email,
            password_hash,
            bio,
            image,
            email_notifications: update.email_notifications,
            now: Some(now),
        };
        let profile =
            changes.username.is_some() || changes.bio.is_some() || changes.image.is_some();
        let revokes = changes.password_hash.is_some();
        let account =
            self.storage
                .write(move |uow| {
                    let mut taken = FieldErrors::new();
                    if let Some(email) = &changes.email
                        && uow.users().email_taken(email, Some(user))?
                    {
                        taken.add("email", "has already been taken");
                    }
                    if let Some(username) = &changes.username
                        && uow.users().username_taken(username, Some(user))?
                    {
                        taken.add("username", "has already been taken");
                    }
                    taken.into_result()?;
                    // The same address again (in any case) is no new address: it
                    // stays verified and gets no email.
                    let mut changes = changes.clone();
                    let new_address = match &changes.email {
                        Some(email) => uow.users().find_by_id(user)?.is_none_or(|current| {
                            current.email.to_lowercase() != email.canonical()
                        }),
                        None => false,
                    };
                    if !new_address {
                        changes.email_verified = None;
                    }
                    let mut account = uow.users().update(user, &changes)?;
                    if new_address {
                        // Links sent to the old address must not verify the new one.
                        uow.account_tokens()
                            .revoke(user, TokenPurpose::VerifyEmail, now)?;
                    }
                    if changes.password_hash.is_some() {
                        account.token_version = uow.users().revoke_tokens(user)?;
                    }
                    uow.record(DomainEvent::UserUpdated {
                        user,
                        profile,
                        email: new_address,
                        password: changes.password_hash.is_some(),
                    });
                    Ok(account)
                })
                .await?;
        let new_token = if revokes {
            Some(self.tokens.issue(account.id, account.token_version)?)
        } else {
            None
        };
        Ok(AccountUpdated { account, new_token })
    }

    #[tracing::instrument(skip_all, fields(user_id = user.0))]
    async fn logout(&self, user: UserId) -> Result<(), AppError> {
        self.storage
            .write(move |uow| {
                uow.users().revoke_tokens(user)?;
                uow.record(DomainEvent::TokensRevoked { user });
                Ok(())
            })
            .await?;
        tracing::info!("tokens revoked");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockPasswordHasher, MockTokenService, PasswordHash, TokenClaims};
    use crate::testing::{FakeDb, account};
    use mockall::predicate::eq;

    fn hasher() -> MockPasswordHasher {
        let mut hasher = MockPasswordHasher::new();
        hasher
            .expect_hash()
            .returning(|_| Ok(PasswordHash::new("$argon2id$fake".to_owned())));
        hasher
    }

    fn tokens() -> MockTokenService {
        let mut tokens = MockTokenService::new();
        tokens
            .expect_issue()
            .returning(|id, version| Ok(format!("token-for-{}-v{version}", id.0)));
        tokens
    }

    fn claims(user: i64, version: i64) -> TokenClaims {
        TokenClaims {
            user: UserId(user),
            version,
        }
    }

    /// A token service whose every token says `claims`.
    fn verifying(claims: TokenClaims) -> MockTokenService {
        let mut tokens = MockTokenService::new();
        tokens.expect_verify().returning(move |_| Ok(claims));
        tokens
    }

    /// A database where user 9's tokens are at `version`.
    fn token_version_of_9(version: Option<i64>) -> FakeDb {
        FakeDb::new().reading(move |repos| {
            repos
                .users
                .expect_token_version()
                .with(eq(UserId(9)))
                .times(1)
                .returning(move |_| Ok(version));
        })
    }

    fn service(
        db: impl Into<Arc<FakeDb>>,
        hasher: MockPasswordHasher,
        tokens: MockTokenService,
    ) -> UserService<FakeDb> {
        UserService::new(db.into(), Arc::new(hasher), Arc::new(tokens))
    }

    fn registration() -> Registration {
        Registration {
            username: "jake".to_owned(),
            email: "jake@jake.jake".to_owned(),
            password: "jakejake".to_owned(),
        }
    }

    #[tokio::test]
    async fn register_stores_the_hash_and_returns_a_token() {
        let db = FakeDb::new().writing(|repos| {
            repos.users.expect_email_taken().returning(|_, _| Ok(false));
            repos
                .users
                .expect_username_taken()
                .returning(|_, _| Ok(false));
            repos
                .users
                .expect_insert()
                .withf(|user| {
                    user.username.as_str() == "jake"
                        && user.email.as_str() == "jake@jake.jake"
                        && user.password_hash.as_str() == "$argon2id$fake"
                })
                .times(1)
                .returning(|_| Ok(account(7, "jake")));
        });
        let db = Arc::new(db);
        let signed_in = service(Arc::clone(&db), hasher(), tokens())
            .register(registration())
            .await
            .unwrap();
        assert_eq!(signed_in.token, "token-for-7-v0");
        assert_eq!(signed_in.account.username, "jake");
        assert_eq!(
            db.events(),
            [DomainEvent::UserRegistered { user: UserId(7) }]
        );
    }

    #[tokio::test]
    async fn register_with_a_taken_email_and_username_reports_both() {
        let db = FakeDb::new().writing(|repos| {
            repos.users.expect_email_taken().returning(|_, _| Ok(true));
            repos
                .users
                .expect_username_taken()
                .returning(|_, _| Ok(true));
            repos.users.expect_insert().never();
        });
        let error = service(db, hasher(), tokens())
            .register(registration())
            .await
            .unwrap_err();
        let AppError::Validation(errors) = error else {
            panic!("expected a validation error, got {error:?}");
        };
        let fields: Vec<_> = errors.iter().map(|(field, _)| field.as_str()).collect();
        assert_eq!(fields, ["email", "username"]);
    }

    #[tokio::test]
    async fn register_reports_a_constraint_conflict_from_a_race() {
        let db = FakeDb::new().writing(|repos| {
            repos.users.expect_email_taken().returning(|_, _| Ok(false));
            repos
                .users
                .expect_username_taken()
                .returning(|_, _| Ok(false));
            repos
                .users
                .expect_insert()
                .returning(|_| Err(crate::error::RepoError::Conflict { field: "email" }));
        });
        let error = service(db, hasher(), tokens())
            .register(registration())
            .await
            .unwrap_err();
        assert!(matches!(error, AppError::Conflict("email")), "{error:?}");
    }

    #[tokio::test]
    async fn register_reports_every_invalid_field_without_hashing() {
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_hash().never();
        let db = FakeDb::default();
        let error = service(db, hasher, tokens())
            .register(Registration {
                username: "a b".to_owned(),
                email: "not-an-email".to_owned(),
                password: "short".to_owned(),
            })
            .await
            .unwrap_err();
        let AppError::Validation(errors) = error else {
            panic!("expected a validation error");
        };
        assert_eq!(errors.iter().count(), 3);
    }

    #[tokio::test]
    async fn login_with_a_wrong_password_is_invalid_credentials() {
        let db = FakeDb::new().reading(|repos| {
            repos.users.expect_find_credentials().returning(|_| {
                Ok(Some((
                    account(1, "jake"),
                    PasswordHash::new("stored".to_owned()),
                )))
            });
        });
        let mut hasher = MockPasswordHasher::new();
        hasher
            .expect_verify()
            .withf(|_, hash| hash.as_ref().is_some_and(|h| h.as_str() == "stored"))
            .returning(|_, _| Ok(false));
        let error = service(db, hasher, tokens())
            .login(Login {
                email: "jake@jake.jake".to_owned(),
                password: "wrong password".to_owned(),
            })
            .await
            .unwrap_err();
        assert!(matches!(error, AppError::InvalidCredentials));
    }

    #[tokio::test]
    async fn login_with_an_unknown_email_still_verifies_and_fails_alike() {
        let db = FakeDb::new().reading(|repos| {
            repos
                .users
                .expect_find_credentials()
                .returning(|_| Ok(None));
        });
        let mut hasher = MockPasswordHasher::new();
        hasher
            .expect_verify()
            .withf(|_, hash| hash.is_none())
            .times(1)
            .returning(|_, _| Ok(false));
        let error = service(db, hasher, tokens())
            .login(Login {
                email: "nobody@example.com".to_owned(),
                password: "whatever".to_owned(),
            })
            .await
            .unwrap_err();
        assert!(matches!(error, AppError::InvalidCredentials));
    }

    #[tokio::test]
    async fn login_with_the_right_password_returns_a_token() {
        let db = FakeDb::new().reading(|repos| {
            repos.users.expect_find_credentials().returning(|_| {
                Ok(Some((
                    account(3, "jake"),
                    PasswordHash::new("stored".to_owned()),
                )))
            });
        });
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_verify().returning(|_, _| Ok(true));
        let signed_in = service(db, hasher, tokens())
            .login(Login {
                email: "JAKE@jake.jake".to_owned(),
                password: "jakejake".to_owned(),
            })
            .await
            .unwrap();
        assert_eq!(signed_in.token, "token-for-3-v0");
    }

    #[tokio::test]
    async fn authenticate_rejects_a_token_of_a_deleted_user() {
        let error = service(token_version_of_9(None), hasher(), verifying(claims(9, 0)))
            .authenticate("valid-but-orphaned")
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            AppError::Unauthorized(AuthFailure::UnknownUser)
        ));
    }

    #[tokio::test]
    async fn authenticate_accepts_a_token_of_the_users_current_version() {
        let user = service(
            token_version_of_9(Some(2)),
            hasher(),
            verifying(claims(9, 2)),
        )
        .authenticate("current")
        .await
        .unwrap();
        assert_eq!(user, UserId(9));
    }

    #[tokio::test]
    async fn authenticate_refuses_a_token_issued_before_a_revocation() {
        let error = service(
            token_version_of_9(Some(3)),
            hasher(),
            verifying(claims(9, 2)),
        )
        .authenticate("revoked")
        .await
        .unwrap_err();
        assert!(matches!(
            error,
            AppError::Unauthorized(AuthFailure::RevokedToken)
        ));
    }

    #[tokio::test]
    async fn logout_revokes_the_users_tokens_and_records_it() {
        let db = Arc::new(FakeDb::new().writing(|repos| {
            repos
                .users
                .expect_revoke_tokens()
                .with(eq(UserId(9)))
                .times(1)
                .returning(|_| Ok(1));
        }));
        service(Arc::clone(&db), hasher(), tokens())
            .logout(UserId(9))
            .await
            .unwrap();
        assert_eq!(
            db.events(),
            [DomainEvent::TokensRevoked { user: UserId(9) }]
        );
    }

    #[tokio::test]
    async fn an_update_without_a_new_password_keeps_the_tokens() {
        let db = FakeDb::new().writing(|repos| {
            repos
                .users
                .expect_update()
                .times(1)
                .returning(|_, _| Ok(account(1, "jake")));
            repos.users.expect_revoke_tokens().never();
        });
        let updated = service(db, hasher(), tokens())
            .update(
                UserId(1),
                AccountUpdate {
                    bio: Some(Some("hello".to_owned())),
                    ..AccountUpdate::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(updated.new_token, None);
    }

    #[tokio::test]
    async fn authenticate_passes_on_token_failures() {
        let mut tokens = MockTokenService::new();
        tokens
            .expect_verify()
            .returning(|_| Err(AuthFailure::ExpiredToken));
        let error = service(FakeDb::default(), hasher(), tokens)
            .authenticate("expired")
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            AppError::Unauthorized(AuthFailure::ExpiredToken)
        ));
    }

    #[tokio::test]
    async fn update_hashes_a_new_password_and_clears_blank_fields() {
        let db = FakeDb::new().writing(|repos| {
            repos
                .users
                .expect_update()
                .withf(|id, changes| {
                    *id == UserId(1)
                        && changes
                            .password_hash
                            .as_ref()
                            .is_some_and(|h| h.as_str() == "$argon2id$fake")
                        && changes.bio == Some(None)
                        && changes.image == Some(None)
                        && changes.email.is_none()
                })
                .times(1)
                .returning(|_, _| Ok(account(1, "jake")));
            repos
                .users
                .expect_revoke_tokens()
                .with(eq(UserId(1)))
                .times(1)
                .returning(|_| Ok(1));
        });
        let db = Arc::new(db);
        let updated = service(Arc::clone(&db), hasher(), tokens())
            .update(
                UserId(1),
                AccountUpdate {
                    password: Some("new password".to_owned()),
                    bio: Some(Some("  ".to_owned())),
                    image: Some(None),
                    ..AccountUpdate::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(updated.account.username, "jake");
        assert_eq!(updated.account.token_version, 1);
        assert_eq!(
            updated.new_token.as_deref(),
            Some("token-for-1-v1"),
            "a fresh token of the new version"
        );
        assert_eq!(
            db.events(),
            [DomainEvent::UserUpdated {
                user: UserId(1),
                profile: true,
                email: false,
                password: true,
            }]
        );
    }

    #[test]
    fn submitted_passwords_are_never_printed() {
        let printed = format!(
            "{:?} {:?} {:?}",
            registration(),
            Login {
                email: "jake@jake.jake".to_owned(),
                password: "hunter2-secret".to_owned(),
            },
            AccountUpdate {
                password: Some("another-secret".to_owned()),
                ..AccountUpdate::default()
            }
        );
        assert!(!printed.contains("jakejake"), "{printed}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!printed.contains("another-secret"), "{printed}");
        assert!(printed.contains("jake@jake.jake"), "{printed}");
    }

    async fn change_email(current: &'static str, new: &'static str) -> (FakeDb, AccountUpdated) {
        let db = FakeDb::new().writing(move |repos| {
            repos.users.expect_email_taken().returning(|_, _| Ok(false));
            repos.users.expect_find_by_id().returning(move |_| {
                let mut jake = account(1, "jake");
                jake.email = current.to_owned();
                jake.email_verified = true;
                Ok(Some(jake))
            });
            repos.users.expect_update().returning(|_, changes| {
                let mut jake = account(1, "jake");
                jake.email_verified = changes.email_verified != Some(false);
                Ok(jake)
            });
            repos
                .account_tokens
                .expect_revoke()
                .withf(|_, purpose, _| *purpose == TokenPurpose::VerifyEmail)
                .returning(|_, _, _| Ok(1));
        });
        let db = Arc::new(db);
        let updated = UserService::new(Arc::clone(&db), Arc::new(hasher()), Arc::new(tokens()))
            .update(
                UserId(1),
                AccountUpdate {
                    email: Some(new.to_owned()),
                    ..AccountUpdate::default()
                },
            )
            .await
            .unwrap();
        (Arc::into_inner(db).unwrap(), updated)
    }

    #[tokio::test]
    async fn a_new_address_is_unverified_and_recorded_as_an_email_change() {
        let (db, updated) = change_email("jake@example.com", "jake@elsewhere.com").await;
        assert!(!updated.account.email_verified);
        assert_eq!(
            db.events(),
            [DomainEvent::UserUpdated {
                user: UserId(1),
                profile: false,
                email: true,
                password: false
            }]
        );
    }

    #[tokio::test]
    async fn the_same_address_in_another_case_stays_verified_and_sends_nothing() {
        let (db, updated) = change_email("jake@example.com", "Jake@Example.com").await;
        assert!(updated.account.email_verified);
        assert_eq!(
            db.events(),
            [DomainEvent::UserUpdated {
                user: UserId(1),
                profile: false,
                email: false,
                password: false
            }]
        );
    }

    #[tokio::test]
    async fn update_to_an_email_someone_else_uses_is_rejected() {
        let db = FakeDb::new().writing(|repos| {
            repos
                .users
                .expect_email_taken()
                .withf(|_, except| *except == Some(UserId(1)))
                .returning(|_, _| Ok(true));
            repos.users.expect_update().never();
        });
        let error = service(db, hasher(), tokens())
            .update(
                UserId(1),
                AccountUpdate {
                    email: Some("taken@example.com".to_owned()),
                    ..AccountUpdate::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(error, AppError::Validation(_)));
    }

    #[tokio::test]
    async fn update_without_any_field_is_rejected() {
        let error = service(FakeDb::default(), hasher(), tokens())
            .update(UserId(1), AccountUpdate::default())
            .await
            .unwrap_err();
        assert!(matches!(error, AppError::Validation(_)));
    }

    #[tokio::test]
    async fn update_rejects_an_invalid_image() {
        let error = service(FakeDb::default(), hasher(), tokens())
            .update(
                UserId(1),
                AccountUpdate {
                    image: Some(Some("javascript:alert(1)".to_owned())),
                    ..AccountUpdate::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(error, AppError::Validation(_)));
    }
}
