//! `trent-fuzzing`: the bodies of the fuzz targets, one per parser the
//! network reaches, so that the coverage-guided fuzzer (`fuzz/`, cargo-fuzz)
//! and the test suite run the same code.
//!
//! - [`operation`]: every operation's request decoding, validation and
//!   handling, through the same dispatch as the server (a development-mode
//!   service on an in-memory store, with deterministic randomness so that
//!   seeds can name the key it creates).
//! - [`blob`]: the ciphertext blob's header parser and opening.
//! - [`sigv4`]: the `Authorization` header, the date and scope checks, and
//!   the canonical request under arbitrary headers, path and query.
//! - [`policy`]: key policy documents.
//! - [`encryption_context`]: the encryption context's JSON form and its
//!   canonical encoding.
//! - [`envelope_decrypt`]: the ESDK message reader of `trent decrypt`, which
//!   reads files from anywhere.
//!
//! Every body must return normally for every input: a panic is a finding.
//! The tests here replay the seed corpus in `fuzz/corpus/` and a short,
//! deterministic mutation run of each target (the CI smoke run).
//!
//! It refuses: being used by the server. Nothing here is on a request path.

#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use trent_core::ids::{AccountId, Region};
use trent_core::{CryptoError, CryptoProvider, KeyHandle, ManualClock, SecretBytes};
use trent_crypto::{SoftRootKey, SoftwareProvider};
use trent_proto::Operation;
use trent_service::{Caller, Kms, Settings};
use trent_store::MemoryStore;

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target, by the name its corpus directory and cargo-fuzz binary use.
pub const TARGETS: &[(&str, Target)] = &[
    ("operation", operation),
    ("blob", blob),
    ("sigv4", sigv4),
    ("policy", policy),
    ("encryption_context", encryption_context),
    ("sts_form", sts_form),
    ("lookup_events", lookup_events),
    ("envelope_decrypt", envelope_decrypt),
];

/// The id of the first key the fuzzing service creates (deterministic
/// randomness makes it the same in every run), for seeds to name.
pub const SEED_KEY_ID: &str = "3ee57890-41c9-4ac3-b3b8-488c368cb0a6";

/// The keys of the other specs the fuzzing service creates after the
/// first, in this order, with their ids: seeds for Sign, Verify,
/// GenerateMac, RSA Encrypt, DeriveSharedSecret, Encapsulate and the rest
/// name them.
pub const SEED_ASYMMETRIC_KEYS: &[(&str, &str, &str)] = &[
    (
        "ECC_NIST_P256",
        "SIGN_VERIFY",
        "69b82ebc-9223-4300-80d2-9eb57de1d510",
    ),
    (
        "RSA_2048",
        "ENCRYPT_DECRYPT",
        "0c7de806-4963-4ab0-8558-2d37111ac529",
    ),
    (
        "HMAC_256",
        "GENERATE_VERIFY_MAC",
        "6e19905d-cbe5-41df-8fa9-fa7324851729",
    ),
    (
        "ECC_NIST_P384",
        "KEY_AGREEMENT",
        "cc06c316-52eb-4438-acee-65630a691e37",
    ),
    (
        "ML_KEM_768",
        "ENCAPSULATE_DECAPSULATE",
        "e3ddd86b-a71a-4eb1-9f26-8adeb6513356",
    ),
    (
        "ML_DSA_44",
        "SIGN_VERIFY",
        "30260345-dd9e-4ec1-8f44-8a5882bb9698",
    ),
    (
        "ECC_NIST_EDWARDS25519",
        "SIGN_VERIFY",
        "3e00a349-29a8-4f1d-a255-b237b8bb18fb",
    ),
];

/// Randomness from a counter: key ids, nonces and material are the same in
/// every run, so that a finding replays and seeds can name keys. Sealing and
/// opening are the real software provider's.
#[derive(Debug, Default)]
struct Deterministic {
    inner: SoftwareProvider,
    counter: AtomicU64,
}

impl CryptoProvider for Deterministic {
    fn fill_random(&self, out: &mut [u8]) -> Result<(), CryptoError> {
        for chunk in out.chunks_mut(8) {
            // splitmix64
            let mut z = self
                .counter
                .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
                .wrapping_add(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_be_bytes()[..chunk.len()]);
        }
        Ok(())
    }

