//! Messages this crate writes read back under every suite, frame length and
//! plaintext length that matters; every damaged, truncated or extended
//! message fails, and never releases plaintext it has not authenticated.

use std::path::Path;

use base64::Engine;
use trent_envelope::raw::{
    unwrap_any, wrap_all, Keyring, RawAesKeyring, RawRsaKeyring, RsaPadding,
};
use trent_envelope::{
    CommitmentPolicy, DecryptConfig, Decryptor, EncryptConfig, EncryptionContext, Encryptor, Error,
    Progress, Suite,
};

fn aes() -> RawAesKeyring {
    RawAesKeyring::new("test-ns", "test-aes", &[0x42; 32]).unwrap()
}

/// A key of the official vectors' keys.json (public test keys).
fn vector_key(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/esdk-vectors/net-4.0.1/keys.json");
    let keys: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    keys["keys"][name]["material"].as_str().unwrap().to_owned()
}

fn rsa() -> RawRsaKeyring {
    let pem = vector_key("rsa-4096-private");
    RawRsaKeyring::new(
        "test-ns",
        "test-rsa",
        RsaPadding::OaepSha256,
        pem.as_bytes(),
    )
    .unwrap()
}

fn policy_for(suite: Suite) -> CommitmentPolicy {
    if suite.committing() {
        CommitmentPolicy::RequireEncryptRequireDecrypt
    } else {
        CommitmentPolicy::ForbidEncryptAllowDecrypt
    }
}

fn encrypt(cfg: EncryptConfig, rings: &[&dyn Keyring], plaintext: &[u8], chunk: usize) -> Vec<u8> {
    let mut e = Encryptor::new(cfg).unwrap();
    wrap_all(&mut e, rings).unwrap();
    let mut out = Vec::new();
    for piece in plaintext.chunks(chunk.max(1)) {
        e.update(piece, &mut out).unwrap();
    }
    e.finish(&mut out).unwrap();
    out
}

fn decrypt(
    cfg: DecryptConfig,
    rings: &[&dyn Keyring],
    message: &[u8],
    chunk: usize,
) -> (Vec<u8>, Result<(), Error>) {
    let mut d = Decryptor::new(cfg);
    let mut out = Vec::new();
    let r = (|| {
        for piece in message.chunks(chunk.max(1)) {
            if d.update(piece, &mut out)? == Progress::NeedDataKey {
                let key = unwrap_any(rings, &d.request().unwrap())?;
                d.set_data_key(key, &mut out)?;
            }
        }
        d.finish(&mut out)
    })();
    (out, r)
}

fn plaintext(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn every_suite_frame_and_length_round_trips() {
    let (aes, rsa) = (aes(), rsa());
    for &suite in Suite::all() {
        for frame in [1u32, 17, 512] {
            let f = frame as usize;
            for len in [0, 1, f - 1, f, f + 1, 3 * f, 3 * f + 5] {
                let pt = plaintext(len);
                let ec: EncryptionContext = [("purpose", "test"), ("ünïcode", "välue")]
                    .into_iter()
                    .collect();
                let cfg = EncryptConfig {
                    suite,
                    policy: policy_for(suite),
                    frame_length: frame,
                    encryption_context: if len % 2 == 0 {
                        ec.clone()
                    } else {
                        EncryptionContext::new()
                    },
                    required_context_keys: vec![],
                };
                let msg = encrypt(cfg, &[&aes, &rsa], &pt, 7);
                for ring in [&aes as &dyn Keyring, &rsa] {
                    for chunk in [msg.len(), 5] {
                        let dcfg = DecryptConfig {
                            policy: policy_for(suite),
                            ..Default::default()
                        };
                        let (out, r) = decrypt(dcfg, &[ring], &msg, chunk);
                        r.unwrap_or_else(|e| panic!("{suite} frame {frame} len {len}: {e}"));
                        assert!(out == pt, "{suite} frame {frame} len {len}");
                    }
                }
            }
        }
    }
}

#[test]
fn the_header_says_what_was_asked() {
    let cfg = EncryptConfig {
        encryption_context: [("a", "b")].into_iter().collect(),
        frame_length: 100,
        ..Default::default()
    };
    let msg = encrypt(cfg, &[&aes()], b"hello", 5);
    let mut d = Decryptor::new(DecryptConfig::default());
    let mut out = Vec::new();
    assert_eq!(d.update(&msg, &mut out).unwrap(), Progress::NeedDataKey);
    assert!(
        d.header().is_none(),
        "nothing of the header is released before it is authenticated"
    );
    let key = unwrap_any(&[&aes()], &d.request().unwrap()).unwrap();
    assert_eq!(d.set_data_key(key, &mut out).unwrap(), Progress::Done);
    let h = d.header().unwrap();
    assert_eq!(h.suite, Suite::Aes256HkdfSha512CommitEcdsaP384);
    assert_eq!(h.frame_length, 100);
    assert_eq!(h.encryption_context.get("a"), Some("b"));
    assert!(h.encryption_context.get("aws-crypto-public-key").is_some());
    assert_eq!(out, b"hello");
}

/// Every single-bit change anywhere in the message fails; what was released
/// before the failure is a prefix of the plaintext made of whole frames that
/// precede the damage, and a signed message's last frame is never released.
#[test]
fn any_flipped_bit_fails_and_releases_only_authenticated_frames() {
    let ring = aes();
    for suite in [
        Suite::Aes256HkdfSha512CommitEcdsaP384,
        Suite::Aes256HkdfSha512Commit,
        Suite::Aes128NoKdf,
    ] {
        let pt = plaintext(40);
        let cfg = EncryptConfig {
            suite,
            policy: policy_for(suite),
            frame_length: 16,
            encryption_context: [("k", "v")].into_iter().collect(),
            required_context_keys: vec![],
        };
        let msg = encrypt(cfg, &[&ring], &pt, 40);
        for i in 0..msg.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = msg.clone();
                bad[i] ^= bit;
                let dcfg = DecryptConfig {
                    policy: policy_for(suite),
                    ..Default::default()
                };
                let (out, r) = decrypt(dcfg, &[&ring], &bad, 9);
                assert!(
                    r.is_err(),
                    "{suite}: flipping bit {bit:#x} of byte {i} went unnoticed"
                );
                assert!(
                    pt.starts_with(&out) && out.len() % 16 == 0 && out.len() < pt.len(),
                    "{suite} byte {i}"
                );
            }
        }
    }
}

