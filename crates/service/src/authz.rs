//! The one place where a request is allowed or denied: it gathers what the
//! decision needs (the caller's identity and policies, the key's compiled
//! policy and facts, the request's condition values), asks
//! `trent_core::authz::decide`, and consults the key's grants when the
//! policies did not allow. Every operation calls [`Kms::authorize_key`] or
//! [`Kms::authorize_identity`] with the action AWS names.

use crate::{Caller, Kms, ServiceError};
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use trent_core::authz::{
    decide, Action, CallerPolicies, CompiledPolicy, GrantFacts, KeyFacts, PolicyKind, Request,
    RequestContext,
};
use trent_core::grant::{token, GrantRecord};
use trent_core::ids::KeyLocator;
use trent_core::key::KeyRecord;
use trent_core::policy::PolicyDocument;
use trent_proto::ModelEnum;

/// What a request adds to a decision beyond the caller and the key.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ask<'a> {
    /// `kms:EncryptionContext:*`: also what grant constraints check.
    pub encryption_context: Option<&'a BTreeMap<String, String>>,
    /// `kms:EncryptionAlgorithm`.
    pub encryption_algorithm: Option<&'a str>,
    /// `kms:RequestAlias`.
    pub request_alias: Option<&'a str>,
    /// `kms:SigningAlgorithm`, `kms:MessageType`, `kms:MacAlgorithm`,
    /// `kms:KeyAgreementAlgorithm`.
    pub algorithms: Algorithms<'a>,
    /// CreateGrant's parameters.
    pub grant: Option<GrantFacts<'a>>,
    /// `kms:RotationPeriodInDays`.
    pub rotation_period_days: Option<i64>,
    /// `kms:ScheduleKeyDeletionPendingWindowInDays`.
    pub pending_window_days: Option<i64>,
    /// `aws:RequestTag/*`.
    pub request_tags: Option<&'a [(String, String)]>,
    /// `aws:TagKeys`.
    pub tag_keys: Option<&'a [String]>,
    /// The spec, usage, origin and multi-Region flag of a key being created.
    pub new_key: Option<(&'a str, &'a str, &'a str, bool)>,
    /// `GrantTokens`: grants to consider although this node may not have
    /// loaded them yet.
    pub grant_tokens: &'a [String],
    /// `kms:ExpirationModel`, `kms:ValidTo`, `kms:WrappingAlgorithm`,
    /// `kms:WrappingKeySpec`, `kms:ReplicaRegion`, `kms:PrimaryRegion`.
    pub key_set: trent_core::authz::KeySetFacts<'a>,
}

/// The algorithm condition keys of asymmetric and HMAC operations.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Algorithms<'a> {
    pub signing: Option<&'a str>,
    pub message_type: Option<&'a str>,
    pub mac: Option<&'a str>,
    pub key_agreement: Option<&'a str>,
}

/// What a decision needs of a key, from the hot cache or a fresh record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyView<'a> {
    pub locator: &'a KeyLocator,
    pub arn: &'a str,
    pub policy: &'a CompiledPolicy,
    pub spec: &'a str,
    pub usage: &'a str,
    pub origin: &'a str,
    pub tags: &'a [(String, String)],
    /// The key's grants, when loaded (the hot cache has them); `None`: ask
    /// the store if a grant is needed.
    pub grants: Option<&'a [GrantRecord]>,
}

/// How a request was allowed.
#[derive(Debug, Clone)]
pub(crate) enum Allowed {
    /// By the policies.
    Policy,
    /// By this grant.
    Grant(Box<GrantRecord>),
}

/// Compile a stored key policy. A policy that no longer parses (stored by
/// an older build under looser rules) allows nothing: fail closed, and say
/// so in the log.
///
/// Keys with the same policy text share one compiled policy: most keys of an
/// account carry the same default policy, and a hundred thousand cached keys
/// would otherwise hold a hundred thousand copies of it. Sharing is sound
/// because a compiled policy is immutable and a function of its text alone.
pub(crate) fn compile_key_policy(record: &KeyRecord) -> Arc<CompiledPolicy> {
    compile_policy_text(&record.policy, || record.arn())
}

fn compile_policy_text(text: &str, key: impl FnOnce() -> String) -> Arc<CompiledPolicy> {
    if let Some(shared) = interned(text) {
        return shared;
    }
    let compiled = Arc::new(match PolicyDocument::parse_stored(text) {
        Ok(doc) => CompiledPolicy::compile(&doc, PolicyKind::Resource),
        Err(e) => {
            tracing::error!(key = %key(), error = %e, "the stored key policy does not parse; it allows nothing");
            CompiledPolicy::compile(
                &PolicyDocument {
                    version: None,
                    id: None,
                    statements: Vec::new(),
                },
                PolicyKind::Resource,
            )
        }
    });
    intern(text, &compiled);
    compiled
}

