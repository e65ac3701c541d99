//! Constraint checks of the service model, reported in AWS's words:
//! `2 validation errors detected: Value '0' at 'limit' failed to satisfy
//! constraint: Member must have value greater than or equal to 1; ...`.

use crate::enums::{ModelEnum, WireEnum};

/// One or more constraint violations, already in AWS's message format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<String>);

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.len();
        let noun = if n == 1 { "error" } else { "errors" };
        write!(f, "{n} validation {noun} detected: {}", self.0.join("; "))
    }
}

/// Implemented by every request type.
pub trait Validate {
    /// Check the service model's constraints on the request.
    fn validate(&self, v: &mut Validator);

    /// Run [`Validate::validate`] and collect the result.
    fn check(&self) -> Result<(), ValidationErrors> {
        let mut v = Validator::default();
        self.validate(&mut v);
        v.finish()
    }
}

/// Collects constraint violations.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<String>,
}

fn quote(value: &str) -> String {
    format!("'{value}'")
}

impl Validator {
    fn push(&mut self, value: Option<String>, member: &str, constraint: &str) {
        let msg = match value {
            Some(v) => format!(
                "Value {v} at '{member}' failed to satisfy constraint: Member must {constraint}"
            ),
            None => format!(
                "Value at '{member}' failed to satisfy constraint: Member must {constraint}"
            ),
        };
        self.errors.push(msg);
    }

    /// A required member that is absent.
    pub fn required<T>(&mut self, member: &str, value: &Option<T>) {
        if value.is_none() {
            self.errors.push(format!(
                "Value null at '{member}' failed to satisfy constraint: Member must not be null"
            ));
        }
    }

    /// String length, counted in UTF-16 code units as AWS counts it.
    pub fn length(&mut self, member: &str, value: Option<&str>, min: usize, max: usize) {
        let Some(s) = value else { return };
        let n = s.encode_utf16().count();
        if n < min {
            self.push(
                Some(quote(s)),
                member,
                &format!("have length greater than or equal to {min}"),
            );
        }
        if n > max {
            self.push(
                Some(quote(s)),
                member,
                &format!("have length less than or equal to {max}"),
            );
        }
    }

    /// Length of a sensitive string: the value is never echoed.
    pub fn secret_length(&mut self, member: &str, value: Option<&str>, min: usize, max: usize) {
        let Some(s) = value else { return };
        let n = s.encode_utf16().count();
        if n < min {
            self.push(
                None,
                member,
                &format!("have length greater than or equal to {min}"),
            );
        }
        if n > max {
            self.push(
                None,
                member,
                &format!("have length less than or equal to {max}"),
            );
        }
    }

    /// Blob length in bytes. Blobs are never echoed back.
    pub fn blob_length(&mut self, member: &str, value: Option<&[u8]>, min: usize, max: usize) {
        let Some(b) = value else { return };
        if b.len() < min {
            self.push(
                None,
                member,
                &format!("have length greater than or equal to {min}"),
            );
        }
        if b.len() > max {
            self.push(
                None,
                member,
                &format!("have length less than or equal to {max}"),
            );
        }
    }

    /// Integer range.
    pub fn range(&mut self, member: &str, value: Option<i64>, min: i64, max: i64) {
        let Some(n) = value else { return };
        if n < min {
            self.push(
                Some(quote(&n.to_string())),
                member,
                &format!("have value greater than or equal to {min}"),
            );
        }
        if n > max {
            self.push(
                Some(quote(&n.to_string())),
                member,
                &format!("have value less than or equal to {max}"),
            );
        }
    }

    /// A regular-expression constraint, checked by `matches`; `pattern` is the
    /// model's pattern text, quoted in the message.
    pub fn pattern(
        &mut self,
        member: &str,
        value: Option<&str>,
        matches: fn(&str) -> bool,
        pattern: &str,
    ) {
        let Some(s) = value else { return };
        if !matches(s) {
            self.push(
                Some(quote(s)),
                member,
                &format!("satisfy regular expression pattern: {pattern}"),
            );
        }
    }

    /// A model enum.
    pub fn one_of<T: ModelEnum>(&mut self, member: &str, value: Option<&WireEnum<T>>) {
        if let Some(WireEnum::Unknown(s)) = value {
            self.push(
                Some(quote(s)),
                member,
                &format!("satisfy enum value set: {}", T::value_set()),
            );
        }
    }

