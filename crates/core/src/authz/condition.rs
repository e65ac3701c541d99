//! `Condition` blocks: operators, the `ForAnyValue:` / `ForAllValues:`
//! qualifiers, `...IfExists`, `Null`, and policy variables, evaluated
//! against a [`Context`] that knows the request's condition keys.
//!
//! The rules are IAM's: several values of one key match if any matches; a
//! negated operator (`StringNotEquals`, ...) is the negation of its positive
//! counterpart; a key the request does not have makes a positive operator
//! false and a negated one true, unless `IfExists` makes it true either way;
//! `ForAllValues` over no values is true, `ForAnyValue` false. A key Trent
//! cannot know is absent: it never silently allows.

use super::glob;
use std::borrow::Cow;
use std::net::IpAddr;

/// The value of a condition key in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    /// A single value.
    One(Cow<'a, str>),
    /// A multivalued key (`kms:EncryptionContextKeys`, `aws:TagKeys`, ...).
    Many(Vec<Cow<'a, str>>),
}

/// The request as conditions see it.
pub trait Context {
    /// The value of a condition key (name in lowercase), if the request has it.
    fn value(&self, key: &str) -> Option<Value<'_>>;
}

/// The family of an operator: how two values compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(std::cmp::Ordering, bool),
    Date(std::cmp::Ordering, bool),
    Bool,
    Binary,
    Ip,
    Arn,
}

/// A compiled condition operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// Compare with `family`, negated if `negated`.
    Compare {
        /// How values compare.
        family: FamilyCode,
        /// `...Not...` operators.
        negated: bool,
    },
    /// `Null`: `true` means the key must be absent.
    Null,
}

/// A comparison (public so compiled statements can be inspected in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyCode(Family);

/// Set qualifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    /// None.
    None,
    /// `ForAnyValue:`.
    AnyValue,
    /// `ForAllValues:`.
    AllValues,
}

/// One compiled condition: an operator, a key, its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The operator.
    pub operator: Operator,
    /// The set qualifier.
    pub set: SetQualifier,
    /// `...IfExists`.
    pub if_exists: bool,
    /// The key, in lowercase.
    pub key: String,
    /// The values to compare with.
    pub values: Vec<String>,
}

/// Why an operator could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Policy contains an unsupported condition operator: '{0}'")]
pub struct UnknownOperator(pub String);

