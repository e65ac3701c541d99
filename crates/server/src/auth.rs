//! Who is calling: SigV4 on every request.
//!
//! Development mode checks everything that can be checked without the secret
//! (the header's form, the credential scope, the clock) and maps the caller to
//! an account; with configured credentials the signature is verified too.

use crate::config::Credential;
use http::HeaderMap;
use std::collections::HashMap;
use std::sync::RwLock;
use time::OffsetDateTime;
use trent_core::ids::{AccountId, Region};
use trent_service::Caller;
use trent_sigv4::{AuthError, Headers, SigningKey};

/// `HeaderMap` as SigV4 sees it.
struct HttpHeaders<'a>(&'a HeaderMap);

impl Headers for HttpHeaders<'_> {
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        for v in self.0.get_all(name) {
            f(v.as_bytes());
        }
    }
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
    /// Body.
    pub body: &'a [u8],
}

enum Mode {
    Development {
        account: AccountId,
    },
    Verified {
        credentials: HashMap<String, Credential>,
    },
}

/// Cached signing keys: (access key, date, region) → key.
type KeyCache = HashMap<(String, String, String), SigningKey>;
const KEY_CACHE_LIMIT: usize = 10_000;

/// The authenticator.
pub struct Authenticator {
    mode: Mode,
    keys: RwLock<KeyCache>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.mode {
            Mode::Development { .. } => "Authenticator(development)",
            Mode::Verified { .. } => "Authenticator(verified)",
        })
    }
}

impl Authenticator {
    /// Development mode: any access key; callers are `account` (or the access
    /// key id itself when it is 12 digits).
    pub fn development(account: AccountId) -> Self {
        Authenticator {
            mode: Mode::Development { account },
            keys: RwLock::new(HashMap::new()),
        }
    }

    /// Verified mode: only these credentials, signatures checked.
    pub fn verified(credentials: Vec<Credential>) -> Self {
        Authenticator {
            mode: Mode::Verified {
                credentials: credentials
                    .into_iter()
                    .map(|c| (c.access_key_id.clone(), c))
                    .collect(),
            },
            keys: RwLock::new(HashMap::new()),
        }
    }

    /// Whether signatures are verified.
    pub fn verifies(&self) -> bool {
        matches!(self.mode, Mode::Verified { .. })
    }

    fn signing_key(&self, cred: &Credential, date: &str, region: &str) -> SigningKey {
        let k = (
            cred.access_key_id.clone(),
            date.to_string(),
            region.to_string(),
        );
        if let Some(key) = self.keys.read().unwrap_or_else(|e| e.into_inner()).get(&k) {
            return key.clone();
        }
        let key = SigningKey::derive(&cred.secret, date, region, "kms");
        let mut g = self.keys.write().unwrap_or_else(|e| e.into_inner());
        if g.len() >= KEY_CACHE_LIMIT {
            g.clear();
        }
        g.insert(k, key.clone());
        key
    }

    /// Authenticate a request at `now` (the real time, never a test clock).
    pub fn authenticate(
        &self,
        r: &SignedRequest<'_>,
        now: OffsetDateTime,
        request_id: String,
    ) -> Result<Caller, AuthError> {
        let SignedRequest {
            method,
            path,
            query,
            headers,
            body,
        } = *r;
        let Some(value) = headers.get(http::header::AUTHORIZATION) else {
            return Err(AuthError::MissingToken);
        };
        let value = value.to_str().map_err(|_| {
            AuthError::Incomplete("Authorization header is not valid ASCII.".into())
        })?;
        let amz_date = headers.get("x-amz-date").and_then(|v| v.to_str().ok());
        let auth = trent_sigv4::parse_authorization(value, amz_date.is_some())?;
        let date_text = amz_date.unwrap_or_default();
        if trent_sigv4::parse_amz_date(date_text).is_none() {
            return Err(AuthError::Incomplete(format!(
                "Date must be in ISO-8601 'basic format'. Got '{date_text}'. See http://en.wikipedia.org/wiki/ISO_8601"
            )));
        }
        trent_sigv4::check_time(&auth, amz_date, now)?;
        auth.check_scope("kms")?;
        let region = Region::parse(auth.region).ok_or_else(|| {
            AuthError::MalformedCredential(format!(
                "Credential should be scoped to a valid region, not '{}'.",
                auth.region
            ))
        })?;
        match &self.mode {
            Mode::Development { account } => {
                let account =
                    AccountId::parse(auth.access_key_id).unwrap_or_else(|| account.clone());
                Ok(Caller {
                    region,
                    principal: account.root_arn(),
                    account,
                    access_key_id: auth.access_key_id.to_string(),
                    request_id,
                })
            }
            Mode::Verified { credentials } => {
                let cred = credentials
                    .get(auth.access_key_id)
                    .ok_or(AuthError::UnknownAccessKey)?;
                let key = self.signing_key(cred, auth.date, auth.region);
                let body_sha256 = trent_sigv4::sha256(body);
                let req = trent_sigv4::Request {
                    method,
                    path,
                    query,
                    headers: &HttpHeaders(headers),
                    body_sha256: &body_sha256,
                };
                trent_sigv4::verify(&req, &auth, date_text, &key)?;
                Ok(Caller {
                    region,
                    account: cred.account.clone(),
                    principal: cred.principal.clone(),
                    access_key_id: cred.access_key_id.clone(),
                    request_id,
                })
            }
        }
    }
}
