//! Uploads and the files they store (beyond the RealWorld contract).
//!
//! `POST /api/uploads` reads one `file` part, counting its bytes as they
//! arrive and giving up past the limit; the use case trusts only the bytes.
//! `GET /files/{key}` streams a stored file with the headers an `<img>` on
//! another origin and a cache in front need, and answers `HEAD` and single
//! byte ranges.

use actix_multipart::Multipart;
use actix_web::http::header::{self, EntityTag, Range};
use actix_web::http::{Method, StatusCode};
use actix_web::web::{Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use conduit_application::uploads::UploadUseCases;
use conduit_application::{AppError, FieldErrors};
use conduit_domain::{FileKey, Variant};
use futures_util::{StreamExt, TryStreamExt};

use crate::WebState;
use crate::dto::{UploadForm, UploadResponse};
use crate::error::{
    ApiError, BadRequest, GenericErrorModel, InternalError, Unauthorized, Unavailable,
};
use crate::extract::AuthUser;

/// The part that carries the image.
const FILE_PART: &str = "file";

fn file_error(message: impl Into<String>) -> ApiError {
    ApiError::App(AppError::Validation(FieldErrors::single("file", message)))
}

/// Upload an image: PNG, JPEG, WebP or GIF, detected from its bytes. The
/// stored original is re-encoded (EXIF and GPS removed, orientation
/// applied); `thumb` and `medium` variants follow from a background job, and
/// their URLs serve the original until then. Not part of the RealWorld API.
#[utoipa::path(
    post,
    path = "/api/uploads",
    operation_id = "CreateUpload",
    tag = "Uploads",
    security(("Token" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "The stored image", body = UploadResponse),
        BadRequest, Unauthorized,
        (status = 413, description = "The file is larger than `CONDUIT_UPLOAD_MAX_BYTES`", body = GenericErrorModel,
            example = json!({"errors": {"file": ["is too large (maximum is 5242880 bytes)"]}})),
        (status = 422, description = "Not an accepted image, too many pixels, no `file` part, or over the quota", body = GenericErrorModel,
            example = json!({"errors": {"file": ["must be a PNG, JPEG, WebP or GIF image"]}})),
        InternalError, Unavailable
    )
)]
pub async fn create_upload(
    state: Data<WebState>,
    uploads: Data<dyn UploadUseCases>,
    caller: AuthUser,
    mut form: Multipart,
) -> Result<HttpResponse, ApiError> {
    let limit = state.settings.upload_max_bytes;
    let mut file = None;
    while let Some(mut part) = form
        .try_next()
        .await
        .map_err(|error| ApiError::MalformedBody(format!("multipart: {error}")))?
    {
        let wanted = file.is_none() && part.name() == Some(FILE_PART);
        let mut bytes = Vec::new();
        let mut seen = 0usize;
        while let Some(chunk) = part.next().await {
            let chunk =
                chunk.map_err(|error| ApiError::MalformedBody(format!("multipart: {error}")))?;
            seen = seen.saturating_add(chunk.len());
            if seen > limit {
                return Ok(
                    HttpResponse::PayloadTooLarge().json(GenericErrorModel::single(
                        "file",
                        format!("is too large (maximum is {limit} bytes)"),
                    )),
                );
            }
            if wanted {
                bytes.extend_from_slice(&chunk);
            }
        }
        if wanted {
            file = Some(bytes);
        }
    }
    let bytes =
        file.ok_or_else(|| file_error("is missing: send the image as a part named file"))?;
    let record = uploads.upload(caller.id, bytes).await?;
    Ok(HttpResponse::Created().json(UploadResponse::new(&record, &state.settings.public_url)))
}

/// The byte range asked for, when there is exactly one; `Err` with the
/// file's size when it cannot be satisfied.
fn requested_range(req: &HttpRequest, size: u64) -> Result<Option<(u64, u64)>, u64> {
    let Some(value) = req.headers().get(header::RANGE) else {
        return Ok(None);
    };
    let Ok(Range::Bytes(specs)) = value.to_str().unwrap_or_default().parse::<Range>() else {
        // Not a byte range we understand: the whole file.
        return Ok(None);
    };
    match specs.as_slice() {
        [spec] => spec.to_satisfiable_range(size).map(Some).ok_or(size),
        // Several ranges: the whole file (allowed, and far simpler).
        _ => Ok(None),
    }
}

fn file_not_found() -> HttpResponse {
    HttpResponse::NotFound().json(GenericErrorModel::single("file", "not found"))
}

/// How long an answer may be kept: a key names its bytes for ever, but a
/// variant URL serves the original only until the variant is made.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Freshness {
    Immutable,
    Provisional,
}

