//! The HTTP adapter: AWS JSON 1.1 on `POST /`, routed on `X-Amz-Target`.

use crate::auth::{Authenticator, SignedRequest};
use crate::errors::{to_wire, WireError};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde::Serialize;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use trent_core::{CryptoProvider, ManualClock};
use trent_proto::{Operation, Validate};
use trent_service::{Caller, Kms, ServiceError};

/// Shared by every connection.
#[derive(Debug)]
pub struct AppState {
    /// The service.
    pub kms: Arc<Kms>,
    /// SigV4.
    pub auth: Authenticator,
    /// Request ids.
    pub request_ids: RequestIds,
    /// Body limit.
    pub max_body_bytes: usize,
    /// The test clock, when `--unsafe-test-clock` is on.
    pub test_clock: Option<Arc<ManualClock>>,
}

const JSON_11: &str = "application/x-amz-json-1.1";
/// The test-only clock endpoint.
pub const TEST_CLOCK_PATH: &str = "/trent-test/clock";

/// Request ids: UUID-shaped, unique per process run. A random 64-bit prefix
/// chosen at start-up and a counter, so making one costs no RNG call.
#[derive(Debug)]
pub struct RequestIds {
    prefix: [u8; 8],
    counter: AtomicU64,
}

impl RequestIds {
    /// Ids with a random prefix from `provider`.
    pub fn new(provider: &dyn CryptoProvider) -> Self {
        let mut prefix = [0u8; 8];
        let _ = provider.fill_random(&mut prefix);
        RequestIds {
            prefix,
            counter: AtomicU64::new(0),
        }
    }

    /// The next id, as a version-4-shaped UUID.
    pub fn next(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.prefix);
        b[8..].copy_from_slice(&n.to_be_bytes());
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = 0x80 | (self.prefix[7] & 0x3f);
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(36);
        for (i, byte) in b.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                out.push('-');
            }
            out.push(HEX[usize::from(byte >> 4)] as char);
            out.push(HEX[usize::from(byte & 0x0f)] as char);
        }
        out
    }
}

fn respond(status: u16, request_id: &str, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(JSON_11),
    );
    if let Ok(v) = http::HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    r
}

fn error_response(e: &WireError, request_id: &str) -> Response<Full<Bytes>> {
    let (code, message) = to_wire(e, request_id);
    #[derive(Serialize)]
    struct Body<'a> {
        #[serde(rename = "__type")]
        ty: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<&'a str>,
    }
    let body = serde_json::to_vec(&Body {
        ty: code.as_str(),
        message: message.as_deref(),
    })
    .unwrap_or_default();
    tracing::debug!(request_id, error = code.as_str(), "request failed");
    respond(code.http_status(), request_id, Bytes::from(body))
}

/// Handle one HTTP request.
pub async fn handle(
    state: Arc<AppState>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let rid = state.request_ids.next();
    match handle_inner(&state, req, &rid).await {
        Ok(body) => Ok(respond(200, &rid, body)),
        Err(e) => Ok(error_response(&e, &rid)),
    }
}

/// How long a request body may take to arrive.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

async fn handle_inner(
    state: &AppState,
    req: Request<Incoming>,
    rid: &str,
) -> Result<Bytes, WireError> {
    let (parts, body) = req.into_parts();
    if parts.uri.path() == TEST_CLOCK_PATH {
        if let Some(clock) = &state.test_clock {
            return test_clock(state, clock, parts.uri.query().unwrap_or("")).await;
        }
    }
    let op = route(&parts)?;
    // A client that stops sending mid-body does not hold the connection
    // (and the buffered part) for ever.
    let collected = tokio::time::timeout(
        BODY_READ_TIMEOUT,
        Limited::new(body, state.max_body_bytes).collect(),
    )
    .await
    .map_err(|_| WireError::Serialization(None))?;
    let body = match collected {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return Err(WireError::TooLarge(state.max_body_bytes));
            }
            return Err(WireError::Serialization(None));
        }
    };
    process(state, &parts, op, &body, rid).await
}

/// The operation a request asks for: POST, AWS JSON 1.1, a known target.
fn route(parts: &http::request::Parts) -> Result<Operation, WireError> {
    let content_type_ok = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(JSON_11))
        });
    if parts.method != http::Method::POST || !content_type_ok {
        return Err(WireError::UnknownOperation);
    }
    parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(Operation::from_target)
        .ok_or(WireError::UnknownOperation)
}

