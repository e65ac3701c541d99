//! AWS STS on the same endpoint: the Query protocol (a form-encoded body
//! with `Action` and `Version`, XML answers), SigV4 with service `sts`.
//! `AssumeRole` and `GetCallerIdentity`; the decisions are the service's.

use crate::audit::RequestAudit;
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

fn xml_response(status: u16, rid: &str, body: Zeroizing<Vec<u8>>) -> Response<ResponseBody> {
    let mut r = crate::http::respond(status, rid, body);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/xml"),
    );
    r
}

/// An STS error: HTTP status, code, whether the sender is at fault, and
/// the message. Kept as data until answered, so the audit event records the
/// same code and message the client gets.
#[derive(Debug)]
pub(crate) struct Failure {
    status: u16,
    code: &'static str,
    sender: bool,
    message: String,
}

fn error(status: u16, code: &'static str, sender: bool, message: &str) -> Failure {
    Failure {
        status,
        code,
        sender,
        message: message.to_string(),
    }
}

impl Failure {
    pub(crate) fn response(&self, rid: &str) -> Response<ResponseBody> {
        let kind = if self.sender { "Sender" } else { "Receiver" };
        let body = format!(
            "<ErrorResponse xmlns=\"{XMLNS}\">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{rid}</RequestId>\n</ErrorResponse>\n",
            self.code,
            xml(&self.message)
        );
        xml_response(self.status, rid, Zeroizing::new(body.into_bytes()))
    }
}

/// The Query protocol's words for the failures both APIs share.
pub(crate) fn wire_error(e: &WireError) -> Failure {
    match e {
        WireError::Auth(a) => {
            let msg = a.to_string();
            match a {
                AuthError::MissingToken => error(
                    403,
                    "MissingAuthenticationToken",
                    true,
                    "Request is missing Authentication Token",
                ),
                AuthError::Incomplete(_)
                | AuthError::UnsupportedAlgorithm(_)
                | AuthError::MissingDate => error(400, "IncompleteSignature", true, &msg),
                AuthError::UnknownAccessKey => error(403, "InvalidClientTokenId", true, &msg),
                AuthError::ExpiredToken => error(400, "ExpiredToken", true, &msg),
                AuthError::MalformedCredential(_)
                | AuthError::ScopeDateMismatch { .. }
                | AuthError::Expired { .. }
                | AuthError::NotYetCurrent { .. }
                | AuthError::UnsignedHeader(_)
                | AuthError::SignatureMismatch => error(403, "SignatureDoesNotMatch", true, &msg),
            }
        }
        WireError::Throttled => error(400, "Throttling", true, "Rate exceeded"),
        WireError::TooLarge(limit) => error(
            400,
            "ValidationError",
            true,
            &format!("The request body exceeds the limit of {limit} bytes."),
        ),
        other => {
            let (code, message) = crate::errors::to_wire(other);
            error(
                code.http_status(),
                "InternalFailure",
                false,
                message.as_deref().unwrap_or("An internal error occurred."),
            )
        }
    }
}

/// Handle an STS request: answer it, and record it before the answer.
pub(crate) async fn handle(
    state: &AppState,
    conn: ConnInfo,
    req: Request<Incoming>,
    rid: &str,
) -> Response<ResponseBody> {
    let mut audit = RequestAudit::begin(
        state.event_ids.next(),
        state.kms.clock().now(),
        conn,
        req.headers(),
        rid,
        "sts.amazonaws.com",
        state.kms.trail().enabled(),
    );
    let response = match handle_inner(state, conn, req, rid, &mut audit).await {
        Ok(r) => r,
        Err(f) => {
            audit.failed(f.code, Some(&f.message));
            f.response(rid)
        }
    };
    match audit.commit(&state.kms).await {
        Ok(()) => response,
        Err(e) => {
            tracing::error!(request_id = rid, error = %e, "audit: the request's event could not be written; refusing the request");
            error(500, "InternalFailure", false, "An internal error occurred.").response(rid)
        }
    }
}

