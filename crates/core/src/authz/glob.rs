//! IAM wildcards: `*` matches any run of characters (also none), `?` any
//! one character. Linear in practice: one backtracking point, the last `*`.

/// Whether `text` matches `pattern`.
pub fn matches(pattern: &str, text: &str, ignore_case: bool) -> bool {
    // Policies and ARNs are ASCII in practice: compare bytes without
    // allocating (this runs for every statement of every request).
    if pattern.is_ascii() && text.is_ascii() {
        let eq = |a: &u8, b: &u8| a == b || (ignore_case && a.eq_ignore_ascii_case(b));
        return wildcard(pattern.as_bytes(), text.as_bytes(), b'*', b'?', eq);
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let eq = |a: &char, b: &char| a == b || (ignore_case && a.to_lowercase().eq(b.to_lowercase()));
    wildcard(&p, &t, '*', '?', eq)
}

fn wildcard<T: Copy + PartialEq>(
    p: &[T],
    t: &[T],
    star_sym: T,
    one_sym: T,
    eq: impl Fn(&T, &T) -> bool,
) -> bool {
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == one_sym || (p[pi] != star_sym && eq(&p[pi], &t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == star_sym {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == star_sym)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn wildcards() {
        assert!(matches("kms:*", "kms:Encrypt", false));
        assert!(matches("kms:Encrypt*", "kms:Encrypt", false));
        assert!(matches("kms:Re*", "kms:ReEncryptFrom", false));
        assert!(matches("kms:?ncrypt", "kms:Encrypt", false));
        assert!(!matches("kms:?ncrypt", "kms:Decrypt2", false));
        assert!(matches("*", "", false));
        assert!(matches("a*b*c", "aXXbYYc", false));
        assert!(!matches("a*b*c", "aXXbYY", false));
        assert!(matches("KMS:encrypt", "kms:Encrypt", true));
        assert!(!matches("KMS:encrypt", "kms:Encrypt", false));
        // Non-ASCII: `?` is one character, not one byte.
        assert!(matches("t?st", "tést", false));
        assert!(matches("TÉ*", "tést", true));
        assert!(!matches("t?t", "tést", false));
        assert!(matches(
            "arn:aws:kms:*:111122223333:key/*",
            "arn:aws:kms:us-east-1:111122223333:key/abc",
            false
        ));
        // Pathological patterns stay fast.
        let long = "a".repeat(5000);
        assert!(!matches(&format!("{}b", "*a".repeat(100)), &long, false));
    }
}
