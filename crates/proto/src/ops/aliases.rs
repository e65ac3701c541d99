//! Alias operations.

use super::{key_id, paging};
use crate::validate::{patterns, Validate, Validator};
use crate::Timestamp;
use serde::{Deserialize, Serialize};

fn alias_name(v: &mut Validator, value: &Option<String>) {
    v.required("aliasName", value);
    v.length("aliasName", value.as_deref(), 1, 256);
    v.pattern(
        "aliasName",
        value.as_deref(),
        patterns::alias_name,
        patterns::ALIAS_NAME,
    );
}

/// CreateAlias and UpdateAlias.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct AliasRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_key_id: Option<String>,
}

impl Validate for AliasRequest {
    fn validate(&self, v: &mut Validator) {
        alias_name(v, &self.alias_name);
        key_id(v, "targetKeyId", &self.target_key_id, true);
    }
}

/// DeleteAlias.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct DeleteAliasRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias_name: Option<String>,
}

impl Validate for DeleteAliasRequest {
    fn validate(&self, v: &mut Validator) {
        alias_name(v, &self.alias_name);
    }
}

/// ListAliases.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct ListAliasesRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

impl Validate for ListAliasesRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, false);
        paging(v, self.limit, &self.marker);
    }
}

/// `AliasListEntry`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasListEntry {
    pub alias_name: String,
    pub alias_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated_date: Option<Timestamp>,
}

/// ListAliases.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAliasesResponse {
    pub aliases: Vec<AliasListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    pub truncated: bool,
}
