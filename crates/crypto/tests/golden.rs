//! Golden vectors: `testdata/ciphertext/*.json`, computed from the formulas
//! in `docs/ciphertext-format.md` by an independent implementation
//! (`testdata/ciphertext/generate.py`). Every must-open vector must seal to
//! exactly its bytes and open to its plaintext; every must-fail case must be
//! refused, whether by the header parser or by authentication.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use trent_core::blob::{encode_context, parse, Header};
use trent_core::ids::{AccountId, KeyId};
use trent_core::{CryptoProvider, KeyHandle, RootKey, SecretBytes};
use trent_crypto::{SoftRootKey, SoftwareProvider};

fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/ciphertext")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn context(v: &Value) -> Vec<u8> {
    let map: BTreeMap<String, String> = v
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    encode_context(&map)
}

fn key(material: &Value) -> std::sync::Arc<dyn KeyHandle> {
    SoftwareProvider::new()
        .load_key(
            trent_proto::KeySpec::SymmetricDefault,
            &SecretBytes::new(bytes(material)),
        )
        .unwrap()
}

/// Parse and open, as Decrypt does: `None` for any refusal.
fn open(material: &Value, blob: &[u8], ctx: &Value) -> Option<Vec<u8>> {
    let parsed = parse(blob).ok()?;
    key(material)
        .open(parsed.header_bytes, &context(ctx), parsed.sealed)
        .ok()
        .map(|p| p.expose().to_vec())
}

#[test]
fn blobs_seal_to_the_exact_bytes_and_open() {
    let doc = load("blob-v1.json");
    let cases = doc["must_open"].as_array().unwrap();
    assert!(cases.len() >= 5);
    for v in cases {
        let name = v["name"].as_str().unwrap();
        let header = Header {
            account: AccountId::parse(v["account"].as_str().unwrap()).unwrap(),
            key_id: KeyId::parse(v["key_id"].as_str().unwrap()).unwrap(),
            version: u32::try_from(v["version"].as_u64().unwrap()).unwrap(),
            nonce: bytes(&v["nonce"]).try_into().unwrap(),
        }
        .encode();
        let plaintext = bytes(&v["plaintext"]);
        let mut blob = header.to_vec();
        key(&v["material"])
            .seal(&header, &context(&v["context"]), &plaintext, &mut blob)
            .unwrap();
        assert_eq!(hex::encode(&blob), v["blob"].as_str().unwrap(), "{name}");
        assert_eq!(
            open(&v["material"], &blob, &v["context"]).as_deref(),
            Some(&plaintext[..]),
            "{name}"
        );
        let parsed = parse(&blob).unwrap();
        assert_eq!(
            parsed.header.key_id.to_string(),
            v["key_id"].as_str().unwrap()
        );
    }
}

#[test]
fn changed_blobs_and_contexts_are_refused() {
    let doc = load("blob-v1.json");
    let cases = doc["must_fail"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for v in cases {
        let name = v["name"].as_str().unwrap();
        assert_eq!(
            open(&v["material"], &bytes(&v["blob"]), &v["context"]),
            None,
            "{name} was accepted"
        );
    }
}

#[test]
fn root_wrapped_material_unwraps_and_changes_are_refused() {
    let doc = load("root-wrap-v1.json");
    let root = SoftRootKey::from_bytes(&bytes(&doc["root_key"])).unwrap();
    for v in doc["must_unwrap"].as_array().unwrap() {
        let aad = v["aad"].as_str().unwrap().as_bytes();
        let got = root.unwrap(&bytes(&v["wrapped"]), aad).unwrap();
        assert_eq!(got.expose(), &bytes(&v["material"])[..]);
        // Trent's own wrapping has the same shape and round-trips.
        let again = root.wrap(&got, aad).unwrap();
        assert_eq!(again.len(), bytes(&v["wrapped"]).len());
        assert_eq!(again[0], 1);
        assert_eq!(root.unwrap(&again, aad).unwrap(), got);
    }
    for v in doc["must_fail"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let aad = v["aad"].as_str().unwrap().as_bytes();
        assert!(
            root.unwrap(&bytes(&v["wrapped"]), aad).is_err(),
            "{name} was accepted"
        );
    }
}
