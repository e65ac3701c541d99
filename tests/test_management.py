"""Aliases, tags, rotation and key policies through boto3."""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, REGION, error_of, new_key

DEFAULT_POLICY = (
    '{\n  "Version" : "2012-10-17",\n  "Id" : "key-default-1",\n  "Statement" : [ {\n'
    '    "Sid" : "Enable IAM User Permissions",\n    "Effect" : "Allow",\n    "Principal" : {\n'
    f'      "AWS" : "arn:aws:iam::{ACCOUNT}:root"\n    }},\n    "Action" : "kms:*",\n    "Resource" : "*"\n  }} ]\n}}'
)


# ---- aliases -------------------------------------------------------------

def test_alias_lifecycle(kms):
    a, b = new_key(kms), new_key(kms)
    kms.create_alias(AliasName="alias/app-key", TargetKeyId=a["KeyId"])
    entries = [x for x in kms.list_aliases()["Aliases"] if x["AliasName"] == "alias/app-key"]
    assert len(entries) == 1
    e = entries[0]
    assert e["AliasArn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/app-key"
    assert e["TargetKeyId"] == a["KeyId"]
    assert e["CreationDate"] == e["LastUpdatedDate"]
    blob = kms.encrypt(KeyId="alias/app-key", Plaintext=b"x")["CiphertextBlob"]
    kms.update_alias(AliasName="alias/app-key", TargetKeyId=b["Arn"])
    assert kms.encrypt(KeyId="alias/app-key", Plaintext=b"x")["KeyId"] == b["Arn"]
    # Old ciphertexts still name the old key.
    assert kms.decrypt(CiphertextBlob=blob)["KeyId"] == a["Arn"]
    only_b = kms.list_aliases(KeyId=b["KeyId"])["Aliases"]
    assert [x["AliasName"] for x in only_b] == ["alias/app-key"]
    assert kms.list_aliases(KeyId=a["KeyId"])["Aliases"] == []
    kms.delete_alias(AliasName="alias/app-key")
    with pytest.raises(ClientError) as ex:
        kms.encrypt(KeyId="alias/app-key", Plaintext=b"x")
    assert error_of(ex)[0] == "NotFoundException"
    with pytest.raises(ClientError) as ex:
        kms.delete_alias(AliasName="alias/app-key")
    assert error_of(ex) == ("NotFoundException", f"Alias arn:aws:kms:{REGION}:{ACCOUNT}:alias/app-key is not found.", 400)


def test_alias_errors(kms, kms_raw):
    k = new_key(kms)
    kms.create_alias(AliasName="alias/taken", TargetKeyId=k["KeyId"])
    with pytest.raises(ClientError) as ex:
        kms.create_alias(AliasName="alias/taken", TargetKeyId=k["KeyId"])
    assert error_of(ex) == ("AlreadyExistsException", f"An alias with the name arn:aws:kms:{REGION}:{ACCOUNT}:alias/taken already exists", 400)
    with pytest.raises(ClientError) as ex:
        kms.create_alias(AliasName="alias/aws/reserved", TargetKeyId=k["KeyId"])
    assert error_of(ex)[:1] == ("NotAuthorizedException",)
    with pytest.raises(ClientError) as ex:
        kms.create_alias(AliasName="no-prefix", TargetKeyId=k["KeyId"])
    assert error_of(ex) == (
        "ValidationException",
        'Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html',
        400,
    )
    with pytest.raises(ClientError) as ex:
        kms_raw.create_alias(AliasName="alias/has space", TargetKeyId=k["KeyId"])
    assert "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$" in error_of(ex)[1]
    with pytest.raises(ClientError) as ex:
        kms.create_alias(AliasName="alias/to-alias", TargetKeyId="alias/taken")
    assert error_of(ex)[0] == "ValidationException"
    with pytest.raises(ClientError) as ex:
        kms.create_alias(AliasName="alias/to-missing", TargetKeyId="11111111-2222-4333-8444-555555555555")
    assert error_of(ex)[0] == "NotFoundException"
    with pytest.raises(ClientError) as ex:
        kms.update_alias(AliasName="alias/never-made", TargetKeyId=k["KeyId"])
    assert error_of(ex)[0] == "NotFoundException"
    doomed = new_key(kms)
    kms.schedule_key_deletion(KeyId=doomed["KeyId"])
    with pytest.raises(ClientError) as ex:
        kms.create_alias(AliasName="alias/to-doomed", TargetKeyId=doomed["KeyId"])
    assert error_of(ex) == ("KMSInvalidStateException", f"{doomed['Arn']} is pending deletion.", 400)


def test_alias_pagination(kms):
    k = new_key(kms)
    names = [f"alias/page-{i:02d}" for i in range(7)]
    for n in names:
        kms.create_alias(AliasName=n, TargetKeyId=k["KeyId"])
    seen, marker = [], None
    while True:
        kw = {"KeyId": k["KeyId"], "Limit": 3}
        if marker:
            kw["Marker"] = marker
        page = kms.list_aliases(**kw)
        seen += [a["AliasName"] for a in page["Aliases"]]
        if not page["Truncated"]:
            break
        marker = page["NextMarker"]
    assert seen == names


# ---- tags ----------------------------------------------------------------

def test_tags(kms):
    k = new_key(kms, Tags=[{"TagKey": "a", "TagValue": "1"}])
    kms.tag_resource(KeyId=k["KeyId"], Tags=[{"TagKey": "b", "TagValue": "2"}, {"TagKey": "a", "TagValue": "3"}])
    r = kms.list_resource_tags(KeyId=k["Arn"])
    assert r["Tags"] == [{"TagKey": "a", "TagValue": "3"}, {"TagKey": "b", "TagValue": "2"}]
    assert r["Truncated"] is False and "NextMarker" not in r
    kms.untag_resource(KeyId=k["KeyId"], TagKeys=["a", "not-there"])
    assert kms.list_resource_tags(KeyId=k["KeyId"])["Tags"] == [{"TagKey": "b", "TagValue": "2"}]
    for tags, msg in [
        ([{"TagKey": "aws:x", "TagValue": "1"}], "Tags beginning with aws: are reserved"),
        ([{"TagKey": "d", "TagValue": "1"}, {"TagKey": "d", "TagValue": "2"}], "Duplicate tag keys"),
        ([{"TagKey": f"t{i}", "TagValue": ""} for i in range(50)], "Too many tags"),
    ]:
        with pytest.raises(ClientError) as ex:
            kms.tag_resource(KeyId=k["KeyId"], Tags=tags)
        assert error_of(ex) == ("TagException", msg, 400)
    assert kms.list_resource_tags(KeyId=k["KeyId"])["Tags"] == [{"TagKey": "b", "TagValue": "2"}], "refused changes change nothing"


def test_tag_pagination_and_limits(kms, kms_raw):
    k = new_key(kms, Tags=[{"TagKey": f"k{i:02d}", "TagValue": str(i)} for i in range(50)])
    seen, marker = [], None
    while True:
        kw = {"KeyId": k["KeyId"], "Limit": 20}
        if marker:
            kw["Marker"] = marker
        page = kms.list_resource_tags(**kw)
        seen += page["Tags"]
        if not page["Truncated"]:
            break
        marker = page["NextMarker"]
    assert len(seen) == 50
    with pytest.raises(ClientError) as ex:
        kms_raw.tag_resource(KeyId=k["KeyId"], Tags=[{"TagKey": "x" * 129, "TagValue": ""}])
    assert "at 'tags.1.member.tagKey' failed to satisfy constraint: Member must have length less than or equal to 128" in error_of(ex)[1]


# ---- rotation ------------------------------------------------------------

def test_rotation_status_and_period(kms, kms_raw):
    k = new_key(kms)
    s = kms.get_key_rotation_status(KeyId=k["KeyId"])
    assert s["KeyRotationEnabled"] is False
    assert "NextRotationDate" not in s and "RotationPeriodInDays" not in s
    kms.enable_key_rotation(KeyId=k["KeyId"])
    s = kms.get_key_rotation_status(KeyId=k["Arn"])
    assert (s["KeyRotationEnabled"], s["RotationPeriodInDays"]) == (True, 365)
    assert (s["NextRotationDate"] - k["CreationDate"]).days in (364, 365)
    kms.enable_key_rotation(KeyId=k["KeyId"], RotationPeriodInDays=90)
    assert kms.get_key_rotation_status(KeyId=k["KeyId"])["RotationPeriodInDays"] == 90
    for bad, word in [(89, "greater than or equal to 90"), (2561, "less than or equal to 2560")]:
        with pytest.raises(ClientError) as ex:
            kms_raw.enable_key_rotation(KeyId=k["KeyId"], RotationPeriodInDays=bad)
        assert error_of(ex)[1] == f"1 validation error detected: Value '{bad}' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value {word}"
    kms.disable_key_rotation(KeyId=k["KeyId"])
    assert kms.get_key_rotation_status(KeyId=k["KeyId"])["KeyRotationEnabled"] is False
    kms.disable_key(KeyId=k["KeyId"])
    with pytest.raises(ClientError) as ex:
        kms.enable_key_rotation(KeyId=k["KeyId"])
    assert error_of(ex)[0] == "DisabledException"


def test_on_demand_rotation(kms):
    k = new_key(kms)
    old = kms.encrypt(KeyId=k["KeyId"], Plaintext=b"before")["CiphertextBlob"]
    assert kms.list_key_rotations(KeyId=k["KeyId"])["Rotations"] == []
    r = kms.rotate_key_on_demand(KeyId=k["KeyId"])
    assert r["KeyId"] == k["Arn"], "the key ARN, also when the request named the key by id"
    assert set(r) == {"KeyId", "ResponseMetadata"}
    new = kms.encrypt(KeyId=k["KeyId"], Plaintext=b"after")["CiphertextBlob"]
    d_old, d_new = kms.decrypt(CiphertextBlob=old), kms.decrypt(CiphertextBlob=new)
    assert (d_old["Plaintext"], d_new["Plaintext"]) == (b"before", b"after")
    assert d_old["KeyMaterialId"] == k["CurrentKeyMaterialId"] != d_new["KeyMaterialId"]
    assert kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"] == d_new["KeyMaterialId"]
    rot = kms.list_key_rotations(KeyId=k["KeyId"])["Rotations"]
    assert len(rot) == 1
    assert rot[0]["RotationType"] == "ON_DEMAND"
    assert rot[0]["KeyId"] == k["KeyId"]
    assert rot[0]["KeyMaterialState"] == "CURRENT"
    assert rot[0]["KeyMaterialId"] == d_new["KeyMaterialId"]
    allm = kms.list_key_rotations(KeyId=k["KeyId"], IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [x["KeyMaterialState"] for x in allm] == ["NON_CURRENT", "CURRENT"]
    assert "RotationDate" not in allm[0] and "RotationType" not in allm[0]
    # On-demand rotation does not move the automatic schedule.
    assert kms.get_key_rotation_status(KeyId=k["KeyId"])["KeyRotationEnabled"] is False


def test_on_demand_rotation_limit(kms):
    k = new_key(kms)
    blobs = [kms.encrypt(KeyId=k["KeyId"], Plaintext=b"v1")["CiphertextBlob"]]
    for i in range(25):
        kms.rotate_key_on_demand(KeyId=k["KeyId"])
        blobs.append(kms.encrypt(KeyId=k["KeyId"], Plaintext=f"v{i + 2}".encode())["CiphertextBlob"])
    with pytest.raises(ClientError) as ex:
        kms.rotate_key_on_demand(KeyId=k["KeyId"])
    code, msg, _ = error_of(ex)
    assert code == "LimitExceededException" and k["Arn"] in msg
    for i, b in enumerate(blobs):
        assert kms.decrypt(CiphertextBlob=b)["Plaintext"] == f"v{i + 1}".encode()
    pages, marker = [], None
    while True:
        kw = {"KeyId": k["KeyId"], "Limit": 10}
        if marker:
            kw["Marker"] = marker
        p = kms.list_key_rotations(**kw)
        pages.append(p["Rotations"])
        if not p["Truncated"]:
            break
        marker = p["NextMarker"]
    assert [len(p) for p in pages] == [10, 10, 5]


def test_automatic_rotation_by_the_clock(server, kms):
    k = new_key(kms)
    kms.enable_key_rotation(KeyId=k["KeyId"], RotationPeriodInDays=90)
    blob = kms.encrypt(KeyId=k["KeyId"], Plaintext=b"old")["CiphertextBlob"]
    server.advance(89 * 86400)
    assert kms.list_key_rotations(KeyId=k["KeyId"])["Rotations"] == []
    server.advance(86400 + 60)
    rot = kms.list_key_rotations(KeyId=k["KeyId"])["Rotations"]
    assert [r["RotationType"] for r in rot] == ["AUTOMATIC"]
    status = kms.get_key_rotation_status(KeyId=k["KeyId"])
    assert status["KeyRotationEnabled"] is True
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"old"
    new = kms.encrypt(KeyId=k["KeyId"], Plaintext=b"new")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=new)["KeyMaterialId"] == rot[0]["KeyMaterialId"]
    # Disabled keys do not rotate; once re-enabled an overdue key rotates.
    kms.disable_key(KeyId=k["KeyId"])
    server.advance(91 * 86400)
    assert len(kms.list_key_rotations(KeyId=k["KeyId"])["Rotations"]) == 1
    kms.enable_key(KeyId=k["KeyId"])
    server.advance(1)
    assert len(kms.list_key_rotations(KeyId=k["KeyId"])["Rotations"]) == 2


def test_rotation_status_reads_false_while_pending_deletion(kms):
    k = new_key(kms)
    kms.enable_key_rotation(KeyId=k["KeyId"])
    kms.schedule_key_deletion(KeyId=k["KeyId"])
    assert kms.get_key_rotation_status(KeyId=k["KeyId"])["KeyRotationEnabled"] is False
    kms.cancel_key_deletion(KeyId=k["KeyId"])
    assert kms.get_key_rotation_status(KeyId=k["KeyId"])["KeyRotationEnabled"] is True


# ---- key policies --------------------------------------------------------

def test_default_policy(kms):
    k = new_key(kms)
    r = kms.get_key_policy(KeyId=k["KeyId"])
    assert r["Policy"] == DEFAULT_POLICY
    assert r["PolicyName"] == "default"
    assert kms.get_key_policy(KeyId=k["KeyId"], PolicyName="default")["Policy"] == DEFAULT_POLICY
    assert kms.list_key_policies(KeyId=k["KeyId"])["PolicyNames"] == ["default"]
    with pytest.raises(ClientError) as e:
        kms.put_key_policy(KeyId=k["KeyId"], PolicyName="AWS_RAM", Policy=DEFAULT_POLICY)
    assert error_of(e)[0] == "ValidationException"
    with pytest.raises(ClientError) as ex:
        kms.get_key_policy(KeyId=k["KeyId"], PolicyName="other")
    assert error_of(ex)[0] == "NotFoundException"


def test_put_and_create_with_policy(kms):
    policy = json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "root",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }],
    })
    k = new_key(kms, Policy=policy)
    assert kms.get_key_policy(KeyId=k["KeyId"])["Policy"] == policy
    p2 = policy.replace('"root"', '"second"')
    kms.put_key_policy(KeyId=k["KeyId"], PolicyName="default", Policy=p2)
    assert kms.get_key_policy(KeyId=k["KeyId"])["Policy"] == p2
    kms.put_key_policy(KeyId=k["KeyId"], Policy=policy)
    assert kms.get_key_policy(KeyId=k["KeyId"])["Policy"] == policy


