//! The HTTP adapter: AWS JSON 1.1 on `POST /`, routed on `X-Amz-Target`.

use crate::auth::{Authenticator, SignedRequest};
use crate::errors::{to_wire, WireError};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde::Serialize;
use std::convert::Infallible;
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
    /// For request ids.
    pub provider: Arc<dyn CryptoProvider>,
    /// Body limit.
    pub max_body_bytes: usize,
    /// The test clock, when `--unsafe-test-clock` is on.
    pub test_clock: Option<Arc<ManualClock>>,
}

const JSON_11: &str = "application/x-amz-json-1.1";
/// The test-only clock endpoint.
pub const TEST_CLOCK_PATH: &str = "/trent-test/clock";

fn request_id(provider: &dyn CryptoProvider) -> String {
    let mut b = [0u8; 16];
    let _ = provider.fill_random(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
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
    let rid = request_id(state.provider.as_ref());
    match handle_inner(&state, req, &rid).await {
        Ok(body) => Ok(respond(200, &rid, body)),
        Err(e) => Ok(error_response(&e, &rid)),
    }
}

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
    let op = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(Operation::from_target)
        .ok_or(WireError::UnknownOperation)?;
    let body = match Limited::new(body, state.max_body_bytes).collect().await {
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
    let caller = state
        .auth
        .authenticate(
            &SignedRequest {
                method: parts.method.as_str(),
                path: parts.uri.path(),
                query: parts.uri.query().unwrap_or(""),
                headers: &parts.headers,
                body: &body,
            },
            time::OffsetDateTime::now_utc(),
            rid.to_string(),
        )
        .map_err(WireError::Auth)?;
    dispatch(&state.kms, &caller, op, &body).await
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

fn empty(r: Result<(), ServiceError>) -> Result<Bytes, WireError> {
    r?;
    Ok(Bytes::new())
}

async fn dispatch(kms: &Kms, c: &Caller, op: Operation, body: &[u8]) -> Result<Bytes, WireError> {
    use Operation as O;
    match op {
        O::Encrypt => output(kms.encrypt(c, input(body)?).await),
        O::Decrypt => output(kms.decrypt(c, input(body)?).await),
        O::GenerateDataKey => output(kms.generate_data_key(c, input(body)?).await),
        O::GenerateDataKeyWithoutPlaintext => output(
            kms.generate_data_key_without_plaintext(c, input(body)?)
                .await,
        ),
        O::ReEncrypt => output(kms.re_encrypt(c, input(body)?).await),
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
