//! The HTTP adapter: AWS JSON 1.1 on `POST /`, routed on `X-Amz-Target`.
//!
//! A request goes through, in order: routing (method, content type,
//! target), the header-only authentication checks, the body-size cap and
//! the shared body budget, reading the body, signature verification, and the
//! operation. Everything before reading the body costs a few microseconds
//! and no buffering, so a client without credentials cannot make the server
//! hold its body.

use crate::audit::RequestAudit;
use crate::auth::{Api, Authenticator, SignedRequest};
use crate::errors::{to_wire, WireError};
use crate::limits::Gate;
use bytes::Buf;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use serde::Serialize;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use trent_core::{CryptoProvider, ManualClock};
use trent_proto::{Operation, Validate};
use trent_service::{Caller, Kms, ServiceError};
use zeroize::Zeroizing;

/// Shared by every connection.
#[derive(Debug)]
pub struct AppState {
    /// The service.
    pub kms: Arc<Kms>,
    /// SigV4.
    pub auth: Authenticator,
    /// Request ids.
    pub request_ids: RequestIds,
    /// Audit event ids (`eventID`): the same kind of UUID from their own
    /// random prefix and counter, so making one costs no RNG call.
    pub event_ids: RequestIds,
    /// Connection and body caps.
    pub gate: Arc<Gate>,
    /// The test clock, when `--unsafe-test-clock` is on.
    pub test_clock: Option<TestClock>,
}

/// The test-only clock and the token that guards its endpoint.
pub struct TestClock {
    /// The clock.
    pub clock: Arc<ManualClock>,
    /// Random, printed in the log at start-up; the endpoint wants it in
    /// [`TEST_CLOCK_TOKEN_HEADER`].
    pub token: String,
}

impl std::fmt::Debug for TestClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestClock(<token redacted>)")
    }
}

/// The longest step the test clock takes at once: a hundred years.
const MAX_CLOCK_STEP_SECONDS: i64 = 100 * 366 * 86_400;

const JSON_11: &str = "application/x-amz-json-1.1";
/// The test-only clock endpoint.
pub const TEST_CLOCK_PATH: &str = "/trent-test/clock";
/// The header that carries the test clock's token.
pub const TEST_CLOCK_TOKEN_HEADER: &str = "x-trent-test-clock-token";

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

/// A response body that Trent owns to the end: zeroized when hyper is done
/// with it, since it may hold plaintext or a data key. (What hyper or rustls
/// copy into their own buffers on the way out is theirs; see
/// `docs/security.md`.)
#[derive(Debug)]
pub struct ResponseBody(Option<SecretBuf>);

/// The bytes of a [`ResponseBody`], zeroized on drop.
#[derive(Debug)]
pub struct SecretBuf {
    bytes: Zeroizing<Vec<u8>>,
    pos: usize,
}

impl ResponseBody {
    pub(crate) fn new(bytes: Zeroizing<Vec<u8>>) -> Self {
        ResponseBody((!bytes.is_empty()).then_some(SecretBuf { bytes, pos: 0 }))
    }
}

impl Buf for SecretBuf {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
    fn chunk(&self) -> &[u8] {
        &self.bytes[self.pos..]
    }
    fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.bytes.len());
    }
}

impl Body for ResponseBody {
    type Data = SecretBuf;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<SecretBuf>, Infallible>>> {
        Poll::Ready(self.get_mut().0.take().map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.as_ref().map_or(0, |b| b.remaining() as u64))
    }
}