    fn generate_key(&self, spec: trent_proto::KeySpec) -> Result<SecretBytes, CryptoError> {
        // Symmetric material from the counter too; key pairs come from the
        // library's own generator (their ids are still the counter's).
        match spec {
            trent_proto::KeySpec::SymmetricDefault => self.generate_symmetric(),
            other => self.inner.generate_key(other),
        }
    }

    fn load_key(
        &self,
        spec: trent_proto::KeySpec,
        material: &SecretBytes,
    ) -> Result<Arc<dyn KeyHandle>, CryptoError> {
        self.inner.load_key(spec, material)
    }

    fn unwrap_import(
        &self,
        wrapping_spec: trent_proto::KeySpec,
        wrapping_key: &SecretBytes,
        algorithm: trent_core::ImportWrapping,
        encrypted: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        self.inner
            .unwrap_import(wrapping_spec, wrapping_key, algorithm, encrypted)
    }

    fn imported_material_id(
        &self,
        material: &SecretBytes,
        key_id: &str,
    ) -> Result<[u8; 32], CryptoError> {
        self.inner.imported_material_id(material, key_id)
    }

    fn generate_ecdsa_p256(&self) -> Result<SecretBytes, CryptoError> {
        self.inner.generate_ecdsa_p256()
    }

    fn prepare_ecdsa_p256(
        &self,
        pkcs8: &SecretBytes,
    ) -> Result<Arc<dyn trent_core::SigningKey>, CryptoError> {
        self.inner.prepare_ecdsa_p256(pkcs8)
    }
}

struct Service {
    runtime: tokio::runtime::Runtime,
    kms: Kms,
    caller: Caller,
    runs: u32,
}

/// Start over after this many operations, so that state (keys, aliases)
/// made by earlier inputs cannot grow without bound.
const RUNS_PER_SERVICE: u32 = 2000;

fn caller() -> Caller {
    let account = AccountId::parse("111122223333").unwrap_or_else(|| unreachable!());
    Caller::new(
        Region::parse("us-east-1").unwrap_or_else(|| unreachable!()),
        Arc::new(trent_service::Identity::root(&account)),
        "AKIDFUZZ".into(),
        "fuzz".into(),
    )
}

fn service() -> Service {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let root = SoftRootKey::from_bytes(&[7u8; 32]).unwrap_or_else(|e| panic!("root: {e}"));
    let kms = runtime
        .block_on(Kms::new(
            Arc::new(MemoryStore::new()),
            Arc::new(Deterministic::default()),
            Arc::new(root),
            Arc::new(ManualClock::new()),
            Settings::default(),
        ))
        .unwrap_or_else(|e| panic!("service: {e}"));
    let caller = caller();
    let (_, created) = runtime.block_on(trent_server::run_operation(
        &kms,
        &caller,
        Operation::CreateKey,
        b"{}",
    ));
    let created: serde_json::Value =
        serde_json::from_slice(&created).unwrap_or_else(|e| panic!("CreateKey: {e}"));
    assert_eq!(
        created["KeyMetadata"]["KeyId"], SEED_KEY_ID,
        "the deterministic randomness changed: update SEED_KEY_ID and the seeds"
    );
    // The key seeds name has an alias and a second version.
    for (op, body) in [
        (
            Operation::CreateAlias,
            format!("{{\"AliasName\":\"alias/fuzz\",\"TargetKeyId\":\"{SEED_KEY_ID}\"}}"),
        ),
        (
            Operation::RotateKeyOnDemand,
            format!("{{\"KeyId\":\"{SEED_KEY_ID}\"}}"),
        ),
    ] {
        let (status, out) = runtime.block_on(trent_server::run_operation(
            &kms,
            &caller,
            op,
            body.as_bytes(),
        ));
        assert_eq!(status, 200, "{op:?}: {}", String::from_utf8_lossy(&out));
    }
    for (spec, usage, id) in SEED_ASYMMETRIC_KEYS {
        let body = format!("{{\"KeySpec\":\"{spec}\",\"KeyUsage\":\"{usage}\"}}");
        let (status, out) = runtime.block_on(trent_server::run_operation(
            &kms,
            &caller,
            Operation::CreateKey,
            body.as_bytes(),
        ));
        let made: serde_json::Value =
            serde_json::from_slice(&out).unwrap_or_else(|e| panic!("CreateKey {spec}: {e}"));
        assert_eq!(status, 200, "CreateKey {spec}: {made}");
        assert_eq!(
            made["KeyMetadata"]["KeyId"], *id,
            "the deterministic randomness changed: update SEED_ASYMMETRIC_KEYS and the seeds"
        );
    }
    Service {
        runtime,
        kms,
        caller,
        runs: 0,
    }
}

