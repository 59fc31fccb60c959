//! Why an adapter could not be set up, or its database reached.

use conduit_application::error::Cause;

#[derive(Debug, thiserror::Error)]
pub enum InfrastructureError {
    /// A setting is out of range.
    #[error("{0}")]
    Invalid(String),
    /// A file could not be read or written, or a thread could not start.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The database could not be reached or migrated.
    #[error("database: {0}")]
    Database(#[source] Cause),
}

impl InfrastructureError {
    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }

    pub(crate) fn database(cause: impl Into<Cause>) -> Self {
        Self::Database(cause.into())
    }
}
