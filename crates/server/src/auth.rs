//! Who is calling: SigV4 on every request.
//!
//! Development mode checks everything that can be checked without the secret
//! (the header's form, the credential scope, the clock) and maps the caller to
//! an account; with configured credentials the signature is verified too.

use crate::config::Credential;
use foldhash::HashMap;
use http::HeaderMap;
use std::sync::{Arc, Mutex, RwLock};
use time::OffsetDateTime;
use trent_core::ids::{AccountId, Region};
use trent_service::{Caller, Directory, Identity, Kms};
use trent_sigv4::{AuthError, Headers, SigningKey};

/// `HeaderMap` as SigV4 sees it. HTTP/2 carries the host in the
/// `:authority` pseudo-header, which hyper puts in the URI rather than in a
/// `host` header; a client signs it as `host`, so it is read from there.
struct HttpHeaders<'a> {
    headers: &'a HeaderMap,
    authority: Option<&'a str>,
}

impl Headers for HttpHeaders<'_> {
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        let mut any = false;
        for v in self.headers.get_all(name) {
            any = true;
            f(v.as_bytes());
        }
        if !any && name == "host" {
            if let Some(a) = self.authority {
                f(a.as_bytes());
            }
        }
    }
}

/// A configured credential with the signing key of its most recent (date,
/// region): deriving a key costs four HMACs, and a client signs with the same
/// date and region all day.
struct Entry {
    access_key_id: Arc<str>,
    secret: zeroize::Zeroizing<String>,
    identity: Arc<Identity>,
    recent: RwLock<Option<Arc<Recent>>>,
}

struct Recent {
    date: String,
    region: Region,
    service: &'static str,
    key: SigningKey,
}

/// A role session's credential, opened from its token once and kept while
/// the same token keeps coming.
struct SessionEntry {
    entry: Entry,
    token: String,
    expires_at: i64,
}

/// Sessions kept at most; past it the cache starts over (tokens are opened
/// again as they come).
const MAX_CACHED_SESSIONS: usize = 10_000;

/// Which API a request speaks: which signing service its scope must name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// AWS KMS (AWS JSON 1.1, `X-Amz-Target`).
    Kms,
    /// AWS STS (the Query protocol).
    Sts,
    /// AWS CloudTrail's LookupEvents (AWS JSON 1.1).
    CloudTrail,
}

impl Api {
    fn service(self) -> &'static str {
        match self {
            Api::Kms => "kms",
            Api::Sts => "sts",
            Api::CloudTrail => "cloudtrail",
        }
    }
}

enum Mode {
    Development {
        account: AccountId,
    },
    Verified {
        credentials: HashMap<String, Entry>,
        sessions: Mutex<HashMap<String, Arc<SessionEntry>>>,
    },
}

/// The parts of an HTTP request that authentication looks at.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// Method.
    pub method: &'a str,
    /// Path as received.
    pub path: &'a str,
    /// Query string (without `?`).
    pub query: &'a str,
    /// Headers.
    pub headers: &'a HeaderMap,
    /// The URI's authority (HTTP/2's `:authority`), if any.
    pub authority: Option<&'a str>,
    /// Body.
    pub body: &'a [u8],
}

/// The authenticator.
pub struct Authenticator {
    mode: Mode,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.mode {
            Mode::Development { .. } => "Authenticator(development)",
            Mode::Verified { .. } => "Authenticator(verified)",
        })
    }
}

fn parse_region(region: &str) -> Result<Region, AuthError> {
    Region::parse(region).ok_or_else(|| {
        AuthError::MalformedCredential(format!(
            "Credential should be scoped to a valid region, not '{region}'."
        ))
    })
}

impl Authenticator {
    /// Development mode: any access key; callers are `account` (or the access
    /// key id itself when it is 12 digits).
    pub fn development(account: AccountId) -> Self {
        Authenticator {
            mode: Mode::Development { account },
        }
    }