thread_local! {
    static SERVICE: RefCell<Option<Service>> = const { RefCell::new(None) };
}

/// First byte: the operation (an index into the service model's list);
/// the rest: the JSON body. Answers must be AWS JSON with a status that
/// matches: 200, or 4xx/5xx with a `__type`.
pub fn operation(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let op = Operation::ALL[usize::from(selector) % Operation::ALL.len()];
    SERVICE.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|s| s.runs >= RUNS_PER_SERVICE) {
            *slot = Some(service());
        }
        let Some(s) = slot.as_mut() else {
            return;
        };
        s.runs += 1;
        let (status, out) = s
            .runtime
            .block_on(trent_server::run_operation(&s.kms, &s.caller, op, body));
        if status != 200 {
            let v: serde_json::Value =
                serde_json::from_slice(&out).unwrap_or_else(|e| panic!("error body: {e}"));
            assert!(v["__type"].is_string(), "error without __type: {v}");
            assert!((400..600).contains(&status));
        } else if !out.is_empty() {
            serde_json::from_slice::<serde_json::Value>(&out)
                .unwrap_or_else(|e| panic!("answer is not JSON: {e}"));
        }
    });
}

/// A blob: parse its header, and open it with a fixed key under an empty
/// context. Nothing but a blob sealed by that key may open.
pub fn blob(data: &[u8]) {
    let Ok(parsed) = trent_core::blob::parse(data) else {
        return;
    };
    assert_eq!(parsed.header_bytes.len() + parsed.sealed.len(), data.len());
    assert_eq!(&parsed.header.encode()[..], parsed.header_bytes);
    let key = SoftwareProvider::new()
        .load_key(
            trent_proto::KeySpec::SymmetricDefault,
            &SecretBytes::new(vec![9u8; 32]),
        )
        .unwrap_or_else(|e| panic!("key: {e}"));
    let context = trent_core::blob::encode_context(&Default::default());
    let _ = key.open(parsed.header_bytes, &context, parsed.sealed);
}

/// Lines of `name: value` headers; the first line is the `Authorization`
/// value, the second `X-Amz-Date`, the third the path and query; the rest
/// are other headers. Every check the server makes before and after the body
/// runs on them.
pub fn sigv4(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let auth_value = lines.next().unwrap_or_default();
    let amz_date = lines.next().unwrap_or_default();
    let target = lines.next().unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = http::HeaderMap::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(name.trim().as_bytes()),
                http::HeaderValue::from_str(value.trim()),
            ) {
                headers.append(n, v);
            }
        }
    }
    let _ = trent_sigv4::amz_date_unix(amz_date);
    let Ok(auth) = trent_sigv4::parse_authorization(auth_value, !amz_date.is_empty()) else {
        return;
    };
    let _ = auth.check_scope("kms");
    let now = time::OffsetDateTime::from_unix_timestamp(1_767_225_600)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let _ = trent_sigv4::check_time(&auth, Some(amz_date), now);
    let key = trent_sigv4::SigningKey::derive("secret", auth.date, auth.region, auth.service);
    let body_sha256 = trent_sigv4::sha256(data);
    let req = trent_sigv4::Request {
        method: "POST",
        path,
        query,
        headers: &Headers(&headers),
        body_sha256: &body_sha256,
    };
    let _ = trent_sigv4::canonical_request(&req, auth.signed_headers);
    let _ = trent_sigv4::verify(&req, &auth, amz_date, &key);
}

