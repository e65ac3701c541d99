//! The request context that becomes the request's audit event.
//!
//! Every request that reaches the router gets one [`RequestAudit`] when it
//! arrives; each stage fills in what it learns (the operation, the caller,
//! the decoded parameters without secrets, the keys the service acted on,
//! the answer or the error), and [`RequestAudit::commit`] makes it durable
//! before the response leaves. No operation builds an event of its own.

use crate::http::ConnInfo;
use serde::Serialize;
use std::sync::Arc;
use trent_audit::event::{Json, SessionAttributes, SessionIssuer};
use trent_audit::{AuditError, Event, SessionContext, UserIdentity};
use trent_core::authz::PrincipalKind;
use trent_service::audit::key_resource;
use trent_service::{AuditNotes, Caller, Kms};

/// The longest `userAgent` kept (CloudTrail truncates long ones too).
const MAX_USER_AGENT: usize = 1024;
/// The longest name kept for a request to an unknown operation.
const MAX_UNKNOWN_NAME: usize = 64;

/// One request's audit event, as it is filled in.
#[derive(Debug)]
pub(crate) struct RequestAudit {
    event: Event,
    notes: Arc<AuditNotes>,
    /// False with the trail off (see [`RequestAudit::begin`]).
    recording: bool,
}

/// The access key id and region of an `Authorization` header's credential
/// scope, as far as they can be read without checking anything (a refused
/// request is recorded with what it claimed).
fn claimed_scope(headers: &http::HeaderMap) -> (Option<String>, Option<String>) {
    let Some(value) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return (None, None);
    };
    let Some(start) = value.find("Credential=") else {
        return (None, None);
    };
    let cred = &value[start + "Credential=".len()..];
    let cred = cred.split([',', ' ']).next().unwrap_or_default();
    let mut parts = cred.split('/');
    let clean = |s: &str, max: usize| {
        (!s.is_empty()
            && s.len() <= max
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .then(|| s.to_string())
    };
    let akid = parts.next().and_then(|s| clean(s, 128));
    let region = parts.nth(1).and_then(|s| clean(s, 32));
    (akid, region)
}

/// `userIdentity` of an authenticated caller, in CloudTrail's terms.
pub(crate) fn identity_of(c: &Caller) -> UserIdentity {
    let p = &c.identity.principal;
    let mut id = UserIdentity {
        principal_id: Some(p.user_id.to_string()),
        arn: Some(p.arn.to_string()),
        account_id: Some(p.account.to_string()),
        access_key_id: Some(c.access_key_id.to_string()),
        ..UserIdentity::default()
    };
    match p.kind {
        PrincipalKind::Root => id.kind = Some("Root"),
        PrincipalKind::User => {
            id.kind = Some("IAMUser");
            id.user_name = p.arn.rsplit('/').next().map(str::to_string);
        }
        PrincipalKind::Role => id.kind = Some("Role"),
        PrincipalKind::AssumedRole => {
            id.kind = Some("AssumedRole");
            let role_arn = p.principal_arn.to_string();
            id.session_context = Some(SessionContext {
                session_issuer: SessionIssuer {
                    kind: "Role",
                    principal_id: p.user_id.split(':').next().unwrap_or_default().to_string(),
                    user_name: role_arn.rsplit('/').next().unwrap_or_default().to_string(),
                    arn: role_arn,
                    account_id: p.account.to_string(),
                },
                attributes: SessionAttributes {
                    creation_date: c
                        .identity
                        .session_issued_at
                        .map(trent_audit::iso_seconds)
                        .unwrap_or_default(),
                    mfa_authenticated: "false",
                },
            });
        }
    }
    id
}

/// Whether an operation only reads (CloudTrail's `readOnly`): the
/// cryptographic operations and every Describe, Get and List.
pub(crate) fn read_only(name: &str) -> bool {
    [
        "Describe",
        "Get",
        "List",
        "Encrypt",
        "Decrypt",
        "ReEncrypt",
        "GenerateDataKey",
        "GenerateRandom",
        "GenerateMac",
        "VerifyMac",
        "Sign",
        "Verify",
        "DeriveSharedSecret",
        "Encapsulate",
        "Decapsulate",
        "LookupEvents",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// CloudTrail's `errorCode` for an error `__type`: the exception name, but
/// `AccessDenied` for access denials, as CloudTrail records them.
fn error_code(ty: &str) -> String {
    match ty {
        "AccessDeniedException" => "AccessDenied".to_string(),
        other => other.to_string(),
    }
}

/// A JSON object with its member names turned from AWS JSON's PascalCase to
/// CloudTrail's camelCase (only the first letter: `AWSAccountId` becomes
/// `aWSAccountId`, as CloudTrail writes it).
fn camel(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let mut c = k.chars();
                    let k = match c.next() {
                        Some(f) => f.to_lowercase().chain(c).collect(),
                        None => k,
                    };
                    (k, camel(v))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(camel).collect()),
        other => other,
    }
}

