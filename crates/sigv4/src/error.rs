//! Why a request's signature was not accepted. The `Display` text is the
//! message AWS sends for the same fault.

/// A SigV4 failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
// Exhaustive on purpose: the wire table matches every variant, so a new
// one does not compile until it is given its AWS error code.
pub enum AuthError {
    /// No `Authorization` header (nor query-string authentication).
    #[error("Missing Authentication Token")]
    MissingToken,
    /// The header is not `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
    #[error("{0}")]
    Incomplete(String),
    /// An algorithm other than `AWS4-HMAC-SHA256`.
    #[error("Unsupported AWS 'algorithm': '{0}'")]
    UnsupportedAlgorithm(String),
    /// The credential scope is malformed (`Credential=AKID/DATE/REGION/SERVICE/aws4_request`).
    #[error("{0}")]
    MalformedCredential(String),
    /// No usable `X-Amz-Date` (or `Date`) header.
    #[error(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
    )]
    MissingDate,
    /// The scope's date is not the day of `X-Amz-Date`.
    #[error("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope_date}' != '{}', from '{amz_date}'.", &amz_date[..8.min(amz_date.len())])]
    ScopeDateMismatch {
        /// The scope's date.
        scope_date: String,
        /// The `X-Amz-Date` header.
        amz_date: String,
    },
    /// Older than the allowed skew.
    #[error("Signature expired: {request} is now earlier than {limit} ({now} - 5 min.)")]
    Expired {
        /// The request time.
        request: String,
        /// The earliest accepted time.
        limit: String,
        /// The server's time.
        now: String,
    },
    /// Later than the allowed skew.
    #[error("Signature not yet current: {request} is still later than {limit} ({now} + 5 min.)")]
    NotYetCurrent {
        /// The request time.
        request: String,
        /// The latest accepted time.
        limit: String,
        /// The server's time.
        now: String,
    },
    /// A header that must be signed (`host`, `x-amz-date`) is not.
    #[error("{0}")]
    UnsignedHeader(String),
    /// The signature does not match.
    #[error("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")]
    SignatureMismatch,
    /// The access key id is not known.
    #[error("The security token included in the request is invalid.")]
    UnknownAccessKey,
    /// A session token past its expiry.
    #[error("The security token included in the request is expired")]
    ExpiredToken,
}