struct Headers<'a>(&'a http::HeaderMap);

impl trent_sigv4::Headers for Headers<'_> {
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        for v in self.0.get_all(name) {
            f(v.as_bytes());
        }
    }
}

/// A policy document, as PutKeyPolicy, CreateKey, AssumeRole (a session
/// policy) and the configuration receive it: parsed as a key policy and as
/// an identity policy, and every document that parses is evaluated for a
/// few callers and actions against a request with condition values.
pub fn policy(data: &[u8]) {
    use trent_core::authz::{
        decide, Action, CallerPolicies, CompiledPolicy, PolicyKind, Principal, PrincipalKind,
        Request, RequestContext,
    };
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let account = AccountId::parse("111122223333").unwrap_or_else(|| unreachable!());
    let resource = CompiledPolicy::parse(text, PolicyKind::Resource).ok();
    let identity: Vec<Arc<CompiledPolicy>> = CompiledPolicy::parse(text, PolicyKind::Identity)
        .ok()
        .map(Arc::new)
        .into_iter()
        .collect();
    if resource.is_none() && identity.is_empty() {
        return;
    }
    let user = Principal {
        arn: "arn:aws:iam::111122223333:user/carol".into(),
        account: account.clone(),
        kind: PrincipalKind::User,
        principal_arn: "arn:aws:iam::111122223333:user/carol".into(),
        user_id: "AIDAFUZZ".into(),
        tags: [("team".to_string(), "blue".to_string())].into(),
    };
    let context: std::collections::BTreeMap<String, String> =
        [("app".to_string(), "x".to_string())].into();
    for caller in [Principal::root(&account), user] {
        let mut ctx = RequestContext::new(&caller, 1_796_212_800_000);
        ctx.encryption_context = Some(&context);
        ctx.source_ip = "10.1.2.3".parse().ok();
        for action in [
            Action::Encrypt,
            Action::PutKeyPolicy,
            Action::CreateKey,
            Action::AssumeRole,
        ] {
            let _ = decide(
                &Request {
                    caller: &caller,
                    action,
                    resource: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                    resource_account: Some(&account),
                    context: &ctx,
                },
                resource.as_ref(),
                CallerPolicies {
                    identity: &identity,
                    session: identity.first().map(|p| &**p),
                },
            );
        }
    }
}

/// An STS Query request body (`application/x-www-form-urlencoded`).
pub fn sts_form(data: &[u8]) {
    let form = trent_server::sts::parse_form(data);
    for (k, v) in &form {
        assert!(!k.contains('&') || data.contains(&b'%'));
        let _ = (k.len(), v.len());
    }
}

/// An encryption context as JSON, and its canonical encoding, which must be
/// the same for every order of the same pairs and differ for any other
/// context.
pub fn encryption_context(data: &[u8]) {
    let Ok(ctx) = serde_json::from_slice::<trent_proto::EncryptionContext>(data) else {
        return;
    };
    let encoded = trent_core::blob::encode_context(&ctx.0);
    let reversed: std::collections::BTreeMap<String, String> = ctx
        .0
        .iter()
        .rev()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(encoded, trent_core::blob::encode_context(&reversed));
    let mut other = ctx.0.clone();
    other.insert(format!("{}x", other.len()), String::new());
    if other.len() != ctx.0.len() {
        assert_ne!(encoded, trent_core::blob::encode_context(&other));
    }
}

#[cfg(test)]
mod tests;

/// A trail of a few events, written once, for the `lookup_events` target to
/// search with whatever query its input decodes to.
fn lookup_trail() -> &'static std::path::Path {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("trent-fuzz-trail-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let provider = SoftwareProvider::new();
        let signer = provider
            .prepare_ecdsa_p256(
                &provider
                    .generate_ecdsa_p256()
                    .unwrap_or_else(|e| panic!("key: {e}")),
            )
            .unwrap_or_else(|e| panic!("key: {e}"));
        let trail = trent_audit::Trail::open(
            trent_audit::TrailConfig {
                dir: dir.clone(),
                node: "node-1".into(),
                segment_max_bytes: 4096,
                segment_max_age: std::time::Duration::from_secs(3600),
                digest_interval: std::time::Duration::from_secs(3600),
                sinks: vec![],
            },
            signer,
        )
        .unwrap_or_else(|e| panic!("trail: {e}"));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        for i in 0..40i64 {
            let mut e = trent_audit::Event::api_call(
                "kms.amazonaws.com",
                if i % 3 == 0 { "Decrypt" } else { "Encrypt" },
                "us-east-1",
                format!("event-{i}"),
                1_796_212_800_000 + i * 500,
            );
            e.recipient_account_id = "111122223333".into();
            runtime
                .block_on(trail.record(&e))
                .unwrap_or_else(|e| panic!("record: {e}"));
        }
        trail.close();
        dir
    })
}

