//! Known-answer tests from AWS's signing test suite (`testdata/sigv4`), each
//! also turned into must-fail cases, plus Trent's own date and scope rules.

use super::*;
use std::path::{Path, PathBuf};

struct Vector {
    name: String,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    secret: String,
    expected_creq: String,
    expected_sig: String,
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/sigv4")
}

/// Parse `header-signed-request.txt`: request line, headers (with folded
/// continuation lines), blank line, body.
fn parse_request(raw: &str) -> (String, String, String, Vec<(String, String)>, Vec<u8>) {
    let (head, body) = raw.split_once("\n\n").unwrap_or((raw, ""));
    let mut lines = head.lines();
    let request_line = lines.next().unwrap();
    let mut it = request_line.split(' ');
    let method = it.next().unwrap().to_string();
    let target = it.next().unwrap();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with(' ') || line.starts_with('\t') {
            let last = headers.last_mut().unwrap();
            last.1.push(' ');
            last.1.push_str(line.trim());
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.to_string(), v.to_string()));
        }
    }
    (
        method,
        path.to_string(),
        query.to_string(),
        headers,
        body.trim_end_matches('\n').as_bytes().to_vec(),
    )
}

fn vectors() -> Vec<Vector> {
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(testdata())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .collect();
    dirs.sort_by_key(|e| e.path());
    for d in dirs {
        let p = d.path();
        let ctx: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p.join("context.json")).unwrap())
                .unwrap();
        let raw = std::fs::read_to_string(p.join("header-signed-request.txt")).unwrap();
        let (method, path, query, headers, body) = parse_request(&raw);
        out.push(Vector {
            name: p.file_name().unwrap().to_string_lossy().into_owned(),
            method,
            path,
            query,
            headers,
            body,
            secret: ctx["credentials"]["secret_access_key"]
                .as_str()
                .unwrap()
                .to_string(),
            expected_creq: std::fs::read_to_string(p.join("header-canonical-request.txt")).unwrap(),
            expected_sig: std::fs::read_to_string(p.join("header-signature.txt"))
                .unwrap()
                .trim()
                .to_string(),
        });
    }
    assert!(
        out.len() >= 20,
        "expected the AWS vectors in {:?}",
        testdata()
    );
    out
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .unwrap()
}

fn check(v: &Vector) -> Result<(), AuthError> {
    let auth_value = header(&v.headers, "authorization").to_string();
    let amz_date = header(&v.headers, "x-amz-date").to_string();
    let auth = parse_authorization(&auth_value, true)?;
    let body_hash = sha256(&v.body);
    let req = Request {
        method: &v.method,
        path: &v.path,
        query: &v.query,
        headers: &v.headers,
        body_sha256: &body_hash,
    };
    let key = SigningKey::derive(&v.secret, auth.date, auth.region, auth.service);
    verify(&req, &auth, &amz_date, &key)
}

#[test]
fn aws_vectors_canonical_request_and_signature() {
    for v in vectors() {
        let auth_value = header(&v.headers, "authorization");
        let auth = parse_authorization(auth_value, true).unwrap();
        assert_eq!(hex::encode(auth.signature), v.expected_sig, "{}", v.name);
        let body_hash = sha256(&v.body);
        let req = Request {
            method: &v.method,
            path: &v.path,
            query: &v.query,
            headers: &v.headers,
            body_sha256: &body_hash,
        };
        assert_eq!(
            canonical_request(&req, auth.signed_headers),
            v.expected_creq,
            "canonical request of {}",
            v.name
        );
        check(&v).unwrap_or_else(|e| panic!("{}: {e}", v.name));
    }
}