    /// Verified mode: only these credentials, signatures checked; each
    /// credential acts as its principal, with the policies `directory`
    /// gives it.
    pub fn verified(credentials: Vec<Credential>, directory: &Directory) -> Self {
        let credentials = credentials
            .into_iter()
            .map(|c| {
                let entry = Entry {
                    access_key_id: Arc::from(c.access_key_id.as_str()),
                    secret: c.secret,
                    identity: Arc::new(directory.identity(&c.principal, &c.account)),
                    recent: RwLock::new(None),
                };
                (c.access_key_id, entry)
            })
            .collect();
        Authenticator {
            mode: Mode::Verified {
                credentials,
                sessions: Mutex::default(),
            },
        }
    }

    /// Whether signatures are verified.
    pub fn verifies(&self) -> bool {
        matches!(self.mode, Mode::Verified { .. })
    }

    fn recent(
        entry: &Entry,
        date: &str,
        region: &str,
        service: &'static str,
    ) -> Result<Arc<Recent>, AuthError> {
        if let Some(r) = entry
            .recent
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            if r.date == date && r.region.as_str() == region && r.service == service {
                return Ok(r.clone());
            }
        }
        let r = Arc::new(Recent {
            date: date.to_string(),
            region: parse_region(region)?,
            service,
            key: SigningKey::derive(&entry.secret, date, region, service),
        });
        *entry.recent.write().unwrap_or_else(|e| e.into_inner()) = Some(r.clone());
        Ok(r)
    }

    /// Check everything the headers alone can tell, before the body is
    /// read: the `Authorization` header's form, the date and its skew, the
    /// scope, that `X-Amz-Target` is signed (KMS) and the access key is
    /// known (with credentials; a role session's key is known by its
    /// token). `now` is the real time, never a test clock. A request refused
    /// here is answered without its body being buffered.
    pub fn pre_authenticate<'a>(
        &'a self,
        headers: &'a HeaderMap,
        now: OffsetDateTime,
        api: Api,
        kms: &Kms,
    ) -> Result<Pending<'a>, AuthError> {
        let Some(value) = headers.get(http::header::AUTHORIZATION) else {
            return Err(AuthError::MissingToken);
        };
        let value = value.to_str().map_err(|_| {
            AuthError::Incomplete("Authorization header is not valid ASCII.".into())
        })?;
        let amz_date = headers.get("x-amz-date").and_then(|v| v.to_str().ok());
        let auth = trent_sigv4::parse_authorization(value, amz_date.is_some())?;
        let date_text = amz_date.unwrap_or_default();
        if trent_sigv4::amz_date_unix(date_text).is_none() {
            return Err(AuthError::Incomplete(format!(
                "Date must be in ISO-8601 'basic format'. Got '{date_text}'. See http://en.wikipedia.org/wiki/ISO_8601"
            )));
        }
        trent_sigv4::check_time(&auth, amz_date, now)?;
        auth.check_scope(api.service())?;
        let who = match &self.mode {
            Mode::Development { account } => {
                let account =
                    AccountId::parse(auth.access_key_id).unwrap_or_else(|| account.clone());
                Who::Development {
                    region: parse_region(auth.region)?,
                    account,
                }
            }
            Mode::Verified {
                credentials,
                sessions,
            } => {
                // The operation is chosen by X-Amz-Target and the body alone
                // does not name it (`{"KeyId": ...}` is a valid DescribeKey,
                // DisableKey or ScheduleKeyDeletion): a captured request
                // whose signer left the header out could be replayed as
                // another operation. Every AWS SDK signs it. (STS names its
                // action in the signed body.)
                if api != Api::Sts && !auth.signs("x-amz-target") {
                    return Err(AuthError::UnsignedHeader(
                        "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.".into(),
                    ));
                }
                let token = headers
                    .get("x-amz-security-token")
                    .and_then(|v| v.to_str().ok());
                match (credentials.get(auth.access_key_id), token) {
                    (Some(entry), None) => {
                        let recent = Self::recent(entry, auth.date, auth.region, api.service())?;
                        Who::Credential { entry, recent }
                    }
                    (_, Some(token)) => {
                        let session = Self::session(sessions, kms, auth.access_key_id, token)?;
                        let recent =
                            Self::recent(&session.entry, auth.date, auth.region, api.service())?;
                        Who::Session { session, recent }
                    }
                    (None, None) => return Err(AuthError::UnknownAccessKey),
                }
            }
        };
        Ok(Pending {
            auth,
            amz_date: date_text,
            who,
        })
    }

    /// The session a token names, from the cache or opened now. The token
    /// must be authentic, current (by the service clock) and made for this
    /// access key id.
    fn session(
        sessions: &Mutex<HashMap<String, Arc<SessionEntry>>>,
        kms: &Kms,
        access_key_id: &str,
        token: &str,
    ) -> Result<Arc<SessionEntry>, AuthError> {
        let now = kms.clock().now();
        if let Some(s) = sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(access_key_id)
        {
            if s.token == token {
                if s.expires_at <= now {
                    return Err(AuthError::ExpiredToken);
                }
                return Ok(s.clone());
            }
        }
        let claims = kms.open_session(token).map_err(|e| match e {
            trent_service::sts::SessionError::Expired => AuthError::ExpiredToken,
            trent_service::sts::SessionError::Invalid => AuthError::UnknownAccessKey,
        })?;
        if claims.access_key_id != access_key_id {
            return Err(AuthError::UnknownAccessKey);
        }
        let identity = Arc::new(kms.session_identity(&claims));
        let session = Arc::new(SessionEntry {
            entry: Entry {
                access_key_id: Arc::from(access_key_id),
                secret: zeroize::Zeroizing::new(claims.secret.to_string()),
                identity,
                recent: RwLock::new(None),
            },
            token: token.to_string(),
            expires_at: claims.expires_at,
        });
        let mut cache = sessions.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_CACHED_SESSIONS {
            cache.retain(|_, s| s.expires_at > now);
            if cache.len() >= MAX_CACHED_SESSIONS {
                cache.clear();
            }
        }
        cache.insert(access_key_id.to_string(), session.clone());
        Ok(session)
    }
}