pub(crate) fn respond(
    status: u16,
    request_id: &str,
    body: Zeroizing<Vec<u8>>,
) -> Response<ResponseBody> {
    let mut r = Response::new(ResponseBody::new(body));
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

fn error_response(e: &WireError, request_id: &str) -> Response<ResponseBody> {
    if e.internal() {
        tracing::error!(request_id, error = ?e, "internal error");
    }
    let (code, message) = to_wire(e);
    let mut r = error_body(
        code.http_status(),
        code.as_str(),
        message.as_deref(),
        request_id,
    );
    if matches!(
        e,
        WireError::Auth(_)
            | WireError::Throttled
            | WireError::TooLarge(_)
            | WireError::UnknownOperation
    ) {
        // A caller that could not authenticate, could not be served for lack
        // of room, or was refused before its body was read does not keep a
        // connection (and its buffers) open. (HTTP/1.1; HTTP/2 has no such
        // header, and its connections end by the idle limit.)
        r.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    r
}

/// An AWS JSON error answer: `{"__type": ..., "message": ...}`.
pub(crate) fn error_body(
    status: u16,
    ty: &str,
    message: Option<&str>,
    request_id: &str,
) -> Response<ResponseBody> {
    #[derive(Serialize)]
    struct Body<'a> {
        #[serde(rename = "__type")]
        ty: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<&'a str>,
    }
    let body = serde_json::to_vec(&Body { ty, message }).unwrap_or_default();
    tracing::debug!(request_id, error = ty, "request failed");
    respond(status, request_id, Zeroizing::new(body))
}

/// Where a request came from: the condition keys `aws:SourceIp` and
/// `aws:SecureTransport`.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    /// The peer's address.
    pub peer: Option<std::net::IpAddr>,
    /// Whether the connection is TLS.
    pub tls: bool,
}

/// Handle one HTTP request.
pub async fn handle(
    state: Arc<AppState>,
    conn: ConnInfo,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let rid = state.request_ids.next();
    if req.uri().path() == TEST_CLOCK_PATH {
        if let Some(clock) = &state.test_clock {
            // The test-only clock is not a KMS operation: not audited.
            let (parts, _) = req.into_parts();
            return Ok(match test_clock(&state, clock, &parts).await {
                Ok(body) => respond(200, &rid, body),
                Err(e) => error_response(&e, &rid),
            });
        }
    }
    if crate::sts::is_sts(&req) && req.uri().path() != TEST_CLOCK_PATH {
        return Ok(crate::sts::handle(&state, conn, req, &rid).await);
    }
    let http2 = req.version() == http::Version::HTTP_2;
    let mut audit = RequestAudit::begin(
        state.event_ids.next(),
        state.kms.clock().now(),
        conn,
        req.headers(),
        &rid,
        "kms.amazonaws.com",
        state.kms.trail().enabled(),
    );
    let mut response = if let Some(op) = crate::cloudtrail::operation(req.headers()) {
        audit.event_source("cloudtrail.amazonaws.com");
        audit.operation(&op);
        let (parts, body) = req.into_parts();
        match crate::cloudtrail::handle(&state, conn, &parts, body, &rid, &op, &mut audit).await {
            Ok(body) => respond(200, &rid, body),
            Err(f) => {
                audit.failed(f.code, Some(&f.message));
                error_body(f.status, f.code, Some(&f.message), &rid)
            }
        }
    } else {
        match handle_inner(&state, conn, req, &rid, &mut audit).await {
            Ok(body) => respond(200, &rid, body),
            Err(e) => {
                let (code, message) = to_wire(&e);
                audit.failed(code.as_str(), message.as_deref());
                error_response(&e, &rid)
            }
        }
    };
    // Durable before the answer: a request whose event cannot be written
    // is answered KMSInternalException (its response, possibly holding a
    // data key, is dropped and zeroized unsent).
    if let Err(e) = audit.commit(&state.kms).await {
        tracing::error!(request_id = %rid, error = %e, "audit: the request's event could not be written; answering KMSInternalException");
        response = error_response(&audit_failure(e), &rid);
    }
    if http2 {
        // Connection-level headers do not exist in HTTP/2.
        response.headers_mut().remove(http::header::CONNECTION);
    }
    Ok(response)
}

fn audit_failure(e: trent_audit::AuditError) -> WireError {
    WireError::Service(ServiceError::Internal(trent_service::InternalError::Audit(
        e,
    )))
}

/// Answer every request with `ThrottlingException`: a connection admitted
/// past the cap, for which no room came in time.
pub async fn throttled(
    state: Arc<AppState>,
    conn: ConnInfo,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let rid = state.request_ids.next();
    let sts = crate::sts::is_sts(&req);
    let source = if sts {
        "sts.amazonaws.com"
    } else {
        "kms.amazonaws.com"
    };
    let mut audit = RequestAudit::begin(
        state.event_ids.next(),
        state.kms.clock().now(),
        conn,
        req.headers(),
        &rid,
        source,
        state.kms.trail().enabled(),
    );
    match route(&req.into_parts().0) {
        Ok(op) => audit.operation(op.name()),
        Err(_) => audit.unknown_operation(None),
    }
    let e = WireError::Throttled;
    let (code, message) = to_wire(&e);
    audit.failed(code.as_str(), message.as_deref());
    let response = if sts {
        crate::sts::wire_error(&e).response(&rid)
    } else {
        error_response(&e, &rid)
    };
    if let Err(e) = audit.commit(&state.kms).await {
        tracing::error!(request_id = %rid, error = %e, "audit: the request's event could not be written");
        return Ok(error_response(&audit_failure(e), &rid));
    }
    Ok(response)
}

