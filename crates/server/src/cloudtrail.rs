//! CloudTrail's `LookupEvents` on Trent's endpoint, over the audit trail:
//! `aws cloudtrail lookup-events --endpoint-url ...` works unchanged. AWS
//! JSON 1.1, target `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents`,
//! SigV4 with service `cloudtrail`, action `cloudtrail:LookupEvents` decided
//! by the caller's identity policies (the account root needs none). A
//! caller sees the events of its own account in the Region it signed for,
//! as CloudTrail shows an account's events per Region.

use crate::audit::RequestAudit;
use crate::auth::Api;
use crate::http::{authenticated, AppState, ConnInfo};
use serde::{Deserialize, Serialize};
use trent_audit::search::{Attribute, Cursor, Query};
use trent_core::authz::Action;
use zeroize::Zeroizing;

/// The `X-Amz-Target` prefix of CloudTrail's operations.
pub(crate) const TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.";

/// Most events per page, and the default (CloudTrail's).
const MAX_RESULTS: i64 = 50;

/// A CloudTrail error: `__type` and message (HTTP 400, as CloudTrail sends
/// its client errors).
#[derive(Debug)]
pub struct Failure {
    /// HTTP status.
    pub status: u16,
    /// `__type`.
    pub code: &'static str,
    /// The message.
    pub message: String,
}

fn fail(code: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        status: 400,
        code,
        message: message.into(),
    }
}

impl From<crate::errors::WireError> for Failure {
    /// Authentication and body failures, in the words they have everywhere.
    fn from(e: crate::errors::WireError) -> Self {
        let (code, message) = crate::errors::to_wire(&e);
        Failure {
            status: code.http_status(),
            code: code.as_str(),
            message: message.unwrap_or_default(),
        }
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
struct LookupEventsRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lookup_attributes: Option<Vec<LookupAttribute>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_time: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end_time: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event_category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_results: Option<i64>,
    #[serde(default, skip_serializing)]
    next_token: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "PascalCase"))]
struct LookupAttribute {
    attribute_key: String,
    attribute_value: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct LookupEventsResponse {
    events: Vec<EventOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct EventOut {
    event_id: String,
    event_name: String,
    read_only: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<String>,
    event_time: f64,
    event_source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    resources: Vec<ResourceOut>,
    cloud_trail_event: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ResourceOut {
    resource_type: String,
    resource_name: String,
}

fn attribute(a: &LookupAttribute) -> Result<Attribute, Failure> {
    let v = a.attribute_value.clone();
    if v.is_empty() || v.len() > 2000 {
        return Err(fail(
            "InvalidLookupAttributesException",
            "The attribute value must be 1 to 2000 characters.",
        ));
    }
    Ok(match a.attribute_key.as_str() {
        "EventId" => Attribute::EventId(v),
        "EventName" => Attribute::EventName(v),
        "ReadOnly" => match v.as_str() {
            "true" => Attribute::ReadOnly(true),
            "false" => Attribute::ReadOnly(false),
            _ => {
                return Err(fail(
                    "InvalidLookupAttributesException",
                    "ReadOnly must be true or false.",
                ))
            }
        },
        "Username" => Attribute::Username(v),
        "ResourceType" => Attribute::ResourceType(v),
        "ResourceName" => Attribute::ResourceName(v),
        "EventSource" => Attribute::EventSource(v),
        "AccessKeyId" => Attribute::AccessKeyId(v),
        other => {
            return Err(fail(
                "InvalidLookupAttributesException",
                format!(
                    "Value '{other}' at 'lookupAttributes.1.member.attributeKey' failed to satisfy constraint: \
                     Member must satisfy enum value set: [EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource, AccessKeyId]"
                ),
            ))
        }
    })
}

fn millis(seconds: f64) -> i64 {
    (seconds * 1000.0).clamp(i64::MIN as f64, i64::MAX as f64) as i64
}

/// `NextToken`: where the last page ended, opaque to the client.
fn encode_token(c: &Cursor) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("1:{}:{}:{}", c.time_ms, c.seq, c.node))
}

fn decode_token(t: &str) -> Option<Cursor> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.splitn(4, ':');
    if parts.next()? != "1" {
        return None;
    }
    let time_ms = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    let node = parts.next()?.to_string();
    trent_audit::valid_node_name(&node).then_some(Cursor { time_ms, node, seq })
}

/// Handle a CloudTrail request (its operation already read from the
/// target): the answer's body, or the failure.
pub(crate) async fn handle(
    state: &AppState,
    conn: ConnInfo,
    parts: &http::request::Parts,
    body: hyper::body::Incoming,
    rid: &str,
    operation: &str,
    audit: &mut RequestAudit,
) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let (mut caller, body) = authenticated(state, conn, parts, body, rid, Api::CloudTrail).await?;
    audit.caller(&mut caller);
    if operation != "LookupEvents" {
        return Err(fail(
            "UnsupportedOperationException",
            format!("{operation} is not supported by this Trent server."),
        ));
    }
    lookup_events(state, &caller, &body, audit).await
}

/// The CloudTrail operation a request names, if it is one.
pub(crate) fn operation(parts: &http::HeaderMap) -> Option<String> {
    let target = parts.get("x-amz-target")?.to_str().ok()?;
    let op = target.strip_prefix(TARGET_PREFIX)?;
    (!op.is_empty() && op.len() <= 64 && op.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| op.to_string())
}

