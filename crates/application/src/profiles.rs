//! Profiles and follows.

use async_trait::async_trait;
use conduit_domain::{UserId, Username};

use crate::cache::{CacheKey, CacheScope};
use crate::error::{AppError, FieldErrors};
use crate::ports::{Database, UnitOfWork};
use crate::storage::Storage;
use crate::users::now;
use crate::views::{Account, Profile};

/// The profile use cases, as the HTTP layer sees them.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ProfileUseCases: Send + Sync {
    /// A user's profile; `following` is false for anonymous callers.
    async fn get(&self, viewer: Option<UserId>, username: String) -> Result<Profile, AppError>;
    /// Follows a user (idempotent). Following yourself is rejected.
    async fn follow(&self, follower: UserId, username: String) -> Result<Profile, AppError>;
    /// Unfollows a user (idempotent).
    async fn unfollow(&self, follower: UserId, username: String) -> Result<Profile, AppError>;
}

pub struct ProfileService<D> {
    storage: Storage<D>,
}

impl<D: Database> ProfileService<D> {
    pub fn new(storage: impl Into<Storage<D>>) -> Self {
        Self {
            storage: storage.into(),
        }
    }
}

/// Finds a user by the name in a URL. A name that is not even a valid username
/// cannot exist, so it is "not found" rather than "invalid".
pub(crate) fn find_profile_owner(
    uow: &mut dyn UnitOfWork,
    username: &str,
) -> Result<Account, AppError> {
    let username = Username::parse(username).map_err(|_| AppError::NotFound("profile"))?;
    uow.users()
        .find_by_username(&username)?
        .ok_or(AppError::NotFound("profile"))
}

fn profile(account: Account, following: bool) -> Profile {
    Profile {
        username: account.username,
        bio: account.bio,
        image: account.image,
        following,
    }
}

#[async_trait]
impl<D: Database> ProfileUseCases for ProfileService<D> {
    async fn get(&self, viewer: Option<UserId>, username: String) -> Result<Profile, AppError> {
        let key = CacheKey::Profile {
            viewer,
            username: username.to_ascii_lowercase(),
        };
        let profile = self
            .storage
            .read_cached(key, move |uow| {
                let owner = find_profile_owner(uow, &username)?;
                let following = match viewer {
                    Some(viewer) if viewer != owner.id => {
                        uow.follows().is_following(viewer, owner.id)?
                    }
                    _ => false,
                };
                Ok(profile(owner, following))
            })
            .await?;
        Ok((*profile).clone())
    }

    #[tracing::instrument(skip(self))]
    async fn follow(&self, follower: UserId, username: String) -> Result<Profile, AppError> {
        let now = now();
        self.storage
            .write(&[CacheScope::Content], move |uow| {
                let followee = find_profile_owner(uow, &username)?;
                if followee.id == follower {
                    return Err(AppError::Validation(FieldErrors::single(
                        "username",
                        "can't be yourself: you cannot follow yourself",
                    )));
                }
                uow.follows().follow(follower, followee.id, now)?;
                Ok(profile(followee, true))
            })
            .await
    }

    #[tracing::instrument(skip(self))]
    async fn unfollow(&self, follower: UserId, username: String) -> Result<Profile, AppError> {
        self.storage
            .write(&[CacheScope::Content], move |uow| {
                let followee = find_profile_owner(uow, &username)?;
                uow.follows().unfollow(follower, followee.id)?;
                Ok(profile(followee, false))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::testing::{FakeDb, account};
    use mockall::predicate::eq;

    fn with_celeb(repos: &mut crate::testing::FakeRepos) {
        repos
            .users
            .expect_find_by_username()
            .returning(|name| Ok((name.canonical() == "celeb").then(|| account(2, "celeb"))));
    }

    #[tokio::test]
    async fn anonymous_callers_never_follow() {
        let db = FakeDb::with(|repos| {
            with_celeb(repos);
            repos.follows.expect_is_following().never();
        });
        let profile = ProfileService::new(Arc::new(db))
            .get(None, "Celeb".to_owned())
            .await
            .unwrap();
        assert!(!profile.following);
        assert_eq!(profile.username, "celeb");
    }

    #[tokio::test]
    async fn following_reflects_the_caller() {
        let db = FakeDb::with(|repos| {
            with_celeb(repos);
            repos
                .follows
                .expect_is_following()
                .with(eq(UserId(1)), eq(UserId(2)))
                .returning(|_, _| Ok(true));
        });
        let profile = ProfileService::new(Arc::new(db))
            .get(Some(UserId(1)), "celeb".to_owned())
            .await
            .unwrap();
        assert!(profile.following);
    }

    #[tokio::test]
    async fn unknown_and_impossible_usernames_are_not_found() {
        let db = FakeDb::with(with_celeb);
        let service = ProfileService::new(Arc::new(db));
        for name in ["nobody", "../../etc/passwd", ""] {
            let error = service.get(None, name.to_owned()).await.unwrap_err();
            assert!(
                matches!(error, AppError::NotFound("profile")),
                "{name}: {error:?}"
            );
        }
    }

    #[tokio::test]
    async fn following_yourself_is_rejected() {
        let db = FakeDb::with(|repos| {
            with_celeb(repos);
            repos.follows.expect_follow().never();
        });
        let error = ProfileService::new(Arc::new(db))
            .follow(UserId(2), "celeb".to_owned())
            .await
            .unwrap_err();
        assert!(matches!(error, AppError::Validation(_)));
    }

    #[tokio::test]
    async fn following_twice_is_idempotent() {
        let db = FakeDb::with(|repos| {
            with_celeb(repos);
            repos
                .follows
                .expect_follow()
                .with(eq(UserId(1)), eq(UserId(2)), mockall::predicate::always())
                .times(2)
                .returning(|_, _, _| Ok(()));
        });
        let service = ProfileService::new(Arc::new(db));
        for _ in 0..2 {
            let profile = service.follow(UserId(1), "celeb".to_owned()).await.unwrap();
            assert!(profile.following);
        }
    }

    #[tokio::test]
    async fn unfollow_returns_not_following() {
        let db = FakeDb::with(|repos| {
            with_celeb(repos);
            repos
                .follows
                .expect_unfollow()
                .times(1)
                .returning(|_, _| Ok(()));
        });
        let profile = ProfileService::new(Arc::new(db))
            .unfollow(UserId(1), "celeb".to_owned())
            .await
            .unwrap();
        assert!(!profile.following);
    }
}
