"""Imported key material (BYOK): GetParametersForImport, ImportKeyMaterial,
DeleteImportedKeyMaterial, expiry and re-import, through boto3 and the AWS
CLI, with the material generated and wrapped by OpenSSL exactly as AWS's
developer guide shows it."""

import base64
import hashlib
import hmac as pyhmac
import json
import os
import subprocess
import time

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from conftest import Server, error_of, new_key


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server of this module's own: the tests move its clock."""
    s = Server(tmp_path_factory.mktemp("trent-import") / "data").start()
    s.skew = 0
    yield s
    s.stop()


def advance(server, seconds):
    server.advance(seconds)
    server.skew += seconds


def server_now(server):
    return time.time() + server.skew


def openssl(*args, **kw):
    return subprocess.run(["openssl", *args], check=True, capture_output=True, **kw).stdout


def private_key(*genpkey_args):
    """A private key as AWS wants it imported: PKCS#8 DER, made with
    `openssl genpkey` and converted with `openssl pkcs8 -topk8` (OpenSSL 3.0's
    genpkey writes the traditional form in DER). Returns (pkcs8, traditional)."""
    traditional = openssl("genpkey", *genpkey_args, "-outform", "DER")
    pkcs8 = subprocess.run(
        ["openssl", "pkcs8", "-topk8", "-inform", "DER", "-outform", "DER", "-nocrypt"],
        input=traditional, check=True, capture_output=True,
    ).stdout
    return pkcs8, traditional


def wrap(tmp_path, public_der, material, algorithm):
    """Wrap `material` for import as the developer guide does with OpenSSL."""
    pub = tmp_path / "WrappingPublicKey.bin"
    pub.write_bytes(public_der)
    mat = tmp_path / "PlaintextKeyMaterial.bin"
    mat.write_bytes(material)
    sha = "sha1" if algorithm.endswith("SHA_1") else "sha256"
    oaep = ["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", f"rsa_oaep_md:{sha}", "-pkeyopt", f"rsa_mgf1_md:{sha}"]
    out = tmp_path / "EncryptedKeyMaterial.bin"
    if algorithm.startswith("RSAES_OAEP"):
        openssl("pkeyutl", "-encrypt", "-in", mat, "-out", out, "-inkey", pub, "-keyform", "DER", "-pubin", *oaep)
        return out.read_bytes()
    aes = tmp_path / "aes-key.bin"
    openssl("rand", "-out", aes, "32")
    wrapped_material = tmp_path / "key-material-wrapped.bin"
    openssl(
        "enc", "-id-aes256-wrap-pad", "-K", aes.read_bytes().hex(), "-iv", "A65959A6",
        "-in", mat, "-out", wrapped_material,
    )
    wrapped_aes = tmp_path / "aes-key-wrapped.bin"
    openssl("pkeyutl", "-encrypt", "-in", aes, "-out", wrapped_aes, "-inkey", pub, "-keyform", "DER", "-pubin", *oaep)
    return wrapped_aes.read_bytes() + wrapped_material.read_bytes()


def params(kms, key_id, algorithm="RSAES_OAEP_SHA_256", spec="RSA_2048"):
    return kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec=spec)


def import_material(kms, tmp_path, key_id, material, algorithm="RSAES_OAEP_SHA_256", spec="RSA_2048", **extra):
    p = params(kms, key_id, algorithm, spec)
    encrypted = wrap(tmp_path, p["PublicKey"], material, algorithm)
    if "ExpirationModel" not in extra and "ValidTo" not in extra:
        extra["ExpirationModel"] = "KEY_MATERIAL_DOES_NOT_EXPIRE"
    return kms.import_key_material(KeyId=key_id, ImportToken=p["ImportToken"], EncryptedKeyMaterial=encrypted, **extra)


def material_of(kms, encrypted):
    """The material a ciphertext was made under, as Decrypt names it."""
    return kms.decrypt(CiphertextBlob=encrypted["CiphertextBlob"])["KeyMaterialId"]


def external_key(kms, **kw):
    return new_key(kms, Origin="EXTERNAL", **kw)


