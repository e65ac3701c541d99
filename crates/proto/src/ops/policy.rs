//! Key policy operations.

use super::{key_id, paging};
use crate::validate::{patterns, Validate, Validator};
use serde::{Deserialize, Serialize};

fn policy_name(v: &mut Validator, value: &Option<String>, required: bool) {
    if required {
        v.required("policyName", value);
    }
    v.length("policyName", value.as_deref(), 1, 128);
    v.pattern(
        "policyName",
        value.as_deref(),
        patterns::policy_name,
        patterns::POLICY_NAME,
    );
}

/// GetKeyPolicy.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct GetKeyPolicyRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
}

impl Validate for GetKeyPolicyRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
        policy_name(v, &self.policy_name, false);
    }
}

/// GetKeyPolicy.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyPolicyResponse {
    pub policy: String,
    pub policy_name: String,
}

/// PutKeyPolicy.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct PutKeyPolicyRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bypass_policy_lockout_safety_check: Option<bool>,
}

impl Validate for PutKeyPolicyRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
        policy_name(v, &self.policy_name, false);
        v.required("policy", &self.policy);
        v.length("policy", self.policy.as_deref(), 1, 131072);
        v.pattern(
            "policy",
            self.policy.as_deref(),
            patterns::policy,
            patterns::POLICY,
        );
    }
}

/// ListKeyPolicies.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct ListKeyPoliciesRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

impl Validate for ListKeyPoliciesRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
        paging(v, self.limit, &self.marker);
    }
}

/// ListKeyPolicies.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeyPoliciesResponse {
    pub policy_names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    pub truncated: bool,
}