/// Parse an operator name such as `ForAnyValue:StringLikeIfExists`.
pub fn parse_operator(name: &str) -> Result<(Operator, SetQualifier, bool), UnknownOperator> {
    let unknown = || UnknownOperator(name.to_string());
    let (set, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
        (SetQualifier::AnyValue, r)
    } else if let Some(r) = name.strip_prefix("ForAllValues:") {
        (SetQualifier::AllValues, r)
    } else {
        (SetQualifier::None, name)
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(b) => (b, true),
        None => (rest, false),
    };
    use std::cmp::Ordering::{Equal, Greater, Less};
    let (family, negated) = match base {
        "Null" if !if_exists => return Ok((Operator::Null, set, false)),
        "StringEquals" => (Family::StringEquals, false),
        "StringNotEquals" => (Family::StringEquals, true),
        "StringEqualsIgnoreCase" => (Family::StringEqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (Family::StringEqualsIgnoreCase, true),
        "StringLike" => (Family::StringLike, false),
        "StringNotLike" => (Family::StringLike, true),
        "NumericEquals" => (Family::Numeric(Equal, false), false),
        "NumericNotEquals" => (Family::Numeric(Equal, false), true),
        "NumericLessThan" => (Family::Numeric(Less, false), false),
        "NumericLessThanEquals" => (Family::Numeric(Less, true), false),
        "NumericGreaterThan" => (Family::Numeric(Greater, false), false),
        "NumericGreaterThanEquals" => (Family::Numeric(Greater, true), false),
        "DateEquals" => (Family::Date(Equal, false), false),
        "DateNotEquals" => (Family::Date(Equal, false), true),
        "DateLessThan" => (Family::Date(Less, false), false),
        "DateLessThanEquals" => (Family::Date(Less, true), false),
        "DateGreaterThan" => (Family::Date(Greater, false), false),
        "DateGreaterThanEquals" => (Family::Date(Greater, true), false),
        "Bool" => (Family::Bool, false),
        "BinaryEquals" => (Family::Binary, false),
        "IpAddress" => (Family::Ip, false),
        "NotIpAddress" => (Family::Ip, true),
        "ArnEquals" | "ArnLike" => (Family::Arn, false),
        "ArnNotEquals" | "ArnNotLike" => (Family::Arn, true),
        _ => return Err(unknown()),
    };
    Ok((
        Operator::Compare {
            family: FamilyCode(family),
            negated,
        },
        set,
        if_exists,
    ))
}

/// Replace `${key}` policy variables in `value` from the context; `None`
/// when a variable has no value (then the value matches nothing).
pub fn substitute<'v>(value: &'v str, ctx: &dyn Context) -> Option<Cow<'v, str>> {
    if !value.contains("${") {
        return Some(Cow::Borrowed(value));
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}')?;
        let name = after[..end].trim();
        match name {
            "*" => out.push('*'),
            "?" => out.push('?'),
            "$" => out.push('$'),
            _ => match ctx.value(&name.to_ascii_lowercase())? {
                Value::One(v) => out.push_str(&v),
                Value::Many(_) => return None,
            },
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(Cow::Owned(out))
}

fn parse_number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A date as IAM accepts it: ISO 8601 (`2026-01-01T00:00:00Z`, with or
/// without fractional seconds or offset, or a bare date) or epoch seconds.
pub fn parse_date(s: &str) -> Option<i128> {
    use time::format_description::well_known::Rfc3339;
    let s = s.trim();
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.unix_timestamp_nanos() / 1_000_000);
    }
    if let Ok(d) = time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")) {
        return Some(i128::from(d.midnight().assume_utc().unix_timestamp()) * 1000);
    }
    parse_number(s).map(|secs| (secs * 1000.0) as i128)
}

fn ip_in(cidr: &str, ip: IpAddr) -> bool {
    let (addr, bits) = match cidr.split_once('/') {
        Some((a, b)) => (a, b.parse::<u32>().ok()),
        None => (cidr, None),
    };
    let Ok(net) = addr.trim().parse::<IpAddr>() else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        (IpAddr::V4(n), IpAddr::V6(i)) => i
            .to_ipv4_mapped()
            .is_some_and(|i| ip_in(&format!("{n}/{}", bits.unwrap_or(32)), IpAddr::V4(i))),
        (IpAddr::V6(_), IpAddr::V4(_)) => false,
    }
}

fn arn_like(pattern: &str, arn: &str) -> bool {
    let (mut p, mut a) = (pattern.splitn(6, ':'), arn.splitn(6, ':'));
    let mut fields = 0;
    loop {
        match (p.next(), a.next()) {
            (Some(pf), Some(af)) => {
                if !glob::matches(pf, af, false) {
                    return false;
                }
                fields += 1;
            }
            (None, None) => return fields == 6,
            _ => return false,
        }
    }
}

/// Whether one request value matches one policy value, positively.
fn compare(family: Family, policy: &str, request: &str) -> bool {
    match family {
        Family::StringEquals => policy == request,
        Family::StringEqualsIgnoreCase => policy.to_lowercase() == request.to_lowercase(),
        Family::StringLike => glob::matches(policy, request, false),
        Family::Numeric(ord, or_equal) => match (parse_number(request), parse_number(policy)) {
            (Some(r), Some(p)) => r
                .partial_cmp(&p)
                .is_some_and(|o| o == ord || (or_equal && o.is_eq())),
            _ => false,
        },
        Family::Date(ord, or_equal) => match (parse_date(request), parse_date(policy)) {
            (Some(r), Some(p)) => {
                let o = r.cmp(&p);
                o == ord || (or_equal && o.is_eq())
            }
            _ => false,
        },
        Family::Bool => policy.eq_ignore_ascii_case(request),
        Family::Binary => policy == request,
        Family::Ip => request.parse::<IpAddr>().is_ok_and(|ip| ip_in(policy, ip)),
        Family::Arn => arn_like(policy, request),
    }
}

