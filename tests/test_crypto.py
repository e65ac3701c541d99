"""Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext),
GenerateRandom through boto3: context binding, tampering, limits, DryRun."""

import base64
import os

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, REGION, error_of, new_key


@pytest.fixture(scope="module")
def key(kms):
    return new_key(kms)


def test_round_trip_and_response_shapes(kms, key):
    r = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"hello")
    assert set(r) - {"ResponseMetadata"} == {"CiphertextBlob", "KeyId", "EncryptionAlgorithm"}
    assert r["KeyId"] == key["Arn"]
    assert r["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert len(r["CiphertextBlob"]) <= 6144
    d = kms.decrypt(CiphertextBlob=r["CiphertextBlob"])
    assert set(d) - {"ResponseMetadata"} == {"KeyId", "Plaintext", "EncryptionAlgorithm", "KeyMaterialId"}
    assert d["Plaintext"] == b"hello"
    assert d["KeyId"] == key["Arn"]
    assert d["KeyMaterialId"] == key["CurrentKeyMaterialId"]
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]


def test_plaintext_limits(kms, kms_raw, key):
    big = kms.encrypt(KeyId=key["KeyId"], Plaintext=os.urandom(4096))["CiphertextBlob"]
    assert len(big) <= 6144
    assert len(kms.decrypt(CiphertextBlob=big)["Plaintext"]) == 4096
    with pytest.raises(ClientError) as e:
        kms_raw.encrypt(KeyId=key["KeyId"], Plaintext=os.urandom(4097))
    assert error_of(e) == (
        "ValidationException",
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096",
        400,
    )
    with pytest.raises(ClientError) as e:
        kms_raw.encrypt(KeyId=key["KeyId"], Plaintext=b"")
    assert "Member must have length greater than or equal to 1" in error_of(e)[1]


def test_encryption_context_is_bound(kms, key):
    ctx = {"tenant": "acme", "purpose": "test"}
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"p", EncryptionContext=ctx)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=dict(reversed(list(ctx.items()))))["Plaintext"] == b"p"
    for wrong in [None, {}, {"tenant": "acme"}, {"tenant": "acme", "purpose": "tesT"}, {**ctx, "x": "y"}]:
        kwargs = {"CiphertextBlob": blob}
        if wrong is not None:
            kwargs["EncryptionContext"] = wrong
        with pytest.raises(ClientError) as e:
            kms.decrypt(**kwargs)
        code, msg, status = error_of(e)
        assert (code, msg, status) == ("InvalidCiphertextException", "", 400)


def test_context_encoding_is_unambiguous(kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"p", EncryptionContext={"ab": "c"})["CiphertextBlob"]
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "bc"})
    assert error_of(e)[0] == "InvalidCiphertextException"
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"p", EncryptionContext={"a": "b", "c": "d"})["CiphertextBlob"]
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b\u0000c", "": "d"})
    assert error_of(e)[0] == "InvalidCiphertextException"


def test_every_changed_byte_is_refused(kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"tamper me")["CiphertextBlob"]
    for i in range(len(blob)):
        b = bytearray(blob)
        b[i] ^= 0x40
        with pytest.raises(ClientError) as e:
            kms.decrypt(CiphertextBlob=bytes(b))
        code = error_of(e)[0]
        # Bytes 4..29 name the account and key: a changed one names a key
        # that does not exist (or another account's).
        allowed = {"InvalidCiphertextException"}
        if 4 <= i < 29:
            allowed |= {"NotFoundException", "AccessDeniedException"}
        assert code in allowed, (i, code)
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob[:-1])
    assert error_of(e)[0] == "InvalidCiphertextException"
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob + b"\x00")
    assert error_of(e)[0] == "InvalidCiphertextException"


def test_foreign_blobs_are_invalid_ciphertext_not_500(kms):
    # The start of an AWS Encryption SDK v2 message, an AWS KMS blob, and noise.
    esdk = bytes.fromhex("0205") + b"\x78" + os.urandom(300)
    aws = bytes.fromhex("0102020078") + os.urandom(180)
    for blob in [esdk, aws, b"x", os.urandom(6144)]:
        with pytest.raises(ClientError) as e:
            kms.decrypt(CiphertextBlob=blob)
        assert error_of(e) == ("InvalidCiphertextException", "", 400)


def test_decrypt_key_id_must_match(kms, key):
    other = new_key(kms)
    kms.create_alias(AliasName="alias/crypto-main", TargetKeyId=key["KeyId"])
    blob = kms.encrypt(KeyId="alias/crypto-main", Plaintext=b"x")["CiphertextBlob"]
    for ref in [key["KeyId"], key["Arn"], "alias/crypto-main", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/crypto-main"]:
        assert kms.decrypt(CiphertextBlob=blob, KeyId=ref)["Plaintext"] == b"x"
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob, KeyId=other["KeyId"])
    assert error_of(e) == (
        "IncorrectKeyException",
        "The key ID in the request does not identify a CMK that can perform this operation.",
        400,
    )


