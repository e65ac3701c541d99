//! Imported key material (GetParametersForImport, ImportKeyMaterial,
//! DeleteImportedKeyMaterial) and multi-Region keys (ReplicateKey,
//! UpdatePrimaryRegion).
//!
//! In the audit trail (the `Serialize` side) the import token and the
//! encrypted key material are left out, as CloudTrail leaves them out.

use super::key_id;
use super::keys::{tags, KeyMetadata, Tag};
use crate::blob::Blob;
use crate::enums::*;
use crate::validate::{patterns, Validate, Validator};
use crate::Timestamp;
use serde::{Deserialize, Serialize};

/// `KeyMaterialId` in requests: 64 lowercase hex digits.
fn material_id(v: &mut Validator, value: &Option<String>) {
    v.length("keyMaterialId", value.as_deref(), 64, 64);
    v.pattern(
        "keyMaterialId",
        value.as_deref(),
        |s| {
            s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        },
        "^[a-f0-9]+$",
    );
}

/// GetParametersForImport.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct GetParametersForImportRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrapping_algorithm: Option<WireEnum<AlgorithmSpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrapping_key_spec: Option<WireEnum<WrappingKeySpec>>,
}

impl Validate for GetParametersForImportRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
        v.required("wrappingAlgorithm", &self.wrapping_algorithm);
        v.one_of("wrappingAlgorithm", self.wrapping_algorithm.as_ref());
        v.required("wrappingKeySpec", &self.wrapping_key_spec);
        v.one_of("wrappingKeySpec", self.wrapping_key_spec.as_ref());
    }
}

/// GetParametersForImport.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetParametersForImportResponse {
    pub key_id: String,
    pub import_token: Blob,
    pub public_key: Blob,
    pub parameters_valid_to: Timestamp,
}

/// ImportKeyMaterial.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct ImportKeyMaterialRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing)]
    pub import_token: Option<Blob>,
    #[serde(skip_serializing)]
    pub encrypted_key_material: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_model: Option<WireEnum<ExpirationModelType>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import_type: Option<WireEnum<ImportType>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_id: Option<String>,
}

impl Validate for ImportKeyMaterialRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
        v.required("importToken", &self.import_token);
        v.blob_length(
            "importToken",
            self.import_token.as_ref().map(|b| &b.0[..]),
            1,
            6144,
        );
        v.required("encryptedKeyMaterial", &self.encrypted_key_material);
        v.blob_length(
            "encryptedKeyMaterial",
            self.encrypted_key_material.as_ref().map(|b| &b.0[..]),
            1,
            6144,
        );
        v.one_of("expirationModel", self.expiration_model.as_ref());
        v.one_of("importType", self.import_type.as_ref());
        v.length(
            "keyMaterialDescription",
            self.key_material_description.as_deref(),
            0,
            256,
        );
        v.pattern(
            "keyMaterialDescription",
            self.key_material_description.as_deref(),
            |s| {
                !s.is_empty()
                    && s.chars().all(|c| {
                        c.is_ascii_alphanumeric() || ":/_.-".contains(c) || c.is_whitespace()
                    })
            },
            "^[a-zA-Z0-9:/_\\s.-]+$",
        );
        material_id(v, &self.key_material_id);
    }
}

/// ImportKeyMaterial.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImportKeyMaterialResponse {
    pub key_id: String,
    pub key_material_id: String,
}

/// DeleteImportedKeyMaterial.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct DeleteImportedKeyMaterialRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_id: Option<String>,
}

impl Validate for DeleteImportedKeyMaterialRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
        material_id(v, &self.key_material_id);
    }
}

/// DeleteImportedKeyMaterial.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteImportedKeyMaterialResponse {
    pub key_id: String,
    /// Absent when the key had no material to delete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_id: Option<String>,
}

fn region(v: &mut Validator, member: &str, value: &Option<String>) {
    v.required(member, value);
    v.length(member, value.as_deref(), 1, 32);
    v.pattern(member, value.as_deref(), patterns::region, patterns::REGION);
}

/// ReplicateKey.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct ReplicateKeyRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bypass_policy_lockout_safety_check: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
}

impl Validate for ReplicateKeyRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
        region(v, "replicaRegion", &self.replica_region);
        v.length("policy", self.policy.as_deref(), 1, 131072);
        v.pattern(
            "policy",
            self.policy.as_deref(),
            patterns::policy,
            patterns::POLICY,
        );
        v.length("description", self.description.as_deref(), 0, 8192);
        tags(v, "tags", self.tags.as_deref());
    }
}

/// ReplicateKey.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicateKeyResponse {
    pub replica_key_metadata: KeyMetadata,
    pub replica_policy: String,
    pub replica_tags: Vec<Tag>,
}

/// UpdatePrimaryRegion.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct UpdatePrimaryRegionRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_region: Option<String>,
}

impl Validate for UpdatePrimaryRegionRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
        region(v, "primaryRegion", &self.primary_region);
    }
}
