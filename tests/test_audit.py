"""The audit trail, black-box: one event per request (allowed, denied,
refused at authentication or validation), CloudTrail's event shape, no
secret in any file, durability across SIGKILL, failing closed on a full
disk, offline verification that finds tampering, search with the AWS CLI's
`cloudtrail lookup-events`, GetKeyLastUsage's event id, service events,
and the stdout and syslog copies."""

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ACCOUNT, AWS, BIN, REGION, Server, error_of, write_config
import rawhttp

A = ACCOUNT
B = "444455556666"
ROOT_A = ("AKIAAUDITROOTA000001", "audit-root-a-secret-one")
CAROL = ("AKIAAUDITCAROL000001", "audit-carol-secret-two")
CI = ("AKIAAUDITCI000000001", "audit-ci-secret-three")
ROOT_B = ("AKIAAUDITROOTB000001", "audit-root-b-secret-four")
ALLOW_ALL = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:*","cloudtrail:LookupEvents"],"Resource":"*"}]}'

CONFIG = f"""
[[credentials]]
access_key_id = "{ROOT_A[0]}"
secret_access_key = "{ROOT_A[1]}"
account_id = "{A}"

[[credentials]]
access_key_id = "{CAROL[0]}"
secret_access_key = "{CAROL[1]}"
account_id = "{A}"
principal = "arn:aws:iam::{A}:user/carol"

[[credentials]]
access_key_id = "{CI[0]}"
secret_access_key = "{CI[1]}"
account_id = "{A}"
principal = "arn:aws:iam::{A}:user/ci"

[[credentials]]
access_key_id = "{ROOT_B[0]}"
secret_access_key = "{ROOT_B[1]}"
account_id = "{B}"

[[users]]
arn = "arn:aws:iam::{A}:user/carol"
policies = ['''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}}]}}''']

[[users]]
arn = "arn:aws:iam::{A}:user/ci"
policies = ['''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}}]}}''']

[[roles]]
arn = "arn:aws:iam::{A}:role/deployer"
trust_policy = '''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:user/ci"}},"Action":"sts:AssumeRole"}}]}}'''
policies = ['''{ALLOW_ALL}''']
"""


def configured(tmp_path, extra=""):
    return Server(tmp_path / "data", config=write_config(tmp_path / "trent.toml", CONFIG + extra))


def kms(srv, creds, token=None):
    return boto3.client(
        "kms", endpoint_url=srv.endpoint, region_name=REGION, aws_access_key_id=creds[0],
        aws_secret_access_key=creds[1], aws_session_token=token,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, parameter_validation=False),
    )


def cloudtrail(srv, creds=("AKIDEXAMPLE", "secret"), region=REGION):
    return boto3.client(
        "cloudtrail", endpoint_url=srv.endpoint, region_name=region, aws_access_key_id=creds[0],
        aws_secret_access_key=creds[1],
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, parameter_validation=False),
    )


def trail_bytes(data_dir):
    """Every byte of every file of the audit directory."""
    return b"".join(p.read_bytes() for p in sorted((Path(data_dir) / "audit").rglob("*")) if p.is_file())


def events(data_dir):
    """Every recorded event, in chain order per node."""
    out = []
    for seg in sorted((Path(data_dir) / "audit").glob("*/*.jsonl")):
        # The open segment has space reserved after its records: they end
        # at the first NUL byte (docs/audit.md), and the last line may be torn.
        lines = seg.read_bytes().split(b"\0", 1)[0].split(b"\n")
        for line in lines[:-1]:
            if line.strip():
                out.append(json.loads(line)["record"])
    return out


def rid_of(r):
    return r["ResponseMetadata"]["RequestId"]


def rid_of_error(e):
    return e.response["ResponseMetadata"]["RequestId"]


def verify(dir_, *args):
    return subprocess.run([str(BIN), "audit", "verify", str(dir_), *args], capture_output=True, text=True, timeout=120)


def public_key(srv, tmp_path):
    pem = subprocess.run(
        [str(BIN), "audit", "public-key", "--data-dir", str(srv.data_dir)]
        + (["--config", str(srv.config)] if srv.config else []),
        capture_output=True, text=True, timeout=60, check=True,
        env={**os.environ, **srv.env},
    ).stdout
    assert pem.startswith("-----BEGIN PUBLIC KEY-----"), pem
    path = tmp_path / "audit-public.pem"
    path.write_text(pem)
    return path


