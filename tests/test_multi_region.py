"""Multi-Region keys: CreateKey MultiRegion, ReplicateKey, UpdatePrimaryRegion,
cross-Region decryption, shared and independent properties, rotation
reaching replicas, deletion rules, through boto3 and the AWS CLI."""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import Server, error_of, write_config

PRIMARY = "us-east-1"
REPLICA = "eu-west-1"
OTHER = "ap-southeast-2"
DAY = 24 * 3600


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("trent-mrk") / "data").start()
    yield s
    s.stop()


@pytest.fixture()
def clients(server):
    return {r: server.client(region=r) for r in (PRIMARY, REPLICA, OTHER)}


def mrk(kms, **kw):
    return kms.create_key(MultiRegion=True, **kw)["KeyMetadata"]


def arn(region, key_id):
    return f"arn:aws:kms:{region}:111122223333:key/{key_id}"


def test_replicate_and_describe(clients):
    us, eu = clients[PRIMARY], clients[REPLICA]
    meta = mrk(us, Description="primary", Tags=[{"TagKey": "side", "TagValue": "us"}])
    key_id = meta["KeyId"]
    assert key_id.startswith("mrk-") and len(key_id) == 36
    assert meta["MultiRegion"] is True
    assert meta["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "PRIMARY",
        "PrimaryKey": {"Arn": arn(PRIMARY, key_id), "Region": PRIMARY},
        "ReplicaKeys": [],
    }
    # A single-Region key says so.
    single = us.create_key()["KeyMetadata"]
    assert single["MultiRegion"] is False and "MultiRegionConfiguration" not in single

    out = us.replicate_key(
        KeyId=key_id, ReplicaRegion=REPLICA, Description="replica",
        Tags=[{"TagKey": "side", "TagValue": "eu"}],
    )
    rep = out["ReplicaKeyMetadata"]
    assert rep["KeyId"] == key_id and rep["Arn"] == arn(REPLICA, key_id)
    # As AWS answers: still being made. It is ready at the first look.
    assert rep["KeyState"] == "Creating" and rep["Enabled"] is False and "CurrentKeyMaterialId" not in rep
    assert rep["Description"] == "replica"
    assert eu.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert rep["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    assert out["ReplicaTags"] == [{"TagKey": "side", "TagValue": "eu"}]
    assert '"Version"' in out["ReplicaPolicy"] or '"Version" :' in out["ReplicaPolicy"]

    primary_view = us.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]
    replica_view = eu.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]
    expected_replicas = [{"Arn": arn(REPLICA, key_id), "Region": REPLICA}]
    assert primary_view["ReplicaKeys"] == expected_replicas
    assert replica_view == {
        "MultiRegionKeyType": "REPLICA",
        "PrimaryKey": {"Arn": arn(PRIMARY, key_id), "Region": PRIMARY},
        "ReplicaKeys": expected_replicas,
    }
    # Independent properties stay independent.
    assert us.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "primary"
    assert eu.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "side", "TagValue": "eu"}]
    assert us.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "side", "TagValue": "us"}]
    assert key_id in [k["KeyId"] for k in eu.list_keys(Limit=1000)["Keys"]]


