//! Errors of the key state machine. Their `Display` text is the message AWS
//! sends; the server maps each variant to its `__type` in one table.

/// A transition or use that the key's state, usage or limits refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
// Exhaustive on purpose: the wire table matches every variant, so a new
// one does not compile until it is given its AWS error code.
pub enum KeyError {
    /// `DisabledException`.
    #[error("{arn} is disabled.")]
    Disabled {
        /// The key ARN.
        arn: String,
    },
    /// `KMSInvalidStateException`.
    #[error("{arn} is pending deletion.")]
    PendingDeletion {
        /// The key ARN.
        arn: String,
    },
    /// `KMSInvalidStateException`.
    #[error("{arn} is not pending deletion.")]
    NotPendingDeletion {
        /// The key ARN.
        arn: String,
    },
    /// `InvalidKeyUsageException`.
    #[error("{arn} key usage is {usage} which is not valid for {operation}.")]
    WrongUsage {
        /// The key ARN.
        arn: String,
        /// The key's usage.
        usage: String,
        /// The operation name.
        operation: &'static str,
    },
    /// `LimitExceededException`.
    #[error("The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: {arn}")]
    OnDemandRotationLimit {
        /// The key ARN.
        arn: String,
    },
    /// `UnsupportedOperationException`: rotation of a key that cannot rotate.
    #[error("{arn} does not support key rotation.")]
    RotationUnsupported {
        /// The key ARN.
        arn: String,
    },
    /// `KMSInvalidStateException`: the key (or the key material a
    /// ciphertext names) has no material until it is imported again.
    #[error("{arn} is pending import.")]
    PendingImport {
        /// The key ARN.
        arn: String,
    },
    /// `InvalidImportTokenException`: the import token was used before.
    #[error("The import token has already been used. Call GetParametersForImport for a new one.")]
    ImportTokenUsed,
    /// `IncorrectKeyMaterialException`: the material is not the material
    /// this key had, or not new when new material was asked for.
    #[error("The key material being imported does not match the key material previously imported into {arn}.")]
    IncorrectMaterial {
        /// The key ARN.
        arn: String,
    },
    /// `IncorrectKeyMaterialException`: NEW_KEY_MATERIAL with material
    /// this key already has.
    #[error("The key material being imported was previously imported into {arn}; use ImportType EXISTING_KEY_MATERIAL to reimport it.")]
    MaterialNotNew {
        /// The key ARN.
        arn: String,
    },
    /// `UnsupportedOperationException`: only symmetric encryption keys take
    /// more than one key material, and a multi-Region key takes new
    /// material through its primary.
    #[error("{arn} does not support importing new key material; only symmetric encryption keys can have more than one key material, and a multi-Region key takes new key material in its primary Region first.")]
    NewMaterialUnsupported {
        /// The key ARN.
        arn: String,
    },
    /// `KMSInvalidStateException`: a second NEW_KEY_MATERIAL import while
    /// one waits for RotateKeyOnDemand (AWS's wording, with the bare key id).
    #[error("New key material (id: {new_id}) cannot be imported into KMS key {key_id}, because another key material (id: {pending_id}) is pending rotation.")]
    MaterialPendingRotation {
        /// The key id.
        key_id: String,
        /// The material being imported.
        new_id: String,
        /// The material waiting.
        pending_id: String,
    },
    /// `KMSInvalidStateException`: RotateKeyOnDemand of a key with imported
    /// material and no new material to rotate to.
    #[error("No available key material pending rotation for the key: {arn}.")]
    NoMaterialPendingRotation {
        /// The key ARN.
        arn: String,
    },
    /// `KMSInvalidStateException`: RotateKeyOnDemand of a multi-Region key
    /// before its new material was imported into every replica.
    #[error("The key material pending rotation for {arn} has not been imported into every replica key yet.")]
    ReplicasPendingImport {
        /// The key ARN.
        arn: String,
    },
    /// `KMSInvalidStateException`: a management operation on a key whose
    /// multi-Region set is changing its primary Region.
    #[error("{arn} is updating.")]
    Updating {
        /// The key ARN.
        arn: String,
    },
    /// `NotFoundException`: a `KeyMaterialId` this key does not have.
    #[error("Key material {material_id} is not associated with {arn}.")]
    MaterialNotFound {
        /// The key ARN.
        arn: String,
        /// The id asked for.
        material_id: String,
    },
}
