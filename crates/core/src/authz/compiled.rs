//! A policy document compiled for evaluation: action sets as bits, principal
//! and resource patterns classified, conditions parsed. Compiled once per
//! key-policy revision (and once per identity policy at start-up), never per
//! request.

use super::action::{Action, ActionSet};
use super::condition::{parse_operator, Condition, Context};
use super::glob;
use super::principal::{Principal, PrincipalMatch, PrincipalPattern};
pub use crate::policy::PolicyKind;
use crate::policy::{Effect, PolicyDocument, PolicyError, Principals, Statement};

#[derive(Debug, Clone)]
enum PrincipalSpec {
    /// Identity policies.
    Holder,
    /// `Principal` (`not == false`) or `NotPrincipal`.
    Patterns {
        not: bool,
        patterns: Vec<PrincipalPattern>,
    },
}

#[derive(Debug, Clone)]
struct ResourceSpec {
    not: bool,
    patterns: Vec<String>,
}

#[derive(Debug, Clone)]
struct CompiledStatement {
    effect: Effect,
    principal: PrincipalSpec,
    actions: ActionSet,
    resources: Option<ResourceSpec>,
    conditions: Vec<Condition>,
    /// A condition operator this build cannot evaluate (a stored policy
    /// from before it was refused): an Allow never applies, a Deny always
    /// does. Fail closed.
    unevaluable: bool,
}

/// A compiled policy.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    kind: PolicyKind,
    statements: Vec<CompiledStatement>,
    keys: Vec<String>,
}

/// What one policy says about one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verdict {
    /// A Deny statement applies.
    pub deny: bool,
    /// An Allow statement applies and names the caller (or `*`).
    pub allow_direct: bool,
    /// An Allow statement applies through the caller's account.
    pub allow_account: bool,
}

impl Verdict {
    /// Whether any Allow applies.
    pub fn allows(&self) -> bool {
        self.allow_direct || self.allow_account
    }
}

fn principal_patterns(p: &Principals) -> Vec<PrincipalPattern> {
    match p {
        Principals::Any => vec![PrincipalPattern::Any],
        Principals::Typed(map) => map
            .iter()
            .flat_map(|(kind, values)| {
                values.iter().map(move |v| match kind.as_str() {
                    "AWS" => PrincipalPattern::aws(v),
                    "Service" => PrincipalPattern::Service(v.clone()),
                    _ => PrincipalPattern::Other(v.clone()),
                })
            })
            .collect(),
    }
}

fn compile_statement(s: &Statement, kind: PolicyKind) -> CompiledStatement {
    let principal = match kind {
        PolicyKind::Identity => PrincipalSpec::Holder,
        PolicyKind::Resource => match (&s.principal, &s.not_principal) {
            (Some(p), _) => PrincipalSpec::Patterns {
                not: false,
                patterns: principal_patterns(p),
            },
            (None, Some(p)) => PrincipalSpec::Patterns {
                not: true,
                patterns: principal_patterns(p),
            },
            (None, None) => PrincipalSpec::Patterns {
                not: false,
                patterns: Vec::new(),
            },
        },
    };
    let actions = match (&s.action, &s.not_action) {
        (Some(a), _) => ActionSet::from_patterns(a),
        (None, Some(n)) => ActionSet::from_patterns(n).complement(),
        (None, None) => ActionSet::NONE,
    };
    let resources = match (&s.resource, &s.not_resource) {
        (Some(r), _) => Some(ResourceSpec {
            not: false,
            patterns: r.clone(),
        }),
        (None, Some(r)) => Some(ResourceSpec {
            not: true,
            patterns: r.clone(),
        }),
        // Key policies may leave Resource out: the key itself.
        (None, None) => None,
    };
    let mut conditions = Vec::new();
    let mut unevaluable = false;
    for (op, keys) in &s.condition {
        match parse_operator(op) {
            Ok((operator, set, if_exists)) => {
                for (key, values) in keys {
                    conditions.push(Condition {
                        operator,
                        set,
                        if_exists,
                        key: key.to_ascii_lowercase(),
                        values: values.clone(),
                    });
                }
            }
            Err(_) => unevaluable = true,
        }
    }
    CompiledStatement {
        effect: s.effect,
        principal,
        actions,
        resources,
        conditions,
        unevaluable,
    }
}

impl CompiledPolicy {
    /// Compile a parsed document.
    pub fn compile(doc: &PolicyDocument, kind: PolicyKind) -> CompiledPolicy {
        let statements: Vec<CompiledStatement> = doc
            .statements
            .iter()
            .map(|s| compile_statement(s, kind))
            .collect();
        let mut keys: Vec<String> = statements
            .iter()
            .flat_map(|s| s.conditions.iter().map(|c| c.key.clone()))
            .collect();
        keys.sort();
        keys.dedup();
        CompiledPolicy {
            kind,
            statements,
            keys,
        }
    }

    /// Parse and compile a document's text.
    pub fn parse(text: &str, kind: PolicyKind) -> Result<CompiledPolicy, PolicyError> {
        Ok(Self::compile(&PolicyDocument::parse_as(text, kind)?, kind))
    }

    /// Whether any condition reads `key` (lowercase); lets the caller skip
    /// costly context values (a key's aliases) that no statement needs.
    pub fn uses_key(&self, key: &str) -> bool {
        self.keys.binary_search_by(|k| k.as_str().cmp(key)).is_ok()
    }

    /// What this policy says about `caller` doing `action` on `resource`.
    pub fn evaluate(
        &self,
        caller: &Principal,
        action: Action,
        resource: &str,
        ctx: &dyn Context,
    ) -> Verdict {
        let mut v = Verdict::default();
        for s in &self.statements {
            if !s.actions.contains(action) {
                continue;
            }
            let how = match &s.principal {
                PrincipalSpec::Holder => Some(PrincipalMatch::Direct),
                PrincipalSpec::Patterns { not, patterns } => {
                    let named = patterns
                        .iter()
                        .filter_map(|p| p.matches(caller))
                        .min_by_key(|m| {
                            // A direct mention beats a mention of the account.
                            matches!(m, PrincipalMatch::Account)
                        });
                    match (not, named) {
                        (false, m) => m,
                        (true, None) => Some(PrincipalMatch::Direct),
                        (true, Some(_)) => None,
                    }
                }
            };
            let Some(how) = how else {
                continue;
            };
            if let Some(r) = &s.resources {
                let hit = r.patterns.iter().any(|p| {
                    p == "*"
                        || super::condition::substitute(p, ctx)
                            .is_some_and(|p| glob::matches(&p, resource, false))
                });
                if hit == r.not {
                    continue;
                }
            }
            if s.unevaluable {
                if s.effect == Effect::Deny {
                    v.deny = true;
                    return v;
                }
                continue;
            }
            if !s.conditions.iter().all(|c| c.holds(ctx)) {
                continue;
            }
            match (s.effect, how) {
                (Effect::Deny, _) => {
                    v.deny = true;
                    return v;
                }
                (Effect::Allow, PrincipalMatch::Direct) => v.allow_direct = true,
                (Effect::Allow, PrincipalMatch::Account) => v.allow_account = true,
            }
        }
        v
    }

    /// Where the policy is attached.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }
}
