//! Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant,
//! RevokeGrant.

use super::{key_id, paging};
use crate::enums::*;
use crate::validate::{Validate, Validator};
use crate::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `PrincipalIdType`: `^[\w+=,.@:/-]+$`, 1 to 256.
fn principal(v: &mut Validator, member: &str, value: Option<&str>) {
    v.length(member, value, 1, 256);
    v.pattern(member, value, principal_chars, r"^[\w+=,.@:/-]+$");
}

fn principal_chars(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_alphanumeric() || c == '_' || "+=,.@:/-".contains(c))
}

/// `ServicePrincipalType`: 1 to 128.
fn service_principal(v: &mut Validator, member: &str, value: Option<&str>) {
    v.length(member, value, 1, 128);
}

/// `GrantIdType`: 1 to 128.
fn grant_id(v: &mut Validator, member: &str, value: &Option<String>, required: bool) {
    if required {
        v.required(member, value);
    }
    v.length(member, value.as_deref(), 1, 128);
}

/// `GrantConstraints`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GrantConstraints {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_arn: Option<String>,
}

/// CreateGrant.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct CreateGrantRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grantee_principal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retiring_principal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operations: Option<Vec<WireEnum<GrantOperation>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraints: Option<GrantConstraints>,
    #[serde(skip_serializing)]
    pub grant_tokens: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grantee_service_principal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retiring_service_principal: Option<String>,
}

impl Validate for CreateGrantRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
        principal(v, "granteePrincipal", self.grantee_principal.as_deref());
        principal(v, "retiringPrincipal", self.retiring_principal.as_deref());
        v.required("operations", &self.operations);
        v.list_one_of("operations", self.operations.as_deref());
        v.grant_tokens(self.grant_tokens.as_deref());
        v.length("name", self.name.as_deref(), 1, 256);
        v.pattern(
            "name",
            self.name.as_deref(),
            crate::validate::patterns::alias_name,
            crate::validate::patterns::ALIAS_NAME,
        );
        service_principal(
            v,
            "granteeServicePrincipal",
            self.grantee_service_principal.as_deref(),
        );
        service_principal(
            v,
            "retiringServicePrincipal",
            self.retiring_service_principal.as_deref(),
        );
        if let Some(c) = &self.constraints {
            v.length("constraints.sourceArn", c.source_arn.as_deref(), 20, 512);
        }
    }
}

/// CreateGrant.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateGrantResponse {
    pub grant_token: String,
    pub grant_id: String,
}

/// ListGrants.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct ListGrantsRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grantee_principal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grantee_service_principal: Option<String>,
}

impl Validate for ListGrantsRequest {
    fn validate(&self, v: &mut Validator) {
        paging(v, self.limit, &self.marker);
        key_id(v, "keyId", &self.key_id, true);
        grant_id(v, "grantId", &self.grant_id, false);
        principal(v, "granteePrincipal", self.grantee_principal.as_deref());
        service_principal(
            v,
            "granteeServicePrincipal",
            self.grantee_service_principal.as_deref(),
        );
    }
}

/// `GrantListEntry`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GrantListEntry {
    pub key_id: String,
    pub grant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub creation_date: Timestamp,
    pub grantee_principal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retiring_principal: Option<String>,
    pub issuing_account: String,
    pub operations: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraints: Option<GrantConstraints>,
}

/// ListGrants and ListRetirableGrants.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListGrantsResponse {
    pub grants: Vec<GrantListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    pub truncated: bool,
}

/// ListRetirableGrants.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct ListRetirableGrantsRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retiring_principal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retiring_service_principal: Option<String>,
}

impl Validate for ListRetirableGrantsRequest {
    fn validate(&self, v: &mut Validator) {
        paging(v, self.limit, &self.marker);
        principal(v, "retiringPrincipal", self.retiring_principal.as_deref());
        service_principal(
            v,
            "retiringServicePrincipal",
            self.retiring_service_principal.as_deref(),
        );
    }
}

/// RetireGrant.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct RetireGrantRequest {
    /// A grant token: never recorded.
    #[serde(skip_serializing)]
    pub grant_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
}

impl Validate for RetireGrantRequest {
    fn validate(&self, v: &mut Validator) {
        v.secret_length("grantToken", self.grant_token.as_deref(), 1, 8192);
        key_id(v, "keyId", &self.key_id, false);
        grant_id(v, "grantId", &self.grant_id, false);
    }
}

/// RevokeGrant.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct RevokeGrantRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
}

impl Validate for RevokeGrantRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
        grant_id(v, "grantId", &self.grant_id, true);
    }
}