fn substitutes(family: Family) -> bool {
    matches!(
        family,
        Family::StringEquals | Family::StringEqualsIgnoreCase | Family::StringLike | Family::Arn
    )
}

impl Condition {
    /// Whether the request satisfies this condition.
    pub fn holds(&self, ctx: &dyn Context) -> bool {
        let value = ctx.value(&self.key);
        let (family, negated) = match self.operator {
            Operator::Null => {
                let absent = match &value {
                    None => true,
                    Some(Value::Many(v)) => v.is_empty(),
                    Some(Value::One(_)) => false,
                };
                return self
                    .values
                    .iter()
                    .any(|v| v.eq_ignore_ascii_case(if absent { "true" } else { "false" }));
            }
            Operator::Compare { family, negated } => (family.0, negated),
        };
        let one;
        let requested: &[Cow<'_, str>] = match &value {
            None => {
                return match self.set {
                    _ if self.if_exists => true,
                    SetQualifier::AllValues => true,
                    SetQualifier::AnyValue => false,
                    SetQualifier::None => negated,
                }
            }
            Some(Value::One(v)) => {
                one = [Cow::Borrowed(&**v)];
                &one
            }
            Some(Value::Many(v)) => v,
        };
        if requested.is_empty() {
            return match self.set {
                SetQualifier::AllValues => true,
                _ => self.if_exists || negated,
            };
        }
        // Policy values are substituted per comparison, without collecting:
        // most have no variable, and this runs on every request.
        let variables = substitutes(family);
        let matches_any = |r: &str| {
            self.values.iter().any(|v| {
                if variables {
                    substitute(v, ctx).is_some_and(|p| compare(family, &p, r))
                } else {
                    compare(family, v, r)
                }
            })
        };
        match self.set {
            SetQualifier::AllValues => requested.iter().all(|r| matches_any(r) != negated),
            SetQualifier::AnyValue | SetQualifier::None => {
                if negated && self.set == SetQualifier::None {
                    // `StringNotEquals` on a key: none of its values may match.
                    !requested.iter().any(|r| matches_any(r))
                } else {
                    requested.iter().any(|r| matches_any(r) != negated)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Ctx(HashMap<&'static str, Value<'static>>);

    impl Context for Ctx {
        fn value(&self, key: &str) -> Option<Value<'_>> {
            self.0.get(key).cloned()
        }
    }

    fn one(s: &'static str) -> Value<'static> {
        Value::One(Cow::Borrowed(s))
    }

    fn many(v: &[&'static str]) -> Value<'static> {
        Value::Many(v.iter().map(|s| Cow::Borrowed(*s)).collect())
    }

    fn cond(op: &str, key: &str, values: &[&str]) -> Condition {
        let (operator, set, if_exists) = parse_operator(op).unwrap();
        Condition {
            operator,
            set,
            if_exists,
            key: key.to_ascii_lowercase(),
            values: values.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn ctx() -> Ctx {
        Ctx(HashMap::from([
            ("kms:encryptioncontext:app", one("billing")),
            ("kms:encryptioncontextkeys", many(&["app", "env"])),
            ("aws:sourceip", one("10.1.2.3")),
            ("aws:currenttime", one("2026-12-02T12:00:00Z")),
            ("aws:securetransport", one("true")),
            ("kms:rotationperiodindays", one("365")),
            (
                "aws:principalarn",
                one("arn:aws:iam::111122223333:role/deployer"),
            ),
            ("aws:username", one("alice")),
            ("kms:grantoperations", many(&["Encrypt", "Decrypt"])),
        ]))
    }

    /// Each case names the IAM rule it checks.
    #[test]
    fn iam_condition_rules() {
        let c = ctx();
        let cases: &[(&str, &str, &[&str], bool, &str)] = &[
            (
                "StringEquals",
                "kms:EncryptionContext:app",
                &["billing"],
                true,
                "exact match",
            ),
            (
                "StringEquals",
                "kms:EncryptionContext:app",
                &["Billing"],
                false,
                "case-sensitive values",
            ),
            (
                "StringEquals",
                "kms:EncryptionContext:app",
                &["x", "billing"],
                true,
                "values are OR-ed",
            ),
            (
                "StringEqualsIgnoreCase",
                "kms:EncryptionContext:app",
                &["BILLING"],
                true,
                "ignore case",
            ),
            (
                "StringNotEquals",
                "kms:EncryptionContext:app",
                &["x"],
                true,
                "negation",
            ),
            (
                "StringNotEquals",
                "kms:EncryptionContext:app",
                &["x", "billing"],
                false,
                "negation of any",
            ),
            (
                "StringLike",
                "kms:EncryptionContext:app",
                &["bill*"],
                true,
                "wildcard",
            ),
            (
                "StringNotLike",
                "kms:EncryptionContext:app",
                &["bill?ng"],
                false,
                "negated wildcard",
            ),
            (
                "StringEquals",
                "kms:EncryptionContext:missing",
                &["x"],
                false,
                "absent key: positive operator false",
            ),
            (
                "StringNotEquals",
                "kms:EncryptionContext:missing",
                &["x"],
                true,
                "absent key: negated operator true",
            ),
            (
                "StringEqualsIfExists",
                "kms:EncryptionContext:missing",
                &["x"],
                true,
                "IfExists: absent key passes",
            ),
            (
                "StringEqualsIfExists",
                "kms:EncryptionContext:app",
                &["x"],
                false,
                "IfExists: present key is compared",
            ),
            (
                "Null",
                "kms:EncryptionContext:missing",
                &["true"],
                true,
                "Null true: absent",
            ),
            (
                "Null",
                "kms:EncryptionContext:app",
                &["true"],
                false,
                "Null true: present",
            ),
            (
                "Null",
                "kms:EncryptionContext:app",
                &["false"],
                true,
                "Null false: present",
            ),
            (
                "ForAnyValue:StringEquals",
                "kms:EncryptionContextKeys",
                &["env"],
                true,
                "any value",
            ),
            (
                "ForAnyValue:StringEquals",
                "kms:EncryptionContextKeys",
                &["zzz"],
                false,
                "no value",
            ),
            (
                "ForAllValues:StringEquals",
                "kms:EncryptionContextKeys",
                &["app", "env", "x"],
                true,
                "all values in the set",
            ),
            (
                "ForAllValues:StringEquals",
                "kms:EncryptionContextKeys",
                &["app"],
                false,
                "one value outside the set",
            ),
            (
                "ForAllValues:StringEquals",
                "kms:EncryptionContext:missing",
                &["a"],
                true,
                "ForAllValues over nothing is true",
            ),
            (
                "ForAnyValue:StringEquals",
                "kms:EncryptionContext:missing",
                &["a"],
                false,
                "ForAnyValue over nothing is false",
            ),
            (
                "ForAllValues:StringNotEquals",
                "kms:GrantOperations",
                &["CreateGrant"],
                true,
                "no value is CreateGrant",
            ),
            (
                "ForAnyValue:StringNotEquals",
                "kms:GrantOperations",
                &["Encrypt"],
                true,
                "some value is not Encrypt",
            ),
            ("IpAddress", "aws:SourceIp", &["10.0.0.0/8"], true, "CIDR"),
            (
                "IpAddress",
                "aws:SourceIp",
                &["192.168.0.0/16", "10.1.2.3/32"],
                true,
                "host CIDR",
            ),
            (
                "NotIpAddress",
                "aws:SourceIp",
                &["10.0.0.0/8"],
                false,
                "negated CIDR",
            ),
            (
                "DateGreaterThan",
                "aws:CurrentTime",
                &["2026-01-01T00:00:00Z"],
                true,
                "date after",
            ),
            (
                "DateLessThan",
                "aws:CurrentTime",
                &["2026-01-01"],
                false,
                "date before (bare date)",
            ),
            (
                "DateLessThanEquals",
                "aws:CurrentTime",
                &["1796212800"],
                true,
                "epoch seconds",
            ),
            ("Bool", "aws:SecureTransport", &["false"], false, "Bool"),
            (
                "Bool",
                "aws:SecureTransport",
                &["TRUE"],
                true,
                "Bool is case-insensitive",
            ),
            (
                "NumericLessThanEquals",
                "kms:RotationPeriodInDays",
                &["365"],
                true,
                "numeric <=",
            ),
            (
                "NumericGreaterThan",
                "kms:RotationPeriodInDays",
                &["365"],
                false,
                "numeric >",
            ),
            (
                "NumericEquals",
                "kms:RotationPeriodInDays",
                &["abc"],
                false,
                "unparsable number never matches",
            ),
            (
                "ArnLike",
                "aws:PrincipalArn",
                &["arn:aws:iam::*:role/deploy*"],
                true,
                "ARN wildcard per field",
            ),
            (
                "ArnEquals",
                "aws:PrincipalArn",
                &["arn:aws:iam::111122223333:role/*"],
                true,
                "ArnEquals = ArnLike",
            ),
            (
                "ArnNotLike",
                "aws:PrincipalArn",
                &["arn:aws:iam::*:user/*"],
                true,
                "negated ARN",
            ),
            (
                "StringEquals",
                "kms:EncryptionContext:app",
                &["${aws:username}"],
                false,
                "variable substituted",
            ),
            (
                "StringLike",
                "aws:PrincipalArn",
                &["*/${aws:username}"],
                false,
                "variable in a pattern",
            ),
            (
                "StringEquals",
                "kms:EncryptionContext:app",
                &["${aws:nosuchkey}"],
                false,
                "missing variable matches nothing",
            ),
        ];
        for (op, key, values, expected, rule) in cases {
            assert_eq!(
                cond(op, key, values).holds(&c),
                *expected,
                "{rule}: {op} {key} {values:?}"
            );
        }
        let mut c2 = ctx();
        c2.0.insert("aws:username", one("billing"));
        assert!(cond(
            "StringEquals",
            "kms:EncryptionContext:app",
            &["${aws:username}"]
        )
        .holds(&c2));
        assert!(!cond("StringEquals", "kms:EncryptionContext:app", &["bill${*}"]).holds(&c2));
        assert!(cond("StringLike", "kms:EncryptionContext:app", &["bill${*}"]).holds(&c2));
    }

    #[test]
    fn operators() {
        assert!(parse_operator("ForAnyValue:StringLikeIfExists").is_ok());
        assert!(parse_operator("NumericLessThan").is_ok());
        assert_eq!(
            parse_operator("StringSorta"),
            Err(UnknownOperator("StringSorta".into()))
        );
        assert!(parse_operator("NullIfExists").is_err());
    }

    #[test]
    fn ip_ranges() {
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert!(ip_in("2001:db8::/32", v6));
        assert!(!ip_in("2001:db9::/32", v6));
        assert!(!ip_in("10.0.0.0/8", v6));
        assert!(ip_in("0.0.0.0/0", "8.8.8.8".parse().unwrap()));
        assert!(ip_in("127.0.0.1/32", "::ffff:127.0.0.1".parse().unwrap()));
    }
}
