"""Signature verification with a configuration file: the real AWS CLI and
boto3 with configured credentials, and every way to get it wrong."""

import base64
import os
import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import AWS, BIN, Server, error_of, write_config

CONFIG = """
background_interval_secs = 1

[[credentials]]
access_key_id = "AKIAALICE0000000001"
secret_access_key = "alice-secret-key/with+chars="
account_id = "111122223333"
principal = "arn:aws:iam::111122223333:user/alice"

[[credentials]]
access_key_id = "AKIABOB00000000000002"
secret_access_key = "bob-secret"
account_id = "444455556666"

[[users]]
arn = "arn:aws:iam::111122223333:user/alice"
policies = ['''{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}''']
"""

ALICE = ("AKIAALICE0000000001", "alice-secret-key/with+chars=")
BOB = ("AKIABOB00000000000002", "bob-secret")


@pytest.fixture(scope="module")
def verified(tmp_path_factory):
    d = tmp_path_factory.mktemp("verified")
    cfg = write_config(d / "trent.toml", CONFIG)
    s = Server(d / "data", config=cfg).start()
    yield s
    s.stop()


def test_startup_log_says_signatures_are_verified(verified):
    log = verified.read_log()
    assert 'signatures="verified"' in log
    assert "DEVELOPMENT MODE" not in log


def test_development_mode_warns_loudly(server):
    head = server.read_log().splitlines()[:5]
    assert any("DEVELOPMENT MODE" in line and "NOT verified" in line for line in head)


def test_aws_cli_encrypt_decrypt_with_verified_signatures(verified, tmp_path):
    _, key, _ = verified.cli("create-key", "--description", "cli", access_key=ALICE[0], secret=ALICE[1])
    key_id = key["KeyMetadata"]["KeyId"]
    assert key["KeyMetadata"]["AWSAccountId"] == "111122223333"
    pt = tmp_path / "pt.bin"
    pt.write_bytes(b"signed and sealed")
    _, enc, _ = verified.cli(
        "encrypt", "--key-id", key_id, "--plaintext", f"fileb://{pt}", "--encryption-context", "app=test",
        access_key=ALICE[0], secret=ALICE[1],
    )
    ct = tmp_path / "ct.bin"
    ct.write_bytes(base64.b64decode(enc["CiphertextBlob"]))
    _, dec, _ = verified.cli(
        "decrypt", "--ciphertext-blob", f"fileb://{ct}", "--encryption-context", "app=test",
        access_key=ALICE[0], secret=ALICE[1],
    )
    assert base64.b64decode(dec["Plaintext"]) == b"signed and sealed"
    # The wrong secret is refused, and nothing is decrypted.
    rc, out, err = verified.cli(
        "decrypt", "--ciphertext-blob", f"fileb://{ct}", "--encryption-context", "app=test",
        access_key=ALICE[0], secret="not-the-secret", check=False,
    )
    assert rc != 0 and out is None
    assert "InvalidSignatureException" in err
    assert "The request signature we calculated does not match the signature you provided." in err
    rc, _, err = verified.cli("list-keys", access_key="AKIAUNKNOWN000000000", secret="x", check=False)
    assert rc != 0 and "UnrecognizedClientException" in err
    assert "The security token included in the request is invalid." in err


