"""The golden vectors in testdata/ciphertext/ are what the documented
formulas give: regenerating them with an independent implementation
(Python hmac and `cryptography`'s AES-GCM) reproduces the committed files
byte for byte. The Rust tests check Trent's code against the same files."""

import importlib.util

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from conftest import ROOT

DIR = ROOT / "testdata" / "ciphertext"


def test_committed_vectors_match_the_documented_formulas():
    gen = load_generator()
    for name, build in gen.FILES.items():
        assert (DIR / name).read_text() == gen.render(build), name


def test_a_live_blob_opens_with_the_documented_formulas(server, kms):
    """End to end: a blob from the running server, opened outside it with
    the documented formulas, given what a development server keeps in its
    data directory (root.key, and the wrapped material in trent.db)."""
    import json
    import sqlite3

    gen = load_generator()
    key = kms.create_key()["KeyMetadata"]
    context = {"purpose": "docs", "\u00e9": "\u2603"}
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"layout", EncryptionContext=context)["CiphertextBlob"]
    root = (server.data_dir / "root.key").read_bytes()
    db = sqlite3.connect(f"file:{server.data_dir / 'trent.db'}?mode=ro", uri=True)
    (record,) = db.execute("SELECT record FROM keys WHERE key_id = ?", (key["KeyId"],)).fetchone()
    db.close()
    import base64
    wrapped = base64.b64decode(json.loads(record)["versions"][0]["wrapped"])
    aad = f"trent/v1/key-material/{key['Arn']}/1".encode()
    material = AESGCM(root).decrypt(wrapped[1:13], wrapped[13:], aad)
    header = blob[:65]
    assert header == gen.header(key["AWSAccountId"], key["KeyId"], 1, header[33:65])
    plaintext = AESGCM(gen.blob_key(material, header)).decrypt(
        b"\x00" * 12, blob[65:], header + gen.encode_context(context))
    assert plaintext == b"layout"


def load_generator():
    spec = importlib.util.spec_from_file_location("generate", DIR / "generate.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    return gen