def test_cross_region_encrypt_decrypt_and_reencrypt(clients):
    us, eu = clients[PRIMARY], clients[REPLICA]
    key_id = mrk(us)["KeyId"]
    us.replicate_key(KeyId=key_id, ReplicaRegion=REPLICA)
    ctx = {"purpose": "cross-region"}
    blob = us.encrypt(KeyId=key_id, Plaintext=b"from us", EncryptionContext=ctx)["CiphertextBlob"]
    out = eu.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)
    assert out["Plaintext"] == b"from us" and out["KeyId"] == arn(REPLICA, key_id)
    assert eu.decrypt(CiphertextBlob=blob, KeyId=arn(REPLICA, key_id), EncryptionContext=ctx)["Plaintext"] == b"from us"
    back = eu.encrypt(KeyId=key_id, Plaintext=b"from eu")["CiphertextBlob"]
    assert us.decrypt(CiphertextBlob=back)["Plaintext"] == b"from eu"
    dk = eu.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    assert us.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"] == dk["Plaintext"]
    # ReEncrypt in the replica's Region, from the primary's ciphertext.
    other = eu.create_key()["KeyMetadata"]["KeyId"]
    re = eu.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext=ctx, DestinationKeyId=other)
    assert re["SourceKeyId"] == arn(REPLICA, key_id)
    assert eu.decrypt(CiphertextBlob=re["CiphertextBlob"])["Plaintext"] == b"from us"
    # A Region without a replica cannot decrypt it.
    with pytest.raises(ClientError) as e:
        clients[OTHER].decrypt(CiphertextBlob=blob, EncryptionContext=ctx)
    assert error_of(e)[0] in ("NotFoundException", "AccessDeniedException")
    # Enabled state is each key's own.
    eu.disable_key(KeyId=key_id)
    with pytest.raises(ClientError) as e:
        eu.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)
    assert error_of(e)[0] == "DisabledException"
    assert us.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)["Plaintext"] == b"from us"
    eu.enable_key(KeyId=key_id)
    # Aliases are each Region's own.
    eu.create_alias(AliasName="alias/mrk-eu", TargetKeyId=key_id)
    assert eu.encrypt(KeyId="alias/mrk-eu", Plaintext=b"a")["KeyId"] == arn(REPLICA, key_id)
    with pytest.raises(ClientError) as e:
        us.encrypt(KeyId="alias/mrk-eu", Plaintext=b"a")
    assert error_of(e)[0] == "NotFoundException"


def test_rotation_reaches_every_replica(server, clients):
    us, eu = clients[PRIMARY], clients[REPLICA]
    key_id = mrk(us)["KeyId"]
    us.replicate_key(KeyId=key_id, ReplicaRegion=REPLICA)
    old = us.encrypt(KeyId=key_id, Plaintext=b"v1")["CiphertextBlob"]
    us.rotate_key_on_demand(KeyId=key_id)
    rotations = eu.list_key_rotations(KeyId=key_id)["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["ON_DEMAND"]
    new = us.encrypt(KeyId=key_id, Plaintext=b"v2")["CiphertextBlob"]
    assert eu.decrypt(CiphertextBlob=new)["Plaintext"] == b"v2"
    assert eu.decrypt(CiphertextBlob=old)["Plaintext"] == b"v1"
    material = us.decrypt(CiphertextBlob=new)["KeyMaterialId"]
    assert eu.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] == material
    # A replica's rotation is its primary's business.
    for call in (
        lambda: eu.rotate_key_on_demand(KeyId=key_id),
        lambda: eu.enable_key_rotation(KeyId=key_id),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e)[0] == "UnsupportedOperationException"
    # Automatic rotation settings and rotations are shared too.
    us.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    status = eu.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] and status["RotationPeriodInDays"] == 90
    server.advance(91 * DAY)
    types = [r["RotationType"] for r in eu.list_key_rotations(KeyId=key_id)["Rotations"]]
    assert types == ["ON_DEMAND", "AUTOMATIC"]
    latest = us.encrypt(KeyId=key_id, Plaintext=b"v3")["CiphertextBlob"]
    assert eu.decrypt(CiphertextBlob=latest)["Plaintext"] == b"v3"


