//! `trent-sigv4`: AWS Signature Version 4, sans-IO.
//!
//! It owns: parsing the `Authorization` header, the canonical request (hashed
//! as it is built, without allocating it), the string to sign, the signing key,
//! constant-time verification, the clock-skew rule, and a signer for clients,
//! tests and the benchmark.
//!
//! It refuses: any knowledge of credentials stores, HTTP libraries or the
//! network. The caller passes headers through [`Headers`] and looks secrets up
//! itself. Hashing uses aws-lc-rs directly: these are not key-management
//! operations, so they do not go through Trent's crypto provider.

mod auth;
mod canonical;
mod error;

pub use auth::{parse_authorization, Authorization, ALGORITHM};
pub use canonical::{canonical_query, canonical_request, canonical_uri, Headers};
pub use error::AuthError;

use aws_lc_rs::{digest, hmac};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

/// How far a request's `X-Amz-Date` may be from the server's clock, either
/// way, as AWS allows: five minutes.
pub const MAX_SKEW_SECONDS: i64 = 5 * 60;

/// `X-Amz-Date` format: `20150830T123600Z`.
const AMZ_DATE: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");

/// Parse an `X-Amz-Date` value.
pub fn parse_amz_date(value: &str) -> Option<OffsetDateTime> {
    time::PrimitiveDateTime::parse(value, AMZ_DATE)
        .ok()
        .map(|t| t.assume_utc())
}

/// Format a time as `X-Amz-Date`.
pub fn format_amz_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The derived signing key of one (secret, date, region, service). Cheap to
/// clone; worth caching, since deriving it costs four HMACs.
#[derive(Clone)]
pub struct SigningKey(hmac::Key);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
    pub fn derive(secret: &str, date: &str, region: &str, service: &str) -> SigningKey {
        let mut k = zeroize::Zeroizing::new(Vec::with_capacity(secret.len() + 4));
        k.extend_from_slice(b"AWS4");
        k.extend_from_slice(secret.as_bytes());
        let mut tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &k), date.as_bytes());
        for part in [region, service, "aws4_request"] {
            tag = hmac::sign(
                &hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref()),
                part.as_bytes(),
            );
        }
        SigningKey(hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref()))
    }

    /// The signature of a string to sign.
    pub fn sign(&self, string_to_sign: &[u8]) -> [u8; 32] {
        let tag = hmac::sign(&self.0, string_to_sign);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }
}

/// The parts of an HTTP request that SigV4 covers.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a, H: Headers + ?Sized> {
    /// `POST`.
    pub method: &'a str,
    /// The path as sent on the wire (still percent-encoded).
    pub path: &'a str,
    /// The raw query string without `?` (empty if none).
    pub query: &'a str,
    /// Header access.
    pub headers: &'a H,
    /// SHA-256 of the body.
    pub body_sha256: &'a [u8; 32],
}

/// SHA-256 of a body.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The string to sign, and the hash of the canonical request inside it.
pub fn string_to_sign<H: Headers + ?Sized>(
    req: &Request<'_, H>,
    amz_date: &str,
    scope: &str,
    signed_headers: &str,
) -> String {
    let creq_hash = canonical::canonical_request_hash(req, signed_headers);
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(creq_hash)
    )
}

/// The credential scope `DATE/REGION/SERVICE/aws4_request`.
pub fn scope(date: &str, region: &str, service: &str) -> String {
    format!("{date}/{region}/{service}/aws4_request")
}

/// Check a parsed request against its signing key, in constant time.
///
/// Does not check dates; see [`check_time`].
pub fn verify<H: Headers + ?Sized>(
    req: &Request<'_, H>,
    auth: &Authorization<'_>,
    amz_date: &str,
    key: &SigningKey,
) -> Result<(), AuthError> {
    let sts = string_to_sign(req, amz_date, &auth.scope(), auth.signed_headers);
    let expected = key.sign(sts.as_bytes());
    if bool::from(expected.ct_eq(&auth.signature)) {
        Ok(())
    } else {
        Err(AuthError::SignatureMismatch)
    }
}

/// The date rules: `X-Amz-Date` must be present and well-formed, its day must
/// be the credential scope's day, and it must be within [`MAX_SKEW_SECONDS`]
/// of `now`.
pub fn check_time(
    auth: &Authorization<'_>,
    amz_date: Option<&str>,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, AuthError> {
    let raw = amz_date.ok_or(AuthError::MissingDate)?;
    let t = parse_amz_date(raw).ok_or(AuthError::MissingDate)?;
    if raw.get(..8) != Some(auth.date) {
        return Err(AuthError::ScopeDateMismatch {
            scope_date: auth.date.to_string(),
            amz_date: raw.to_string(),
        });
    }
    let skew = time::Duration::seconds(MAX_SKEW_SECONDS);
    if t < now - skew {
        return Err(AuthError::Expired {
            request: raw.to_string(),
            limit: format_amz_date(now - skew),
            now: format_amz_date(now),
        });
    }
    if t > now + skew {
        return Err(AuthError::NotYetCurrent {
            request: raw.to_string(),
            limit: format_amz_date(now + skew),
            now: format_amz_date(now),
        });
    }
    Ok(t)
}

/// Credentials for [`sign`].
#[derive(Clone)]
pub struct Credentials<'a> {
    /// Access key id.
    pub access_key_id: &'a str,
    /// Secret access key.
    pub secret_access_key: &'a str,
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Sign a request: returns the `Authorization` header value. The request's
/// headers must already include every header in `signed_headers` (which must
/// be lowercase, sorted and `;`-separated), including `x-amz-date`.
pub fn sign<H: Headers + ?Sized>(
    req: &Request<'_, H>,
    creds: &Credentials<'_>,
    amz_date: &str,
    region: &str,
    service: &str,
    signed_headers: &str,
) -> String {
    let date = &amz_date[..8];
    let scope = scope(date, region, service);
    let sts = string_to_sign(req, amz_date, &scope, signed_headers);
    let key = SigningKey::derive(creds.secret_access_key, date, region, service);
    let sig = key.sign(sts.as_bytes());
    format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={}",
        creds.access_key_id,
        hex::encode(sig)
    )
}

#[cfg(test)]
mod tests;
