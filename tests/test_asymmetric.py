"""Asymmetric, post-quantum and HMAC keys through boto3 and the AWS CLI,
checked against independent implementations (Python `cryptography`)."""

import hashlib
import hmac as pyhmac
import os

import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, mlkem, padding, rsa

from conftest import error_of, new_key

HASHES = {"SHA_256": hashes.SHA256(), "SHA_384": hashes.SHA384(), "SHA_512": hashes.SHA512()}

RSA_SIGNING = [
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
]
ECC_SIGNING = {
    "ECC_NIST_P256": "ECDSA_SHA_256",
    "ECC_NIST_P384": "ECDSA_SHA_384",
    "ECC_NIST_P521": "ECDSA_SHA_512",
    "ECC_SECG_P256K1": "ECDSA_SHA_256",
}


@pytest.fixture(scope="module")
def keys(kms):
    """One key of every spec and usage, made once for the module."""
    made = {}

    def get(spec, usage):
        if (spec, usage) not in made:
            made[(spec, usage)] = new_key(kms, KeySpec=spec, KeyUsage=usage)
        return made[(spec, usage)]

    return get


def public_key(kms, key_id):
    der = kms.get_public_key(KeyId=key_id)["PublicKey"]
    return serialization.load_der_public_key(der)


def hash_of(algorithm):
    return HASHES[algorithm[-7:]]


def verify_outside(pub, algorithm, message, signature):
    """Verify with `cryptography`, as someone who downloaded the public key."""
    if algorithm.startswith("RSASSA_PSS"):
        h = hash_of(algorithm)
        pub.verify(signature, message, padding.PSS(padding.MGF1(h), h.digest_size), h)
    elif algorithm.startswith("RSASSA_PKCS1"):
        pub.verify(signature, message, padding.PKCS1v15(), hash_of(algorithm))
    elif algorithm.startswith("ECDSA"):
        pub.verify(signature, message, ec.ECDSA(hash_of(algorithm)))
    elif algorithm == "ED25519_SHA_512":
        pub.verify(signature, message)
    elif algorithm == "ML_DSA_SHAKE_256":
        pub.verify(signature, message)
    else:
        raise AssertionError(algorithm)


@pytest.mark.parametrize(
    "spec,algorithm",
    [(f"RSA_{n}", a) for n in (2048, 3072, 4096) for a in RSA_SIGNING]
    + list(ECC_SIGNING.items())
    + [("ECC_NIST_EDWARDS25519", "ED25519_SHA_512")]
    + [(f"ML_DSA_{n}", "ML_DSA_SHAKE_256") for n in (44, 65, 87)],
)
def test_signatures_verify_outside_and_inside(kms, keys, spec, algorithm):
    key = keys(spec, "SIGN_VERIFY")
    pub = public_key(kms, key["KeyId"])
    message = os.urandom(300)
    out = kms.sign(KeyId=key["KeyId"], Message=message, SigningAlgorithm=algorithm)
    assert out["KeyId"] == key["Arn"] and out["SigningAlgorithm"] == algorithm
    sig = out["Signature"]
    verify_outside(pub, algorithm, message, sig)
    with pytest.raises(InvalidSignature):
        verify_outside(pub, algorithm, message + b"!", sig)
    ok = kms.verify(KeyId=key["KeyId"], Message=message, Signature=sig, SigningAlgorithm=algorithm)
    assert ok["SignatureValid"] is True and ok["KeyId"] == key["Arn"]
    # Must fail: another message, a truncated signature.
    for m, s in [(message + b"!", sig), (message, sig[:-1])]:
        with pytest.raises(ClientError) as e:
            kms.verify(KeyId=key["KeyId"], Message=m, Signature=s, SigningAlgorithm=algorithm)
        assert error_of(e) == ("KMSInvalidSignatureException", "", 400)


@pytest.mark.parametrize(
    "spec,algorithm",
    [("RSA_2048", a) for a in RSA_SIGNING] + [(s, a) for s, a in ECC_SIGNING.items()],
)
def test_digest_signing_matches_the_message_signature(kms, keys, spec, algorithm):
    key = keys(spec, "SIGN_VERIFY")
    pub = public_key(kms, key["KeyId"])
    message = b"release-1.2.3.tar.gz contents"
    h = hash_of(algorithm)
    d = hashes.Hash(h)
    d.update(message)
    digest = d.finalize()
    sig = kms.sign(KeyId=key["KeyId"], Message=digest, MessageType="DIGEST", SigningAlgorithm=algorithm)["Signature"]
    verify_outside(pub, algorithm, message, sig)
    # What was signed as a digest verifies as the message, and vice versa.
    kms.verify(KeyId=key["KeyId"], Message=message, Signature=sig, SigningAlgorithm=algorithm)
    kms.verify(KeyId=key["KeyId"], Message=digest, MessageType="DIGEST", Signature=sig, SigningAlgorithm=algorithm)
    with pytest.raises(ClientError) as e:
        kms.sign(KeyId=key["KeyId"], Message=digest[:-1], MessageType="DIGEST", SigningAlgorithm=algorithm)
    assert error_of(e) == ("ValidationException", f"Digest is invalid length for algorithm {algorithm}.", 400)


