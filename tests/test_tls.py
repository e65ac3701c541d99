"""HTTPS: the AWS CLI and boto3 over TLS with certificate verification on
(never --no-verify-ssl), the --dev-tls start, client certificates, HTTP/2,
and reloading the certificate on SIGHUP."""

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import SSLError

from conftest import AWS, Server, write_config

ALICE = ("AKIAALICE0000000001", "alice-secret")
CREDS = f"""
[[credentials]]
access_key_id = "{ALICE[0]}"
secret_access_key = "{ALICE[1]}"
account_id = "111122223333"
"""


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
            "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.pem",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign", cwd=d)


def make_cert(d, name, ca, ext):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
    (d / f"{name}.ext").write_text(ext)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-days", "30", "-out", f"{name}.pem", "-extfile", f"{name}.ext", cwd=d)


SERVER_EXT = "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
CLIENT_EXT = "extendedKeyUsage=clientAuth\n"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "ca")
    make_cert(d, "server", "ca", SERVER_EXT)
    make_cert(d, "server2", "ca", SERVER_EXT)
    make_ca(d, "clientca")
    make_cert(d, "client", "clientca", CLIENT_EXT)
    make_ca(d, "otherca")
    make_cert(d, "stranger", "otherca", CLIENT_EXT)
    return d


def peer_cert(server, alpn=None, version=None):
    ctx = ssl.create_default_context(cafile=server.ca_bundle)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.getpeercert(binary_form=True), s.selected_alpn_protocol(), s.version()


def der_of(pem_path):
    return ssl.PEM_cert_to_DER_cert(pem_path.read_text())


@pytest.fixture(scope="module")
def dev_tls(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("devtls") / "data", tls="dev").start()
    yield s
    s.stop()


def test_dev_tls_prints_the_ca_and_the_aws_ca_bundle_line(dev_tls):
    log = dev_tls.read_log()
    m = re.search(r"export AWS_CA_BUNDLE=(\S+)", log)
    assert m, log
    assert m.group(1) == os.path.realpath(dev_tls.ca_bundle)
    assert os.stat(dev_tls.data_dir / "tls" / "server.key").st_mode & 0o077 == 0
    assert "https://127.0.0.1:" in log


def test_aws_cli_over_https_with_the_printed_line(dev_tls, tmp_path):
    """Exactly what the log tells a user to do: AWS_CA_BUNDLE, no
    --no-verify-ssl."""
    bundle = re.search(r"export AWS_CA_BUNDLE=(\S+)", dev_tls.read_log()).group(1)
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_CA_BUNDLE=bundle)

    def aws(*args):
        p = subprocess.run([str(AWS), "kms", *args, "--endpoint-url", dev_tls.endpoint, "--output", "json"],
                           capture_output=True, text=True, env=env, timeout=120)
        return p.returncode, p.stdout, p.stderr

    rc, out, err = aws("create-key", "--description", "over tls")
    assert rc == 0, err
    key = json.loads(out)["KeyMetadata"]["KeyId"]
    pt = tmp_path / "pt"
    pt.write_bytes(b"encrypted in transit too")
    rc, out, err = aws("encrypt", "--key-id", key, "--plaintext", f"fileb://{pt}")
    assert rc == 0, err
    ct = tmp_path / "ct"
    import base64
    ct.write_bytes(base64.b64decode(json.loads(out)["CiphertextBlob"]))
    rc, out, err = aws("decrypt", "--ciphertext-blob", f"fileb://{ct}")
    assert rc == 0 and base64.b64decode(json.loads(out)["Plaintext"]) == b"encrypted in transit too"
    # Without the bundle, certificate verification fails, as it must.
    env.pop("AWS_CA_BUNDLE")
    rc, _, err = aws("list-keys")
    assert rc != 0 and "SSL" in err and "CERTIFICATE_VERIFY_FAILED" in err, err


def test_boto3_over_https_verifies_the_certificate(dev_tls):
    kms = dev_tls.client()
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"tls")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"tls"
    untrusting = dev_tls.client(verify=True)  # the system's CAs only
    with pytest.raises(SSLError):
        untrusting.list_keys()


def test_dev_certificate_is_reused_across_restarts(tmp_path):
    s = Server(tmp_path / "data", tls="dev").start()
    first = der_of(tmp_path / "data" / "tls" / "server.pem")
    s.stop()
    s.start()
    try:
        assert peer_cert(s)[0] == first
        assert s.client().list_keys()["Keys"] == []
    finally:
        s.stop()


def test_tls_versions_and_alpn(dev_tls):
    _, alpn, _ = peer_cert(dev_tls, alpn=["h2", "http/1.1"])
    assert alpn == "h2"
    _, alpn, _ = peer_cert(dev_tls, alpn=["http/1.1"])
    assert alpn == "http/1.1"
    assert peer_cert(dev_tls, version=ssl.TLSVersion.TLSv1_3)[2] == "TLSv1.3"
    assert peer_cert(dev_tls, version=ssl.TLSVersion.TLSv1_2)[2] == "TLSv1.2"


def test_http2_requests_are_served(dev_tls):
    p = subprocess.run(
        ["curl", "-sS", "--http2", "--cacert", dev_tls.ca_bundle, "--aws-sigv4", "aws:amz:us-east-1:kms",
         "--user", "AKIDEXAMPLE:x", "-H", "X-Amz-Target: TrentService.ListKeys",
         "-H", "Content-Type: application/x-amz-json-1.1", "-d", "{}", "-w", "\n%{http_version} %{http_code}",
         dev_tls.endpoint + "/"],
        capture_output=True, text=True, timeout=60,
    )
    body, status = p.stdout.rsplit("\n", 1)
    assert status == "2 200", (p.stdout, p.stderr)
    assert "Keys" in json.loads(body)