async fn handle_inner(
    state: &AppState,
    conn: ConnInfo,
    req: Request<Incoming>,
    rid: &str,
    audit: &mut RequestAudit,
) -> Result<Zeroizing<Vec<u8>>, WireError> {
    let (parts, body) = req.into_parts();
    let op = match route(&parts) {
        Ok(op) => op,
        Err(e) => {
            audit.unknown_operation(
                parts
                    .headers
                    .get("x-amz-target")
                    .and_then(|v| v.to_str().ok()),
            );
            return Err(e);
        }
    };
    audit.operation(op.name());
    if !state.kms.trail().healthy() && !crate::audit::read_only(op.name()) {
        // The last write to the trail failed: change nothing that might not
        // be recorded. (This request's own event is the next try.)
        return Err(audit_failure(trent_audit::AuditError::Unavailable));
    }
    let (mut caller, body) = authenticated(state, conn, &parts, body, rid, Api::Kms).await?;
    audit.caller(&mut caller);
    dispatch(&state.kms, &caller, op, &body, audit).await
}

/// Authenticate a request and read its body, in that order: the header
/// checks, the body-size cap and the shared budget come first, so a caller
/// without credentials never has its body buffered; then the body, then the
/// signature over it.
pub(crate) async fn authenticated(
    state: &AppState,
    conn: ConnInfo,
    parts: &http::request::Parts,
    body: Incoming,
    rid: &str,
    api: Api,
) -> Result<(Caller, Zeroizing<Vec<u8>>), WireError> {
    let pending = state
        .auth
        .pre_authenticate(
            &parts.headers,
            time::OffsetDateTime::now_utc(),
            api,
            &state.kms,
        )
        .map_err(WireError::Auth)?;
    let max = state.gate.limits().max_body_bytes;
    let declared = declared_length(parts)?;
    if declared.is_some_and(|n| n > max) {
        return Err(WireError::TooLarge(max));
    }
    let mut budget = state
        .gate
        .body_budget(pending.access_key_id(), declared)
        .await
        .ok_or(WireError::Throttled)?;
    let body = read_body(body, max, declared, &mut budget).await?;
    let mut caller = pending
        .finish(
            &SignedRequest {
                method: parts.method.as_str(),
                path: parts.uri.path(),
                query: parts.uri.query().unwrap_or(""),
                headers: &parts.headers,
                authority: parts.uri.authority().map(|a| a.as_str()),
                body: &body,
            },
            rid.to_string(),
        )
        .map_err(WireError::Auth)?;
    caller.source_ip = conn.peer;
    caller.secure_transport = conn.tls;
    Ok((caller, body))
}

/// `Content-Length`, if the request declares one.
fn declared_length(parts: &http::request::Parts) -> Result<Option<usize>, WireError> {
    match parts.headers.get(http::header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .map(Some)
            .ok_or(WireError::Serialization(None)),
    }
}

