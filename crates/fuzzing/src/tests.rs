//! The fuzz targets in the test suite: every seed of `fuzz/corpus/`, then a
//! short deterministic mutation run of each (a smoke run that fits CI; the
//! coverage-guided runs are `fuzz/run.sh`).

use super::*;
use std::path::PathBuf;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// xorshift64*: reproducible mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"null",
    b"true",
    b"-1",
    b"1e999",
    b"\\u0000",
    b"\"\"",
    b"{}",
    b"[]",
    b"%",
    b"%2F",
    b"..",
    b"/",
    b"\n",
    b"=",
    b";",
    b"AWS4-HMAC-SHA256",
    b"arn:aws:kms:",
    b"alias/",
    b"mrk-",
    b"TK\x01\x01",
    b"\xff",
    b"\x00",
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut v = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let end = (at + 1 + rng.below(8)).min(v.len());
                v.drain(at.min(end)..end);
            }
            2 => {
                let word = INTERESTING[rng.below(INTERESTING.len())];
                v.splice(at..at, word.iter().copied());
            }
            3 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                let to = (from + rng.below(64)).min(other.len());
                v.splice(at..at, other[from..to].iter().copied());
            }
            4 => {
                let b = rng.next() as u8;
                v.splice(at..at, std::iter::repeat_n(b, 1 + rng.below(16)));
            }
            _ => {
                if !v.is_empty() {
                    let i = rng.below(v.len());
                    v[i] = rng.next() as u8;
                }
            }
        }
    }
    v
}

fn smoke(name: &str, runs: usize) {
    let target = TARGETS.iter().find(|(n, _)| *n == name).unwrap().1;
    let seeds = corpus(name);
    assert!(
        seeds.len() >= 3,
        "fuzz/corpus/{name} holds {} seeds",
        seeds.len()
    );
    for s in &seeds {
        target(s);
    }
    let mut rng = Rng(0x5eed_0000 + name.len() as u64);
    for _ in 0..runs {
        target(&mutate(&mut rng, &seeds));
    }
}

#[test]
fn operation_smoke() {
    smoke("operation", 4_000);
}

#[test]
fn blob_smoke() {
    smoke("blob", 50_000);
}

#[test]
fn sigv4_smoke() {
    smoke("sigv4", 50_000);
}

#[test]
fn policy_smoke() {
    smoke("policy", 10_000);
}

#[test]
fn encryption_context_smoke() {
    smoke("encryption_context", 50_000);
}

#[test]
fn lookup_events_smoke() {
    smoke("lookup_events", 20_000);
}

#[test]
fn sts_form_smoke() {
    smoke("sts_form", 50_000);
}

#[test]
fn envelope_decrypt_smoke() {
    smoke("envelope_decrypt", 20_000);
}

#[test]
fn every_target_has_a_cargo_fuzz_binary() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/fuzz_targets");
    for (name, _) in TARGETS {
        assert!(dir.join(format!("{name}.rs")).exists(), "{name}");
    }
}

/// Seeds name the key the fuzzing service creates first.
#[test]
fn the_seed_key_exists_in_a_fresh_service() {
    let s = service();
    let (status, out) = s.runtime.block_on(trent_server::run_operation(
        &s.kms,
        &s.caller,
        Operation::DescribeKey,
        b"{\"KeyId\":\"alias/fuzz\"}",
    ));
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["KeyMetadata"]["KeyId"], SEED_KEY_ID);
}

