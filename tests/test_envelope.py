"""`trent encrypt` / `trent decrypt` against a running Trent, and interop with
AWS's own aws-encryption-sdk-cli (Python) pointed at Trent through
AWS_ENDPOINT_URL_KMS, both ways."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ACCOUNT, BIN, REGION, aws_env, free_port, new_key

ESDK = Path(sys.executable).parent / "aws-encryption-cli"

SUITES = [
    "AES_128_GCM_IV12_TAG16",
    "AES_192_GCM_IV12_TAG16",
    "AES_256_GCM_IV12_TAG16",
    "AES_128_GCM_IV12_TAG16_HKDF_SHA256",
    "AES_192_GCM_IV12_TAG16_HKDF_SHA256",
    "AES_256_GCM_IV12_TAG16_HKDF_SHA256",
    "AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256",
    "AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384",
    "AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384",
    "AES_256_GCM_HKDF_SHA512_COMMIT_KEY",
    "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384",
]


def env_for(endpoint):
    return aws_env(AWS_REGION=REGION, AWS_ENDPOINT_URL_KMS=endpoint, AWS_EC2_METADATA_DISABLED="true")


def run(args, endpoint, check=True, stdin=None):
    p = subprocess.run([str(a) for a in args], env=env_for(endpoint), capture_output=True, input=stdin, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} failed ({p.returncode}):\n{p.stderr.decode(errors='replace')}")
    return p


def trent(server, *args, **kw):
    return run([BIN, *args], server.endpoint, **kw)


def esdk(server, *args, **kw):
    return run([ESDK, "-S", *args], server.endpoint, **kw)


def policy(suite):
    return "require-encrypt-require-decrypt" if "COMMIT" in suite else "forbid-encrypt-allow-decrypt"


def data(n):
    return bytes((i * 7 + n) % 256 for i in range(n))


@pytest.fixture(scope="module")
def arn(kms):
    return new_key(kms)["Arn"]


@pytest.mark.parametrize("suite", SUITES)
def test_interop_with_the_official_cli_both_ways(server, arn, tmp_path, suite):
    """For each suite: Trent's files decrypt with AWS's CLI and AWS's CLI's
    files decrypt with Trent; with and without encryption context, several
    frame lengths, empty input, and input ending exactly on a frame
    boundary."""
    frame = {0: 512, 1: 4096, 2: 1024}[SUITES.index(suite) % 3]
    cases = [("empty", b"", []), ("boundary", data(3 * frame), ["-c", "purpose=backup", "team=infra"]),
             ("ragged", data(2 * frame + 17), [])]
    for name, pt, ctx in cases:
        src = tmp_path / f"{name}.txt"
        src.write_bytes(pt)
        ctx_trent = [a for pair in ctx[1:] for a in ("-c", pair)]
        # Trent encrypts, AWS's CLI decrypts (and checks the context).
        by_trent = tmp_path / f"{name}.trent.enc"
        trent(server, "encrypt", "--key-id", arn, "--algorithm", suite, "--frame-length", frame,
              "--commitment-policy", policy(suite), *ctx_trent, "-i", src, "-o", by_trent)
        out = tmp_path / f"{name}.trent.dec"
        esdk(server, "-d", "-i", by_trent, "-o", out, "--wrapping-keys", f"key={arn}",
             "--commitment-policy", "require-encrypt-allow-decrypt", *ctx)
        assert out.read_bytes() == pt, f"{suite} {name}: AWS's CLI read something else"
        # AWS's CLI encrypts, Trent decrypts.
        by_aws = tmp_path / f"{name}.aws.enc"
        esdk(server, "-e", "-i", src, "-o", by_aws, "--wrapping-keys", f"key={arn}", "--algorithm", suite,
             "--frame-length", str(frame), "--commitment-policy", policy(suite), *ctx)
        out = tmp_path / f"{name}.aws.dec"
        trent(server, "decrypt", "--key-id", arn, "--commitment-policy", "require-encrypt-allow-decrypt",
              *ctx_trent, "-i", by_aws, "-o", out)
        assert out.read_bytes() == pt, f"{suite} {name}: Trent read something else"


def test_default_suite_stdin_stdout_and_aliases(server, kms, arn, tmp_path):
    kms.create_alias(AliasName="alias/envelope-test", TargetKeyId=arn)
    pt = data(100_000)
    enc = trent(server, "encrypt", "--key-id", "alias/envelope-test", stdin=pt).stdout
    assert enc[:3] == b"\x02\x05\x78", "version 2, the committing ECDSA P-384 suite by default"
    assert enc.count(arn.encode()) == 1, "the wrapped data key names the key ARN, not the alias"
    p = trent(server, "decrypt", "--key-id", arn, stdin=enc)
    assert p.stdout == pt and p.stderr == b"", "no progress bar when stderr is not a terminal"
    # The default policy does not read non-committing messages.
    old = trent(server, "encrypt", "--key-id", arn, "--commitment-policy", "forbid-encrypt-allow-decrypt",
                stdin=pt).stdout
    assert old[0] == 1
    p = trent(server, "decrypt", "--key-id", arn, stdin=old, check=False)
    assert p.returncode != 0 and b"commitment policy" in p.stderr
    assert trent(server, "decrypt", "--key-id", arn, "--commitment-policy", "require-encrypt-allow-decrypt",
                 stdin=old).stdout == pt


def test_several_keys_discovery_and_limits(server, kms, arn, tmp_path):
    second = new_key(kms)["Arn"]
    pt = data(5000)
    enc = trent(server, "encrypt", "--key-id", arn, "--key-id", second, stdin=pt).stdout
    for k in (arn, second):
        assert trent(server, "decrypt", "--key-id", k, stdin=enc).stdout == pt
    assert trent(server, "decrypt", "--discovery", stdin=enc).stdout == pt
    assert trent(server, "decrypt", "--discovery", "--discovery-account", ACCOUNT, stdin=enc).stdout == pt
    p = trent(server, "decrypt", "--discovery", "--discovery-account", "444455556666", stdin=enc, check=False)
    assert p.returncode != 0 and p.stdout == b""
    p = trent(server, "decrypt", "--key-id", arn, "--max-encrypted-data-keys", "1", stdin=enc, check=False)
    assert p.returncode != 0 and b"more than the maximum of 1" in p.stderr
    # A key that wrapped nothing here.
    third = new_key(kms)["Arn"]
    p = trent(server, "decrypt", "--key-id", third, stdin=enc, check=False)
    assert p.returncode != 0 and p.stdout == b"" and b"no keyring could decrypt" in p.stderr
    # AWS's CLI reads the two-key message with either key.
    src = tmp_path / "two.enc"
    src.write_bytes(enc)
    out = tmp_path / "two.dec"
    esdk(server, "-d", "-i", src, "-o", out, "--wrapping-keys", f"key={second}")
    assert out.read_bytes() == pt


def test_encryption_context_is_required_on_decrypt(server, arn, tmp_path):
    enc = trent(server, "encrypt", "--key-id", arn, "-c", "dept=finance", stdin=b"ledger").stdout
    assert trent(server, "decrypt", "--key-id", arn, "-c", "dept=finance", stdin=enc).stdout == b"ledger"
    p = trent(server, "decrypt", "--key-id", arn, "-c", "dept=hr", stdin=enc, check=False)
    assert p.returncode != 0 and p.stdout == b""
    assert b'the encryption context given for key "dept" does not match' in p.stderr
    p = trent(server, "decrypt", "--key-id", arn, "-c", "dept=finance", "-c", "year=2026", stdin=enc, check=False)
    assert p.returncode != 0 and p.stdout == b""
    assert b'does not store the encryption context key(s) ["year"]' in p.stderr


def test_tampered_truncated_and_failed_outputs(server, arn, tmp_path):
    pt = data(10 * 4096)
    src = tmp_path / "pt"
    src.write_bytes(pt)
    enc = tmp_path / "ct"
    trent(server, "encrypt", "--key-id", arn, "--algorithm", "AES_256_GCM_HKDF_SHA512_COMMIT_KEY", "-i", src,
          "-o", enc)
    good = enc.read_bytes()
    # A byte of the sixth frame changed: to a file, nothing is left behind;
    # to stdout, the five frames before it and a failure.
    bad = bytearray(good)
    # The body ends with ten 4,128-byte frames and a 40-byte empty final
    # frame: count back to the sixth.
    bad[len(good) - 40 - 5 * (4096 + 32) + 100] ^= 1
    tampered = tmp_path / "tampered"
    tampered.write_bytes(bytes(bad))
    out = tmp_path / "out"
    p = trent(server, "decrypt", "--key-id", arn, "-i", tampered, "-o", out, check=False)
    assert p.returncode != 0 and b"frame 6 failed authentication" in p.stderr
    assert not out.exists() and not [p for p in tmp_path.iterdir() if "trent-partial" in p.name], \
        "no partial plaintext file"
    p = trent(server, "decrypt", "--key-id", arn, "-i", tampered, check=False)
    assert p.returncode != 0 and p.stdout == pt[: 5 * 4096]
    # Truncated.
    cut = tmp_path / "cut"
    cut.write_bytes(good[:-10])
    p = trent(server, "decrypt", "--key-id", arn, "-i", cut, "-o", out, check=False)
    assert p.returncode != 0 and b"truncated" in p.stderr and not out.exists()
    # The signature of a signed message: the regular frames are released as
    # they authenticate (the stream is marked failed at its end), the final
    # frame's plaintext only once the signature verifies.
    src.write_bytes(pt + b"tail")
    trent(server, "encrypt", "--key-id", arn, "-i", src, "-o", enc)
    signed = bytearray(enc.read_bytes())
    signed[-3] ^= 1
    tampered.write_bytes(bytes(signed))
    p = trent(server, "decrypt", "--key-id", arn, "-i", tampered, check=False)
    assert p.returncode != 0 and b"signature does not verify" in p.stderr
    assert p.stdout == pt, "the last frame of a signed message waits for the signature"


def test_unreachable_server(tmp_path):
    endpoint = f"http://127.0.0.1:{free_port()}"
    arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    p = run([BIN, "encrypt", "--key-id", arn], endpoint, check=False, stdin=b"x")
    assert p.returncode != 0 and b"cannot reach the AWS KMS endpoint" in p.stderr


def test_directory_mode(server, arn, tmp_path):
    tree = tmp_path / "tree"
    files = {"a.txt": data(10), "sub/b.bin": data(70000), "sub/deeper/c": b"", "sub/d": data(4096)}
    for name, content in files.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(content)
    trent(server, "encrypt", "--key-id", arn, "-r", "-i", tree, "-o", tmp_path / "enc")
    for name in files:
        assert (tmp_path / "enc" / (name + ".encrypted")).exists()
    trent(server, "decrypt", "--key-id", arn, "-r", "-i", tmp_path / "enc", "-o", tmp_path / "dec", "--suffix", "")
    for name, content in files.items():
        assert (tmp_path / "dec" / (name + ".encrypted")).read_bytes() == content
    # AWS's CLI reads the tree Trent wrote.
    (tmp_path / "aws").mkdir()
    esdk(server, "-d", "-r", "-i", tmp_path / "enc", "-o", tmp_path / "aws", "--wrapping-keys", f"key={arn}")
    assert sorted(p.name for p in (tmp_path / "aws").rglob("*") if p.is_file()) == sorted(
        Path(n).name + ".encrypted.decrypted" for n in files)


def test_raw_keys_offline(tmp_path):
    """Raw AES and RSA keys from files need no server."""
    aes = tmp_path / "wrapping.key"
    aes.write_bytes(os.urandom(32))
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    priv = tmp_path / "rsa.pem"
    priv.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    pub = tmp_path / "rsa.pub.pem"
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    nowhere = f"http://127.0.0.1:{free_port()}"
    pt = data(20000)
    # A key file in base64 (here 24 characters, the length of a raw AES-192
    # key) is read as base64.
    import base64
    b64 = tmp_path / "b64.key"
    b64.write_bytes(base64.b64encode(os.urandom(16)))
    enc16 = run([BIN, "encrypt", "--raw-aes-key", b64], nowhere, stdin=pt).stdout
    assert run([BIN, "decrypt", "--raw-aes-key", b64], nowhere, stdin=enc16).stdout == pt
    assert b"\x00\x00\x00\x80\x00\x00\x00\x0c" in enc16, "AES-GCM raw keyring provider info"
    # The decrypted file is its owner's only.
    out = tmp_path / "plain.out"
    run([BIN, "decrypt", "--raw-aes-key", b64, "-o", out], nowhere, stdin=enc16)
    assert out.read_bytes() == pt and (out.stat().st_mode & 0o077) == 0
    enc = run([BIN, "encrypt", "--raw-aes-key", aes, "--raw-rsa-key", pub, "--raw-key-name", "k1"], nowhere,
              stdin=pt).stdout
    assert run([BIN, "decrypt", "--raw-aes-key", aes, "--raw-key-name", "k1"], nowhere, stdin=enc).stdout == pt
    assert run([BIN, "decrypt", "--raw-rsa-key", priv, "--raw-key-name", "k1"], nowhere, stdin=enc).stdout == pt
    p = run([BIN, "decrypt", "--raw-rsa-key", pub, "--raw-key-name", "k1"], nowhere, stdin=enc, check=False)
    assert p.returncode != 0, "a public key cannot decrypt"
    other = tmp_path / "other.key"
    other.write_bytes(os.urandom(32))
    p = run([BIN, "decrypt", "--raw-aes-key", other, "--raw-key-name", "k1"], nowhere, stdin=enc, check=False)
    assert p.returncode != 0 and p.stdout == b""


VERIFIED = """
[[credentials]]
access_key_id = "AKIAENVELOPE00000001"
secret_access_key = "envelope-secret/with+chars="
account_id = "111122223333"
"""


@pytest.fixture(scope="module")
def verified(tmp_path_factory):
    from conftest import Server, write_config
    d = tmp_path_factory.mktemp("envelope-verified")
    s = Server(d / "data", config=write_config(d / "trent.toml", VERIFIED), tls="dev").start()
    yield s
    s.stop()


def test_profiles_sigv4_and_ca_bundle(verified, tmp_path):
    """Credentials, Region and the KMS endpoint come from a named profile in
    the shared files (no AWS_* variables), requests are SigV4-signed (the
    server verifies them), and AWS_CA_BUNDLE makes the dev CA trusted."""
    (tmp_path / "credentials").write_text(
        "[envelope]\naws_access_key_id = AKIAENVELOPE00000001\n"
        "aws_secret_access_key = envelope-secret/with+chars=\n"
        "[wrong]\naws_access_key_id = AKIAENVELOPE00000001\naws_secret_access_key = not-the-secret\n")
    (tmp_path / "config").write_text(
        f"[profile envelope]\nregion = {REGION}\nservices = local\n"
        f"[profile wrong]\nregion = {REGION}\nservices = local\n"
        f"[services local]\nkms =\n  endpoint_url = {verified.endpoint}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(tmp_path / "config"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
               AWS_EC2_METADATA_DISABLED="true", AWS_CA_BUNDLE=verified.ca_bundle)
    kms = verified.client(access_key="AKIAENVELOPE00000001", secret="envelope-secret/with+chars=")
    arn = new_key(kms)["Arn"]

    def go(*args, stdin, extra=None):
        return subprocess.run([str(BIN), *args], env={**env, **(extra or {})}, input=stdin, capture_output=True,
                              timeout=60)

    enc = go("encrypt", "--profile", "envelope", "--key-id", arn, stdin=b"profile data")
    assert enc.returncode == 0, enc.stderr
    dec = go("decrypt", "--key-id", arn, stdin=enc.stdout, extra={"AWS_PROFILE": "envelope"})
    assert dec.returncode == 0 and dec.stdout == b"profile data", dec.stderr
    # A wrong secret: the server refuses the signature.
    bad = go("decrypt", "--profile", "wrong", "--key-id", arn, stdin=enc.stdout)
    assert bad.returncode != 0 and b"InvalidSignatureException" in bad.stderr, bad.stderr
    # Without the CA bundle the HTTPS endpoint is not trusted.
    env.pop("AWS_CA_BUNDLE")
    untrusted = go("decrypt", "--profile", "envelope", "--key-id", arn, stdin=enc.stdout)
    assert untrusted.returncode != 0 and b"cannot reach the AWS KMS endpoint" in untrusted.stderr


def test_progress_bar_on_a_terminal_only(server, arn, tmp_path):
    import pty
    import select
    import threading
    import time

    def stderr_of(*flags):
        master, slave = pty.openpty()
        p = subprocess.Popen([str(BIN), "encrypt", "--key-id", arn, *flags, "-o", str(tmp_path / "out")],
                             env=env_for(server.endpoint), stdin=subprocess.PIPE, stderr=slave)
        os.close(slave)

        def feed():
            for _ in range(6):  # a slow producer: the bar has time to draw
                p.stdin.write(b"x" * 1_000_000)
                p.stdin.flush()
                time.sleep(0.15)
            p.stdin.close()
        t = threading.Thread(target=feed)
        t.start()
        seen = b""
        while True:
            r, _, _ = select.select([master], [], [], 0.1)
            if r:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    break
            elif p.poll() is not None:
                break
        t.join()
        assert p.wait(timeout=30) == 0
        os.close(master)
        return seen

    drawn = stderr_of()
    assert b"MiB" in drawn or b"KiB" in drawn, drawn
    assert b"iB" not in stderr_of("--quiet")


def test_a_bad_message_on_a_pipe_that_stays_open_fails_at_once(server, arn):
    p = subprocess.Popen([str(BIN), "decrypt", "--key-id", arn], env=env_for(server.endpoint),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(b"\x09" * 100)
    p.stdin.flush()
    try:
        rc = p.wait(timeout=15)  # the writer of the pipe never closes it
    finally:
        p.kill()
        p.stdin.close()
    assert rc != 0 and b"unsupported message format version 0x09" in p.stderr.read()


def test_non_framed_messages_from_the_official_cli(server, arn, tmp_path):
    """Trent writes framed messages only; it reads the non-framed ones the
    official tools write with a frame length of 0, signed or not, version 1
    or 2 (the commitment policy permitting)."""
    pt = data(70_000)
    src = tmp_path / "pt"
    src.write_bytes(pt)
    for suite in ("AES_256_GCM_HKDF_SHA512_COMMIT_KEY", "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384",
                  "AES_128_GCM_IV12_TAG16", "AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384"):
        enc = tmp_path / f"{suite}.enc"
        esdk(server, "-e", "-i", src, "-o", enc, "--wrapping-keys", f"key={arn}", "--algorithm", suite,
             "--frame-length", "0", "--commitment-policy", policy(suite))
        assert b"\xff\xff\xff\xff" not in enc.read_bytes(), "no final frame: the body is one block"
        p = trent(server, "decrypt", "--key-id", arn, "--commitment-policy", "require-encrypt-allow-decrypt",
                  "-i", enc)
        assert p.stdout == pt, suite
        # One changed byte of the body: nothing is released.
        bad = bytearray(enc.read_bytes())
        bad[len(bad) // 2] ^= 1
        p = trent(server, "decrypt", "--key-id", arn, "--commitment-policy", "require-encrypt-allow-decrypt",
                  stdin=bytes(bad), check=False)
        assert p.returncode != 0 and p.stdout == b"", suite
