//! Who is calling, as policy evaluation sees it, and the `Principal` element
//! of resource policies (key policies, role trust policies).

use crate::ids::AccountId;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What kind of principal a caller is (`aws:PrincipalType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// The account root (`arn:aws:iam::ACCOUNT:root`): needs no identity
    /// policy, as in AWS.
    Root,
    /// An IAM user.
    User,
    /// A role given to a credential directly (`arn:aws:iam::A:role/R`).
    Role,
    /// A role session from STS (`arn:aws:sts::A:assumed-role/R/S`).
    AssumedRole,
}

/// The caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The caller's ARN (for a role session, the session's ARN).
    pub arn: Arc<str>,
    /// The caller's account.
    pub account: AccountId,
    /// Which kind.
    pub kind: PrincipalKind,
    /// `aws:PrincipalArn`: the role's ARN for a role session, else `arn`.
    pub principal_arn: Arc<str>,
    /// `aws:userid`.
    pub user_id: Arc<str>,
    /// `aws:PrincipalTag/*` (the user's or role's tags; session tags win).
    pub tags: BTreeMap<String, String>,
}

impl Principal {
    /// The root of an account.
    pub fn root(account: &AccountId) -> Principal {
        let arn: Arc<str> = account.root_arn().into();
        Principal {
            principal_arn: arn.clone(),
            arn,
            user_id: account.as_str().into(),
            account: account.clone(),
            kind: PrincipalKind::Root,
            tags: BTreeMap::new(),
        }
    }

    /// `aws:username`: the user's name, for IAM users only.
    pub fn username(&self) -> Option<&str> {
        if self.kind != PrincipalKind::User {
            return None;
        }
        self.arn.rsplit('/').next()
    }

    /// `aws:PrincipalType` as AWS spells it.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            PrincipalKind::Root => "Account",
            PrincipalKind::User => "User",
            PrincipalKind::Role | PrincipalKind::AssumedRole => "AssumedRole",
        }
    }
}

/// How a resource policy's `Principal` matched the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalMatch {
    /// The caller itself (its ARN, its role's ARN, or `*`): the policy
    /// speaks for the caller.
    Direct,
    /// The caller's account (`ACCOUNT` or `arn:aws:iam::ACCOUNT:root`): the
    /// policy delegates to the account's identity policies.
    Account,
}

/// One entry of a `Principal` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalPattern {
    /// `"*"` or `{"AWS": "*"}`.
    Any,
    /// An account, by id or root ARN.
    Account(String),
    /// A user, role or role session ARN.
    Arn(String),
    /// A service principal, matched by name (Trent's callers are never
    /// services, so it never matches today).
    Service(String),
    /// A federated or canonical-user principal: never matches in Trent.
    Other(String),
}

impl PrincipalPattern {
    /// Classify one `AWS` value.
    pub fn aws(value: &str) -> PrincipalPattern {
        if value == "*" {
            return PrincipalPattern::Any;
        }
        if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
            return PrincipalPattern::Account(value.to_string());
        }
        if let Some(rest) = value.strip_prefix("arn:aws:iam::") {
            if let Some(account) = rest.strip_suffix(":root") {
                return PrincipalPattern::Account(account.to_string());
            }
        }
        PrincipalPattern::Arn(value.to_string())
    }

    /// How (if at all) this entry names `caller`.
    pub fn matches(&self, caller: &Principal) -> Option<PrincipalMatch> {
        match self {
            PrincipalPattern::Any => Some(PrincipalMatch::Direct),
            PrincipalPattern::Account(a) => {
                (a == caller.account.as_str()).then_some(PrincipalMatch::Account)
            }
            PrincipalPattern::Arn(arn) => (**arn == *caller.arn || **arn == *caller.principal_arn)
                .then_some(PrincipalMatch::Direct),
            PrincipalPattern::Service(_) | PrincipalPattern::Other(_) => None,
        }
    }
}

/// A role ARN's session ARN: `arn:aws:iam::A:role/path/R` and session `S`
/// give `arn:aws:sts::A:assumed-role/R/S` (the path is dropped, as in AWS).
pub fn assumed_role_arn(role_arn: &str, session: &str) -> Option<String> {
    let rest = role_arn.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    let name = resource.strip_prefix("role/")?.rsplit('/').next()?;
    Some(format!(
        "arn:aws:sts::{account}:assumed-role/{name}/{session}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(arn: &str, principal_arn: &str, kind: PrincipalKind) -> Principal {
        Principal {
            arn: arn.into(),
            account: AccountId::parse("111122223333").unwrap(),
            kind,
            principal_arn: principal_arn.into(),
            user_id: "AIDA".into(),
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn patterns() {
        let alice = "arn:aws:iam::111122223333:user/alice";
        let c = caller(alice, alice, PrincipalKind::User);
        assert_eq!(
            PrincipalPattern::aws("*").matches(&c),
            Some(PrincipalMatch::Direct)
        );
        assert_eq!(
            PrincipalPattern::aws("111122223333").matches(&c),
            Some(PrincipalMatch::Account)
        );
        assert_eq!(
            PrincipalPattern::aws("arn:aws:iam::111122223333:root").matches(&c),
            Some(PrincipalMatch::Account)
        );
        assert_eq!(PrincipalPattern::aws("444455556666").matches(&c), None);
        assert_eq!(
            PrincipalPattern::aws(alice).matches(&c),
            Some(PrincipalMatch::Direct)
        );
        assert_eq!(
            PrincipalPattern::aws("arn:aws:iam::111122223333:user/bob").matches(&c),
            None
        );
        // A role's ARN names all of its sessions.
        let role = "arn:aws:iam::111122223333:role/deployer";
        let session = assumed_role_arn(role, "ci").unwrap();
        assert_eq!(
            session,
            "arn:aws:sts::111122223333:assumed-role/deployer/ci"
        );
        let s = caller(&session, role, PrincipalKind::AssumedRole);
        assert_eq!(
            PrincipalPattern::aws(role).matches(&s),
            Some(PrincipalMatch::Direct)
        );
        assert_eq!(
            PrincipalPattern::aws(&session).matches(&s),
            Some(PrincipalMatch::Direct)
        );
        assert_eq!(
            assumed_role_arn("arn:aws:iam::111122223333:role/team/deployer", "x").unwrap(),
            "arn:aws:sts::111122223333:assumed-role/deployer/x"
        );
        assert_eq!(c.username(), Some("alice"));
        assert_eq!(s.username(), None);
    }
}
