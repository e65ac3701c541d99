//! A direct JSON writer for the hot-path responses (Encrypt, Decrypt,
//! ReEncrypt, GenerateDataKey*).
//!
//! serde_json checks every byte of every string for characters to escape;
//! for a 1.5 KB base64 blob that was the largest single cost of an Encrypt
//! response. The strings these responses hold are base64, hex, enum names and
//! ARNs, none of which needs escaping; the writer checks that (cheaply) for
//! the non-base64 strings and falls back to serde_json's escaping otherwise.
//! Tests compare every writer with the serde output.

use crate::ops::*;
use crate::ModelEnum;

/// Implemented by responses with a direct writer.
pub trait WriteJson {
    /// Append the JSON object.
    fn write_json(&self, out: &mut Vec<u8>);

    /// An upper bound of the object's length. Writing into a buffer of this
    /// capacity never reallocates, so a response that carries a secret
    /// leaves no copy of it behind in freed memory.
    fn json_capacity(&self) -> usize;
}

/// Room for the names, ARNs, ids and enum values of any response here.
const FIXED: usize = 1024;

/// Length of the base64 of `n` bytes.
fn b64(n: usize) -> usize {
    n.div_ceil(3) * 4
}

struct Obj<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, first: true }
    }

    fn name(&mut self, name: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn blob(&mut self, name: &str, bytes: &[u8]) {
        self.name(name);
        self.out.push(b'"');
        base64_simd::STANDARD.encode_append(bytes, self.out);
        self.out.push(b'"');
    }

    fn str(&mut self, name: &str, s: &str) {
        self.name(name);
        if s.bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
        {
            self.out.push(b'"');
            self.out.extend_from_slice(s.as_bytes());
            self.out.push(b'"');
        } else {
            // Unreachable for the values these responses carry, kept correct.
            let _ = serde_json::to_writer(&mut *self.out, s);
        }
    }

    fn finish(self) {
        self.out.push(b'}');
    }
}

impl WriteJson for EncryptResponse {
    fn json_capacity(&self) -> usize {
        FIXED + b64(self.ciphertext_blob.0.len()) + self.key_id.len()
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.blob("CiphertextBlob", &self.ciphertext_blob.0);
        o.str("KeyId", &self.key_id);
        o.str("EncryptionAlgorithm", self.encryption_algorithm.as_str());
        o.finish();
    }
}

impl WriteJson for DecryptResponse {
    fn json_capacity(&self) -> usize {
        FIXED + b64(self.plaintext.0.len()) + self.key_id.len()
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.str("KeyId", &self.key_id);
        o.blob("Plaintext", &self.plaintext.0);
        o.str("EncryptionAlgorithm", self.encryption_algorithm.as_str());
        if let Some(id) = &self.key_material_id {
            o.str("KeyMaterialId", id);
        }
        o.finish();
    }
}

impl WriteJson for ReEncryptResponse {
    fn json_capacity(&self) -> usize {
        FIXED + b64(self.ciphertext_blob.0.len()) + self.key_id.len() + self.source_key_id.len()
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.blob("CiphertextBlob", &self.ciphertext_blob.0);
        o.str("SourceKeyId", &self.source_key_id);
        o.str("KeyId", &self.key_id);
        o.str(
            "SourceEncryptionAlgorithm",
            self.source_encryption_algorithm.as_str(),
        );
        o.str(
            "DestinationEncryptionAlgorithm",
            self.destination_encryption_algorithm.as_str(),
        );
        if let Some(id) = &self.source_key_material_id {
            o.str("SourceKeyMaterialId", id);
        }
        if let Some(id) = &self.destination_key_material_id {
            o.str("DestinationKeyMaterialId", id);
        }
        o.finish();
    }
}

impl WriteJson for GenerateDataKeyResponse {
    fn json_capacity(&self) -> usize {
        FIXED + b64(self.ciphertext_blob.0.len()) + b64(self.plaintext.0.len()) + self.key_id.len()
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.blob("CiphertextBlob", &self.ciphertext_blob.0);
        o.blob("Plaintext", &self.plaintext.0);
        o.str("KeyId", &self.key_id);
        o.str("KeyMaterialId", &self.key_material_id);
        o.finish();
    }
}

impl WriteJson for GenerateDataKeyWithoutPlaintextResponse {
    fn json_capacity(&self) -> usize {
        FIXED + b64(self.ciphertext_blob.0.len()) + self.key_id.len()
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.blob("CiphertextBlob", &self.ciphertext_blob.0);
        o.str("KeyId", &self.key_id);
        o.str("KeyMaterialId", &self.key_material_id);
        o.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Blob, EncryptionAlgorithmSpec, SecretBlob};
    use serde::Serialize;

    fn same<T: WriteJson + Serialize>(v: &T) {
        let mut fast = Vec::new();
        v.write_json(&mut fast);
        assert!(fast.len() <= v.json_capacity(), "capacity bound");
        let fast: serde_json::Value = serde_json::from_slice(&fast).unwrap();
        assert_eq!(fast, serde_json::to_value(v).unwrap());
    }

    #[test]
    fn writers_match_serde() {
        let arn: std::sync::Arc<str> =
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab".into();
        let odd: std::sync::Arc<str> = "needs \"escaping\" \\ \u{1}".into();
        let blob = Blob((0..=255u8).collect());
        for key_id in [arn.clone(), odd.clone()] {
            same(&EncryptResponse {
                ciphertext_blob: blob.clone(),
                key_id: key_id.clone(),
                encryption_algorithm: EncryptionAlgorithmSpec::SymmetricDefault,
            });
            same(&DecryptResponse {
                key_id: key_id.clone(),
                plaintext: SecretBlob::new(vec![1, 2, 3].into()),
                encryption_algorithm: EncryptionAlgorithmSpec::SymmetricDefault,
                key_material_id: Some("ab".repeat(32).into()),
            });
            same(&DecryptResponse {
                key_id: key_id.clone(),
                plaintext: SecretBlob::new(vec![1, 2, 3].into()),
                encryption_algorithm: EncryptionAlgorithmSpec::RsaesOaepSha256,
                key_material_id: None,
            });
            same(&ReEncryptResponse {
                ciphertext_blob: blob.clone(),
                source_key_id: key_id.clone(),
                key_id: arn.clone(),
                source_encryption_algorithm: EncryptionAlgorithmSpec::SymmetricDefault,
                destination_encryption_algorithm: EncryptionAlgorithmSpec::SymmetricDefault,
                source_key_material_id: Some("cd".repeat(32).into()),
                destination_key_material_id: None,
            });
            same(&GenerateDataKeyResponse {
                ciphertext_blob: blob.clone(),
                plaintext: SecretBlob::new(vec![9; 32].into()),
                key_id: key_id.clone(),
                key_material_id: "01".repeat(32).into(),
            });
            same(&GenerateDataKeyWithoutPlaintextResponse {
                ciphertext_blob: Blob(vec![]),
                key_id,
                key_material_id: "01".repeat(32).into(),
            });
        }
    }
}