#[test]
fn aws_vectors_fail_when_one_byte_changes() {
    for v in vectors() {
        // A changed body.
        let mut changed = Vector {
            body: v.body.clone(),
            ..clone(&v)
        };
        changed.body.push(b'x');
        assert_eq!(
            check(&changed),
            Err(AuthError::SignatureMismatch),
            "{}",
            v.name
        );
        // A changed value of each signed header other than the date.
        let auth_value = header(&v.headers, "authorization").to_string();
        let signed = parse_authorization(&auth_value, true)
            .unwrap()
            .signed_headers
            .to_string();
        for i in 0..v.headers.len() {
            let name = v.headers[i].0.to_ascii_lowercase();
            if !signed.split(';').any(|h| h == name) {
                continue;
            }
            let mut changed = clone(&v);
            changed.headers[i].1.push('x');
            let res = check(&changed);
            if name == "x-amz-date" {
                assert!(res.is_err(), "{}: {name}", v.name);
            } else {
                assert_eq!(res, Err(AuthError::SignatureMismatch), "{}: {name}", v.name);
            }
        }
        // A changed signature.
        let mut changed = clone(&v);
        for h in changed.headers.iter_mut() {
            if h.0.eq_ignore_ascii_case("authorization") {
                let last = h.1.pop().unwrap();
                h.1.push(if last == '0' { '1' } else { '0' });
            }
        }
        assert_eq!(
            check(&changed),
            Err(AuthError::SignatureMismatch),
            "{}",
            v.name
        );
        // The wrong secret.
        let changed = Vector {
            secret: format!("{}x", v.secret),
            ..clone(&v)
        };
        assert_eq!(
            check(&changed),
            Err(AuthError::SignatureMismatch),
            "{}",
            v.name
        );
        // A changed method.
        let changed = Vector {
            method: "PUT".into(),
            ..clone(&v)
        };
        assert_eq!(
            check(&changed),
            Err(AuthError::SignatureMismatch),
            "{}",
            v.name
        );
    }
}

fn clone(v: &Vector) -> Vector {
    Vector {
        name: v.name.clone(),
        method: v.method.clone(),
        path: v.path.clone(),
        query: v.query.clone(),
        headers: v.headers.clone(),
        body: v.body.clone(),
        secret: v.secret.clone(),
        expected_creq: v.expected_creq.clone(),
        expected_sig: v.expected_sig.clone(),
    }
}

#[test]
fn signer_round_trips_with_verifier() {
    let headers = vec![
        (
            "Content-Type".to_string(),
            "application/x-amz-json-1.1".to_string(),
        ),
        ("Host".to_string(), "127.0.0.1:8080".to_string()),
        ("X-Amz-Date".to_string(), "20261123T120000Z".to_string()),
        (
            "X-Amz-Target".to_string(),
            "TrentService.ListKeys".to_string(),
        ),
    ];
    let body_hash = sha256(b"{}");
    let req = Request {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body_sha256: &body_hash,
    };
    let creds = Credentials {
        access_key_id: "AKIDTEST",
        secret_access_key: "s3cret",
    };
    let value = sign(
        &req,
        &creds,
        "20261123T120000Z",
        "eu-west-1",
        "kms",
        "content-type;host;x-amz-date;x-amz-target",
    );
    let auth = parse_authorization(&value, true).unwrap();
    assert_eq!(auth.access_key_id, "AKIDTEST");
    assert_eq!(auth.region, "eu-west-1");
    auth.check_scope("kms").unwrap();
    let key = SigningKey::derive("s3cret", auth.date, auth.region, auth.service);
    verify(&req, &auth, "20261123T120000Z", &key).unwrap();
    let wrong = SigningKey::derive("other", auth.date, auth.region, auth.service);
    assert_eq!(
        verify(&req, &auth, "20261123T120000Z", &wrong),
        Err(AuthError::SignatureMismatch)
    );
}

fn auth_for(date: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKID/{date}/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature={}",
        "0".repeat(64)
    )
}

