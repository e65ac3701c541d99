"""Key lifecycle through boto3: CreateKey, DescribeKey, ListKeys,
UpdateKeyDescription, EnableKey, DisableKey, ScheduleKeyDeletion,
CancelKeyDeletion, GetKeyLastUsage."""

import datetime

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, REGION, error_of, new_key


def test_create_key_returns_aws_shaped_metadata(kms):
    md = new_key(kms, Description="orders", Tags=[{"TagKey": "team", "TagValue": "a"}])
    assert md["AWSAccountId"] == ACCOUNT
    assert md["Arn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{md['KeyId']}"
    assert md["Enabled"] is True
    assert md["KeyState"] == "Enabled"
    assert md["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert md["KeySpec"] == md["CustomerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert md["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]
    assert md["Origin"] == "AWS_KMS"
    assert md["KeyManager"] == "CUSTOMER"
    assert md["MultiRegion"] is False
    assert md["Description"] == "orders"
    assert len(md["CurrentKeyMaterialId"]) == 64
    assert isinstance(md["CreationDate"], datetime.datetime)
    for absent in ["DeletionDate", "ValidTo", "ExpirationModel", "MultiRegionConfiguration", "SigningAlgorithms"]:
        assert absent not in md
    assert kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"] == md


def test_describe_key_accepts_id_arn_alias_and_alias_arn(kms):
    md = new_key(kms)
    kms.create_alias(AliasName="alias/describe-me", TargetKeyId=md["KeyId"])
    for ref in [md["KeyId"], md["Arn"], "alias/describe-me", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/describe-me"]:
        assert kms.describe_key(KeyId=ref)["KeyMetadata"]["KeyId"] == md["KeyId"]


def test_not_found_messages(kms):
    missing = "11111111-2222-4333-8444-555555555555"
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId=missing)
    assert error_of(e) == ("NotFoundException", f"Key 'arn:aws:kms:{REGION}:{ACCOUNT}:key/{missing}' does not exist", 400)
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId="fake-key-id")
    assert error_of(e) == ("NotFoundException", "Invalid keyId 'fake-key-id'", 400)
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId="alias/nope")
    assert error_of(e) == ("NotFoundException", f"Alias arn:aws:kms:{REGION}:{ACCOUNT}:alias/nope is not found.", 400)
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId=f"arn:aws:kms:ap-southeast-1:{ACCOUNT}:key/{missing}")
    assert error_of(e) == ("NotFoundException", "Invalid arn ap-southeast-1", 400)
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId="arn:aws:kms:broken")
    assert error_of(e)[0] == "InvalidArnException"


def test_key_only_operations_refuse_aliases(kms):
    md = new_key(kms)
    kms.create_alias(AliasName="alias/key-only", TargetKeyId=md["KeyId"])
    with pytest.raises(ClientError) as e:
        kms.enable_key(KeyId="alias/key-only")
    assert error_of(e) == ("NotFoundException", "Invalid keyId 'alias/key-only'", 400)


def test_list_keys_paginates(kms):
    created = {new_key(kms)["KeyId"] for _ in range(5)}
    seen, marker, pages = [], None, 0
    while True:
        kwargs = {"Limit": 2}
        if marker:
            kwargs["Marker"] = marker
        page = kms.list_keys(**kwargs)
        pages += 1
        assert len(page["Keys"]) <= 2
        for k in page["Keys"]:
            assert set(k) == {"KeyId", "KeyArn"}
        seen += [k["KeyId"] for k in page["Keys"]]
        assert "Truncated" in page
        if not page["Truncated"]:
            assert "NextMarker" not in page
            break
        marker = page["NextMarker"]
    assert created <= set(seen)
    assert len(seen) == len(set(seen))
    assert pages >= 3
    # The paginator agrees.
    all_ids = [k["KeyId"] for p in kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 3}) for k in p["Keys"]]
    assert sorted(all_ids) == sorted(seen)


def test_list_keys_bad_marker_and_limit(kms, kms_raw):
    with pytest.raises(ClientError) as e:
        kms.list_keys(Marker="not-a-marker")
    assert error_of(e)[0] == "InvalidMarkerException"
    with pytest.raises(ClientError) as e:
        kms_raw.list_keys(Limit=0)
    assert error_of(e) == (
        "ValidationException",
        "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1",
        400,
    )


def test_update_description(kms):
    md = new_key(kms, Description="old")
    kms.update_key_description(KeyId=md["Arn"], Description="new")
    assert kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["Description"] == "new"
    kms.update_key_description(KeyId=md["KeyId"], Description="")
    assert kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["Description"] == ""


def test_description_too_long(kms_raw):
    with pytest.raises(ClientError) as e:
        kms_raw.create_key(Description="x" * 8193)
    code, msg, status = error_of(e)
    assert (code, status) == ("ValidationException", 400)
    assert "at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192" in msg


