//! The evaluation function against a table of cases, each naming the AWS
//! rule it checks, must-deny cases included.

// The table writes every policy with format!, with or without arguments, so
// that the cases read alike.
#![allow(clippy::useless_format)]

use super::*;
use crate::policy::default_policy;
use std::collections::BTreeMap;
use std::sync::Arc;

const A: &str = "111122223333";
const B: &str = "444455556666";
const KEY_A: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn principal(arn: &str) -> Principal {
    let account = arn.split(':').nth(4).unwrap();
    let account = AccountId::parse(account).unwrap();
    let (kind, principal_arn) = if arn.ends_with(":root") {
        (PrincipalKind::Root, arn.to_string())
    } else if arn.contains(":user/") {
        (PrincipalKind::User, arn.to_string())
    } else if let Some(rest) = arn.split(":assumed-role/").nth(1) {
        let role = rest.split('/').next().unwrap();
        (
            PrincipalKind::AssumedRole,
            format!("arn:aws:iam::{account}:role/{role}"),
        )
    } else {
        (PrincipalKind::Role, arn.to_string())
    };
    Principal {
        arn: arn.into(),
        account,
        kind,
        principal_arn: principal_arn.into(),
        user_id: "AIDAEXAMPLE".into(),
        tags: BTreeMap::from([("team".to_string(), "blue".to_string())]),
    }
}

fn policy(text: &str, kind: PolicyKind) -> CompiledPolicy {
    CompiledPolicy::parse(text, kind).unwrap()
}

fn identity(text: &str) -> Arc<CompiledPolicy> {
    Arc::new(policy(text, PolicyKind::Identity))
}

const ALLOW_ENCRYPT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}"#;
const ALLOW_ALL_KMS: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;
const DENY_ENCRYPT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}]}"#;

fn key_policy_allowing(principal: &str, actions: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":{actions},"Resource":"*"}}]}}"#
    )
}

struct Case {
    rule: &'static str,
    caller: &'static str,
    action: Action,
    key_policy: String,
    identity: Vec<&'static str>,
    session: Option<&'static str>,
    context: BTreeMap<String, String>,
    expect: Result<(), Denial>,
}

fn case(
    rule: &'static str,
    caller: &'static str,
    key_policy: String,
    identity: Vec<&'static str>,
    expect: Result<(), Denial>,
) -> Case {
    Case {
        rule,
        caller,
        action: Action::Encrypt,
        key_policy,
        identity,
        session: None,
        context: BTreeMap::new(),
        expect,
    }
}

fn run(c: &Case) -> Result<(), Denial> {
    let caller = principal(c.caller);
    let kp = policy(&c.key_policy, PolicyKind::Resource);
    let ids: Vec<Arc<CompiledPolicy>> = c.identity.iter().map(|t| identity(t)).collect();
    let session = c.session.map(|t| policy(t, PolicyKind::Identity));
    let mut ctx = RequestContext::new(&caller, 1_796_212_800_000);
    ctx.encryption_context = Some(&c.context);
    ctx.secure_transport = true;
    let owner = AccountId::parse(A).unwrap();
    decide(
        &Request {
            caller: &caller,
            action: c.action,
            resource: KEY_A,
            resource_account: Some(&owner),
            context: &ctx,
        },
        Some(&kp),
        CallerPolicies {
            identity: &ids,
            session: session.as_ref(),
        },
    )
}