/// A CloudTrail `LookupEvents` body (attributes, times, `NextToken`), run
/// over a small trail: whatever it decodes to must page without panicking,
/// stay within its limit and move strictly backwards in time.
pub fn lookup_events(data: &[u8]) {
    let Ok(Some(q)) = trent_server::cloudtrail::parse_lookup(data, "111122223333", "us-east-1")
    else {
        return;
    };
    assert!((1..=50).contains(&q.limit));
    let page =
        trent_audit::search::search(lookup_trail(), &q).unwrap_or_else(|e| panic!("search: {e}"));
    assert!(page.found.len() <= q.limit);
    for pair in page.found.windows(2) {
        let (a, b) = (&pair[0].cursor, &pair[1].cursor);
        assert!((b.time_ms, b.seq) < (a.time_ms, a.seq), "newest first");
    }
    let _ = trent_server::cloudtrail::answer(page);
}

/// A multi-Region key ARN the `envelope_decrypt` target matches wrapped
/// keys against.
const FUZZ_MRK: &str = "arn:aws:kms:us-west-2:111122223333:key/mrk-0123456789abcdef";

/// The key of the raw AES keyring the `envelope_decrypt` seeds are wrapped
/// with, so that mutations reach the body and the footer.
pub const ENVELOPE_KEY: [u8; 32] = [7; 32];

/// An ESDK message read by `trent decrypt`'s decryptor with a raw AES
/// keyring (the seeds' key): the header, the KMS keyring's candidate rules
/// over its wrapped keys, the key commitment, the header tag, the frames
/// and the footer. The message arrives in two pieces, split where
/// its last byte says, so that parsing across a boundary is exercised.
pub fn envelope_decrypt(data: &[u8]) {
    use trent_envelope::raw::{unwrap_any, RawAesKeyring};
    use trent_envelope::{CommitmentPolicy, DecryptConfig, Decryptor, Progress};
    let ring =
        RawAesKeyring::new("fuzz", "fuzz-key", &ENVELOPE_KEY).unwrap_or_else(|e| panic!("{e}"));
    let split = data
        .last()
        .map_or(0, |b| usize::from(*b) * 17)
        .min(data.len());
    let mut d = Decryptor::new(DecryptConfig {
        policy: CommitmentPolicy::RequireEncryptAllowDecrypt,
        max_encrypted_data_keys: Some(8),
        ..Default::default()
    });
    let mut out = Vec::new();
    let r = (|| {
        for piece in [&data[..split], &data[split..]] {
            if d.update(piece, &mut out)? == Progress::NeedDataKey {
                let request = d.request().unwrap_or_else(|| panic!("no request"));
                // The KMS keyring's reading of the wrapped keys' provider
                // information (ARNs from the message).
                let edks = request.encrypted_data_keys;
                for (i, _) in trent_envelope::kms::strict_candidates(edks, &[FUZZ_MRK.into()])
                    .into_iter()
                    .chain(trent_envelope::kms::discovery_candidates(
                        edks,
                        None,
                        "us-west-2",
                    ))
                {
                    assert!(i < edks.len());
                }
                let key = unwrap_any(&[&ring], &request)?;
                d.set_data_key(key, &mut out)?;
            }
        }
        d.finish(&mut out)
    })();
    match r {
        Ok(()) => assert!(
            d.header().is_some(),
            "a message that decrypted has an authenticated header"
        ),
        Err(_) => assert!(
            d.header().is_none(),
            "nothing of a failed message is released"
        ),
    }
}
