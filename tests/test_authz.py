"""Authorization as AWS KMS decides it: key policies, identity policies,
roles through STS (AssumeRole and session credentials), grants, and the
lockout safety check; several principals in two accounts."""

import base64
import json
import os
import subprocess

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import AWS, REGION, Server, error_of, write_config

A, B = "111122223333", "444455556666"
ROOT_A = ("AKIAROOTA00000000001", "root-a-secret")
CAROL = ("AKIACAROL0000000001", "carol-secret")
DAVE = ("AKIADAVE00000000001", "dave-secret")
ERIN = ("AKIAERIN00000000001", "erin-secret")
CI = ("AKIACI0000000000001", "ci-secret")
BOB = ("AKIABOB00000000000B1", "bob-secret")
BOB_NOPOLICY = ("AKIABOBNOPOLICY00001", "bob2-secret")
ROOT_B = ("AKIAROOTB00000000001", "root-b-secret")

ALLOW_ALL = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}'

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
access_key_id = "{DAVE[0]}"
secret_access_key = "{DAVE[1]}"
account_id = "{A}"
principal = "arn:aws:iam::{A}:user/dave"

[[credentials]]
access_key_id = "{ERIN[0]}"
secret_access_key = "{ERIN[1]}"
account_id = "{A}"
principal = "arn:aws:iam::{A}:user/erin"

[[credentials]]
access_key_id = "{CI[0]}"
secret_access_key = "{CI[1]}"
account_id = "{A}"
principal = "arn:aws:iam::{A}:user/ci"

[[credentials]]
access_key_id = "{BOB[0]}"
secret_access_key = "{BOB[1]}"
account_id = "{B}"
principal = "arn:aws:iam::{B}:user/bob"

[[credentials]]
access_key_id = "{BOB_NOPOLICY[0]}"
secret_access_key = "{BOB_NOPOLICY[1]}"
account_id = "{B}"
principal = "arn:aws:iam::{B}:user/bob2"

[[credentials]]
access_key_id = "{ROOT_B[0]}"
secret_access_key = "{ROOT_B[1]}"
account_id = "{B}"

[[users]]
arn = "arn:aws:iam::{A}:user/carol"
policies = ['''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:DescribeKey","kms:GenerateDataKey"],"Resource":"*"}}]}}''']
tags = {{ team = "blue" }}

[[users]]
arn = "arn:aws:iam::{A}:user/erin"
policies = ['''{ALLOW_ALL}''', '''{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}}]}}''']

[[users]]
arn = "arn:aws:iam::{A}:user/ci"
policies = ['''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::{A}:role/*"}}]}}''']

[[users]]
arn = "arn:aws:iam::{B}:user/bob"
policies = ['''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["kms:Encrypt","kms:DescribeKey"],"Resource":"*"}}]}}''']

[[roles]]
arn = "arn:aws:iam::{A}:role/deployer"
trust_policy = '''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:user/ci"}},"Action":"sts:AssumeRole"}}]}}'''
policies = ['''{ALLOW_ALL}''']
max_session_seconds = 7200

[[roles]]
arn = "arn:aws:iam::{A}:role/auditor"
trust_policy = '''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{A}"}},"Action":"sts:AssumeRole","Condition":{{"StringEquals":{{"sts:ExternalId":"expected-id"}}}}}}]}}'''
policies = ['''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:DescribeKey","Resource":"*"}}]}}''']
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("authz")
    s = Server(d / "data", config=write_config(d / "trent.toml", CONFIG)).start()
    yield s
    s.stop()


def kms(srv, creds, **kw):
    return srv.client(access_key=creds[0], secret=creds[1], **kw)


def sts(srv, creds, token=None, validate=True):
    return boto3.client(
        "sts", endpoint_url=srv.endpoint, region_name=REGION, aws_access_key_id=creds[0],
        aws_secret_access_key=creds[1], aws_session_token=token,
        config=Config(retries={"max_attempts": 1}, parameter_validation=validate),
    )


def denied(e, principal, action, resource, why):
    code, msg, status = error_of(e)
    assert (code, status) == ("AccessDeniedException", 400), error_of(e)
    assert msg == f"User: {principal} is not authorized to perform: {action} on resource: {resource} {why}", msg


