//! Uploaded images: the formats Conduit accepts, and the key a stored file
//! is found by. Keys are content addresses (the SHA-256 of the stored
//! bytes) with the detected format's extension, so nothing a client sends
//! (a file name, a claimed type) ever reaches a path.

use serde::{Deserialize, Serialize};

use crate::error::InvalidValue;

/// Database identity of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UploadId(pub i64);

/// The image formats Conduit stores, detected from the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Png,
    Jpeg,
    Webp,
    Gif,
}

impl ImageFormat {
    pub const ALL: [Self; 4] = [Self::Png, Self::Jpeg, Self::Webp, Self::Gif];

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
            Self::Gif => "image/gif",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::Webp => "webp",
            Self::Gif => "gif",
        }
    }

    pub fn from_extension(extension: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|format| format.extension() == extension)
    }
}

/// The variants made of every upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// 128 × 128, cropped to fill.
    Thumb,
    /// At most 1024 pixels on the long side.
    Medium,
}

impl Variant {
    pub const ALL: [Self; 2] = [Self::Thumb, Self::Medium];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Thumb => "thumb",
            Self::Medium => "medium",
        }
    }
}

/// Where a stored file is found: `<64 hex digits of SHA-256>.<extension>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileKey(String);

impl FileKey {
    /// The key of bytes whose SHA-256 is `digest` (hex), in `format`.
    ///
    /// # Errors
    /// When `digest` is not 64 lower-case hex digits.
    pub fn new(digest: &str, format: ImageFormat) -> Result<Self, InvalidValue> {
        Self::parse(format!("{digest}.{}", format.extension()))
    }

    /// A key as found in a URL.
    ///
    /// # Errors
    /// When it is not a digest and a known extension.
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into();
        let valid = value.split_once('.').is_some_and(|(digest, extension)| {
            digest.len() == 64
                && digest
                    .bytes()
                    .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
                && ImageFormat::from_extension(extension).is_some()
        });
        if valid {
            Ok(Self(value))
        } else {
            Err(InvalidValue::new("is not a file of Conduit's"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digest part: a strong validator for the file's bytes.
    pub fn digest(&self) -> &str {
        self.0.split_once('.').map_or("", |(digest, _)| digest)
    }

    pub fn format(&self) -> ImageFormat {
        self.0
            .split_once('.')
            .and_then(|(_, extension)| ImageFormat::from_extension(extension))
            .unwrap_or(ImageFormat::Png)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn a_key_is_a_digest_and_the_detected_extension() {
        let key = FileKey::new(DIGEST, ImageFormat::Jpeg).unwrap();
        assert_eq!(key.as_str(), format!("{DIGEST}.jpg"));
        assert_eq!(key.digest(), DIGEST);
        assert_eq!(key.format(), ImageFormat::Jpeg);
        assert_eq!(FileKey::parse(key.as_str()).unwrap(), key);
    }

    #[test]
    fn nothing_else_is_a_key() {
        for bad in [
            "",
            "../etc/passwd",
            &format!("{DIGEST}.svg"),
            &format!("{DIGEST}.png/../x"),
            &format!("{}.png", &DIGEST[1..]),
            &format!("{}.png", DIGEST.to_uppercase()),
            &format!("../{}.png", &DIGEST[3..]),
            "index.html",
        ] {
            assert!(FileKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_name_their_type_and_extension() {
        assert_eq!(ImageFormat::Webp.content_type(), "image/webp");
        assert_eq!(ImageFormat::from_extension("gif"), Some(ImageFormat::Gif));
        assert_eq!(ImageFormat::from_extension("svg"), None);
    }
}
