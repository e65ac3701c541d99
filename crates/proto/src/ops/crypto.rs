//! Cryptographic operations on symmetric keys.

use super::key_id;
use crate::blob::{Blob, SecretBlob};
use crate::context::EncryptionContext;
use crate::enums::*;
use crate::validate::{Validate, Validator};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `RecipientInfo` (Nitro Enclaves attestation).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RecipientInfo {
    pub key_encryption_algorithm: Option<WireEnum<KeyEncryptionMechanism>>,
    pub attestation_document: Option<Blob>,
}

pub(crate) fn recipient(v: &mut Validator, r: Option<&RecipientInfo>) {
    if let Some(r) = r {
        v.one_of(
            "recipient.keyEncryptionAlgorithm",
            r.key_encryption_algorithm.as_ref(),
        );
        v.blob_length(
            "recipient.attestationDocument",
            r.attestation_document.as_ref().map(|b| &b.0[..]),
            1,
            262144,
        );
    }
}

/// Whether a request is a dry run that ignores the ciphertext: then KMS
/// does not require `CiphertextBlob` (it checks the named key only).
pub fn ignores_ciphertext(
    dry_run: Option<bool>,
    modifiers: Option<&[WireEnum<DryRunModifierType>]>,
) -> bool {
    dry_run == Some(true)
        && modifiers
            .into_iter()
            .flatten()
            .any(|m| m.known() == Some(DryRunModifierType::IgnoreCiphertext))
}

fn dry_run_modifiers(v: &mut Validator, m: Option<&[WireEnum<DryRunModifierType>]>) {
    v.list_one_of("dryRunModifiers", m);
}

/// Encrypt.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct EncryptRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing)]
    pub plaintext: Option<SecretBlob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context: Option<EncryptionContext>,
    #[serde(skip_serializing)]
    pub grant_tokens: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_algorithm: Option<WireEnum<EncryptionAlgorithmSpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
}

impl Validate for EncryptRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
        v.required("plaintext", &self.plaintext);
        v.blob_length(
            "plaintext",
            self.plaintext.as_ref().map(|b| &b.0[..]),
            1,
            4096,
        );
        v.grant_tokens(self.grant_tokens.as_deref());
        v.one_of("encryptionAlgorithm", self.encryption_algorithm.as_ref());
    }
}

/// Encrypt.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptResponse {
    pub ciphertext_blob: Blob,
    pub key_id: Arc<str>,
    pub encryption_algorithm: EncryptionAlgorithmSpec,
}

/// Decrypt.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct DecryptRequest {
    #[serde(skip_serializing)]
    pub ciphertext_blob: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context: Option<EncryptionContext>,
    #[serde(skip_serializing)]
    pub grant_tokens: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_algorithm: Option<WireEnum<EncryptionAlgorithmSpec>>,
    #[serde(skip_serializing)]
    pub recipient: Option<RecipientInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run_modifiers: Option<Vec<WireEnum<DryRunModifierType>>>,
}

impl Validate for DecryptRequest {
    fn validate(&self, v: &mut Validator) {
        if !ignores_ciphertext(self.dry_run, self.dry_run_modifiers.as_deref()) {
            v.required("ciphertextBlob", &self.ciphertext_blob);
        }
        v.blob_length(
            "ciphertextBlob",
            self.ciphertext_blob.as_ref().map(|b| &b.0[..]),
            1,
            6144,
        );
        v.grant_tokens(self.grant_tokens.as_deref());
        key_id(v, "keyId", &self.key_id, false);
        v.one_of("encryptionAlgorithm", self.encryption_algorithm.as_ref());
        recipient(v, self.recipient.as_ref());
        dry_run_modifiers(v, self.dry_run_modifiers.as_deref());
    }
}

/// Decrypt.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecryptResponse {
    pub key_id: Arc<str>,
    pub plaintext: SecretBlob,
    pub encryption_algorithm: EncryptionAlgorithmSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_id: Option<Arc<str>>,
}

/// ReEncrypt.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct ReEncryptRequest {
    #[serde(skip_serializing)]
    pub ciphertext_blob: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_encryption_context: Option<EncryptionContext>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_encryption_context: Option<EncryptionContext>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_encryption_algorithm: Option<WireEnum<EncryptionAlgorithmSpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_encryption_algorithm: Option<WireEnum<EncryptionAlgorithmSpec>>,
    #[serde(skip_serializing)]
    pub grant_tokens: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run_modifiers: Option<Vec<WireEnum<DryRunModifierType>>>,
}

impl Validate for ReEncryptRequest {
    fn validate(&self, v: &mut Validator) {
        if !ignores_ciphertext(self.dry_run, self.dry_run_modifiers.as_deref()) {
            v.required("ciphertextBlob", &self.ciphertext_blob);
        }
        v.blob_length(
            "ciphertextBlob",
            self.ciphertext_blob.as_ref().map(|b| &b.0[..]),
            1,
            6144,
        );
        key_id(v, "sourceKeyId", &self.source_key_id, false);
        key_id(v, "destinationKeyId", &self.destination_key_id, true);
        v.one_of(
            "sourceEncryptionAlgorithm",
            self.source_encryption_algorithm.as_ref(),
        );
        v.one_of(
            "destinationEncryptionAlgorithm",
            self.destination_encryption_algorithm.as_ref(),
        );
        v.grant_tokens(self.grant_tokens.as_deref());
        dry_run_modifiers(v, self.dry_run_modifiers.as_deref());
    }
}

/// ReEncrypt.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReEncryptResponse {
    pub ciphertext_blob: Blob,
    pub source_key_id: Arc<str>,
    pub key_id: Arc<str>,
    pub source_encryption_algorithm: EncryptionAlgorithmSpec,
    pub destination_encryption_algorithm: EncryptionAlgorithmSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_key_material_id: Option<Arc<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_key_material_id: Option<Arc<str>>,
}

/// GenerateDataKey and GenerateDataKeyWithoutPlaintext.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct GenerateDataKeyRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context: Option<EncryptionContext>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_bytes: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_spec: Option<WireEnum<DataKeySpec>>,
    #[serde(skip_serializing)]
    pub grant_tokens: Option<Vec<String>>,
    #[serde(skip_serializing)]
    pub recipient: Option<RecipientInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
}

impl Validate for GenerateDataKeyRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
        v.range("numberOfBytes", self.number_of_bytes, 1, 1024);
        v.one_of("keySpec", self.key_spec.as_ref());
        v.grant_tokens(self.grant_tokens.as_deref());
        recipient(v, self.recipient.as_ref());
    }
}

/// GenerateDataKey.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyResponse {
    pub ciphertext_blob: Blob,
    pub plaintext: SecretBlob,
    pub key_id: Arc<str>,
    pub key_material_id: Arc<str>,
}

/// GenerateDataKeyWithoutPlaintext.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyWithoutPlaintextResponse {
    pub ciphertext_blob: Blob,
    pub key_id: Arc<str>,
    pub key_material_id: Arc<str>,
}

/// GenerateRandom.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct GenerateRandomRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_bytes: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_key_store_id: Option<String>,
    #[serde(skip_serializing)]
    pub recipient: Option<RecipientInfo>,
}

impl Validate for GenerateRandomRequest {
    fn validate(&self, v: &mut Validator) {
        v.range("numberOfBytes", self.number_of_bytes, 1, 1024);
        v.length(
            "customKeyStoreId",
            self.custom_key_store_id.as_deref(),
            1,
            64,
        );
        recipient(v, self.recipient.as_ref());
    }
}

/// GenerateRandom.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateRandomResponse {
    pub plaintext: SecretBlob,
}
