//! Authorization, the way AWS KMS decides: key policies, identity policies,
//! session policies and grants, evaluated by one pure function,
//! [`decide`], with typed actions and no IO.
//!
//! The rules (AWS KMS Developer Guide, "Determining access to an AWS KMS
//! key"; IAM "Policy evaluation logic"):
//!
//! 1. An explicit `Deny` in any applicable policy wins.
//! 2. Otherwise the key policy must allow the request: either it names the
//!    caller (its ARN, its role's ARN, or `*`), or it names the caller's
//!    account, in which case an identity policy of the caller must allow it
//!    too (the account root needs none). A caller of another account needs
//!    both: the key policy's allow and its own identity policy's.
//! 3. Or a grant on the key allows it (the caller checks grants only when
//!    the policies did not allow; grants never override a `Deny`).
//! 4. A role session's session policy, when there is one, must also allow.
//! 5. Actions without a key (CreateKey, ListKeys, ListAliases,
//!    GenerateRandom) are decided by identity policies alone.
//!
//! Denials carry the reason, so the message can be AWS's.

mod action;
mod compiled;
mod condition;
mod context;
mod glob;
mod principal;

pub use action::{Action, ActionSet};
pub use compiled::{CompiledPolicy, PolicyKind, Verdict};
pub use condition::{parse_date, parse_operator, Context, UnknownOperator, Value};
pub use context::{GrantFacts, KeyFacts, KeySetFacts, RequestContext};
pub use glob::matches as glob_matches;
pub use principal::{assumed_role_arn, Principal, PrincipalKind, PrincipalMatch, PrincipalPattern};

use crate::ids::AccountId;

/// Why a request was denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// A `Deny` in the key policy (or trust policy).
    ExplicitResource,
    /// A `Deny` in an identity policy.
    ExplicitIdentity,
    /// A `Deny` in the session policy.
    ExplicitSession,
    /// The key policy does not allow it.
    NoResourcePolicy,
    /// The key policy delegates to identity policies, and none allows it.
    NoIdentityPolicy,
    /// The session policy does not allow it.
    NoSessionPolicy,
}

impl Denial {
    /// AWS's `AccessDeniedException` message.
    pub fn message(self, principal: &str, action: Action, resource: &str) -> String {
        let a = action.iam_name();
        let head =
            format!("User: {principal} is not authorized to perform: {a} on resource: {resource}");
        match self {
            Denial::ExplicitResource => {
                format!("{head} with an explicit deny in a resource-based policy")
            }
            Denial::ExplicitIdentity => {
                format!("{head} with an explicit deny in an identity-based policy")
            }
            Denial::ExplicitSession => format!("{head} with an explicit deny in a session policy"),
            Denial::NoResourcePolicy => {
                format!("{head} because no resource-based policy allows the {a} action")
            }
            Denial::NoIdentityPolicy => {
                format!("{head} because no identity-based policy allows the {a} action")
            }
            Denial::NoSessionPolicy => {
                format!("{head} because no session policy allows the {a} action")
            }
        }
    }

    /// Whether a grant may still allow the request (only implicit denials).
    pub fn grant_may_allow(self) -> bool {
        matches!(self, Denial::NoResourcePolicy | Denial::NoIdentityPolicy)
    }
}

/// The policies that apply to a caller.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallerPolicies<'a> {
    /// Identity policies of the user or role.
    pub identity: &'a [std::sync::Arc<CompiledPolicy>],
    /// The session policy of a role session.
    pub session: Option<&'a CompiledPolicy>,
}

/// One request to decide.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// Who.
    pub caller: &'a Principal,
    /// What.
    pub action: Action,
    /// On what: a key ARN, an alias ARN, a role ARN, or `*`.
    pub resource: &'a str,
    /// The owner of the resource (`None`: an action without a resource).
    pub resource_account: Option<&'a AccountId>,
    /// Everything conditions may read.
    pub context: &'a dyn Context,
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("caller", &self.caller.arn)
            .field("action", &self.action)
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

/// Decide a request from the resource's policy (`None` for actions decided
/// by identity policies alone) and the caller's policies. Grants are the
/// caller's to check after an implicit denial ([`Denial::grant_may_allow`]).
pub fn decide(
    req: &Request<'_>,
    resource_policy: Option<&CompiledPolicy>,
    caller: CallerPolicies<'_>,
) -> Result<(), Denial> {
    let p = req.caller;
    let eval = |pol: &CompiledPolicy| pol.evaluate(p, req.action, req.resource, req.context);
    let resource = resource_policy.map(eval).unwrap_or_default();
    if resource.deny {
        return Err(Denial::ExplicitResource);
    }
    let root = p.kind == PrincipalKind::Root;
    let mut identity = Verdict::default();
    for pol in caller.identity {
        let v = eval(pol);
        if v.deny {
            return Err(Denial::ExplicitIdentity);
        }
        identity.allow_direct |= v.allow_direct;
    }
    let identity_allows = root || identity.allows();
    if let Some(session) = caller.session {
        let v = eval(session);
        if v.deny {
            return Err(Denial::ExplicitSession);
        }
        if !v.allows() {
            return Err(Denial::NoSessionPolicy);
        }
    }
    let Some(owner) = req.resource_account else {
        return if identity_allows {
            Ok(())
        } else {
            Err(Denial::NoIdentityPolicy)
        };
    };
    let same_account = *owner == p.account;
    let allowed = (resource.allow_direct && (same_account || identity_allows))
        || (resource.allow_account && identity_allows);
    if allowed {
        Ok(())
    } else if resource.allows() {
        Err(Denial::NoIdentityPolicy)
    } else {
        Err(Denial::NoResourcePolicy)
    }
}

#[cfg(test)]
mod tests;
