//! The condition keys of a KMS request: what the caller, the key, the
//! request and the connection say, by the names AWS gives them.

use super::condition::{Context, Value};
use super::principal::Principal;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// What conditions may ask about the key a request acts on.
#[derive(Debug, Clone, Copy)]
pub struct KeyFacts<'a> {
    /// `kms:KeySpec`.
    pub spec: &'a str,
    /// `kms:KeyUsage`.
    pub usage: &'a str,
    /// `kms:KeyOrigin`.
    pub origin: &'a str,
    /// `kms:MultiRegion`.
    pub multi_region: bool,
    /// `aws:ResourceTag/*`.
    pub tags: &'a [(String, String)],
    /// `kms:ResourceAliases` (alias names), when loaded.
    pub aliases: Option<&'a [String]>,
}

/// What conditions may ask about a CreateGrant request.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrantFacts<'a> {
    /// `kms:GrantOperations`.
    pub operations: &'a [&'a str],
    /// `kms:GranteePrincipal`.
    pub grantee: Option<&'a str>,
    /// `kms:RetiringPrincipal`.
    pub retiring: Option<&'a str>,
    /// `kms:GrantConstraintType`.
    pub constraint_types: &'a [&'a str],
}

/// The condition keys of imported material and multi-Region requests.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeySetFacts<'a> {
    /// `kms:ExpirationModel` (ImportKeyMaterial).
    pub expiration_model: Option<&'a str>,
    /// `kms:ValidTo`, seconds since the epoch (ImportKeyMaterial).
    pub valid_to: Option<i64>,
    /// `kms:WrappingAlgorithm` (GetParametersForImport).
    pub wrapping_algorithm: Option<&'a str>,
    /// `kms:WrappingKeySpec` (GetParametersForImport).
    pub wrapping_key_spec: Option<&'a str>,
    /// `kms:ReplicaRegion` (ReplicateKey).
    pub replica_region: Option<&'a str>,
    /// `kms:PrimaryRegion` (UpdatePrimaryRegion).
    pub primary_region: Option<&'a str>,
}

/// Everything a condition can read, for one request.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'a> {
    /// The caller.
    pub caller: &'a Principal,
    /// Now, in milliseconds since the epoch (the service clock).
    pub now_ms: i64,
    /// `aws:SourceIp`.
    pub source_ip: Option<IpAddr>,
    /// `aws:SecureTransport`.
    pub secure_transport: bool,
    /// The key acted on.
    pub key: Option<KeyFacts<'a>>,
    /// `kms:EncryptionContext:*` and `kms:EncryptionContextKeys`.
    pub encryption_context: Option<&'a BTreeMap<String, String>>,
    /// `kms:EncryptionAlgorithm`.
    pub encryption_algorithm: Option<&'a str>,
    /// `kms:RequestAlias`: the alias the request named the key by.
    pub request_alias: Option<&'a str>,
    /// `kms:SigningAlgorithm`.
    pub signing_algorithm: Option<&'a str>,
    /// `kms:MessageType`.
    pub message_type: Option<&'a str>,
    /// `kms:MacAlgorithm`.
    pub mac_algorithm: Option<&'a str>,
    /// `kms:KeyAgreementAlgorithm`.
    pub key_agreement_algorithm: Option<&'a str>,
    /// CreateGrant's parameters.
    pub grant: Option<GrantFacts<'a>>,
    /// `kms:RotationPeriodInDays`.
    pub rotation_period_days: Option<i64>,
    /// `kms:ScheduleKeyDeletionPendingWindowInDays`.
    pub pending_window_days: Option<i64>,
    /// `aws:RequestTag/*` (CreateKey, TagResource).
    pub request_tags: Option<&'a [(String, String)]>,
    /// `aws:TagKeys` (CreateKey, TagResource, UntagResource).
    pub tag_keys: Option<&'a [String]>,
    /// `kms:KeySpec` etc. of a key being created (CreateKey has no key yet).
    pub new_key: Option<(&'a str, &'a str, &'a str, bool)>,
    /// `sts:ExternalId` (AssumeRole).
    pub sts_external_id: Option<&'a str>,
    /// `sts:RoleSessionName` (AssumeRole).
    pub sts_role_session_name: Option<&'a str>,
    /// Imported material and multi-Region keys.
    pub key_set: KeySetFacts<'a>,
}

impl<'a> RequestContext<'a> {
    /// A context with only the caller and the time.
    pub fn new(caller: &'a Principal, now_ms: i64) -> Self {
        RequestContext {
            caller,
            now_ms,
            source_ip: None,
            secure_transport: false,
            key: None,
            encryption_context: None,
            encryption_algorithm: None,
            request_alias: None,
            signing_algorithm: None,
            message_type: None,
            mac_algorithm: None,
            key_agreement_algorithm: None,
            grant: None,
            rotation_period_days: None,
            pending_window_days: None,
            request_tags: None,
            tag_keys: None,
            new_key: None,
            sts_external_id: None,
            sts_role_session_name: None,
            key_set: KeySetFacts::default(),
        }
    }
}

fn one<'a>(s: impl Into<Cow<'a, str>>) -> Option<Value<'a>> {
    Some(Value::One(s.into()))
}

fn bool_value<'a>(b: bool) -> Option<Value<'a>> {
    one(if b { "true" } else { "false" })
}

