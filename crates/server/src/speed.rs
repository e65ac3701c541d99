//! The raw speed of the primitives the key operations use, on every core:
//! the baseline `bench/asymmetric.sh` sets the server's rates beside. It
//! calls the same key handles the service calls, with no HTTP, SigV4,
//! authorization or audit around them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use trent_core::{CryptoProvider, KeyHandle, SignInput};
use trent_proto::{KeySpec, MacAlgorithmSpec, SigningAlgorithmSpec};

/// One primitive's name and operations per second over all threads.
pub type Rate = (&'static str, f64);

/// Measure each primitive for `seconds` on `threads` threads.
pub fn primitive_speed(seconds: f64, threads: usize) -> Result<Vec<Rate>, trent_core::CryptoError> {
    let p = trent_crypto::SoftwareProvider::new();
    let load = |spec| -> Result<Arc<dyn KeyHandle>, trent_core::CryptoError> {
        p.load_key(spec, &p.generate_key(spec)?)
    };
    let p256 = load(KeySpec::EccNistP256)?;
    let rsa2048 = load(KeySpec::Rsa2048)?;
    let rsa4096 = load(KeySpec::Rsa4096)?;
    let hmac = load(KeySpec::Hmac256)?;
    let sym = load(KeySpec::SymmetricDefault)?;
    let message = vec![7u8; 256];
    let kib = vec![7u8; 1024];
    let p256_sig = p256.sign(SigningAlgorithmSpec::EcdsaSha256, SignInput::Raw(&message))?;
    let rsa_sig = rsa2048.sign(
        SigningAlgorithmSpec::RsassaPkcs1V15Sha256,
        SignInput::Raw(&message),
    )?;
    type Op<'a> = Box<dyn Fn() -> bool + Sync + 'a>;
    let ops: Vec<(&'static str, Op<'_>)> = vec![
        (
            "ecdsa-p256-sign",
            Box::new(|| {
                p256.sign(SigningAlgorithmSpec::EcdsaSha256, SignInput::Raw(&message))
                    .is_ok()
            }),
        ),
        (
            "ecdsa-p256-verify",
            Box::new(|| {
                matches!(
                    p256.verify(
                        SigningAlgorithmSpec::EcdsaSha256,
                        SignInput::Raw(&message),
                        &p256_sig
                    ),
                    Ok(true)
                )
            }),
        ),
        (
            "rsa-2048-sign",
            Box::new(|| {
                rsa2048
                    .sign(
                        SigningAlgorithmSpec::RsassaPkcs1V15Sha256,
                        SignInput::Raw(&message),
                    )
                    .is_ok()
            }),
        ),
        (
            "rsa-2048-verify",
            Box::new(|| {
                matches!(
                    rsa2048.verify(
                        SigningAlgorithmSpec::RsassaPkcs1V15Sha256,
                        SignInput::Raw(&message),
                        &rsa_sig
                    ),
                    Ok(true)
                )
            }),
        ),
        (
            "rsa-4096-sign",
            Box::new(|| {
                rsa4096
                    .sign(
                        SigningAlgorithmSpec::RsassaPkcs1V15Sha256,
                        SignInput::Raw(&message),
                    )
                    .is_ok()
            }),
        ),
        (
            "hmac-sha256-1kib",
            Box::new(|| hmac.mac(MacAlgorithmSpec::HmacSha256, &kib).is_ok()),
        ),
        (
            "encrypt-1kib",
            Box::new(|| {
                let mut out = Vec::with_capacity(1200);
                sym.seal(&[1u8; 64], b"", &kib, &mut out).is_ok()
            }),
        ),
    ];
    let mut rates = Vec::new();
    for (name, op) in &ops {
        let count = AtomicU64::new(0);
        let failed = AtomicBool::new(false);
        let deadline = Instant::now() + Duration::from_secs_f64(seconds);
        let start = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads.max(1) {
                s.spawn(|| {
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        if !op() {
                            failed.store(true, Ordering::Relaxed);
                        }
                        n += 1;
                    }
                    count.fetch_add(n, Ordering::Relaxed);
                });
            }
        });
        if failed.load(Ordering::Relaxed) {
            return Err(trent_core::CryptoError::InvalidKey);
        }
        let secs = start.elapsed().as_secs_f64();
        rates.push((*name, count.load(Ordering::Relaxed) as f64 / secs));
    }
    Ok(rates)
}