def test_ed25519ph_verifies_with_an_independent_implementation(kms, keys):
    from Crypto.Hash import SHA512
    from Crypto.PublicKey import ECC
    from Crypto.Signature import eddsa

    key = keys("ECC_NIST_EDWARDS25519", "SIGN_VERIFY")
    pub = ECC.import_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    message = b"a large artifact, hashed by the caller"
    digest = hashlib.sha512(message).digest()
    sig = kms.sign(KeyId=key["KeyId"], Message=digest, MessageType="DIGEST", SigningAlgorithm="ED25519_PH_SHA_512")["Signature"]
    # pycryptodome signs and verifies Ed25519ph when handed a SHA-512 object.
    eddsa.new(pub, "rfc8032").verify(SHA512.new(message), sig)
    with pytest.raises(ValueError):
        eddsa.new(pub, "rfc8032").verify(SHA512.new(message + b"!"), sig)
    # Ed25519ph is not pure Ed25519.
    with pytest.raises(ValueError):
        eddsa.new(pub, "rfc8032").verify(message, sig)
    ok = kms.verify(KeyId=key["KeyId"], Message=digest, MessageType="DIGEST", Signature=sig, SigningAlgorithm="ED25519_PH_SHA_512")
    assert ok["SignatureValid"]
    with pytest.raises(ClientError) as e:
        kms.sign(KeyId=key["KeyId"], Message=message, SigningAlgorithm="ED25519_PH_SHA_512")
    assert error_of(e) == ("ValidationException", "Message type RAW is incompatible with algorithm ED25519_PH_SHA_512.", 400)


@pytest.mark.parametrize("n", [44, 65, 87])
def test_ml_dsa_external_mu_matches_the_message_signature(kms, keys, n):
    from cryptography.hazmat.primitives.asymmetric import mldsa

    key = keys(f"ML_DSA_{n}", "SIGN_VERIFY")
    pub = public_key(kms, key["KeyId"])
    message = b"firmware " + os.urandom(64)
    hasher = mldsa.MLDSAMuHasher(pub)
    hasher.update(message)
    mu = hasher.finalize()
    assert len(mu) == 64
    sig = kms.sign(KeyId=key["KeyId"], Message=mu, MessageType="EXTERNAL_MU", SigningAlgorithm="ML_DSA_SHAKE_256")["Signature"]
    # A signature of μ, computed outside, is a signature of the message.
    pub.verify(sig, message)
    kms.verify(KeyId=key["KeyId"], Message=message, Signature=sig, SigningAlgorithm="ML_DSA_SHAKE_256")
    kms.verify(KeyId=key["KeyId"], Message=mu, MessageType="EXTERNAL_MU", Signature=sig, SigningAlgorithm="ML_DSA_SHAKE_256")
    with pytest.raises(ClientError) as e:
        kms.verify(
            KeyId=key["KeyId"], Message=bytes([mu[0] ^ 1]) + mu[1:], MessageType="EXTERNAL_MU", Signature=sig, SigningAlgorithm="ML_DSA_SHAKE_256"
        )
    assert error_of(e) == ("KMSInvalidSignatureException", "", 400)


def test_describe_key_lists_exactly_what_aws_lists(kms, keys):
    cases = {
        ("RSA_2048", "SIGN_VERIFY"): ("SigningAlgorithms", RSA_SIGNING),
        ("RSA_3072", "ENCRYPT_DECRYPT"): ("EncryptionAlgorithms", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]),
        ("ECC_NIST_P384", "SIGN_VERIFY"): ("SigningAlgorithms", ["ECDSA_SHA_384"]),
        ("ECC_NIST_P256", "KEY_AGREEMENT"): ("KeyAgreementAlgorithms", ["ECDH"]),
        ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY"): ("SigningAlgorithms", ["ED25519_SHA_512", "ED25519_PH_SHA_512"]),
        ("ML_DSA_65", "SIGN_VERIFY"): ("SigningAlgorithms", ["ML_DSA_SHAKE_256"]),
        ("HMAC_384", "GENERATE_VERIFY_MAC"): ("MacAlgorithms", ["HMAC_SHA_384"]),
        ("ML_KEM_768", "ENCAPSULATE_DECAPSULATE"): ("EncapsulationAlgorithms", ["ML_KEM"]),
    }
    lists = {"EncryptionAlgorithms", "SigningAlgorithms", "KeyAgreementAlgorithms", "MacAlgorithms", "EncapsulationAlgorithms"}
    for (spec, usage), (field, values) in cases.items():
        md = kms.describe_key(KeyId=keys(spec, usage)["KeyId"])["KeyMetadata"]
        assert md["KeySpec"] == spec and md["CustomerMasterKeySpec"] == spec and md["KeyUsage"] == usage
        assert md[field] == values, (spec, md)
        assert not (lists - {field}) & set(md), (spec, md)
        # AWS reports CurrentKeyMaterialId for symmetric keys only.
        assert "CurrentKeyMaterialId" not in md


