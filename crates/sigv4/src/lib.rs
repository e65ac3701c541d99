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

/// `X-Amz-Date` (`YYYYMMDDTHHMMSSZ`) as Unix seconds, without a format
/// parser: this runs on every request.
pub fn amz_date_unix(value: &str) -> Option<i64> {
    let b = value.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, s) = (num(9..11)?, num(11..13)?, num(13..15)?);
    let month_days = [
        31,
        if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) {
            29
        } else {
            28
        },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo)
        || d < 1
        || d > month_days[(mo - 1) as usize]
        || h > 23
        || mi > 59
        || s > 60
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + s)
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
/// Does not check dates; see [`check_time`]. The string to sign is fed to
/// HMAC piece by piece rather than formatted first.
pub fn verify<H: Headers + ?Sized>(
    req: &Request<'_, H>,
    auth: &Authorization<'_>,
    amz_date: &str,
    key: &SigningKey,
) -> Result<(), AuthError> {
    let creq_hash = canonical::canonical_request_hash(req, auth.signed_headers);
    let mut creq_hex = [0u8; 64];
    // Infallible: the buffer is exactly twice the hash length.
    let _ = hex::encode_to_slice(creq_hash, &mut creq_hex);
    let mut ctx = hmac::Context::with_key(&key.0);
    for part in [
        ALGORITHM.as_bytes(),
        b"\n",
        amz_date.as_bytes(),
        b"\n",
        auth.date.as_bytes(),
        b"/",
        auth.region.as_bytes(),
        b"/",
        auth.service.as_bytes(),
        b"/",
        auth.terminator.as_bytes(),
        b"\n",
        &creq_hex,
    ] {
        ctx.update(part);
    }
    let expected = ctx.sign();
    if bool::from(expected.as_ref().ct_eq(&auth.signature[..])) {
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
    let t = amz_date_unix(raw).ok_or(AuthError::MissingDate)?;
    if raw.get(..8) != Some(auth.date) {
        return Err(AuthError::ScopeDateMismatch {
            scope_date: auth.date.to_string(),
            amz_date: raw.to_string(),
        });
    }
    let skew = time::Duration::seconds(MAX_SKEW_SECONDS);
    let now_unix = now.unix_timestamp();
    if t < now_unix - MAX_SKEW_SECONDS {
        return Err(AuthError::Expired {
            request: raw.to_string(),
            limit: format_amz_date(now - skew),
            now: format_amz_date(now),
        });
    }
    if t > now_unix + MAX_SKEW_SECONDS {
        return Err(AuthError::NotYetCurrent {
            request: raw.to_string(),
            limit: format_amz_date(now + skew),
            now: format_amz_date(now),
        });
    }
    OffsetDateTime::from_unix_timestamp(t).map_err(|_| AuthError::MissingDate)
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
