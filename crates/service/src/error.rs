//! What a KMS operation can fail with. Each variant's `Display` is the
//! message AWS sends; the server maps variants to `__type` and HTTP status in
//! one table.

use trent_core::alias::AliasNameError;
use trent_core::ids::KeyRefError;
use trent_core::policy::PolicyError;
use trent_core::KeyError;
use trent_store::StoreError;

/// A request that is well-formed on the wire but not acceptable to KMS
/// (`ValidationException`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidRequest {
    /// ScheduleKeyDeletion outside 7..=30.
    #[error("PendingWindowInDays must be between 7 and 30")]
    PendingWindow,
    /// GenerateDataKey with neither or both of KeySpec and NumberOfBytes.
    #[error("Please specify either number of bytes or key spec.")]
    DataKeySize,
    /// GenerateRandom without NumberOfBytes.
    #[error("NumberOfBytes is required.")]
    NumberOfBytesRequired,
    /// CreateKey with both KeySpec and CustomerMasterKeySpec.
    #[error("You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.")]
    BothKeySpecs,
    /// CreateKey with an asymmetric or HMAC spec and no KeyUsage.
    #[error(
        "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."
    )]
    KeyUsageRequired,
    /// CreateKey with a usage the spec does not support.
    // No final period: AWS's recorded message has none.
    #[error("KeyUsage {usage} is not compatible with KeySpec {spec}")]
    UsageSpecMismatch {
        /// The usage asked for.
        usage: &'static str,
        /// The spec asked for.
        spec: &'static str,
    },
    /// An alias name without `alias/`.
    #[error("{0}")]
    AliasName(AliasNameError),
    /// CreateAlias / UpdateAlias whose target is an alias.
    #[error("Aliases must refer to keys. Not aliases")]
    AliasTarget,
    /// `XksKeyId` without the external key store origin.
    #[error("XksKeyId can be specified only for keys in an external key store.")]
    XksKeyIdWithoutXks,
    /// Decrypt dry run that ignores the ciphertext but names no key.
    #[error("KeyId is required when DryRunModifiers contains IGNORE_CIPHERTEXT.")]
    IgnoreCiphertextNeedsKeyId,
    /// ReEncrypt dry run that ignores the ciphertext but names no source key.
    #[error("SourceKeyId is required when DryRunModifiers contains IGNORE_CIPHERTEXT.")]
    IgnoreCiphertextNeedsSourceKeyId,
    /// A grant constraint over AWS's limits.
    #[error("{0}")]
    GrantConstraint(&'static str),
    /// CreateGrant without a grantee.
    #[error("Either GranteePrincipal or GranteeServicePrincipal must be specified.")]
    GranteePrincipalRequired,
    /// CreateGrant with no operation.
    #[error("1 validation error detected: Value '[]' at 'operations' failed to satisfy constraint: Member must have length greater than or equal to 1")]
    GrantOperationsRequired,
    /// ListRetirableGrants without a retiring principal.
    #[error("Either RetiringPrincipal or RetiringServicePrincipal must be specified.")]
    RetiringPrincipalRequired,
    /// RetireGrant that names no grant.
    #[error("Either GrantToken, or both KeyId and GrantId, must be specified.")]
    RetireGrantTarget,
    /// Sign or Verify with a `DIGEST` of the wrong length.
    #[error("Digest is invalid length for algorithm {0}.")]
    DigestLength(&'static str),
    /// A `MessageType` the key spec has no use for (ML-DSA with `DIGEST`).
    #[error("Message type {kind} is incompatible with key spec {spec}.")]
    MessageTypeForSpec {
        /// The message type.
        kind: &'static str,
        /// The key spec.
        spec: &'static str,
    },
    /// A `MessageType` the algorithm does not take (Ed25519 with `DIGEST`,
    /// Ed25519ph with `RAW`).
    #[error("Message type {kind} is incompatible with algorithm {algorithm}.")]
    MessageTypeForAlgorithm {
        /// The message type.
        kind: &'static str,
        /// The signing algorithm.
        algorithm: &'static str,
    },
    /// RSA Encrypt of more than OAEP can hold.
    #[error(
        "Algorithm {algorithm} and key spec {spec} cannot encrypt data larger than {max} bytes."
    )]
    RsaPlaintextTooLong {
        /// The encryption algorithm.
        algorithm: &'static str,
        /// The key spec.
        spec: &'static str,
        /// The limit.
        max: usize,
    },
    /// A non-empty encryption context with an RSA key: RSAES-OAEP has no
    /// associated data, so nothing would bind it (AWS supports encryption
    /// context with symmetric keys only); refused rather than ignored, so a
    /// policy condition on the context is never met by an unbound value.
    #[error("EncryptionContext is supported only with symmetric encryption KMS keys.")]
    ContextWithAsymmetricKey,
    /// PutKeyPolicy on the policy RAM manages.
    #[error("The AWS_RAM key policy is managed by AWS RAM and cannot be set with PutKeyPolicy.")]
    RamPolicy,
    /// `ExpirationModel` `KEY_MATERIAL_EXPIRES` without `ValidTo`.
    #[error("A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")]
    ValidToRequired,
    /// `ValidTo` with `KEY_MATERIAL_DOES_NOT_EXPIRE`.
    #[error(
        "A validTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE"
    )]
    ValidToNotAllowed,
    /// `ValidTo` outside 10 minutes to 365 days from now.
    #[error("ValidTo must be a future date and time no more than 365 days from now")]
    ValidToRange,
    /// `KeyMaterialId` with `ImportType` `NEW_KEY_MATERIAL`.
    #[error("You cannot specify a key material ID with ImportType set to NEW_KEY_MATERIAL")]
    MaterialIdWithNewMaterial,
    /// `KeyMaterialId` for a key that is not a symmetric encryption key.
    #[error("KeyMaterialId is supported only for symmetric encryption KMS keys")]
    MaterialIdNotSymmetric,
}

