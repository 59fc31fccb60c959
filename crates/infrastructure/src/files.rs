//! The application's `FileStore` on `object_store`: a directory on local
//! disk (the default, under `./data/files/`), or memory (tests). Keys are
//! content addresses checked by the domain (`FileKey`), so a path never
//! holds anything a client chose.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use conduit_application::uploads::{FileBody, FileStore, FileStoreError};
use conduit_domain::FileKey;
use futures_util::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};

use crate::error::InfrastructureError;

/// Where uploads go when nothing else is configured.
pub const DEFAULT_FILES_DIR: &str = "data/files";

/// Files in an object store.
#[derive(Debug, Clone)]
pub struct ObjectFileStore {
    store: Arc<dyn ObjectStore>,
}

fn unavailable(error: object_store::Error) -> FileStoreError {
    FileStoreError::Unavailable(Box::new(error))
}

fn location(key: &FileKey) -> ObjectPath {
    ObjectPath::from(key.as_str())
}

impl ObjectFileStore {
    /// Files under `dir` on local disk, created if missing.
    ///
    /// # Errors
    /// When the directory cannot be created or used.
    pub fn local(dir: &Path) -> Result<Self, InfrastructureError> {
        std::fs::create_dir_all(dir).map_err(|error| {
            InfrastructureError::Invalid(format!("creating {}: {error}", dir.display()))
        })?;
        let store = LocalFileSystem::new_with_prefix(dir)
            .map_err(|error| InfrastructureError::Invalid(format!("{}: {error}", dir.display())))?;
        Ok(Self {
            store: Arc::new(store),
        })
    }

    /// Files in memory, gone with the process (tests).
    pub fn memory() -> Self {
        Self {
            store: Arc::new(InMemory::new()),
        }
    }
}

#[async_trait]
impl FileStore for ObjectFileStore {
    async fn put(&self, key: &FileKey, bytes: Vec<u8>) -> Result<(), FileStoreError> {
        // A key names its bytes: a file already there is this file.
        if self.size(key).await?.is_some() {
            return Ok(());
        }
        self.store
            .put(&location(key), PutPayload::from(bytes))
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn read(&self, key: &FileKey) -> Result<Option<Vec<u8>>, FileStoreError> {
        match self.store.get(&location(key)).await {
            Ok(found) => Ok(Some(found.bytes().await.map_err(unavailable)?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn size(&self, key: &FileKey) -> Result<Option<u64>, FileStoreError> {
        match self.store.head(&location(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn open(
        &self,
        key: &FileKey,
        range: Option<Range<u64>>,
    ) -> Result<Option<FileBody>, FileStoreError> {
        let options = GetOptions::new().with_range(range.map(GetRange::Bounded));
        match self.store.get_opts(&location(key), options).await {
            Ok(found) => Ok(Some(FileBody {
                size: found.meta.size,
                range: found.range.clone(),
                chunks: found
                    .into_stream()
                    .map(|chunk| chunk.map(|bytes| bytes.to_vec()).map_err(unavailable))
                    .boxed(),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn delete(&self, key: &FileKey) -> Result<(), FileStoreError> {
        match self.store.delete(&location(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(unavailable(error)),
        }
    }
}
