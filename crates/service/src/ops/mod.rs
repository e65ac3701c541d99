//! The operations, grouped by what they act on.

mod aliases;
mod asymmetric;
mod crypto;
mod grants;
mod import;
mod keys;
mod multi_region;
mod policy;
mod rotation;
mod tags;

pub(crate) use keys::check_tags;

use crate::ServiceError;

/// `Limit` → page size: the default when absent, capped at `max`.
pub(crate) fn page_size(limit: Option<i64>, default: usize, max: usize) -> usize {
    limit
        .and_then(|l| usize::try_from(l).ok())
        .unwrap_or(default)
        .clamp(1, max)
}

/// Fetch one more than a page to learn whether the list is truncated.
pub(crate) fn split_page<T>(mut items: Vec<T>, size: usize) -> (Vec<T>, bool) {
    let truncated = items.len() > size;
    items.truncate(size);
    (items, truncated)
}

/// A marker of `kind`, or `InvalidMarkerException`.
pub(crate) fn read_marker(
    kind: &str,
    marker: Option<&str>,
) -> Result<Option<String>, ServiceError> {
    marker
        .map(|m| crate::marker::decode(kind, m).ok_or(ServiceError::InvalidMarker))
        .transpose()
}

/// An offset marker (for lists kept inside a key record).
pub(crate) fn read_offset(kind: &str, marker: Option<&str>) -> Result<usize, ServiceError> {
    match read_marker(kind, marker)? {
        None => Ok(0),
        Some(s) => s.parse().map_err(|_| ServiceError::InvalidMarker),
    }
}