def test_replicate_errors(clients):
    us, eu = clients[PRIMARY], clients[REPLICA]
    single = us.create_key()["KeyMetadata"]["KeyId"]
    key_id = mrk(us)["KeyId"]
    us.replicate_key(KeyId=key_id, ReplicaRegion=REPLICA)
    cases = [
        (us, dict(KeyId=single, ReplicaRegion=REPLICA), "UnsupportedOperationException"),
        (us, dict(KeyId=key_id, ReplicaRegion=PRIMARY), "UnsupportedOperationException"),
        (us, dict(KeyId=key_id, ReplicaRegion=REPLICA), "AlreadyExistsException"),
        (eu, dict(KeyId=key_id, ReplicaRegion=OTHER), "UnsupportedOperationException"),
        (us, dict(KeyId=key_id, ReplicaRegion="not-a-region"), "ValidationException"),
        (us, dict(KeyId="mrk-" + "0" * 32, ReplicaRegion=OTHER), "NotFoundException"),
    ]
    for client, kw, code in cases:
        with pytest.raises(ClientError) as e:
            client.replicate_key(**kw)
        assert error_of(e)[0] == code, (kw, error_of(e))
    us.disable_key(KeyId=key_id)
    with pytest.raises(ClientError) as e:
        us.replicate_key(KeyId=key_id, ReplicaRegion=OTHER)
    assert error_of(e)[0] == "DisabledException"
    # Nothing was made in the other Region.
    with pytest.raises(ClientError) as e:
        clients[OTHER].describe_key(KeyId=key_id)
    assert error_of(e)[0] == "NotFoundException"


def test_update_primary_region(server, clients):
    us, eu = clients[PRIMARY], clients[REPLICA]
    key_id = mrk(us)["KeyId"]
    us.replicate_key(KeyId=key_id, ReplicaRegion=REPLICA)
    with pytest.raises(ClientError) as e:
        us.update_primary_region(KeyId=key_id, PrimaryRegion=OTHER)
    assert error_of(e)[0] == "NotFoundException"
    with pytest.raises(ClientError) as e:
        eu.update_primary_region(KeyId=key_id, PrimaryRegion=PRIMARY)
    assert error_of(e)[0] == "UnsupportedOperationException"
    # Through the AWS CLI.
    blob = us.encrypt(KeyId=key_id, Plaintext=b"before the swap")["CiphertextBlob"]
    server.cli("update-primary-region", "--key-id", key_id, "--primary-region", REPLICA, region=PRIMARY)
    # Both keys show AWS's transient state until the swap is finished (by
    # the next background sweep); they stay usable for cryptography, not
    # for management operations.
    for client in (us, eu):
        assert client.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Updating"
        assert client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before the swap"
        with pytest.raises(ClientError) as e:
            client.disable_key(KeyId=key_id)
        assert error_of(e)[0] == "KMSInvalidStateException"
    with pytest.raises(ClientError) as e:
        eu.replicate_key(KeyId=key_id, ReplicaRegion=OTHER)
    assert error_of(e)[0] == "KMSInvalidStateException"
    server.advance(1)
    for client in (us, eu):
        meta = client.describe_key(KeyId=key_id)["KeyMetadata"]
        assert meta["KeyState"] == "Enabled" and meta["Enabled"]
    eu_view = eu.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]
    us_view = us.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]
    assert eu_view["MultiRegionKeyType"] == "PRIMARY" and us_view["MultiRegionKeyType"] == "REPLICA"
    for view in (eu_view, us_view):
        assert view["PrimaryKey"] == {"Arn": arn(REPLICA, key_id), "Region": REPLICA}
        assert view["ReplicaKeys"] == [{"Arn": arn(PRIMARY, key_id), "Region": PRIMARY}]
    # The new primary rotates and replicates; the old one no longer can.
    with pytest.raises(ClientError) as e:
        us.rotate_key_on_demand(KeyId=key_id)
    assert error_of(e)[0] == "UnsupportedOperationException"
    eu.rotate_key_on_demand(KeyId=key_id)
    assert len(us.list_key_rotations(KeyId=key_id)["Rotations"]) == 1
    eu.replicate_key(KeyId=key_id, ReplicaRegion=OTHER)
    blob = clients[OTHER].encrypt(KeyId=key_id, Plaintext=b"three")["CiphertextBlob"]
    assert us.decrypt(CiphertextBlob=blob)["Plaintext"] == b"three"


