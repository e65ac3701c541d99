//! STS: AssumeRole and GetCallerIdentity, and the session credentials that
//! AssumeRole hands out.
//!
//! A session token carries its own claims (access key id, secret, role,
//! session name, expiry, session policy), sealed with a session-token key
//! that is kept in the store wrapped under the root key. So a token needs no
//! server state to be checked, survives restarts, works on every node that
//! shares the store, and cannot be forged or altered without that key (the
//! seal authenticates every byte). The role's policies are read from the
//! configuration at each use, so a policy change applies to live sessions.

use crate::identity::{unique_id, Identity};
use crate::{Caller, Kms};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use trent_core::authz::{decide, Action, CallerPolicies, CompiledPolicy, PolicyKind, Request};
use trent_core::ids::AccountId;
use trent_core::{KeyHandle, Millis, SecretBytes};
use zeroize::Zeroizing;

/// The store setting holding the session-token key, wrapped.
pub const SESSION_KEY_META: &str = "sts-session-key";
const SESSION_KEY_AAD: &[u8] = b"trent/v1/sts-session-key";
const TOKEN_CONTEXT: &[u8] = b"trent/v1/sts-session";
const TOKEN_VERSION: u8 = 1;
/// Header of a sealed token: version and a 32-byte nonce.
const TOKEN_HEADER: usize = 33;

/// The shortest session.
pub const MIN_SESSION_SECONDS: u32 = 900;
/// A role session assuming another role gets at most an hour, as in AWS.
const CHAINED_MAX_SECONDS: u32 = 3600;
/// Largest session policy accepted, in characters.
const MAX_SESSION_POLICY: usize = 2048;

/// What a session token says.
#[derive(Serialize, Deserialize)]
pub struct SessionClaims {
    /// The session's access key id (`ASIA...`).
    pub access_key_id: String,
    /// The session's secret access key.
    pub secret: Zeroizing<String>,
    /// The role.
    pub role_arn: String,
    /// `RoleSessionName`.
    pub session_name: String,
    /// The role's account.
    pub account: AccountId,
    /// When the credentials stop working.
    pub expires_at: Millis,
    /// When they were issued (0 in tokens issued before this was kept).
    #[serde(default)]
    pub issued_at: Millis,
    /// The session policy's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

impl std::fmt::Debug for SessionClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionClaims")
            .field("access_key_id", &self.access_key_id)
            .field("role_arn", &self.role_arn)
            .field("session_name", &self.session_name)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Why a session token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Not a token this deployment made, or altered.
    #[error("The security token included in the request is invalid.")]
    Invalid,
    /// Past its expiry.
    #[error("The security token included in the request is expired")]
    Expired,
}