def test_get_public_key_shape(kms, keys):
    key = keys("RSA_2048", "ENCRYPT_DECRYPT")
    out = kms.get_public_key(KeyId=key["KeyId"])
    assert out["KeyId"] == key["Arn"]
    assert out["KeySpec"] == out["CustomerMasterKeySpec"] == "RSA_2048"
    assert out["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert out["EncryptionAlgorithms"] == ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
    assert "SigningAlgorithms" not in out
    pub = serialization.load_der_public_key(out["PublicKey"])
    assert isinstance(pub, rsa.RSAPublicKey) and pub.key_size == 2048
    for spec in ("SYMMETRIC_DEFAULT", "HMAC_256"):
        usage = "GENERATE_VERIFY_MAC" if spec.startswith("HMAC") else "ENCRYPT_DECRYPT"
        with pytest.raises(ClientError) as e:
            kms.get_public_key(KeyId=keys(spec, usage)["KeyId"])
        assert error_of(e) == ("UnsupportedOperationException", "", 400)


@pytest.mark.parametrize("size", [2048, 3072, 4096])
@pytest.mark.parametrize("algorithm", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"])
def test_rsa_encryption_interop_and_limits(kms, keys, size, algorithm):
    key = keys(f"RSA_{size}", "ENCRYPT_DECRYPT")
    pub = public_key(kms, key["KeyId"])
    h = hashes.SHA1() if algorithm.endswith("SHA_1") else hashes.SHA256()
    limit = size // 8 - 2 * h.digest_size - 2
    plaintext = os.urandom(limit)
    # Encrypted outside Trent with the downloaded key: decrypts inside.
    outside = pub.encrypt(plaintext, padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None))
    out = kms.decrypt(CiphertextBlob=outside, KeyId=key["KeyId"], EncryptionAlgorithm=algorithm)
    assert out["Plaintext"] == plaintext and out["EncryptionAlgorithm"] == algorithm
    assert out["KeyId"] == key["Arn"] and "KeyMaterialId" not in out
    # Encrypted by Trent: a fresh ciphertext each time, decrypting to the same.
    enc = kms.encrypt(KeyId=key["KeyId"], Plaintext=plaintext, EncryptionAlgorithm=algorithm)
    assert enc["EncryptionAlgorithm"] == algorithm and len(enc["CiphertextBlob"]) == size // 8
    back = kms.decrypt(CiphertextBlob=enc["CiphertextBlob"], KeyId=key["KeyId"], EncryptionAlgorithm=algorithm)
    assert back["Plaintext"] == plaintext
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=plaintext + b"x", EncryptionAlgorithm=algorithm)
    assert error_of(e) == (
        "ValidationException",
        f"Algorithm {algorithm} and key spec RSA_{size} cannot encrypt data larger than {limit} bytes.",
        400,
    )