/// How long a request body may take to arrive, in all.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// How long a body may pause between two pieces.
pub const BODY_PAUSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Read a body of at most `max` bytes into a buffer Trent owns and zeroizes
/// (it may hold plaintext). With a declared length the buffer is allocated
/// once and its room in the budget was taken up front; without one, room is
/// taken as the body arrives, and the buffer grows by copying into a new
/// zeroizing buffer, never by a reallocation that would leave a copy behind.
/// A client that pauses for [`BODY_PAUSE_TIMEOUT`], or takes longer than
/// [`BODY_READ_TIMEOUT`] in all, is cut off: it does not hold its room in the
/// budget for long.
async fn read_body(
    mut body: Incoming,
    max: usize,
    declared: Option<usize>,
    budget: &mut crate::limits::BodyPermit,
) -> Result<Zeroizing<Vec<u8>>, WireError> {
    let read = async {
        let first = declared.unwrap_or(crate::limits::SMALL_BODY).min(max);
        let mut buf = Zeroizing::new(Vec::with_capacity(first));
        loop {
            let frame = match tokio::time::timeout(BODY_PAUSE_TIMEOUT, body.frame()).await {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(_) => return Err(WireError::Serialization(None)),
            };
            let frame = frame.map_err(|_| WireError::Serialization(None))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let len = buf.len() + data.len();
            if len > max {
                return Err(WireError::TooLarge(max));
            }
            if declared.is_none() && !budget.grow(len).await {
                return Err(WireError::Throttled);
            }
            if len > buf.capacity() {
                let mut bigger = Zeroizing::new(Vec::with_capacity((len * 2).min(max)));
                bigger.extend_from_slice(&buf);
                buf = bigger;
            }
            buf.extend_from_slice(&data);
        }
        Ok(buf)
    };
    tokio::time::timeout(BODY_READ_TIMEOUT, read)
        .await
        .map_err(|_| WireError::Serialization(None))?
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

/// Decode and validate a request; its parameters (without the fields its
/// type marks secret) go into the audit event, also when validation fails.
fn input<'a, T: serde::Deserialize<'a> + Serialize + Validate>(
    body: &'a [u8],
    audit: &mut RequestAudit,
) -> Result<T, WireError> {
    let t: T = trent_proto::decode(body).map_err(|e| {
        WireError::Serialization(match e.classify() {
            serde_json::error::Category::Data => Some(e.to_string()),
            _ => None,
        })
    })?;
    audit.params(&t);
    t.check().map_err(WireError::Validation)?;
    Ok(t)
}

/// KMS records the encryption algorithm also when the request left it to
/// the default.
fn with_default_algorithm<'a, T: serde::Deserialize<'a> + Serialize + Validate>(
    body: &'a [u8],
    audit: &mut RequestAudit,
) -> Result<T, WireError> {
    let t = input(body, audit)?;
    audit.default_param("encryptionAlgorithm", "SYMMETRIC_DEFAULT");
    Ok(t)
}

/// A response whose members CloudTrail records as `responseElements`
/// (`hidden` members left out).
fn recorded(
    r: Result<Zeroizing<Vec<u8>>, WireError>,
    audit: &mut RequestAudit,
    hidden: &[&str],
) -> Result<Zeroizing<Vec<u8>>, WireError> {
    if let Ok(body) = &r {
        audit.response_body(body, hidden);
    }
    r
}

/// A response without secrets, through serde.
fn output<T: Serialize>(r: Result<T, ServiceError>) -> Result<Zeroizing<Vec<u8>>, WireError> {
    let v = r?;
    serde_json::to_vec(&v)
        .map(Zeroizing::new)
        .map_err(|_| WireError::Serialization(None))
}

/// A response that carries a secret (GenerateRandom), through serde, into a
/// buffer large enough that it never reallocates.
fn secret_output<T: Serialize>(
    r: Result<T, ServiceError>,
    capacity: usize,
) -> Result<Zeroizing<Vec<u8>>, WireError> {
    let v = r?;
    let mut out = Zeroizing::new(Vec::with_capacity(capacity));
    serde_json::to_writer(&mut *out, &v).map_err(|_| WireError::Serialization(None))?;
    Ok(out)
}

/// The hot-path responses, written without serde (see `trent_proto::json`),
/// into a buffer sized so that it never reallocates.
fn fast<T: trent_proto::json::WriteJson>(
    r: Result<T, ServiceError>,
) -> Result<Zeroizing<Vec<u8>>, WireError> {
    let v = r?;
    let mut out = Zeroizing::new(Vec::with_capacity(v.json_capacity()));
    v.write_json(&mut out);
    Ok(out)
}

fn empty(r: Result<(), ServiceError>) -> Result<Zeroizing<Vec<u8>>, WireError> {
    r?;
    Ok(Zeroizing::new(Vec::new()))
}

/// GenerateRandom's largest answer: 1,024 bytes in base64, and the name.
const RANDOM_CAPACITY: usize = 2048;
/// DeriveSharedSecret's answer: a P-521 secret (66 bytes) in base64, an
/// ARN and the names.
const SHARED_SECRET_CAPACITY: usize = 1024;
/// GenerateDataKeyPair's largest answer: an RSA-4096 private key (about
/// 2,400 bytes of PKCS#8) in base64 twice (plaintext and sealed), its
/// public key, an ARN and the names.
const DATA_KEY_PAIR_CAPACITY: usize = 12 * 1024;
/// Encapsulate's answer: an ML-KEM-1024 ciphertext (1,568 bytes) and a
/// 32-byte secret in base64, an ARN and the names.
const ENCAPSULATE_CAPACITY: usize = 3072;

async fn dispatch(
    kms: &Kms,
    c: &Caller,
    op: Operation,
    body: &[u8],
    a: &mut RequestAudit,
) -> Result<Zeroizing<Vec<u8>>, WireError> {
    use Operation as O;
    match op {
        O::Encrypt => {
            let r = kms.encrypt(c, with_default_algorithm(body, a)?).await;
            fast(r)
        }
        O::Decrypt => {
            let r = kms.decrypt(c, with_default_algorithm(body, a)?).await;
            fast(r)
        }
        O::GenerateDataKey => {
            let r = kms.generate_data_key(c, input(body, a)?).await;
            fast(r)
        }
        O::GenerateDataKeyWithoutPlaintext => {
            let r = kms
                .generate_data_key_without_plaintext(c, input(body, a)?)
                .await;
            fast(r)
        }
        O::ReEncrypt => {
            let r = kms.re_encrypt(c, input(body, a)?).await;
            fast(r)
        }
        O::GenerateRandom => secret_output(
            kms.generate_random(c, input(body, a)?).await,
            RANDOM_CAPACITY,
        ),
        O::CreateKey => recorded(output(kms.create_key(c, input(body, a)?).await), a, &[]),
        O::DescribeKey => output(kms.describe_key(c, input(body, a)?).await),
        O::ListKeys => output(kms.list_keys(c, input(body, a)?).await),
        O::UpdateKeyDescription => empty(kms.update_key_description(c, input(body, a)?).await),
        O::GetKeyLastUsage => output(kms.get_key_last_usage(c, input(body, a)?).await),
        O::EnableKey => empty(kms.enable_key(c, input(body, a)?).await),
        O::DisableKey => empty(kms.disable_key(c, input(body, a)?).await),
        O::ScheduleKeyDeletion => recorded(
            output(kms.schedule_key_deletion(c, input(body, a)?).await),
            a,
            &[],
        ),
        O::CancelKeyDeletion => recorded(
            output(kms.cancel_key_deletion(c, input(body, a)?).await),
            a,
            &[],
        ),
        O::CreateAlias => empty(kms.create_alias(c, input(body, a)?).await),
        O::UpdateAlias => empty(kms.update_alias(c, input(body, a)?).await),
        O::DeleteAlias => empty(kms.delete_alias(c, input(body, a)?).await),
        O::ListAliases => output(kms.list_aliases(c, input(body, a)?).await),
        O::TagResource => empty(kms.tag_resource(c, input(body, a)?).await),
        O::UntagResource => empty(kms.untag_resource(c, input(body, a)?).await),
        O::ListResourceTags => output(kms.list_resource_tags(c, input(body, a)?).await),
        O::EnableKeyRotation => empty(kms.enable_key_rotation(c, input(body, a)?).await),
        O::DisableKeyRotation => empty(kms.disable_key_rotation(c, input(body, a)?).await),
        O::GetKeyRotationStatus => output(kms.get_key_rotation_status(c, input(body, a)?).await),
        O::RotateKeyOnDemand => recorded(
            output(kms.rotate_key_on_demand(c, input(body, a)?).await),
            a,
            &[],
        ),
        O::ListKeyRotations => output(kms.list_key_rotations(c, input(body, a)?).await),
        O::GetKeyPolicy => output(kms.get_key_policy(c, input(body, a)?).await),
        O::PutKeyPolicy => empty(kms.put_key_policy(c, input(body, a)?).await),
        O::ListKeyPolicies => output(kms.list_key_policies(c, input(body, a)?).await),
        O::CreateGrant => recorded(
            output(kms.create_grant(c, input(body, a)?).await),
            a,
            &["GrantToken"],
        ),
        O::ListGrants => output(kms.list_grants(c, input(body, a)?).await),
        O::ListRetirableGrants => output(kms.list_retirable_grants(c, input(body, a)?).await),
        O::RetireGrant => empty(kms.retire_grant(c, input(body, a)?).await),
        O::RevokeGrant => empty(kms.revoke_grant(c, input(body, a)?).await),
        O::Sign => output(kms.sign(c, input(body, a)?).await),
        O::Verify => output(kms.verify(c, input(body, a)?).await),
        O::GetPublicKey => output(kms.get_public_key(c, input(body, a)?).await),
        O::GenerateMac => output(kms.generate_mac(c, input(body, a)?).await),
        O::VerifyMac => output(kms.verify_mac(c, input(body, a)?).await),
        O::DeriveSharedSecret => secret_output(
            kms.derive_shared_secret(c, input(body, a)?).await,
            SHARED_SECRET_CAPACITY,
        ),
        O::GenerateDataKeyPair => secret_output(
            kms.generate_data_key_pair(c, input(body, a)?).await,
            DATA_KEY_PAIR_CAPACITY,
        ),
        O::GenerateDataKeyPairWithoutPlaintext => output(
            kms.generate_data_key_pair_without_plaintext(c, input(body, a)?)
                .await,
        ),
        O::Encapsulate => secret_output(
            kms.encapsulate(c, input(body, a)?).await,
            ENCAPSULATE_CAPACITY,
        ),
        O::Decapsulate => secret_output(
            kms.decapsulate(c, input(body, a)?).await,
            SHARED_SECRET_CAPACITY,
        ),
        O::ReplicateKey => recorded(output(kms.replicate_key(c, input(body, a)?).await), a, &[]),
        O::UpdatePrimaryRegion => empty(kms.update_primary_region(c, input(body, a)?).await),
        O::GetParametersForImport => {
            output(kms.get_parameters_for_import(c, input(body, a)?).await)
        }
        O::ImportKeyMaterial => output(kms.import_key_material(c, input(body, a)?).await),
        O::DeleteImportedKeyMaterial => {
            output(kms.delete_imported_key_material(c, input(body, a)?).await)
        }
        other => Err(WireError::NotImplemented(other)),
    }
}

/// Run one AWS JSON 1.1 request body for `op` as `caller`, without HTTP or
/// authentication: decoding, validation, the operation and the encoding of
/// its answer or error, exactly as a request that passed authentication.
/// Returns the HTTP status and body. For fuzzing and in-process measurement.
pub async fn run_operation(
    kms: &Kms,
    caller: &Caller,
    op: Operation,
    body: &[u8],
) -> (u16, Zeroizing<Vec<u8>>) {
    // Fuzzing and in-process measurement: the event is built, not written.
    let mut audit = RequestAudit::begin(
        format!("{}-event", caller.request_id),
        kms.clock().now(),
        ConnInfo {
            peer: None,
            tls: false,
        },
        &http::HeaderMap::new(),
        &caller.request_id,
        "kms.amazonaws.com",
        true,
    );
    match dispatch(kms, caller, op, body, &mut audit).await {
        Ok(out) => (200, out),
        Err(e) => {
            let r = error_response(&e, &caller.request_id);
            let status = r.status().as_u16();
            let body = r
                .into_body()
                .0
                .map(|b| b.bytes)
                .unwrap_or_else(|| Zeroizing::new(Vec::new()));
            (status, body)
        }
    }
}

/// Whether a `Host` header names this machine's loopback interface.
fn loopback_host(parts: &http::request::Parts) -> bool {
    let Some(host) = parts
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        // `[::1]:port`
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `POST /trent-test/clock?advance_seconds=N[&sweep=0]` with the start-up
/// token: move the service clock forward and run the background sweep at
/// once (unless `sweep=0`).
/// Only with `--unsafe-test-clock`, which is loopback only. A web page open
/// on the same machine can reach loopback, so the endpoint also wants POST
/// (no plain link or image reaches it), a loopback `Host` (no DNS rebinding)
/// and the token in a header (which a page cannot add without CORS
/// permission). Time only moves forward.
async fn test_clock(
    state: &AppState,
    clock: &TestClock,
    parts: &http::request::Parts,
) -> Result<Zeroizing<Vec<u8>>, WireError> {
    use subtle::ConstantTimeEq;
    let token_ok = parts
        .headers
        .get(TEST_CLOCK_TOKEN_HEADER)
        .is_some_and(|t| bool::from(t.as_bytes().ct_eq(clock.token.as_bytes())));
    if parts.method != http::Method::POST || !loopback_host(parts) || !token_ok {
        return Err(WireError::UnknownOperation);
    }
    let query = parts.uri.query().unwrap_or("");
    let secs: i64 = query
        .split('&')
        .find_map(|p| p.strip_prefix("advance_seconds="))
        .and_then(|v| v.parse().ok())
        .filter(|s| (0..=MAX_CLOCK_STEP_SECONDS).contains(s))
        .ok_or(WireError::UnknownOperation)?;
    clock.clock.advance(secs.saturating_mul(1000));
    // `sweep=0`: only move the clock, and leave the sweep to the node that
    // holds the background lease (tests of several nodes).
    let sweep = !query.split('&').any(|p| p == "sweep=0");
    let report = if sweep {
        let r = state.kms.sweep().await?;
        state.kms.flush_usage().await?;
        r
    } else {
        trent_service::background::SweepReport::default()
    };
    let body = serde_json::json!({
        "now_ms": trent_core::Clock::now(&*clock.clock),
        "deleted": report.deleted,
        "rotated": report.rotated,
        "failed": report.failed,
    });
    Ok(Zeroizing::new(body.to_string().into_bytes()))
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
            auth: Authenticator::verified(vec![cred], &trent_service::Directory::default()),
            request_ids: RequestIds::new(provider.as_ref()),
            event_ids: RequestIds::new(provider.as_ref()),
            gate: Arc::new(Gate::new(crate::config::Limits {
                max_body_bytes: 1 << 20,
                max_connections: 16,
                max_buffered_body_bytes: 1 << 26,
                overload_wait: std::time::Duration::from_secs(1),
            })),
            test_clock: None,
        };
        let caller = Caller::new(
            trent_core::ids::Region::parse("us-east-1").unwrap(),
            Arc::new(trent_service::Identity::root(
                &AccountId::parse("111122223333").unwrap(),
            )),
            "AKIDBENCH".into(),
            "r".into(),
        );
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
        let conn = ConnInfo {
            peer: Some(std::net::Ipv4Addr::LOCALHOST.into()),
            tls: false,
        };
        for _ in 0..n {
            let rid = state.request_ids.next();
            // The request context and its event, as `handle` builds them
            // with the trail on (the trail is off here: writing it is the
            // trail's own cost).
            let mut audit = RequestAudit::begin(
                state.event_ids.next(),
                state.kms.clock().now(),
                conn,
                &parts.headers,
                &rid,
                "kms.amazonaws.com",
                true,
            );
            let op = route(&parts).unwrap();
            audit.operation(op.name());
            let pending = state
                .auth
                .pre_authenticate(
                    &parts.headers,
                    time::OffsetDateTime::now_utc(),
                    Api::Kms,
                    &state.kms,
                )
                .unwrap();
            let body = Zeroizing::new(body.as_bytes().to_vec());
            let mut caller = pending
                .finish(
                    &SignedRequest {
                        method: "POST",
                        path: "/",
                        query: "",
                        headers: &parts.headers,
                        authority: None,
                        body: &body,
                    },
                    rid,
                )
                .unwrap();
            audit.caller(&mut caller);
            let out = dispatch(&state.kms, &caller, op, &body, &mut audit)
                .await
                .unwrap();
            audit.commit(&state.kms).await.unwrap();
            assert!(out.len() > 1400);
        }
        let per = start.elapsed() / n;
        println!("Encrypt 1 KiB pipeline: {per:?} per request on one core");
    }

    #[test]
    fn loopback_hosts() {
        let host = |h: &str| {
            let (parts, ()) = http::Request::builder()
                .header("host", h)
                .body(())
                .unwrap()
                .into_parts();
            loopback_host(&parts)
        };
        for ok in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1",
            "127.0.0.1:8080",
            "[::1]:80",
            "127.9.9.9:1",
        ] {
            assert!(host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "10.0.0.1:80",
            "[::2]:80",
            "",
        ] {
            assert!(!host(bad), "{bad}");
        }
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
