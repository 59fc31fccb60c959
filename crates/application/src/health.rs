//! What operators ask of a running instance: can it reach its database, and
//! how busy is its connection pool.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::AppError;

/// Connections of the pool, at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolUsage {
    /// Most connections the pool opens.
    pub size: u32,
    /// Connections open now.
    pub open: u32,
    /// Open connections not lent to a request.
    pub idle: u32,
}

impl PoolUsage {
    /// Connections lent to requests now.
    pub fn in_use(&self) -> u32 {
        self.open.saturating_sub(self.idle)
    }
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait HealthCheck: Send + Sync {
    /// Whether the database answers a trivial query within `timeout`.
    ///
    /// # Errors
    /// `Unavailable` when it does not.
    async fn database_ready(&self, timeout: Duration) -> Result<(), AppError>;

    fn pool_usage(&self) -> PoolUsage;
}
