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
}
