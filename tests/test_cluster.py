"""Several Trent nodes on one PostgreSQL database (issue 16): caches kept
coherent across nodes, background work run once, a node killed under load, a
node started later, a database restart and a failover to a synchronous
standby under load.

Each test module starts its own PostgreSQL servers on loopback through
scripts/pg.sh (durable settings: fsync and synchronous commit on), and the
nodes are real `trent serve` processes with `[store] backend = "postgres"`."""

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from conftest import ROOT, Server, error_of, free_port, write_config

PG = ROOT / "scripts" / "pg.sh"
ACCOUNT = "111122223333"
ADMIN = ("AKIACLUSTERADMIN0001", "cluster-admin-secret")
APP = ("AKIACLUSTERAPP000001", "cluster-app-secret")
APP_ARN = f"arn:aws:iam::{ACCOUNT}:user/app"


def pg(*args):
    """Run scripts/pg.sh; its standard output."""
    p = subprocess.run(["bash", str(PG), *map(str, args)], capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, f"pg.sh {args} failed: {p.stderr}"
    return p.stdout.strip()


def pg_home():
    """A directory the `postgres` user can reach (pytest's are private to
    root)."""
    d = tempfile.mkdtemp(prefix="trent-pg-")
    os.chmod(d, 0o755)
    return Path(d)


def node_config(url, node, interval=1, timeout_ms=3000):
    return f"""
background_interval_secs = {interval}

[store]
backend = "postgres"
url = "{url}"
pool_size = 8
timeout_ms = {timeout_ms}

[audit]
node = "{node}"

[[credentials]]
access_key_id = "{ADMIN[0]}"
secret_access_key = "{ADMIN[1]}"
account_id = "{ACCOUNT}"

[[credentials]]
access_key_id = "{APP[0]}"
secret_access_key = "{APP[1]}"
account_id = "{ACCOUNT}"
principal = "{APP_ARN}"
"""


class Cluster:
    """Trent nodes sharing one database."""

    def __init__(self, base, url):
        self.base = Path(base)
        self.url = url
        self.nodes = {}

    def start(self, name, **kw):
        d = self.base / name
        d.mkdir(parents=True, exist_ok=True)
        cfg = write_config(d / "trent.toml", node_config(self.url, name, **kw))
        s = Server(d / "data", config=cfg).start()
        self.nodes[name] = s
        return s

    def client(self, name, creds=ADMIN, timeout=30):
        c = self.nodes[name].client(access_key=creds[0], secret=creds[1])
        c.meta.config.read_timeout = timeout
        return c

    def stop(self):
        for s in self.nodes.values():
            s.stop()


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    d = pg_home()
    pg("install")
    url = pg("new", d / "primary", free_port())
    yield d / "primary", url
    pg("down", d / "primary")
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, database):
    c = Cluster(tmp_path_factory.mktemp("nodes"), database[1])
    for name in ("node-a", "node-b", "node-c"):
        c.start(name)
    yield c
    c.stop()


def refused_within(call, errors, limit):
    """Call `call` until it raises a ClientError with a code in `errors`;
    return the seconds that took. Fails after `limit` seconds."""
    start = time.monotonic()
    while True:
        try:
            call()
        except ClientError as e:
            if e.response["Error"]["Code"] in errors:
                return time.monotonic() - start
            raise
        elapsed = time.monotonic() - start
        assert elapsed < limit, f"still allowed after {elapsed:.2f} s"
        time.sleep(0.01)


def allowed_within(call, refusal, limit):
    """Call `call` until it succeeds, while it is refused with `refusal`;
    fails after `limit` seconds."""
    start = time.monotonic()
    while True:
        try:
            return call()
        except ClientError as e:
            assert e.response["Error"]["Code"] == refusal
            assert time.monotonic() - start < limit, f"still refused ({refusal}) after {limit} s"
            time.sleep(0.01)


def test_disable_on_one_node_is_refused_on_another_within_a_second(cluster):
    a, c = cluster.client("node-a"), cluster.client("node-c")
    key = a.create_key()["KeyMetadata"]["KeyId"]
    times = []
    for _ in range(5):
        # Node C has the key in its cache (this Encrypt loads it).
        c.encrypt(KeyId=key, Plaintext=b"x")
        a.disable_key(KeyId=key)
        times.append(refused_within(lambda: c.encrypt(KeyId=key, Plaintext=b"x"), {"DisabledException"}, 1.0))
        a.enable_key(KeyId=key)
        allowed_within(lambda: c.encrypt(KeyId=key, Plaintext=b"x"), "DisabledException", 1.0)
    assert max(times) < 1.0, times