/// Write the seed corpus (run once, by hand, after a change that breaks it:
/// `cargo test -p trent-fuzzing write_seeds -- --ignored`).
#[test]
#[ignore]
fn write_seeds() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    let k = SEED_KEY_ID;
    let s = service();
    let (_, blob) = s.runtime.block_on(trent_server::run_operation(
        &s.kms,
        &s.caller,
        Operation::Encrypt,
        format!("{{\"KeyId\":\"{k}\",\"Plaintext\":\"aGVsbG8=\",\"EncryptionContext\":{{\"a\":\"b\"}}}}")
            .as_bytes(),
    ));
    let blob: serde_json::Value = serde_json::from_slice(&blob).unwrap();
    let blob = blob["CiphertextBlob"].as_str().unwrap().to_string();
    let policy = trent_core::policy::default_policy("arn:aws:iam::111122223333:root");
    let id = |spec: &str, usage: &str| {
        SEED_ASYMMETRIC_KEYS
            .iter()
            .find(|(s, u, _)| *s == spec && *u == usage)
            .map(|(_, _, id)| *id)
            .unwrap()
    };
    let (p256, rsa, hmac) = (
        id("ECC_NIST_P256", "SIGN_VERIFY"),
        id("RSA_2048", "ENCRYPT_DECRYPT"),
        id("HMAC_256", "GENERATE_VERIFY_MAC"),
    );
    let (ecdh, kem, dsa, ed) = (
        id("ECC_NIST_P384", "KEY_AGREEMENT"),
        id("ML_KEM_768", "ENCAPSULATE_DECAPSULATE"),
        id("ML_DSA_44", "SIGN_VERIFY"),
        id("ECC_NIST_EDWARDS25519", "SIGN_VERIFY"),
    );
    let call = |op: Operation, body: String| -> serde_json::Value {
        let (_, out) = s.runtime.block_on(trent_server::run_operation(
            &s.kms,
            &s.caller,
            op,
            body.as_bytes(),
        ));
        serde_json::from_slice(&out).unwrap()
    };
    let peer = call(Operation::GetPublicKey, format!("{{\"KeyId\":\"{ecdh}\"}}"))["PublicKey"]
        .as_str()
        .unwrap()
        .to_string();
    let p256_sig = call(
        Operation::Sign,
        format!("{{\"KeyId\":\"{p256}\",\"Message\":\"aGVsbG8=\",\"SigningAlgorithm\":\"ECDSA_SHA_256\"}}"),
    )["Signature"]
        .as_str()
        .unwrap()
        .to_string();
    let rsa_ct = call(
        Operation::Encrypt,
        format!("{{\"KeyId\":\"{rsa}\",\"Plaintext\":\"aGVsbG8=\",\"EncryptionAlgorithm\":\"RSAES_OAEP_SHA_256\"}}"),
    )["CiphertextBlob"]
        .as_str()
        .unwrap()
        .to_string();
    let kem_ct = call(
        Operation::Encapsulate,
        format!("{{\"KeyId\":\"{kem}\",\"EncapsulationAlgorithm\":\"ML_KEM\"}}"),
    )["SharedSecretCiphertextBlob"]
        .as_str()
        .unwrap()
        .to_string();
    let mac = call(
        Operation::GenerateMac,
        format!(
            "{{\"KeyId\":\"{hmac}\",\"Message\":\"aGVsbG8=\",\"MacAlgorithm\":\"HMAC_SHA_256\"}}"
        ),
    )["Mac"]
        .as_str()
        .unwrap()
        .to_string();
    let digest32 = "A".repeat(43) + "=";
    let digest64 = "A".repeat(86) + "==";
    let bodies: Vec<(Operation, String)> = vec![
        (Operation::CreateKey, "{}".into()),
        (Operation::CreateKey, format!("{{\"Description\":\"d\",\"KeyUsage\":\"ENCRYPT_DECRYPT\",\"KeySpec\":\"SYMMETRIC_DEFAULT\",\"Origin\":\"AWS_KMS\",\"Tags\":[{{\"TagKey\":\"a\",\"TagValue\":\"b\"}}],\"Policy\":{},\"BypassPolicyLockoutSafetyCheck\":false,\"MultiRegion\":false}}", serde_json::to_string(&policy).unwrap())),
        (Operation::Encrypt, format!("{{\"KeyId\":\"{k}\",\"Plaintext\":\"aGVsbG8=\",\"EncryptionContext\":{{\"a\":\"b\"}},\"EncryptionAlgorithm\":\"SYMMETRIC_DEFAULT\"}}")),
        (Operation::Encrypt, "{\"KeyId\":\"alias/fuzz\",\"Plaintext\":\"AA==\",\"DryRun\":true}".into()),
        (Operation::Decrypt, format!("{{\"CiphertextBlob\":\"{blob}\",\"EncryptionContext\":{{\"a\":\"b\"}}}}")),
        (Operation::Decrypt, format!("{{\"CiphertextBlob\":\"{blob}\",\"KeyId\":\"{k}\",\"EncryptionContext\":{{\"a\":\"b\"}},\"GrantTokens\":[\"t\"]}}")),
        (Operation::Decrypt, format!("{{\"KeyId\":\"{k}\",\"DryRun\":true,\"DryRunModifiers\":[\"IGNORE_CIPHERTEXT\"]}}")),
        (Operation::ReEncrypt, format!("{{\"CiphertextBlob\":\"{blob}\",\"SourceEncryptionContext\":{{\"a\":\"b\"}},\"DestinationKeyId\":\"alias/fuzz\",\"DestinationEncryptionContext\":{{\"c\":\"d\"}}}}")),
        (Operation::GenerateDataKey, format!("{{\"KeyId\":\"{k}\",\"KeySpec\":\"AES_256\",\"EncryptionContext\":{{\"x\":\"y\"}}}}")),
        (Operation::GenerateDataKey, format!("{{\"KeyId\":\"{k}\",\"NumberOfBytes\":64}}")),
        (Operation::GenerateDataKeyWithoutPlaintext, format!("{{\"KeyId\":\"{k}\",\"KeySpec\":\"AES_128\"}}")),
        (Operation::GenerateRandom, "{\"NumberOfBytes\":32}".into()),
        (Operation::DescribeKey, format!("{{\"KeyId\":\"arn:aws:kms:us-east-1:111122223333:key/{k}\"}}")),
        (Operation::DescribeKey, "{\"KeyId\":\"arn:aws:kms:us-east-1:111122223333:alias/fuzz\"}".into()),
        (Operation::ListKeys, "{\"Limit\":1,\"ResourceOwners\":[\"SELF\"]}".into()),
        (Operation::UpdateKeyDescription, format!("{{\"KeyId\":\"{k}\",\"Description\":\"new\"}}")),
        (Operation::GetKeyLastUsage, format!("{{\"KeyId\":\"{k}\"}}")),
        (Operation::DisableKey, format!("{{\"KeyId\":\"{k}\"}}")),
        (Operation::EnableKey, format!("{{\"KeyId\":\"{k}\"}}")),
        (Operation::ScheduleKeyDeletion, format!("{{\"KeyId\":\"{k}\",\"PendingWindowInDays\":7}}")),
        (Operation::CancelKeyDeletion, format!("{{\"KeyId\":\"{k}\"}}")),
        (Operation::CreateAlias, format!("{{\"AliasName\":\"alias/another\",\"TargetKeyId\":\"{k}\"}}")),
        (Operation::UpdateAlias, format!("{{\"AliasName\":\"alias/fuzz\",\"TargetKeyId\":\"{k}\"}}")),
        (Operation::DeleteAlias, "{\"AliasName\":\"alias/fuzz\"}".into()),
        (Operation::ListAliases, format!("{{\"KeyId\":\"{k}\",\"Limit\":10}}")),
        (Operation::TagResource, format!("{{\"KeyId\":\"{k}\",\"Tags\":[{{\"TagKey\":\"k\",\"TagValue\":\"v\"}}]}}")),
        (Operation::UntagResource, format!("{{\"KeyId\":\"{k}\",\"TagKeys\":[\"k\"]}}")),
        (Operation::ListResourceTags, format!("{{\"KeyId\":\"{k}\",\"Limit\":5}}")),
        (Operation::EnableKeyRotation, format!("{{\"KeyId\":\"{k}\",\"RotationPeriodInDays\":90}}")),
        (Operation::DisableKeyRotation, format!("{{\"KeyId\":\"{k}\"}}")),
        (Operation::GetKeyRotationStatus, format!("{{\"KeyId\":\"{k}\"}}")),
        (Operation::RotateKeyOnDemand, format!("{{\"KeyId\":\"{k}\"}}")),
        (Operation::ListKeyRotations, format!("{{\"KeyId\":\"{k}\",\"IncludeKeyMaterial\":\"ALL_KEY_MATERIAL\"}}")),
        (Operation::GetKeyPolicy, format!("{{\"KeyId\":\"{k}\",\"PolicyName\":\"default\"}}")),
        (Operation::PutKeyPolicy, format!("{{\"KeyId\":\"{k}\",\"PolicyName\":\"default\",\"Policy\":{}}}", serde_json::to_string(&policy).unwrap())),
        (Operation::ListKeyPolicies, format!("{{\"KeyId\":\"{k}\"}}")),
        (Operation::CreateGrant, format!("{{\"KeyId\":\"{k}\",\"GranteePrincipal\":\"arn:aws:iam::111122223333:role/r\",\"Operations\":[\"Encrypt\"]}}")),
        (Operation::Sign, format!("{{\"KeyId\":\"{k}\",\"Message\":\"AA==\",\"SigningAlgorithm\":\"ECDSA_SHA_256\"}}")),
        (Operation::CreateKey, "{\"KeySpec\":\"ECC_SECG_P256K1\",\"KeyUsage\":\"SIGN_VERIFY\"}".into()),
        (Operation::Sign, format!("{{\"KeyId\":\"{p256}\",\"Message\":\"aGVsbG8=\",\"MessageType\":\"RAW\",\"SigningAlgorithm\":\"ECDSA_SHA_256\"}}")),
        (Operation::Sign, format!("{{\"KeyId\":\"{p256}\",\"Message\":\"{digest32}\",\"MessageType\":\"DIGEST\",\"SigningAlgorithm\":\"ECDSA_SHA_256\",\"GrantTokens\":[\"t\"]}}")),
        (Operation::Verify, format!("{{\"KeyId\":\"{p256}\",\"Message\":\"aGVsbG8=\",\"Signature\":\"{p256_sig}\",\"SigningAlgorithm\":\"ECDSA_SHA_256\"}}")),
        (Operation::Sign, format!("{{\"KeyId\":\"{dsa}\",\"Message\":\"{digest64}\",\"MessageType\":\"EXTERNAL_MU\",\"SigningAlgorithm\":\"ML_DSA_SHAKE_256\"}}")),
        (Operation::Sign, format!("{{\"KeyId\":\"{ed}\",\"Message\":\"{digest64}\",\"MessageType\":\"DIGEST\",\"SigningAlgorithm\":\"ED25519_PH_SHA_512\"}}")),
        (Operation::GetPublicKey, format!("{{\"KeyId\":\"{rsa}\"}}")),
        (Operation::Encrypt, format!("{{\"KeyId\":\"{rsa}\",\"Plaintext\":\"aGVsbG8=\",\"EncryptionAlgorithm\":\"RSAES_OAEP_SHA_1\"}}")),
        (Operation::Decrypt, format!("{{\"KeyId\":\"{rsa}\",\"CiphertextBlob\":\"{rsa_ct}\",\"EncryptionAlgorithm\":\"RSAES_OAEP_SHA_256\"}}")),
        (Operation::ReEncrypt, format!("{{\"CiphertextBlob\":\"{rsa_ct}\",\"SourceKeyId\":\"{rsa}\",\"SourceEncryptionAlgorithm\":\"RSAES_OAEP_SHA_256\",\"DestinationKeyId\":\"{k}\"}}")),
        (Operation::GenerateMac, format!("{{\"KeyId\":\"{hmac}\",\"Message\":\"aGVsbG8=\",\"MacAlgorithm\":\"HMAC_SHA_256\"}}")),
        (Operation::VerifyMac, format!("{{\"KeyId\":\"{hmac}\",\"Message\":\"aGVsbG8=\",\"Mac\":\"{mac}\",\"MacAlgorithm\":\"HMAC_SHA_256\"}}")),
        (Operation::DeriveSharedSecret, format!("{{\"KeyId\":\"{ecdh}\",\"KeyAgreementAlgorithm\":\"ECDH\",\"PublicKey\":\"{peer}\"}}")),
        (Operation::Encapsulate, format!("{{\"KeyId\":\"{kem}\",\"EncapsulationAlgorithm\":\"ML_KEM\"}}")),
        (Operation::Decapsulate, format!("{{\"KeyId\":\"{kem}\",\"SharedSecretCiphertextBlob\":\"{kem_ct}\",\"EncapsulationAlgorithm\":\"ML_KEM\"}}")),
        (Operation::CreateKey, "{\"MultiRegion\":true,\"Origin\":\"EXTERNAL\"}".into()),
        (Operation::ReplicateKey, format!("{{\"KeyId\":\"{k}\",\"ReplicaRegion\":\"eu-west-1\",\"Description\":\"r\",\"Tags\":[{{\"TagKey\":\"a\",\"TagValue\":\"b\"}}],\"BypassPolicyLockoutSafetyCheck\":false}}")),
        (Operation::UpdatePrimaryRegion, format!("{{\"KeyId\":\"{k}\",\"PrimaryRegion\":\"eu-west-1\"}}")),
        (Operation::GetParametersForImport, format!("{{\"KeyId\":\"{k}\",\"WrappingAlgorithm\":\"RSA_AES_KEY_WRAP_SHA_256\",\"WrappingKeySpec\":\"RSA_2048\"}}")),
        (Operation::ImportKeyMaterial, format!("{{\"KeyId\":\"{k}\",\"ImportToken\":\"{blob}\",\"EncryptedKeyMaterial\":\"{blob}\",\"ExpirationModel\":\"KEY_MATERIAL_EXPIRES\",\"ValidTo\":1900000000.5,\"ImportType\":\"EXISTING_KEY_MATERIAL\",\"KeyMaterialId\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"KeyMaterialDescription\":\"from hsm\"}}")),
        (Operation::DeleteImportedKeyMaterial, format!("{{\"KeyId\":\"{k}\",\"KeyMaterialId\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}}")),
        (Operation::GenerateDataKeyPair, format!("{{\"KeyId\":\"{k}\",\"KeyPairSpec\":\"ECC_NIST_P256\",\"EncryptionContext\":{{\"a\":\"b\"}}}}")),
        (Operation::GenerateDataKeyPairWithoutPlaintext, format!("{{\"KeyId\":\"{k}\",\"KeyPairSpec\":\"ECC_NIST_EDWARDS25519\"}}")),
    ];
    for (i, (op, body)) in bodies.iter().enumerate() {
        let index = Operation::ALL.iter().position(|o| o == op).unwrap() as u8;
        let mut bytes = vec![index];
        bytes.extend_from_slice(body.as_bytes());
        write("operation", &format!("{i:02}-{}", op.name()), &bytes);
    }
    let vectors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../testdata/ciphertext/blob-v1.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for (i, v) in vectors["must_open"]
        .as_array()
        .unwrap()
        .iter()
        .chain(vectors["must_fail"].as_array().unwrap())
        .enumerate()
    {
        let bytes: Vec<u8> = (0..v["blob"].as_str().unwrap().len() / 2)
            .map(|j| {
                u8::from_str_radix(&v["blob"].as_str().unwrap()[2 * j..2 * j + 2], 16).unwrap()
            })
            .collect();
        write("blob", &format!("{i:02}"), &bytes);
    }
    let sig = "6".repeat(64);
    let auth = format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={sig}");
    let common = "content-type: application/x-amz-json-1.1\nhost: 127.0.0.1:8080\nx-amz-date: 20260101T000000Z\nx-amz-target: TrentService.Encrypt";
    for (i, text) in [
        format!("{auth}\n20260101T000000Z\n/\n{common}"),
        format!("{auth}\n20260101T000500Z\n/a/./b/../c?b=2&a=1&a=0\n{common}\nx-amz-meta:  a   b  \nX-Amz-Meta: second"),
        format!("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kms/aws4_request,SignedHeaders=host;x-amz-date,Signature={sig}\n20260101T000000Z\n/\nhost: h\nx-amz-date: 20260101T000000Z"),
        format!("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-gov-west-1/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature={sig}\n20260101T000000Z\n/\n{common}\nx-amz-security-token: FwoGZXIvYXdzE\n"),
        "AWS AKIDEXAMPLE:c2lnbmF0dXJl\n\n/\nhost: h".to_string(),
        "AWS4-HMAC-SHA512 Credential=a\n20260101T000000Z\n/".to_string(),
        format!("{auth}\n20261301T256000Z\n/%2F%41?x=%zz\n{common}"),
    ]
    .iter()
    .enumerate()
    {
        write("sigv4", &format!("{i:02}"), text.as_bytes());
    }
    for (i, text) in [
        policy.clone(),
        r#"{"Version":"2012-10-17","Id":"p","Statement":{"Sid":"One","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}}"#.to_string(),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":["111122223333","arn:aws:iam::111122223333:role/r"]},"NotAction":["kms:Decrypt","kms:Encrypt"],"NotResource":"arn:aws:kms:*:*:key/*","Condition":{"StringEquals":{"kms:EncryptionContext:app":"x"},"ForAnyValue:StringLike":{"kms:EncryptionContextKeys":["a*"]},"Bool":{"aws:SecureTransport":"false"},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#.to_string(),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"logs.amazonaws.com"},"Action":"kms:Encrypt*","Resource":"*","Condition":{"NumericLessThan":{"kms:RotationPeriodInDays":"365"},"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"},"Null":{"kms:GranteePrincipal":"true"}}}]}"#.to_string(),
        r#"{"Statement":[]}"#.to_string(),
        r#"[1,2,3]"#.to_string(),
    ]
    .iter()
    .enumerate()
    {
        write("policy", &format!("{i:02}"), text.as_bytes());
    }
    for (i, text) in [
        "{}",
        r#"{"a":"b"}"#,
        r#"{"purpose":"test","app":"trent","":""}"#,
        r#"{"k\u00e9y":"v\u2603","\u0000":"\ud83d\ude00"}"#,
        r#"{"dup":"1","dup":"2"}"#,
        r#"{"a":1}"#,
    ]
    .iter()
    .enumerate()
    {
        write("encryption_context", &format!("{i:02}"), text.as_bytes());
    }
}

