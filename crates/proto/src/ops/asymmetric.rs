//! Operations of asymmetric and HMAC keys: Sign, Verify, GetPublicKey,
//! GenerateMac, VerifyMac, DeriveSharedSecret, Encapsulate, Decapsulate,
//! GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext.
//!
//! In the audit trail (the `Serialize` side) messages, signatures, MACs and
//! peer keys are left out, as CloudTrail leaves them out.

use super::crypto::RecipientInfo;
use super::key_id;
use crate::blob::{Blob, SecretBlob};
use crate::context::EncryptionContext;
use crate::enums::*;
use crate::validate::{Validate, Validator};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Sign.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct SignRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing)]
    pub message: Option<SecretBlob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_type: Option<WireEnum<MessageType>>,
    #[serde(skip_serializing)]
    pub grant_tokens: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_algorithm: Option<WireEnum<SigningAlgorithmSpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
}

fn message(v: &mut Validator, m: &Option<SecretBlob>) {
    v.required("message", m);
    v.blob_length("message", m.as_ref().map(|b| &b.0[..]), 1, 4096);
}

impl Validate for SignRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
        message(v, &self.message);
        v.one_of("messageType", self.message_type.as_ref());
        v.grant_tokens(self.grant_tokens.as_deref());
        v.required("signingAlgorithm", &self.signing_algorithm);
        v.one_of("signingAlgorithm", self.signing_algorithm.as_ref());
    }
}

/// Sign.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignResponse {
    pub key_id: Arc<str>,
    pub signature: Blob,
    pub signing_algorithm: SigningAlgorithmSpec,
}

/// Verify.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct VerifyRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing)]
    pub message: Option<SecretBlob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_type: Option<WireEnum<MessageType>>,
    #[serde(skip_serializing)]
    pub signature: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_algorithm: Option<WireEnum<SigningAlgorithmSpec>>,
    #[serde(skip_serializing)]
    pub grant_tokens: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
}

impl Validate for VerifyRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
        message(v, &self.message);
        v.one_of("messageType", self.message_type.as_ref());
        v.required("signature", &self.signature);
        v.blob_length(
            "signature",
            self.signature.as_ref().map(|b| &b.0[..]),
            1,
            6144,
        );
        v.required("signingAlgorithm", &self.signing_algorithm);
        v.one_of("signingAlgorithm", self.signing_algorithm.as_ref());
        v.grant_tokens(self.grant_tokens.as_deref());
    }
}

/// Verify.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyResponse {
    pub key_id: Arc<str>,
    pub signature_valid: bool,
    pub signing_algorithm: SigningAlgorithmSpec,
}

/// GetPublicKey.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct GetPublicKeyRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing)]
    pub grant_tokens: Option<Vec<String>>,
}

impl Validate for GetPublicKeyRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
        v.grant_tokens(self.grant_tokens.as_deref());
    }
}

/// GetPublicKey.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetPublicKeyResponse {
    pub key_id: Arc<str>,
    pub public_key: Blob,
    pub customer_master_key_spec: KeySpec,
    pub key_spec: KeySpec,
    pub key_usage: KeyUsageType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_algorithms: Option<Vec<EncryptionAlgorithmSpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_algorithms: Option<Vec<SigningAlgorithmSpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_agreement_algorithms: Option<Vec<KeyAgreementAlgorithmSpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encapsulation_algorithms: Option<Vec<EncapsulationAlgorithmSpec>>,
}

/// GenerateMac.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct GenerateMacRequest {
    #[serde(skip_serializing)]
    pub message: Option<SecretBlob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_algorithm: Option<WireEnum<MacAlgorithmSpec>>,
    #[serde(skip_serializing)]
    pub grant_tokens: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
}

impl Validate for GenerateMacRequest {
    fn validate(&self, v: &mut Validator) {
        message(v, &self.message);
        key_id(v, "keyId", &self.key_id, true);
        v.required("macAlgorithm", &self.mac_algorithm);
        v.one_of("macAlgorithm", self.mac_algorithm.as_ref());
        v.grant_tokens(self.grant_tokens.as_deref());
    }
}

/// GenerateMac.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateMacResponse {
    pub mac: Blob,
    pub mac_algorithm: MacAlgorithmSpec,
    pub key_id: Arc<str>,
}

/// VerifyMac.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct VerifyMacRequest {
    #[serde(skip_serializing)]
    pub message: Option<SecretBlob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_algorithm: Option<WireEnum<MacAlgorithmSpec>>,
    #[serde(skip_serializing)]
    pub mac: Option<Blob>,
    #[serde(skip_serializing)]
    pub grant_tokens: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
}

impl Validate for VerifyMacRequest {
    fn validate(&self, v: &mut Validator) {
        message(v, &self.message);
        key_id(v, "keyId", &self.key_id, true);
        v.required("macAlgorithm", &self.mac_algorithm);
        v.one_of("macAlgorithm", self.mac_algorithm.as_ref());
        v.required("mac", &self.mac);
        v.blob_length("mac", self.mac.as_ref().map(|b| &b.0[..]), 1, 6144);
        v.grant_tokens(self.grant_tokens.as_deref());
    }
}

