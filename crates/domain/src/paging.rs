//! Bounds of a list page.

use crate::error::InvalidValue;
use crate::limits::{PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, PAGE_OFFSET_MAX};

/// A validated `limit`/`offset` pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Paging {
    limit: u32,
    offset: u64,
}

impl Paging {
    /// Builds a page from optional query values, applying the defaults.
    ///
    /// # Errors
    /// Returns which field is out of bounds, and why.
    pub fn new(
        limit: Option<i64>,
        offset: Option<i64>,
    ) -> Result<Self, (&'static str, InvalidValue)> {
        let limit = match limit {
            None => PAGE_LIMIT_DEFAULT,
            Some(value) if (1..=i64::from(PAGE_LIMIT_MAX)).contains(&value) => {
                u32::try_from(value).map_err(|_| ("limit", limit_error()))?
            }
            Some(_) => return Err(("limit", limit_error())),
        };
        let offset = match offset {
            None => 0,
            Some(value) => u64::try_from(value)
                .ok()
                .filter(|value| *value <= PAGE_OFFSET_MAX)
                .ok_or((
                    "offset",
                    InvalidValue::new(format!("must be between 0 and {PAGE_OFFSET_MAX}")),
                ))?,
        };
        Ok(Self { limit, offset })
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl Default for Paging {
    fn default() -> Self {
        Self {
            limit: PAGE_LIMIT_DEFAULT,
            offset: 0,
        }
    }
}

fn limit_error() -> InvalidValue {
    InvalidValue::new(format!("must be between 1 and {PAGE_LIMIT_MAX}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_to_twenty_items_from_the_start() {
        let paging = Paging::new(None, None).unwrap();
        assert_eq!((paging.limit(), paging.offset()), (20, 0));
    }

    #[test]
    fn accepts_the_bounds() {
        assert_eq!(Paging::new(Some(1), Some(0)).unwrap().limit(), 1);
        assert_eq!(Paging::new(Some(100), None).unwrap().limit(), 100);
        assert_eq!(
            Paging::new(None, Some(1_000_000_000)).unwrap().offset(),
            1_000_000_000
        );
    }

    #[test]
    fn rejects_limits_outside_one_to_one_hundred() {
        for limit in [0, -1, 101, 1_000_000, i64::MAX, i64::MIN] {
            assert_eq!(Paging::new(Some(limit), None).unwrap_err().0, "limit");
        }
    }

    #[test]
    fn rejects_negative_and_huge_offsets() {
        for offset in [-1, 1_000_000_001, i64::MAX, i64::MIN] {
            assert_eq!(Paging::new(None, Some(offset)).unwrap_err().0, "offset");
        }
    }
}
