//! Grants: a permission on one key for one grantee principal, for a list of
//! operations, optionally only with a given encryption context; revocable at
//! any time. The record, what it allows, and the grant token.

use crate::authz::{Action, Principal};
use crate::clock::Millis;
use crate::ids::KeyLocator;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Grants one key may have (AWS's quota).
pub const MAX_GRANTS_PER_KEY: usize = 50_000;
/// Pairs one constraint may hold.
pub const MAX_CONSTRAINT_PAIRS: usize = 8;
/// Longest constraint value, in characters.
pub const MAX_CONSTRAINT_VALUE: usize = 384;
/// Longest encoding of a grant's constraints, in bytes (AWS's quota).
pub const MAX_CONSTRAINT_BYTES: usize = 8192;

/// `GrantConstraints`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraints {
    /// `EncryptionContextEquals`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub equals: Option<BTreeMap<String, String>>,
    /// `EncryptionContextSubset`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub subset: Option<BTreeMap<String, String>>,
}

fn lower_keys(m: &BTreeMap<String, String>) -> BTreeMap<String, &str> {
    m.iter()
        .map(|(k, v)| (k.to_lowercase(), v.as_str()))
        .collect()
}

impl Constraints {
    /// Whether an encryption context satisfies the constraints: keys compare
    /// without case, values with case, as AWS documents for grants.
    pub fn allow(&self, context: &BTreeMap<String, String>) -> bool {
        let ctx = lower_keys(context);
        if let Some(eq) = &self.equals {
            if lower_keys(eq) != ctx {
                return false;
            }
        }
        if let Some(sub) = &self.subset {
            if !lower_keys(sub)
                .iter()
                .all(|(k, v)| ctx.get(k).is_some_and(|c| c == v))
            {
                return false;
            }
        }
        true
    }

    /// `kms:GrantConstraintType` values.
    pub fn types(&self) -> Vec<&'static str> {
        let mut t = Vec::new();
        if self.equals.is_some() {
            t.push("EncryptionContextEquals");
        }
        if self.subset.is_some() {
            t.push("EncryptionContextSubset");
        }
        t
    }

    /// Whether `self` is at least as strict as `other`: every context
    /// `self` allows, `other` allows too (a grant made through a grant with
    /// CreateGrant may not loosen its constraints).
    pub fn at_least_as_strict_as(&self, other: &Constraints) -> bool {
        if other.equals.is_none() && other.subset.is_none() {
            return true;
        }
        match (&self.equals, &other.equals, &self.subset) {
            // An exact context that the other allows.
            (Some(mine), _, _) => other.allow(mine),
            // The other wants an exact context: only the same exact one.
            (None, Some(_), _) => false,
            // Subsets: mine must include every pair of theirs.
            (None, None, Some(mine)) => other.subset.as_ref().is_none_or(|theirs| {
                Constraints {
                    equals: None,
                    subset: Some(theirs.clone()),
                }
                .allow(mine)
            }),
            (None, None, None) => false,
        }
    }
}

/// A grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    /// The key.
    pub key: KeyLocator,
    /// `GrantId`: 64 hex digits.
    pub grant_id: String,
    /// `Name`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    /// `GranteePrincipal`.
    pub grantee: String,
    /// `RetiringPrincipal`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub retiring: Option<String>,
    /// `Operations`, as the service model spells them.
    pub operations: Vec<String>,
    /// `Constraints`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub constraints: Option<Constraints>,
    /// `IssuingAccount`: the root ARN of the account that created it.
    pub issuing_account: String,
    /// `CreationDate`.
    pub created_at: Millis,
}

/// The grant operation (`GrantOperation`) that covers an action.
pub fn operation_name(action: Action) -> Option<&'static str> {
    action.grantable().then(|| action.name())
}

/// Whether a principal ARN names `caller`: its ARN, or its role's ARN for a
/// role session (a grant to a role covers its sessions).
pub fn names(principal: &str, caller: &Principal) -> bool {
    principal == &*caller.arn || principal == &*caller.principal_arn
}

impl GrantRecord {
    /// Whether this grant allows `caller` to do `action`, given the
    /// request's encryption context (`None` for an operation that takes
    /// none: constraints do not apply to it).
    pub fn allows(
        &self,
        caller: &Principal,
        action: Action,
        context: Option<&BTreeMap<String, String>>,
    ) -> bool {
        if !names(&self.grantee, caller) {
            return false;
        }
        let Some(op) = operation_name(action) else {
            return false;
        };
        if !self.operations.iter().any(|o| o == op) {
            return false;
        }
        match (&self.constraints, context) {
            (Some(c), Some(ctx)) => c.allow(ctx),
            _ => true,
        }
    }

    /// Whether the same request (for `Name` idempotency): every parameter
    /// but the id, token and date.
    pub fn same_request(&self, other: &GrantRecord) -> bool {
        let mut a = self.operations.clone();
        let mut b = other.operations.clone();
        a.sort();
        b.sort();
        self.key == other.key
            && self.name == other.name
            && self.grantee == other.grantee
            && self.retiring == other.retiring
            && a == b
            && self.constraints == other.constraints
    }
}

/// Grant tokens: `trent:v1:` and the grant's id and key id, base64url.
/// A token lets a request use a grant it names at once; since the token is
/// checked against the stored grant, knowing one gives nothing the grant
/// does not.
pub mod token {
    use crate::ids::KeyId;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    const PREFIX: &str = "trent:v1:";

