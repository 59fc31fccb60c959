//! The image adapter against hostile and ordinary files: the type comes
//! from the bytes, bombs are refused from their header, metadata is
//! stripped, orientation applied, and variants have their sizes.

#![expect(clippy::unwrap_used, reason = "tests: failing loudly is the point")]

use std::io::Cursor;

use conduit_application::uploads::{ImageProcessor, ImageRejection};
use conduit_domain::{ImageFormat, Variant};
use conduit_infrastructure::images::{ImageCodec, ImageLimits};
use conduit_infrastructure::testing::png_claiming;
use image::{DynamicImage, Rgba, RgbaImage};

fn codec() -> ImageCodec {
    ImageCodec::new(ImageLimits {
        max_pixels: 40_000_000,
        concurrency: 2,
    })
}

fn picture(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgba8(RgbaImage::from_fn(width, height, |x, y| {
        Rgba([(x % 256) as u8, (y % 256) as u8, 128, 255])
    }))
}

fn encoded(image: &DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    let image = if format == image::ImageFormat::Jpeg {
        DynamicImage::ImageRgb8(image.to_rgb8())
    } else {
        image.clone()
    };
    image
        .write_to(&mut Cursor::new(&mut bytes), format)
        .unwrap();
    bytes
}

async fn refusal(bytes: Vec<u8>) -> ImageRejection {
    match codec().clean(bytes).await {
        Err(Ok(rejection)) => rejection,
        Err(Err(error)) => panic!("processing failed instead of refusing: {error}"),
        Ok(image) => panic!("accepted: {image:?}"),
    }
}

#[tokio::test]
async fn every_accepted_format_is_detected_from_its_bytes_and_re_encoded() {
    for (format, expected) in [
        (image::ImageFormat::Png, ImageFormat::Png),
        (image::ImageFormat::Jpeg, ImageFormat::Jpeg),
        (image::ImageFormat::WebP, ImageFormat::Webp),
        (image::ImageFormat::Gif, ImageFormat::Gif),
    ] {
        let clean = codec()
            .clean(encoded(&picture(64, 48), format))
            .await
            .unwrap();
        assert_eq!(clean.format, expected);
        assert_eq!((clean.width, clean.height), (64, 48));
        assert!(clean.key.as_str().ends_with(expected.extension()));
        assert_eq!(image::guess_format(&clean.bytes).unwrap(), format);
    }
}

#[tokio::test]
async fn what_is_not_an_accepted_image_is_refused_whatever_it_claims() {
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec();
    let html = b"<!DOCTYPE html><html><script>alert(1)</script></html>".to_vec();
    let pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n".to_vec();
    let bmp = encoded(&picture(4, 4), image::ImageFormat::Bmp);
    for bytes in [svg, html, pdf, bmp] {
        assert_eq!(refusal(bytes).await, ImageRejection::UnsupportedType);
    }
    assert_eq!(refusal(Vec::new()).await, ImageRejection::Empty);
    let mut truncated = encoded(&picture(64, 64), image::ImageFormat::Png);
    truncated.truncate(truncated.len() / 2);
    assert_eq!(refusal(truncated).await, ImageRejection::Corrupt);
    let mut garbage = b"\x89PNG\r\n\x1a\n".to_vec();
    garbage.extend_from_slice(&[0x42; 64]);
    assert_eq!(refusal(garbage).await, ImageRejection::Corrupt);
}

#[tokio::test]
async fn a_tiny_png_claiming_ten_billion_pixels_is_refused_from_its_header() {
    let bomb = png_claiming(100_000, 100_000);
    assert!(bomb.len() < 100, "{} bytes", bomb.len());
    assert_eq!(
        refusal(bomb).await,
        ImageRejection::TooManyPixels {
            width: 100_000,
            height: 100_000,
            max: 40_000_000
        }
    );
    // Within the cap, the same lie is found out when decoding.
    assert_eq!(
        refusal(png_claiming(4_000, 4_000)).await,
        ImageRejection::Corrupt
    );
}

/// A JPEG with an EXIF block (orientation `orientation`, and a GPS-looking
/// marker string) inserted after its start-of-image marker.
fn jpeg_with_exif(image: &DynamicImage, orientation: u16) -> Vec<u8> {
    let jpeg = encoded(image, image::ImageFormat::Jpeg);
    let mut tiff = b"II*\0\x08\0\0\0".to_vec();
    tiff.extend_from_slice(&1u16.to_le_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_le_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    tiff.extend_from_slice(b"GPSLatitude 48.8584 N GPSLongitude 2.2945 E");
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let length = u16::try_from(app1.len() + 2).unwrap();
    let mut bytes = jpeg[..2].to_vec();
    bytes.extend_from_slice(&[0xff, 0xe1]);
    bytes.extend_from_slice(&length.to_be_bytes());
    bytes.extend_from_slice(&app1);
    bytes.extend_from_slice(&jpeg[2..]);
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[tokio::test]
async fn exif_and_gps_are_stripped_and_the_orientation_is_applied() {
    let sent = jpeg_with_exif(&picture(60, 20), 6);
    assert!(contains(&sent, b"GPSLatitude"));
    let clean = codec().clean(sent).await.unwrap();
    assert!(!contains(&clean.bytes, b"Exif"), "EXIF kept");
    assert!(!contains(&clean.bytes, b"GPSLatitude"), "GPS kept");
    // Orientation 6: rotated 90° clockwise.
    assert_eq!((clean.width, clean.height), (20, 60));
}

#[tokio::test]
async fn bytes_smuggled_after_the_image_do_not_survive() {
    let mut polyglot = encoded(&picture(8, 8), image::ImageFormat::Png);
    polyglot.extend_from_slice(b"<html><script>alert(document.cookie)</script></html>");
    let clean = codec().clean(polyglot).await.unwrap();
    assert_eq!(clean.format, ImageFormat::Png);
    assert!(!contains(&clean.bytes, b"<script"));
}

#[tokio::test]
async fn the_same_image_gets_the_same_key_and_another_image_another() {
    let first = codec()
        .clean(encoded(&picture(10, 10), image::ImageFormat::Png))
        .await
        .unwrap();
    let again = codec()
        .clean(encoded(&picture(10, 10), image::ImageFormat::Png))
        .await
        .unwrap();
    let other = codec()
        .clean(encoded(&picture(11, 10), image::ImageFormat::Png))
        .await
        .unwrap();
    assert_eq!(first.key, again.key);
    assert_ne!(first.key, other.key);
}

#[tokio::test]
async fn variants_have_their_sizes_and_a_small_image_is_its_own_medium() {
    let original = codec()
        .clean(encoded(&picture(2000, 1000), image::ImageFormat::Png))
        .await
        .unwrap();
    let thumb = codec()
        .variant(original.bytes.clone(), Variant::Thumb)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((thumb.width, thumb.height), (128, 128));
    assert_eq!(thumb.format, ImageFormat::Png);
    let medium = codec()
        .variant(original.bytes.clone(), Variant::Medium)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((medium.width, medium.height), (1024, 512));
    let small = codec()
        .clean(encoded(&picture(300, 200), image::ImageFormat::Jpeg))
        .await
        .unwrap();
    assert!(
        codec()
            .variant(small.bytes, Variant::Medium)
            .await
            .unwrap()
            .is_none()
    );
}
