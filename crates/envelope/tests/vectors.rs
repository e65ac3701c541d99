//! AWS's published decrypt vectors (testdata/esdk-vectors): every
//! positive vector decrypts to its plaintext, fed whole and in small pieces;
//! every negative one fails and releases nothing.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;
use trent_envelope::raw::{unwrap_any, Keyring, RawAesKeyring, RawRsaKeyring, RsaPadding};
use trent_envelope::{
    CommitmentPolicy, DecryptConfig, Decryptor, EncryptionContext, Error, Progress,
};

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/esdk-vectors")
}

fn file_uri(dir: &Path, uri: &str) -> PathBuf {
    dir.join(uri.strip_prefix("file://").expect("a file:// URI"))
}

fn keyring(keys: &Value, mk: &Value) -> Box<dyn Keyring> {
    let name = mk["key"].as_str().unwrap();
    let key = &keys["keys"][name];
    let key_id = key["key-id"].as_str().unwrap();
    let ns = mk["provider-id"].as_str().unwrap();
    let material = key["material"].as_str().unwrap();
    match mk["encryption-algorithm"].as_str().unwrap() {
        "aes" => {
            let k = base64::engine::general_purpose::STANDARD
                .decode(material)
                .unwrap();
            Box::new(RawAesKeyring::new(ns, key_id, &k).unwrap())
        }
        "rsa" => {
            let padding = match (
                mk["padding-algorithm"].as_str(),
                mk["padding-hash"].as_str(),
            ) {
                (Some("pkcs1"), _) => RsaPadding::Pkcs1,
                (Some("oaep-mgf1"), Some("sha1")) => RsaPadding::OaepSha1,
                (Some("oaep-mgf1"), Some("sha256")) => RsaPadding::OaepSha256,
                (Some("oaep-mgf1"), Some("sha384")) => RsaPadding::OaepSha384,
                (Some("oaep-mgf1"), Some("sha512")) => RsaPadding::OaepSha512,
                other => panic!("padding {other:?}"),
            };
            Box::new(RawRsaKeyring::new(ns, key_id, padding, material.as_bytes()).unwrap())
        }
        other => panic!("algorithm {other}"),
    }
}

/// Decrypt feeding `chunk` bytes at a time; returns what was released and
/// the outcome.
fn decrypt(
    message: &[u8],
    keyrings: &[&dyn Keyring],
    ec: &EncryptionContext,
    chunk: usize,
) -> (Vec<u8>, Result<(), Error>) {
    let mut d = Decryptor::new(DecryptConfig {
        policy: CommitmentPolicy::RequireEncryptAllowDecrypt,
        max_encrypted_data_keys: None,
        reproduced_context: ec.clone(),
        ..Default::default()
    });
    let mut out = Vec::new();
    let r = (|| {
        for piece in message.chunks(chunk) {
            if d.update(piece, &mut out)? == Progress::NeedDataKey {
                let key = unwrap_any(keyrings, &d.request().unwrap())?;
                d.set_data_key(key, &mut out)?;
            }
        }
        d.finish(&mut out)
    })();
    (out, r)
}

#[test]
fn official_decrypt_vectors() {
    let root = vectors_dir();
    let (mut passed, mut rejected) = (0, 0);
    for set in ["net-4.0.1", "net-4.0.0-valid", "net-4.0.0-invalid"] {
        let dir = root.join(set);
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
        let keys: Value = serde_json::from_slice(
            &std::fs::read(file_uri(&dir, manifest["keys"].as_str().unwrap())).unwrap(),
        )
        .unwrap();
        for (id, t) in manifest["tests"].as_object().unwrap() {
            let message = std::fs::read(file_uri(&dir, t["ciphertext"].as_str().unwrap())).unwrap();
            let rings: Vec<Box<dyn Keyring>> = t["master-keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|mk| keyring(&keys, mk))
                .collect();
            let rings: Vec<&dyn Keyring> = rings.iter().map(|b| b.as_ref()).collect();
            let ec: EncryptionContext = t["encryption-context"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            for chunk in [message.len(), 4096, 513, 7, 1] {
                let (out, r) = decrypt(&message, &rings, &ec, chunk);
                match &t["result"] {
                    Value::Object(res) if res.contains_key("output") => {
                        let want = std::fs::read(file_uri(
                            &dir,
                            res["output"]["plaintext"].as_str().unwrap(),
                        ))
                        .unwrap();
                        r.unwrap_or_else(|e| panic!("{set}/{id} (chunks of {chunk}): {e}"));
                        assert!(out == want, "{set}/{id}: wrong plaintext");
                    }
                    _ => {
                        let e = r.expect_err(&format!("{set}/{id} must fail"));
                        assert!(
                            matches!(e, Error::HeaderAuthentication | Error::UnstoredContext(_)),
                            "{set}/{id}: {e}"
                        );
                        assert!(out.is_empty(), "{set}/{id} released plaintext");
                    }
                }
            }
            if t["result"].get("output").is_some() {
                passed += 1;
            } else {
                rejected += 1;
            }
        }
    }
    assert_eq!((passed, rejected), (104, 28));
}
