//! Uploads (beyond the RealWorld contract): the form that sends an image,
//! and what comes back.

use conduit_application::uploads::UploadRecord;
use conduit_domain::Variant;
use serde::Serialize;
use utoipa::ToSchema;

/// `multipart/form-data` with one part, `file`: a PNG, JPEG, WebP or GIF
/// image (detected from its bytes; the part's name and type are ignored).
#[derive(ToSchema)]
#[expect(dead_code, reason = "documents the request body only")]
pub struct UploadForm {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// URLs of an upload's variants (`<url>/thumb`, `<url>/medium`): each
/// serves the original until its variant is made.
#[derive(Debug, Serialize, ToSchema)]
pub struct Variants {
    /// 128 × 128, cropped to fill.
    #[schema(example = "https://conduit.example/files/0b1c…e9.png")]
    pub thumb: String,
    /// At most 1024 pixels on the long side.
    pub medium: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Upload {
    /// Absolute URL of the cleaned original (`/files/<sha-256>.<ext>`).
    #[schema(example = "https://conduit.example/files/5f7c…a1.png")]
    pub url: String,
    /// Detected from the bytes.
    #[schema(example = "image/png")]
    pub content_type: &'static str,
    /// Bytes of the stored (re-encoded) original.
    pub size: u64,
    pub width: u32,
    pub height: u32,
    pub variants: Variants,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadResponse {
    pub upload: Upload,
}

impl UploadResponse {
    /// `record` with URLs under `public_url`.
    pub fn new(record: &UploadRecord, public_url: &str) -> Self {
        let url = format!("{public_url}/files/{}", record.key.as_str());
        let variant = |variant: Variant| format!("{url}/{}", variant.as_str());
        Self {
            upload: Upload {
                content_type: record.key.format().content_type(),
                size: record.size,
                width: record.width,
                height: record.height,
                variants: Variants {
                    thumb: variant(Variant::Thumb),
                    medium: variant(Variant::Medium),
                },
                url,
            },
        }
    }
}