/// VerifyMac.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyMacResponse {
    pub key_id: Arc<str>,
    pub mac_valid: bool,
    pub mac_algorithm: MacAlgorithmSpec,
}

/// DeriveSharedSecret.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct DeriveSharedSecretRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_agreement_algorithm: Option<WireEnum<KeyAgreementAlgorithmSpec>>,
    #[serde(skip_serializing)]
    pub public_key: Option<Blob>,
    #[serde(skip_serializing)]
    pub grant_tokens: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    #[serde(skip_serializing)]
    pub recipient: Option<RecipientInfo>,
}

impl Validate for DeriveSharedSecretRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
        v.required("keyAgreementAlgorithm", &self.key_agreement_algorithm);
        v.one_of(
            "keyAgreementAlgorithm",
            self.key_agreement_algorithm.as_ref(),
        );
        v.required("publicKey", &self.public_key);
        v.blob_length(
            "publicKey",
            self.public_key.as_ref().map(|b| &b.0[..]),
            1,
            8192,
        );
        v.grant_tokens(self.grant_tokens.as_deref());
        super::crypto::recipient(v, self.recipient.as_ref());
    }
}

/// DeriveSharedSecret.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeriveSharedSecretResponse {
    pub key_id: Arc<str>,
    pub shared_secret: SecretBlob,
    pub key_agreement_algorithm: KeyAgreementAlgorithmSpec,
    pub key_origin: OriginType,
}

/// GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct GenerateDataKeyPairRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context: Option<EncryptionContext>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_pair_spec: Option<WireEnum<DataKeyPairSpec>>,
    #[serde(skip_serializing)]
    pub grant_tokens: Option<Vec<String>>,
    #[serde(skip_serializing)]
    pub recipient: Option<RecipientInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
}

impl Validate for GenerateDataKeyPairRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
        v.required("keyPairSpec", &self.key_pair_spec);
        v.one_of("keyPairSpec", self.key_pair_spec.as_ref());
        v.grant_tokens(self.grant_tokens.as_deref());
        super::crypto::recipient(v, self.recipient.as_ref());
    }
}

/// GenerateDataKeyPair.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyPairResponse {
    pub private_key_ciphertext_blob: Blob,
    pub private_key_plaintext: SecretBlob,
    pub public_key: Blob,
    pub key_id: Arc<str>,
    pub key_pair_spec: DataKeyPairSpec,
    pub key_material_id: Arc<str>,
}

/// GenerateDataKeyPairWithoutPlaintext.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyPairWithoutPlaintextResponse {
    pub private_key_ciphertext_blob: Blob,
    pub public_key: Blob,
    pub key_id: Arc<str>,
    pub key_pair_spec: DataKeyPairSpec,
    pub key_material_id: Arc<str>,
}

/// Encapsulate.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct EncapsulateRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encapsulation_algorithm: Option<WireEnum<EncapsulationAlgorithmSpec>>,
    #[serde(skip_serializing)]
    pub grant_tokens: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
}

impl Validate for EncapsulateRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
        v.required("encapsulationAlgorithm", &self.encapsulation_algorithm);
        v.one_of(
            "encapsulationAlgorithm",
            self.encapsulation_algorithm.as_ref(),
        );
        v.grant_tokens(self.grant_tokens.as_deref());
    }
}

/// Encapsulate.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncapsulateResponse {
    pub key_id: Arc<str>,
    pub shared_secret: SecretBlob,
    pub shared_secret_ciphertext_blob: Blob,
    pub encapsulation_algorithm: EncapsulationAlgorithmSpec,
}

/// Decapsulate.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
pub struct DecapsulateRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing)]
    pub shared_secret_ciphertext_blob: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encapsulation_algorithm: Option<WireEnum<EncapsulationAlgorithmSpec>>,
    #[serde(skip_serializing)]
    pub grant_tokens: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
}

impl Validate for DecapsulateRequest {
    fn validate(&self, v: &mut Validator) {
        key_id(v, "keyId", &self.key_id, true);
        v.required(
            "sharedSecretCiphertextBlob",
            &self.shared_secret_ciphertext_blob,
        );
        v.blob_length(
            "sharedSecretCiphertextBlob",
            self.shared_secret_ciphertext_blob
                .as_ref()
                .map(|b| &b.0[..]),
            1,
            6144,
        );
        v.required("encapsulationAlgorithm", &self.encapsulation_algorithm);
        v.one_of(
            "encapsulationAlgorithm",
            self.encapsulation_algorithm.as_ref(),
        );
        v.grant_tokens(self.grant_tokens.as_deref());
    }
}

/// Decapsulate.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecapsulateResponse {
    pub key_id: Arc<str>,
    pub shared_secret: SecretBlob,
    pub encapsulation_algorithm: EncapsulationAlgorithmSpec,
}