def test_default_key_policy_delegates_to_identity_policies(srv):
    root = kms(srv, ROOT_A)
    key = root.create_key()["KeyMetadata"]
    carol, dave = kms(srv, CAROL), kms(srv, DAVE)
    blob = carol.encrypt(KeyId=key["KeyId"], Plaintext=b"carol")["CiphertextBlob"]
    assert carol.decrypt(CiphertextBlob=blob)["Plaintext"] == b"carol"
    with pytest.raises(ClientError) as e:
        dave.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    denied(e, f"arn:aws:iam::{A}:user/dave", "kms:Encrypt", key["Arn"],
           "because no identity-based policy allows the kms:Encrypt action")
    # Carol may not do what her policy does not name.
    with pytest.raises(ClientError) as e:
        carol.disable_key(KeyId=key["KeyId"])
    assert error_of(e)[0] == "AccessDeniedException"
    # CreateKey and ListKeys are decided by identity policies alone.
    with pytest.raises(ClientError) as e:
        dave.create_key()
    denied(e, f"arn:aws:iam::{A}:user/dave", "kms:CreateKey", "*",
           "because no identity-based policy allows the kms:CreateKey action")
    with pytest.raises(ClientError) as e:
        carol.list_keys()
    assert error_of(e)[0] == "AccessDeniedException"


def test_explicit_deny_beats_allow(srv):
    key = kms(srv, ROOT_A).create_key()["KeyMetadata"]
    erin = kms(srv, ERIN)
    blob = erin.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(ClientError) as e:
        erin.decrypt(CiphertextBlob=blob, KeyId=key["Arn"])
    denied(e, f"arn:aws:iam::{A}:user/erin", "kms:Decrypt", key["Arn"],
           "with an explicit deny in an identity-based policy")
    # A Deny in the key policy wins over the account root's allow as well.
    root = kms(srv, ROOT_A)
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*"},
    ]}
    root.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(policy))
    with pytest.raises(ClientError) as e:
        root.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    denied(e, f"arn:aws:iam::{A}:root", "kms:Encrypt", key["Arn"], "with an explicit deny in a resource-based policy")


def test_encryption_context_conditions(srv):
    root = kms(srv, ROOT_A)
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{A}:user/carol"}, "Action": "kms:Decrypt",
         "Resource": "*", "Condition": {"StringNotEquals": {"kms:EncryptionContext:app": "billing"}}},
    ]}
    key = root.create_key(Policy=json.dumps(policy))["KeyMetadata"]
    carol = kms(srv, CAROL)
    good = carol.encrypt(KeyId=key["KeyId"], Plaintext=b"b", EncryptionContext={"app": "billing"})["CiphertextBlob"]
    other = carol.encrypt(KeyId=key["KeyId"], Plaintext=b"o", EncryptionContext={"app": "other"})["CiphertextBlob"]
    assert carol.decrypt(CiphertextBlob=good, EncryptionContext={"app": "billing"})["Plaintext"] == b"b"
    with pytest.raises(ClientError) as e:
        carol.decrypt(CiphertextBlob=other, EncryptionContext={"app": "other"}, KeyId=key["KeyId"])
    assert error_of(e)[0] == "AccessDeniedException"
    assert root.decrypt(CiphertextBlob=other, EncryptionContext={"app": "other"})["Plaintext"] == b"o"


def test_cross_account_needs_both_policies(srv):
    root = kms(srv, ROOT_A)
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{B}:root"}, "Action": ["kms:Encrypt", "kms:DescribeKey"], "Resource": "*"},
    ]}
    shared = root.create_key(Policy=json.dumps(policy))["KeyMetadata"]
    private = root.create_key()["KeyMetadata"]
    bob = kms(srv, BOB)
    r = bob.encrypt(KeyId=shared["Arn"], Plaintext=b"from b")
    assert r["KeyId"] == shared["Arn"]
    assert root.decrypt(CiphertextBlob=r["CiphertextBlob"])["Plaintext"] == b"from b"
    with pytest.raises(ClientError) as e:
        bob.encrypt(KeyId=private["Arn"], Plaintext=b"x")
    denied(e, f"arn:aws:iam::{B}:user/bob", "kms:Encrypt", private["Arn"],
           "because no resource-based policy allows the kms:Encrypt action")
    with pytest.raises(ClientError) as e:
        kms(srv, BOB_NOPOLICY).encrypt(KeyId=shared["Arn"], Plaintext=b"x")
    denied(e, f"arn:aws:iam::{B}:user/bob2", "kms:Encrypt", shared["Arn"],
           "because no identity-based policy allows the kms:Encrypt action")
    # Operations AWS does not allow across accounts stay refused.
    with pytest.raises(ClientError) as e:
        kms(srv, ROOT_B).disable_key(KeyId=shared["Arn"])
    assert error_of(e)[0] == "AccessDeniedException"