def test_deletion_rules(server, clients):
    us, eu = clients[PRIMARY], clients[REPLICA]
    key_id = mrk(us)["KeyId"]
    us.replicate_key(KeyId=key_id, ReplicaRegion=REPLICA)
    out = us.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert out["KeyState"] == "PendingReplicaDeletion" and "DeletionDate" not in out
    meta = us.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingReplicaDeletion" and meta["PendingDeletionWindowInDays"] == 7
    assert "DeletionDate" not in meta
    with pytest.raises(ClientError) as e:
        us.encrypt(KeyId=key_id, Plaintext=b"x")
    assert error_of(e)[0] == "KMSInvalidStateException"
    # It waits for its replica, however long.
    server.advance(30 * DAY)
    assert us.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingReplicaDeletion"
    # The replica is deleted on its own schedule...
    assert eu.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)["KeyState"] == "PendingDeletion"
    server.advance(7 * DAY + 60)
    with pytest.raises(ClientError) as e:
        eu.describe_key(KeyId=key_id)
    assert error_of(e)[0] == "NotFoundException"
    # ...and then the primary's waiting period starts.
    meta = us.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion" and meta["MultiRegionConfiguration"]["ReplicaKeys"] == []
    assert "PendingDeletionWindowInDays" not in meta and "DeletionDate" in meta
    server.advance(7 * DAY + 60)
    with pytest.raises(ClientError) as e:
        us.describe_key(KeyId=key_id)
    assert error_of(e)[0] == "NotFoundException"
    # Cancelling a PendingReplicaDeletion brings the key back disabled.
    again = mrk(us)["KeyId"]
    us.replicate_key(KeyId=again, ReplicaRegion=REPLICA)
    us.schedule_key_deletion(KeyId=again, PendingWindowInDays=7)
    us.cancel_key_deletion(KeyId=again)
    assert us.describe_key(KeyId=again)["KeyMetadata"]["KeyState"] == "Disabled"


def test_imported_multi_region_key(clients, tmp_path):
    """A multi-Region key with imported material: each Region's key takes the
    same material by its own import."""
    from test_import import import_material

    us, eu = clients[PRIMARY], clients[REPLICA]
    key_id = us.create_key(MultiRegion=True, Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    material = b"\x5c" * 32
    # Not before the primary has material (AWS's key-state table).
    with pytest.raises(ClientError) as e:
        us.replicate_key(KeyId=key_id, ReplicaRegion=REPLICA)
    assert error_of(e)[:1] == ("KMSInvalidStateException",) and "pending import" in error_of(e)[1]
    import_material(us, tmp_path, key_id, material)
    rep = us.replicate_key(KeyId=key_id, ReplicaRegion=REPLICA)["ReplicaKeyMetadata"]
    assert rep["Origin"] == "EXTERNAL"
    assert eu.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    with pytest.raises(ClientError) as e:
        import_material(eu, tmp_path, key_id, b"\x5d" * 32)
    assert error_of(e)[0] == "IncorrectKeyMaterialException"
    import_material(eu, tmp_path, key_id, material)
    blob = us.encrypt(KeyId=key_id, Plaintext=b"byok everywhere")["CiphertextBlob"]
    assert eu.decrypt(CiphertextBlob=blob)["Plaintext"] == b"byok everywhere"

    # New material: into the primary first, then into each replica, then
    # one on-demand rotation for the set.
    new = b"\x5e" * 32
    with pytest.raises(ClientError) as e:
        import_material(eu, tmp_path, key_id, new, ImportType="NEW_KEY_MATERIAL")
    assert error_of(e)[0] == "UnsupportedOperationException"
    new_id = import_material(us, tmp_path, key_id, new, ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]

    def pending(client):
        rot = client.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
        return [(r["ImportState"], r["KeyMaterialState"]) for r in rot if r["KeyMaterialId"] == new_id]

    assert pending(us) == [("IMPORTED", "PENDING_MULTI_REGION_IMPORT_AND_ROTATION")]
    assert pending(eu) == [("PENDING_IMPORT", "PENDING_MULTI_REGION_IMPORT_AND_ROTATION")]
    with pytest.raises(ClientError) as e:
        us.rotate_key_on_demand(KeyId=key_id)
    assert error_of(e)[0] == "KMSInvalidStateException"
    with pytest.raises(ClientError) as e:
        import_material(eu, tmp_path, key_id, b"\x5f" * 32)
    assert error_of(e)[0] == "IncorrectKeyMaterialException"
    import_material(eu, tmp_path, key_id, new, ImportType="EXISTING_KEY_MATERIAL", KeyMaterialId=new_id)
    assert pending(us) == [("IMPORTED", "PENDING_ROTATION")]
    us.rotate_key_on_demand(KeyId=key_id)
    for client in (us, eu):
        assert client.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] == new_id
    blob2 = us.encrypt(KeyId=key_id, Plaintext=b"rotated")["CiphertextBlob"]
    out = eu.decrypt(CiphertextBlob=blob2)
    assert out["Plaintext"] == b"rotated" and out["KeyMaterialId"] == new_id
    assert eu.decrypt(CiphertextBlob=blob)["Plaintext"] == b"byok everywhere"


