//! Uploaded images: checked and cleaned from their bytes alone, stored by
//! content address, and given their variants by a background job.
//!
//! The ports here are what uploads need from the outside world: a
//! [`FileStore`] (disk, S3, memory) and an [`ImageProcessor`] that decodes
//! under limits. The adapters live in `conduit-infrastructure`.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use conduit_domain::{FileKey, ImageFormat, UploadId, UserId, Variant};
use futures_util::stream::BoxStream;

use crate::error::{AppError, Cause, FieldErrors};
use crate::events::DomainEvent;
use crate::jobs::{Job, JobArgs, JobFailure, JobHandler};
use crate::ports::Database;
use crate::storage::Storage;

/// Why the file store failed.
#[derive(Debug, thiserror::Error)]
pub enum FileStoreError {
    /// The store could not be reached or answered with an error; the caller
    /// may try again.
    #[error("file store unavailable: {0}")]
    Unavailable(Cause),
}

/// A stored file's bytes, whole or one range of them.
pub struct FileBody {
    /// The size of the whole file.
    pub size: u64,
    /// The bytes sent: `range` when one was asked for, else the whole file.
    pub range: Range<u64>,
    pub chunks: BoxStream<'static, Result<Vec<u8>, FileStoreError>>,
}

/// Where files are kept, by key. Writing the same key twice is harmless:
/// a key names its bytes.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait FileStore: Send + Sync + 'static {
    async fn put(&self, key: &FileKey, bytes: Vec<u8>) -> Result<(), FileStoreError>;
    /// The whole file, in memory (variants are made from it).
    async fn read(&self, key: &FileKey) -> Result<Option<Vec<u8>>, FileStoreError>;
    /// The file's size, or `None` when there is no such file.
    async fn size(&self, key: &FileKey) -> Result<Option<u64>, FileStoreError>;
    /// The file's bytes in `range` (clamped to the file), streamed.
    async fn open(
        &self,
        key: &FileKey,
        range: Option<Range<u64>>,
    ) -> Result<Option<FileBody>, FileStoreError>;
    async fn delete(&self, key: &FileKey) -> Result<(), FileStoreError>;
}

/// An image re-encoded from what was decoded: metadata (EXIF, GPS) gone,
/// orientation applied.
#[derive(Clone, PartialEq, Eq)]
pub struct CleanImage {
    pub bytes: Vec<u8>,
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    /// The key of `bytes`.
    pub key: FileKey,
}

impl std::fmt::Debug for CleanImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CleanImage")
            .field("bytes", &self.bytes.len())
            .field("format", &self.format)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("key", &self.key)
            .finish()
    }
}

/// Why an image was refused; the message goes to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRejection {
    #[error("must be a PNG, JPEG, WebP or GIF image")]
    UnsupportedType,
    #[error("is {width} × {height} pixels; at most {max} pixels are allowed")]
    TooManyPixels { width: u32, height: u32, max: u64 },
    #[error("is not a readable image (truncated or corrupt)")]
    Corrupt,
    #[error("is empty")]
    Empty,
}

/// Decodes, checks and re-encodes images, off the async workers and with
/// bounded concurrency and memory.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ImageProcessor: Send + Sync + 'static {
    /// The cleaned image, or why it was refused.
    ///
    /// # Errors
    /// `Err(Ok(rejection))` for bytes that are not an acceptable image,
    /// `Err(Err(error))` when processing itself failed.
    async fn clean(&self, bytes: Vec<u8>) -> Result<CleanImage, Result<ImageRejection, AppError>>;
    /// `variant` of an image this processor cleaned before; `None` when
    /// the variant would be the image itself (already small enough).
    async fn variant(
        &self,
        original: Vec<u8>,
        variant: Variant,
    ) -> Result<Option<CleanImage>, AppError>;
}

/// An upload as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    pub id: UploadId,
    pub owner: UserId,
    pub key: FileKey,
    pub size: u64,
    pub width: u32,
    pub height: u32,
    /// Variant keys, once their job made them.
    pub thumb: Option<FileKey>,
    pub medium: Option<FileKey>,
}

/// An upload to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUpload {
    pub owner: UserId,
    pub key: FileKey,
    pub size: u64,
    pub width: u32,
    pub height: u32,
    pub now: chrono::DateTime<chrono::Utc>,
}

