//! The application's `ImageProcessor` on the `image` crate. The format comes
//! from the bytes (magic numbers), never from the client; the dimensions
//! are read from the header and capped before anything is decoded, and
//! decoding runs under memory limits, on blocking threads, a bounded number
//! at a time. Every stored image is re-encoded from its pixels, which drops
//! EXIF (GPS included) and anything smuggled after the image data, with the
//! EXIF orientation applied first.

use std::io::Cursor;
use std::sync::Arc;

use async_trait::async_trait;
use conduit_application::AppError;
use conduit_application::error::Cause;
use conduit_application::uploads::{CleanImage, ImageProcessor, ImageRejection};
use conduit_domain::{FileKey, ImageFormat, Variant};
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageReader, Limits};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

/// Side of the square thumbnail.
pub const THUMB_SIDE: u32 = 128;
/// Longest side of the medium size.
pub const MEDIUM_SIDE: u32 = 1024;
const JPEG_QUALITY: u8 = 85;

/// Limits on what is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    /// Width × height beyond which an image is refused unread.
    pub max_pixels: u64,
    /// Images decoded at once.
    pub concurrency: usize,
}

/// Decodes and encodes images on blocking threads, `concurrency` at a time.
#[derive(Debug, Clone)]
pub struct ImageCodec {
    limits: ImageLimits,
    permits: Arc<Semaphore>,
}

type Outcome<T> = Result<T, Result<ImageRejection, AppError>>;

fn failed(error: impl std::fmt::Display) -> AppError {
    AppError::Internal(Cause::from(format!("image processing: {error}")))
}

fn format_of(format: image::ImageFormat) -> Option<ImageFormat> {
    match format {
        image::ImageFormat::Png => Some(ImageFormat::Png),
        image::ImageFormat::Jpeg => Some(ImageFormat::Jpeg),
        image::ImageFormat::WebP => Some(ImageFormat::Webp),
        image::ImageFormat::Gif => Some(ImageFormat::Gif),
        _ => None,
    }
}

fn codec_format(format: ImageFormat) -> image::ImageFormat {
    match format {
        ImageFormat::Png => image::ImageFormat::Png,
        ImageFormat::Jpeg => image::ImageFormat::Jpeg,
        ImageFormat::Webp => image::ImageFormat::WebP,
        ImageFormat::Gif => image::ImageFormat::Gif,
    }
}

/// `image` into `format`, keyed by the SHA-256 of the result.
fn encode(image: &DynamicImage, format: ImageFormat) -> Result<CleanImage, AppError> {
    let mut bytes = Vec::new();
    match format {
        // JPEG has no alpha channel.
        ImageFormat::Jpeg => JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY)
            .encode_image(&image.to_rgb8())
            .map_err(failed)?,
        // The WebP and GIF encoders take 8-bit RGBA.
        ImageFormat::Webp | ImageFormat::Gif => DynamicImage::ImageRgba8(image.to_rgba8())
            .write_to(&mut Cursor::new(&mut bytes), codec_format(format))
            .map_err(failed)?,
        ImageFormat::Png => image
            .write_to(&mut Cursor::new(&mut bytes), codec_format(format))
            .map_err(failed)?,
    }
    let digest = format!("{:x}", Sha256::digest(&bytes));
    let key = FileKey::new(&digest, format).map_err(|error| failed(error.message))?;
    Ok(CleanImage {
        width: image.width(),
        height: image.height(),
        bytes,
        format,
        key,
    })
}

impl ImageCodec {
    pub fn new(limits: ImageLimits) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limits.concurrency.max(1))),
            limits,
        }
    }

    /// What the decoder may allocate: the pixels at 8 bytes each (16-bit
    /// RGBA, the widest the formats here decode to) and some slack.
    fn decode_limits(&self) -> Limits {
        let mut limits = Limits::default();
        let side = u32::try_from(self.limits.max_pixels).unwrap_or(u32::MAX);
        limits.max_image_width = Some(side);
        limits.max_image_height = Some(side);
        limits.max_alloc = Some(self.limits.max_pixels.saturating_mul(8) + (16 << 20));
        limits
    }

    /// Runs `work` on a blocking thread once a permit is free.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let _permit = self.permits.acquire().await.map_err(failed)?;
        tokio::task::spawn_blocking(work).await.map_err(failed)
    }

    fn decode(
        bytes: &[u8],
        limits: Limits,
        max_pixels: u64,
    ) -> Outcome<(DynamicImage, ImageFormat)> {
        if bytes.is_empty() {
            return Err(Ok(ImageRejection::Empty));
        }
        let format = image::guess_format(bytes)
            .ok()
            .and_then(format_of)
            .ok_or(Ok(ImageRejection::UnsupportedType))?;
        let reader = |limits: Limits| {
            let mut reader = ImageReader::with_format(Cursor::new(bytes), codec_format(format));
            reader.limits(limits);
            reader
        };
        // The header alone says how big it is: refuse before decoding.
        let (width, height) = reader(limits.clone())
            .into_dimensions()
            .map_err(|_| Ok(ImageRejection::Corrupt))?;
        if u64::from(width) * u64::from(height) > max_pixels {
            return Err(Ok(ImageRejection::TooManyPixels {
                width,
                height,
                max: max_pixels,
            }));
        }
        let mut decoder = reader(limits)
            .into_decoder()
            .map_err(|_| Ok(ImageRejection::Corrupt))?;
        let orientation = decoder
            .orientation()
            .map_err(|_| Ok(ImageRejection::Corrupt))?;
        let mut image =
            DynamicImage::from_decoder(decoder).map_err(|_| Ok(ImageRejection::Corrupt))?;
        image.apply_orientation(orientation);
        Ok((image, format))
    }
}

#[async_trait]
impl ImageProcessor for ImageCodec {
    async fn clean(&self, bytes: Vec<u8>) -> Outcome<CleanImage> {
        let limits = self.decode_limits();
        let max_pixels = self.limits.max_pixels;
        self.run(move || {
            let (image, format) = Self::decode(&bytes, limits, max_pixels)?;
            encode(&image, format).map_err(Err)
        })
        .await
        .map_err(Err)?
    }

    async fn variant(
        &self,
        original: Vec<u8>,
        variant: Variant,
    ) -> Result<Option<CleanImage>, AppError> {
        let limits = self.decode_limits();
        let max_pixels = self.limits.max_pixels;
        self.run(move || {
            let (image, format) =
                Self::decode(&original, limits, max_pixels).map_err(|refused| match refused {
                    Ok(rejection) => failed(rejection),
                    Err(error) => error,
                })?;
            let resized = match variant {
                Variant::Thumb if (image.width(), image.height()) == (THUMB_SIDE, THUMB_SIDE) => {
                    return Ok(None);
                }
                Variant::Thumb => {
                    image.resize_to_fill(THUMB_SIDE, THUMB_SIDE, FilterType::Lanczos3)
                }
                Variant::Medium if image.width().max(image.height()) <= MEDIUM_SIDE => {
                    return Ok(None);
                }
                Variant::Medium => image.resize(MEDIUM_SIDE, MEDIUM_SIDE, FilterType::Lanczos3),
            };
            encode(&resized, format).map(Some)
        })
        .await?
    }
}