@pytest.mark.parametrize("bad", [
    "not json",
    "[]",
    '{"Version": "2012-10-17"}',
    '{"Statement": [{"Effect": "Perhaps", "Principal": "*", "Action": "kms:*"}]}',
    '{"Statement": [{"Effect": "Allow", "Action": "kms:*"}]}',
    '{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "nobody"}, "Action": "kms:*"}]}',
])
def test_malformed_policies_are_refused(kms, bad):
    k = new_key(kms)
    with pytest.raises(ClientError) as ex:
        kms.put_key_policy(KeyId=k["KeyId"], Policy=bad)
    assert error_of(ex)[0] == "MalformedPolicyDocumentException"
    assert kms.get_key_policy(KeyId=k["KeyId"])["Policy"] == DEFAULT_POLICY, "a refused policy changes nothing"
    with pytest.raises(ClientError) as ex:
        kms.create_key(Policy=bad)
    assert error_of(ex)[0] == "MalformedPolicyDocumentException"


def test_policy_size_and_charset(kms, kms_raw):
    k = new_key(kms)
    big = json.dumps({"Statement": [{"Sid": "x" * 33000, "Effect": "Allow", "Principal": "*", "Action": "kms:*"}]})
    with pytest.raises(ClientError) as ex:
        kms.put_key_policy(KeyId=k["KeyId"], Policy=big)
    assert error_of(ex)[0] == "LimitExceededException"
    with pytest.raises(ClientError) as ex:
        kms_raw.put_key_policy(KeyId=k["KeyId"], Policy='{"Statement": "\u4e16"}')
    assert "Member must satisfy regular expression pattern" in error_of(ex)[1]
