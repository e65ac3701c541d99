//! AWS STS on the same endpoint: the Query protocol (a form-encoded body
//! with `Action` and `Version`, XML answers), SigV4 with service `sts`.
//! `AssumeRole` and `GetCallerIdentity`; the decisions are the service's.

use crate::auth::Api;
use crate::errors::WireError;
use crate::http::{authenticated, AppState, ConnInfo, ResponseBody};
use http::{Request, Response};
use hyper::body::Incoming;
use trent_service::sts::{AssumeRoleInput, StsError};
use trent_sigv4::AuthError;
use zeroize::Zeroizing;

const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Whether a request is an STS Query request: `POST` with a form body.
pub(crate) fn is_sts(req: &Request<Incoming>) -> bool {
    req.method() == http::Method::POST
        && req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';').next().is_some_and(|t| {
                    t.trim()
                        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
                })
            })
}

/// Decode an `application/x-www-form-urlencoded` body: `+` is a space,
/// `%XX` a byte; a malformed escape is kept as it is. The last of repeated
/// names wins, as AWS's Query parser does.
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    fn decode(s: &[u8]) -> String {
        let mut out = Vec::with_capacity(s.len());
        let mut i = 0;
        while i < s.len() {
            match s[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < s.len() => {
                    let hex = |c: u8| (c as char).to_digit(16);
                    match (hex(s[i + 1]), hex(s[i + 2])) {
                        (Some(h), Some(l)) => {
                            out.push((h * 16 + l) as u8);
                            i += 2;
                        }
                        _ => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    body.split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|b| *b == b'=') {
            Some(i) => (decode(&p[..i]), decode(&p[i + 1..])),
            None => (decode(p), String::new()),
        })
        .collect()
}

fn param<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Escape text for XML.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn iso8601(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn xml_response(status: u16, rid: &str, body: Zeroizing<Vec<u8>>) -> Response<ResponseBody> {
    let mut r = crate::http::respond(status, rid, body);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/xml"),
    );
    r
}

/// An STS error: `(code, HTTP status, type, message)`.
fn error(
    status: u16,
    code: &str,
    sender: bool,
    message: &str,
    rid: &str,
) -> Response<ResponseBody> {
    let kind = if sender { "Sender" } else { "Receiver" };
    let body = format!(
        "<ErrorResponse xmlns=\"{XMLNS}\">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{code}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{rid}</RequestId>\n</ErrorResponse>\n",
        xml(message)
    );
    xml_response(status, rid, Zeroizing::new(body.into_bytes()))
}

/// The Query protocol's words for the failures both APIs share.
fn wire_error(e: &WireError, rid: &str) -> Response<ResponseBody> {
    match e {
        WireError::Auth(a) => {
            let msg = a.to_string();
            match a {
                AuthError::MissingToken => error(
                    403,
                    "MissingAuthenticationToken",
                    true,
                    "Request is missing Authentication Token",
                    rid,
                ),
                AuthError::Incomplete(_)
                | AuthError::UnsupportedAlgorithm(_)
                | AuthError::MissingDate => error(400, "IncompleteSignature", true, &msg, rid),
                AuthError::UnknownAccessKey => error(403, "InvalidClientTokenId", true, &msg, rid),
                AuthError::ExpiredToken => error(400, "ExpiredToken", true, &msg, rid),
                AuthError::MalformedCredential(_)
                | AuthError::ScopeDateMismatch { .. }
                | AuthError::Expired { .. }
                | AuthError::NotYetCurrent { .. }
                | AuthError::UnsignedHeader(_)
                | AuthError::SignatureMismatch => {
                    error(403, "SignatureDoesNotMatch", true, &msg, rid)
                }
            }
        }
        WireError::Throttled => error(400, "Throttling", true, "Rate exceeded", rid),
        WireError::TooLarge(limit) => error(
            400,
            "ValidationError",
            true,
            &format!("The request body exceeds the limit of {limit} bytes."),
            rid,
        ),
        other => {
            let (code, message) = crate::errors::to_wire(other);
            error(
                code.http_status(),
                "InternalFailure",
                false,
                message.as_deref().unwrap_or("An internal error occurred."),
                rid,
            )
        }
    }
}

/// Handle an STS request.
pub(crate) async fn handle(
    state: &AppState,
    conn: ConnInfo,
    req: Request<Incoming>,
    rid: &str,
) -> Response<ResponseBody> {
    let (parts, body) = req.into_parts();
    let (caller, body) = match authenticated(state, conn, &parts, body, rid, Api::Sts).await {
        Ok(ok) => ok,
        Err(e) => return wire_error(&e, rid),
    };
    let form = parse_form(&body);
    let action = param(&form, "Action").unwrap_or_default();
    match action {
        "GetCallerIdentity" => {
            let id = state.kms.get_caller_identity(&caller);
            let body = format!(
                "<GetCallerIdentityResponse xmlns=\"{XMLNS}\">\n  <GetCallerIdentityResult>\n    <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{}</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{rid}</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
                xml(&id.arn),
                xml(&id.user_id),
                xml(&id.account)
            );
            xml_response(200, rid, Zeroizing::new(body.into_bytes()))
        }
        "AssumeRole" => {
            let input = AssumeRoleInput {
                role_arn: param(&form, "RoleArn").map(str::to_string),
                role_session_name: param(&form, "RoleSessionName").map(str::to_string),
                duration_seconds: param(&form, "DurationSeconds").map(str::to_string),
                policy: param(&form, "Policy").map(str::to_string),
                external_id: param(&form, "ExternalId").map(str::to_string),
            };
            match state.kms.assume_role(&caller, input).await {
                Ok(out) => {
                    let packed = out
                        .packed_policy_size
                        .map(|n| format!("    <PackedPolicySize>{n}</PackedPolicySize>\n"))
                        .unwrap_or_default();
                    // The secret is written straight into a zeroizing buffer.
                    let mut body =
                        Zeroizing::new(Vec::with_capacity(2048 + out.session_token.len()));
                    body.extend_from_slice(
                        format!(
                            "<AssumeRoleResponse xmlns=\"{XMLNS}\">\n  <AssumeRoleResult>\n    <AssumedRoleUser>\n      <AssumedRoleId>{}</AssumedRoleId>\n      <Arn>{}</Arn>\n    </AssumedRoleUser>\n    <Credentials>\n      <AccessKeyId>{}</AccessKeyId>\n      <SecretAccessKey>",
                            xml(&out.assumed_role_id),
                            xml(&out.arn),
                            out.access_key_id
                        )
                        .as_bytes(),
                    );
                    body.extend_from_slice(out.secret.as_bytes());
                    body.extend_from_slice(
                        format!(
                            "</SecretAccessKey>\n      <SessionToken>{}</SessionToken>\n      <Expiration>{}</Expiration>\n    </Credentials>\n{packed}  </AssumeRoleResult>\n  <ResponseMetadata>\n    <RequestId>{rid}</RequestId>\n  </ResponseMetadata>\n</AssumeRoleResponse>\n",
                            out.session_token,
                            iso8601(out.expires_at)
                        )
                        .as_bytes(),
                    );
                    xml_response(200, rid, body)
                }
                Err(e) => {
                    let msg = e.to_string();
                    match e {
                        StsError::AccessDenied { .. } => {
                            error(403, "AccessDenied", true, &msg, rid)
                        }
                        StsError::Validation(_) => error(400, "ValidationError", true, &msg, rid),
                        StsError::MalformedPolicy(_) => {
                            error(400, "MalformedPolicyDocument", true, &msg, rid)
                        }
                        StsError::PackedPolicyTooLarge => {
                            error(400, "PackedPolicyTooLarge", true, &msg, rid)
                        }
                        StsError::Internal(cause) => {
                            tracing::error!(request_id = rid, error = ?cause, "internal error in STS");
                            error(
                                500,
                                "InternalFailure",
                                false,
                                "An internal error occurred.",
                                rid,
                            )
                        }
                    }
                }
            }
        }
        other => error(
            400,
            "InvalidAction",
            true,
            &format!("Could not find operation {other} for version 2011-06-15"),
            rid,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode() {
        let f = parse_form(b"Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr&RoleSessionName=a+b&Empty=&Flag&Bad=%zz%4");
        assert_eq!(param(&f, "Action"), Some("AssumeRole"));
        assert_eq!(param(&f, "RoleArn"), Some("arn:aws:iam::1:role/r"));
        assert_eq!(param(&f, "RoleSessionName"), Some("a b"));
        assert_eq!(param(&f, "Empty"), Some(""));
        assert_eq!(param(&f, "Flag"), Some(""));
        assert_eq!(param(&f, "Bad"), Some("%zz%4"));
        assert_eq!(parse_form(b""), Vec::new());
        assert_eq!(param(&parse_form(b"a=1&a=2"), "a"), Some("2"));
        assert_eq!(param(&parse_form(b"%"), "%"), Some(""));
    }

    #[test]
    fn xml_escapes() {
        assert_eq!(xml("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
    }
}