#[test]
fn truncation_and_trailing_bytes_fail() {
    let ring = aes();
    for suite in [
        Suite::Aes256HkdfSha512CommitEcdsaP384,
        Suite::Aes256HkdfSha512Commit,
    ] {
        let pt = plaintext(64);
        let cfg = EncryptConfig {
            suite,
            frame_length: 16,
            ..Default::default()
        };
        let msg = encrypt(cfg, &[&ring], &pt, 64);
        for cut in 0..msg.len() {
            let (out, r) = decrypt(DecryptConfig::default(), &[&ring], &msg[..cut], 1000);
            assert!(
                r.is_err(),
                "{suite}: a message cut to {cut} bytes was accepted"
            );
            assert!(pt.starts_with(&out), "{suite}: cut to {cut}");
        }
        let mut long = msg.clone();
        long.push(0);
        let (_, r) = decrypt(DecryptConfig::default(), &[&ring], &long, 1000);
        assert_eq!(r, Err(Error::TrailingBytes));
        // Trailing bytes arriving in a later piece fail too.
        let (_, r) = decrypt(DecryptConfig::default(), &[&ring], &long, msg.len());
        assert_eq!(r, Err(Error::TrailingBytes));
    }
}

#[test]
fn reproduced_context() {
    let (aes, rsa) = (aes(), rsa());
    let ec: EncryptionContext = [("stored", "1"), ("secret-ish", "2")].into_iter().collect();
    let cfg = EncryptConfig {
        encryption_context: ec.clone(),
        required_context_keys: vec!["secret-ish".into()],
        ..Default::default()
    };
    let msg = encrypt(cfg, &[&aes, &rsa], b"data", 4);
    assert!(
        !msg.windows(10).any(|w| w == b"secret-ish"),
        "a required key is not stored"
    );
    let cfg = |pairs: &[(&str, &str)]| DecryptConfig {
        reproduced_context: pairs.iter().copied().collect(),
        ..Default::default()
    };
    // Right pairs: decrypts.
    let (out, r) = decrypt(cfg(&[("secret-ish", "2")]), &[&rsa], &msg, 100);
    r.unwrap();
    assert_eq!(out, b"data");
    // Missing: the RSA key unwraps (it binds no context) but the header tag
    // fails; the AES keyring's unwrap already fails (the context is its AAD).
    assert_eq!(
        decrypt(cfg(&[]), &[&rsa], &msg, 100).1,
        Err(Error::HeaderAuthentication)
    );
    assert_eq!(
        decrypt(cfg(&[]), &[&aes], &msg, 100).1,
        Err(Error::NoDataKey(2))
    );
    assert_eq!(
        decrypt(cfg(&[("secret-ish", "3")]), &[&rsa], &msg, 100).1,
        Err(Error::UnstoredContext(vec!["secret-ish".into()]))
    );
    // A stored pair with another value.
    assert_eq!(
        decrypt(
            cfg(&[("stored", "9"), ("secret-ish", "2")]),
            &[&rsa],
            &msg,
            100
        )
        .1,
        Err(Error::ContextMismatch("stored".into()))
    );
    // A pair the message neither stores nor authenticated.
    assert_eq!(
        decrypt(
            cfg(&[("secret-ish", "2"), ("other", "x")]),
            &[&rsa],
            &msg,
            100
        )
        .1,
        Err(Error::UnstoredContext(vec![
            "other".into(),
            "secret-ish".into()
        ]))
    );
}

