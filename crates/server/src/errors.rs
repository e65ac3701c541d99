//! The one table from every failure to AWS's `__type`, HTTP status and
//! message. Internal errors are logged in full here and reach the client as a
//! generic `KMSInternalException`.

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

/// `__type`, status (from the code) and message (`None`: AWS sends none).
pub(crate) fn to_wire(e: &WireError, request_id: &str) -> (ErrorCode, Option<String>) {
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
        WireError::Auth(a) => {
            let code = match a {
                AuthError::MissingToken => C::MissingAuthenticationToken,
                AuthError::Incomplete(_)
                | AuthError::UnsupportedAlgorithm(_)
                | AuthError::MissingDate => C::IncompleteSignature,
                AuthError::UnknownAccessKey => C::UnrecognizedClient,
                _ => C::InvalidSignature,
            };
            (code, msg(a))
        }
        WireError::NotImplemented(op) => (
            C::UnsupportedOperation,
            Some(format!(
                "{} is not supported by this Trent server yet.",
                op.name()
            )),
        ),
        WireError::Service(s) => service_error(s, request_id),
    }
}

fn service_error(e: &ServiceError, request_id: &str) -> (ErrorCode, Option<String>) {
    use ErrorCode as C;
    let m = Some(e.to_string());
    let code = match e {
        ServiceError::Invalid(_) => C::Validation,
        ServiceError::KeyRef(KeyRefError::InvalidArn(_)) => C::InvalidArn,
        ServiceError::KeyRef(_) => C::NotFound,
        ServiceError::KeyNotFound { .. }
        | ServiceError::AliasNotFound { .. }
        | ServiceError::PolicyNotFound => C::NotFound,
        ServiceError::Key(k) => match k {
            KeyError::Disabled { .. } => C::Disabled,
            KeyError::PendingDeletion { .. } | KeyError::NotPendingDeletion { .. } => {
                C::KmsInvalidState
            }
            KeyError::WrongUsage { .. } => C::InvalidKeyUsage,
            KeyError::OnDemandRotationLimit { .. } => C::LimitExceeded,
            _ => C::UnsupportedOperation,
        },
        ServiceError::InvalidCiphertext => return (C::InvalidCiphertext, None),
        ServiceError::IncorrectKey => C::IncorrectKey,
        ServiceError::AliasExists { .. } => C::AlreadyExists,
        ServiceError::ReservedAlias => return (C::NotAuthorized, None),
        ServiceError::AliasLimit { .. } => C::LimitExceeded,
        ServiceError::Policy(PolicyError::TooLarge(_)) => C::LimitExceeded,
        ServiceError::Policy(_) => C::MalformedPolicyDocument,
        ServiceError::Tag(_) => C::Tag,
        ServiceError::Unsupported(_) => C::UnsupportedOperation,
        ServiceError::IncompatibleAlgorithm { .. } => C::InvalidKeyUsage,
        ServiceError::RotationConflict { .. } => C::Conflict,
        ServiceError::CustomKeyStoreNotFound(_) => C::CustomKeyStoreNotFound,
        ServiceError::InvalidMarker => C::InvalidMarker,
        ServiceError::DryRun => C::DryRunOperation,
        ServiceError::AccessDenied { .. } => C::AccessDenied,
        ServiceError::Internal(cause) => {
            tracing::error!(request_id, error = ?cause, "internal error");
            return (
                C::KmsInternal,
                Some("An internal error occurred. The request was not completed.".into()),
            );
        }
        _ => {
            tracing::error!(request_id, error = ?e, "unmapped service error");
            return (C::KmsInternal, Some("An internal error occurred.".into()));
        }
    };
    (code, m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_messages() {
        let (c, m) = to_wire(&WireError::Service(ServiceError::InvalidCiphertext), "r");
        assert_eq!(
            (c.as_str(), c.http_status(), m),
            ("InvalidCiphertextException", 400, None)
        );
        let (c, m) = to_wire(
            &WireError::Service(ServiceError::Key(KeyError::Disabled { arn: "A".into() })),
            "r",
        );
        assert_eq!(
            (c.as_str(), m.as_deref()),
            ("DisabledException", Some("A is disabled."))
        );
        let (c, _) = to_wire(&WireError::Auth(AuthError::UnknownAccessKey), "r");
        assert_eq!(c.as_str(), "UnrecognizedClientException");
        let (c, _) = to_wire(&WireError::Auth(AuthError::SignatureMismatch), "r");
        assert_eq!(c.as_str(), "InvalidSignatureException");
        let (c, m) = to_wire(&WireError::UnknownOperation, "r");
        assert_eq!((c.as_str(), m), ("UnknownOperationException", None));
    }
}