def material_id(material, key_id):
    """The KeyMaterialId Trent gives imported material (docs/formats.md)."""
    return pyhmac.new(material, f"trent/v1/imported-key-material-id/{key_id}".encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    "algorithm,spec",
    [
        ("RSAES_OAEP_SHA_1", "RSA_2048"),
        ("RSAES_OAEP_SHA_256", "RSA_3072"),
        ("RSA_AES_KEY_WRAP_SHA_1", "RSA_2048"),
        ("RSA_AES_KEY_WRAP_SHA_256", "RSA_4096"),
    ],
)
def test_symmetric_import_with_each_wrapping_algorithm(server, kms, tmp_path, algorithm, spec):
    meta = external_key(kms, Description="byok")
    key_id = meta["KeyId"]
    assert meta["KeyState"] == "PendingImport" and meta["Origin"] == "EXTERNAL"
    assert not meta["Enabled"]
    assert "ExpirationModel" not in meta and "CurrentKeyMaterialId" not in meta
    # Nothing to delete yet: no effect, as AWS's key-state table says.
    out = kms.delete_imported_key_material(KeyId=key_id)
    assert out["KeyId"] == meta["Arn"] and "KeyMaterialId" not in out
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key_id, Plaintext=b"x")
    assert error_of(e)[:1] == ("KMSInvalidStateException",)
    assert "is pending import" in error_of(e)[1]

    p = params(kms, key_id, algorithm, spec)
    assert p["KeyId"] == meta["Arn"]
    public = serialization.load_der_public_key(p["PublicKey"])
    assert public.key_size == int(spec.split("_")[1])
    validity = p["ParametersValidTo"].timestamp() - server_now(server)
    assert 23.9 * 3600 < validity <= 24 * 3600 + 60

    material = subprocess.run(["openssl", "rand", "32"], check=True, capture_output=True).stdout
    encrypted = wrap(tmp_path, p["PublicKey"], material, algorithm)
    out = kms.import_key_material(
        KeyId=key_id,
        ImportToken=p["ImportToken"],
        EncryptedKeyMaterial=encrypted,
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    assert out["KeyId"] == meta["Arn"]
    assert out["KeyMaterialId"] == material_id(material, key_id)
    d = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert d["KeyState"] == "Enabled" and d["Enabled"]
    assert d["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE" and "ValidTo" not in d
    assert d["CurrentKeyMaterialId"] == out["KeyMaterialId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"


def test_expiry_deletes_material_and_reimport_restores_it(server, kms, tmp_path):
    key_id = external_key(kms)["KeyId"]
    material = b"\x42" * 32
    valid_to = server_now(server) + 3600
    out = import_material(kms, tmp_path, key_id, material, ValidTo=valid_to, ExpirationModel="KEY_MATERIAL_EXPIRES")
    d = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert d["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    assert abs(d["ValidTo"].timestamp() - valid_to) < 1
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"before expiry")["CiphertextBlob"]

    advance(server, 3601)
    d = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert d["KeyState"] == "PendingImport" and "ValidTo" not in d
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob)
    assert error_of(e)[0] == "KMSInvalidStateException"
    rot = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [(r["KeyMaterialId"], r["ImportState"], r["KeyMaterialState"]) for r in rot] == [
        (out["KeyMaterialId"], "PENDING_IMPORT", "CURRENT")
    ]
    # The same material, again, restores the key and its old ciphertexts.
    again = import_material(kms, tmp_path, key_id, material)
    assert again["KeyMaterialId"] == out["KeyMaterialId"]
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before expiry"
    # The expiry was recorded as AWS records it: a service event.
    recorded = [
        json.loads(line)["record"]
        for seg in sorted((server.data_dir / "audit").glob("*/*.jsonl"))
        for line in seg.read_bytes().split(b"\0", 1)[0].split(b"\n")[:-1]
        if line.strip()
    ]
    expired = [e for e in recorded if e.get("eventName") == "DeleteExpiredKeyMaterial"]
    assert len(expired) == 1 and expired[0]["eventType"] == "AwsServiceEvent"
    assert expired[0]["serviceEventDetails"]["keyMaterialId"] == out["KeyMaterialId"]


def test_token_and_material_errors(server, kms, kms_raw, tmp_path):
    key_id = external_key(kms)["KeyId"]
    other = external_key(kms)["KeyId"]
    material = b"\x07" * 32
    p = params(kms, key_id)
    encrypted = wrap(tmp_path, p["PublicKey"], material, "RSAES_OAEP_SHA_256")

    def attempt(**kw):
        args = dict(KeyId=key_id, ImportToken=p["ImportToken"], EncryptedKeyMaterial=encrypted,
                    ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
        args.update(kw)
        with pytest.raises(ClientError) as e:
            kms_raw.import_key_material(**args)
        return error_of(e)

    # A token of another key, a token that is not one, material that is
    # not wrapped with the token's public key.
    assert attempt(KeyId=other)[0] == "InvalidImportTokenException"
    assert attempt(ImportToken=b"\x00" * 300)[0] == "InvalidImportTokenException"
    assert attempt(EncryptedKeyMaterial=b"\x01" * 256)[0] == "InvalidCiphertextException"
    # Material of the wrong length.
    short = wrap(tmp_path, p["PublicKey"], b"\x07" * 16, "RSAES_OAEP_SHA_256")
    assert attempt(EncryptedKeyMaterial=short)[0] == "IncorrectKeyMaterialException"
    # Expiration rules.
    # AWS's default model is KEY_MATERIAL_EXPIRES: without ValidTo, refused.
    for kw in (dict(ExpirationModel="KEY_MATERIAL_EXPIRES"), dict(ExpirationModel=None)):
        args = {k: v for k, v in kw.items() if v is not None}
        with pytest.raises(ClientError) as e:
            kms_raw.import_key_material(KeyId=key_id, ImportToken=p["ImportToken"], EncryptedKeyMaterial=encrypted, **args)
        assert error_of(e) == (
            "ValidationException", "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES", 400
        )
    code, msg, status = attempt(ValidTo=server_now(server) + 3600)
    assert (code, status) == ("ValidationException", 400) and "KEY_MATERIAL_DOES_NOT_EXPIRE" in msg
    for when in (server_now(server) - 60, server_now(server) + 366 * 24 * 3600):
        assert attempt(ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=when)[0] == "ValidationException"
    assert attempt(ImportType="NEW_KEY_MATERIAL", KeyMaterialId="a" * 64)[0] == "ValidationException"
    # None of the above spent the token or changed the key.
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    kms.import_key_material(KeyId=key_id, ImportToken=p["ImportToken"], EncryptedKeyMaterial=encrypted,
                            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    # Single use.
    assert attempt()[0] == "InvalidImportTokenException"
    # Different material for the same key.
    with pytest.raises(ClientError) as e:
        import_material(kms, tmp_path, key_id, b"\x08" * 32)
    assert error_of(e)[0] == "IncorrectKeyMaterialException"
    with pytest.raises(ClientError) as e:
        import_material(kms, tmp_path, key_id, material, ImportType="EXISTING_KEY_MATERIAL", KeyMaterialId="b" * 64)
    assert error_of(e)[0] == "IncorrectKeyMaterialException"
    # An expired token.
    late = params(kms, key_id)
    late_material = wrap(tmp_path, late["PublicKey"], material, "RSAES_OAEP_SHA_256")
    advance(server, 24 * 3600 + 1)
    with pytest.raises(ClientError) as e:
        kms.import_key_material(KeyId=key_id, ImportToken=late["ImportToken"], EncryptedKeyMaterial=late_material,
                                ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert error_of(e)[0] == "ExpiredImportTokenException"
    # Keys whose material KMS made take no imports.
    kms_key = new_key(kms)["KeyId"]
    for call in (
        lambda: params(kms, kms_key),
        lambda: kms.delete_imported_key_material(KeyId=kms_key),
    ):
        with pytest.raises(ClientError) as e:
            call()
        code, msg, _ = error_of(e)
        assert code == "UnsupportedOperationException" and "origin is AWS_KMS" in msg
    # Wrapping algorithms AWS no longer offers, or only in China.
    for alg, spec in (("RSAES_PKCS1_V1_5", "RSA_2048"), ("SM2PKE", "SM2"), ("RSAES_OAEP_SHA_256", "SM2")):
        with pytest.raises(ClientError) as e:
            params(kms, key_id, alg, spec)
        assert error_of(e)[0] == "UnsupportedOperationException"
    # Specs whose material AWS does not import.
    with pytest.raises(ClientError) as e:
        new_key(kms, Origin="EXTERNAL", KeySpec="ML_DSA_65", KeyUsage="SIGN_VERIFY")
    assert error_of(e)[0] == "UnsupportedOperationException"
    # Imported keys do not rotate automatically.
    with pytest.raises(ClientError) as e:
        kms.enable_key_rotation(KeyId=key_id)
    assert error_of(e)[0] == "UnsupportedOperationException"


def test_delete_and_new_material_rotation(kms, tmp_path):
    key_id = external_key(kms)["KeyId"]
    a, b = b"\x0a" * 32, b"\x0b" * 32
    first = import_material(kms, tmp_path, key_id, a)["KeyMaterialId"]
    blob_a = kms.encrypt(KeyId=key_id, Plaintext=b"under a")["CiphertextBlob"]
    with pytest.raises(ClientError) as e:
        kms.rotate_key_on_demand(KeyId=key_id)
    assert error_of(e)[0] == "KMSInvalidStateException"
    second = import_material(kms, tmp_path, key_id, b, ImportType="NEW_KEY_MATERIAL",
                             KeyMaterialDescription="second material")["KeyMaterialId"]
    rot = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [(r["KeyMaterialId"], r["KeyMaterialState"]) for r in rot] == [
        (first, "CURRENT"), (second, "PENDING_ROTATION")
    ]
    assert rot[1]["KeyMaterialDescription"] == "second material" and rot[1]["ImportState"] == "IMPORTED"
    # Encrypt still uses the current material until the rotation.
    assert material_of(kms, kms.encrypt(KeyId=key_id, Plaintext=b"x")) == first
    kms.rotate_key_on_demand(KeyId=key_id)
    out = kms.encrypt(KeyId=key_id, Plaintext=b"under b")
    assert material_of(kms, out) == second
    blob_b = out["CiphertextBlob"]
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] == second
    rot = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert [(r["KeyMaterialId"], r["RotationType"]) for r in rot] == [(second, "ON_DEMAND")]
    # Deleting any material, the old one here, puts the key in PendingImport
    # until every material is back, as AWS documents.
    out = kms.delete_imported_key_material(KeyId=key_id, KeyMaterialId=first)
    assert out["KeyMaterialId"] == first
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    for call in (
        lambda: kms.decrypt(CiphertextBlob=blob_b),
        lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x"),
        lambda: kms.enable_key(KeyId=key_id),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e)[0] == "KMSInvalidStateException"
    out = kms.delete_imported_key_material(KeyId=key_id)
    assert out["KeyMaterialId"] == second
    # Both come back with their own material; the key is usable again only
    # when both are.
    import_material(kms, tmp_path, key_id, a, ImportType="EXISTING_KEY_MATERIAL", KeyMaterialId=first)
    for call in (lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x"), lambda: kms.decrypt(CiphertextBlob=blob_a)):
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e)[0] == "KMSInvalidStateException"
    import_material(kms, tmp_path, key_id, b)
    assert kms.decrypt(CiphertextBlob=blob_a)["Plaintext"] == b"under a"
    assert kms.decrypt(CiphertextBlob=blob_b)["Plaintext"] == b"under b"
    assert material_of(kms, kms.encrypt(KeyId=key_id, Plaintext=b"x")) == second
    with pytest.raises(ClientError) as e:
        kms.delete_imported_key_material(KeyId=key_id, KeyMaterialId="c" * 64)
    assert error_of(e)[0] == "NotFoundException"


def stored_wrapped(server, key_id):
    """The wrapped bytes of each material version of a key, from the store."""
    import sqlite3

    db = sqlite3.connect(f"file:{server.data_dir / 'trent.db'}?mode=ro", uri=True)
    try:
        records = [json.loads(r) for (r,) in db.execute("SELECT record FROM keys")]
    finally:
        db.close()
    (record,) = [r for r in records if r["locator"]["key_id"] == key_id]
    return [base64.b64decode(v["wrapped"]) for v in record["versions"]]


def test_deleted_material_leaves_the_files(server, kms, tmp_path):
    """DeleteImportedKeyMaterial destroys the material: after the next
    background sweep its wrapped bytes are in no file of the store."""
    key_id = external_key(kms)["KeyId"]
    import_material(kms, tmp_path, key_id, os.urandom(32))
    (wrapped,) = stored_wrapped(server, key_id)
    assert len(wrapped) > 32
    kms.delete_imported_key_material(KeyId=key_id)
    assert stored_wrapped(server, key_id) == [b""]
    # The record stores it base64-encoded; before the sweep it is still in
    # the files (the write-ahead log keeps the old page).
    encoded = base64.b64encode(wrapped)
    assert any(encoded in f.read_bytes() for f in server.data_dir.glob("trent.db*"))
    advance(server, 1)
    for f in server.data_dir.glob("trent.db*"):
        assert encoded not in f.read_bytes(), f


def test_asymmetric_and_hmac_import(kms, tmp_path):
    # An RSA signing key made by OpenSSL, wrapped with RSA-AES key wrap.
    der, pkcs1 = private_key("-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
    rsa_key = external_key(kms, KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyId"]
    with pytest.raises(ClientError) as e:
        params(kms, rsa_key, "RSAES_OAEP_SHA_256")
    assert error_of(e)[0] == "UnsupportedOperationException"
    # Not PKCS#8: refused, as AWS refuses it.
    with pytest.raises(ClientError) as e:
        import_material(kms, tmp_path, rsa_key, pkcs1, algorithm="RSA_AES_KEY_WRAP_SHA_256")
    assert error_of(e)[0] == "IncorrectKeyMaterialException"
    import_material(kms, tmp_path, rsa_key, der, algorithm="RSA_AES_KEY_WRAP_SHA_256")
    private = serialization.load_der_private_key(der, None)
    public = kms.get_public_key(KeyId=rsa_key)["PublicKey"]
    assert public == private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    sig = kms.sign(KeyId=rsa_key, Message=b"release", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    private.public_key().verify(
        sig, b"release", padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH), hashes.SHA256()
    )
    with pytest.raises(ClientError) as e:
        import_material(kms, tmp_path, rsa_key, der, algorithm="RSA_AES_KEY_WRAP_SHA_256", ImportType="NEW_KEY_MATERIAL")
    assert error_of(e)[0] == "UnsupportedOperationException"

    # An EC key, wrapped directly with RSA-OAEP; a key of the wrong curve is refused.
    ec_der, _ = private_key("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    wrong, _ = private_key("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384")
    ec_key = external_key(kms, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyId"]
    with pytest.raises(ClientError) as e:
        import_material(kms, tmp_path, ec_key, wrong)
    assert error_of(e)[0] == "IncorrectKeyMaterialException"
    import_material(kms, tmp_path, ec_key, ec_der)
    sig = kms.sign(KeyId=ec_key, Message=b"tx", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    serialization.load_der_private_key(ec_der, None).public_key().verify(sig, b"tx", ec.ECDSA(hashes.SHA256()))

    # HMAC material of a length AWS allows for the spec, but not the default.
    mac_material = bytes(range(48))
    mac_key = external_key(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyId"]
    import_material(kms, tmp_path, mac_key, mac_material)
    mac = kms.generate_mac(KeyId=mac_key, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert mac == pyhmac.new(mac_material, b"m", hashlib.sha256).digest()
    with pytest.raises(ClientError) as e:
        import_material(kms, tmp_path, external_key(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyId"],
                        bytes(20))
    assert error_of(e)[0] == "IncorrectKeyMaterialException"


def test_import_condition_keys(server, kms, tmp_path):
    """AWS's documented example: a key policy that refuses material that
    never expires, and one that allows only RSA-AES wrapping."""
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "MustExpire", "Effect": "Deny", "Principal": "*", "Action": "kms:ImportKeyMaterial", "Resource": "*",
         "Condition": {"StringEquals": {"kms:ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}}},
        {"Sid": "Wrapping", "Effect": "Deny", "Principal": "*", "Action": "kms:GetParametersForImport", "Resource": "*",
         "Condition": {"StringNotLike": {"kms:WrappingAlgorithm": "RSA_AES_KEY_WRAP_*"}}},
    ]})
    key_id = external_key(kms, Policy=policy)["KeyId"]
    with pytest.raises(ClientError) as e:
        params(kms, key_id, "RSAES_OAEP_SHA_256")
    assert error_of(e)[0] == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        import_material(kms, tmp_path, key_id, b"\x33" * 32, algorithm="RSA_AES_KEY_WRAP_SHA_256")
    assert error_of(e)[0] == "AccessDeniedException"
    import_material(kms, tmp_path, key_id, b"\x33" * 32, algorithm="RSA_AES_KEY_WRAP_SHA_256",
                    ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=server_now(server) + 3600)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_cli_import_and_durable_across_restart(server, kms, tmp_path):
    """The AWS CLI's own commands, files in and out as the guide shows. Last
    in the module: it restarts the server on a new port."""
    key_id = external_key(kms)["KeyId"]
    rc, p, _ = server.cli(
        "get-parameters-for-import", "--key-id", key_id,
        "--wrapping-algorithm", "RSA_AES_KEY_WRAP_SHA_256", "--wrapping-key-spec", "RSA_3072",
    )
    public = base64.b64decode(p["PublicKey"])
    (tmp_path / "ImportToken.bin").write_bytes(base64.b64decode(p["ImportToken"]))
    material = subprocess.run(["openssl", "rand", "32"], check=True, capture_output=True).stdout
    (tmp_path / "Encrypted.bin").write_bytes(wrap(tmp_path, public, material, "RSA_AES_KEY_WRAP_SHA_256"))
    rc, out, _ = server.cli(
        "import-key-material", "--key-id", key_id,
        "--encrypted-key-material", f"fileb://{tmp_path / 'Encrypted.bin'}",
        "--import-token", f"fileb://{tmp_path / 'ImportToken.bin'}",
        "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    assert out["KeyMaterialId"] == material_id(material, key_id)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"kept")["CiphertextBlob"]
    server.stop()
    server.start()
    again = server.client()
    assert again.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"
    d = again.describe_key(KeyId=key_id)["KeyMetadata"]
    assert d["KeyState"] == "Enabled" and d["Origin"] == "EXTERNAL"