/// A tag rule (`TagException`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TagError {
    /// A key starting with `aws:`.
    #[error("Tags beginning with aws: are reserved")]
    Reserved,
    /// The same key twice in one request.
    #[error("Duplicate tag keys")]
    Duplicate,
    /// More than 50 tags on a key.
    #[error("Too many tags")]
    TooMany,
}

/// A feature Trent does not offer (yet), reported as
/// `UnsupportedOperationException` rather than pretended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unsupported {
    /// A key spec other than SYMMETRIC_DEFAULT.
    #[error("KeySpec {0} is not supported by this Trent server yet; only SYMMETRIC_DEFAULT keys can be created.")]
    KeySpec(&'static str),
    /// A spec AWS offers only in other partitions (SM2: China Regions).
    #[error("KeySpec {0} is not supported in this Region")]
    RegionSpec(&'static str),
    /// An origin other than AWS_KMS.
    #[error(
        "Origin {0} is not supported by this Trent server yet; only AWS_KMS keys can be created."
    )]
    Origin(&'static str),
    /// Multi-Region keys.
    /// ReplicateKey or UpdatePrimaryRegion of a single-Region key.
    #[error("{0} is not a multi-Region key.")]
    NotMultiRegion(String),
    /// ReplicateKey of a replica.
    #[error("{0} is not a multi-region primary key.")]
    ReplicaOfReplica(String),
    /// ReplicateKey into the primary's own Region.
    #[error("The replica Region {0} is the Region of the primary key.")]
    SameRegion(String),
    /// A Region this deployment does not serve.
    #[error("The Region {0} is not served by this Trent deployment.")]
    ReplicaRegion(String),
    /// UpdatePrimaryRegion called on a replica.
    #[error("{0} is not the primary key. Call UpdatePrimaryRegion with the primary key.")]
    NotPrimary(String),
    /// UpdatePrimaryRegion to the Region that is already the primary's.
    #[error("The primary key is already in {0}.")]
    AlreadyPrimary(String),
    /// Nitro Enclaves attestation (`Recipient`).
    #[error("The Recipient parameter (Nitro Enclaves attestation) is not supported by Trent.")]
    Recipient,
    /// An operation Trent does not implement yet.
    #[error("{0} is not supported by this Trent server yet.")]
    Operation(&'static str),
    /// An import operation on a key whose material KMS made.
    #[error("{arn} origin is {origin} which is not valid for this operation.")]
    NotExternal { arn: String, origin: &'static str },
    /// Origin `EXTERNAL` for a spec whose material cannot be imported.
    #[error("KeySpec {0} does not support Origin EXTERNAL")]
    ImportSpec(&'static str),
    /// A wrapping algorithm or wrapping key spec AWS offers elsewhere or no more.
    #[error("{0} is not supported in this Region")]
    Wrapping(&'static str),
    /// RSAES_OAEP_* cannot wrap an RSA private key.
    #[error("{algorithm} cannot wrap {spec} key material. Use RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256.")]
    WrappingForSpec {
        algorithm: &'static str,
        spec: &'static str,
    },
}

/// Every failure of a service operation.
#[derive(Debug, thiserror::Error)]
// Exhaustive on purpose: the wire table matches every variant, so a new
// one does not compile until it is given its AWS error code.
pub enum ServiceError {
    /// `ValidationException`.
    #[error("{0}")]
    Invalid(InvalidRequest),
    /// A `KeyId` parameter that names nothing (`NotFoundException`) or is a
    /// malformed ARN (`InvalidArnException`).
    #[error("{0}")]
    KeyRef(KeyRefError),
    /// `NotFoundException` for a key.
    #[error("Key '{arn}' does not exist")]
    KeyNotFound {
        /// The key ARN.
        arn: String,
    },
    /// `NotFoundException` for an alias.
    #[error("Alias {alias_arn} is not found.")]
    AliasNotFound {
        /// The alias ARN.
        alias_arn: String,
    },
    /// `NotFoundException` for a policy name other than `default`.
    #[error("No such policy exists")]
    PolicyNotFound,
    /// A key state, usage or limit error.
    #[error("{0}")]
    Key(KeyError),
    /// `InvalidCiphertextException` (no message, as AWS).
    #[error("")]
    InvalidCiphertext,
    /// `IncorrectKeyException`.
    #[error("The key ID in the request does not identify a CMK that can perform this operation.")]
    IncorrectKey,
    /// `AlreadyExistsException`.
    #[error("An alias with the name {alias_arn} already exists")]
    AliasExists {
        /// The alias ARN.
        alias_arn: String,
    },
    /// `NotAuthorizedException` for a reserved alias name (no message).
    #[error("")]
    ReservedAlias,
    /// `LimitExceededException`: aliases per key.
    #[error("The number of aliases for {arn} exceeds the limit of 50.")]
    AliasLimit {
        /// The key ARN.
        arn: String,
    },
    /// `MalformedPolicyDocumentException` or `LimitExceededException`.
    #[error("{0}")]
    Policy(PolicyError),
    /// `TagException`.
    #[error("{0}")]
    Tag(TagError),
    /// `UnsupportedOperationException`.
    #[error("{0}")]
    Unsupported(Unsupported),
    /// `InvalidKeyUsageException`: an encryption algorithm the key's spec
    /// cannot use.
    #[error("{arn} key spec is SYMMETRIC_DEFAULT, which does not support encryption algorithm {algorithm}.")]
    IncompatibleAlgorithm {
        /// The key ARN.
        arn: String,
        /// The algorithm asked for.
        algorithm: &'static str,
    },
    /// `InvalidKeyUsageException`: an algorithm the key's spec does not
    /// offer (asymmetric and HMAC keys; AWS words it differently from the
    /// symmetric case above).
    #[error("Algorithm {algorithm} is incompatible with key spec {spec}.")]
    AlgorithmSpecMismatch {
        /// The algorithm asked for.
        algorithm: &'static str,
        /// The key's spec.
        spec: &'static str,
    },
    /// `InvalidKeyUsageException`: GenerateDataKey* with an asymmetric key.
    #[error("You cannot generate a data key with an asymmetric CMK")]
    AsymmetricDataKey,
    /// `KMSInvalidSignatureException` (no message, as AWS).
    #[error("")]
    InvalidSignature,
    /// `KMSInvalidMacException` (no message, as AWS).
    #[error("")]
    InvalidMac,
    /// `UnsupportedOperationException` without a message, as AWS answers
    /// GetPublicKey on a key without one and rotation of a key that
    /// cannot rotate.
    #[error("")]
    NotForThisKey,
    /// `ValidationException` without a message, as AWS answers a peer
    /// public key that is not a `SubjectPublicKeyInfo` of the key's curve.
    #[error("")]
    InvalidPublicKey,
    /// `ConflictException`: an automatic rotation is imminent.
    #[error("An automatic rotation of {arn} is in progress or scheduled to begin within the next 20 minutes. Try again later.")]
    RotationConflict {
        /// The key ARN.
        arn: String,
    },
    /// `CustomKeyStoreNotFoundException`.
    #[error("Custom key store {0} does not exist.")]
    CustomKeyStoreNotFound(String),
    /// `InvalidMarkerException`.
    #[error("The marker is not valid: it must be a NextMarker value from a previous response of the same operation.")]
    InvalidMarker,
    /// `DryRunOperationException`.
    #[error("The request would have succeeded, but the DryRun option is set.")]
    DryRun,
    /// `AccessDeniedException`, in AWS's words for why.
    #[error("{}", denial.message(principal, *action, resource))]
    AccessDenied {
        /// The caller.
        principal: String,
        /// What it asked to do.
        action: trent_core::authz::Action,
        /// The key (or alias, or `*`).
        resource: String,
        /// Why not.
        denial: trent_core::authz::Denial,
    },
    /// `InvalidGrantTokenException`.
    #[error("The grant token is not valid.")]
    InvalidGrantToken,
    /// `InvalidGrantIdException`: not a grant id.
    #[error("Invalid grant ID {0}")]
    InvalidGrantId(String),
    /// `NotFoundException` for a grant.
    #[error("Grant ID {0} not found")]
    GrantNotFound(String),
    /// `LimitExceededException`: grants per key.
    #[error("The number of grants for {arn} exceeds the limit of 50000.")]
    GrantLimit {
        /// The key ARN.
        arn: String,
    },
    /// `LimitExceededException`: a grant's constraints are too large.
    #[error("The grant constraints exceed the limit of 8192 bytes.")]
    GrantConstraintsTooLarge,
    /// `MalformedPolicyDocumentException`: the lockout safety check.
    #[error("The new key policy will not allow you to update the key policy in the future.")]
    PolicyLockout,
    /// `AccessDeniedException` for a Decrypt or ReEncrypt that named no key
    /// and whose blob names a key the caller cannot use: one that does not
    /// exist in this account and region, or that the caller may not use. One
    /// answer for both, so a blob does not reveal whether its key exists.
    #[error("The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.")]
    CiphertextKeyUnavailable,
    /// `KMSInternalException`: logged in full, reported generically.
    /// ReplicateKey into a Region that has a replica.
    #[error("{arn} already has a replica in {region}.")]
    ReplicaExists { arn: String, region: String },
    /// The import token was not made for this key, or is not a token.
    #[error("The import token is invalid or was not issued for this KMS key.")]
    InvalidImportToken,
    /// The import token's 24 hours are over.
    #[error("The import token has expired. Call GetParametersForImport for a new one.")]
    ExpiredImportToken,
    /// Unwrapped material that is not key material of the key's spec.
    #[error("The key material is not valid for a KMS key with key spec {0}.")]
    IncorrectKeyMaterial(&'static str),
    #[error("internal error")]
    Internal(#[source] InternalError),
    /// The database could not be reached in time (failing over,
    /// restarting): `DependencyTimeoutException`, which SDKs retry.
    #[error(
        "The system timed out while trying to fulfill the request. You can retry the request."
    )]
    Unavailable(#[source] StoreError),
}

/// The cause of an internal error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InternalError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[source] StoreError),
    /// Key material could not be unwrapped or used.
    #[error("crypto: {0}")]
    Crypto(#[source] trent_core::CryptoError),
    /// A blocking task panicked.
    #[error("task: {0}")]
    Task(#[source] tokio::task::JoinError),
    /// The audit trail could not record the request.
    #[error("audit: {0}")]
    Audit(#[source] trent_audit::AuditError),
    /// The crypto pool could not run an operation.
    #[error("crypto pool: {0}")]
    Pool(#[source] crate::pool::PoolError),
}

impl From<KeyError> for ServiceError {
    fn from(e: KeyError) -> Self {
        ServiceError::Key(e)
    }
}

impl From<KeyRefError> for ServiceError {
    fn from(e: KeyRefError) -> Self {
        ServiceError::KeyRef(e)
    }
}

impl From<InvalidRequest> for ServiceError {
    fn from(e: InvalidRequest) -> Self {
        ServiceError::Invalid(e)
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => ServiceError::Unavailable(e),
            e => ServiceError::Internal(InternalError::Store(e)),
        }
    }
}

impl From<trent_core::CryptoError> for ServiceError {
    fn from(e: trent_core::CryptoError) -> Self {
        ServiceError::Internal(InternalError::Crypto(e))
    }
}

impl From<PolicyError> for ServiceError {
    fn from(e: PolicyError) -> Self {
        ServiceError::Policy(e)
    }
}

impl From<TagError> for ServiceError {
    fn from(e: TagError) -> Self {
        ServiceError::Tag(e)
    }
}

impl From<Unsupported> for ServiceError {
    fn from(e: Unsupported) -> Self {
        ServiceError::Unsupported(e)
    }
}