/// Why STS refused a request. `Display` is AWS's message.
#[derive(Debug, thiserror::Error)]
pub enum StsError {
    /// `AccessDenied` (403).
    #[error("User: {principal} is not authorized to perform: sts:AssumeRole on resource: {role}")]
    AccessDenied {
        /// The caller.
        principal: String,
        /// The role.
        role: String,
    },
    /// `ValidationError` (400).
    #[error("{0}")]
    Validation(String),
    /// `MalformedPolicyDocument` (400).
    #[error("{0}")]
    MalformedPolicy(String),
    /// `PackedPolicyTooLarge` (400).
    #[error("Packed policy consumes more than 100% of the allotted space")]
    PackedPolicyTooLarge,
    /// Something failed inside Trent.
    #[error("internal error")]
    Internal(#[from] crate::ServiceError),
}

/// AssumeRole's parameters.
#[derive(Debug, Default)]
pub struct AssumeRoleInput {
    /// `RoleArn`.
    pub role_arn: Option<String>,
    /// `RoleSessionName`.
    pub role_session_name: Option<String>,
    /// `DurationSeconds`.
    pub duration_seconds: Option<String>,
    /// `Policy`.
    pub policy: Option<String>,
    /// `ExternalId`.
    pub external_id: Option<String>,
}

/// AssumeRole's answer.
#[derive(Debug)]
pub struct AssumeRoleOutput {
    /// `AccessKeyId`.
    pub access_key_id: String,
    /// `SecretAccessKey`.
    pub secret: Zeroizing<String>,
    /// `SessionToken`.
    pub session_token: String,
    /// `Expiration`.
    pub expires_at: Millis,
    /// `AssumedRoleId`.
    pub assumed_role_id: String,
    /// `Arn` of the session.
    pub arn: String,
    /// `PackedPolicySize`, when a session policy was given.
    pub packed_policy_size: Option<u32>,
}

/// GetCallerIdentity's answer.
#[derive(Debug)]
pub struct CallerIdentity {
    /// `UserId`.
    pub user_id: String,
    /// `Account`.
    pub account: String,
    /// `Arn`.
    pub arn: String,
}

fn validation(msg: impl Into<String>) -> StsError {
    StsError::Validation(msg.into())
}

fn session_name_ok(s: &str) -> bool {
    (2..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
}

impl Kms {
    /// The session-token key: unwrapped from the store, or made and stored
    /// on a new store (at start-up, after the root key was checked).
    pub(crate) async fn session_key(
        store: &dyn trent_store::KeyStore,
        provider: &dyn trent_core::CryptoProvider,
        root: &dyn trent_core::RootKey,
    ) -> Result<Arc<dyn KeyHandle>, crate::StartupError> {
        use crate::StartupError as E;
        let wrapped = match store.get_meta(SESSION_KEY_META).await.map_err(E::Store)? {
            Some(w) => w,
            None => {
                let fresh = provider.generate_symmetric().map_err(E::Crypto)?;
                let wrapped = root.wrap(&fresh, SESSION_KEY_AAD).map_err(E::Crypto)?;
                store
                    .put_meta_if_absent(SESSION_KEY_META, &wrapped)
                    .await
                    .map_err(E::Store)?;
                store
                    .get_meta(SESSION_KEY_META)
                    .await
                    .map_err(E::Store)?
                    .unwrap_or(wrapped)
            }
        };
        let material = root
            .unwrap(&wrapped, SESSION_KEY_AAD)
            .map_err(|_| E::WrongRootKey)?;
        provider
            .load_key(trent_proto::KeySpec::SymmetricDefault, &material)
            .map_err(E::Crypto)
    }

    fn seal_claims(&self, claims: &SessionClaims) -> Result<String, crate::ServiceError> {
        use base64::Engine;
        let json = Zeroizing::new(serde_json::to_vec(claims).map_err(|_| {
            crate::ServiceError::Internal(crate::InternalError::Crypto(
                trent_core::CryptoError::InvalidKey,
            ))
        })?);
        let mut header = [0u8; TOKEN_HEADER];
        header[0] = TOKEN_VERSION;
        self.provider.fill_random(&mut header[1..])?;
        let mut out = header.to_vec();
        self.session_key
            .seal(&header, TOKEN_CONTEXT, &json, &mut out)?;
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out))
    }

