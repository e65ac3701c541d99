//! Key policy documents: parsed into a typed [`PolicyDocument`] so that a
//! malformed document is refused when it is stored, and so that evaluation
//! (authorization, a later capability) works on types, not JSON.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The largest key policy AWS accepts, in bytes.
pub const MAX_POLICY_BYTES: usize = 32 * 1024;

/// The only key policy name.
pub const DEFAULT_POLICY_NAME: &str = "default";

/// AWS's default key policy, byte for byte as GetKeyPolicy returns it.
pub fn default_policy(account_root_arn: &str) -> String {
    format!(
        "{{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {{\n    \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {{\n      \"AWS\" : \"{account_root_arn}\"\n    }},\n    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  }} ]\n}}"
    )
}

/// Why a policy document was refused (`MalformedPolicyDocumentException`,
/// except [`PolicyError::TooLarge`], which is `LimitExceededException`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
// Exhaustive on purpose: the wire table matches every variant, so a new
// one does not compile until it is given its AWS error code.
pub enum PolicyError {
    /// Not JSON, or not a JSON object.
    #[error("The policy document is not valid JSON: {0}")]
    NotJson(String),
    /// A structural rule of the policy grammar is broken.
    #[error("{0}")]
    Grammar(String),
    /// A principal that is neither `*`, an account id, nor an IAM ARN.
    #[error("Policy contains a statement with one or more invalid principals.")]
    InvalidPrincipal,
    /// Over [`MAX_POLICY_BYTES`].
    #[error("The key policy is {0} bytes long; the limit is 32768 bytes.")]
    TooLarge(usize),
}

/// Where a policy is attached, which decides its grammar and how its
/// `Principal` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// A key policy or a role's trust policy: each statement names its
    /// principals (`Principal` or `NotPrincipal`).
    Resource,
    /// An identity policy (of a user or role) or a session policy: applies to
    /// its holder, so it names no principal, and names its resources.
    Identity,
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Allow.
    Allow,
    /// Deny.
    Deny,
}

/// A `Principal` or `NotPrincipal` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principals {
    /// `"*"`.
    Any,
    /// `{"AWS": [...], "Service": [...], ...}`.
    Typed(BTreeMap<String, Vec<String>>),
}

/// One statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// `Sid`.
    pub sid: Option<String>,
    /// `Effect`.
    pub effect: Effect,
    /// `Principal`.
    pub principal: Option<Principals>,
    /// `NotPrincipal`.
    pub not_principal: Option<Principals>,
    /// `Action`.
    pub action: Option<Vec<String>>,
    /// `NotAction`.
    pub not_action: Option<Vec<String>>,
    /// `Resource`.
    pub resource: Option<Vec<String>>,
    /// `NotResource`.
    pub not_resource: Option<Vec<String>>,
    /// `Condition`: operator → condition key → values (as strings).
    pub condition: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

/// A parsed policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    /// `Version`.
    pub version: Option<String>,
    /// `Id`.
    pub id: Option<String>,
    /// `Statement`.
    pub statements: Vec<Statement>,
}

fn grammar(msg: impl Into<String>) -> PolicyError {
    PolicyError::Grammar(msg.into())
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>, PolicyError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| grammar(format!("{what} must be a string or a list of strings")))
            })
            .collect(),
        _ => Err(grammar(format!(
            "{what} must be a string or a non-empty list of strings"
        ))),
    }
}

fn condition_values(v: &Value) -> Result<Vec<String>, PolicyError> {
    let one = |x: &Value| match x {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(grammar(
            "Condition values must be strings, numbers or booleans",
        )),
    };
    match v {
        Value::Array(a) => a.iter().map(one).collect(),
        x => Ok(vec![one(x)?]),
    }
}

fn valid_aws_principal(p: &str) -> bool {
    if p == "*" {
        return true;
    }
    if p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    // arn:PARTITION:(iam|sts)::ACCOUNT:RESOURCE
    let parts: Vec<&str> = p.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && !parts[1].is_empty()
        && (parts[2] == "iam" || parts[2] == "sts")
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && (parts[5] == "root"
            || [
                "user/",
                "role/",
                "assumed-role/",
                "federated-user/",
                "group/",
            ]
            .iter()
            .any(|pre| parts[5].len() > pre.len() && parts[5].starts_with(pre)))
}