def test_lockout_safety_check(srv):
    root = kms(srv, ROOT_A)
    key = root.create_key()["KeyMetadata"]
    locks_out = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:Encrypt", "Resource": "*"}]})
    with pytest.raises(ClientError) as e:
        root.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=locks_out)
    assert error_of(e) == ("MalformedPolicyDocumentException",
                           "The new key policy will not allow you to update the key policy in the future.", 400)
    with pytest.raises(ClientError) as e:
        root.create_key(Policy=locks_out)
    assert error_of(e)[0] == "MalformedPolicyDocumentException"
    assert json.loads(root.get_key_policy(KeyId=key["KeyId"])["Policy"])["Statement"][0]["Action"] == "kms:*"
    root.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=locks_out, BypassPolicyLockoutSafetyCheck=True)
    with pytest.raises(ClientError) as e:
        root.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=locks_out)
    assert error_of(e)[0] == "AccessDeniedException", "locked out, as AWS warned"


def test_get_caller_identity(srv):
    assert sts(srv, ROOT_A).get_caller_identity()["Arn"] == f"arn:aws:iam::{A}:root"
    me = sts(srv, CAROL).get_caller_identity()
    assert me["Arn"] == f"arn:aws:iam::{A}:user/carol" and me["Account"] == A
    assert me["UserId"].startswith("AIDA")


def assume(srv, creds, role, session="s1", **kw):
    return sts(srv, creds, validate=False).assume_role(
        RoleArn=f"arn:aws:iam::{A}:role/{role}", RoleSessionName=session, **kw)


def session_kms(srv, c):
    c = c["Credentials"]
    return boto3.client(
        "kms", endpoint_url=srv.endpoint, region_name=REGION, aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"],
        config=Config(retries={"max_attempts": 1}),
    )


