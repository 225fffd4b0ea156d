//! Cursor pagination as the App API speaks it: `start` (an opaque cursor, the `next` of the
//! previous page) and `limit` (1–1000, default 50); `next` is empty on the last page. The
//! cursor is a position in the list's own order: below it for newest-first lists (activities,
//! rejected messages), above it for key-ordered ones (segment members).

use crate::ApiError;

/// A validated page request: continue past `past` (exclusive), at most `limit` items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub past: Option<i64>,
    pub limit: usize,
}

impl PageRequest {
    pub fn parse(start: Option<&str>, limit: Option<&str>) -> Result<Self, ApiError> {
        let limit = match limit {
            None | Some("") => 50,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request("limit", "limit must be an integer from 1 to 1000")
                })?,
        };
        let past = match start {
            None | Some("") => None,
            Some(cursor) => Some(cursor.parse::<i64>().map_err(|_| {
                ApiError::bad_request("start", "start must be a cursor returned as next")
            })?),
        };
        Ok(Self { past, limit })
    }

    /// The `next` cursor for a page whose last item has position `last`.
    pub fn next(&self, returned: usize, last: Option<i64>) -> String {
        match last {
            Some(position) if returned == self.limit => position.to_string(),
            _ => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_bounds_and_cursors() {
        assert_eq!(
            PageRequest::parse(None, None).unwrap(),
            PageRequest {
                past: None,
                limit: 50
            }
        );
        assert_eq!(
            PageRequest::parse(Some("42"), Some("10")).unwrap(),
            PageRequest {
                past: Some(42),
                limit: 10
            }
        );
        assert_eq!(
            PageRequest::parse(None, Some("0"))
                .unwrap_err()
                .field
                .as_deref(),
            Some("limit")
        );
        assert_eq!(
            PageRequest::parse(None, Some("1001"))
                .unwrap_err()
                .field
                .as_deref(),
            Some("limit")
        );
        assert_eq!(
            PageRequest::parse(Some("x"), None)
                .unwrap_err()
                .field
                .as_deref(),
            Some("start")
        );
        let page = PageRequest {
            past: None,
            limit: 2,
        };
        assert_eq!(page.next(2, Some(7)), "7");
        assert_eq!(page.next(1, Some(7)), "", "a short page is the last");
    }
}