/// Compiled key policies by text, held weakly: a policy no cached key uses
/// any more is freed, and its entry is dropped at the next sweep.
struct Interned {
    by_text: HashMap<Box<str>, Weak<CompiledPolicy>>,
    /// Sweep dead entries when the map reaches this size.
    sweep_at: usize,
}

static INTERNED: Mutex<Option<Interned>> = Mutex::new(None);

fn interned(text: &str) -> Option<Arc<CompiledPolicy>> {
    let guard = INTERNED.lock().unwrap_or_else(|e| e.into_inner());
    guard.as_ref()?.by_text.get(text)?.upgrade()
}

fn intern(text: &str, compiled: &Arc<CompiledPolicy>) {
    let mut guard = INTERNED.lock().unwrap_or_else(|e| e.into_inner());
    let table = guard.get_or_insert_with(|| Interned {
        by_text: HashMap::new(),
        sweep_at: 1024,
    });
    if table.by_text.len() >= table.sweep_at {
        table.by_text.retain(|_, weak| weak.strong_count() > 0);
        table.sweep_at = (table.by_text.len() * 2).max(1024);
    }
    table.by_text.insert(text.into(), Arc::downgrade(compiled));
}

impl<'a> KeyView<'a> {
    /// A view of a record and its compiled policy.
    pub(crate) fn of_record(
        record: &'a KeyRecord,
        arn: &'a str,
        policy: &'a CompiledPolicy,
    ) -> Self {
        KeyView {
            locator: &record.locator,
            arn,
            policy,
            spec: record.spec.as_str(),
            usage: record.usage.as_str(),
            origin: record.origin.as_str(),
            tags: &record.tags,
            grants: None,
        }
    }
}

/// `kms:RequestAlias`: the alias a `KeyId` parameter names the key by, as
/// an alias name (`alias/name`), also when the parameter is an alias ARN.
pub(crate) fn request_alias(key_id: &str) -> Option<&str> {
    let start = key_id.find("alias/")?;
    Some(&key_id[start..])
}

/// Whether any policy the caller or the key has reads `key` in a condition.
fn reads(caller: &Caller, key_policy: &CompiledPolicy, name: &str) -> bool {
    key_policy.uses_key(name)
        || caller.identity.policies.iter().any(|p| p.uses_key(name))
        || caller
            .identity
            .session_policy
            .as_ref()
            .is_some_and(|p| p.uses_key(name))
}

impl Kms {
    fn context<'a>(&self, caller: &'a Caller, ask: &Ask<'a>) -> RequestContext<'a> {
        let mut ctx = RequestContext::new(&caller.identity.principal, self.clock.now());
        ctx.source_ip = caller.source_ip;
        ctx.secure_transport = caller.secure_transport;
        ctx.encryption_context = ask.encryption_context;
        ctx.encryption_algorithm = ask.encryption_algorithm;
        ctx.request_alias = ask.request_alias;
        ctx.signing_algorithm = ask.algorithms.signing;
        ctx.message_type = ask.algorithms.message_type;
        ctx.mac_algorithm = ask.algorithms.mac;
        ctx.key_agreement_algorithm = ask.algorithms.key_agreement;
        ctx.grant = ask.grant;
        ctx.rotation_period_days = ask.rotation_period_days;
        ctx.pending_window_days = ask.pending_window_days;
        ctx.request_tags = ask.request_tags;
        ctx.tag_keys = ask.tag_keys;
        ctx.new_key = ask.new_key;
        ctx.key_set = ask.key_set;
        ctx
    }

    fn denied(
        caller: &Caller,
        action: Action,
        resource: &str,
        denial: trent_core::authz::Denial,
    ) -> ServiceError {
        ServiceError::AccessDenied {
            principal: caller.principal.to_string(),
            action,
            resource: resource.to_string(),
            denial,
        }
    }

    /// Decide an action without a key (CreateKey, ListKeys, ListAliases,
    /// GenerateRandom, and the alias half of alias operations): identity
    /// policies alone.
    pub(crate) fn authorize_identity(
        &self,
        caller: &Caller,
        action: Action,
        resource: &str,
        ask: &Ask<'_>,
    ) -> Result<(), ServiceError> {
        let ctx = self.context(caller, ask);
        decide(
            &Request {
                caller: &caller.identity.principal,
                action,
                resource,
                resource_account: None,
                context: &ctx,
            },
            None,
            CallerPolicies {
                identity: &caller.identity.policies,
                session: caller.identity.session_policy.as_deref(),
            },
        )
        .map_err(|d| Self::denied(caller, action, resource, d))
    }

    /// Decide an action of another service on no resource (CloudTrail's
    /// `LookupEvents`): the caller's identity policies alone.
    pub fn authorize_caller(&self, caller: &Caller, action: Action) -> Result<(), ServiceError> {
        self.authorize_identity(caller, action, "*", &Ask::default())
    }

