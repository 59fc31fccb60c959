//! Tags.

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::AppError;
use crate::ports::Database;

/// The tag use cases, as the HTTP layer sees them.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TagUseCases: Send + Sync {
    /// Tags of at least one article, most used first.
    async fn list(&self) -> Result<Vec<String>, AppError>;
}

pub struct TagService<D> {
    db: Arc<D>,
}

impl<D: Database> TagService<D> {
    pub fn new(db: Arc<D>) -> Self {
        Self { db }
    }
}

#[async_trait]
impl<D: Database> TagUseCases for TagService<D> {
    async fn list(&self) -> Result<Vec<String>, AppError> {
        self.db.read(|uow| Ok(uow.tags().in_use()?)).await
    }
}
