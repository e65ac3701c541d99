//! Request and response members of each operation, named as in the service
//! model. Requests keep every member optional (see the crate docs); responses
//! omit what is `None`, as AWS omits absent members.

mod aliases;
mod asymmetric;
mod crypto;
mod grants;
mod import;
mod keys;
mod policy;
mod rotation;
mod tags;

pub use aliases::*;
pub use asymmetric::*;
pub use crypto::*;
pub use grants::*;
pub use import::*;
pub use keys::*;
pub use policy::*;
pub use rotation::*;
pub use tags::*;

use crate::validate::Validator;

/// `KeyId`: 1 to 2048 characters.
pub(crate) fn key_id(v: &mut Validator, member: &str, value: &Option<String>, required: bool) {
    if required {
        v.required(member, value);
    }
    v.length(member, value.as_deref(), 1, 2048);
}

/// `Limit` and `Marker` of the list operations.
pub(crate) fn paging(v: &mut Validator, limit: Option<i64>, marker: &Option<String>) {
    v.range("limit", limit, 1, 1000);
    v.length("marker", marker.as_deref(), 1, 1024);
    v.pattern(
        "marker",
        marker.as_deref(),
        crate::validate::patterns::marker,
        crate::validate::patterns::MARKER,
    );
}