def test_policy_change_and_alias_move_reach_other_nodes_within_a_second(cluster):
    a, b = cluster.client("node-a"), cluster.client("node-b")
    key = a.create_key()["KeyMetadata"]["KeyId"]
    other = a.create_key()["KeyMetadata"]["KeyId"]
    a.create_alias(AliasName="alias/cluster-moving", TargetKeyId=key)
    blob = b.encrypt(KeyId="alias/cluster-moving", Plaintext=b"x")["CiphertextBlob"]
    assert b.decrypt(CiphertextBlob=blob)["KeyId"].endswith(key)
    # Retarget on A: B's cached alias follows.
    a.update_alias(AliasName="alias/cluster-moving", TargetKeyId=other)
    start = time.monotonic()
    while not b.encrypt(KeyId="alias/cluster-moving", Plaintext=b"x")["KeyId"].endswith(other):
        assert time.monotonic() - start < 1.0, "the alias still points at the old key after a second"
        time.sleep(0.01)
    # A key policy that denies Encrypt, put on A, is enforced on B.
    deny = (
        '{"Version":"2012-10-17","Statement":['
        f'{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},'
        '{"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*"}]}'
    )
    b.encrypt(KeyId=key, Plaintext=b"x")
    a.put_key_policy(KeyId=key, PolicyName="default", Policy=deny)
    assert refused_within(lambda: b.encrypt(KeyId=key, Plaintext=b"x"), {"AccessDeniedException"}, 1.0) < 1.0


def test_grants_and_their_revocation_across_nodes(cluster):
    a, c = cluster.client("node-a"), cluster.client("node-c")
    app_c = cluster.client("node-c", APP)
    key = a.create_key()["KeyMetadata"]["KeyId"]
    # The app has no identity policy: nothing but a grant lets it in.
    with pytest.raises(ClientError) as e:
        app_c.encrypt(KeyId=key, Plaintext=b"x")
    assert error_of(e)[0] == "AccessDeniedException"
    grant = a.create_grant(KeyId=key, GranteePrincipal=APP_ARN, Operations=["Encrypt", "Decrypt"])
    # The grant token works on another node at once (AWS's promise).
    app_c.encrypt(KeyId=key, Plaintext=b"x", GrantTokens=[grant["GrantToken"]])
    # And without the token within a second.
    allowed_within(lambda: app_c.encrypt(KeyId=key, Plaintext=b"x"), "AccessDeniedException", 1.0)
    a.revoke_grant(KeyId=key, GrantId=grant["GrantId"])
    took = refused_within(lambda: app_c.encrypt(KeyId=key, Plaintext=b"x"), {"AccessDeniedException"}, 1.0)
    assert took < 1.0
    # Node C's view of the grants is the database's.
    assert c.list_grants(KeyId=key)["Grants"] == []