def test_every_request_is_recorded_once_in_cloudtrails_shape_and_no_secret_is(tmp_path):
    srv = configured(tmp_path).start()
    try:
        root = kms(srv, ROOT_A)
        rids = {}  # request id -> (event name, error code or None)

        def ok(name, r):
            rids[rid_of(r)] = (name, None)
            return r

        def fails(name, code, call):
            with pytest.raises(ClientError) as e:
                call()
            assert error_of(e)[0] == code, error_of(e)
            rids[rid_of_error(e.value)] = (name, code)

        key = ok("CreateKey", root.create_key(Description="audited"))["KeyMetadata"]
        arn = key["Arn"]
        plaintext = b"the plaintext that must not be recorded 0x5eC12e7"
        blob = ok("Encrypt", root.encrypt(KeyId=key["KeyId"], Plaintext=plaintext,
                                          EncryptionContext={"purpose": "audit-test"}))["CiphertextBlob"]
        ok("Decrypt", root.decrypt(CiphertextBlob=blob, EncryptionContext={"purpose": "audit-test"}))
        data_key = ok("GenerateDataKey", root.generate_data_key(KeyId=arn, KeySpec="AES_256"))["Plaintext"]
        random = ok("GenerateRandom", root.generate_random(NumberOfBytes=64))["Plaintext"]
        fails("DescribeKey", "NotFoundException", lambda: root.describe_key(KeyId="alias/none"))
        fails("Encrypt", "ValidationException", lambda: root.encrypt(KeyId=arn, Plaintext=b""))
        fails("DescribeKey", "AccessDeniedException", lambda: kms(srv, CAROL).describe_key(KeyId=arn))
        fails("Encrypt", "InvalidSignatureException",
              lambda: kms(srv, (ROOT_A[0], "a wrong secret")).encrypt(KeyId=arn, Plaintext=b"x"))
        fails("ListKeys", "UnrecognizedClientException", lambda: kms(srv, ("AKIAUNKNOWN000000000", "s")).list_keys())
        # An operation that does not exist, signed correctly.
        body = b"{}"
        headers = rawhttp.signed_headers(srv, "NoSuchOperation", body, creds=ROOT_A)
        status, h, _ = rawhttp.exchange(srv, headers, body)
        assert status == 400
        rids[{k.lower(): v for k, v in h.items()}["x-amzn-requestid"]] = ("NoSuchOperation", "UnknownOperationException")
        # STS, and a role session's call.
        sts = boto3.client("sts", endpoint_url=srv.endpoint, region_name=REGION, aws_access_key_id=CI[0],
                           aws_secret_access_key=CI[1])
        assumed = ok("AssumeRole", sts.assume_role(RoleArn=f"arn:aws:iam::{A}:role/deployer", RoleSessionName="audit-s1"))
        creds = assumed["Credentials"]
        session = kms(srv, (creds["AccessKeyId"], creds["SecretAccessKey"]), creds["SessionToken"])
        ok("Encrypt", session.encrypt(KeyId=arn, Plaintext=b"by the session"))
        ok("GetCallerIdentity", sts.get_caller_identity())
        grant = ok("CreateGrant", root.create_grant(KeyId=arn, GranteePrincipal=f"arn:aws:iam::{A}:user/carol",
                                                    Operations=["Encrypt"]))
        # A grant token in a request, and a too-long one in a refusal.
        ok("RetireGrant", root.retire_grant(GrantToken=grant["GrantToken"]))
        long_token = "T" * 8193
        fails("RetireGrant", "ValidationException", lambda: root.retire_grant(GrantToken=long_token))
    finally:
        srv.stop()

    recorded = events(srv.data_dir)
    by_rid = {}
    for e in recorded:
        by_rid.setdefault(e.get("requestID"), []).append(e)
    for rid, (name, code) in rids.items():
        assert len(by_rid.get(rid, [])) == 1, (rid, name, by_rid.get(rid))
        (e,) = by_rid[rid]
        assert e["eventName"] == name, e
        assert e.get("errorCode") == ("AccessDenied" if code == "AccessDeniedException" else code), e
    assert len(recorded) == len(rids), "one event per request, no more"

    # No secret in any file of the trail (segments, indexes, digests).
    raw = trail_bytes(srv.data_dir)
    secrets = [plaintext, base64.b64encode(plaintext), data_key, base64.b64encode(data_key), random,
               base64.b64encode(random), blob, base64.b64encode(blob),
               creds["SecretAccessKey"].encode(), creds["SessionToken"].encode(), grant["GrantToken"].encode(),
               long_token.encode()]
    secrets += [s.encode() for _, s in (ROOT_A, CAROL, CI, ROOT_B)]
    for s in secrets:
        assert s not in raw, s[:40]
    assert b'"purpose":"audit-test"' in raw, "the encryption context is recorded"

    def one(name, **match):
        found = [e for e in recorded if e["eventName"] == name
                 and all(e.get(k) == v for k, v in match.items())]
        assert found, (name, match)
        return found[0]

    enc = one("Encrypt", errorCode=None, userIdentity={"type": "Root", "principalId": A,
                                                        "arn": f"arn:aws:iam::{A}:root", "accountId": A,
                                                        "accessKeyId": ROOT_A[0]})
    assert enc["eventVersion"] == "1.11" and enc["eventSource"] == "kms.amazonaws.com"
    assert enc["awsRegion"] == REGION and enc["sourceIPAddress"] == "127.0.0.1"
    assert enc["userAgent"].startswith("Boto3/") or "botocore" in enc["userAgent"]
    assert enc["requestParameters"] == {"keyId": key["KeyId"], "encryptionContext": {"purpose": "audit-test"},
                                        "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
    assert enc["responseElements"] is None
    assert len(enc["additionalEventData"]["keyMaterialId"]) == 64
    assert enc["resources"] == [{"accountId": A, "type": "AWS::KMS::Key", "ARN": arn}]
    assert enc["readOnly"] is True and enc["eventType"] == "AwsApiCall" and enc["managementEvent"] is True
    assert enc["recipientAccountId"] == A and enc["eventCategory"] == "Management"
    assert len(enc["eventID"]) == 36 and enc["eventTime"].endswith("Z")
    created = one("CreateKey")
    assert created["readOnly"] is False and created["responseElements"]["keyMetadata"]["keyId"] == key["KeyId"]
    denied = one("DescribeKey", errorCode="AccessDenied")
    assert denied["userIdentity"]["type"] == "IAMUser" and denied["userIdentity"]["userName"] == "carol"
    assert denied["errorMessage"].startswith(f"User: arn:aws:iam::{A}:user/carol is not authorized")
    assert denied["resources"][0]["ARN"] == arn
    bad_sig = one("Encrypt", errorCode="InvalidSignatureException")
    assert bad_sig["userIdentity"] == {"type": "Unknown", "accessKeyId": ROOT_A[0]}
    assert "requestParameters" in bad_sig and bad_sig["requestParameters"] is None
    by_session = [e for e in recorded if e["userIdentity"].get("type") == "AssumedRole"]
    assert len(by_session) == 1
    ctx = by_session[0]["userIdentity"]["sessionContext"]
    assert ctx["sessionIssuer"]["arn"] == f"arn:aws:iam::{A}:role/deployer"
    assert ctx["sessionIssuer"]["type"] == "Role" and ctx["sessionIssuer"]["userName"] == "deployer"
    assert ctx["attributes"]["creationDate"].endswith("Z")
    assert by_session[0]["userIdentity"]["accessKeyId"] == creds["AccessKeyId"]
    ar = one("AssumeRole")
    assert ar["eventSource"] == "sts.amazonaws.com"
    assert ar["requestParameters"] == {"roleArn": f"arn:aws:iam::{A}:role/deployer", "roleSessionName": "audit-s1"}
    assert ar["responseElements"]["credentials"]["accessKeyId"] == creds["AccessKeyId"]
    assert set(ar["responseElements"]["credentials"]) == {"accessKeyId", "expiration"}
    cg = one("CreateGrant")
    assert cg["responseElements"] == {"grantId": grant["GrantId"]}


def test_answered_requests_survive_sigkill_and_the_trail_still_verifies(tmp_path):
    srv = Server(tmp_path / "data").start()
    client = srv.client()
    key = client.create_key()["KeyMetadata"]["KeyId"]
    answered, stop = [], threading.Event()

    def load():
        c = srv.client()
        while not stop.is_set():
            try:
                answered.append(rid_of(c.encrypt(KeyId=key, Plaintext=b"under load")))
            except Exception:  # the server is gone
                return

    threads = [threading.Thread(target=load) for _ in range(6)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    srv.kill()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert len(answered) > 50, len(answered)
    recorded = {e.get("requestID") for e in events(srv.data_dir)}
    missing = [r for r in answered if r not in recorded]
    assert missing == [], f"{len(missing)} answered requests have no event"
    r = verify(srv.data_dir / "audit")
    assert r.returncode == 0, r.stdout + r.stderr
    # The segment open at the kill has zeros reserved after its records.
    assert "reserved after its records" in r.stdout, r.stdout
    # A restart continues the chain (cutting a torn last record, if any).
    srv.start()
    srv.client().encrypt(KeyId=key, Plaintext=b"after the crash")
    pem = public_key(srv, tmp_path)
    srv.stop()
    r = verify(srv.data_dir / "audit", "--public-key", str(pem))
    assert r.returncode == 0 and "trail verified" in r.stdout, r.stdout + r.stderr
    assert "torn" not in r.stdout, r.stdout


def test_a_client_that_hangs_up_at_once_does_not_escape_the_trail(tmp_path):
    """hyper drops a request's handler when its client closes the connection;
    a key created before that moment must still have its event."""
    srv = Server(tmp_path / "data").start()
    try:
        body = b"{}"
        for _ in range(30):
            s = rawhttp.connect(srv)
            rawhttp.send_head(s, rawhttp.signed_headers(srv, "CreateKey", body))
            s.sendall(body)
            s.close()
        time.sleep(1.0)  # what the server started, it finishes
        keys = {k["KeyArn"] for k in srv.client().list_keys(Limit=1000)["Keys"]}
    finally:
        srv.stop()
    assert keys, "no CreateKey got through: the test proves nothing"
    recorded = {r["ARN"] for e in events(srv.data_dir)
                if e["eventName"] == "CreateKey" and "errorCode" not in e for r in e.get("resources", [])}
    missing = keys - recorded
    assert not missing, f"{len(missing)} of {len(keys)} keys were created without a CreateKey event"


def copy_trail(srv, tmp_path, name):
    dst = tmp_path / name
    shutil.copytree(srv.data_dir / "audit", dst)
    return dst


def test_verify_reports_tampering_with_file_and_position(tmp_path):
    srv = Server(tmp_path / "data", extra_args=[]).start()
    c = srv.client()
    key = c.create_key()["KeyMetadata"]["KeyId"]
    for i in range(20):
        c.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"n": str(i)})
    pem = public_key(srv, tmp_path)
    srv.stop()
    clean = verify(srv.data_dir / "audit", "--public-key", str(pem))
    assert clean.returncode == 0, clean.stdout
    (segment,) = (srv.data_dir / "audit" / "node-1").glob("*.jsonl")

    # A changed record: named by file and line.
    d = copy_trail(srv, tmp_path, "changed")
    seg = d / "node-1" / segment.name
    lines = seg.read_bytes().split(b"\n")
    lines[5] = lines[5].replace(b'"n":"4"', b'"n":"X"')
    seg.write_bytes(b"\n".join(lines))
    r = verify(d, "--public-key", str(pem))
    assert r.returncode == 1 and f"{segment.name} line 7" in r.stdout and "PROBLEM" in r.stdout, r.stdout

    # A deleted record.
    d = copy_trail(srv, tmp_path, "deleted")
    seg = d / "node-1" / segment.name
    lines = seg.read_bytes().split(b"\n")
    del lines[3]
    seg.write_bytes(b"\n".join(lines))
    r = verify(d)
    assert r.returncode == 1 and "expected" in r.stdout, r.stdout

    # A deleted digest.
    d = copy_trail(srv, tmp_path, "no-digest")
    digests = sorted((d / "node-1" / "digests").glob("*.json"))
    assert len(digests) >= 2
    digests[0].unlink()
    r = verify(d)
    assert r.returncode == 1 and "digest" in r.stdout, r.stdout

    # Another key's public half.
    other = tmp_path / "other.pem"
    other.write_text(subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout"],
                                    capture_output=True, text=True, check=True).stdout)
    pub = subprocess.run(["openssl", "ec", "-in", str(other), "-pubout"], capture_output=True, text=True, check=True).stdout
    other.write_text(pub)
    r = verify(srv.data_dir / "audit", "--public-key", str(other))
    assert r.returncode == 1 and "not the one given" in r.stdout, r.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small filesystem needs root")
