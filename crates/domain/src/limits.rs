//! Every size bound of the API in one place, so that validation, the
//! OpenAPI document and the README quote the same numbers.

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
pub const EMAIL_MAX: usize = 254;
/// OWASP ASVS 2.1.1 asks for at least 8; the upper bound keeps hashing cheap.
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;
pub const BIO_MAX: usize = 1_000;
pub const IMAGE_URL_MAX: usize = 2_048;

pub const TITLE_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 500;
pub const BODY_MAX: usize = 100_000;
pub const TAG_MAX: usize = 40;
pub const TAGS_PER_ARTICLE_MAX: usize = 10;
pub const COMMENT_MAX: usize = 5_000;

pub const PAGE_LIMIT_DEFAULT: u32 = 20;
pub const PAGE_LIMIT_MAX: u32 = 100;
/// Far beyond any real list, small enough that `offset + limit` never overflows
/// the database's integer types.
pub const PAGE_OFFSET_MAX: u64 = 1_000_000_000;