#[test]
fn policy_limits_and_refusals() {
    let ring = aes();
    let v1 = encrypt(
        EncryptConfig {
            suite: Suite::Aes256HkdfSha384EcdsaP384,
            policy: CommitmentPolicy::ForbidEncryptAllowDecrypt,
            ..Default::default()
        },
        &[&ring],
        b"x",
        1,
    );
    let (out, r) = decrypt(DecryptConfig::default(), &[&ring], &v1, 1000);
    assert!(matches!(r, Err(Error::Policy { .. })) && out.is_empty());
    assert!(Encryptor::new(EncryptConfig {
        suite: Suite::Aes128NoKdf,
        ..Default::default()
    })
    .is_err());
    assert!(matches!(
        Encryptor::new(EncryptConfig {
            encryption_context: [("aws-crypto-public-key", "x")].into_iter().collect(),
            ..Default::default()
        }),
        Err(Error::ReservedContextKey(_))
    ));

    let two = encrypt(EncryptConfig::default(), &[&ring, &rsa()], b"x", 1);
    let cfg = DecryptConfig {
        max_encrypted_data_keys: Some(1),
        ..Default::default()
    };
    assert_eq!(
        decrypt(cfg, &[&ring], &two, 1000).1,
        Err(Error::TooManyEncryptedDataKeys { count: 2, max: 1 })
    );
    let cfg = DecryptConfig {
        max_encrypted_data_keys: Some(2),
        ..Default::default()
    };
    decrypt(cfg, &[&ring], &two, 1000).1.unwrap();

    // A keyring with the same name and another key: no data key.
    let other = RawAesKeyring::new("test-ns", "test-aes", &[0x43; 32]).unwrap();
    assert_eq!(
        decrypt(DecryptConfig::default(), &[&other], &two, 1000).1,
        Err(Error::NoDataKey(2))
    );
    // An encrypt-only RSA keyring cannot decrypt.
    let public = RawRsaKeyring::new(
        "test-ns",
        "test-rsa",
        RsaPadding::OaepSha256,
        vector_key("rsa-4096-public").as_bytes(),
    )
    .unwrap();
    let by_public = encrypt(EncryptConfig::default(), &[&public], b"x", 1);
    assert_eq!(
        decrypt(DecryptConfig::default(), &[&public], &by_public, 1000).1,
        Err(Error::NoDataKey(1))
    );
    // ... but the private key of the pair can.
    decrypt(DecryptConfig::default(), &[&rsa()], &by_public, 1000)
        .1
        .unwrap();
}

#[test]
fn keys_never_show_in_debug() {
    let k = base64::engine::general_purpose::STANDARD.encode([0x42u8; 32]);
    let dbg = format!("{:?} {:?}", aes(), rsa());
    assert!(!dbg.contains(&k) && !dbg.contains("4242"), "{dbg}");
}

#[test]
fn reader_limits() {
    let ring = aes();
    let signed = encrypt(
        EncryptConfig {
            frame_length: 1000,
            ..Default::default()
        },
        &[&ring],
        &plaintext(3000),
        100,
    );
    let cfg = DecryptConfig {
        unsigned_only: true,
        ..Default::default()
    };
    let (out, r) = decrypt(cfg, &[&ring], &signed, 10_000);
    assert_eq!(
        r,
        Err(Error::Signed(Suite::Aes256HkdfSha512CommitEcdsaP384))
    );
    assert!(out.is_empty());
    let unsigned = encrypt(
        EncryptConfig {
            suite: Suite::Aes256HkdfSha512Commit,
            frame_length: 1000,
            ..Default::default()
        },
        &[&ring],
        &plaintext(3000),
        100,
    );
    let cfg = DecryptConfig {
        unsigned_only: true,
        max_frame_length: Some(1000),
        ..Default::default()
    };
    assert_eq!(decrypt(cfg, &[&ring], &unsigned, 10_000).0, plaintext(3000));
    let cfg = DecryptConfig {
        max_frame_length: Some(999),
        ..Default::default()
    };
    let (out, r) = decrypt(cfg, &[&ring], &unsigned, 10_000);
    assert_eq!(
        r,
        Err(Error::FrameTooLong {
            len: 1000,
            max: 999
        })
    );
    assert!(out.is_empty());

    // A header that would need more than 16 MiB fails once it has, without
    // waiting for the rest: version 2, 0x0478, a message ID, no context,
    // 65,535 wrapped keys of 64 KiB of provider information each.
    let mut hostile = vec![2, 0x04, 0x78];
    hostile.extend_from_slice(&[0; 32]);
    hostile.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let edk: Vec<u8> = [&[0u8, 0, 0xff, 0xff][..], &[0x41; 0xffff], &[0, 0]].concat();
    let mut d = Decryptor::new(DecryptConfig::default());
    let mut out = Vec::new();
    let mut result = d.update(&hostile, &mut out);
    assert_eq!(result, Ok(Progress::NeedInput));
    for _ in 0..300 {
        result = d.update(&edk, &mut out);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(Error::TooLong("header")));
}