def test_a_full_disk_fails_requests_closed_and_recovers(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        cfg = write_config(tmp_path / "trent.toml", f"""
[[credentials]]
access_key_id = "{ROOT_A[0]}"
secret_access_key = "{ROOT_A[1]}"
account_id = "{A}"

[audit]
dir = "{mnt}/audit"
""")
        srv = Server(tmp_path / "data", config=cfg).start()
        c = kms(srv, ROOT_A)
        key = c.create_key()["KeyMetadata"]["KeyId"]
        c.encrypt(KeyId=key, Plaintext=b"fine")
        filler = mnt / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096) > 0:
                pass
        except OSError:
            pass
        os.close(fd)
        for call in (lambda: c.encrypt(KeyId=key, Plaintext=b"not recorded"),
                     lambda: c.create_key(Description="must not exist")):
            with pytest.raises(ClientError) as e:
                call()
            assert error_of(e)[:2] == ("KMSInternalException", "An internal error occurred. The request was not completed."), error_of(e)
            assert error_of(e)[2] == 500
        log = srv.read_log()
        assert "audit" in log and "No space left on device" in log, log[-2000:]
        filler.unlink()
        keys = c.list_keys()["Keys"]
        assert [k["KeyId"] for k in keys] == [key], "the refused CreateKey changed nothing"
        c.encrypt(KeyId=key, Plaintext=b"recorded again")
        srv.stop()
        r = verify(mnt / "audit")
        assert r.returncode == 0, r.stdout
        recorded = [e["eventName"] for e in events(mnt)]
        assert recorded.count("Encrypt") == 2 and "ListKeys" in recorded
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


