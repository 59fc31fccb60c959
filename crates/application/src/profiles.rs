//! Profiles and follows.

use async_trait::async_trait;
use conduit_domain::{UserId, Username};

use crate::cache::CacheKey;
use crate::error::{AppError, FieldErrors};
use crate::events::DomainEvent;
use crate::personalize::followed_authors;
use crate::ports::{Database, UnitOfWork};
use crate::storage::Storage;
use crate::views::{Account, Author, Profile};

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
                let following = followed_authors(uow, viewer, [owner.id])?.contains(&owner.id);
                Ok(Author::from(owner).viewed(following))
            })
            .await?;
        Ok((*profile).clone())
    }

    #[tracing::instrument(skip(self))]
    async fn follow(&self, follower: UserId, username: String) -> Result<Profile, AppError> {
        let now = self.storage.now();
        self.storage
            .write(move |uow| {
                let followee = find_profile_owner(uow, &username)?;
                if followee.id == follower {
                    return Err(AppError::Validation(FieldErrors::single(
                        "username",
                        "can't be yourself: you cannot follow yourself",
                    )));
                }
                if uow.follows().follow(follower, followee.id, now)? {
                    uow.record(DomainEvent::Followed {
                        follower,
                        followee: followee.id,
                    });
                }
                Ok(Author::from(followee).viewed(true))
            })
            .await
    }

    #[tracing::instrument(skip(self))]
    async fn unfollow(&self, follower: UserId, username: String) -> Result<Profile, AppError> {
        self.storage
            .write(move |uow| {
                let followee = find_profile_owner(uow, &username)?;
                if uow.follows().unfollow(follower, followee.id)? {
                    uow.record(DomainEvent::Unfollowed {
                        follower,
                        followee: followee.id,
                    });
                }
                Ok(Author::from(followee).viewed(false))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
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
        let db = FakeDb::new().reading(|repos| {
            with_celeb(repos);
            repos.follows.expect_following_among().never();
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
        let db = FakeDb::new().reading(|repos| {
            with_celeb(repos);
            repos
                .follows
                .expect_following_among()
                .with(eq(UserId(1)), eq(vec![UserId(2)]))
                .times(1)
                .returning(|_, _| Ok(HashSet::from([UserId(2)])));
        });
        let profile = ProfileService::new(Arc::new(db))
            .get(Some(UserId(1)), "celeb".to_owned())
            .await
            .unwrap();
        assert!(profile.following);
    }

    #[tokio::test]
    async fn unknown_and_impossible_usernames_are_not_found() {
        let db = FakeDb::new().reading(with_celeb);
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
        let db = FakeDb::new().writing(|repos| {
            with_celeb(repos);
            repos.follows.expect_follow().never();
        });
        let db = Arc::new(db);
        let error = ProfileService::new(Arc::clone(&db))
            .follow(UserId(2), "celeb".to_owned())
            .await
            .unwrap_err();
        assert!(matches!(error, AppError::Validation(_)));
        assert_eq!(db.events(), []);
    }

    #[tokio::test]
    async fn following_twice_is_idempotent() {
        let db = FakeDb::new().writing(|repos| {
            with_celeb(repos);
            repos
                .follows
                .expect_follow()
                .with(eq(UserId(1)), eq(UserId(2)), mockall::predicate::always())
                .times(1)
                .returning(|_, _, _| Ok(true));
            repos
                .follows
                .expect_follow()
                .times(1)
                .returning(|_, _, _| Ok(false));
        });
        let db = Arc::new(db);
        let service = ProfileService::new(Arc::clone(&db));
        for _ in 0..2 {
            let profile = service.follow(UserId(1), "celeb".to_owned()).await.unwrap();
            assert!(profile.following);
        }
        // Only the follow that changed something is an event.
        assert_eq!(
            db.events(),
            [DomainEvent::Followed {
                follower: UserId(1),
                followee: UserId(2)
            }]
        );
    }

    #[tokio::test]
    async fn unfollow_returns_not_following() {
        let db = FakeDb::new().writing(|repos| {
            with_celeb(repos);
            repos
                .follows
                .expect_unfollow()
                .times(1)
                .returning(|_, _| Ok(true));
        });
        let db = Arc::new(db);
        let profile = ProfileService::new(Arc::clone(&db))
            .unfollow(UserId(1), "celeb".to_owned())
            .await
            .unwrap();
        assert!(!profile.following);
        assert_eq!(
            db.events(),
            [DomainEvent::Unfollowed {
                follower: UserId(1),
                followee: UserId(2)
            }]
        );
    }
}