    /// A list of model enums: AWS reports a bad member at the list, quoting
    /// the whole list.
    pub fn list_one_of<T: ModelEnum>(&mut self, member: &str, value: Option<&[WireEnum<T>]>) {
        let Some(list) = value else { return };
        if list.iter().any(|v| matches!(v, WireEnum::Unknown(_))) {
            let items: Vec<&str> = list
                .iter()
                .map(|v| match v {
                    WireEnum::Known(k) => k.as_str(),
                    WireEnum::Unknown(s) => s.as_str(),
                })
                .collect();
            self.push(
                Some(format!("'[{}]'", items.join(", "))),
                member,
                &format!(
                    "satisfy constraint: [Member must satisfy enum value set: {}]",
                    T::value_set()
                ),
            );
        }
    }

    /// List length.
    pub fn list_length<T>(&mut self, member: &str, value: Option<&[T]>, min: usize, max: usize) {
        let Some(l) = value else { return };
        if l.len() < min {
            self.push(
                None,
                member,
                &format!("have length greater than or equal to {min}"),
            );
        }
        if l.len() > max {
            self.push(
                None,
                member,
                &format!("have length less than or equal to {max}"),
            );
        }
    }

    /// `GrantTokens`: at most 10, each 1 to 8192 characters.
    pub fn grant_tokens(&mut self, value: Option<&[String]>) {
        self.list_length("grantTokens", value, 0, 10);
        for (i, t) in value.unwrap_or_default().iter().enumerate() {
            self.secret_length(&format!("grantTokens.{}.member", i + 1), Some(t), 1, 8192);
        }
    }

    /// The result.
    pub fn finish(self) -> Result<(), ValidationErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(self.errors))
        }
    }
}

/// Patterns of the service model, as predicates.
pub mod patterns {
    /// `^[a-zA-Z0-9:/_-]+$` (AliasNameType).
    pub const ALIAS_NAME: &str = "^[a-zA-Z0-9:/_-]+$";
    /// AliasNameType.
    pub fn alias_name(s: &str) -> bool {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'/' | b'_' | b'-'))
    }

    /// PolicyType.
    pub const POLICY: &str = "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+";
    /// PolicyType.
    pub fn policy(s: &str) -> bool {
        !s.is_empty()
            && s.chars()
                .all(|c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FF}'))
    }

    /// PolicyNameType.
    pub const POLICY_NAME: &str = "[\\w]+";
    /// PolicyNameType.
    pub fn policy_name(s: &str) -> bool {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    }

    /// RegionType.
    pub const REGION: &str = "^([a-z]+-){2,3}\\d+$";
    /// RegionType: two or three lowercase words and a number, dash-separated.
    pub fn region(s: &str) -> bool {
        let parts: Vec<&str> = s.split('-').collect();
        let n = parts.len();
        (3..=4).contains(&n)
            && parts[..n - 1]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
            && !parts[n - 1].is_empty()
            && parts[n - 1].bytes().all(|b| b.is_ascii_digit())
    }

    /// MarkerType.
    pub const MARKER: &str = "[\\u0020-\\u00FF]*";
    /// MarkerType.
    pub fn marker(s: &str) -> bool {
        s.chars().all(|c| ('\u{20}'..='\u{FF}').contains(&c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enums::KeyUsageType;

    #[test]
    fn messages_match_aws_format() {
        let mut v = Validator::default();
        v.range("limit", Some(0), 1, 1000);
        v.required::<String>("keyId", &None);
        let err = v.finish().unwrap_err();
        assert_eq!(
            err.to_string(),
            "2 validation errors detected: Value '0' at 'limit' failed to satisfy constraint: \
             Member must have value greater than or equal to 1; Value null at 'keyId' failed to \
             satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn secrets_are_not_echoed() {
        let mut v = Validator::default();
        v.blob_length("plaintext", Some(&[0u8; 4097]), 1, 4096);
        assert_eq!(
            v.finish().unwrap_err().to_string(),
            "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: \
             Member must have length less than or equal to 4096"
        );
    }

    #[test]
    fn enum_set_is_listed() {
        let mut v = Validator::default();
        v.one_of::<KeyUsageType>("keyUsage", Some(&WireEnum::Unknown("X".into())));
        assert!(v.finish().unwrap_err().to_string().ends_with(
            "Member must satisfy enum value set: [SIGN_VERIFY, ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, KEY_AGREEMENT, ENCAPSULATE_DECAPSULATE]"
        ));
    }

    #[test]
    fn patterns() {
        assert!(patterns::alias_name("alias/my-key_1:x"));
        assert!(!patterns::alias_name("alias/my key"));
        assert!(patterns::policy("{\"a\": \"é\"}\n"));
        assert!(!patterns::policy("{\"a\": \"\u{4e16}\"}"));
        assert!(patterns::policy_name("default"));
        assert!(!patterns::policy_name("de-fault"));
    }
}