/// A `LookupEvents` body, decoded and checked: the query to run for the
/// caller's `account` and `region` (`None`: Insights events, of which Trent
/// has none). The network reaches this with any bytes: `fuzz/` runs it.
pub fn parse_lookup(body: &[u8], account: &str, region: &str) -> Result<Option<Query>, Failure> {
    parse_lookup_recorded(body, account, region, None)
}

fn parse_lookup_recorded(
    body: &[u8],
    account: &str,
    region: &str,
    audit: Option<&mut RequestAudit>,
) -> Result<Option<Query>, Failure> {
    let r: LookupEventsRequest = if body.is_empty() {
        LookupEventsRequest::default()
    } else {
        serde_json::from_slice(body).map_err(|e| fail("SerializationException", e.to_string()))?
    };
    if let Some(a) = audit {
        a.params(&r);
    }
    let attrs = r.lookup_attributes.as_deref().unwrap_or_default();
    if attrs.len() > 1 {
        return Err(fail(
            "InvalidLookupAttributesException",
            "You can only specify one lookup attribute.",
        ));
    }
    let attribute = attrs.first().map(attribute).transpose()?;
    if let (Some(s), Some(e)) = (r.start_time, r.end_time) {
        if s > e {
            return Err(fail(
                "InvalidTimeRangeException",
                "Start time must be before end time.",
            ));
        }
    }
    let limit = r.max_results.unwrap_or(MAX_RESULTS);
    if !(1..=MAX_RESULTS).contains(&limit) {
        return Err(fail(
            "InvalidMaxResultsException",
            "MaxResults must be between 1 and 50.",
        ));
    }
    if let Some(c) = &r.event_category {
        if c != "insight" {
            return Err(fail(
                "InvalidEventCategoryException",
                format!("Value '{c}' at 'eventCategory' failed to satisfy constraint: Member must satisfy enum value set: [insight]"),
            ));
        }
        return Ok(None);
    }
    let after = match &r.next_token {
        Some(t) => Some(
            decode_token(t)
                .ok_or_else(|| fail("InvalidNextTokenException", "Invalid NextToken."))?,
        ),
        None => None,
    };
    Ok(Some(Query {
        start_ms: r.start_time.map(millis),
        end_ms: r.end_time.map(millis),
        scope: Some((account.to_string(), region.to_string())),
        attribute,
        principal: None,
        failed: None,
        limit: usize::try_from(limit).unwrap_or(50),
        after,
    }))
}

/// The answer to a query: CloudTrail's `Events` and `NextToken`.
pub fn answer(page: trent_audit::search::Page) -> Zeroizing<Vec<u8>> {
    let mut out = LookupEventsResponse {
        events: Vec::new(),
        next_token: page.next.as_ref().map(encode_token),
    };
    out.events = page
        .found
        .into_iter()
        .map(|f| {
            let facts = f.facts;
            EventOut {
                event_id: facts.event_id,
                event_name: facts.event_name,
                read_only: if facts.read_only { "true" } else { "false" },
                access_key_id: (!facts.access_key_id.is_empty()).then_some(facts.access_key_id),
                event_time: (facts.time_ms.div_euclid(1000)) as f64,
                event_source: facts.event_source,
                username: (!facts.username.is_empty()).then_some(facts.username),
                resources: facts
                    .resource_types
                    .into_iter()
                    .zip(facts.resource_names)
                    .map(|(resource_type, resource_name)| ResourceOut {
                        resource_type,
                        resource_name,
                    })
                    .collect(),
                cloud_trail_event: f.record,
            }
        })
        .collect();
    to_body(&out)
}

async fn lookup_events(
    state: &AppState,
    caller: &trent_service::Caller,
    body: &[u8],
    audit: &mut RequestAudit,
) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let account = caller.account.to_string();
    let query = parse_lookup_recorded(body, &account, caller.region.as_str(), Some(audit));
    state
        .kms
        .authorize_caller(caller, Action::LookupEvents)
        .map_err(|e| fail("AccessDeniedException", e.to_string()))?;
    let Some(q) = query? else {
        return Ok(answer(Default::default()));
    };
    let Some(root) = state.kms.trail().root_dir().map(|p| p.to_path_buf()) else {
        return Ok(answer(Default::default()));
    };
    // A lookup reads index files on a blocking thread, which the store's
    // work shares; however many callers ask at once, two lookups run.
    static LOOKUPS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
    let _permit = LOOKUPS
        .acquire()
        .await
        .map_err(|_| fail("InternalServerErrorException", "The search failed."))?;
    let page = tokio::task::spawn_blocking(move || trent_audit::search::search(&root, &q))
        .await
        .map_err(|_| fail("InternalServerErrorException", "The search failed."))?
        .map_err(|e| {
            tracing::error!(error = %e, "LookupEvents: reading the trail failed");
            fail("InternalServerErrorException", "The search failed.")
        })?;
    Ok(answer(page))
}

fn to_body(r: &LookupEventsResponse) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(serde_json::to_vec(r).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_tokens_round_trip_and_garbage_is_refused() {
        let c = Cursor {
            time_ms: 1_796_212_800_123,
            node: "node-1".into(),
            seq: 42,
        };
        assert_eq!(decode_token(&encode_token(&c)), Some(c));
        for bad in ["", "!!", "MjoxOjE6bg", "MTp4OjE6bm9kZQ", "MToxOjE6Li4"] {
            assert_eq!(decode_token(bad), None, "{bad}");
        }
    }
}