def test_assume_role_and_a_key_policy_for_one_role(srv):
    root = kms(srv, ROOT_A)
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
         "Action": ["kms:PutKeyPolicy", "kms:GetKeyPolicy", "kms:DescribeKey"], "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:role/deployer"},
         "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"},
    ]}
    key = root.create_key(Policy=json.dumps(policy))["KeyMetadata"]
    # Carol's identity policy allows Encrypt, but the key policy names only
    # the role (it does not give the account to IAM).
    with pytest.raises(ClientError) as e:
        kms(srv, CAROL).encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    denied(e, f"arn:aws:iam::{A}:user/carol", "kms:Encrypt", key["Arn"],
           "because no resource-based policy allows the kms:Encrypt action")
    creds = assume(srv, CI, "deployer", "build-42", DurationSeconds=900)
    c = creds["Credentials"]
    assert c["AccessKeyId"].startswith("ASIA") and len(c["SecretAccessKey"]) == 40
    assert creds["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{A}:assumed-role/deployer/build-42"
    assert creds["AssumedRoleUser"]["AssumedRoleId"].startswith("AROA") and creds["AssumedRoleUser"]["AssumedRoleId"].endswith(":build-42")
    k = session_kms(srv, creds)
    blob = k.encrypt(KeyId=key["KeyId"], Plaintext=b"deployed")["CiphertextBlob"]
    assert k.decrypt(CiphertextBlob=blob)["Plaintext"] == b"deployed"
    who = boto3.client("sts", endpoint_url=srv.endpoint, region_name=REGION, aws_access_key_id=c["AccessKeyId"],
                       aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"]).get_caller_identity()
    assert who["Arn"] == f"arn:aws:sts::{A}:assumed-role/deployer/build-42"
    # The role's identity policies allow everything, the key policy does not.
    with pytest.raises(ClientError) as e:
        k.disable_key(KeyId=key["KeyId"])
    assert error_of(e)[0] == "AccessDeniedException"


def test_assume_role_refusals(srv):
    for creds, role, kw, code in [
        (DAVE, "deployer", {}, "AccessDenied"),  # not in the trust policy
        (CAROL, "deployer", {}, "AccessDenied"),
        (CI, "nosuchrole", {}, "AccessDenied"),  # unknown roles look the same
        (CI, "auditor", {}, "AccessDenied"),  # ExternalId condition
        (CI, "auditor", {"ExternalId": "wrong"}, "AccessDenied"),
        (CI, "deployer", {"DurationSeconds": 899}, "ValidationError"),
        (CI, "deployer", {"DurationSeconds": 7201}, "ValidationError"),
    ]:
        with pytest.raises(ClientError) as e:
            assume(srv, creds, role, **kw)
        assert e.value.response["Error"]["Code"] == code, (creds, role, kw)
        if code == "AccessDenied":
            assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
            assert "is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::" in e.value.response["Error"]["Message"]
    ok = assume(srv, CI, "auditor", ExternalId="expected-id")
    assert ok["AssumedRoleUser"]["Arn"].endswith("assumed-role/auditor/s1")
    assert assume(srv, CI, "deployer", DurationSeconds=7200)


def test_session_policy_narrows_the_role(srv):
    key = kms(srv, ROOT_A).create_key()["KeyMetadata"]
    narrow = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"}]})
    k = session_kms(srv, assume(srv, CI, "deployer", Policy=narrow))
    assert k.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyId"] == key["KeyId"]
    with pytest.raises(ClientError) as e:
        k.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert error_of(e)[0] == "AccessDeniedException"
    assert "because no session policy allows the kms:Encrypt action" in error_of(e)[1]


def test_expired_and_tampered_session_tokens(srv):
    creds = assume(srv, CI, "deployer", DurationSeconds=900)
    key = kms(srv, ROOT_A).create_key()["KeyMetadata"]
    k = session_kms(srv, creds)
    k.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    c = dict(creds["Credentials"])
    token = c["SessionToken"]
    for i in (10, len(token) // 2, len(token) - 3):
        bad = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]
        forged = session_kms(srv, {"Credentials": {**c, "SessionToken": bad}})
        with pytest.raises(ClientError) as e:
            forged.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
        assert error_of(e) == ("UnrecognizedClientException", "The security token included in the request is invalid.", 400)
    # Another session's token with this session's key id and secret.
    other = assume(srv, CI, "deployer")["Credentials"]["SessionToken"]
    with pytest.raises(ClientError) as e:
        session_kms(srv, {"Credentials": {**c, "SessionToken": other}}).encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert error_of(e)[0] in ("UnrecognizedClientException", "InvalidSignatureException")
    srv.advance(901)
    with pytest.raises(ClientError) as e:
        k.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert error_of(e) == ("ExpiredTokenException", "The security token included in the request is expired", 400)


def test_grants(srv):
    root = kms(srv, ROOT_A)
    key = root.create_key()["KeyMetadata"]
    dave = kms(srv, DAVE)
    g = root.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=f"arn:aws:iam::{A}:user/dave",
        RetiringPrincipal=f"arn:aws:iam::{A}:user/carol",
        Operations=["Encrypt", "Decrypt", "DescribeKey"],
        Constraints={"EncryptionContextSubset": {"app": "x"}}, Name="dave-app-x",
    )
    assert len(g["GrantId"]) == 64 and g["GrantToken"]
    again = root.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=f"arn:aws:iam::{A}:user/dave",
        RetiringPrincipal=f"arn:aws:iam::{A}:user/carol",
        Operations=["Encrypt", "Decrypt", "DescribeKey"],
        Constraints={"EncryptionContextSubset": {"app": "x"}}, Name="dave-app-x",
    )
    assert again["GrantId"] == g["GrantId"] and again["GrantToken"] != g["GrantToken"], "Name is idempotent"
    blob = dave.encrypt(KeyId=key["KeyId"], Plaintext=b"granted", EncryptionContext={"app": "x", "more": "y"},
                        GrantTokens=[g["GrantToken"]])["CiphertextBlob"]
    assert dave.decrypt(CiphertextBlob=blob, EncryptionContext={"app": "x", "more": "y"})["Plaintext"] == b"granted"
    assert dave.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyId"] == key["KeyId"], "constraints do not apply"
    with pytest.raises(ClientError) as e:
        dave.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"app": "other"})
    assert error_of(e)[0] == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        dave.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert error_of(e)[0] == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        dave.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"app": "x"}, GrantTokens=["not-a-token"])
    assert error_of(e)[0] == "InvalidGrantTokenException"
    listed = root.list_grants(KeyId=key["KeyId"])["Grants"]
    assert [x["GrantId"] for x in listed] == [g["GrantId"]]
    entry = listed[0]
    assert entry["KeyId"] == key["Arn"] and entry["Name"] == "dave-app-x"
    assert entry["IssuingAccount"] == f"arn:aws:iam::{A}:root"
    assert entry["Constraints"] == {"EncryptionContextSubset": {"app": "x"}}
    assert sorted(entry["Operations"]) == ["Decrypt", "DescribeKey", "Encrypt"]
    retirable = root.list_retirable_grants(RetiringPrincipal=f"arn:aws:iam::{A}:user/carol")["Grants"]
    assert g["GrantId"] in [x["GrantId"] for x in retirable]
    # Retired by its retiring principal (carol has no kms:RetireGrant).
    kms(srv, CAROL).retire_grant(GrantToken=g["GrantToken"])
    with pytest.raises(ClientError) as e:
        dave.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"app": "x"})
    assert error_of(e)[0] == "AccessDeniedException", "a retired grant stops working at once"
    assert root.list_grants(KeyId=key["KeyId"])["Grants"] == []
    # Revoked by the key's administrator.
    g2 = root.create_grant(KeyId=key["KeyId"], GranteePrincipal=f"arn:aws:iam::{A}:user/dave", Operations=["Encrypt"])
    dave.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    with pytest.raises(ClientError) as e:
        kms(srv, DAVE).revoke_grant(KeyId=key["KeyId"], GrantId=g2["GrantId"])
    assert error_of(e)[0] == "AccessDeniedException", "the grantee cannot revoke"
    root.revoke_grant(KeyId=key["KeyId"], GrantId=g2["GrantId"])
    with pytest.raises(ClientError) as e:
        dave.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert error_of(e)[0] == "AccessDeniedException", "a revoked grant stops working at once"
    with pytest.raises(ClientError) as e:
        root.revoke_grant(KeyId=key["KeyId"], GrantId=g2["GrantId"])
    assert error_of(e)[0] == "NotFoundException"
    with pytest.raises(ClientError) as e:
        root.revoke_grant(KeyId=key["KeyId"], GrantId="not-a-grant-id")
    assert error_of(e)[0] == "InvalidGrantIdException"