def configured_tls(tmp_path, pki, name, client_ca=False):
    for f in ("server.pem", "server.key"):
        (tmp_path / f).write_bytes((pki / f).read_bytes())
    extra = f"tls_cert_file = '{tmp_path / 'server.pem'}'\ntls_key_file = '{tmp_path / 'server.key'}'\n"
    if client_ca:
        extra += f"tls_client_ca_file = '{pki / 'clientca.pem'}'\n"
    cfg = write_config(tmp_path / f"{name}.toml", extra + CREDS)
    return Server(tmp_path / name, config=cfg, tls=pki / "ca.pem")


def test_configured_certificate_with_verified_signatures(tmp_path, pki):
    s = configured_tls(tmp_path, pki, "files").start()
    try:
        kms = s.client(access_key=ALICE[0], secret=ALICE[1])
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        assert kms.describe_key(KeyId=key)["KeyMetadata"]["Enabled"]
        rc, out, err = s.cli("list-keys", access_key=ALICE[0], secret=ALICE[1])
        assert rc == 0 and key in out["Keys"][0]["KeyId"], err
        assert peer_cert(s)[0] == der_of(pki / "server.pem")
        # HTTP/2 with a verified signature: the host the client signed is
        # HTTP/2's :authority, not a Host header.
        for version in ("--http2", "--http1.1"):
            p = subprocess.run(
                ["curl", "-sS", version, "--cacert", s.ca_bundle, "--aws-sigv4", "aws:amz:us-east-1:kms",
                 "--user", f"{ALICE[0]}:{ALICE[1]}", "-H", "X-Amz-Target: TrentService.DescribeKey",
                 "-H", "Content-Type: application/x-amz-json-1.1", "-d", json.dumps({"KeyId": key}),
                 "-w", "\n%{http_version} %{http_code}", s.endpoint + "/"],
                capture_output=True, text=True, timeout=60,
            )
            body, status = p.stdout.rsplit("\n", 1)
            assert status == ("2 200" if version == "--http2" else "1.1 200"), (version, p.stdout, p.stderr)
            assert json.loads(body)["KeyMetadata"]["KeyId"] == key
    finally:
        s.stop()


def test_client_certificates_are_required_when_configured(tmp_path, pki):
    s = configured_tls(tmp_path, pki, "mtls", client_ca=True).start()
    try:
        def client(cert):
            return boto3.client(
                "kms", endpoint_url=s.endpoint, verify=s.ca_bundle, region_name="us-east-1",
                aws_access_key_id=ALICE[0], aws_secret_access_key=ALICE[1],
                config=Config(client_cert=cert, retries={"max_attempts": 1}, connect_timeout=5, read_timeout=10),
            )
        with_cert = client((str(pki / "client.pem"), str(pki / "client.key")))
        assert "Keys" in with_cert.list_keys()
        for cert in (None, (str(pki / "stranger.pem"), str(pki / "stranger.key"))):
            with pytest.raises(Exception) as e:
                client(cert).list_keys()
            assert "SSL" in type(e.value).__name__ or "ssl" in str(e.value).lower() or "reset" in str(e.value).lower(), e.value
        # Refused during the handshake: no HTTP exchange happens at all.
        ctx = ssl.create_default_context(cafile=s.ca_bundle)
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as raw:
            with pytest.raises((ssl.SSLError, ConnectionError)):
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as t:
                    t.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
                    t.recv(100)
    finally:
        s.stop()


def test_sighup_reloads_the_certificate_without_dropping_connections(tmp_path, pki):
    s = configured_tls(tmp_path, pki, "reload").start()
    try:
        first, second = der_of(pki / "server.pem"), der_of(pki / "server2.pem")
        assert peer_cert(s)[0] == first
        # An open keep-alive connection, from before the reload.
        ctx = ssl.create_default_context(cafile=s.ca_bundle)
        ctx.set_alpn_protocols(["http/1.1"])
        held = ctx.wrap_socket(socket.create_connection(("127.0.0.1", s.port), timeout=10), server_hostname="127.0.0.1")
        from rawhttp import read_response, send_head, signed_headers
        headers = signed_headers(s, "ListKeys", b"{}", creds=ALICE)
        send_head(held, headers)
        held.sendall(b"{}")
        assert read_response(held)[0] == 200

        (tmp_path / "server.pem").write_bytes((pki / "server2.pem").read_bytes())
        (tmp_path / "server.key").write_bytes((pki / "server2.key").read_bytes())
        s.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while peer_cert(s)[0] != second and time.time() < deadline:
            time.sleep(0.1)
        assert peer_cert(s)[0] == second
        assert "TLS certificate and key reloaded" in s.read_log()
        headers = signed_headers(s, "ListKeys", b"{}", creds=ALICE)
        send_head(held, headers)
        held.sendall(b"{}")
        assert read_response(held)[0] == 200, "the open connection survived the reload"

        # A bad file: the reload fails, says why, and the server keeps the
        # certificate it had.
        (tmp_path / "server.key").write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
        s.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while "TLS reload failed" not in s.read_log() and time.time() < deadline:
            time.sleep(0.1)
        log = s.read_log()
        assert "TLS reload failed" in log and "server.key" in log, log
        assert peer_cert(s)[0] == second
        assert "Keys" in s.client(access_key=ALICE[0], secret=ALICE[1]).list_keys()
        assert s.proc.poll() is None
        held.close()
    finally:
        s.stop()
