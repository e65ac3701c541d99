"""Durability: a restart keeps everything; SIGKILL under concurrent load
loses no answered request; the root key is checked at start-up."""

import os
import stat
import threading
import time

import pytest
from botocore.exceptions import ClientError

from conftest import Server, error_of


def test_restart_keeps_keys_aliases_tags_rotations_and_usage(tmp_path):
    s = Server(tmp_path / "data").start()
    c = s.client()
    md = c.create_key(Description="survivor", Tags=[{"TagKey": "t", "TagValue": "v"}])["KeyMetadata"]
    c.create_alias(AliasName="alias/survivor", TargetKeyId=md["KeyId"])
    c.enable_key_rotation(KeyId=md["KeyId"], RotationPeriodInDays=100)
    old = c.encrypt(KeyId="alias/survivor", Plaintext=b"old", EncryptionContext={"a": "b"})["CiphertextBlob"]
    c.rotate_key_on_demand(KeyId=md["KeyId"])
    new = c.encrypt(KeyId="alias/survivor", Plaintext=b"new")["CiphertextBlob"]
    disabled = c.create_key()["KeyMetadata"]["KeyId"]
    c.disable_key(KeyId=disabled)
    usage_before = c.get_key_last_usage(KeyId=md["KeyId"])["KeyLastUsage"]
    s.stop()
    s.start()
    c = s.client()
    after = c.get_key_last_usage(KeyId=md["KeyId"])["KeyLastUsage"]
    assert after["Operation"] == usage_before["Operation"]
    assert after["KmsRequestId"] == usage_before["KmsRequestId"]
    d = c.describe_key(KeyId="alias/survivor")["KeyMetadata"]
    assert (d["KeyId"], d["Description"], d["KeyState"]) == (md["KeyId"], "survivor", "Enabled")
    assert c.list_resource_tags(KeyId=md["KeyId"])["Tags"] == [{"TagKey": "t", "TagValue": "v"}]
    st = c.get_key_rotation_status(KeyId=md["KeyId"])
    assert (st["KeyRotationEnabled"], st["RotationPeriodInDays"]) == (True, 100)
    assert len(c.list_key_rotations(KeyId=md["KeyId"])["Rotations"]) == 1
    assert c.decrypt(CiphertextBlob=old, EncryptionContext={"a": "b"})["Plaintext"] == b"old"
    assert c.decrypt(CiphertextBlob=new)["Plaintext"] == b"new"
    assert c.describe_key(KeyId=disabled)["KeyMetadata"]["KeyState"] == "Disabled"
    s.stop()


def test_sigkill_under_concurrent_load_loses_no_answered_request(tmp_path):
    s = Server(tmp_path / "data").start()
    lock = threading.Lock()
    keys, disabled, in_flight, blobs, rotations = [], set(), set(), [], {}
    stop = threading.Event()
    killed = threading.Event()
    errors = []

    def worker(n):
        c = s.client()
        key = None
        i = 0
        while not stop.is_set():
            try:
                if key is None or i % 10 == 0:
                    key = c.create_key(Description=f"worker {n} #{i}")["KeyMetadata"]["KeyId"]
                    with lock:
                        keys.append(key)
                pt = os.urandom(1 + (i % 64))
                ctx = {"worker": str(n), "i": str(i)}
                blob = c.encrypt(KeyId=key, Plaintext=pt, EncryptionContext=ctx)["CiphertextBlob"]
                with lock:
                    blobs.append((blob, pt, ctx))
                if i % 10 == 3:
                    c.rotate_key_on_demand(KeyId=key)
                    with lock:
                        rotations[key] = rotations.get(key, 0) + 1
                g = c.generate_data_key(KeyId=key, NumberOfBytes=24)
                with lock:
                    blobs.append((g["CiphertextBlob"], g["Plaintext"], None))
                if i % 10 == 9:
                    with lock:
                        in_flight.add(key)
                    c.disable_key(KeyId=key)
                    with lock:
                        disabled.add(key)
                    key = None
            except Exception as e:  # noqa: BLE001
                # After the kill every request fails; before it, none may.
                if not killed.is_set():
                    errors.append(repr(e))
                return
            i += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    time.sleep(5)
    killed.set()
    s.kill()
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not errors, f"requests failed before the kill: {errors[:5]}"
    assert len(keys) >= 16 and len(blobs) >= 100, (len(keys), len(blobs))

    s.start()
    c = s.client()
    for k in keys:
        state = c.describe_key(KeyId=k)["KeyMetadata"]["KeyState"]
        if k in disabled:
            assert state == "Disabled", k
        elif k not in in_flight:
            assert state == "Enabled", k
        # A DisableKey cut off by the kill was never answered: it may or
        # may not have been committed.
    for k, n in rotations.items():
        assert len(c.list_key_rotations(KeyId=k)["Rotations"]) >= n
    for k in disabled | in_flight:
        c.enable_key(KeyId=k)
    for blob, pt, ctx in blobs:
        kwargs = {"CiphertextBlob": blob}
        if ctx:
            kwargs["EncryptionContext"] = ctx
        assert c.decrypt(**kwargs)["Plaintext"] == pt
    s.stop()


