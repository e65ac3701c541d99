//! The `Authorization` header: `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/
//! SERVICE/aws4_request, SignedHeaders=a;b, Signature=hex`.
//!
//! Checks are made in the order AWS makes them, so that a request with several
//! faults gets the error AWS would give first.

use crate::AuthError;

/// The only algorithm AWS KMS accepts.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// A parsed `Authorization` header. Borrows from the header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization<'a> {
    /// The access key id of the credential.
    pub access_key_id: &'a str,
    /// The scope's date, `YYYYMMDD`.
    pub date: &'a str,
    /// The scope's region.
    pub region: &'a str,
    /// The scope's service.
    pub service: &'a str,
    /// The scope's terminator (must be `aws4_request`).
    pub terminator: &'a str,
    /// `SignedHeaders`, as sent (`;`-separated, lowercase).
    pub signed_headers: &'a str,
    /// The signature bytes.
    pub signature: [u8; 32],
}

impl Authorization<'_> {
    /// `DATE/REGION/SERVICE/aws4_request`.
    pub fn scope(&self) -> String {
        crate::scope(self.date, self.region, self.service)
    }

    /// Whether `name` (lowercase) is among the signed headers.
    pub fn signs(&self, name: &str) -> bool {
        self.signed_headers.split(';').any(|h| h == name)
    }

    /// The scope checks AWS reports together as one `InvalidSignatureException`
    /// (region, service, terminator; the date is checked with the clock).
    pub fn check_scope(&self, service: &str) -> Result<(), AuthError> {
        let mut faults = Vec::new();
        if !valid_region(self.region) {
            faults.push(format!(
                "Credential should be scoped to a valid region, not '{}'.",
                self.region
            ));
        }
        if self.service != service {
            faults.push(format!(
                "Credential should be scoped to correct service: '{service}'."
            ));
        }
        if self.terminator != "aws4_request" {
            faults.push(format!(
                "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'.",
                self.terminator
            ));
        }
        if faults.is_empty() {
            Ok(())
        } else {
            Err(AuthError::MalformedCredential(faults.join(" ")))
        }
    }
}

/// A region name of the form `us-east-1`, `us-gov-west-1`
/// (`^([a-z]+-){2,3}\d+$`, the service model's `RegionType`).
pub fn valid_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let n = parts.len();
    if !(3..=4).contains(&n) {
        return false;
    }
    parts[..n - 1]
        .iter()
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && !parts[n - 1].is_empty()
        && parts[n - 1].bytes().all(|b| b.is_ascii_digit())
}

/// Parse an `Authorization` header value. `has_date` says whether the request
/// carries an `X-Amz-Date` header: AWS reports its absence together with the
/// header's missing parts.
pub fn parse_authorization(value: &str, has_date: bool) -> Result<Authorization<'_>, AuthError> {
    let value_trimmed = value.trim();
    let (algorithm, rest) = match value_trimmed.split_once(' ') {
        Some((a, r)) => (a, r),
        None => (value_trimmed, ""),
    };
    if algorithm != ALGORITHM {
        if !algorithm.starts_with("AWS4-") {
            // Not a SigV4 header at all (e.g. SigV2 `AWS AKID:sig`).
            return Err(AuthError::Incomplete(missing_parts(
                true, true, true, has_date, value,
            )));
        }
        return Err(AuthError::UnsupportedAlgorithm(algorithm.to_string()));
    }
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((k, v)) = part.split_once('=') else {
            return Err(AuthError::Incomplete(format!(
                "'{part}' not a valid key=value pair (missing equal-sign) in Authorization header: '{value}'."
            )));
        };
        match k.trim() {
            "Credential" => credential = Some(v.trim()),
            "SignedHeaders" => signed_headers = Some(v.trim()),
            "Signature" => signature = Some(v.trim()),
            _ => {}
        }
    }
    if credential.is_none() || signature.is_none() || signed_headers.is_none() || !has_date {
        return Err(AuthError::Incomplete(missing_parts(
            credential.is_none(),
            signature.is_none(),
            signed_headers.is_none(),
            has_date,
            value,
        )));
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(AuthError::Incomplete(String::new()));
    };
    let cred = credential.trim_end_matches('/');
    let parts: Vec<&str> = cred.split('/').collect();
    if parts.len() != 5 || parts.iter().any(|p| p.is_empty()) {
        return Err(AuthError::Incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
        )));
    }
    if !signed_headers.split(';').any(|h| h == "host") {
        return Err(AuthError::UnsignedHeader(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    let mut sig = [0u8; 32];
    if signature.len() != 64 || hex::decode_to_slice(signature, &mut sig).is_err() {
        // A signature that is not 64 hex digits can never match.
        return Err(AuthError::SignatureMismatch);
    }
    Ok(Authorization {
        access_key_id: parts[0],
        date: parts[1],
        region: parts[2],
        service: parts[3],
        terminator: parts[4],
        signed_headers,
        signature: sig,
    })
}

fn missing_parts(
    credential: bool,
    signature: bool,
    signed_headers: bool,
    has_date: bool,
    value: &str,
) -> String {
    let mut msg = String::new();
    if credential {
        msg.push_str("Authorization header requires 'Credential' parameter. ");
    }
    if signature {
        msg.push_str("Authorization header requires 'Signature' parameter. ");
    }
    if signed_headers {
        msg.push_str("Authorization header requires 'SignedHeaders' parameter. ");
    }
    if !has_date {
        msg.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    msg.push_str("Authorization=");
    msg.push_str(value);
    msg
}