def test_reencrypt(kms, key):
    dest = new_key(kms)
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"move me", EncryptionContext={"a": "1"})["CiphertextBlob"]
    r = kms.re_encrypt(
        CiphertextBlob=blob,
        SourceEncryptionContext={"a": "1"},
        DestinationKeyId=dest["KeyId"],
        DestinationEncryptionContext={"b": "2"},
    )
    assert r["SourceKeyId"] == key["Arn"]
    assert r["KeyId"] == dest["Arn"]
    assert r["SourceEncryptionAlgorithm"] == r["DestinationEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert r["SourceKeyMaterialId"] == key["CurrentKeyMaterialId"]
    assert r["DestinationKeyMaterialId"] == dest["CurrentKeyMaterialId"]
    out = kms.decrypt(CiphertextBlob=r["CiphertextBlob"], EncryptionContext={"b": "2"})
    assert (out["Plaintext"], out["KeyId"]) == (b"move me", dest["Arn"])
    with pytest.raises(ClientError) as e:
        kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=dest["KeyId"])
    assert error_of(e)[0] == "InvalidCiphertextException"
    with pytest.raises(ClientError) as e:
        kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"a": "1"}, SourceKeyId=dest["KeyId"], DestinationKeyId=dest["KeyId"])
    assert error_of(e)[0] == "IncorrectKeyException"


def test_generate_data_key(kms, kms_raw, key):
    r = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext={"k": "v"})
    assert set(r) - {"ResponseMetadata"} == {"CiphertextBlob", "Plaintext", "KeyId", "KeyMaterialId"}
    assert len(r["Plaintext"]) == 32
    assert r["KeyId"] == key["Arn"]
    assert kms.decrypt(CiphertextBlob=r["CiphertextBlob"], EncryptionContext={"k": "v"})["Plaintext"] == r["Plaintext"]
    assert len(kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_128")["Plaintext"]) == 16
    assert len(kms.generate_data_key(KeyId=key["KeyId"], NumberOfBytes=1)["Plaintext"]) == 1
    assert len(kms.generate_data_key(KeyId=key["KeyId"], NumberOfBytes=1024)["Plaintext"]) == 1024
    a = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")["Plaintext"]
    assert a != r["Plaintext"]
    for kwargs in [{}, {"KeySpec": "AES_256", "NumberOfBytes": 32}]:
        with pytest.raises(ClientError) as e:
            kms.generate_data_key(KeyId=key["KeyId"], **kwargs)
        assert error_of(e) == ("ValidationException", "Please specify either number of bytes or key spec.", 400)
    with pytest.raises(ClientError) as e:
        kms_raw.generate_data_key(KeyId=key["KeyId"], NumberOfBytes=1025)
    assert "Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024" in error_of(e)[1]
    with pytest.raises(ClientError) as e:
        kms_raw.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_512")
    assert "Member must satisfy enum value set: [AES_256, AES_128]" in error_of(e)[1]


def test_generate_data_key_without_plaintext(kms, key):
    r = kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], KeySpec="AES_256")
    assert "Plaintext" not in r
    assert r["KeyId"] == key["Arn"]
    assert len(kms.decrypt(CiphertextBlob=r["CiphertextBlob"])["Plaintext"]) == 32


def test_generate_random(kms, kms_raw):
    a = kms.generate_random(NumberOfBytes=64)["Plaintext"]
    b = kms.generate_random(NumberOfBytes=64)["Plaintext"]
    assert len(a) == 64 and a != b
    with pytest.raises(ClientError) as e:
        kms_raw.generate_random()
    assert error_of(e) == ("ValidationException", "NumberOfBytes is required.", 400)
    with pytest.raises(ClientError) as e:
        kms_raw.generate_random(NumberOfBytes=0)
    assert error_of(e)[1].endswith("Member must have value greater than or equal to 1")
    with pytest.raises(ClientError) as e:
        kms.generate_random(NumberOfBytes=8, CustomKeyStoreId="cks-1234567890abcdef0")
    assert error_of(e)[0] == "CustomKeyStoreNotFoundException"


def test_dry_run(kms, key):
    for call in [
        lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", DryRun=True),
        lambda: kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", DryRun=True),
        lambda: kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], KeySpec="AES_256", DryRun=True),
        lambda: kms.decrypt(CiphertextBlob=kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"], DryRun=True),
        lambda: kms.decrypt(CiphertextBlob=b"ignored", KeyId=key["KeyId"], DryRun=True, DryRunModifiers=["IGNORE_CIPHERTEXT"]),
        lambda: kms.re_encrypt(
            CiphertextBlob=kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"],
            DestinationKeyId=key["KeyId"],
            DryRun=True,
        ),
        lambda: kms.re_encrypt(
            CiphertextBlob=b"ignored", SourceKeyId=key["KeyId"], DestinationKeyId=key["KeyId"],
            DryRun=True, DryRunModifiers=["IGNORE_CIPHERTEXT"],
        ),
    ]:
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e) == ("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.", 400)
    # A dry run that would fail reports the failure instead.
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=b"garbage", DryRun=True)
    assert error_of(e)[0] == "InvalidCiphertextException"


def test_wrong_algorithm_for_symmetric_key(kms, key):
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert error_of(e)[0] == "InvalidKeyUsageException"


def test_large_numbers_of_distinct_ciphertexts(kms, key):
    blobs = {kms.encrypt(KeyId=key["KeyId"], Plaintext=b"same")["CiphertextBlob"] for _ in range(50)}
    assert len(blobs) == 50, "every blob has a fresh nonce"


def test_blob_header_names_key_and_version(kms):
    key = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    assert blob[:4] == b"TK\x01\x01"
    assert int.from_bytes(blob[4:12], "big") == int(ACCOUNT)
    assert blob[12] == 0, "not a multi-Region key"
    assert blob[13:29].hex() == key["KeyId"].replace("-", "")
    assert blob[29:33] == (1).to_bytes(4, "big"), "the first key material"
    assert len(blob) == 65 + 1 + 16
    kms.rotate_key_on_demand(KeyId=key["KeyId"])
    rotated = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    assert rotated[29:33] == (2).to_bytes(4, "big"), "the material after one rotation"
    assert rotated[:29] == blob[:29] and rotated[33:65] != blob[33:65]