def root_key_config(tmp_path, name, source, secret="secret"):
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(
        "[root_key]\n" + source + "\n"
        f"[[credentials]]\naccess_key_id = 'AKIDEXAMPLE'\nsecret_access_key = '{secret}'\naccount_id = '111122223333'\n"
    )
    return cfg


def test_wrong_root_key_refuses_to_start_and_changes_nothing(tmp_path):
    good, bad = "11" * 32, "22" * 32
    cfg = root_key_config(tmp_path, "env", "env = 'TRENT_TEST_ROOT'")
    s = Server(tmp_path / "data", config=cfg, env={"TRENT_TEST_ROOT": good}).start()
    c = s.client()
    key = c.create_key()["KeyMetadata"]["KeyId"]
    blob = c.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]
    s.stop()
    db = (tmp_path / "data" / "trent.db").read_bytes()
    wrong = Server(tmp_path / "data", config=cfg, env={"TRENT_TEST_ROOT": bad})
    assert wrong.start(expect_failure=True) != 0
    assert "root key does not match" in wrong.read_log()
    assert (tmp_path / "data" / "trent.db").read_bytes() == db
    s.env = {"TRENT_TEST_ROOT": good}
    s.start()
    assert s.client().decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    s.stop()


def test_passphrase_root_key(tmp_path):
    cfg = root_key_config(tmp_path, "pass", "passphrase_env = 'TRENT_TEST_PASS'")
    s = Server(tmp_path / "data", config=cfg, env={"TRENT_TEST_PASS": "correct horse battery staple"}).start()
    c = s.client()
    blob = c.encrypt(KeyId=c.create_key()["KeyMetadata"]["KeyId"], Plaintext=b"pass")["CiphertextBlob"]
    s.stop()
    wrong = Server(tmp_path / "data", config=cfg, env={"TRENT_TEST_PASS": "incorrect horse"})
    assert wrong.start(expect_failure=True) != 0
    assert "root key does not match" in wrong.read_log()
    s.start()
    assert s.client().decrypt(CiphertextBlob=blob)["Plaintext"] == b"pass"
    s.stop()


def test_development_root_key_file(tmp_path):
    s = Server(tmp_path / "data").start()
    s.client().create_key()
    s.stop()
    key_file = tmp_path / "data" / "root.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_bytes()) == 32
    key_file.rename(tmp_path / "root.key.bak")
    missing = Server(tmp_path / "data")
    assert missing.start(expect_failure=True) != 0
    assert "does not exist, but the store holds data" in missing.read_log()
    assert not key_file.exists(), "no new key is generated over existing data"
    (tmp_path / "root.key.bak").rename(key_file)
    s.start()
    assert len(s.client().list_keys()["Keys"]) == 1
    s.stop()


def test_secrets_never_reach_the_log(tmp_path):
    secret = "Zq9-distinctive-secret-access-key"
    cfg = root_key_config(tmp_path, "log", "env = 'TRENT_TEST_ROOT'", secret=secret)
    root = "ab" * 32
    s = Server(tmp_path / "data", config=cfg, env={"TRENT_TEST_ROOT": root, "TRENT_LOG": "trace"}).start()
    c = s.client(secret=secret)
    k = c.create_key()["KeyMetadata"]["KeyId"]
    secret_pt = b"do-not-log-this-plaintext"
    blob = c.encrypt(KeyId=k, Plaintext=secret_pt)["CiphertextBlob"]
    dk = c.generate_data_key(KeyId=k, KeySpec="AES_256")["Plaintext"]
    c.decrypt(CiphertextBlob=blob)
    with pytest.raises(ClientError):
        c.decrypt(CiphertextBlob=blob[:-2])
    s.stop()
    log = s.read_log()
    import base64
    for needle in [root, secret, secret_pt.decode(), base64.b64encode(secret_pt).decode(), dk.hex(), base64.b64encode(dk).decode()]:
        assert needle not in log, needle