/// A stored file. Keys are content addresses, so the answer never changes:
/// it may be cached for a year. Not part of the RealWorld API.
#[utoipa::path(
    get,
    path = "/files/{key}",
    operation_id = "GetFile",
    tag = "Uploads",
    params(("key" = String, Path, description = "`<sha-256>.<png|jpg|webp|gif>`, from an upload's URL")),
    responses(
        (status = 200, description = "The file", content_type = "image/*", body = String,
            headers(("ETag" = String), ("Cache-Control" = String), ("Accept-Ranges" = String))),
        (status = 206, description = "One byte range of the file (`Range: bytes=…`)", content_type = "image/*", body = String,
            headers(("Content-Range" = String))),
        (status = 304, description = "`If-None-Match` names this file"),
        (status = 404, description = "No such file", body = GenericErrorModel),
        (status = 416, description = "The range lies outside the file", body = GenericErrorModel, headers(("Content-Range" = String))),
        InternalError, Unavailable
    )
)]
pub async fn get_file(
    req: HttpRequest,
    uploads: Data<dyn UploadUseCases>,
    key: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let Ok(key) = FileKey::parse(key.into_inner()) else {
        return Ok(file_not_found());
    };
    serve(&req, &**uploads, key, Freshness::Immutable).await
}

/// A variant of a stored file (`thumb`: 128 × 128, `medium`: at most 1024
/// pixels on the long side); the original until the variant is made, and
/// then cached only briefly. Not part of the RealWorld API.
#[utoipa::path(
    get,
    path = "/files/{key}/{variant}",
    operation_id = "GetFileVariant",
    tag = "Uploads",
    params(
        ("key" = String, Path, description = "`<sha-256>.<png|jpg|webp|gif>`, from an upload's URL"),
        ("variant" = String, Path, description = "`thumb` or `medium`"),
    ),
    responses(
        (status = 200, description = "The variant, or the original until the variant is made", content_type = "image/*", body = String,
            headers(("ETag" = String), ("Cache-Control" = String), ("Accept-Ranges" = String))),
        (status = 206, description = "One byte range of it", content_type = "image/*", body = String,
            headers(("Content-Range" = String))),
        (status = 304, description = "`If-None-Match` names this file"),
        (status = 404, description = "No such file or variant", body = GenericErrorModel),
        (status = 416, description = "The range lies outside the file", body = GenericErrorModel, headers(("Content-Range" = String))),
        InternalError, Unavailable
    )
)]
pub async fn get_file_variant(
    req: HttpRequest,
    uploads: Data<dyn UploadUseCases>,
    path: Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (key, variant) = path.into_inner();
    let variant = Variant::ALL
        .into_iter()
        .find(|known| known.as_str() == variant);
    let (Ok(key), Some(variant)) = (FileKey::parse(key), variant) else {
        return Ok(file_not_found());
    };
    let (file, made) = uploads.variant(key, variant).await?;
    let freshness = if made {
        Freshness::Immutable
    } else {
        Freshness::Provisional
    };
    serve(&req, &**uploads, file, freshness).await
}

async fn serve(
    req: &HttpRequest,
    uploads: &dyn UploadUseCases,
    key: FileKey,
    freshness: Freshness,
) -> Result<HttpResponse, ApiError> {
    let Some(size) = uploads.size(key.clone()).await? else {
        return Ok(file_not_found());
    };
    let etag = EntityTag::new_strong(key.digest().to_owned());
    let mut response = HttpResponse::build(StatusCode::OK);
    response
        .insert_header(header::ETag(etag.clone()))
        .insert_header((
            header::CACHE_CONTROL,
            match freshness {
                Freshness::Immutable => "public, max-age=31536000, immutable",
                Freshness::Provisional => "public, max-age=60",
            },
        ))
        .insert_header((header::ACCEPT_RANGES, "bytes"));
    let cached = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value == "*"
                || value
                    .split(',')
                    .filter_map(|tag| tag.trim().parse::<EntityTag>().ok())
                    .any(|tag| tag.weak_eq(&etag))
        });
    if cached {
        return Ok(response.status(StatusCode::NOT_MODIFIED).finish());
    }
    let range = match requested_range(req, size) {
        Ok(range) => range,
        Err(size) => {
            return Ok(response
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .insert_header((header::CONTENT_RANGE, format!("bytes */{size}")))
                .json(GenericErrorModel::single("range", "is outside the file")));
        }
    };
    response.insert_header((header::CONTENT_TYPE, key.format().content_type()));
    let length = match range {
        Some((first, last)) => {
            response.status(StatusCode::PARTIAL_CONTENT).insert_header((
                header::CONTENT_RANGE,
                format!("bytes {first}-{last}/{size}"),
            ));
            last - first + 1
        }
        None => size,
    };
    if req.method() == Method::HEAD {
        // A sized body that is never read: actix sends its length, not its bytes.
        let nothing =
            futures_util::stream::empty::<Result<actix_web::web::Bytes, actix_web::Error>>();
        return Ok(response.no_chunking(length).streaming(nothing));
    }
    let Some(body) = uploads
        .open(key, range.map(|(first, last)| first..last + 1))
        .await?
    else {
        return Ok(file_not_found());
    };
    let chunks = body.chunks.map(|chunk| {
        chunk
            .map(actix_web::web::Bytes::from)
            .map_err(|error| actix_web::error::ErrorServiceUnavailable(error.to_string()))
    });
    Ok(response.no_chunking(length).streaming(chunks))
}