fn lookup<'a>(pairs: impl Iterator<Item = (&'a String, &'a String)>, key: &str) -> Option<&'a str> {
    let mut found = None;
    for (k, v) in pairs {
        if k.eq_ignore_ascii_case(key) {
            found = Some(v.as_str());
        }
    }
    found
}

impl Context for RequestContext<'_> {
    fn value(&self, key: &str) -> Option<Value<'_>> {
        let c = self.caller;
        if let Some(k) = key.strip_prefix("kms:encryptioncontext:") {
            return lookup(self.encryption_context?.iter(), k).and_then(one);
        }
        if let Some(k) = key.strip_prefix("aws:principaltag/") {
            return lookup(c.tags.iter(), k).and_then(one);
        }
        if let Some(k) = key.strip_prefix("aws:resourcetag/") {
            let tags = self.key?.tags;
            return lookup(tags.iter().map(|(k, v)| (k, v)), k).and_then(one);
        }
        if let Some(k) = key.strip_prefix("aws:requesttag/") {
            return lookup(self.request_tags?.iter().map(|(k, v)| (k, v)), k).and_then(one);
        }
        match key {
            "kms:encryptioncontextkeys" => Some(Value::Many(
                self.encryption_context?
                    .keys()
                    .map(|k| Cow::Borrowed(k.as_str()))
                    .collect(),
            )),
            "kms:calleraccount" | "aws:principalaccount" => one(c.account.as_str()),
            "aws:principalarn" => one(&*c.principal_arn),
            "aws:userid" => one(&*c.user_id),
            "aws:username" => c.username().and_then(one),
            "aws:principaltype" => one(c.type_name()),
            "aws:principalisawsservice" => bool_value(false),
            "aws:sourceip" => self.source_ip.and_then(|ip| one(ip.to_string())),
            "aws:securetransport" => bool_value(self.secure_transport),
            "aws:currenttime" => one(crate::clock::iso8601_seconds(self.now_ms)),
            "aws:epochtime" => one(self.now_ms.div_euclid(1000).to_string()),
            "kms:keyspec" => match (self.key, self.new_key) {
                (Some(k), _) => one(k.spec),
                (None, Some(n)) => one(n.0),
                _ => None,
            },
            "kms:keyusage" => match (self.key, self.new_key) {
                (Some(k), _) => one(k.usage),
                (None, Some(n)) => one(n.1),
                _ => None,
            },
            "kms:keyorigin" => match (self.key, self.new_key) {
                (Some(k), _) => one(k.origin),
                (None, Some(n)) => one(n.2),
                _ => None,
            },
            "kms:multiregion" => match (self.key, self.new_key) {
                (Some(k), _) => bool_value(k.multi_region),
                (None, Some(n)) => bool_value(n.3),
                _ => None,
            },
            "kms:resourcealiases" => Some(Value::Many(
                self.key?
                    .aliases?
                    .iter()
                    .map(|a| Cow::Borrowed(a.as_str()))
                    .collect(),
            )),
            "kms:encryptionalgorithm" => self.encryption_algorithm.and_then(one),
            "kms:requestalias" => self.request_alias.and_then(one),
            "kms:signingalgorithm" => self.signing_algorithm.and_then(one),
            "kms:messagetype" => self.message_type.and_then(one),
            "kms:macalgorithm" => self.mac_algorithm.and_then(one),
            "kms:keyagreementalgorithm" => self.key_agreement_algorithm.and_then(one),
            "kms:grantoperations" => Some(Value::Many(
                self.grant?
                    .operations
                    .iter()
                    .map(|o| Cow::Borrowed(*o))
                    .collect(),
            )),
            "kms:granteeprincipal" => self.grant?.grantee.and_then(one),
            "kms:retiringprincipal" => self.grant?.retiring.and_then(one),
            "kms:grantconstrainttype" => Some(Value::Many(
                self.grant?
                    .constraint_types
                    .iter()
                    .map(|o| Cow::Borrowed(*o))
                    .collect(),
            )),
            // Grants Trent makes are never for an AWS service's resource.
            "kms:grantisforawsresource" => self.grant.and_then(|_| bool_value(false)),
            "kms:rotationperiodindays" => {
                self.rotation_period_days.and_then(|d| one(d.to_string()))
            }
            "kms:schedulekeydeletionpendingwindowindays" => {
                self.pending_window_days.and_then(|d| one(d.to_string()))
            }
            "kms:expirationmodel" => self.key_set.expiration_model.and_then(one),
            "kms:validto" => self.key_set.valid_to.and_then(|t| one(t.to_string())),
            "kms:wrappingalgorithm" => self.key_set.wrapping_algorithm.and_then(one),
            "kms:wrappingkeyspec" => self.key_set.wrapping_key_spec.and_then(one),
            "kms:replicaregion" => self.key_set.replica_region.and_then(one),
            "kms:primaryregion" => self.key_set.primary_region.and_then(one),
            "sts:externalid" => self.sts_external_id.and_then(one),
            "sts:rolesessionname" => self.sts_role_session_name.and_then(one),
            "aws:tagkeys" => Some(Value::Many(
                self.tag_keys?
                    .iter()
                    .map(|k| Cow::Borrowed(k.as_str()))
                    .collect(),
            )),
            _ => None,
        }
    }
}