/// Write the `envelope_decrypt` seeds: messages under the fuzz keyring's key
/// in several suites and frame lengths (run by hand:
/// `cargo test -p trent-fuzzing write_envelope_seeds -- --ignored`).
#[test]
#[ignore]
fn write_envelope_seeds() {
    use trent_envelope::raw::{wrap_all, RawAesKeyring};
    use trent_envelope::{CommitmentPolicy, EncryptConfig, Encryptor, Suite};
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/envelope_decrypt");
    std::fs::create_dir_all(&dir).unwrap();
    let ring = RawAesKeyring::new("fuzz", "fuzz-key", &crate::ENVELOPE_KEY).unwrap();
    let cases = [
        (Suite::Aes256HkdfSha512CommitEcdsaP384, 16, 40, true),
        (Suite::Aes256HkdfSha512Commit, 4096, 100, false),
        (Suite::Aes256HkdfSha512Commit, 16, 32, true),
        (Suite::Aes256HkdfSha384EcdsaP384, 64, 10, true),
        (Suite::Aes128HkdfSha256EcdsaP256, 16, 0, false),
        (Suite::Aes128NoKdf, 32, 70, true),
    ];
    for (i, (suite, frame, len, ec)) in cases.into_iter().enumerate() {
        let policy = if suite.committing() {
            CommitmentPolicy::RequireEncryptRequireDecrypt
        } else {
            CommitmentPolicy::ForbidEncryptAllowDecrypt
        };
        let mut e = Encryptor::new(EncryptConfig {
            suite,
            policy,
            frame_length: frame,
            encryption_context: if ec {
                [("purpose", "fuzz")].into_iter().collect()
            } else {
                Default::default()
            },
            required_context_keys: vec![],
        })
        .unwrap();
        wrap_all(&mut e, &[&ring]).unwrap();
        let mut out = Vec::new();
        e.update(&vec![0x61; len], &mut out).unwrap();
        e.finish(&mut out).unwrap();
        std::fs::write(dir.join(format!("{i:02}-{:04x}", suite.id())), out).unwrap();
    }
    // A message that also carries a KMS-wrapped key (a multi-Region key of
    // another Region), for the KMS keyring's candidate rules.
    let mut e = Encryptor::new(EncryptConfig::default()).unwrap();
    wrap_all(&mut e, &[&ring]).unwrap();
    e.add_encrypted_data_key(trent_envelope::EncryptedDataKey {
        provider_id: trent_envelope::kms::PROVIDER_ID.into(),
        provider_info: b"arn:aws:kms:us-east-1:111122223333:key/mrk-0123456789abcdef".to_vec(),
        ciphertext: vec![1; 48],
    })
    .unwrap();
    let mut out = Vec::new();
    e.update(b"kms", &mut out).unwrap();
    e.finish(&mut out).unwrap();
    std::fs::write(dir.join("06-0578-kms"), out).unwrap();
}