def test_concurrent_rotations_on_three_nodes_lose_no_version(cluster):
    a = cluster.client("node-a")
    key = a.create_key()["KeyMetadata"]["KeyId"]
    blobs = [a.encrypt(KeyId=key, Plaintext=b"v1")["CiphertextBlob"]]
    errors = []

    def rotate(name):
        client = cluster.client(name)
        for _ in range(3):
            try:
                client.rotate_key_on_demand(KeyId=key)
                blobs.append(client.encrypt(KeyId=key, Plaintext=b"after")["CiphertextBlob"])
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

    threads = [threading.Thread(target=rotate, args=(n,)) for n in ("node-a", "node-b", "node-c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    rotations = a.list_key_rotations(KeyId=key)["Rotations"]
    assert len(rotations) == 9
    assert len({r["KeyMaterialId"] for r in rotations}) == 9
    for name in ("node-a", "node-b", "node-c"):
        client = cluster.client(name)
        for blob in blobs:
            client.decrypt(CiphertextBlob=blob)


def test_background_work_runs_on_one_node_and_moves_when_it_dies(cluster):
    """Exactly one node holds the background lease; scheduled deletions are
    done by it alone; when it is killed another node takes over."""
    deadline = time.monotonic() + 10
    while True:
        holders = [n for n, s in cluster.nodes.items() if "holds the background lease" in s.read_log()]
        if holders or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(holders) == 1, holders
    leader = holders[0]
    a = cluster.client("node-a")
    keys = [a.create_key()["KeyMetadata"]["KeyId"] for _ in range(3)]
    for k in keys:
        a.schedule_key_deletion(KeyId=k, PendingWindowInDays=7)
    for s in cluster.nodes.values():
        status, _ = s.clock_request("advance_seconds=700000&sweep=0")
        assert status == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        gone = 0
        for k in keys:
            try:
                a.describe_key(KeyId=k)
            except ClientError as e:
                assert e.response["Error"]["Code"] == "NotFoundException"
                gone += 1
        if gone == len(keys):
            break
        time.sleep(0.2)
    assert gone == len(keys), "the lease holder did not delete the keys"
    sweeps = {n: re.findall(r"background sweep.*deleted=(\d+)", s.read_log()) for n, s in cluster.nodes.items()}
    assert sum(int(d) for d in sweeps[leader]) >= len(keys), sweeps
    assert all(not v for n, v in sweeps.items() if n != leader), sweeps
    # The holder dies: another node takes the lease (3 intervals of 1 s).
    cluster.nodes[leader].kill()
    deadline = time.monotonic() + 10
    while True:
        took = [n for n, s in cluster.nodes.items() if n != leader and "holds the background lease" in s.read_log()]
        if took or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(took) == 1, took
    # Bring the node back for the other tests.
    cluster.nodes[leader].start()


class Load:
    """Clients hammering nodes: CreateKey and Encrypt, recording every
    answered request, and every error (which must be retryable ones)."""

    RETRYABLE = {"KMSInternalException", "DependencyTimeoutException"}

    def __init__(self, cluster, names, workers=3):
        self.cluster = cluster
        self.names = names
        self.workers = workers
        self.stop = threading.Event()
        self.created = []
        self.encrypted = []
        self.errors = []
        self.unexpected = []
        self.slow = []
        self.threads = []

    def _run(self, i):
        name = self.names[i % len(self.names)]
        client = self.cluster.client(name, timeout=20)
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                key = client.create_key()["KeyMetadata"]["KeyId"]
                self.created.append(key)
                blob = client.encrypt(KeyId=key, Plaintext=b"answered")["CiphertextBlob"]
                self.encrypted.append(blob)
            except ClientError as e:
                code = e.response["Error"]["Code"]
                (self.errors if code in self.RETRYABLE else self.unexpected).append(code)
                time.sleep(0.05)
            except (EndpointConnectionError, ConnectionClosedError):
                # The node itself is down (killed on purpose).
                time.sleep(0.05)
            except ReadTimeoutError:
                self.unexpected.append("hang")
            self.slow.append(time.monotonic() - t0)

    def __enter__(self):
        for i in range(self.workers):
            t = threading.Thread(target=self._run, args=(i,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def check_all_answered_are_stored(self, client):
        assert self.created, "no request was answered"
        listed = set()
        marker = None
        while True:
            page = client.list_keys(Limit=1000, **({"Marker": marker} if marker else {}))
            listed |= {k["KeyId"] for k in page["Keys"]}
            if not page.get("Truncated"):
                break
            marker = page["NextMarker"]
        missing = [k for k in self.created if k not in listed]
        assert missing == [], f"{len(missing)} answered CreateKey lost"
        for blob in self.encrypted:
            assert client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"answered"


def test_sigkill_of_a_node_under_load_loses_no_answered_request(cluster):
    with Load(cluster, ["node-a", "node-b", "node-c"], workers=6) as load:
        time.sleep(2)
        cluster.nodes["node-b"].kill()
        time.sleep(2)
    assert load.unexpected == [], load.unexpected
    load.check_all_answered_are_stored(cluster.client("node-c"))
    cluster.nodes["node-b"].start()


def test_a_node_started_later_serves_keys_made_before(cluster):
    a = cluster.client("node-a")
    key = a.create_key()["KeyMetadata"]["KeyId"]
    a.create_alias(AliasName="alias/before-node-d", TargetKeyId=key)
    blob = a.encrypt(KeyId=key, Plaintext=b"made before")["CiphertextBlob"]
    cluster.start("node-d")
    d = cluster.client("node-d")
    assert d.decrypt(CiphertextBlob=blob)["Plaintext"] == b"made before"
    assert d.encrypt(KeyId="alias/before-node-d", Plaintext=b"x")["KeyId"].endswith(key)
    assert d.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"
    cluster.nodes.pop("node-d").stop()


def test_a_database_restart_under_load_is_survived(cluster, database):
    pgdir = database[0]
    with Load(cluster, ["node-a", "node-b", "node-c"], workers=6) as load:
        time.sleep(1.5)
        before = len(load.created)
        pg("down", pgdir, "fast")
        time.sleep(2)
        pg("up", pgdir)
        time.sleep(4)
        after = len(load.created)
    assert after > before, "no request succeeded after the database came back"
    assert load.unexpected == [], load.unexpected
    assert load.errors, "no request failed while the database was down"
    assert max(load.slow) < 15, f"a request took {max(load.slow):.1f} s"
    load.check_all_answered_are_stored(cluster.client("node-a"))
    # The caches work again: a disable is still seen across nodes.
    a, c = cluster.client("node-a"), cluster.client("node-c")
    key = a.create_key()["KeyMetadata"]["KeyId"]
    c.encrypt(KeyId=key, Plaintext=b"x")
    a.disable_key(KeyId=key)
    assert refused_within(lambda: c.encrypt(KeyId=key, Plaintext=b"x"), {"DisabledException"}, 1.0) < 1.0


def test_failover_to_a_synchronous_standby_under_load(tmp_path):
    """A primary with a synchronous hot standby; Trent is given both hosts
    with target_session_attrs=read-write. The primary dies (immediate stop,
    as a crash) and the standby is promoted under load: the nodes carry on
    without a restart, requests meanwhile fail with retryable errors, and
    every answered request is in the promoted database."""
    p1, p2 = free_port(), free_port()
    home = pg_home()
    primary, standby = home / "pg1", home / "pg2"
    pg("new", primary, p1)
    try:
        pg("standby", p1, standby, p2)
        pg("sync", p1)
        url = f"postgres://trent:trent@127.0.0.1:{p1},127.0.0.1:{p2}/trent?target_session_attrs=read-write"
        cluster = Cluster(tmp_path / "nodes", url)
        try:
            cluster.start("node-a")
            cluster.start("node-b")
            with Load(cluster, ["node-a", "node-b"], workers=4) as load:
                time.sleep(2)
                before = len(load.created)
                pg("down", primary, "immediate")
                time.sleep(1)
                pg("promote", standby)
                time.sleep(5)
                after = len(load.created)
            assert before > 0
            assert after > before, "no request succeeded after the failover"
            assert load.unexpected == [], load.unexpected
            # Requests during the switch failed, retryably (counted by code).
            assert load.errors, "no request failed while there was no primary"
            assert set(load.errors) <= Load.RETRYABLE, set(load.errors)
            assert max(load.slow) < 15, f"a request took {max(load.slow):.1f} s"
            for name in ("node-a", "node-b"):
                assert cluster.nodes[name].proc.poll() is None, f"{name} exited"
            load.check_all_answered_are_stored(cluster.client("node-b"))
        finally:
            cluster.stop()
    finally:
        pg("down", primary, "immediate")
        pg("down", standby)
        shutil.rmtree(home, ignore_errors=True)


def make_ca_and_server_cert(directory):
    """A CA and a certificate for 127.0.0.1 signed by it (PEM files)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test database CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory = Path(directory)
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def test_tls_to_the_database_is_required_and_verified(tmp_path):
    """`tls_ca_file`: the node talks to PostgreSQL over TLS only, and only to
    a server whose certificate that CA signed."""
    port = free_port()
    home = pg_home()
    db = home / "db"
    try:
        url = pg("new", db, port, "fast")
        make_ca_and_server_cert(db / "data")
        subprocess.run(["chown", "postgres:postgres", db / "data" / "server.crt", db / "data" / "server.key"], check=True)
        os.chmod(db / "data" / "server.key", 0o600)
        pg("sql", port, "ALTER SYSTEM SET ssl = on", "SELECT pg_reload_conf()")
        time.sleep(0.5)
        cluster = Cluster(tmp_path / "nodes", url)
        ca = db / "data" / "ca.pem"
        try:
            d = tmp_path / "nodes" / "node-tls"
            d.mkdir(parents=True)
            body = node_config(url, "node-tls").replace("timeout_ms = 3000", f"timeout_ms = 3000\ntls_ca_file = \"{ca}\"")
            s = Server(d / "data", config=write_config(d / "trent.toml", body)).start()
            cluster.nodes["node-tls"] = s
            kms = cluster.client("node-tls")
            key = kms.create_key()["KeyMetadata"]["KeyId"]
            kms.encrypt(KeyId=key, Plaintext=b"x")
            rows = pg("sql", port, "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_ssl s "
                      "JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'trent/node-tls'")
            over_tls, total = map(int, rows.split("|"))
            assert total >= 2 and over_tls == total, rows  # the pool and the listener
            assert "password" not in s.read_log().lower() or "password=***" in s.read_log()
            assert ":trent@" not in s.read_log()
            # Another CA: the node refuses to start.
            other = tmp_path / "other"
            other.mkdir()
            make_ca_and_server_cert(other)
            d2 = tmp_path / "nodes" / "node-wrong-ca"
            d2.mkdir(parents=True)
            body = node_config(url, "node-wrong-ca").replace(
                "timeout_ms = 3000", f"timeout_ms = 3000\ntls_ca_file = \"{other / 'ca.pem'}\"")
            bad = Server(d2 / "data", config=write_config(d2 / "trent.toml", body))
            assert bad.start(expect_failure=True) != 0
            assert "certificate" in bad.read_log().lower(), bad.read_log()
        finally:
            cluster.stop()
    finally:
        pg("down", db)
        shutil.rmtree(home, ignore_errors=True)