#[test]
fn clock_skew_is_five_minutes_each_way() {
    let now = parse_amz_date("20240820T230802Z").unwrap();
    let value = auth_for("20240820");
    let auth = parse_authorization(&value, true).unwrap();
    assert!(check_time(&auth, Some("20240820T230302Z"), now).is_ok());
    assert!(check_time(&auth, Some("20240820T231302Z"), now).is_ok());
    let err = check_time(&auth, Some("20240820T230143Z"), now).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Signature expired: 20240820T230143Z is now earlier than 20240820T230302Z (20240820T230802Z - 5 min.)"
    );
    let err = check_time(&auth, Some("20240820T231303Z"), now).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Signature not yet current: 20240820T231303Z is still later than 20240820T231302Z (20240820T230802Z + 5 min.)"
    );
}

#[test]
fn scope_date_must_match_request_date() {
    let now = parse_amz_date("20240820T230802Z").unwrap();
    let value = auth_for("20240819");
    let auth = parse_authorization(&value, true).unwrap();
    assert!(matches!(
        check_time(&auth, Some("20240820T230802Z"), now),
        Err(AuthError::ScopeDateMismatch { .. })
    ));
    assert_eq!(
        check_time(&auth, Some("not-a-date"), now),
        Err(AuthError::MissingDate)
    );
}

#[test]
fn malformed_headers_are_incomplete() {
    let e = parse_authorization("AWS4-HMAC-SHA256 Credential=a/b/c/d/e", true).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Authorization header requires 'Signature' parameter. Authorization header requires \
         'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 Credential=a/b/c/d/e"
    );
    let e = parse_authorization("AWS4-HMAC-SHA256 Credential", true).unwrap_err();
    assert!(e.to_string().contains("not a valid key=value pair"));
    let e = parse_authorization(
        "AWS4-HMAC-SHA256 Credential=a/b/c/d, SignedHeaders=host, Signature=00",
        true,
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("Credential must have exactly 5"));
    let e = parse_authorization("AWS4-HMAC-SHA512 Credential=x", true).unwrap_err();
    assert_eq!(
        e,
        AuthError::UnsupportedAlgorithm("AWS4-HMAC-SHA512".into())
    );
    let e = parse_authorization(
        "AWS4-HMAC-SHA256 Credential=a/20240101/us-east-1/kms/aws4_request, SignedHeaders=x-amz-date, Signature=00",
        true,
    )
    .unwrap_err();
    assert!(matches!(e, AuthError::UnsignedHeader(_)));
}

#[test]
fn scope_checks() {
    let v = "AWS4-HMAC-SHA256 Credential=a/20240101/Mars/s3/aws5, SignedHeaders=host, Signature=00";
    let auth = parse_authorization(v, true).unwrap_err();
    assert_eq!(auth, AuthError::SignatureMismatch);
    let v = format!(
        "AWS4-HMAC-SHA256 Credential=a/20240101/Mars/s3/aws5, SignedHeaders=host, Signature={}",
        "ab".repeat(32)
    );
    let auth = parse_authorization(&v, true).unwrap();
    assert_eq!(
        auth.check_scope("kms").unwrap_err().to_string(),
        "Credential should be scoped to a valid region, not 'Mars'. Credential should be scoped \
         to correct service: 'kms'. Credential should be scoped with a valid terminator: \
         'aws4_request', not 'aws5'."
    );
    assert!(auth::valid_region("us-gov-west-1"));
    assert!(!auth::valid_region("us-east"));
}

#[test]
fn amz_date_parser_agrees_with_time() {
    for d in [
        "20150830T123600Z",
        "20000229T235959Z",
        "19700101T000000Z",
        "20991231T000001Z",
        "20240301T000000Z",
    ] {
        assert_eq!(
            amz_date_unix(d),
            Some(parse_amz_date(d).unwrap().unix_timestamp()),
            "{d}"
        );
    }
    for bad in [
        "20150830T123600",
        "20150230T000000Z",
        "2015083OT123600Z",
        "20151330T000000Z",
        "20150830T246000Z",
        "",
    ] {
        assert_eq!(amz_date_unix(bad), None, "{bad}");
    }
}