def test_a_grant_to_a_role_covers_its_sessions(srv):
    root = kms(srv, ROOT_A)
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:*", "Resource": "*"}]}
    key = root.create_key(Policy=json.dumps(policy))["KeyMetadata"]
    session = session_kms(srv, assume(srv, CI, "auditor", ExternalId="expected-id"))
    with pytest.raises(ClientError):
        session.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    root.create_grant(KeyId=key["KeyId"], GranteePrincipal=f"arn:aws:iam::{A}:role/auditor", Operations=["Encrypt"])
    assert session.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["KeyId"] == key["Arn"]


def test_aws_cli_assumes_the_role_itself(srv, tmp_path):
    """A CLI profile with role_arn and source_profile: the CLI calls
    AssumeRole on Trent and signs with the session credentials."""
    key = kms(srv, ROOT_A).create_key(Description="for the cli role")["KeyMetadata"]
    creds = tmp_path / "credentials"
    creds.write_text(f"[ci]\naws_access_key_id = {CI[0]}\naws_secret_access_key = {CI[1]}\n")
    config = tmp_path / "config"
    config.write_text(
        f"[profile deployer]\nrole_arn = arn:aws:iam::{A}:role/deployer\nsource_profile = ci\nrole_session_name = cli\nregion = {REGION}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # HOME too: the CLI caches assumed-role credentials under ~/.aws/cli/cache.
    env.update(HOME=str(tmp_path), AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(creds),
               AWS_ENDPOINT_URL_STS=srv.endpoint, AWS_ENDPOINT_URL_KMS=srv.endpoint, AWS_MAX_ATTEMPTS="1")
    who = subprocess.run([str(AWS), "--profile", "deployer", "sts", "get-caller-identity", "--output", "json"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert who.returncode == 0, who.stderr
    assert json.loads(who.stdout)["Arn"] == f"arn:aws:sts::{A}:assumed-role/deployer/cli"
    pt = tmp_path / "pt"
    pt.write_bytes(b"via the cli role")
    enc = subprocess.run([str(AWS), "--profile", "deployer", "kms", "encrypt", "--key-id", key["KeyId"],
                          "--plaintext", f"fileb://{pt}", "--output", "json"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert enc.returncode == 0, enc.stderr
    blob = base64.b64decode(json.loads(enc.stdout)["CiphertextBlob"])
    assert kms(srv, ROOT_A).decrypt(CiphertextBlob=blob)["Plaintext"] == b"via the cli role"


def test_development_mode_callers_are_their_accounts_root(server):
    me = boto3.client("sts", endpoint_url=server.endpoint, region_name=REGION, aws_access_key_id="AKIDEXAMPLE",
                      aws_secret_access_key="x").get_caller_identity()
    assert me["Arn"] == "arn:aws:iam::111122223333:root" and me["Account"] == "111122223333"
