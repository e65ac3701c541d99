//! Key lifecycle operations.

use super::{key_id, paging};
use crate::enums::*;
use crate::validate::{patterns, Validate, Validator};
use crate::Timestamp;
use serde::{Deserialize, Serialize};

/// A tag (`Tag`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// TagKey.
    #[serde(default)]
    pub tag_key: Option<String>,
    /// TagValue.
    #[serde(default)]
    pub tag_value: Option<String>,
}

/// Validate a `Tags` list member by member (`tags.1.member.tagKey`).
pub(crate) fn tags(v: &mut Validator, member: &str, tags: Option<&[Tag]>) {
    for (i, t) in tags.unwrap_or_default().iter().enumerate() {
        let k = format!("{member}.{}.member.tagKey", i + 1);
        let val = format!("{member}.{}.member.tagValue", i + 1);
        v.required(&k, &t.tag_key);
        v.length(&k, t.tag_key.as_deref(), 1, 128);
        v.required(&val, &t.tag_value);
        v.length(&val, t.tag_value.as_deref(), 0, 256);
    }
}

/// CreateKey.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct CreateKeyRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_usage: Option<WireEnum<KeyUsageType>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_master_key_spec: Option<WireEnum<CustomerMasterKeySpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_spec: Option<WireEnum<KeySpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<WireEnum<OriginType>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_key_store_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bypass_policy_lockout_safety_check: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_region: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xks_key_id: Option<String>,
}

impl Validate for CreateKeyRequest {
    fn validate(&self, v: &mut Validator) {
        v.length("policy", self.policy.as_deref(), 1, 131072);
        v.pattern(
            "policy",
            self.policy.as_deref(),
            patterns::policy,
            patterns::POLICY,
        );
        v.length("description", self.description.as_deref(), 0, 8192);
        v.one_of("keyUsage", self.key_usage.as_ref());
        v.one_of(
            "customerMasterKeySpec",
            self.customer_master_key_spec.as_ref(),
        );
        v.one_of("keySpec", self.key_spec.as_ref());
        v.one_of("origin", self.origin.as_ref());
        v.length(
            "customKeyStoreId",
            self.custom_key_store_id.as_deref(),
            1,
            64,
        );
        tags(v, "tags", self.tags.as_deref());
        v.length("xksKeyId", self.xks_key_id.as_deref(), 1, 128);
    }
}

/// `MultiRegionKey`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MultiRegionKey {
    pub arn: String,
    pub region: String,
}

/// `MultiRegionConfiguration`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MultiRegionConfiguration {
    pub multi_region_key_type: &'static str,
    pub primary_key: MultiRegionKey,
    pub replica_keys: Vec<MultiRegionKey>,
}

/// `KeyMetadata`, as CreateKey and DescribeKey return it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadata {
    #[serde(rename = "AWSAccountId")]
    pub aws_account_id: String,
    pub key_id: String,
    pub arn: String,
    pub creation_date: Timestamp,
    pub enabled: bool,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_usage: Option<KeyUsageType>,
    pub key_state: KeyState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<Timestamp>,
    pub origin: OriginType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_model: Option<ExpirationModelType>,
    pub key_manager: KeyManagerType,
    /// AWS shows the deprecated name for every spec, the ones its enum
    /// never listed (ML_DSA_*) included.
    pub customer_master_key_spec: KeySpec,
    pub key_spec: KeySpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_algorithms: Option<Vec<EncryptionAlgorithmSpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_algorithms: Option<Vec<SigningAlgorithmSpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_agreement_algorithms: Option<Vec<KeyAgreementAlgorithmSpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encapsulation_algorithms: Option<Vec<EncapsulationAlgorithmSpec>>,
    pub multi_region: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_region_configuration: Option<MultiRegionConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_deletion_window_in_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_algorithms: Option<Vec<MacAlgorithmSpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_key_material_id: Option<String>,
}

/// CreateKey.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateKeyResponse {
    pub key_metadata: KeyMetadata,
}

/// DescribeKey.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct DescribeKeyRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing)]
    pub grant_tokens: Option<Vec<String>>,
}

impl Validate for DescribeKeyRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
        v.grant_tokens(self.grant_tokens.as_deref());
    }
}

/// DescribeKey.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeKeyResponse {
    pub key_metadata: KeyMetadata,
}

/// ListKeys.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct ListKeysRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_owners: Option<Vec<WireEnum<ResourceOwnerType>>>,
}

impl Validate for ListKeysRequest {
    fn validate(&self, v: &mut Validator) {
        paging(v, self.limit, &self.marker);
        v.list_length("resourceOwners", self.resource_owners.as_deref(), 1, 2);
        v.list_one_of("resourceOwners", self.resource_owners.as_deref());
    }
}

/// `KeyListEntry`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyListEntry {
    pub key_id: String,
    pub key_arn: String,
}

/// ListKeys.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeysResponse {
    pub keys: Vec<KeyListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    pub truncated: bool,
}

/// A request whose only member is a required `KeyId`: EnableKey, DisableKey,
/// CancelKeyDeletion, DisableKeyRotation, GetKeyRotationStatus,
/// RotateKeyOnDemand, GetKeyLastUsage.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct KeyIdRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

impl Validate for KeyIdRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
    }
}

/// A response whose only member is `KeyId` (CancelKeyDeletion,
/// RotateKeyOnDemand).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyIdResponse {
    pub key_id: String,
}

/// UpdateKeyDescription.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct UpdateKeyDescriptionRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Validate for UpdateKeyDescriptionRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
        v.required("description", &self.description);
        v.length("description", self.description.as_deref(), 0, 8192);
    }
}

/// ScheduleKeyDeletion.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct ScheduleKeyDeletionRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_window_in_days: Option<i64>,
}

impl Validate for ScheduleKeyDeletionRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
        v.range("pendingWindowInDays", self.pending_window_in_days, 1, 365);
    }
}

/// ScheduleKeyDeletion.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleKeyDeletionResponse {
    pub key_id: String,
    /// Absent for a multi-Region primary key with replicas: its date is
    /// known only when its last replica is deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<Timestamp>,
    pub key_state: KeyState,
    pub pending_window_in_days: i64,
}

/// `KeyLastUsageData`.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyLastUsageData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<KeyLastUsageTrackingOperation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_trail_event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_request_id: Option<String>,
}

/// GetKeyLastUsage.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyLastUsageResponse {
    pub key_id: String,
    pub key_last_usage: KeyLastUsageData,
    pub tracking_start_date: Timestamp,
    pub key_creation_date: Timestamp,
}