    /// The token of a grant, with a random part so that two tokens of one
    /// grant differ, as AWS's do.
    pub fn encode(grant_id: &str, key: &KeyId, random: &[u8; 16]) -> String {
        let mut raw = Vec::with_capacity(32 + 17 + 16);
        raw.extend_from_slice(&hex::decode(grant_id).unwrap_or_default());
        raw.push(u8::from(key.is_multi_region()));
        raw.extend_from_slice(key.bytes());
        raw.extend_from_slice(random);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(raw))
    }

    /// The grant id and key a token names, or `None` for a string that is
    /// not a Trent grant token.
    pub fn decode(token: &str) -> Option<(String, KeyId)> {
        let raw = URL_SAFE_NO_PAD.decode(token.strip_prefix(PREFIX)?).ok()?;
        if raw.len() != 32 + 17 + 16 || raw[32] > 1 {
            return None;
        }
        let id: [u8; 16] = raw[33..49].try_into().ok()?;
        Some((hex::encode(&raw[..32]), KeyId::from_parts(raw[32] == 1, id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::PrincipalKind;
    use crate::ids::{AccountId, KeyId, Region};

    fn ctx(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn constraints_as_aws_documents_them() {
        let eq = Constraints {
            equals: Some(ctx(&[("App", "billing")])),
            subset: None,
        };
        assert!(eq.allow(&ctx(&[("app", "billing")])), "keys ignore case");
        assert!(!eq.allow(&ctx(&[("app", "Billing")])), "values do not");
        assert!(
            !eq.allow(&ctx(&[("app", "billing"), ("x", "y")])),
            "equals is exact"
        );
        let sub = Constraints {
            equals: None,
            subset: Some(ctx(&[("app", "billing")])),
        };
        assert!(sub.allow(&ctx(&[("app", "billing"), ("x", "y")])));
        assert!(!sub.allow(&ctx(&[("x", "y")])));
        assert!(!sub.allow(&ctx(&[])));
        // Stricter-or-equal.
        assert!(eq.at_least_as_strict_as(&sub));
        assert!(!sub.at_least_as_strict_as(&eq));
        let more = Constraints {
            equals: None,
            subset: Some(ctx(&[("app", "billing"), ("env", "prod")])),
        };
        assert!(more.at_least_as_strict_as(&sub));
        assert!(!sub.at_least_as_strict_as(&more));
        assert!(sub.at_least_as_strict_as(&Constraints::default()));
        assert!(!Constraints::default().at_least_as_strict_as(&sub));
    }

    fn grant(ops: &[&str], constraints: Option<Constraints>) -> GrantRecord {
        GrantRecord {
            key: KeyLocator {
                region: Region::parse("us-east-1").unwrap(),
                account: AccountId::parse("111122223333").unwrap(),
                key_id: KeyId::from_random([1; 16]),
            },
            grant_id: "ab".repeat(32),
            name: None,
            grantee: "arn:aws:iam::111122223333:role/app".into(),
            retiring: None,
            operations: ops.iter().map(|s| s.to_string()).collect(),
            constraints,
            issuing_account: "arn:aws:iam::111122223333:root".into(),
            created_at: 0,
        }
    }

    #[test]
    fn what_a_grant_allows() {
        let session = Principal {
            arn: "arn:aws:sts::111122223333:assumed-role/app/s1".into(),
            account: AccountId::parse("111122223333").unwrap(),
            kind: PrincipalKind::AssumedRole,
            principal_arn: "arn:aws:iam::111122223333:role/app".into(),
            user_id: "AROA:s1".into(),
            tags: BTreeMap::new(),
        };
        let g = grant(
            &["Encrypt", "DescribeKey"],
            Some(Constraints {
                equals: None,
                subset: Some(ctx(&[("app", "x")])),
            }),
        );
        assert!(g.allows(&session, Action::Encrypt, Some(&ctx(&[("app", "x")]))));
        assert!(!g.allows(&session, Action::Encrypt, Some(&ctx(&[]))));
        assert!(!g.allows(&session, Action::Decrypt, Some(&ctx(&[("app", "x")]))));
        assert!(
            g.allows(&session, Action::DescribeKey, None),
            "constraints do not apply"
        );
        let mut other = session.clone();
        other.principal_arn = "arn:aws:iam::111122223333:role/other".into();
        other.arn = "arn:aws:sts::111122223333:assumed-role/other/s1".into();
        assert!(!g.allows(&other, Action::Encrypt, Some(&ctx(&[("app", "x")]))));
        assert!(
            !g.allows(&session, Action::PutKeyPolicy, None),
            "not grantable"
        );
    }

    #[test]
    fn tokens_name_their_grant_and_key() {
        let key = KeyId::from_random([7; 16]);
        let id = "cd".repeat(32);
        let a = token::encode(&id, &key, &[1; 16]);
        let b = token::encode(&id, &key, &[2; 16]);
        assert_ne!(a, b);
        assert_eq!(token::decode(&a), Some((id.clone(), key)));
        for bad in [
            "",
            "trent:v1:",
            "trent:v1:!!!",
            "AQIDBAUG",
            &a[..a.len() - 2],
        ] {
            assert_eq!(token::decode(bad), None, "{bad}");
        }
    }
}
