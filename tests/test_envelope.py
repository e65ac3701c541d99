"""`trent encrypt` / `trent decrypt` against a running Trent, and interop with
AWS's own aws-encryption-sdk-cli (Python) pointed at Trent through
AWS_ENDPOINT_URL_KMS, both ways."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ACCOUNT, BIN, REGION, free_port, new_key

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
    return dict(
        os.environ,
        AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
        AWS_SECRET_ACCESS_KEY="secret",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_ENDPOINT_URL_KMS=endpoint,
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_MAX_ATTEMPTS="1",
    )


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
    for bad in (["-c", "dept=hr"], ["-c", "dept=finance", "-c", "year=2026"]):
        p = trent(server, "decrypt", "--key-id", arn, *bad, stdin=enc, check=False)
        assert p.returncode != 0 and p.stdout == b"", bad


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
    assert not out.exists() and list(tmp_path.glob("out*")) == [], "no partial plaintext file"
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