def test_boto3_with_verified_signatures(verified):
    alice = verified.client(access_key=ALICE[0], secret=ALICE[1])
    md = alice.create_key()["KeyMetadata"]
    blob = alice.encrypt(KeyId=md["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    assert alice.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    wrong = verified.client(access_key=ALICE[0], secret=ALICE[1] + "x")
    with pytest.raises(ClientError) as e:
        wrong.decrypt(CiphertextBlob=blob)
    assert error_of(e)[0] == "InvalidSignatureException"
    with pytest.raises(ClientError) as e:
        wrong.create_key()
    assert error_of(e)[0] == "InvalidSignatureException"
    assert md["KeyId"] in [k["KeyId"] for k in alice.list_keys()["Keys"]]


def test_configured_accounts_are_kept_apart(verified):
    alice = verified.client(access_key=ALICE[0], secret=ALICE[1])
    bob = verified.client(access_key=BOB[0], secret=BOB[1])
    a = alice.create_key()["KeyMetadata"]
    b = bob.create_key()["KeyMetadata"]
    assert b["AWSAccountId"] == "444455556666"
    assert b["KeyId"] not in [k["KeyId"] for k in alice.list_keys()["Keys"]]
    with pytest.raises(ClientError) as e:
        bob.encrypt(KeyId=a["Arn"], Plaintext=b"x")
    code, msg, status = error_of(e)
    assert (code, status) == ("AccessDeniedException", 400)
    assert msg.startswith("User: arn:aws:iam::444455556666:root is not authorized to perform: kms:Encrypt on resource: " + a["Arn"])
    blob = alice.encrypt(KeyId=a["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(ClientError) as e:
        bob.decrypt(CiphertextBlob=blob)
    assert error_of(e)[0] == "AccessDeniedException"


def test_bad_configurations_refuse_to_start(tmp_path):
    creds = "[[credentials]]\naccess_key_id='a'\nsecret_access_key='b'\naccount_id='111122223333'\n"
    cases = {
        "no-credentials.toml": ("listen = '127.0.0.1:0'\n", "at least one [[credentials]]"),
        "bad-account.toml": (creds.replace("111122223333", "123"), "is not 12 digits"),
        "unknown-key.toml": ("bogus = true\n" + creds, "unknown field"),
        "tls-half.toml": ("tls_cert_file = 'c.pem'\n" + creds, "must be set together"),
    }
    for name, (text, why) in cases.items():
        cfg = write_config(tmp_path / name, text)
        s = Server(tmp_path / f"data-{name}", config=cfg, test_clock=False)
        assert s.start(expect_failure=True) != 0, name
        log = s.read_log()
        assert "invalid configuration" in log.lower() and why in log, log
        assert not (tmp_path / f"data-{name}").exists(), "a refused configuration creates nothing"


def test_credentials_without_a_root_key_source_refuse_to_start(tmp_path):
    """With credentials, the development fallback (a generated root.key in
    the data directory) would put the key beside what it protects."""
    cfg = write_config(tmp_path / "t.toml", CONFIG, root_key=False)
    s = Server(tmp_path / "data", config=cfg, test_clock=False)
    assert s.start(expect_failure=True) != 0
    log = s.read_log()
    assert "must say where the root key comes from" in log, log
    for option in ("file = ", "env = ", "passphrase_env = ", "passphrase_file = "):
        assert option in log
    assert not (tmp_path / "data").exists()


def serve_args(tmp_path, *args):
    return subprocess.run(
        [str(BIN), "serve", "--data-dir", str(tmp_path / "d"), *args],
        capture_output=True, text=True, timeout=30,
    )


def test_development_mode_listens_on_loopback_only_whatever_the_flags(tmp_path):
    for flags in ([], ["--allow-insecure-listen"], ["--dev-tls"], ["--allow-insecure-listen", "--dev-tls"]):
        for addr in ("0.0.0.0:0", "[::]:0"):
            p = serve_args(tmp_path, "--listen", addr, *flags)
            assert p.returncode != 0, (addr, flags)
            assert "development mode" in p.stderr and "loopback only" in p.stderr, p.stderr
    assert not (tmp_path / "d").exists()


def test_network_listen_needs_tls_unless_waived(tmp_path):
    cfg = write_config(tmp_path / "t.toml", CONFIG)
    env = {**os.environ, "TRENT_TEST_ROOT_KEY": "5a" * 32}
    p = subprocess.run(
        [str(BIN), "serve", "--config", str(cfg), "--data-dir", str(tmp_path / "d"), "--listen", "0.0.0.0:0"],
        capture_output=True, text=True, timeout=30, env=env,
    )
    assert p.returncode != 0
    assert "without TLS" in p.stderr and "allow_insecure_listen" in p.stderr, p.stderr


def test_operation_header_must_be_signed(verified):
    """A signature that does not cover X-Amz-Target could be replayed as
    another operation on the same body, so it is refused."""
    import json
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    alice = verified.client(access_key=ALICE[0], secret=ALICE[1])
    key = alice.create_key()["KeyMetadata"]["KeyId"]

    def send(sign_target):
        h = {"Content-Type": "application/x-amz-json-1.1"}
        if sign_target:
            h["X-Amz-Target"] = "TrentService.DisableKey"
        req = AWSRequest(method="POST", url=verified.endpoint + "/", data=json.dumps({"KeyId": key}).encode(), headers=h)
        SigV4Auth(Credentials(*ALICE), "kms", "us-east-1").add_auth(req)
        prepared = req.prepare()
        headers = dict(prepared.headers)
        headers["X-Amz-Target"] = "TrentService.DisableKey"
        r = urllib.request.Request(prepared.url, data=prepared.body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(r, timeout=30) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    status, body = send(sign_target=False)
    assert status == 400
    assert json.loads(body) == {
        "__type": "InvalidSignatureException",
        "message": "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.",
    }
    assert alice.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"
    status, _ = send(sign_target=True)
    assert status == 200
    assert alice.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Disabled"