fn principals(v: &Value) -> Result<Principals, PolicyError> {
    match v {
        Value::String(s) if s == "*" => Ok(Principals::Any),
        Value::Object(m) => {
            let mut out = BTreeMap::new();
            for (k, v) in m {
                let list = strings(v, "Principal").map_err(|_| PolicyError::InvalidPrincipal)?;
                match k.as_str() {
                    "AWS" => {
                        if !list.iter().all(|p| valid_aws_principal(p)) {
                            return Err(PolicyError::InvalidPrincipal);
                        }
                    }
                    "Service" | "Federated" | "CanonicalUser" => {}
                    _ => return Err(PolicyError::InvalidPrincipal),
                }
                out.insert(k.clone(), list);
            }
            if out.is_empty() {
                return Err(PolicyError::InvalidPrincipal);
            }
            Ok(Principals::Typed(out))
        }
        _ => Err(PolicyError::InvalidPrincipal),
    }
}

fn actions(v: &Value, what: &str) -> Result<Vec<String>, PolicyError> {
    let list = strings(v, what)?;
    for a in &list {
        let ok = a == "*"
            || a.split_once(':').is_some_and(|(svc, name)| {
                !svc.is_empty()
                    && svc.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !name.is_empty()
            });
        if !ok {
            return Err(grammar(format!("Policy contains an invalid action: '{a}'")));
        }
    }
    Ok(list)
}

fn statement(v: &Value, kind: PolicyKind, strict: bool) -> Result<Statement, PolicyError> {
    let m: &Map<String, Value> = v
        .as_object()
        .ok_or_else(|| grammar("Each policy statement must be a JSON object"))?;
    for k in m.keys() {
        if !matches!(
            k.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return Err(grammar(format!(
                "Policy statement contains an unknown element: '{k}'"
            )));
        }
    }
    let effect = match m.get("Effect") {
        Some(Value::String(s)) if s == "Allow" => Effect::Allow,
        Some(Value::String(s)) if s == "Deny" => Effect::Deny,
        _ => {
            return Err(grammar(
                "Each policy statement must have an Effect of Allow or Deny",
            ))
        }
    };
    let sid = match m.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(grammar("Sid must be a string")),
    };
    let principal = m.get("Principal").map(principals).transpose()?;
    let not_principal = m.get("NotPrincipal").map(principals).transpose()?;
    match kind {
        PolicyKind::Resource if principal.is_some() == not_principal.is_some() => {
            return Err(grammar(
                "Each key policy statement must have exactly one of Principal or NotPrincipal",
            ));
        }
        PolicyKind::Identity if principal.is_some() || not_principal.is_some() => {
            return Err(grammar(
                "Has prohibited field Principal: an identity-based policy names no principal",
            ));
        }
        _ => {}
    }
    let action = m.get("Action").map(|v| actions(v, "Action")).transpose()?;
    let not_action = m
        .get("NotAction")
        .map(|v| actions(v, "NotAction"))
        .transpose()?;
    if action.is_some() && not_action.is_some() {
        return Err(grammar(
            "A policy statement cannot have both Action and NotAction",
        ));
    }
    let resource = m
        .get("Resource")
        .map(|v| strings(v, "Resource"))
        .transpose()?;
    let not_resource = m
        .get("NotResource")
        .map(|v| strings(v, "NotResource"))
        .transpose()?;
    if resource.is_some() && not_resource.is_some() {
        return Err(grammar(
            "A policy statement cannot have both Resource and NotResource",
        ));
    }
    let mut condition = BTreeMap::new();
    match m.get("Condition") {
        None => {}
        Some(Value::Object(ops)) => {
            for (op, keys) in ops {
                let keys = keys.as_object().ok_or_else(|| {
                    grammar(format!("Condition operator '{op}' must map to an object"))
                })?;
                if let Err(e) = crate::authz::parse_operator(op) {
                    if strict {
                        return Err(grammar(e.to_string()));
                    }
                }
                let mut entry = BTreeMap::new();
                for (k, v) in keys {
                    entry.insert(k.clone(), condition_values(v)?);
                }
                condition.insert(op.clone(), entry);
            }
        }
        Some(_) => return Err(grammar("Condition must be a JSON object")),
    }
    Ok(Statement {
        sid,
        effect,
        principal,
        not_principal,
        action,
        not_action,
        resource,
        not_resource,
        condition,
    })
}

impl PolicyDocument {
    /// Parse and check a key policy document.
    pub fn parse(text: &str) -> Result<PolicyDocument, PolicyError> {
        Self::parse_as(text, PolicyKind::Resource)
    }