/// The caller as far as the headers tell; [`Pending::finish`] checks the
/// signature over the body.
pub struct Pending<'a> {
    auth: trent_sigv4::Authorization<'a>,
    amz_date: &'a str,
    who: Who<'a>,
}

enum Who<'a> {
    Development {
        region: Region,
        account: AccountId,
    },
    Credential {
        entry: &'a Entry,
        recent: Arc<Recent>,
    },
    Session {
        session: Arc<SessionEntry>,
        recent: Arc<Recent>,
    },
}

impl std::fmt::Debug for Pending<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("access_key_id", &self.auth.access_key_id)
            .finish_non_exhaustive()
    }
}

impl Pending<'_> {
    /// The access key id the request is signed with (not a secret: it
    /// counts the key's share of the body budget).
    pub fn access_key_id(&self) -> &str {
        self.auth.access_key_id
    }

    /// Verify the signature (with credentials) and name the caller.
    pub fn finish(self, r: &SignedRequest<'_>, request_id: String) -> Result<Caller, AuthError> {
        match self.who {
            Who::Development { region, account } => Ok(Caller::new(
                region,
                Arc::new(Identity::root(&account)),
                self.auth.access_key_id.into(),
                request_id,
            )),
            Who::Credential { entry, recent } => {
                verify(&self.auth, self.amz_date, r, entry, &recent, request_id)
            }
            Who::Session { session, recent } => verify(
                &self.auth,
                self.amz_date,
                r,
                &session.entry,
                &recent,
                request_id,
            ),
        }
    }
}

fn verify(
    auth: &trent_sigv4::Authorization<'_>,
    amz_date: &str,
    r: &SignedRequest<'_>,
    entry: &Entry,
    recent: &Recent,
    request_id: String,
) -> Result<Caller, AuthError> {
    {
        let body_sha256 = trent_sigv4::sha256(r.body);
        let req = trent_sigv4::Request {
            method: r.method,
            path: r.path,
            query: r.query,
            headers: &HttpHeaders {
                headers: r.headers,
                authority: r.authority,
            },
            body_sha256: &body_sha256,
        };
        trent_sigv4::verify(&req, auth, amz_date, &recent.key)?;
        Ok(Caller::new(
            recent.region.clone(),
            entry.identity.clone(),
            entry.access_key_id.clone(),
            request_id,
        ))
    }
}
