//! Tags.

use std::sync::Arc;

use async_trait::async_trait;

use crate::cache::CacheKey;
use crate::error::AppError;
use crate::ports::Database;
use crate::storage::Storage;

/// The tag use cases, as the HTTP layer sees them.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TagUseCases: Send + Sync {
    /// Tags of at least one article, most used first.
    async fn list(&self) -> Result<Arc<Vec<String>>, AppError>;
}

pub struct TagService<D> {
    storage: Storage<D>,
}

impl<D: Database> TagService<D> {
    pub fn new(storage: impl Into<Storage<D>>) -> Self {
        Self {
            storage: storage.into(),
        }
    }
}

#[async_trait]
impl<D: Database> TagUseCases for TagService<D> {
    async fn list(&self) -> Result<Arc<Vec<String>>, AppError> {
        self.storage
            .read_cached(CacheKey::Tags, |uow| Ok(uow.tags().in_use()?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::RepoError;
    use crate::testing::FakeDb;

    #[tokio::test]
    async fn list_returns_the_tags_in_the_repository_order() {
        let db = FakeDb::new().reading(|repos| {
            repos.tags.expect_in_use().times(1).returning(|| {
                Ok(vec![
                    "welcome".to_owned(),
                    "dragons".to_owned(),
                    "zebra".to_owned(),
                    "angular".to_owned(),
                ])
            });
        });
        let db = Arc::new(db);
        let tags = TagService::new(Arc::clone(&db)).list().await.unwrap();
        assert_eq!(*tags, ["welcome", "dragons", "zebra", "angular"]);
        assert_eq!(db.writes(), 0);
    }

    #[tokio::test]
    async fn list_passes_on_a_busy_database() {
        let db = FakeDb::new().reading(|repos| {
            repos
                .tags
                .expect_in_use()
                .returning(|| Err(RepoError::Busy));
        });
        let error = TagService::new(Arc::new(db)).list().await.unwrap_err();
        assert!(matches!(error, AppError::Busy), "{error:?}");
    }
}