#[test]
fn aws_kms_authorization_rules() {
    let root_a = "arn:aws:iam::111122223333:root";
    let alice = "arn:aws:iam::111122223333:user/alice";
    let bob_b = "arn:aws:iam::444455556666:user/bob";
    let session = "arn:aws:sts::111122223333:assumed-role/deployer/ci";
    let default = default_policy(root_a);
    let mut cases = vec![
        case("default key policy: the account root needs no identity policy", root_a, default.clone(), vec![], Ok(())),
        case("default key policy delegates to IAM: a user without an identity policy is denied", alice, default.clone(), vec![], Err(Denial::NoIdentityPolicy)),
        case("default key policy + identity policy allows", alice, default.clone(), vec![ALLOW_ENCRYPT], Ok(())),
        case("identity policy for another action does not allow", alice, default.clone(), vec![r#"{"Statement":{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}}"#], Err(Denial::NoIdentityPolicy)),
        case("identity policy scoped to another key does not allow", alice, default.clone(), vec![r#"{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:111122223333:key/other"}}"#], Err(Denial::NoIdentityPolicy)),
        case("identity policy with a matching resource ARN pattern allows", alice, default.clone(), vec![r#"{"Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"arn:aws:kms:us-east-1:111122223333:key/*"}}"#], Ok(())),
        case("key policy naming the user allows without any identity policy", alice, key_policy_allowing(alice, r#""kms:Encrypt""#), vec![], Ok(())),
        case("key policy naming another user does not allow", alice, key_policy_allowing("arn:aws:iam::111122223333:user/carol", r#""kms:*""#), vec![ALLOW_ALL_KMS], Err(Denial::NoResourcePolicy)),
        case("without the account in the key policy, identity policies cannot allow", alice, key_policy_allowing("arn:aws:iam::111122223333:role/admin", r#""kms:*""#), vec![ALLOW_ALL_KMS], Err(Denial::NoResourcePolicy)),
        case("an explicit deny in an identity policy beats the key policy's allow", alice, key_policy_allowing(alice, r#""kms:*""#), vec![DENY_ENCRYPT], Err(Denial::ExplicitIdentity)),
        case("an explicit deny in the key policy beats an identity allow", alice, format!(r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{A}"}},"Action":"kms:*","Resource":"*"}},{{"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*"}}]}}"#), vec![ALLOW_ALL_KMS], Err(Denial::ExplicitResource)),
        case("an explicit deny in the key policy applies to the root too", root_a, format!(r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{A}"}},"Action":"kms:*"}},{{"Effect":"Deny","Principal":{{"AWS":"{A}"}},"Action":"kms:Encrypt"}}]}}"#), vec![], Err(Denial::ExplicitResource)),
        case("Principal * allows a caller of the key's account directly", alice, key_policy_allowing("*", r#""kms:Encrypt""#), vec![], Ok(())),
        case("NotAction: everything but the named actions", alice, format!(r#"{{"Statement":{{"Effect":"Allow","Principal":{{"AWS":"{alice}"}},"NotAction":"kms:Encrypt*","Resource":"*"}}}}"#), vec![], Err(Denial::NoResourcePolicy)),
        case("NotPrincipal with Deny: everyone but the named principal is denied", alice, format!(r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"kms:*"}},{{"Effect":"Deny","NotPrincipal":{{"AWS":"arn:aws:iam::111122223333:user/carol"}},"Action":"kms:Encrypt"}}]}}"#), vec![], Err(Denial::ExplicitResource)),
        case("cross-account: the key policy allows the other account, its identity policy allows", bob_b, key_policy_allowing(B, r#""kms:Encrypt""#), vec![ALLOW_ENCRYPT], Ok(())),
        case("cross-account: the key policy allows the other account, no identity policy", bob_b, key_policy_allowing(B, r#""kms:Encrypt""#), vec![], Err(Denial::NoIdentityPolicy)),
        case("cross-account: the key policy names the external user, still needs its identity policy", bob_b, key_policy_allowing(bob_b, r#""kms:Encrypt""#), vec![], Err(Denial::NoIdentityPolicy)),
        case("cross-account: the key policy names the external user and its identity policy allows", bob_b, key_policy_allowing(bob_b, r#""kms:Encrypt""#), vec![ALLOW_ENCRYPT], Ok(())),
        case("cross-account: an identity policy alone cannot reach another account's key", bob_b, default.clone(), vec![ALLOW_ALL_KMS], Err(Denial::NoResourcePolicy)),
        case("a role's ARN in the key policy covers its sessions", session, key_policy_allowing("arn:aws:iam::111122223333:role/deployer", r#""kms:Encrypt""#), vec![], Ok(())),
        case("another role's ARN does not", session, key_policy_allowing("arn:aws:iam::111122223333:role/other", r#""kms:Encrypt""#), vec![ALLOW_ALL_KMS], Err(Denial::NoResourcePolicy)),
        case("condition on aws:PrincipalArn", session, format!(r#"{{"Statement":{{"Effect":"Allow","Principal":{{"AWS":"*"}},"Action":"kms:Encrypt","Condition":{{"ArnLike":{{"aws:PrincipalArn":"arn:aws:iam::{A}:role/deploy*"}}}}}}}}"#), vec![], Ok(())),
        case("condition on aws:PrincipalTag", alice, format!(r#"{{"Statement":{{"Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Condition":{{"StringEquals":{{"aws:PrincipalTag/team":"red"}}}}}}}}"#), vec![], Err(Denial::NoResourcePolicy)),
        case("condition on kms:CallerAccount", alice, format!(r#"{{"Statement":{{"Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Condition":{{"StringEquals":{{"kms:CallerAccount":"{A}"}}}}}}}}"#), vec![], Ok(())),
        case("aws:SecureTransport false denies nothing over TLS", alice, format!(r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"kms:*"}},{{"Effect":"Deny","Principal":"*","Action":"kms:*","Condition":{{"Bool":{{"aws:SecureTransport":"false"}}}}}}]}}"#), vec![], Ok(())),
        case("a condition key Trent does not know is absent, never a silent allow", alice, format!(r#"{{"Statement":{{"Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Condition":{{"StringEquals":{{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}}}}}}}"#), vec![], Err(Denial::NoResourcePolicy)),
        case("...and an unknown key with IfExists passes", alice, format!(r#"{{"Statement":{{"Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Condition":{{"StringEqualsIfExists":{{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}}}}}}}"#), vec![], Ok(())),
        case("policy variable ${aws:username} in a resource", alice, default.clone(), vec![r#"{"Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"aws:username":"${aws:username}"}}}}"#], Ok(())),
    ];
    let mut ec = case(
        "encryption context condition satisfied",
        alice,
        default.clone(),
        vec![
            r#"{"Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:app":"billing"}}}}"#,
        ],
        Ok(()),
    );
    ec.context = BTreeMap::from([("app".to_string(), "billing".to_string())]);
    cases.push(ec);
    let mut ec = case(
        "encryption context condition not satisfied",
        alice,
        default.clone(),
        vec![
            r#"{"Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:app":"billing"}}}}"#,
        ],
        Err(Denial::NoIdentityPolicy),
    );
    ec.context = BTreeMap::from([("app".to_string(), "other".to_string())]);
    cases.push(ec);
    let mut sp = case(
        "a session policy narrows the role's permissions",
        session,
        default.clone(),
        vec![ALLOW_ALL_KMS],
        Err(Denial::NoSessionPolicy),
    );
    sp.session = Some(r#"{"Statement":{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}}"#);
    cases.push(sp);
    let mut sp = case(
        "a session policy that allows keeps the role's permissions",
        session,
        default.clone(),
        vec![ALLOW_ALL_KMS],
        Ok(()),
    );
    sp.session = Some(ALLOW_ENCRYPT);
    cases.push(sp);
    let mut put = case(
        "PutKeyPolicy is a separate action",
        alice,
        key_policy_allowing(alice, r#"["kms:Encrypt","kms:Decrypt"]"#),
        vec![],
        Err(Denial::NoResourcePolicy),
    );
    put.action = Action::PutKeyPolicy;
    cases.push(put);
    for c in &cases {
        assert_eq!(run(c), c.expect, "{}", c.rule);
    }
}

#[test]
fn actions_without_a_key_are_decided_by_identity_policies() {
    let alice = principal("arn:aws:iam::111122223333:user/alice");
    let root = principal("arn:aws:iam::111122223333:root");
    let ctx = RequestContext::new(&alice, 0);
    fn req<'a>(caller: &'a Principal, ctx: &'a dyn Context) -> Request<'a> {
        Request {
            caller,
            action: Action::CreateKey,
            resource: "*",
            resource_account: None,
            context: ctx,
        }
    }
    assert_eq!(
        decide(&req(&alice, &ctx), None, CallerPolicies::default()),
        Err(Denial::NoIdentityPolicy)
    );
    let allow = [identity(
        r#"{"Statement":{"Effect":"Allow","Action":"kms:CreateKey","Resource":"*"}}"#,
    )];
    let policies = CallerPolicies {
        identity: &allow,
        session: None,
    };
    assert_eq!(decide(&req(&alice, &ctx), None, policies), Ok(()));
    assert_eq!(
        decide(&req(&root, &ctx), None, CallerPolicies::default()),
        Ok(())
    );
}

#[test]
fn messages_are_aws_wording() {
    let m = Denial::NoResourcePolicy.message(
        "arn:aws:iam::111122223333:user/alice",
        Action::Encrypt,
        KEY_A,
    );
    assert_eq!(m, format!("User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Encrypt on resource: {KEY_A} because no resource-based policy allows the kms:Encrypt action"));
    assert!(Denial::ExplicitIdentity
        .message("p", Action::Decrypt, "r")
        .ends_with("with an explicit deny in an identity-based policy"));
    assert!(Denial::ExplicitResource
        .message("p", Action::Decrypt, "r")
        .ends_with("with an explicit deny in a resource-based policy"));
}

#[test]
fn a_statement_with_an_unknown_operator_is_refused_or_fails_closed() {
    let allow = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Condition":{"StringSorta":{"k":"v"}}}]}"#;
    assert!(
        crate::policy::PolicyDocument::parse(allow).is_err(),
        "refused when stored"
    );
    // A document stored before unknown operators were refused: an Allow
    // never applies, a Deny always does.
    let stored = |effect: &str| crate::policy::PolicyDocument {
        version: None,
        id: None,
        statements: vec![crate::policy::Statement {
            sid: None,
            effect: if effect == "Allow" {
                crate::policy::Effect::Allow
            } else {
                crate::policy::Effect::Deny
            },
            principal: Some(crate::policy::Principals::Any),
            not_principal: None,
            action: Some(vec!["kms:*".into()]),
            not_action: None,
            resource: None,
            not_resource: None,
            condition: BTreeMap::from([(
                "StringSorta".to_string(),
                BTreeMap::from([("k".to_string(), vec!["v".to_string()])]),
            )]),
        }],
    };
    let alice = principal("arn:aws:iam::111122223333:user/alice");
    let ctx = RequestContext::new(&alice, 0);
    let p = CompiledPolicy::compile(&stored("Allow"), PolicyKind::Resource);
    assert!(!p.evaluate(&alice, Action::Encrypt, KEY_A, &ctx).allows());
    let p = CompiledPolicy::compile(&stored("Deny"), PolicyKind::Resource);
    assert!(p.evaluate(&alice, Action::Encrypt, KEY_A, &ctx).deny);
}

#[test]
fn identity_policies_name_no_principal() {
    assert!(CompiledPolicy::parse(ALLOW_ENCRYPT, PolicyKind::Identity).is_ok());
    assert!(CompiledPolicy::parse(ALLOW_ENCRYPT, PolicyKind::Resource).is_err());
    let with_principal =
        r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}}"#;
    assert!(CompiledPolicy::parse(with_principal, PolicyKind::Identity).is_err());
}