/// Authenticate and run a request whose body has been read.
async fn process(
    state: &AppState,
    parts: &http::request::Parts,
    op: Operation,
    body: &[u8],
    rid: &str,
) -> Result<Bytes, WireError> {
    let caller = state
        .auth
        .authenticate(
            &SignedRequest {
                method: parts.method.as_str(),
                path: parts.uri.path(),
                query: parts.uri.query().unwrap_or(""),
                headers: &parts.headers,
                body,
            },
            time::OffsetDateTime::now_utc(),
            rid.to_string(),
        )
        .map_err(WireError::Auth)?;
    dispatch(&state.kms, &caller, op, body).await
}

fn input<'a, T: serde::Deserialize<'a> + Validate>(body: &'a [u8]) -> Result<T, WireError> {
    let t: T = trent_proto::decode(body).map_err(|e| {
        WireError::Serialization(match e.classify() {
            serde_json::error::Category::Data => Some(e.to_string()),
            _ => None,
        })
    })?;
    t.check().map_err(WireError::Validation)?;
    Ok(t)
}

fn output<T: Serialize>(r: Result<T, ServiceError>) -> Result<Bytes, WireError> {
    let v = r?;
    serde_json::to_vec(&v)
        .map(Bytes::from)
        .map_err(|_| WireError::Serialization(None))
}

/// The hot-path responses, written without serde (see `trent_proto::json`).
fn fast<T: trent_proto::json::WriteJson>(r: Result<T, ServiceError>) -> Result<Bytes, WireError> {
    let v = r?;
    let mut out = Vec::with_capacity(2048);
    v.write_json(&mut out);
    Ok(Bytes::from(out))
}

fn empty(r: Result<(), ServiceError>) -> Result<Bytes, WireError> {
    r?;
    Ok(Bytes::new())
}

async fn dispatch(kms: &Kms, c: &Caller, op: Operation, body: &[u8]) -> Result<Bytes, WireError> {
    use Operation as O;
    match op {
        O::Encrypt => fast(kms.encrypt(c, input(body)?).await),
        O::Decrypt => fast(kms.decrypt(c, input(body)?).await),
        O::GenerateDataKey => fast(kms.generate_data_key(c, input(body)?).await),
        O::GenerateDataKeyWithoutPlaintext => fast(
            kms.generate_data_key_without_plaintext(c, input(body)?)
                .await,
        ),
        O::ReEncrypt => fast(kms.re_encrypt(c, input(body)?).await),
        O::GenerateRandom => output(kms.generate_random(c, input(body)?).await),
        O::CreateKey => output(kms.create_key(c, input(body)?).await),
        O::DescribeKey => output(kms.describe_key(c, input(body)?).await),
        O::ListKeys => output(kms.list_keys(c, input(body)?).await),
        O::UpdateKeyDescription => empty(kms.update_key_description(c, input(body)?).await),
        O::GetKeyLastUsage => output(kms.get_key_last_usage(c, input(body)?).await),
        O::EnableKey => empty(kms.enable_key(c, input(body)?).await),
        O::DisableKey => empty(kms.disable_key(c, input(body)?).await),
        O::ScheduleKeyDeletion => output(kms.schedule_key_deletion(c, input(body)?).await),
        O::CancelKeyDeletion => output(kms.cancel_key_deletion(c, input(body)?).await),
        O::CreateAlias => empty(kms.create_alias(c, input(body)?).await),
        O::UpdateAlias => empty(kms.update_alias(c, input(body)?).await),
        O::DeleteAlias => empty(kms.delete_alias(c, input(body)?).await),
        O::ListAliases => output(kms.list_aliases(c, input(body)?).await),
        O::TagResource => empty(kms.tag_resource(c, input(body)?).await),
        O::UntagResource => empty(kms.untag_resource(c, input(body)?).await),
        O::ListResourceTags => output(kms.list_resource_tags(c, input(body)?).await),
        O::EnableKeyRotation => empty(kms.enable_key_rotation(c, input(body)?).await),
        O::DisableKeyRotation => empty(kms.disable_key_rotation(c, input(body)?).await),
        O::GetKeyRotationStatus => output(kms.get_key_rotation_status(c, input(body)?).await),
        O::RotateKeyOnDemand => output(kms.rotate_key_on_demand(c, input(body)?).await),
        O::ListKeyRotations => output(kms.list_key_rotations(c, input(body)?).await),
        O::GetKeyPolicy => output(kms.get_key_policy(c, input(body)?).await),
        O::PutKeyPolicy => empty(kms.put_key_policy(c, input(body)?).await),
        O::ListKeyPolicies => output(kms.list_key_policies(c, input(body)?).await),
        other => Err(WireError::NotImplemented(other)),
    }
}