/// Encrypt and Decrypt (1 KiB) through the service, without HTTP, SigV4
/// or the audit trail, with an ordinary key, a key with imported material
/// and a multi-Region replica (Decrypt of a ciphertext its primary made),
/// in alternating slices of `slice` for `seconds` per kind: each kind's
/// requests per second on one thread. The slices interleave so that the
/// VM's drift falls on all three alike; the ratios are what
/// `bench/keys.sh` checks through the network.
pub async fn key_speed(
    seconds: f64,
    slice: Duration,
) -> Result<Vec<(String, f64)>, Box<dyn std::error::Error>> {
    use base64::Engine as _;
    use trent_core::ids::{AccountId, KeyLocator, Region};
    use trent_core::key::{Import, KeyRecord, KeyVersion, SpentToken};
    use trent_core::RootKey as _;
    use trent_proto::Operation;
    use trent_store::KeyStore as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let store = Arc::new(trent_store::MemoryStore::new());
    let provider = Arc::new(trent_crypto::SoftwareProvider::new());
    let root = Arc::new(trent_crypto::SoftRootKey::generate()?.0);
    let kms = trent_service::Kms::new(
        store.clone(),
        provider.clone(),
        root.clone(),
        Arc::new(trent_core::SystemClock),
        trent_service::Settings::default(),
    )
    .await?;
    let account = AccountId::parse("111122223333").ok_or("account")?;
    let caller = |region: &str| -> Result<trent_service::Caller, Box<dyn std::error::Error>> {
        Ok(trent_service::Caller::new(
            Region::parse(region).ok_or("region")?,
            Arc::new(trent_service::Identity::root(&account)),
            "AKIDSPEED".into(),
            "speed".into(),
        ))
    };
    let (us, eu) = (caller("us-east-1")?, caller("eu-west-1")?);
    let call = |c: &trent_service::Caller, op, body: String| {
        let kms = &kms;
        let c = c.clone();
        async move {
            let (status, out) = crate::run_operation(kms, &c, op, body.as_bytes()).await;
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap_or_default();
            if status == 200 {
                Ok(v)
            } else {
                Err(format!("{op:?}: {status} {v}"))
            }
        }
    };
    let ordinary = call(&us, Operation::CreateKey, "{}".into()).await?["KeyMetadata"]["KeyId"]
        .as_str()
        .ok_or("key id")?
        .to_string();
    // The imported key is made as ImportKeyMaterial makes it (the record's
    // transition, the root key's wrapping), without the RSA wrapping round
    // trip, which is not on the path measured.
    let external = call(
        &us,
        Operation::CreateKey,
        "{\"Origin\":\"EXTERNAL\"}".into(),
    )
    .await?["KeyMetadata"]["KeyId"]
        .as_str()
        .ok_or("key id")?
        .to_string();
    let loc = KeyLocator {
        region: us.region.clone(),
        account: account.clone(),
        key_id: trent_core::ids::KeyId::parse(&external).ok_or("key id")?,
    };
    let record: KeyRecord = store.get_key(&loc).await?.ok_or("external key")?;
    let material = provider.generate_symmetric()?;
    let id = provider.imported_material_id(&material, &external)?;
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let imported = record
        .import(
            0,
            &Import {
                material_id: &id,
                kind: None,
                requested_id: None,
                valid_to: None,
                description: None,
                token: SpentToken {
                    id: "speed".into(),
                    expires_at: i64::MAX,
                },
            },
            |n| {
                root.wrap(&material, &KeyVersion::wrap_aad(&loc, n))
                    .map_err(trent_service::ServiceError::from)
            },
        )
        .map_err(|e| format!("import: {e}"))?;
    store.update_key(&imported).await?;
    let mrk = call(&us, Operation::CreateKey, "{\"MultiRegion\":true}".into()).await?
        ["KeyMetadata"]["KeyId"]
        .as_str()
        .ok_or("key id")?
        .to_string();
    call(
        &us,
        Operation::ReplicateKey,
        format!("{{\"KeyId\":\"{mrk}\",\"ReplicaRegion\":\"eu-west-1\"}}"),
    )
    .await?;
    let plaintext = b64.encode([7u8; 1024]);
    let mut kinds = Vec::new();
    for (name, c, key) in [
        ("ordinary", &us, &ordinary),
        ("imported", &us, &external),
        ("replica", &eu, &mrk),
    ] {
        // The ciphertext: made in us-east-1 (by the primary for the replica).
        let blob = call(
            &us,
            Operation::Encrypt,
            format!("{{\"KeyId\":\"{key}\",\"Plaintext\":\"{plaintext}\"}}"),
        )
        .await?["CiphertextBlob"]
            .as_str()
            .ok_or("ciphertext")?
            .to_string();
        let encrypt = format!("{{\"KeyId\":\"{key}\",\"Plaintext\":\"{plaintext}\"}}");
        let decrypt = format!("{{\"KeyId\":\"{key}\",\"CiphertextBlob\":\"{blob}\"}}");
        call(c, Operation::Decrypt, decrypt.clone()).await?;
        kinds.push((name, c, encrypt, decrypt));
    }
    let mut totals = vec![(0u64, Duration::ZERO); kinds.len() * 2];
    let end = Instant::now() + Duration::from_secs_f64(seconds * kinds.len() as f64 * 2.0);
    while Instant::now() < end {
        for (i, (_, c, encrypt, decrypt)) in kinds.iter().enumerate() {
            for (j, (op, body)) in [(Operation::Encrypt, encrypt), (Operation::Decrypt, decrypt)]
                .into_iter()
                .enumerate()
            {
                let start = Instant::now();
                let mut n = 0u64;
                while start.elapsed() < slice {
                    let (status, _) = crate::run_operation(&kms, c, op, body.as_bytes()).await;
                    if status != 200 {
                        return Err(format!("{op:?} failed: {status}").into());
                    }
                    n += 1;
                }
                let t = &mut totals[j * kinds.len() + i];
                t.0 += n;
                t.1 += start.elapsed();
            }
        }
    }
    let mut out = Vec::new();
    for (j, op) in ["encrypt", "decrypt"].iter().enumerate() {
        for (i, (name, ..)) in kinds.iter().enumerate() {
            let (n, t) = totals[j * kinds.len() + i];
            out.push((format!("{op}-{name}"), n as f64 / t.as_secs_f64()));
        }
    }
    Ok(out)
}
