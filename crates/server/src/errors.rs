//! The one table from every failure to AWS's `__type`, HTTP status and
//! message.
//!
//! The table matches every variant of every error it maps, without a
//! wildcard: a new failure does not compile until it is given its AWS code
//! here (`ServiceError`, `KeyError`, `AuthError` and `PolicyError` are
//! exhaustive for that reason). [`to_wire`] is a pure function; the caller
//! logs internal errors.

use trent_core::ids::KeyRefError;
use trent_core::policy::PolicyError;
use trent_core::KeyError;
use trent_proto::{ErrorCode, Operation, ValidationErrors};
use trent_service::ServiceError;
use trent_sigv4::AuthError;

/// Everything a request can fail with.
#[derive(Debug)]
pub(crate) enum WireError {
    /// No or unknown `X-Amz-Target`, not POST, or not AWS JSON 1.1.
    UnknownOperation,
    /// Body over the limit.
    TooLarge(usize),
    /// The body is not JSON (`None`) or has wrong types (`Some`).
    Serialization(Option<String>),
    /// Constraint violations of the service model.
    Validation(ValidationErrors),
    /// SigV4.
    Auth(AuthError),
    /// No room for more work right now (connections or buffered bodies).
    Throttled,
    /// An operation of the model that Trent does not implement.
    NotImplemented(Operation),
    /// The operation failed.
    Service(ServiceError),
}

impl From<ServiceError> for WireError {
    fn from(e: ServiceError) -> Self {
        WireError::Service(e)
    }
}

impl WireError {
    /// Whether this is a failure of Trent itself, which the caller logs in
    /// full (the client only sees a generic message).
    pub(crate) fn internal(&self) -> bool {
        matches!(
            self,
            WireError::Service(ServiceError::Internal(_) | ServiceError::Unavailable(_))
        )
    }
}

/// `__type`, status (from the code) and message (`None`: AWS sends none).
pub(crate) fn to_wire(e: &WireError) -> (ErrorCode, Option<String>) {
    use ErrorCode as C;
    let msg = |m: &dyn std::fmt::Display| Some(m.to_string());
    match e {
        WireError::UnknownOperation => (C::UnknownOperation, None),
        WireError::TooLarge(limit) => (
            C::Validation,
            Some(format!(
                "The request body exceeds the limit of {limit} bytes."
            )),
        ),
        WireError::Serialization(m) => (C::Serialization, m.clone()),
        WireError::Validation(v) => (C::Validation, msg(v)),
        WireError::Auth(a) => (auth_code(a), msg(a)),
        WireError::Throttled => (C::Throttling, Some("Rate exceeded".into())),
        WireError::NotImplemented(op) => (
            C::UnsupportedOperation,
            Some(format!(
                "{} is not supported by this Trent server yet.",
                op.name()
            )),
        ),
        WireError::Service(s) => service_error(s),
    }
}

fn auth_code(a: &AuthError) -> ErrorCode {
    use ErrorCode as C;
    match a {
        AuthError::MissingToken => C::MissingAuthenticationToken,
        AuthError::Incomplete(_) | AuthError::UnsupportedAlgorithm(_) | AuthError::MissingDate => {
            C::IncompleteSignature
        }
        AuthError::UnknownAccessKey => C::UnrecognizedClient,
        AuthError::ExpiredToken => C::ExpiredToken,
        AuthError::MalformedCredential(_)
        | AuthError::ScopeDateMismatch { .. }
        | AuthError::Expired { .. }
        | AuthError::NotYetCurrent { .. }
        | AuthError::UnsignedHeader(_)
        | AuthError::SignatureMismatch => C::InvalidSignature,
    }
}

fn key_code(k: &KeyError) -> ErrorCode {
    use ErrorCode as C;
    match k {
        KeyError::Disabled { .. } => C::Disabled,
        KeyError::PendingDeletion { .. } | KeyError::NotPendingDeletion { .. } => {
            C::KmsInvalidState
        }
        KeyError::WrongUsage { .. } => C::InvalidKeyUsage,
        KeyError::OnDemandRotationLimit { .. } => C::LimitExceeded,
        KeyError::RotationUnsupported { .. } | KeyError::NewMaterialUnsupported { .. } => {
            C::UnsupportedOperation
        }
        KeyError::PendingImport { .. }
        | KeyError::MaterialPendingRotation { .. }
        | KeyError::NoMaterialPendingRotation { .. }
        | KeyError::ReplicasPendingImport { .. }
        | KeyError::Updating { .. } => C::KmsInvalidState,
        KeyError::ImportTokenUsed => C::InvalidImportToken,
        KeyError::IncorrectMaterial { .. } | KeyError::MaterialNotNew { .. } => {
            C::IncorrectKeyMaterial
        }
        KeyError::MaterialNotFound { .. } => C::NotFound,
    }
}

fn policy_code(p: &PolicyError) -> ErrorCode {
    match p {
        PolicyError::TooLarge(_) => ErrorCode::LimitExceeded,
        PolicyError::NotJson(_) | PolicyError::Grammar(_) | PolicyError::InvalidPrincipal => {
            ErrorCode::MalformedPolicyDocument
        }
    }
}