def test_enable_disable(kms):
    md = new_key(kms)
    kms.disable_key(KeyId=md["KeyId"])
    d = kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
    assert (d["Enabled"], d["KeyState"]) == (False, "Disabled")
    kms.disable_key(KeyId=md["KeyId"])  # idempotent
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")
    assert error_of(e) == ("DisabledException", f"{md['Arn']} is disabled.", 400)
    kms.enable_key(KeyId=md["KeyId"])
    kms.enable_key(KeyId=md["KeyId"])
    assert kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")["KeyId"] == md["Arn"]


def test_schedule_and_cancel_deletion(kms):
    md = new_key(kms)
    r = kms.schedule_key_deletion(KeyId=md["KeyId"], PendingWindowInDays=7)
    assert r["KeyId"] == md["Arn"]
    assert r["KeyState"] == "PendingDeletion"
    assert r["PendingWindowInDays"] == 7
    delta = r["DeletionDate"] - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(days=6, hours=23) < delta <= datetime.timedelta(days=7, minutes=1)
    d = kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
    assert (d["Enabled"], d["KeyState"]) == (False, "PendingDeletion")
    assert "DeletionDate" in d
    pending = f"{md['Arn']} is pending deletion."
    for call in [
        lambda: kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x"),
        lambda: kms.enable_key(KeyId=md["KeyId"]),
        lambda: kms.disable_key(KeyId=md["KeyId"]),
        lambda: kms.schedule_key_deletion(KeyId=md["KeyId"]),
        lambda: kms.update_key_description(KeyId=md["KeyId"], Description="x"),
        lambda: kms.tag_resource(KeyId=md["KeyId"], Tags=[{"TagKey": "a", "TagValue": "b"}]),
    ]:
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e) == ("KMSInvalidStateException", pending, 400)
    # Still readable.
    kms.get_key_policy(KeyId=md["KeyId"])
    kms.list_resource_tags(KeyId=md["KeyId"])
    assert kms.cancel_key_deletion(KeyId=md["KeyId"])["KeyId"] == md["Arn"]
    d = kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
    assert (d["Enabled"], d["KeyState"]) == (False, "Disabled")
    assert "DeletionDate" not in d
    with pytest.raises(ClientError) as e:
        kms.cancel_key_deletion(KeyId=md["KeyId"])
    assert error_of(e) == ("KMSInvalidStateException", f"{md['Arn']} is not pending deletion.", 400)


def test_cancel_returns_key_arn(kms):
    md = new_key(kms)
    kms.schedule_key_deletion(KeyId=md["KeyId"])
    r = kms.cancel_key_deletion(KeyId=md["KeyId"])
    assert r["KeyId"] == md["Arn"]


def test_deletion_window_bounds(kms, kms_raw):
    md = new_key(kms)
    for days in [6, 31]:
        with pytest.raises(ClientError) as e:
            kms.schedule_key_deletion(KeyId=md["KeyId"], PendingWindowInDays=days)
        assert error_of(e) == ("ValidationException", "PendingWindowInDays must be between 7 and 30", 400)
    with pytest.raises(ClientError) as e:
        kms_raw.schedule_key_deletion(KeyId=md["KeyId"], PendingWindowInDays=0)
    assert "Member must have value greater than or equal to 1" in error_of(e)[1]
    r = kms.schedule_key_deletion(KeyId=md["KeyId"])
    assert r["PendingWindowInDays"] == 30
    kms.cancel_key_deletion(KeyId=md["KeyId"])