def test_survives_restart(server, clients):
    """Last in the module: it restarts the server on a new port."""
    us = clients[PRIMARY]
    key_id = mrk(us)["KeyId"]
    us.replicate_key(KeyId=key_id, ReplicaRegion=REPLICA)
    us.rotate_key_on_demand(KeyId=key_id)
    blob = us.encrypt(KeyId=key_id, Plaintext=b"durable")["CiphertextBlob"]
    server.stop()
    server.start()
    eu = server.client(region=REPLICA)
    assert eu.decrypt(CiphertextBlob=blob)["Plaintext"] == b"durable"
    view = eu.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]
    assert view["MultiRegionKeyType"] == "REPLICA"


def test_served_regions_are_configurable(tmp_path):
    cfg = write_config(
        tmp_path / "trent.toml",
        'regions = ["us-east-1", "eu-west-1"]\n'
        "[[credentials]]\n"
        'access_key_id = "AKIDEXAMPLE"\n'
        'secret_access_key = "secret"\n'
        'account_id = "111122223333"\n'
        'principal = "arn:aws:iam::111122223333:root"\n',
    )
    s = Server(tmp_path / "data", config=cfg).start()
    try:
        us = s.client(region=PRIMARY)
        key_id = mrk(us)["KeyId"]
        us.replicate_key(KeyId=key_id, ReplicaRegion=REPLICA)
        with pytest.raises(ClientError) as e:
            us.replicate_key(KeyId=key_id, ReplicaRegion=OTHER)
        code, msg, _ = error_of(e)
        assert code == "UnsupportedOperationException" and OTHER in msg
    finally:
        s.stop()


def policy_with_deny(action, condition):
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "Deny", "Effect": "Deny", "Principal": "*", "Action": action, "Resource": "*", "Condition": condition},
    ]})


def test_region_condition_keys(clients):
    """kms:ReplicaRegion and kms:PrimaryRegion are set, so a Deny on them holds."""
    us, eu = clients[PRIMARY], clients[REPLICA]
    key_id = mrk(us, Policy=policy_with_deny(
        ["kms:ReplicateKey", "kms:UpdatePrimaryRegion"],
        {"StringEquals": {"kms:ReplicaRegion": OTHER}},
    ))["KeyId"]
    with pytest.raises(ClientError) as e:
        us.replicate_key(KeyId=key_id, ReplicaRegion=OTHER)
    assert error_of(e)[0] == "AccessDeniedException"
    us.replicate_key(KeyId=key_id, ReplicaRegion=REPLICA)
    other = mrk(us, Policy=policy_with_deny("kms:UpdatePrimaryRegion", {"StringEquals": {"kms:PrimaryRegion": REPLICA}}))
    us.replicate_key(KeyId=other["KeyId"], ReplicaRegion=REPLICA)
    us.replicate_key(KeyId=other["KeyId"], ReplicaRegion=OTHER)
    with pytest.raises(ClientError) as e:
        us.update_primary_region(KeyId=other["KeyId"], PrimaryRegion=REPLICA)
    assert error_of(e)[0] == "AccessDeniedException"
    us.update_primary_region(KeyId=other["KeyId"], PrimaryRegion=OTHER)
    assert clients[OTHER].describe_key(KeyId=other["KeyId"])["KeyMetadata"]["KeyState"] == "Updating"