fn service_error(e: &ServiceError) -> (ErrorCode, Option<String>) {
    use ErrorCode as C;
    let code = match e {
        ServiceError::Invalid(_) => C::Validation,
        ServiceError::KeyRef(r) => match r {
            KeyRefError::InvalidArn(_) => C::InvalidArn,
            KeyRefError::InvalidKeyId(_) | KeyRefError::WrongRegion(_) => C::NotFound,
        },
        ServiceError::KeyNotFound { .. }
        | ServiceError::AliasNotFound { .. }
        | ServiceError::PolicyNotFound => C::NotFound,
        // AWS gives no reason when a key cannot rotate.
        ServiceError::Key(KeyError::RotationUnsupported { .. }) => {
            return (C::UnsupportedOperation, None)
        }
        ServiceError::Key(k) => key_code(k),
        ServiceError::InvalidCiphertext => return (C::InvalidCiphertext, None),
        ServiceError::IncorrectKey => C::IncorrectKey,
        ServiceError::AliasExists { .. } => C::AlreadyExists,
        ServiceError::ReservedAlias => return (C::NotAuthorized, None),
        ServiceError::AliasLimit { .. } => C::LimitExceeded,
        ServiceError::Policy(p) => policy_code(p),
        ServiceError::Tag(_) => C::Tag,
        ServiceError::Unsupported(_) => C::UnsupportedOperation,
        ServiceError::IncompatibleAlgorithm { .. }
        | ServiceError::AlgorithmSpecMismatch { .. }
        | ServiceError::AsymmetricDataKey => C::InvalidKeyUsage,
        ServiceError::InvalidSignature => return (C::KmsInvalidSignature, None),
        ServiceError::InvalidMac => return (C::KmsInvalidMac, None),
        ServiceError::NotForThisKey => return (C::UnsupportedOperation, None),
        ServiceError::InvalidPublicKey => return (C::Validation, None),
        ServiceError::RotationConflict { .. } => C::Conflict,
        ServiceError::CustomKeyStoreNotFound(_) => C::CustomKeyStoreNotFound,
        ServiceError::InvalidMarker => C::InvalidMarker,
        ServiceError::DryRun => C::DryRunOperation,
        ServiceError::AccessDenied { .. } | ServiceError::CiphertextKeyUnavailable => {
            C::AccessDenied
        }
        ServiceError::InvalidGrantToken => C::InvalidGrantToken,
        ServiceError::InvalidGrantId(_) => C::InvalidGrantId,
        ServiceError::GrantNotFound(_) => C::NotFound,
        ServiceError::GrantLimit { .. } | ServiceError::GrantConstraintsTooLarge => {
            C::LimitExceeded
        }
        ServiceError::PolicyLockout => C::MalformedPolicyDocument,
        ServiceError::ReplicaExists { .. } => C::AlreadyExists,
        ServiceError::InvalidImportToken => C::InvalidImportToken,
        ServiceError::ExpiredImportToken => C::ExpiredImportToken,
        ServiceError::IncorrectKeyMaterial(_) => C::IncorrectKeyMaterial,
        ServiceError::Unavailable(_) => C::DependencyTimeout,
        ServiceError::Internal(_) => {
            return (
                C::KmsInternal,
                Some("An internal error occurred. The request was not completed.".into()),
            )
        }
    };
    (code, Some(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_messages() {
        let (c, m) = to_wire(&WireError::Service(ServiceError::InvalidCiphertext));
        assert_eq!(
            (c.as_str(), c.http_status(), m),
            ("InvalidCiphertextException", 400, None)
        );
        let (c, m) = to_wire(&WireError::Service(ServiceError::Key(KeyError::Disabled {
            arn: "A".into(),
        })));
        assert_eq!(
            (c.as_str(), m.as_deref()),
            ("DisabledException", Some("A is disabled."))
        );
        let (c, _) = to_wire(&WireError::Auth(AuthError::UnknownAccessKey));
        assert_eq!(c.as_str(), "UnrecognizedClientException");
        let (c, _) = to_wire(&WireError::Auth(AuthError::SignatureMismatch));
        assert_eq!(c.as_str(), "InvalidSignatureException");
        let (c, m) = to_wire(&WireError::UnknownOperation);
        assert_eq!((c.as_str(), m), ("UnknownOperationException", None));
        let (c, m) = to_wire(&WireError::Throttled);
        assert_eq!(
            (c.as_str(), c.http_status(), m.as_deref()),
            ("ThrottlingException", 400, Some("Rate exceeded"))
        );
        let (c, _) = to_wire(&WireError::Service(ServiceError::DryRun));
        assert_eq!(
            (c.as_str(), c.http_status()),
            ("DryRunOperationException", 400)
        );
    }

    #[test]
    fn internal_errors_say_nothing_specific() {
        let e = WireError::Service(ServiceError::Internal(
            trent_service::InternalError::Crypto(trent_core::CryptoError::InvalidKey),
        ));
        assert!(e.internal());
        let (c, m) = to_wire(&e);
        assert_eq!(c.as_str(), "KMSInternalException");
        assert!(!m.unwrap().contains("invalid key"));
    }
}