/// Limits on what one user may upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// Bytes of stored originals per user.
    pub quota_bytes: u64,
}

/// The upload use cases, as the HTTP layer sees them.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UploadUseCases: Send + Sync {
    /// Checks, cleans and stores an image sent by `owner`.
    async fn upload(&self, owner: UserId, bytes: Vec<u8>) -> Result<UploadRecord, AppError>;
    /// A stored file's bytes (`None`: no such file).
    async fn open(
        &self,
        key: FileKey,
        range: Option<Range<u64>>,
    ) -> Result<Option<FileBody>, AppError>;
    /// A stored file's size (`None`: no such file).
    async fn size(&self, key: FileKey) -> Result<Option<u64>, AppError>;
    /// The file that serves `variant` of `key`: the variant once made (and
    /// `true`), else the original.
    async fn variant(&self, key: FileKey, variant: Variant) -> Result<(FileKey, bool), AppError>;
}

pub struct UploadService<D> {
    storage: Storage<D>,
    files: Arc<dyn FileStore>,
    images: Arc<dyn ImageProcessor>,
    limits: UploadLimits,
}

impl<D: Database> UploadService<D> {
    pub fn new(
        storage: impl Into<Storage<D>>,
        files: Arc<dyn FileStore>,
        images: Arc<dyn ImageProcessor>,
        limits: UploadLimits,
    ) -> Self {
        Self {
            storage: storage.into(),
            files,
            images,
            limits,
        }
    }
}

fn unavailable(error: FileStoreError) -> AppError {
    AppError::Unavailable(Box::new(error))
}

fn rejected(message: String) -> AppError {
    AppError::Validation(FieldErrors::single("file", message))
}

#[async_trait]
impl<D: Database> UploadUseCases for UploadService<D> {
    #[tracing::instrument(skip_all, fields(user_id = owner.0, bytes = bytes.len()))]
    async fn upload(&self, owner: UserId, bytes: Vec<u8>) -> Result<UploadRecord, AppError> {
        let image = match self.images.clean(bytes).await {
            Ok(image) => image,
            Err(Ok(rejection)) => return Err(rejected(rejection.to_string())),
            Err(Err(error)) => return Err(error),
        };
        let size = u64::try_from(image.bytes.len()).unwrap_or(u64::MAX);
        let quota = self.limits.quota_bytes;
        let key = image.key.clone();
        // Refuse before storing: a user over quota writes nothing.
        let used = self
            .storage
            .db
            .read(move |uow| Ok(uow.uploads().bytes_of(owner)?))
            .await?;
        if used.saturating_add(size) > quota {
            return Err(rejected(format!(
                "would exceed your upload quota of {quota} bytes ({used} used)"
            )));
        }
        // The file first: a row never names a file that is not there. A
        // file whose row never commits is found by the cleanup.
        self.files
            .put(&key, image.bytes)
            .await
            .map_err(unavailable)?;
        let now = self.storage.now();
        let upload = NewUpload {
            owner,
            key,
            size,
            width: image.width,
            height: image.height,
            now,
        };
        self.storage
            .write(move |uow| {
                let (record, created) = uow.uploads().insert(&upload)?;
                if created {
                    uow.record(DomainEvent::UploadStored {
                        upload: record.id,
                        owner,
                    });
                }
                Ok(record)
            })
            .await
    }

    async fn open(
        &self,
        key: FileKey,
        range: Option<Range<u64>>,
    ) -> Result<Option<FileBody>, AppError> {
        self.files.open(&key, range).await.map_err(unavailable)
    }

    async fn size(&self, key: FileKey) -> Result<Option<u64>, AppError> {
        self.files.size(&key).await.map_err(unavailable)
    }

    async fn variant(&self, key: FileKey, variant: Variant) -> Result<(FileKey, bool), AppError> {
        let lookup = key.clone();
        let made = self
            .storage
            .db
            .read(move |uow| Ok(uow.uploads().variant_of(&lookup, variant)?))
            .await?;
        Ok(match made {
            Some(made) => (made, true),
            None => (key, false),
        })
    }
}

/// `image_variants`: makes the thumbnail and the medium size of an upload.
/// Idempotent: a variant's key names its bytes, and the row is only set.
pub struct VariantJobs<D> {
    db: Arc<D>,
    files: Arc<dyn FileStore>,
    images: Arc<dyn ImageProcessor>,
}