impl RequestAudit {
    /// The context of a request that just arrived. `recording`: whether the
    /// event will be written (the trail is on); without it the parameters
    /// and response elements, the costly parts of an event, are not built.
    pub(crate) fn begin(
        event_id: String,
        time_ms: i64,
        conn: ConnInfo,
        headers: &http::HeaderMap,
        request_id: &str,
        event_source: &'static str,
        recording: bool,
    ) -> RequestAudit {
        let (akid, region) = claimed_scope(headers);
        let mut event = Event::api_call(
            event_source,
            "",
            region.as_deref().unwrap_or("us-east-1"),
            event_id,
            time_ms,
        );
        event.request_id = Some(request_id.to_string());
        event.source_ip_address = conn.peer.map(|ip| ip.to_string()).unwrap_or_default();
        let ua = headers
            .get(http::header::USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        event.user_agent = match ua.char_indices().nth(MAX_USER_AGENT) {
            Some((i, _)) => ua[..i].to_string(),
            None => ua,
        };
        event.user_identity = UserIdentity {
            kind: Some("Unknown"),
            access_key_id: akid,
            ..UserIdentity::default()
        };
        RequestAudit {
            event,
            notes: Arc::default(),
            recording,
        }
    }

    /// The service the request is for.
    pub(crate) fn event_source(&mut self, source: &'static str) {
        self.event.event_source = source;
    }

    /// The operation (`Encrypt`, `AssumeRole`, ...).
    pub(crate) fn operation(&mut self, name: &str) {
        self.event.event_name = name.to_string();
        self.event.read_only = read_only(name);
    }

    /// A request to an operation that does not exist: the name it gave,
    /// cut to a safe length and character set.
    pub(crate) fn unknown_operation(&mut self, target: Option<&str>) {
        let name: String = target
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("")
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(MAX_UNKNOWN_NAME)
            .collect();
        self.event.event_name = if name.is_empty() {
            "UnknownOperation".into()
        } else {
            name
        };
    }

    /// The authenticated caller: its identity goes into the event, and the
    /// event id and the notes into the caller, for the service.
    pub(crate) fn caller(&mut self, c: &mut Caller) {
        self.event.user_identity = identity_of(c);
        self.event.aws_region = c.region.as_str().to_string();
        self.event.recipient_account_id = c.account.to_string();
        c.event_id = self.event.event_id.clone();
        c.notes = self.notes.clone();
    }

    /// The request's parameters: the typed request serialized, which skips
    /// every secret field by its type's definition.
    pub(crate) fn params<T: Serialize>(&mut self, request: &T) {
        if !self.recording {
            return;
        }
        self.event.request_parameters = serde_json::value::to_raw_value(request).ok();
    }

    /// Add `"name":"value"` to the parameters if absent (KMS records
    /// `encryptionAlgorithm` also when the request left it out).
    pub(crate) fn default_param(&mut self, name: &str, value: &str) {
        let Some(p) = self.event.request_parameters.take() else {
            return;
        };
        let text = p.get();
        let needle = format!("\"{name}\":");
        let out = if has_member(text, name) || !text.ends_with('}') {
            p
        } else {
            let mut s = String::with_capacity(text.len() + name.len() + value.len() + 8);
            s.push_str(&text[..text.len() - 1]);
            if text.len() > 2 {
                s.push(',');
            }
            s.push_str(&needle);
            s.push_str(&serde_json::to_string(value).unwrap_or_default());
            s.push('}');
            serde_json::value::RawValue::from_string(s).unwrap_or(p)
        };
        self.event.request_parameters = Some(out);
    }

    /// `responseElements` from a response body (AWS JSON), camelCased,
    /// without the `hidden` members.
    pub(crate) fn response_body(&mut self, body: &[u8], hidden: &[&str]) {
        if !self.recording {
            return;
        }
        if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(body) {
            if let Some(m) = v.as_object_mut() {
                for h in hidden {
                    m.remove(*h);
                }
            }
            self.event.response_elements = serde_json::value::to_raw_value(&camel(v)).ok();
        }
    }

    /// `responseElements` given directly.
    pub(crate) fn response(&mut self, elements: Option<Json>) {
        self.event.response_elements = elements;
    }

    /// `additionalEventData.keyMaterialId`.
    pub(crate) fn key_material(&mut self, id: &str) {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Data<'a> {
            key_material_id: &'a str,
        }
        self.event.additional_event_data = serde_json::value::to_raw_value(&Data {
            key_material_id: id,
        })
        .ok();
    }

