//! Every error code Trent can put on the wire, with the HTTP status AWS uses.
//!
//! This is the catalogue only; which domain error becomes which code is decided
//! in one table in the server crate.

macro_rules! error_codes {
    ($($variant:ident = ($wire:literal, $status:literal)),+ $(,)?) => {
        /// An AWS error code (`__type`) and its HTTP status.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode { $($variant),+ }

        impl ErrorCode {
            /// The `__type` string.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $wire),+ }
            }
            /// The HTTP status AWS answers with.
            pub fn http_status(self) -> u16 {
                match self { $(Self::$variant => $status),+ }
            }
        }
    };
}

error_codes! {
    // Protocol and authentication (shared by every AWS JSON service).
    AccessDenied = ("AccessDeniedException", 400),
    IncompleteSignature = ("IncompleteSignatureException", 400),
    InvalidSignature = ("InvalidSignatureException", 400),
    MissingAuthenticationToken = ("MissingAuthenticationTokenException", 400),
    UnrecognizedClient = ("UnrecognizedClientException", 400),
    Serialization = ("SerializationException", 400),
    UnknownOperation = ("UnknownOperationException", 400),
    Validation = ("ValidationException", 400),
    Throttling = ("ThrottlingException", 400),
    // KMS exceptions of the service model.
    AlreadyExists = ("AlreadyExistsException", 400),
    CustomKeyStoreNotFound = ("CustomKeyStoreNotFoundException", 400),
    // Not in the service model, but what KMS answers for a reserved
    // `alias/aws/` name.
    NotAuthorized = ("NotAuthorizedException", 400),
    Conflict = ("ConflictException", 400),
    DependencyTimeout = ("DependencyTimeoutException", 503),
    Disabled = ("DisabledException", 400),
    DryRunOperation = ("DryRunOperationException", 400),
    IncorrectKey = ("IncorrectKeyException", 400),
    InvalidAliasName = ("InvalidAliasNameException", 400),
    InvalidArn = ("InvalidArnException", 400),
    InvalidCiphertext = ("InvalidCiphertextException", 400),
    InvalidGrantToken = ("InvalidGrantTokenException", 400),
    InvalidGrantId = ("InvalidGrantIdException", 400),
    ExpiredToken = ("ExpiredTokenException", 400),
    InvalidKeyUsage = ("InvalidKeyUsageException", 400),
    InvalidMarker = ("InvalidMarkerException", 400),
    KmsInternal = ("KMSInternalException", 500),
    KmsInvalidState = ("KMSInvalidStateException", 400),
    KmsInvalidSignature = ("KMSInvalidSignatureException", 400),
    KmsInvalidMac = ("KMSInvalidMacException", 400),
    KeyUnavailable = ("KeyUnavailableException", 500),
    LimitExceeded = ("LimitExceededException", 400),
    MalformedPolicyDocument = ("MalformedPolicyDocumentException", 400),
    NotFound = ("NotFoundException", 400),
    Tag = ("TagException", 400),
    UnsupportedOperation = ("UnsupportedOperationException", 400),
    InvalidImportToken = ("InvalidImportTokenException", 400),
    ExpiredImportToken = ("ExpiredImportTokenException", 400),
    IncorrectKeyMaterial = ("IncorrectKeyMaterialException", 400),
}