def aws_cloudtrail(srv, *args, creds=("AKIDEXAMPLE", "secret")):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=creds[0], AWS_SECRET_ACCESS_KEY=creds[1], AWS_DEFAULT_REGION=REGION,
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_MAX_ATTEMPTS="1")
    p = subprocess.run([str(AWS), "cloudtrail", "lookup-events", *args, "--endpoint-url", srv.endpoint,
                        "--output", "json"], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_lookup_events_with_the_aws_cli(tmp_path):
    srv = Server(tmp_path / "data").start()
    try:
        c = srv.client()
        k1 = c.create_key()["KeyMetadata"]
        k2 = c.create_key()["KeyMetadata"]
        enc_ids = [rid_of(c.encrypt(KeyId=k1["KeyId"], Plaintext=b"a")) for _ in range(5)]
        c.describe_key(KeyId=k2["KeyId"])
        srv.client(access_key="444455556666").create_key()  # another account's event

        out = aws_cloudtrail(srv, "--lookup-attributes", "AttributeKey=EventName,AttributeValue=Encrypt")
        evs = out["Events"]
        assert [json.loads(e["CloudTrailEvent"])["requestID"] for e in evs] == enc_ids[::-1], "newest first"
        e = evs[0]
        assert e["EventName"] == "Encrypt" and e["ReadOnly"] == "true" and e["EventSource"] == "kms.amazonaws.com"
        assert e["Username"] == "root" and e["AccessKeyId"] == "AKIDEXAMPLE"
        assert e["Resources"] == [{"ResourceType": "AWS::KMS::Key", "ResourceName": k1["Arn"]}]
        assert json.loads(e["CloudTrailEvent"])["eventID"] == e["EventId"]

        by_key = aws_cloudtrail(srv, "--lookup-attributes", f"AttributeKey=ResourceName,AttributeValue={k2['Arn']}")
        assert sorted(x["EventName"] for x in by_key["Events"]) == ["CreateKey", "DescribeKey"]
        by_id = aws_cloudtrail(srv, "--lookup-attributes", f"AttributeKey=EventId,AttributeValue={e['EventId']}")
        assert [x["EventId"] for x in by_id["Events"]] == [e["EventId"]]
        writes = aws_cloudtrail(srv, "--lookup-attributes", "AttributeKey=ReadOnly,AttributeValue=false")
        assert {x["EventName"] for x in writes["Events"]} == {"CreateKey"}
        assert len(writes["Events"]) == 2, "the other account's CreateKey is not this account's"
        # Pagination through the CLI's own paginator (NextToken under it).
        # (Each lookup is itself an event, of CloudTrail: compare KMS's.)
        kms_only = ["--lookup-attributes", "AttributeKey=EventSource,AttributeValue=kms.amazonaws.com"]
        everything = aws_cloudtrail(srv, *kms_only)
        assert len(everything["Events"]) == 8, "two CreateKey, five Encrypt, one DescribeKey"
        paged = aws_cloudtrail(srv, *kms_only, "--page-size", "2")
        assert [x["EventId"] for x in paged["Events"]] == [x["EventId"] for x in everything["Events"]]
        first = aws_cloudtrail(srv, *kms_only, "--max-items", "3")
        assert len(first["Events"]) == 3 and first.get("NextToken")
        rest = aws_cloudtrail(srv, *kms_only, "--starting-token", first["NextToken"])
        assert [x["EventId"] for x in first["Events"] + rest["Events"]] == [x["EventId"] for x in everything["Events"]]
        # A time range that ends before everything: nothing.
        assert aws_cloudtrail(srv, "--end-time", "2001-01-01T00:00:00Z")["Events"] == []
        since = aws_cloudtrail(srv, *kms_only, "--start-time", "2001-01-01T00:00:00Z")["Events"]
        assert len(since) == 8
        lookups = aws_cloudtrail(srv, "--lookup-attributes", "AttributeKey=EventName,AttributeValue=LookupEvents")
        assert lookups["Events"] and lookups["Events"][0]["EventSource"] == "cloudtrail.amazonaws.com"
        # The other account sees its own events only.
        other = aws_cloudtrail(srv, creds=("444455556666", "secret"))["Events"]
        assert [x["EventName"] for x in other][-1] == "CreateKey" and all(
            json.loads(x["CloudTrailEvent"])["recipientAccountId"] == "444455556666" for x in other)

        ct = cloudtrail(srv)
        for kwargs, code in [
            ({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "Encrypt"},
                                   {"AttributeKey": "Username", "AttributeValue": "root"}]},
             "InvalidLookupAttributesException"),
            ({"LookupAttributes": [{"AttributeKey": "Colour", "AttributeValue": "x"}]}, "InvalidLookupAttributesException"),
            ({"StartTime": 2000, "EndTime": 1000}, "InvalidTimeRangeException"),
            ({"MaxResults": 51}, "InvalidMaxResultsException"),
            ({"MaxResults": 0}, "InvalidMaxResultsException"),
            ({"NextToken": "not-a-token"}, "InvalidNextTokenException"),
            ({"EventCategory": "management"}, "InvalidEventCategoryException"),
        ]:
            with pytest.raises(ClientError) as ex:
                ct.lookup_events(**kwargs)
            assert error_of(ex)[0] == code, (kwargs, error_of(ex))
        assert ct.lookup_events(EventCategory="insight")["Events"] == []
    finally:
        srv.stop()

    # trent audit search, offline, on the same trail.
    def search(*args):
        p = subprocess.run([str(BIN), "audit", "search", "--dir", str(srv.data_dir / "audit"), *args],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        return [json.loads(l) for l in p.stdout.splitlines()]

    assert [e["requestID"] for e in search("--event-name", "Encrypt")] == enc_ids[::-1]
    assert [e["eventName"] for e in search("--key", k2["Arn"])] == ["DescribeKey", "CreateKey"]
    other_root = "arn:aws:iam::444455556666:root"
    # The other account created a key and looked up its events (recorded too).
    assert [e["eventName"] for e in search("--principal", other_root)] == ["LookupEvents", "CreateKey"]
    failures = search("--outcome", "failure")
    assert failures and all("errorCode" in e for e in failures)
    assert all("errorCode" not in e for e in search("--outcome", "success"))
    assert len(search("--limit", "3")) == 3
    assert search("--end", "2001-01-01T00:00:00Z") == []
    assert len(search("--start", "2001-01-01T00:00:00Z", "--event-name", "Encrypt")) == 5


def test_lookup_events_needs_permission(tmp_path):
    srv = configured(tmp_path).start()
    try:
        with pytest.raises(ClientError) as e:
            cloudtrail(srv, CAROL).lookup_events()
        code, msg, _ = error_of(e)
        assert code == "AccessDeniedException" and "cloudtrail:LookupEvents" in msg, msg
        assert cloudtrail(srv, ROOT_A).lookup_events()["Events"], "the account root may"
        assert all(json.loads(e["CloudTrailEvent"])["recipientAccountId"] == B
                   for e in cloudtrail(srv, ROOT_B).lookup_events()["Events"])
    finally:
        srv.stop()


def test_get_key_last_usage_names_the_uses_event(tmp_path):
    srv = Server(tmp_path / "data").start()
    try:
        c = srv.client()
        key = c.create_key()["KeyMetadata"]["KeyId"]
        rid = rid_of(c.encrypt(KeyId=key, Plaintext=b"used"))
        usage = c.get_key_last_usage(KeyId=key)["KeyLastUsage"]
        (event,) = [e for e in events(srv.data_dir) if e.get("requestID") == rid]
        assert usage["KmsRequestId"] == rid and usage["CloudTrailEventId"] == event["eventID"]
        srv.advance(0)  # flushed to the store: still there
        assert c.get_key_last_usage(KeyId=key)["KeyLastUsage"]["CloudTrailEventId"] == event["eventID"]
    finally:
        srv.stop()


def test_background_rotation_and_deletion_are_service_events(tmp_path):
    srv = Server(tmp_path / "data").start()
    try:
        c = srv.client()
        key = c.create_key()["KeyMetadata"]
        c.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
        assert srv.advance(91 * 86400)["rotated"] == 1
        c.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
        assert srv.advance(8 * 86400)["deleted"] == 1
    finally:
        srv.stop()
    svc = [e for e in events(srv.data_dir) if e["eventType"] == "AwsServiceEvent"]
    assert [e["eventName"] for e in svc] == ["RotateKey", "DeleteKey"]
    for e in svc:
        assert e["userIdentity"] == {"accountId": ACCOUNT, "invokedBy": "AWS Internal"}
        assert e["sourceIPAddress"] == "AWS Internal" and e["userAgent"] == "AWS Internal"
        assert e["resources"] == [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": key["Arn"]}]
        assert "requestID" not in e and e["requestParameters"] is None
    d = svc[0]["serviceEventDetails"]
    assert d["rotationType"] == "AUTOMATIC" and d["keyOrigin"] == "AWS_KMS"
    assert len(d["previousKeyMaterialId"]) == 64 and d["previousKeyMaterialId"] != d["currentKeyMaterialId"]


def test_events_are_copied_to_stdout_and_syslog(tmp_path):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    port = sock.getsockname()[1]
    cfg = write_config(tmp_path / "trent.toml", f"""
[[credentials]]
access_key_id = "{ROOT_A[0]}"
secret_access_key = "{ROOT_A[1]}"
account_id = "{A}"

[audit]
stdout = true
syslog = "udp:127.0.0.1:{port}"
""")
    srv = Server(tmp_path / "data", config=cfg).start()
    try:
        rid = rid_of(kms(srv, ROOT_A).list_keys())
        msg = sock.recv(65536).decode()
        assert msg.startswith("<110>1 ") and f'"requestID":"{rid}"' in msg, msg
        deadline = time.time() + 10
        while f'"requestID":"{rid}"' not in srv.read_log() and time.time() < deadline:
            time.sleep(0.1)
        line = next(l for l in srv.read_log().splitlines() if f'"requestID":"{rid}"' in l)
        assert json.loads(line)["eventName"] == "ListKeys"
    finally:
        srv.stop()
        sock.close()


def test_audit_can_be_turned_off(tmp_path):
    cfg = write_config(tmp_path / "trent.toml", f"""
[[credentials]]
access_key_id = "{ROOT_A[0]}"
secret_access_key = "{ROOT_A[1]}"
account_id = "{A}"

[audit]
enabled = false
""")
    srv = Server(tmp_path / "data", config=cfg).start()
    try:
        kms(srv, ROOT_A).list_keys()
        assert cloudtrail(srv, ROOT_A).lookup_events()["Events"] == []
        assert "AUDIT TRAIL OFF" in srv.read_log()
    finally:
        srv.stop()
    assert not (tmp_path / "data" / "audit").exists()


def test_a_second_server_on_the_same_trail_refuses_to_start(tmp_path):
    """Two writers with one node name on one directory would fork the chain:
    the second server refuses to start and names the cause; the first keeps
    recording, and once it stops another may start."""
    first = Server(tmp_path / "data").start()
    try:
        first.client().create_key()
        second = Server(tmp_path / "data")
        rc = second.start(expect_failure=True)
        assert rc != 0
        assert "being written by another process" in second.read_log()
        first.client().create_key()
    finally:
        first.stop()
    again = Server(tmp_path / "data").start()
    try:
        again.client().create_key()
    finally:
        again.stop()
    p = subprocess.run([str(BIN), "audit", "verify", str(tmp_path / "data" / "audit")], capture_output=True)
    assert p.returncode == 0, p.stdout + p.stderr