fn opt(v: Option<&str>) -> Option<String> {
    v.map(str::to_string)
}

/// AssumeRole's `requestParameters`, as CloudTrail records them.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct AssumeRoleParams<'a> {
    role_arn: Option<&'a str>,
    role_session_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_seconds: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<&'a str>,
}

async fn handle_inner(
    state: &AppState,
    conn: ConnInfo,
    req: Request<Incoming>,
    rid: &str,
    audit: &mut RequestAudit,
) -> Result<Response<ResponseBody>, Failure> {
    let (parts, body) = req.into_parts();
    let (mut caller, body) = authenticated(state, conn, &parts, body, rid, Api::Sts)
        .await
        .map_err(|e| wire_error(&e))?;
    audit.caller(&mut caller);
    let form = parse_form(&body);
    let action = param(&form, "Action").unwrap_or_default();
    match action {
        "GetCallerIdentity" => {
            audit.operation("GetCallerIdentity");
            let id = state.kms.get_caller_identity(&caller);
            let body = format!(
                "<GetCallerIdentityResponse xmlns=\"{XMLNS}\">\n  <GetCallerIdentityResult>\n    <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{}</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{rid}</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
                xml(&id.arn),
                xml(&id.user_id),
                xml(&id.account)
            );
            Ok(xml_response(200, rid, Zeroizing::new(body.into_bytes())))
        }
        "AssumeRole" => {
            audit.operation("AssumeRole");
            audit.params(&AssumeRoleParams {
                role_arn: param(&form, "RoleArn"),
                role_session_name: param(&form, "RoleSessionName"),
                duration_seconds: param(&form, "DurationSeconds"),
                external_id: param(&form, "ExternalId"),
                policy: param(&form, "Policy"),
            });
            let input = AssumeRoleInput {
                role_arn: opt(param(&form, "RoleArn")),
                role_session_name: opt(param(&form, "RoleSessionName")),
                duration_seconds: opt(param(&form, "DurationSeconds")),
                policy: opt(param(&form, "Policy")),
                external_id: opt(param(&form, "ExternalId")),
            };
            match state.kms.assume_role(&caller, input).await {
                Ok(out) => {
                    // The credentials' id and expiry, never the secret or
                    // the session token.
                    audit.response(
                        serde_json::value::to_raw_value(&serde_json::json!({
                            "credentials": {
                                "accessKeyId": out.access_key_id,
                                "expiration": trent_core::clock::iso8601_seconds(out.expires_at),
                            },
                            "assumedRoleUser": {
                                "assumedRoleId": out.assumed_role_id,
                                "arn": out.arn,
                            },
                        }))
                        .ok(),
                    );
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
                            trent_core::clock::iso8601_seconds(out.expires_at)
                        )
                        .as_bytes(),
                    );
                    Ok(xml_response(200, rid, body))
                }
                Err(e) => {
                    let msg = e.to_string();
                    Err(match e {
                        StsError::AccessDenied { .. } => error(403, "AccessDenied", true, &msg),
                        StsError::Validation(_) => error(400, "ValidationError", true, &msg),
                        StsError::MalformedPolicy(_) => {
                            error(400, "MalformedPolicyDocument", true, &msg)
                        }
                        StsError::PackedPolicyTooLarge => {
                            error(400, "PackedPolicyTooLarge", true, &msg)
                        }
                        StsError::Internal(cause) => {
                            tracing::error!(request_id = rid, error = ?cause, "internal error in STS");
                            error(500, "InternalFailure", false, "An internal error occurred.")
                        }
                    })
                }
            }
        }
        other => {
            audit.unknown_operation(Some(other));
            Err(error(
                400,
                "InvalidAction",
                true,
                &format!("Could not find operation {other} for version 2011-06-15"),
            ))
        }
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