    /// Parse and check a policy document attached as `kind`.
    pub fn parse_as(text: &str, kind: PolicyKind) -> Result<PolicyDocument, PolicyError> {
        Self::parse_with(text, kind, true)
    }

    /// Parse a key policy that was stored earlier, under the rules of the
    /// build that stored it: a condition operator this build does not know
    /// is kept (evaluation then fails closed on it) instead of refused.
    pub fn parse_stored(text: &str) -> Result<PolicyDocument, PolicyError> {
        Self::parse_with(text, PolicyKind::Resource, false)
    }

    fn parse_with(
        text: &str,
        kind: PolicyKind,
        strict: bool,
    ) -> Result<PolicyDocument, PolicyError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::TooLarge(text.len()));
        }
        let v: Value =
            serde_json::from_str(text).map_err(|e| PolicyError::NotJson(e.to_string()))?;
        let m = v
            .as_object()
            .ok_or_else(|| PolicyError::NotJson("the document is not a JSON object".into()))?;
        for k in m.keys() {
            if !matches!(k.as_str(), "Version" | "Id" | "Statement") {
                return Err(grammar(format!(
                    "Policy document contains an unknown element: '{k}'"
                )));
            }
        }
        let version = match m.get("Version") {
            None => None,
            Some(Value::String(s)) if s == "2012-10-17" || s == "2008-10-17" => Some(s.clone()),
            Some(_) => {
                return Err(grammar(
                    "The policy Version must be \"2012-10-17\" or \"2008-10-17\"",
                ))
            }
        };
        let id = match m.get("Id") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(grammar("Id must be a string")),
        };
        let statements = match m.get("Statement") {
            Some(Value::Array(a)) if !a.is_empty() => a
                .iter()
                .map(|s| statement(s, kind, strict))
                .collect::<Result<Vec<_>, _>>()?,
            Some(o @ Value::Object(_)) => vec![statement(o, kind, strict)?],
            _ => {
                return Err(grammar(
                    "The policy document must contain at least one Statement",
                ))
            }
        };
        Ok(PolicyDocument {
            version,
            id,
            statements,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_is_valid_and_exact() {
        let p = default_policy("arn:aws:iam::111122223333:root");
        assert!(p.starts_with("{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\","));
        assert!(p.ends_with("  } ]\n}"));
        let doc = PolicyDocument::parse(&p).unwrap();
        assert_eq!(doc.statements.len(), 1);
        assert_eq!(doc.statements[0].effect, Effect::Allow);
    }

    #[test]
    fn malformed_documents() {
        let cases = [
            "not json",
            "[]",
            "{}",
            r#"{"Statement": []}"#,
            r#"{"Statement": {"Effect": "Maybe", "Principal": "*", "Action": "kms:*"}}"#,
            r#"{"Statement": {"Effect": "Allow", "Action": "kms:*"}}"#,
            r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "nocolon"}}"#,
            r#"{"Version": "2020-01-01", "Statement": {"Effect": "Allow", "Principal": "*", "Action": "kms:*"}}"#,
            r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Extra": 1}}"#,
            r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Condition": []}}"#,
        ];
        for c in cases {
            assert!(PolicyDocument::parse(c).is_err(), "{c}");
        }
        let bad_principal =
            r#"{"Statement": {"Effect": "Allow", "Principal": {"AWS": "bob"}, "Action": "kms:*"}}"#;
        assert_eq!(
            PolicyDocument::parse(bad_principal),
            Err(PolicyError::InvalidPrincipal)
        );
        let big = format!("{{\"Id\": \"{}\"}}", "x".repeat(MAX_POLICY_BYTES));
        assert!(matches!(
            PolicyDocument::parse(&big),
            Err(PolicyError::TooLarge(_))
        ));
    }

    #[test]
    fn accepted_documents() {
        let ok = r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"a","Effect":"Deny","Principal":{"AWS":["111122223333","arn:aws:iam::111122223333:role/R"]},
             "Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*",
             "Condition":{"StringEquals":{"kms:EncryptionContext:app":"x"},"Bool":{"aws:SecureTransport":false}}},
            {"Effect":"Allow","Principal":"*","NotAction":"kms:Delete*"}]}"#;
        let doc = PolicyDocument::parse(ok).unwrap();
        assert_eq!(doc.statements.len(), 2);
        assert_eq!(
            doc.statements[0].condition["Bool"]["aws:SecureTransport"],
            vec!["false".to_string()]
        );
    }
}
