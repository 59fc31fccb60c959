use conduit_application::error::{Cause, RepoError};
use conduit_application::ports::UploadRepository;
use conduit_application::uploads::{NewUpload, UploadRecord};
use conduit_domain::{FileKey, UploadId, UserId, Variant};
use diesel::prelude::*;

use crate::db::DieselUow;
use crate::db::errors::OrRepoError;
use crate::db::schema::uploads;

type UploadRow = (
    i64,
    i64,
    String,
    i64,
    i64,
    i64,
    Option<String>,
    Option<String>,
);

fn columns() -> (
    uploads::id,
    uploads::owner_id,
    uploads::file_key,
    uploads::size,
    uploads::width,
    uploads::height,
    uploads::thumb_key,
    uploads::medium_key,
) {
    (
        uploads::id,
        uploads::owner_id,
        uploads::file_key,
        uploads::size,
        uploads::width,
        uploads::height,
        uploads::thumb_key,
        uploads::medium_key,
    )
}

fn stored_key(value: String) -> Result<FileKey, RepoError> {
    FileKey::parse(value).map_err(|error| RepoError::Other(Cause::from(error.message.into_owned())))
}

fn record(row: UploadRow) -> Result<UploadRecord, RepoError> {
    let (id, owner, key, size, width, height, thumb, medium) = row;
    let number = |value: i64| u32::try_from(value).unwrap_or(u32::MAX);
    Ok(UploadRecord {
        id: UploadId(id),
        owner: UserId(owner),
        key: stored_key(key)?,
        size: u64::try_from(size).unwrap_or_default(),
        width: number(width),
        height: number(height),
        thumb: thumb.map(stored_key).transpose()?,
        medium: medium.map(stored_key).transpose()?,
    })
}

impl DieselUow<'_> {
    fn upload_of(
        &mut self,
        owner: UserId,
        key: &FileKey,
    ) -> Result<Option<UploadRecord>, RepoError> {
        uploads::table
            .filter(uploads::owner_id.eq(owner.0))
            .filter(uploads::file_key.eq(key.as_str()))
            .select(columns())
            .first::<UploadRow>(self.conn)
            .optional()
            .or_repo_error()?
            .map(record)
            .transpose()
    }
}

impl UploadRepository for DieselUow<'_> {
    fn insert(&mut self, upload: &NewUpload) -> Result<(UploadRecord, bool), RepoError> {
        // Writes are serialized per owner by the unique constraint; a
        // concurrent insert of the same file by the same owner loses the
        // race as a conflict, and the unit of work sees the row next time.
        if let Some(existing) = self.upload_of(upload.owner, &upload.key)? {
            return Ok((existing, false));
        }
        let id = diesel::insert_into(uploads::table)
            .values((
                uploads::owner_id.eq(upload.owner.0),
                uploads::file_key.eq(upload.key.as_str()),
                uploads::size.eq(i64::try_from(upload.size).unwrap_or(i64::MAX)),
                uploads::width.eq(i64::from(upload.width)),
                uploads::height.eq(i64::from(upload.height)),
                uploads::created_at.eq(upload.now.naive_utc()),
            ))
            .returning(uploads::id)
            .get_result::<i64>(self.conn)
            .or_repo_error()?;
        Ok((
            UploadRecord {
                id: UploadId(id),
                owner: upload.owner,
                key: upload.key.clone(),
                size: upload.size,
                width: upload.width,
                height: upload.height,
                thumb: None,
                medium: None,
            },
            true,
        ))
    }

    fn find(&mut self, id: UploadId) -> Result<Option<UploadRecord>, RepoError> {
        uploads::table
            .find(id.0)
            .select(columns())
            .first::<UploadRow>(self.conn)
            .optional()
            .or_repo_error()?
            .map(record)
            .transpose()
    }

    fn bytes_of(&mut self, owner: UserId) -> Result<u64, RepoError> {
        // SUM(BIGINT) is NUMERIC on PostgreSQL: cast back, on both backends.
        let total = uploads::table
            .filter(uploads::owner_id.eq(owner.0))
            .select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "CAST(COALESCE(SUM(size), 0) AS BIGINT)",
            ))
            .first::<i64>(self.conn)
            .or_repo_error()?;
        Ok(u64::try_from(total).unwrap_or_default())
    }

    fn variant_of(
        &mut self,
        key: &FileKey,
        variant: Variant,
    ) -> Result<Option<FileKey>, RepoError> {
        let rows = uploads::table.filter(uploads::file_key.eq(key.as_str()));
        let found = match variant {
            Variant::Thumb => rows
                .filter(uploads::thumb_key.is_not_null())
                .select(uploads::thumb_key)
                .first::<Option<String>>(self.conn),
            Variant::Medium => rows
                .filter(uploads::medium_key.is_not_null())
                .select(uploads::medium_key)
                .first::<Option<String>>(self.conn),
        }
        .optional()
        .or_repo_error()?;
        found.flatten().map(stored_key).transpose()
    }

    fn set_variant(
        &mut self,
        id: UploadId,
        variant: Variant,
        key: &FileKey,
    ) -> Result<(), RepoError> {
        let target = uploads::table.find(id.0);
        let updated = match variant {
            Variant::Thumb => diesel::update(target)
                .set(uploads::thumb_key.eq(key.as_str()))
                .execute(self.conn),
            Variant::Medium => diesel::update(target)
                .set(uploads::medium_key.eq(key.as_str()))
                .execute(self.conn),
        };
        updated.or_repo_error()?;
        Ok(())
    }
}
