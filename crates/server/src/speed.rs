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