/// `POST /trent-test/clock?advance_seconds=N`: move the service clock and run
/// the background sweep at once. Only with `--unsafe-test-clock`.
async fn test_clock(
    state: &AppState,
    clock: &ManualClock,
    query: &str,
) -> Result<Bytes, WireError> {
    let secs: i64 = query
        .split('&')
        .find_map(|p| p.strip_prefix("advance_seconds="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    clock.advance(secs.saturating_mul(1000));
    let report = state.kms.sweep().await?;
    state.kms.flush_usage().await?;
    let body = serde_json::json!({
        "now_ms": trent_core::Clock::now(clock),
        "deleted": report.deleted,
        "rotated": report.rotated,
    });
    Ok(Bytes::from(body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cost of Trent's own work per Encrypt (authenticate, decode,
    /// encrypt, encode), without HTTP or the kernel. Run with
    /// `cargo test --release -p trent-server pipeline_cost -- --ignored --nocapture`.
    #[tokio::test(flavor = "current_thread")]
    #[ignore]
    async fn pipeline_cost() {
        use trent_core::ids::AccountId;
        let store = Arc::new(trent_store::MemoryStore::new());
        let provider = Arc::new(trent_crypto::SoftwareProvider::new());
        let (root, _) = trent_crypto::SoftRootKey::generate().unwrap();
        let kms = Arc::new(
            Kms::new(
                store,
                provider.clone(),
                Arc::new(root),
                Arc::new(trent_core::SystemClock),
                Default::default(),
            )
            .await
            .unwrap(),
        );
        let cred = crate::config::Credential {
            access_key_id: "AKIDBENCH".into(),
            secret: zeroize::Zeroizing::new("secret".into()),
            account: AccountId::parse("111122223333").unwrap(),
            principal: "arn:aws:iam::111122223333:root".into(),
        };
        let state = AppState {
            kms: kms.clone(),
            auth: Authenticator::verified(vec![cred]),
            request_ids: RequestIds::new(provider.as_ref()),
            max_body_bytes: 1 << 20,
            test_clock: None,
        };
        let caller = Caller {
            region: trent_core::ids::Region::parse("us-east-1").unwrap(),
            account: AccountId::parse("111122223333").unwrap(),
            principal: "arn:aws:iam::111122223333:root".into(),
            access_key_id: "AKIDBENCH".into(),
            request_id: "r".into(),
        };
        let key = kms
            .create_key(&caller, Default::default())
            .await
            .unwrap()
            .key_metadata
            .key_id;
        use base64::Engine;
        let body = format!(
            "{{\"KeyId\": \"{key}\", \"Plaintext\": \"{}\"}}",
            base64::engine::general_purpose::STANDARD.encode([7u8; 1024])
        );
        let now = time::OffsetDateTime::now_utc();
        let amz_date = trent_sigv4::format_amz_date(now);
        let headers: Vec<(String, String)> = vec![
            ("content-type".into(), JSON_11.into()),
            ("host".into(), "127.0.0.1:8080".into()),
            ("x-amz-date".into(), amz_date.clone()),
            ("x-amz-target".into(), "TrentService.Encrypt".into()),
        ];
        let sha = trent_sigv4::sha256(body.as_bytes());
        let auth = trent_sigv4::sign(
            &trent_sigv4::Request {
                method: "POST",
                path: "/",
                query: "",
                headers: &headers,
                body_sha256: &sha,
            },
            &trent_sigv4::Credentials {
                access_key_id: "AKIDBENCH",
                secret_access_key: "secret",
            },
            &amz_date,
            "us-east-1",
            "kms",
            "content-type;host;x-amz-date;x-amz-target",
        );
        let mut req = http::Request::builder().method("POST").uri("/");
        for (k, v) in &headers {
            req = req.header(k, v);
        }
        let (parts, ()) = req
            .header("authorization", auth)
            .body(())
            .unwrap()
            .into_parts();
        let n = 200_000;
        let start = std::time::Instant::now();
        for _ in 0..n {
            let rid = state.request_ids.next();
            let op = route(&parts).unwrap();
            let out = process(&state, &parts, op, body.as_bytes(), &rid)
                .await
                .unwrap();
            assert!(out.len() > 1400);
        }
        let per = start.elapsed() / n;
        println!("Encrypt 1 KiB pipeline: {per:?} per request on one core");
    }

    #[test]
    fn request_ids_are_uuid_shaped_and_distinct() {
        let ids = RequestIds::new(&trent_crypto::SoftwareProvider::new());
        let a = ids.next();
        let b = ids.next();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(a.matches('-').count(), 4);
    }
}