    /// Open a session token: its claims, if it is authentic and current
    /// (by the service clock).
    pub fn open_session(&self, token: &str) -> Result<SessionClaims, SessionError> {
        use base64::Engine;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.trim())
            .map_err(|_| SessionError::Invalid)?;
        if raw.len() <= TOKEN_HEADER || raw[0] != TOKEN_VERSION {
            return Err(SessionError::Invalid);
        }
        let json: SecretBytes = self
            .session_key
            .open(&raw[..TOKEN_HEADER], TOKEN_CONTEXT, &raw[TOKEN_HEADER..])
            .map_err(|_| SessionError::Invalid)?;
        let claims: SessionClaims =
            serde_json::from_slice(json.expose()).map_err(|_| SessionError::Invalid)?;
        if claims.expires_at <= self.clock.now() {
            return Err(SessionError::Expired);
        }
        Ok(claims)
    }

    /// The identity a session acts as: the role's current policies and
    /// tags, and the session policy.
    pub fn session_identity(&self, claims: &SessionClaims) -> Identity {
        let policy = claims.policy.as_deref().and_then(|p| {
            CompiledPolicy::parse(p, PolicyKind::Identity)
                .ok()
                .map(Arc::new)
        });
        let mut identity = self.directory.session(
            &claims.role_arn,
            &claims.session_name,
            &claims.account,
            policy,
        );
        if claims.policy.is_some() && identity.session_policy.is_none() {
            // A session policy that no longer parses allows nothing.
            identity.session_policy = Some(Arc::new(CompiledPolicy::compile(
                &trent_core::policy::PolicyDocument {
                    version: None,
                    id: None,
                    statements: Vec::new(),
                },
                PolicyKind::Identity,
            )));
        }
        identity.session_issued_at = (claims.issued_at > 0).then_some(claims.issued_at);
        identity
    }

    /// GetCallerIdentity.
    pub fn get_caller_identity(&self, caller: &Caller) -> CallerIdentity {
        let p = &caller.identity.principal;
        CallerIdentity {
            user_id: p.user_id.to_string(),
            account: p.account.to_string(),
            arn: p.arn.to_string(),
        }
    }

    /// AssumeRole: the role's trust policy (and, for callers of the role's
    /// account named through the account, their identity policies) must
    /// allow `sts:AssumeRole`.
    pub async fn assume_role(
        &self,
        caller: &Caller,
        r: AssumeRoleInput,
    ) -> Result<AssumeRoleOutput, StsError> {
        let role_arn = r
            .role_arn
            .ok_or_else(|| validation("1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null"))?;
        let session = r.role_session_name.ok_or_else(|| {
            validation("1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null")
        })?;
        if !session_name_ok(&session) {
            return Err(validation(format!(
                "1 validation error detected: Value '{session}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
            )));
        }
        if role_arn.len() < 20 || role_arn.len() > 2048 {
            return Err(validation(format!(
                "1 validation error detected: Value '{role_arn}' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20"
            )));
        }
        let duration: u32 = match &r.duration_seconds {
            None => 3600,
            Some(d) => d.trim().parse().map_err(|_| {
                validation(format!(
                    "Value '{d}' for parameter DurationSeconds is invalid."
                ))
            })?,
        };
        if duration < MIN_SESSION_SECONDS {
            return Err(validation(format!(
                "1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"
            )));
        }
        let denied = || StsError::AccessDenied {
            principal: caller.principal.to_string(),
            role: role_arn.clone(),
        };
        // An unknown role gets the same answer as a refused one.
        let role = self.directory.role(&role_arn).ok_or_else(denied)?.clone();
        let role_account = role_arn
            .strip_prefix("arn:aws:iam::")
            .and_then(|r| r.split(':').next())
            .and_then(AccountId::parse)
            .ok_or_else(denied)?;
        let chained =
            caller.identity.principal.kind == trent_core::authz::PrincipalKind::AssumedRole;
        let max = if chained {
            CHAINED_MAX_SECONDS
        } else {
            role.max_session_seconds
        };
        if duration > max {
            return Err(validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            ));
        }
        let session_policy = match &r.policy {
            None => None,
            Some(p) if p.chars().count() > MAX_SESSION_POLICY => {
                return Err(StsError::PackedPolicyTooLarge)
            }
            Some(p) => Some(
                CompiledPolicy::parse(p, PolicyKind::Identity)
                    .map_err(|e| StsError::MalformedPolicy(e.to_string()))?,
            ),
        };
        let mut ctx =
            trent_core::authz::RequestContext::new(&caller.identity.principal, self.clock.now());
        ctx.source_ip = caller.source_ip;
        ctx.secure_transport = caller.secure_transport;
        ctx.sts_external_id = r.external_id.as_deref();
        ctx.sts_role_session_name = Some(&session);
        decide(
            &Request {
                caller: &caller.identity.principal,
                action: Action::AssumeRole,
                resource: &role_arn,
                resource_account: Some(&role_account),
                context: &ctx,
            },
            Some(&role.trust_policy),
            CallerPolicies {
                identity: &caller.identity.policies,
                session: caller.identity.session_policy.as_deref(),
            },
        )
        .map_err(|_| denied())?;
        let access_key_id = format!("ASIA{}", self.base32(16)?);
        let secret = Zeroizing::new(self.secret_key()?);
        let issued_at = self.clock.now();
        let expires_at = issued_at + i64::from(duration) * 1000;
        let claims = SessionClaims {
            access_key_id: access_key_id.clone(),
            secret: secret.clone(),
            role_arn: role_arn.clone(),
            session_name: session.clone(),
            account: role_account.clone(),
            expires_at,
            issued_at,
            policy: r.policy.clone(),
        };
        let session_token = self.seal_claims(&claims)?;
        let arn = trent_core::authz::assumed_role_arn(&role_arn, &session)
            .unwrap_or_else(|| format!("arn:aws:sts::{role_account}:assumed-role/{session}"));
        Ok(AssumeRoleOutput {
            access_key_id,
            secret,
            session_token,
            expires_at,
            assumed_role_id: format!("{}:{session}", unique_id("AROA", &role_arn)),
            arn,
            packed_policy_size: session_policy.map(|_| {
                let len = r.policy.as_deref().map_or(0, str::len);
                u32::try_from(len * 100 / MAX_SESSION_POLICY).unwrap_or(100)
            }),
        })
    }

    fn base32(&self, n: usize) -> Result<String, crate::ServiceError> {
        const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut raw = vec![0u8; n];
        self.provider.fill_random(&mut raw)?;
        Ok(raw
            .iter()
            .map(|b| ALPHABET[usize::from(b & 31)] as char)
            .collect())
    }

    /// A 40-character secret access key, as AWS's look.
    fn secret_key(&self) -> Result<String, crate::ServiceError> {
        use base64::Engine;
        let raw = Zeroizing::new(self.random::<30>()?);
        Ok(base64::engine::general_purpose::STANDARD.encode(&raw[..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names() {
        assert!(session_name_ok("ci-build_7@x.y=z,w+v"));
        assert!(!session_name_ok("a"));
        assert!(!session_name_ok("has space"));
        assert!(!session_name_ok(&"x".repeat(65)));
    }
}
