//! Tag operations.

use super::keys::{tags, Tag};
use super::{key_id, paging};
use crate::validate::{Validate, Validator};
use serde::{Deserialize, Serialize};

/// TagResource.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct TagResourceRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
}

impl Validate for TagResourceRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
        v.required("tags", &self.tags);
        tags(v, "tags", self.tags.as_deref());
    }
}

/// UntagResource.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct UntagResourceRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_keys: Option<Vec<String>>,
}

impl Validate for UntagResourceRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
        v.required("tagKeys", &self.tag_keys);
        for (i, k) in self
            .tag_keys
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            v.length(&format!("tagKeys.{}.member", i + 1), Some(k), 1, 128);
        }
    }
}

/// ListResourceTags.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct ListResourceTagsRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

impl Validate for ListResourceTagsRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
        paging(v, self.limit, &self.marker);
    }
}

/// ListResourceTags.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListResourceTagsResponse {
    pub tags: Vec<Tag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    pub truncated: bool,
}
