//! The audit event: CloudTrail's record shape, as far as it applies.
//!
//! Field names, order and value forms follow CloudTrail's documented KMS
//! records (`eventVersion` 1.11). What a field holds is decided by the
//! server, in one place; this type only fixes the shape, and what the search
//! index needs to know of an event ([`Event::facts`]).

use serde::Serialize;
use serde_json::value::RawValue;

/// Pre-serialized JSON (request parameters and the like are serialized
/// once, by the server, from typed values without secret fields).
pub type Json = Box<RawValue>;

/// CloudTrail's record version that these events follow.
pub const EVENT_VERSION: &str = "1.11";

/// One audit event.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Always [`EVENT_VERSION`].
    pub event_version: &'static str,
    /// Who made the request, as far as it is known.
    pub user_identity: UserIdentity,
    /// When, in UTC, whole seconds.
    pub event_time: String,
    /// `kms.amazonaws.com`, `sts.amazonaws.com`, `cloudtrail.amazonaws.com`.
    pub event_source: &'static str,
    /// The operation: `Encrypt`, `AssumeRole`, `RotateKey`, ...
    pub event_name: String,
    /// The request's region.
    pub aws_region: String,
    /// The peer address, or `AWS Internal` for service events.
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: String,
    /// The `User-Agent` header, or `AWS Internal`.
    pub user_agent: String,
    /// The error code, for a request that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The error message, for a request that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The request's parameters without secrets (`null` when none).
    pub request_parameters: Option<Json>,
    /// What the response said, where KMS records it (`null` otherwise).
    pub response_elements: Option<Json>,
    /// `keyMaterialId` and the like.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_event_data: Option<Json>,
    /// The request id the client saw (`x-amzn-RequestId`); none for
    /// service events.
    #[serde(rename = "requestID", skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// This event's id.
    #[serde(rename = "eventID")]
    pub event_id: String,
    /// Whether the operation only reads.
    pub read_only: bool,
    /// The keys (and roles) the request named.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    /// `AwsApiCall` or `AwsServiceEvent`.
    pub event_type: &'static str,
    /// KMS and STS events are management events.
    pub management_event: bool,
    /// The account whose trail this event belongs to.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub recipient_account_id: String,
    /// Details of a service event (rotation type, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_event_details: Option<Json>,
    /// `Management`.
    pub event_category: &'static str,
    /// The event's time in milliseconds (for the index; not written).
    #[serde(skip)]
    pub time_ms: i64,
}

/// `userIdentity`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    /// `IAMUser`, `AssumedRole`, `Root`, `AWSAccount`, `Unknown`; absent
    /// for service events.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// `AIDA...` for users, `AROA...:session` for role sessions, the
    /// account id for the root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    /// The caller's ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The caller's account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The access key id that signed the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// An IAM user's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// A role session's issuer and creation time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_context: Option<SessionContext>,
    /// `AWS Internal` for service events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<&'static str>,
}

/// `userIdentity.sessionContext`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext {
    /// The role.
    pub session_issuer: SessionIssuer,
    /// When the session was created.
    pub attributes: SessionAttributes,
}

/// `sessionContext.sessionIssuer`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionIssuer {
    /// `Role`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The role's unique id (`AROA...`).
    pub principal_id: String,
    /// The role's ARN.
    pub arn: String,
    /// The role's account.
    pub account_id: String,
    /// The role's name.
    pub user_name: String,
}

/// `sessionContext.attributes`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAttributes {
    /// `2026-12-02T19:00:00Z`.
    pub creation_date: String,
    /// Always `"false"` (a string, as CloudTrail writes it).
    pub mfa_authenticated: &'static str,
}

/// One entry of `resources`.
#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    /// The resource's account.
    #[serde(rename = "accountId")]
    pub account_id: String,
    /// `AWS::KMS::Key`, `AWS::IAM::Role`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Its ARN.
    #[serde(rename = "ARN")]
    pub arn: String,
}

/// What the search index keeps of an event (see [`crate::index`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Milliseconds since the epoch.
    pub time_ms: i64,
    /// `eventName`.
    pub event_name: String,
    /// CloudTrail's `Username` (see [`Event::username`]).
    pub username: String,
    /// `userIdentity.accessKeyId`.
    pub access_key_id: String,
    /// `eventID`.
    pub event_id: String,
    /// `eventSource`.
    pub event_source: String,
    /// The ARNs of `resources`.
    pub resource_names: Vec<String>,
    /// Their types.
    pub resource_types: Vec<String>,
    /// `recipientAccountId`.
    pub account: String,
    /// `awsRegion`.
    pub region: String,
    /// `readOnly`.
    pub read_only: bool,
    /// Whether the request failed (`errorCode` present).
    pub failed: bool,
    /// The caller's ARN.
    pub principal_arn: String,
}

impl Event {
    /// An API call's event with what every event has; the server fills in
    /// the rest.
    pub fn api_call(
        event_source: &'static str,
        event_name: &str,
        region: &str,
        event_id: String,
        time_ms: i64,
    ) -> Event {
        Event {
            event_version: EVENT_VERSION,
            user_identity: UserIdentity::default(),
            event_time: crate::iso_seconds(time_ms),
            event_source,
            event_name: event_name.to_string(),
            aws_region: region.to_string(),
            source_ip_address: String::new(),
            user_agent: String::new(),
            error_code: None,
            error_message: None,
            request_parameters: None,
            response_elements: None,
            additional_event_data: None,
            request_id: None,
            event_id,
            read_only: false,
            resources: Vec::new(),
            event_type: "AwsApiCall",
            management_event: true,
            recipient_account_id: String::new(),
            service_event_details: None,
            event_category: "Management",
            time_ms,
        }
    }

    /// CloudTrail's `Username` of this event: an IAM user's name, a role
    /// session's name, `root` for an account root; empty when unknown.
    pub fn username(&self) -> String {
        let id = &self.user_identity;
        if let Some(name) = &id.user_name {
            return name.clone();
        }
        match (id.kind, id.arn.as_deref()) {
            (Some("Root"), _) => "root".to_string(),
            (Some("AssumedRole"), Some(arn)) => arn.rsplit('/').next().unwrap_or("").to_string(),
            _ => String::new(),
        }
    }

    /// What the index keeps of this event.
    pub fn facts(&self) -> Facts {
        Facts {
            time_ms: self.time_ms,
            event_name: self.event_name.clone(),
            username: self.username(),
            access_key_id: self.user_identity.access_key_id.clone().unwrap_or_default(),
            event_id: self.event_id.clone(),
            event_source: self.event_source.to_string(),
            resource_names: self.resources.iter().map(|r| r.arn.clone()).collect(),
            resource_types: self.resources.iter().map(|r| r.kind.to_string()).collect(),
            account: self.recipient_account_id.clone(),
            region: self.aws_region.clone(),
            read_only: self.read_only,
            failed: self.error_code.is_some(),
            principal_arn: self.user_identity.arn.clone().unwrap_or_default(),
        }
    }
}