    /// The request failed with `ty` (the `__type` or STS error code).
    pub(crate) fn failed(&mut self, ty: &str, message: Option<&str>) {
        self.event.error_code = Some(error_code(ty));
        self.event.error_message = message.map(str::to_string);
    }

    /// Make the event durable. Returns when it is on stable storage.
    pub(crate) async fn commit(mut self, kms: &Kms) -> Result<(), AuditError> {
        if !kms.trail().enabled() {
            return Ok(());
        }
        self.event.resources = self
            .notes
            .keys()
            .iter()
            .map(|arn| key_resource(arn))
            .collect();
        if let Some(m) = self.notes.material() {
            self.key_material(&m);
        }
        if self.event.event_name.is_empty() {
            self.event.event_name = "UnknownOperation".into();
        }
        let result = kms.trail().record(&self.event).await;
        if result.is_err() {
            // The request is answered KMSInternalException, but it may have
            // changed something before its event failed (the disk filled up
            // between the check and the write): the event goes to the log,
            // which holds no secret either, so it is not lost.
            tracing::error!(
                event = %serde_json::to_string(&self.event).unwrap_or_default(),
                "audit: an event that could not be written to the trail"
            );
        }
        result
    }
}

/// Whether the JSON object `text` has a member `name` at its top level (a
/// key inside the encryption context does not count). `name` is plain
/// ASCII, so comparing the raw key bytes is exact.
fn has_member(text: &str, name: &str) -> bool {
    let b = text.as_bytes();
    let (mut depth, mut i, mut at_key) = (0usize, 0usize, false);
    while i < b.len() {
        match b[i] {
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                if depth == 1 && at_key && b.get(start..i) == Some(name.as_bytes()) {
                    return true;
                }
                at_key = false;
            }
            b'{' => {
                depth += 1;
                at_key = depth == 1;
            }
            b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' => at_key = depth == 1,
            _ => {}
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claimed_scope_is_read_without_trusting_it() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20261202/eu-west-1/kms/aws4_request, SignedHeaders=host, Signature=00"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            claimed_scope(&h),
            (Some("AKIAEXAMPLE".into()), Some("eu-west-1".into()))
        );
        h.insert(
            http::header::AUTHORIZATION,
            "AWS4-HMAC-SHA256 Credential=AK\"IA/x/{}/kms"
                .parse()
                .unwrap(),
        );
        assert_eq!(claimed_scope(&h), (None, None));
        assert_eq!(claimed_scope(&http::HeaderMap::new()), (None, None));
    }

    #[test]
    fn read_only_operations() {
        for op in [
            "Encrypt",
            "Decrypt",
            "DescribeKey",
            "ListGrants",
            "GetKeyPolicy",
            "GenerateDataKeyWithoutPlaintext",
        ] {
            assert!(read_only(op), "{op}");
        }
        for op in [
            "CreateKey",
            "ScheduleKeyDeletion",
            "PutKeyPolicy",
            "RetireGrant",
            "TagResource",
            "AssumeRole",
        ] {
            assert!(!read_only(op), "{op}");
        }
    }

    #[test]
    fn response_members_are_camel_cased_as_cloudtrail_writes_them() {
        let v = camel(
            serde_json::json!({"KeyMetadata": {"AWSAccountId": "1", "KeyId": "k", "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"]}}),
        );
        assert_eq!(
            v,
            serde_json::json!({"keyMetadata": {"aWSAccountId": "1", "keyId": "k", "encryptionAlgorithms": ["SYMMETRIC_DEFAULT"]}})
        );
    }

    #[test]
    fn only_top_level_members_count() {
        let has = |t: &str| super::has_member(t, "encryptionAlgorithm");
        assert!(has(r#"{"encryptionAlgorithm":"RSAES_OAEP_SHA_1"}"#));
        assert!(has(r#"{"keyId":"k","encryptionAlgorithm":"X"}"#));
        assert!(!has(
            r#"{"keyId":"k","encryptionContext":{"encryptionAlgorithm":"x"}}"#
        ));
        assert!(!has(r#"{"keyId":"encryptionAlgorithm"}"#));
        assert!(!has(r#"{"a":[{"encryptionAlgorithm":1}],"b":"x"}"#));
        assert!(!has(r#"{"k\"encryptionAlgorithm":"x"}"#));
        assert!(!has("{}"));
    }
}