    /// Decide an action on a key: the key policy, the caller's policies,
    /// then the key's grants (and those named by grant tokens).
    pub(crate) async fn authorize_key(
        &self,
        caller: &Caller,
        action: Action,
        key: &KeyView<'_>,
        ask: &Ask<'_>,
    ) -> Result<Allowed, ServiceError> {
        // The key is the request's resource, whatever the decision.
        caller.notes.key(key.arn);
        let principal = &caller.identity.principal;
        if principal.account != key.locator.account && !action.cross_account() {
            return Err(Self::denied(
                caller,
                action,
                key.arn,
                trent_core::authz::Denial::NoResourcePolicy,
            ));
        }
        // The key's aliases cost a store query: only when a policy asks.
        let aliases: Option<Vec<String>> = if reads(caller, key.policy, "kms:resourcealiases") {
            Some(
                self.store
                    .list_aliases(
                        &key.locator.region,
                        &key.locator.account,
                        Some(&key.locator.key_id),
                        None,
                        1000,
                    )
                    .await?
                    .into_iter()
                    .map(|a| a.name.0)
                    .collect(),
            )
        } else {
            None
        };
        let mut ctx = self.context(caller, ask);
        ctx.key = Some(KeyFacts {
            spec: key.spec,
            usage: key.usage,
            origin: key.origin,
            multi_region: key.locator.key_id.is_multi_region(),
            tags: key.tags,
            aliases: aliases.as_deref(),
        });
        let decision = decide(
            &Request {
                caller: principal,
                action,
                resource: key.arn,
                resource_account: Some(&key.locator.account),
                context: &ctx,
            },
            Some(key.policy),
            CallerPolicies {
                identity: &caller.identity.policies,
                session: caller.identity.session_policy.as_deref(),
            },
        );
        let denial = match decision {
            Ok(()) => return Ok(Allowed::Policy),
            Err(d) => d,
        };
        if denial.grant_may_allow() && action.grantable() {
            if let Some(g) = self.grant_allowing(caller, action, key, ask).await? {
                return Ok(Allowed::Grant(Box::new(g)));
            }
        }
        Err(Self::denied(caller, action, key.arn, denial))
    }

    /// A grant of the key that allows the request, if any: the key's grants
    /// (cached or from the store), and grants named by the request's tokens,
    /// read from the store so that a new grant works at once.
    async fn grant_allowing(
        &self,
        caller: &Caller,
        action: Action,
        key: &KeyView<'_>,
        ask: &Ask<'_>,
    ) -> Result<Option<GrantRecord>, ServiceError> {
        let principal = &caller.identity.principal;
        let allows = |g: &GrantRecord| g.allows(principal, action, ask.encryption_context);
        let loaded;
        let grants = match key.grants {
            Some(g) => g,
            None => {
                loaded = self.all_grants(key.locator).await?;
                &loaded[..]
            }
        };
        if let Some(g) = grants.iter().find(|g| allows(g)) {
            return Ok(Some(g.clone()));
        }
        for t in ask.grant_tokens {
            let Some((grant_id, key_id)) = token::decode(t) else {
                continue;
            };
            if key_id != key.locator.key_id {
                continue;
            }
            if let Some(g) = self.store.get_grant(key.locator, &grant_id).await? {
                if allows(&g) {
                    return Ok(Some(g));
                }
            }
        }
        Ok(None)
    }

    /// Every grant of a key.
    pub(crate) async fn all_grants(
        &self,
        key: &KeyLocator,
    ) -> Result<Vec<GrantRecord>, ServiceError> {
        let mut out = Vec::new();
        loop {
            let after = out.last().map(|g: &GrantRecord| g.grant_id.clone());
            let page = self.store.list_grants(key, after.as_deref(), 1000).await?;
            let done = page.len() < 1000;
            out.extend(page);
            if done {
                return Ok(out);
            }
        }
    }

    /// Refuse grant tokens that are not Trent's (`InvalidGrantTokenException`).
    pub(crate) fn check_grant_tokens(tokens: &[String]) -> Result<(), ServiceError> {
        if tokens.iter().any(|t| token::decode(t).is_none()) {
            return Err(ServiceError::InvalidGrantToken);
        }
        Ok(())
    }
}

#[cfg(test)]
mod interning_tests {
    use super::*;

    const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"interning test","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;

    #[test]
    fn keys_with_the_same_policy_share_one_compiled_policy() {
        let a = compile_policy_text(POLICY, String::new);
        let b = compile_policy_text(POLICY, String::new);
        assert!(Arc::ptr_eq(&a, &b));
        let other = POLICY.replace("interning test", "another");
        let c = compile_policy_text(&other, String::new);
        assert!(!Arc::ptr_eq(&a, &c));
        // Freed when no key holds it; compiled again when needed.
        let weak = Arc::downgrade(&c);
        drop(c);
        assert!(weak.upgrade().is_none());
        assert!(interned(&other).is_none());
        let again = compile_policy_text(&other, String::new);
        assert!(Arc::ptr_eq(&again, &interned(&other).expect("interned")));
    }
}
