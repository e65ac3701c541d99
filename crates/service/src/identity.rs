//! Who callers are and which policies they carry: the IAM users and roles
//! of the configuration (the [`Directory`]), and the [`Identity`] a request
//! is authorized as.

use std::collections::BTreeMap;
use std::sync::Arc;
use trent_core::authz::{assumed_role_arn, CompiledPolicy, Principal, PrincipalKind};
use trent_core::ids::AccountId;

/// A caller, as authorization sees it: the principal and its policies.
#[derive(Debug)]
pub struct Identity {
    /// Who.
    pub principal: Principal,
    /// The user's or role's identity policies.
    pub policies: Vec<Arc<CompiledPolicy>>,
    /// A role session's session policy.
    pub session_policy: Option<Arc<CompiledPolicy>>,
    /// When a role session's credentials were issued (the audit trail's
    /// `sessionContext.attributes.creationDate`).
    pub session_issued_at: Option<trent_core::Millis>,
}

impl Identity {
    /// The root of an account: needs no policy.
    pub fn root(account: &AccountId) -> Identity {
        Identity {
            principal: Principal::root(account),
            policies: Vec::new(),
            session_policy: None,
            session_issued_at: None,
        }
    }
}

/// An IAM user of the configuration.
#[derive(Debug, Clone)]
pub struct User {
    /// `arn:aws:iam::ACCOUNT:user/NAME`.
    pub arn: String,
    /// Its identity policies.
    pub policies: Vec<Arc<CompiledPolicy>>,
    /// `aws:PrincipalTag/*`.
    pub tags: BTreeMap<String, String>,
}

/// An IAM role of the configuration.
#[derive(Debug, Clone)]
pub struct Role {
    /// `arn:aws:iam::ACCOUNT:role/NAME`.
    pub arn: String,
    /// Who may assume it (a resource policy on the role).
    pub trust_policy: Arc<CompiledPolicy>,
    /// Its identity policies.
    pub policies: Vec<Arc<CompiledPolicy>>,
    /// `MaxSessionDuration`.
    pub max_session_seconds: u32,
    /// `aws:PrincipalTag/*` of its sessions.
    pub tags: BTreeMap<String, String>,
}

/// The users and roles Trent knows, by ARN.
#[derive(Debug, Default, Clone)]
pub struct Directory {
    users: BTreeMap<String, User>,
    roles: BTreeMap<String, Role>,
}

/// A stable, AWS-shaped unique id for a principal (`AIDA...` for users,
/// `AROA...` for roles): a prefix and 17 characters derived from the ARN.
pub fn unique_id(prefix: &str, arn: &str) -> String {
    // FNV-1a, twice with different seeds: stable across runs and builds,
    // which `std`'s hasher is not. Not a security boundary.
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(prefix.len() + 17);
    out.push_str(prefix);
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in arn.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    for i in 0..17 {
        out.push(ALPHABET[((h >> (i * 5)) & 31) as usize] as char);
    }
    out
}

impl Directory {
    /// A directory of these users and roles.
    pub fn new(users: Vec<User>, roles: Vec<Role>) -> Directory {
        Directory {
            users: users.into_iter().map(|u| (u.arn.clone(), u)).collect(),
            roles: roles.into_iter().map(|r| (r.arn.clone(), r)).collect(),
        }
    }

    /// A role by ARN.
    pub fn role(&self, arn: &str) -> Option<&Role> {
        self.roles.get(arn)
    }

    /// The identity of a long-term credential whose principal is `arn`
    /// (the account root, a user, a role, or a role session) in `account`.
    /// A principal the directory does not list has no policies.
    pub fn identity(&self, arn: &str, account: &AccountId) -> Identity {
        if arn == account.root_arn() {
            return Identity::root(account);
        }
        if let Some(rest) = arn.strip_prefix(&format!("arn:aws:sts::{account}:assumed-role/")) {
            let role_name = rest.split('/').next().unwrap_or_default();
            let role_arn = self
                .roles
                .keys()
                .find(|r| r.rsplit('/').next() == Some(role_name) && r.contains(account.as_str()))
                .cloned()
                .unwrap_or_else(|| format!("arn:aws:iam::{account}:role/{role_name}"));
            let session = rest.split_once('/').map(|(_, s)| s).unwrap_or_default();
            return self.session(&role_arn, session, account, None);
        }
        let (kind, policies, tags, prefix) = if let Some(u) = self.users.get(arn) {
            (
                PrincipalKind::User,
                u.policies.clone(),
                u.tags.clone(),
                "AIDA",
            )
        } else if let Some(r) = self.roles.get(arn) {
            (
                PrincipalKind::Role,
                r.policies.clone(),
                r.tags.clone(),
                "AROA",
            )
        } else if arn.contains(":role/") {
            (PrincipalKind::Role, Vec::new(), BTreeMap::new(), "AROA")
        } else {
            (PrincipalKind::User, Vec::new(), BTreeMap::new(), "AIDA")
        };
        let arn: Arc<str> = arn.into();
        Identity {
            principal: Principal {
                principal_arn: arn.clone(),
                user_id: unique_id(prefix, &arn).into(),
                arn,
                account: account.clone(),
                kind,
                tags,
            },
            policies,
            session_policy: None,
            session_issued_at: None,
        }
    }