def test_rsa_decrypt_needs_the_key_and_the_same_algorithm(kms, keys):
    key = keys("RSA_2048", "ENCRYPT_DECRYPT")
    ct = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"secret", EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    for kwargs in (
        {"KeyId": key["KeyId"], "EncryptionAlgorithm": "RSAES_OAEP_SHA_1"},  # the other padding
        {"KeyId": key["KeyId"]},  # no algorithm
        {},  # no key: a raw RSA ciphertext names none
    ):
        with pytest.raises(ClientError) as e:
            kms.decrypt(CiphertextBlob=ct, **kwargs)
        assert error_of(e)[0] == "InvalidCiphertextException", kwargs
    # Another RSA key of the same size cannot decrypt it.
    other = new_key(kms, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=ct, KeyId=other["KeyId"], EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert error_of(e) == ("InvalidCiphertextException", "", 400)
    # The default algorithm on an RSA key is refused in AWS's words.
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert error_of(e) == (
        "InvalidKeyUsageException",
        "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.",
        400,
    )


def test_re_encrypt_between_symmetric_and_rsa(kms, keys):
    rsa_key = keys("RSA_3072", "ENCRYPT_DECRYPT")
    sym = new_key(kms)
    blob = kms.encrypt(KeyId=sym["KeyId"], Plaintext=b"payload")["CiphertextBlob"]
    to_rsa = kms.re_encrypt(
        CiphertextBlob=blob,
        DestinationKeyId=rsa_key["KeyId"],
        DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_256",
    )
    assert to_rsa["SourceEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert to_rsa["DestinationEncryptionAlgorithm"] == "RSAES_OAEP_SHA_256"
    assert "SourceKeyMaterialId" in to_rsa and "DestinationKeyMaterialId" not in to_rsa
    back = kms.re_encrypt(
        CiphertextBlob=to_rsa["CiphertextBlob"],
        SourceKeyId=rsa_key["KeyId"],
        SourceEncryptionAlgorithm="RSAES_OAEP_SHA_256",
        DestinationKeyId=sym["KeyId"],
    )
    assert back["SourceKeyId"] == rsa_key["Arn"] and back["KeyId"] == sym["Arn"]
    assert kms.decrypt(CiphertextBlob=back["CiphertextBlob"])["Plaintext"] == b"payload"


@pytest.mark.parametrize("bits", [224, 256, 384, 512])
def test_hmac_round_trip_and_must_fail_cases(kms, keys, bits):
    key = keys(f"HMAC_{bits}", "GENERATE_VERIFY_MAC")
    algorithm = f"HMAC_SHA_{bits}"
    message = os.urandom(4096)
    out = kms.generate_mac(KeyId=key["KeyId"], Message=message, MacAlgorithm=algorithm)
    assert out["KeyId"] == key["Arn"] and out["MacAlgorithm"] == algorithm
    assert len(out["Mac"]) == bits // 8
    ok = kms.verify_mac(KeyId=key["KeyId"], Message=message, Mac=out["Mac"], MacAlgorithm=algorithm)
    assert ok == {**ok, "MacValid": True, "KeyId": key["Arn"], "MacAlgorithm": algorithm}
    bad = bytes([out["Mac"][0] ^ 1]) + out["Mac"][1:]
    for m, mac in [(message, bad), (message[:-1], out["Mac"]), (message, out["Mac"][:-1])]:
        with pytest.raises(ClientError) as e:
            kms.verify_mac(KeyId=key["KeyId"], Message=m, Mac=mac, MacAlgorithm=algorithm)
        assert error_of(e) == ("KMSInvalidMacException", "", 400)
    wrong = "HMAC_SHA_256" if bits != 256 else "HMAC_SHA_512"
    with pytest.raises(ClientError) as e:
        kms.generate_mac(KeyId=key["KeyId"], Message=b"m", MacAlgorithm=wrong)
    assert error_of(e) == ("InvalidKeyUsageException", f"Algorithm {wrong} is incompatible with key spec HMAC_{bits}.", 400)


def stored_material(server, md):
    """A key's first material version, read from the store and unwrapped
    outside Trent with the root key (the development key file of the data
    directory; AES-256-GCM, `0x01 || nonce || ciphertext || tag`, bound to
    the key ARN and version: docs/design.md)."""
    import base64
    import json
    import sqlite3

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    db = sqlite3.connect(f"file:{server.data_dir / 'trent.db'}?mode=ro", uri=True)
    try:
        records = [json.loads(r) for (r,) in db.execute("SELECT record FROM keys")]
    finally:
        db.close()
    (record,) = [r for r in records if md["KeyId"] in json.dumps(r)]
    wrapped = base64.b64decode(record["versions"][0]["wrapped"])
    assert wrapped[0] == 1
    aad = f"trent/v1/key-material/{md['Arn']}/1".encode()
    root = (server.data_dir / "root.key").read_bytes()
    root = bytes.fromhex(root.decode().strip()) if len(root) != 32 else root
    return AESGCM(root).decrypt(wrapped[1:13], wrapped[13:], aad)


@pytest.mark.parametrize("bits", [224, 256, 384, 512])
def test_hmac_equals_python_hmac_with_the_stored_key(server, kms, keys, bits):
    key = keys(f"HMAC_{bits}", "GENERATE_VERIFY_MAC")
    material = stored_material(server, key)
    assert len(material) == bits // 8
    message = b"authenticate me"
    mac = kms.generate_mac(KeyId=key["KeyId"], Message=message, MacAlgorithm=f"HMAC_SHA_{bits}")["Mac"]
    assert mac == pyhmac.new(material, message, getattr(hashlib, f"sha{bits}")).digest()


@pytest.mark.parametrize("spec", ["RSA_2048", "ECC_NIST_P384", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519", "ML_DSA_44"])
def test_stored_private_keys_are_wrapped_pkcs8_matching_the_public_key(server, kms, keys, spec):
    key = keys(spec, "SIGN_VERIFY")
    material = stored_material(server, key)
    private = serialization.load_der_private_key(material, password=None)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert private.public_key().public_bytes(serialization.Encoding.DER, spki) == kms.get_public_key(KeyId=key["KeyId"])["PublicKey"]
    # Only the wrapped form is in the database file.
    db = (server.data_dir / "trent.db").read_bytes()
    assert material[-32:] not in db


@pytest.mark.parametrize("curve,spec", [(ec.SECP256R1(), "ECC_NIST_P256"), (ec.SECP384R1(), "ECC_NIST_P384"), (ec.SECP521R1(), "ECC_NIST_P521")])
def test_derive_shared_secret_equals_outside_ecdh(kms, keys, curve, spec):
    key = keys(spec, "KEY_AGREEMENT")
    theirs = public_key(kms, key["KeyId"])
    mine = ec.generate_private_key(curve)
    peer = mine.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    out = kms.derive_shared_secret(KeyId=key["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=peer)
    assert out["SharedSecret"] == mine.exchange(ec.ECDH(), theirs)
    assert out["KeyAgreementAlgorithm"] == "ECDH" and out["KeyOrigin"] == "AWS_KMS" and out["KeyId"] == key["Arn"]
    # A key of another curve, and bytes that are no key: ValidationException.
    other = ec.generate_private_key(ec.SECP256R1() if spec != "ECC_NIST_P256" else ec.SECP384R1())
    wrong = other.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    for bad in (wrong, b"InvalidPublicKey"):
        with pytest.raises(ClientError) as e:
            kms.derive_shared_secret(KeyId=key["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=bad)
        assert error_of(e)[0] == "ValidationException"


@pytest.mark.parametrize("n", [512, 768, 1024])
def test_ml_kem_decapsulates_what_outside_encapsulated(kms, keys, n):
    from kyber_py import ml_kem

    key = keys(f"ML_KEM_{n}", "ENCAPSULATE_DECAPSULATE")
    out = kms.get_public_key(KeyId=key["KeyId"])
    assert out["KeySpec"] == f"ML_KEM_{n}" and out["EncapsulationAlgorithms"] == ["ML_KEM"]
    spki = out["PublicKey"]
    ek_len = {512: 800, 768: 1184, 1024: 1568}[n]
    ek = spki[-ek_len:]
    if n != 512:  # cryptography parses the SubjectPublicKeyInfo (no ML-KEM-512 there)
        pub = serialization.load_der_public_key(spki)
        assert pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == ek
    # Encapsulated outside Trent by an independent implementation.
    secret, ct = getattr(ml_kem, f"ML_KEM_{n}").encaps(ek)
    out = kms.decapsulate(KeyId=key["KeyId"], SharedSecretCiphertextBlob=ct, EncapsulationAlgorithm="ML_KEM")
    assert out["SharedSecret"] == secret and out["KeyId"] == key["Arn"]
    # Implicit rejection: a wrong ciphertext of the right length gives
    # another secret, not an error.
    wrong = bytes([ct[0] ^ 1]) + ct[1:]
    other = kms.decapsulate(KeyId=key["KeyId"], SharedSecretCiphertextBlob=wrong, EncapsulationAlgorithm="ML_KEM")
    assert other["SharedSecret"] != secret and len(other["SharedSecret"]) == 32
    # Encapsulate through Trent: the ciphertext decapsulates to its secret.
    enc = kms.encapsulate(KeyId=key["KeyId"], EncapsulationAlgorithm="ML_KEM")
    dec = kms.decapsulate(
        KeyId=key["KeyId"], SharedSecretCiphertextBlob=enc["SharedSecretCiphertextBlob"], EncapsulationAlgorithm="ML_KEM"
    )
    assert dec["SharedSecret"] == enc["SharedSecret"]


def test_wrong_usage_state_and_algorithm_errors(kms, keys):
    sym = new_key(kms)
    hmac_key = keys("HMAC_224", "GENERATE_VERIFY_MAC")
    with pytest.raises(ClientError) as e:
        kms.sign(KeyId=hmac_key["KeyId"], Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")
    assert error_of(e) == (
        "InvalidKeyUsageException",
        f"{hmac_key['Arn']} key usage is GENERATE_VERIFY_MAC which is not valid for Sign.",
        400,
    )
    with pytest.raises(ClientError) as e:
        kms.verify(KeyId=sym["KeyId"], Message=b"m", Signature=b"s", SigningAlgorithm="ECDSA_SHA_256")
    assert error_of(e)[1] == f"{sym['Arn']} key usage is ENCRYPT_DECRYPT which is not valid for Verify."
    with pytest.raises(ClientError) as e:
        kms.generate_mac(KeyId=sym["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")
    assert error_of(e)[1] == f"{sym['Arn']} key usage is ENCRYPT_DECRYPT which is not valid for GenerateMac."
    p256 = keys("ECC_NIST_P256", "SIGN_VERIFY")
    with pytest.raises(ClientError) as e:
        kms.sign(KeyId=p256["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_384")
    assert error_of(e) == ("InvalidKeyUsageException", "Algorithm ECDSA_SHA_384 is incompatible with key spec ECC_NIST_P256.", 400)
    ed = keys("ECC_NIST_EDWARDS25519", "SIGN_VERIFY")
    with pytest.raises(ClientError) as e:
        kms.sign(KeyId=ed["KeyId"], Message=b"m" * 64, MessageType="DIGEST", SigningAlgorithm="ED25519_SHA_512")
    assert error_of(e) == ("ValidationException", "Message type DIGEST is incompatible with algorithm ED25519_SHA_512.", 400)
    dsa = keys("ML_DSA_44", "SIGN_VERIFY")
    with pytest.raises(ClientError) as e:
        kms.sign(KeyId=dsa["KeyId"], Message=b"m" * 64, MessageType="DIGEST", SigningAlgorithm="ML_DSA_SHAKE_256")
    assert error_of(e) == ("ValidationException", "Message type DIGEST is incompatible with key spec ML_DSA_44.", 400)
    rsa_key = keys("RSA_2048", "ENCRYPT_DECRYPT")
    with pytest.raises(ClientError) as e:
        kms.generate_data_key(KeyId=rsa_key["KeyId"], KeySpec="AES_256")
    assert error_of(e) == ("InvalidKeyUsageException", "You cannot generate a data key with an asymmetric CMK", 400)
    # State after usage: a disabled signing key refuses Sign with DisabledException.
    k = new_key(kms, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    kms.disable_key(KeyId=k["KeyId"])
    with pytest.raises(ClientError) as e:
        kms.sign(KeyId=k["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    assert error_of(e) == ("DisabledException", f"{k['Arn']} is disabled.", 400)
    # GetPublicKey too, as AWS's key-state table has it.
    with pytest.raises(ClientError) as e:
        kms.get_public_key(KeyId=k["KeyId"])
    assert error_of(e) == ("DisabledException", f"{k['Arn']} is disabled.", 400)
    kms.enable_key(KeyId=k["KeyId"])
    assert kms.get_public_key(KeyId=k["KeyId"])["KeySpec"] == "ECC_NIST_P256"


def test_create_key_rules(kms):
    with pytest.raises(ClientError) as e:
        kms.create_key(KeySpec="RSA_2048")
    assert error_of(e) == (
        "ValidationException",
        "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.",
        400,
    )
    for spec, usage in [("RSA_2048", "KEY_AGREEMENT"), ("ECC_SECG_P256K1", "KEY_AGREEMENT"), ("HMAC_256", "SIGN_VERIFY"), ("ML_KEM_512", "ENCRYPT_DECRYPT")]:
        with pytest.raises(ClientError) as e:
            kms.create_key(KeySpec=spec, KeyUsage=usage)
        assert error_of(e) == ("ValidationException", f"KeyUsage {usage} is not compatible with KeySpec {spec}", 400)
    with pytest.raises(ClientError) as e:
        kms.create_key(KeySpec="SM2", KeyUsage="SIGN_VERIFY")
    assert error_of(e) == ("UnsupportedOperationException", "KeySpec SM2 is not supported in this Region", 400)
    # The deprecated CustomerMasterKeySpec still works.
    md = new_key(kms, CustomerMasterKeySpec="ECC_NIST_P521", KeyUsage="SIGN_VERIFY")
    assert md["KeySpec"] == "ECC_NIST_P521" and md["SigningAlgorithms"] == ["ECDSA_SHA_512"]


def test_rotation_is_refused_for_asymmetric_and_hmac_keys(kms, keys):
    for spec, usage in [("RSA_2048", "SIGN_VERIFY"), ("HMAC_256", "GENERATE_VERIFY_MAC"), ("ML_DSA_44", "SIGN_VERIFY")]:
        key = keys(spec, usage)
        for call in (
            lambda: kms.enable_key_rotation(KeyId=key["KeyId"]),
            lambda: kms.rotate_key_on_demand(KeyId=key["KeyId"]),
        ):
            with pytest.raises(ClientError) as e:
                call()
            assert error_of(e) == ("UnsupportedOperationException", "", 400)
        # Nothing to turn off, and AWS answers 200.
        kms.disable_key_rotation(KeyId=key["KeyId"])
        assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is False
        # No rotations to list; IncludeKeyMaterial "can only be used with KMS
        # keys that support automatic or on-demand key rotation".
        assert kms.list_key_rotations(KeyId=key["KeyId"])["Rotations"] == []
        for include in ("ALL_KEY_MATERIAL", "ROTATIONS_ONLY"):
            with pytest.raises(ClientError) as e:
                kms.list_key_rotations(KeyId=key["KeyId"], IncludeKeyMaterial=include)
            assert error_of(e) == ("UnsupportedOperationException", "", 400)


def test_openssl_verifies_a_signature_with_the_downloaded_key(server, kms, keys, tmp_path):
    """The AWS CLI signs a file; OpenSSL verifies with the PEM of the public key."""
    import base64
    import subprocess

    key = keys("ECC_NIST_P256", "SIGN_VERIFY")
    msg = tmp_path / "release.txt"
    msg.write_bytes(b"release 1.0\n")
    _, out, _ = server.cli("sign", "--key-id", key["KeyId"], "--message", f"fileb://{msg}", "--signing-algorithm", "ECDSA_SHA_256")
    (tmp_path / "sig").write_bytes(base64.b64decode(out["Signature"]))
    _, pk, _ = server.cli("get-public-key", "--key-id", key["KeyId"])
    (tmp_path / "pub.der").write_bytes(base64.b64decode(pk["PublicKey"]))
    subprocess.run(["openssl", "pkey", "-pubin", "-inform", "DER", "-in", tmp_path / "pub.der", "-out", tmp_path / "pub.pem"], check=True)
    ok = subprocess.run(
        ["openssl", "dgst", "-sha256", "-verify", tmp_path / "pub.pem", "-signature", tmp_path / "sig", msg],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and "Verified OK" in ok.stdout
    msg.write_bytes(b"release 1.1\n")
    bad = subprocess.run(
        ["openssl", "dgst", "-sha256", "-verify", tmp_path / "pub.pem", "-signature", tmp_path / "sig", msg],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0


def test_messages_and_signatures_are_nowhere_in_the_data_directory(kms, keys, server):
    key = keys("ECC_NIST_P256", "SIGN_VERIFY")
    message = b"this message is secret-ish: " + os.urandom(16).hex().encode()
    sig = kms.sign(KeyId=key["KeyId"], Message=message, SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    import base64

    for path in server.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert message not in data and base64.b64encode(message) not in data, path
            assert base64.b64encode(sig) not in data, path


@pytest.mark.parametrize(
    "spec",
    ["RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519"],
)
def test_data_key_pairs_parse_and_match(kms, spec):
    sym = new_key(kms)
    ctx = {"purpose": "pair"}
    out = kms.generate_data_key_pair(KeyId=sym["KeyId"], KeyPairSpec=spec, EncryptionContext=ctx)
    assert out["KeyId"] == sym["Arn"] and out["KeyPairSpec"] == spec and len(out["KeyMaterialId"]) == 64
    private = serialization.load_der_private_key(out["PrivateKeyPlaintext"], password=None)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert private.public_key().public_bytes(serialization.Encoding.DER, spki) == out["PublicKey"]
    # The sealed private key decrypts (with the context) to the plaintext one.
    back = kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"], EncryptionContext=ctx)
    assert back["Plaintext"] == out["PrivateKeyPlaintext"]
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"])
    assert error_of(e)[0] == "InvalidCiphertextException"
    bare = kms.generate_data_key_pair_without_plaintext(KeyId=sym["KeyId"], KeyPairSpec=spec)
    assert "PrivateKeyPlaintext" not in bare and bare["KeyPairSpec"] == spec
    priv = serialization.load_der_private_key(kms.decrypt(CiphertextBlob=bare["PrivateKeyCiphertextBlob"])["Plaintext"], password=None)
    assert priv.public_key().public_bytes(serialization.Encoding.DER, spki) == bare["PublicKey"]


def test_data_key_pair_refusals(kms, keys):
    sym = new_key(kms)
    with pytest.raises(ClientError) as e:
        kms.generate_data_key_pair(KeyId=sym["KeyId"], KeyPairSpec="SM2")
    assert error_of(e) == ("UnsupportedOperationException", "KeySpec SM2 is not supported in this Region", 400)
    with pytest.raises(ClientError) as e:
        kms.generate_data_key_pair(KeyId=keys("RSA_2048", "ENCRYPT_DECRYPT")["KeyId"], KeyPairSpec="ECC_NIST_P256")
    assert error_of(e)[0] == "InvalidKeyUsageException"
    with pytest.raises(ClientError) as e:
        kms.generate_data_key_pair(KeyId=keys("HMAC_256", "GENERATE_VERIFY_MAC")["KeyId"], KeyPairSpec="ECC_NIST_P256")
    assert error_of(e)[1].endswith("key usage is GENERATE_VERIFY_MAC which is not valid for GenerateDataKeyPair.")


@pytest.mark.parametrize("spec,algorithm", [("ECC_NIST_P256", "ECDSA_SHA_256"), ("RSA_2048", "RSASSA_PSS_SHA_256"), ("ML_DSA_44", "ML_DSA_SHAKE_256")])
def test_a_signature_does_not_verify_under_another_key_or_algorithm(kms, keys, spec, algorithm):
    key = keys(spec, "SIGN_VERIFY")
    other = new_key(kms, KeySpec=spec, KeyUsage="SIGN_VERIFY")
    sig = kms.sign(KeyId=key["KeyId"], Message=b"m", SigningAlgorithm=algorithm)["Signature"]
    with pytest.raises(ClientError) as e:
        kms.verify(KeyId=other["KeyId"], Message=b"m", Signature=sig, SigningAlgorithm=algorithm)
    assert error_of(e) == ("KMSInvalidSignatureException", "", 400)
    assert not verifies_outside(public_key(kms, other["KeyId"]), algorithm, b"m", sig)
    if spec == "RSA_2048":
        # A PSS signature is not a PKCS #1 v1.5 one.
        with pytest.raises(ClientError) as e:
            kms.verify(KeyId=key["KeyId"], Message=b"m", Signature=sig, SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")
        assert error_of(e) == ("KMSInvalidSignatureException", "", 400)


def verifies_outside(pub, algorithm, message, signature):
    try:
        verify_outside(pub, algorithm, message, signature)
        return True
    except InvalidSignature:
        return False


def test_audit_events_record_the_parameters_and_no_secret(server, kms, keys):
    from test_audit import events

    key = keys("ECC_NIST_P256", "SIGN_VERIFY")
    message = b"audit me, but not my bytes " + os.urandom(8).hex().encode()
    out = kms.sign(KeyId=key["KeyId"], Message=message, MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")
    rid = out["ResponseMetadata"]["RequestId"]
    mac_key = keys("HMAC_256", "GENERATE_VERIFY_MAC")
    mac = kms.generate_mac(KeyId=mac_key["KeyId"], Message=message, MacAlgorithm="HMAC_SHA_256")
    (sign,) = [e for e in events(server.data_dir) if e["requestID"] == rid]
    assert sign["eventName"] == "Sign" and sign["readOnly"] is True
    assert sign["requestParameters"] == {"keyId": key["KeyId"], "messageType": "RAW", "signingAlgorithm": "ECDSA_SHA_256"}
    assert sign["resources"][0]["ARN"] == key["Arn"]
    (gm,) = [e for e in events(server.data_dir) if e["requestID"] == mac["ResponseMetadata"]["RequestId"]]
    assert gm["requestParameters"] == {"keyId": mac_key["KeyId"], "macAlgorithm": "HMAC_SHA_256"}
    import base64

    trail = b"".join(p.read_bytes() for p in (server.data_dir / "audit").rglob("*") if p.is_file())
    for secret in (message, out["Signature"], mac["Mac"]):
        assert secret not in trail and base64.b64encode(secret) not in trail


def test_an_encryption_context_is_refused_with_rsa_keys(kms, keys):
    key = keys("RSA_2048", "ENCRYPT_DECRYPT")
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256", EncryptionContext={"a": "b"})
    assert error_of(e) == ("ValidationException", "EncryptionContext is supported only with symmetric encryption KMS keys.", 400)
    ct = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=ct, KeyId=key["KeyId"], EncryptionAlgorithm="RSAES_OAEP_SHA_256", EncryptionContext={"a": "b"})
    assert error_of(e)[0] == "ValidationException"


def test_key_last_usage_records_the_new_operations(kms, keys):
    for spec, usage, call, name in [
        ("ECC_NIST_P256", "SIGN_VERIFY", lambda k: kms.sign(KeyId=k, Message=b"m", SigningAlgorithm="ECDSA_SHA_256"), "Sign"),
        (
            "ECC_NIST_P384",
            "SIGN_VERIFY",
            lambda k: kms.verify(
                KeyId=k, Message=b"m", SigningAlgorithm="ECDSA_SHA_384",
                Signature=kms.sign(KeyId=k, Message=b"m", SigningAlgorithm="ECDSA_SHA_384")["Signature"],
            ),
            "Verify",
        ),
        ("HMAC_512", "GENERATE_VERIFY_MAC", lambda k: kms.generate_mac(KeyId=k, Message=b"m", MacAlgorithm="HMAC_SHA_512"), "GenerateMac"),
        ("ML_KEM_512", "ENCAPSULATE_DECAPSULATE", lambda k: kms.encapsulate(KeyId=k, EncapsulationAlgorithm="ML_KEM"), "Encapsulate"),
    ]:
        key = new_key(kms, KeySpec=spec, KeyUsage=usage)
        out = call(key["KeyId"])
        info = kms.get_key_last_usage(KeyId=key["KeyId"])
        assert info["KeyLastUsage"]["Operation"] == name, info
        assert info["KeyLastUsage"]["KmsRequestId"] == out["ResponseMetadata"]["RequestId"]