def test_key_is_destroyed_after_the_window(server, kms):
    md = new_key(kms)
    kms.create_alias(AliasName="alias/short-lived", TargetKeyId=md["KeyId"])
    blob = kms.encrypt(KeyId=md["KeyId"], Plaintext=b"gone soon")["CiphertextBlob"]
    kms.schedule_key_deletion(KeyId=md["KeyId"], PendingWindowInDays=7)
    server.advance(6 * 86400)
    assert kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    report = server.advance(86400 + 60)
    assert report["deleted"] >= 1
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId=md["KeyId"])
    assert error_of(e)[0] == "NotFoundException"
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob)
    assert error_of(e) == (
        "AccessDeniedException",
        "The ciphertext refers to a customer master key that does not exist, does not exist in this region, "
        "or you are not allowed to access.",
        400,
    )
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob, KeyId=md["KeyId"])
    assert error_of(e)[0] == "NotFoundException"
    aliases = [a["AliasName"] for a in kms.list_aliases()["Aliases"]]
    assert "alias/short-lived" not in aliases
    assert md["KeyId"] not in [k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"]]


def test_create_key_refusals(kms, kms_raw):
    cases = [
        (dict(KeySpec="RSA_2048"), "ValidationException", "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."),
        (dict(KeySpec="SM2", KeyUsage="SIGN_VERIFY"), "UnsupportedOperationException", "KeySpec SM2 is not supported in this Region"),
        (dict(KeySpec="RSA_2048", KeyUsage="GENERATE_VERIFY_MAC"), "ValidationException", "KeyUsage GENERATE_VERIFY_MAC is not compatible with KeySpec RSA_2048"),
        (dict(KeyUsage="SIGN_VERIFY"), "ValidationException", None),
        (dict(KeySpec="SYMMETRIC_DEFAULT", CustomerMasterKeySpec="SYMMETRIC_DEFAULT"), "ValidationException", None),
        (dict(Origin="EXTERNAL", KeySpec="ML_KEM_768", KeyUsage="ENCAPSULATE_DECAPSULATE"), "UnsupportedOperationException", None),
        (dict(Origin="EXTERNAL_KEY_STORE"), "UnsupportedOperationException", None),
        (dict(CustomKeyStoreId="cks-1234567890abcdef0"), "CustomKeyStoreNotFoundException", None),
        (dict(Policy="not json"), "MalformedPolicyDocumentException", None),
        (dict(Tags=[{"TagKey": "aws:x", "TagValue": "1"}]), "TagException", "Tags beginning with aws: are reserved"),
        (dict(Tags=[{"TagKey": "a", "TagValue": "1"}, {"TagKey": "a", "TagValue": "2"}]), "TagException", "Duplicate tag keys"),
        (dict(Tags=[{"TagKey": str(i), "TagValue": ""} for i in range(51)]), "TagException", "Too many tags"),
    ]
    before = len(kms.list_keys(Limit=1000)["Keys"])
    for kwargs, code, message in cases:
        with pytest.raises(ClientError) as e:
            kms.create_key(**kwargs)
        got = error_of(e)
        assert got[0] == code, (kwargs, got)
        assert got[2] == 400
        if message:
            assert got[1] == message
    with pytest.raises(ClientError) as e:
        kms_raw.create_key(KeyUsage="BOGUS")
    assert "Member must satisfy enum value set: [SIGN_VERIFY, ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, KEY_AGREEMENT, ENCAPSULATE_DECAPSULATE]" in error_of(e)[1]
    assert len(kms.list_keys(Limit=1000)["Keys"]) == before, "a refused CreateKey creates nothing"


def test_get_key_last_usage(kms):
    md = new_key(kms)
    r = kms.get_key_last_usage(KeyId=md["KeyId"])
    assert r["KeyId"] == md["KeyId"]
    assert r["KeyLastUsage"] == {}, "an empty object when unused, as AWS documents"
    assert r["KeyCreationDate"] == md["CreationDate"]
    assert r["TrackingStartDate"] >= md["CreationDate"]
    kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")
    r = kms.get_key_last_usage(KeyId=md["Arn"])
    assert r["KeyLastUsage"]["Operation"] == "Encrypt"
    assert r["KeyLastUsage"]["KmsRequestId"]
    blob = kms.generate_data_key(KeyId=md["KeyId"], KeySpec="AES_256")["CiphertextBlob"]
    assert kms.get_key_last_usage(KeyId=md["KeyId"])["KeyLastUsage"]["Operation"] == "GenerateDataKey"
    kms.decrypt(CiphertextBlob=blob)
    assert kms.get_key_last_usage(KeyId=md["KeyId"])["KeyLastUsage"]["Operation"] == "Decrypt"
    # Management calls are not cryptographic use.
    kms.describe_key(KeyId=md["KeyId"])
    assert kms.get_key_last_usage(KeyId=md["KeyId"])["KeyLastUsage"]["Operation"] == "Decrypt"


def test_regions_are_separate(server):
    east = server.client(region="us-east-1")
    west = server.client(region="eu-west-1")
    md = new_key(east)
    with pytest.raises(ClientError) as e:
        west.describe_key(KeyId=md["KeyId"])
    assert error_of(e) == ("NotFoundException", f"Key 'arn:aws:kms:eu-west-1:{ACCOUNT}:key/{md['KeyId']}' does not exist", 400)
    w = new_key(west)
    assert w["Arn"].startswith("arn:aws:kms:eu-west-1:")
    assert md["KeyId"] not in [k["KeyId"] for k in west.list_keys(Limit=1000)["Keys"]]
    east.create_alias(AliasName="alias/regional", TargetKeyId=md["KeyId"])
    west.create_alias(AliasName="alias/regional", TargetKeyId=w["KeyId"])
    assert east.describe_key(KeyId="alias/regional")["KeyMetadata"]["KeyId"] == md["KeyId"]
    assert west.describe_key(KeyId="alias/regional")["KeyMetadata"]["KeyId"] == w["KeyId"]


def test_numeric_access_key_is_its_own_account(server):
    other = server.client(access_key="444455556666")
    md = new_key(other)
    assert md["AWSAccountId"] == "444455556666"
    mine = server.client()
    with pytest.raises(ClientError) as e:
        mine.describe_key(KeyId=md["KeyId"])
    assert error_of(e)[0] == "NotFoundException"
    with pytest.raises(ClientError) as e:
        mine.encrypt(KeyId=md["Arn"], Plaintext=b"x")
    code, msg, _ = error_of(e)
    assert code == "AccessDeniedException"
    assert "is not authorized to perform: kms:Encrypt on resource: " + md["Arn"] in msg