    /// The identity of a session of role `role_arn` named `session`, with an
    /// optional session policy. The role's policies and tags are read now,
    /// so a change to the configuration applies to sessions at once.
    pub fn session(
        &self,
        role_arn: &str,
        session: &str,
        account: &AccountId,
        session_policy: Option<Arc<CompiledPolicy>>,
    ) -> Identity {
        let role = self.roles.get(role_arn);
        let arn = assumed_role_arn(role_arn, session)
            .unwrap_or_else(|| format!("arn:aws:sts::{account}:assumed-role/unknown/{session}"));
        Identity {
            principal: Principal {
                arn: arn.into(),
                account: account.clone(),
                kind: PrincipalKind::AssumedRole,
                principal_arn: role_arn.into(),
                user_id: format!("{}:{session}", unique_id("AROA", role_arn)).into(),
                tags: role.map(|r| r.tags.clone()).unwrap_or_default(),
            },
            policies: role.map(|r| r.policies.clone()).unwrap_or_default(),
            session_policy,
            session_issued_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trent_core::authz::PolicyKind;

    fn policy(text: &str, kind: PolicyKind) -> Arc<CompiledPolicy> {
        Arc::new(CompiledPolicy::parse(text, kind).unwrap())
    }

    #[test]
    fn identities_of_configured_principals() {
        let account = AccountId::parse("111122223333").unwrap();
        let allow = r#"{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#;
        let trust = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}}"#;
        let d = Directory::new(
            vec![User {
                arn: "arn:aws:iam::111122223333:user/carol".into(),
                policies: vec![policy(allow, PolicyKind::Identity)],
                tags: BTreeMap::from([("team".into(), "blue".into())]),
            }],
            vec![Role {
                arn: "arn:aws:iam::111122223333:role/deployer".into(),
                trust_policy: policy(trust, PolicyKind::Resource),
                policies: vec![policy(allow, PolicyKind::Identity)],
                max_session_seconds: 3600,
                tags: BTreeMap::new(),
            }],
        );
        let root = d.identity("arn:aws:iam::111122223333:root", &account);
        assert_eq!(root.principal.kind, PrincipalKind::Root);
        let carol = d.identity("arn:aws:iam::111122223333:user/carol", &account);
        assert_eq!(carol.policies.len(), 1);
        assert_eq!(carol.principal.tags["team"], "blue");
        assert!(carol.principal.user_id.starts_with("AIDA"));
        assert_eq!(carol.principal.user_id.len(), 21);
        let stranger = d.identity("arn:aws:iam::111122223333:user/dave", &account);
        assert!(stranger.policies.is_empty(), "no configured policies: none");
        let s = d.session(
            "arn:aws:iam::111122223333:role/deployer",
            "ci",
            &account,
            None,
        );
        assert_eq!(
            &*s.principal.arn,
            "arn:aws:sts::111122223333:assumed-role/deployer/ci"
        );
        assert_eq!(
            &*s.principal.principal_arn,
            "arn:aws:iam::111122223333:role/deployer"
        );
        assert_eq!(s.policies.len(), 1);
        assert!(s.principal.user_id.ends_with(":ci"));
        let via_config = d.identity(
            "arn:aws:sts::111122223333:assumed-role/deployer/x",
            &account,
        );
        assert_eq!(via_config.policies.len(), 1);
        assert_eq!(unique_id("AIDA", "a"), unique_id("AIDA", "a"));
        assert_ne!(unique_id("AIDA", "a"), unique_id("AIDA", "b"));
    }
}