impl<D: Database> VariantJobs<D> {
    pub fn new(db: Arc<D>, files: Arc<dyn FileStore>, images: Arc<dyn ImageProcessor>) -> Self {
        Self { db, files, images }
    }
}

#[async_trait]
impl<D: Database> JobHandler for VariantJobs<D> {
    async fn run(&self, job: &Job) -> Result<(), JobFailure> {
        let Some(JobArgs::ImageVariants { upload }) = job.args else {
            return Err(JobFailure::Discard("not an image_variants job".to_owned()));
        };
        let retry = |error: &dyn std::fmt::Display| JobFailure::Retry(error.to_string());
        let found = self
            .db
            .read(move |uow| Ok(uow.uploads().find(upload)?))
            .await
            .map_err(|error| retry(&error))?;
        let Some(record) = found else {
            return Ok(());
        };
        let Some(original) = self
            .files
            .read(&record.key)
            .await
            .map_err(|error| retry(&error))?
        else {
            return Err(JobFailure::Discard(format!(
                "the original {} is missing",
                record.key.as_str()
            )));
        };
        for variant in Variant::ALL {
            let made = self
                .images
                .variant(original.clone(), variant)
                .await
                .map_err(|error| retry(&error))?;
            let key = match made {
                Some(image) => {
                    let key = image.key.clone();
                    self.files
                        .put(&key, image.bytes)
                        .await
                        .map_err(|error| retry(&error))?;
                    key
                }
                None => record.key.clone(),
            };
            self.db
                .write(move |uow| Ok(uow.uploads().set_variant(upload, variant, &key)?))
                .await
                .map_err(|error| retry(&error))?;
        }
        tracing::info!(upload_id = upload.0, "image variants made");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use conduit_domain::{FileKey, ImageFormat, UploadId, UserId};
    use mockall::predicate::eq;

    use super::*;
    use crate::testing::FakeDb;

    const JAKE: UserId = UserId(7);
    const DIGEST: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn key() -> FileKey {
        FileKey::new(DIGEST, ImageFormat::Png).unwrap()
    }

    fn clean() -> CleanImage {
        CleanImage {
            bytes: vec![1, 2, 3, 4],
            format: ImageFormat::Png,
            width: 640,
            height: 480,
            key: key(),
        }
    }

    fn record() -> UploadRecord {
        UploadRecord {
            id: UploadId(3),
            owner: JAKE,
            key: key(),
            size: 4,
            width: 640,
            height: 480,
            thumb: None,
            medium: None,
        }
    }

    fn images_cleaning(outcome: Result<CleanImage, ImageRejection>) -> MockImageProcessor {
        let mut images = MockImageProcessor::new();
        images
            .expect_clean()
            .returning(move |_| outcome.clone().map_err(Ok));
        images
    }

    fn service(
        db: FakeDb,
        files: MockFileStore,
        images: MockImageProcessor,
        quota: u64,
    ) -> (UploadService<FakeDb>, Arc<FakeDb>) {
        let db = Arc::new(db);
        let service = UploadService::new(
            Arc::clone(&db),
            Arc::new(files),
            Arc::new(images),
            UploadLimits { quota_bytes: quota },
        );
        (service, db)
    }

    #[tokio::test]
    async fn a_clean_image_is_stored_then_recorded_with_its_event() {
        let db = FakeDb::new()
            .reading(|repos| {
                repos
                    .uploads
                    .expect_bytes_of()
                    .with(eq(JAKE))
                    .returning(|_| Ok(10));
            })
            .writing(|repos| {
                repos
                    .uploads
                    .expect_insert()
                    .withf(|upload| {
                        upload.owner == JAKE
                            && upload.key == key()
                            && upload.size == 4
                            && (upload.width, upload.height) == (640, 480)
                    })
                    .times(1)
                    .returning(|_| Ok((record(), true)));
            });
        let mut files = MockFileStore::new();
        files
            .expect_put()
            .withf(|stored, bytes| *stored == key() && bytes == &[1, 2, 3, 4])
            .times(1)
            .returning(|_, _| Ok(()));
        let (service, db) = service(db, files, images_cleaning(Ok(clean())), 14);
        let stored = service.upload(JAKE, vec![9; 100]).await.expect("stored");
        assert_eq!(stored, record());
        assert_eq!(
            db.events(),
            [DomainEvent::UploadStored {
                upload: UploadId(3),
                owner: JAKE
            }]
        );
    }

    #[tokio::test]
    async fn the_same_image_again_is_the_same_upload_and_no_new_event() {
        let db = FakeDb::new()
            .reading(|repos| {
                repos.uploads.expect_bytes_of().returning(|_| Ok(4));
            })
            .writing(|repos| {
                repos
                    .uploads
                    .expect_insert()
                    .returning(|_| Ok((record(), false)));
            });
        let mut files = MockFileStore::new();
        files.expect_put().returning(|_, _| Ok(()));
        let (service, db) = service(db, files, images_cleaning(Ok(clean())), 1000);
        assert_eq!(service.upload(JAKE, vec![1]).await.unwrap(), record());
        assert!(db.events().is_empty());
    }

    #[tokio::test]
    async fn a_refused_image_is_a_422_on_file_and_nothing_is_stored() {
        let mut files = MockFileStore::new();
        files.expect_put().never();
        let (service, db) = service(
            FakeDb::new(),
            files,
            images_cleaning(Err(ImageRejection::UnsupportedType)),
            1000,
        );
        match service.upload(JAKE, b"<svg/>".to_vec()).await {
            Err(AppError::Validation(errors)) => assert_eq!(
                errors,
                FieldErrors::single("file", "must be a PNG, JPEG, WebP or GIF image")
            ),
            other => panic!("expected a 422, got {other:?}"),
        }
        assert_eq!(db.writes(), 0);
    }

    #[tokio::test]
    async fn an_upload_beyond_the_quota_is_refused_before_it_is_stored() {
        let db = FakeDb::new().reading(|repos| {
            repos.uploads.expect_bytes_of().returning(|_| Ok(11));
        });
        let mut files = MockFileStore::new();
        files.expect_put().never();
        let (service, db) = service(db, files, images_cleaning(Ok(clean())), 14);
        match service.upload(JAKE, vec![1]).await {
            Err(AppError::Validation(errors)) => {
                let message = &errors.iter().next().unwrap().1[0];
                assert!(message.contains("quota of 14 bytes (11 used)"), "{message}");
            }
            other => panic!("expected a 422, got {other:?}"),
        }
        assert_eq!(db.writes(), 0);
    }

    fn variants_job() -> Job {
        let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        crate::testing::job_running(
            JobArgs::ImageVariants {
                upload: UploadId(3),
            },
            now,
        )
    }

    #[tokio::test]
    async fn variants_are_stored_and_recorded_and_one_that_would_equal_the_original_is_the_original()
     {
        let thumb_key = FileKey::new(&"1".repeat(64), ImageFormat::Png).unwrap();
        let db = FakeDb::new()
            .reading(|repos| {
                repos
                    .uploads
                    .expect_find()
                    .returning(|_| Ok(Some(record())));
            })
            .writing({
                let thumb_key = thumb_key.clone();
                move |repos| {
                    repos
                        .uploads
                        .expect_set_variant()
                        .with(eq(UploadId(3)), eq(Variant::Thumb), eq(thumb_key))
                        .times(1)
                        .returning(|_, _, _| Ok(()));
                    repos
                        .uploads
                        .expect_set_variant()
                        .with(eq(UploadId(3)), eq(Variant::Medium), eq(key()))
                        .times(1)
                        .returning(|_, _, _| Ok(()));
                }
            });
        let mut files = MockFileStore::new();
        files
            .expect_read()
            .returning(|_| Ok(Some(vec![1, 2, 3, 4])));
        files
            .expect_put()
            .withf(move |stored, _| *stored == thumb_key)
            .times(1)
            .returning(|_, _| Ok(()));
        let mut images = MockImageProcessor::new();
        images.expect_variant().returning(|_, variant| {
            Ok(match variant {
                Variant::Thumb => Some(CleanImage {
                    bytes: vec![5],
                    format: ImageFormat::Png,
                    width: 128,
                    height: 128,
                    key: FileKey::new(&"1".repeat(64), ImageFormat::Png).unwrap(),
                }),
                // 640 × 480 is within the medium size already.
                Variant::Medium => None,
            })
        });
        VariantJobs::new(Arc::new(db), Arc::new(files), Arc::new(images))
            .run(&variants_job())
            .await
            .expect("variants made");
    }
}