def snapshot(directory):
    """Every file under `directory`, by relative path, with its bytes."""
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*")) if p.is_file()
    }


def test_refused_starts_write_nothing(tmp_path):
    """A wrong passphrase, a passphrase for a store made with another root
    key source, and a wrong key: the data directory is left byte for byte."""
    data = tmp_path / "data"
    env_cfg = root_key_config(tmp_path, "env", "env = 'TRENT_TEST_ROOT'")
    pass_cfg = root_key_config(tmp_path, "pass", "passphrase_env = 'TRENT_TEST_PASS'")
    s = Server(data, config=env_cfg, env={"TRENT_TEST_ROOT": "11" * 32}).start()
    s.client().create_key()
    s.stop()
    before = snapshot(data)
    assert "trent.db" in before
    for cfg, env in (
        (pass_cfg, {"TRENT_TEST_PASS": "a passphrase this store never saw"}),
        (env_cfg, {"TRENT_TEST_ROOT": "22" * 32}),
    ):
        refused = Server(data, config=cfg, env=env)
        assert refused.start(expect_failure=True) != 0
        assert "root key does not match" in refused.read_log()
        assert snapshot(data) == before, "a refused start changed the data directory"

    # The same for a store made under a passphrase: its salt is there already.
    pdata = tmp_path / "pdata"
    s = Server(pdata, config=pass_cfg, env={"TRENT_TEST_PASS": "right"}).start()
    s.client().create_key()
    s.stop()
    before = snapshot(pdata)
    refused = Server(pdata, config=pass_cfg, env={"TRENT_TEST_PASS": "wrong"})
    assert refused.start(expect_failure=True) != 0
    assert snapshot(pdata) == before


def test_a_destroyed_key_leaves_no_trace_in_the_data_directory(tmp_path):
    """After the waiting period, the key's wrapped material (every version)
    is gone from every file of the data directory (the database, its WAL,
    the audit trail, everything), and its id from every file but the audit
    trail, which keeps the record of the key's use and deletion by design
    (as CloudTrail keeps a deleted key's events)."""
    import base64
    import json
    import sqlite3

    s = Server(tmp_path / "data").start()
    c = s.client()
    keep = c.create_key(Description="kept")["KeyMetadata"]["KeyId"]
    doomed = c.create_key(Description="doomed")["KeyMetadata"]["KeyId"]
    c.create_alias(AliasName="alias/doomed", TargetKeyId=doomed)
    for _ in range(3):
        c.rotate_key_on_demand(KeyId=doomed)
    c.encrypt(KeyId=doomed, Plaintext=b"used, so it has a last-use record")
    s.advance(0)  # flushes the last-use record
    db = sqlite3.connect(f"file:{tmp_path / 'data' / 'trent.db'}?mode=ro", uri=True)
    (record,) = db.execute("SELECT record FROM keys WHERE key_id = ?", (doomed,)).fetchone()
    db.close()
    wrapped = [v["wrapped"] for v in json.loads(record)["versions"]]
    assert len(wrapped) == 4
    material = [w.encode() for w in wrapped] + [base64.b64decode(w) for w in wrapped]

    def found():
        files = snapshot(tmp_path / "data")
        everything = b"".join(files.values())
        outside_trail = b"".join(v for k, v in files.items() if not k.startswith("audit/"))
        return [n for n in material if n in everything] + (
            [doomed.encode()] if doomed.encode() in outside_trail else [])

    assert found(), "the scan finds the key while it exists"
    c.schedule_key_deletion(KeyId=doomed, PendingWindowInDays=7)
    assert s.advance(8 * 86400)["deleted"] == 1
    assert found() == [], "while running (the WAL is truncated, not only deleted rows zeroed)"
    s.kill()
    assert found() == [], "after a crash, with no clean-shutdown checkpoint"
    trail = b"".join(v for k, v in snapshot(tmp_path / "data").items() if k.startswith("audit/"))
    assert b'"eventName":"DeleteKey"' in trail and doomed.encode() in trail
    assert keep.encode() in b"".join(snapshot(tmp_path / "data").values())
    s.start()
    assert [k["KeyId"] for k in s.client().list_keys()["Keys"]] == [keep]
    s.stop()
