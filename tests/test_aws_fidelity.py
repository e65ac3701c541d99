"""Behaviour pinned to what AWS KMS answers, found by the review of the
foundation: each test names the AWS behaviour it checks."""

import pytest
from botocore.exceptions import ClientError

from conftest import error_of, new_key

UNAVAILABLE = (
    "The ciphertext refers to a customer master key that does not exist, does not exist in this region, "
    "or you are not allowed to access."
)


def test_rotate_key_on_demand_returns_the_key_arn_for_every_key_form(kms):
    k = new_key(kms)
    kms.create_alias(AliasName="alias/rotate-me", TargetKeyId=k["KeyId"])
    for form in (k["KeyId"], k["Arn"]):
        r = kms.rotate_key_on_demand(KeyId=form)
        assert r["KeyId"] == k["Arn"], form


@pytest.mark.parametrize("name", ["alias/my:alias", "alias/a:b:c", "alias/with space", "alias/dot.ted", "alias/ünicode"])
def test_alias_names_with_invalid_characters(kms, kms_raw, name):
    """The model's pattern admits ':', which KMS refuses in its own words;
    what the pattern refuses gets the model's pattern message."""
    k = new_key(kms)
    other = new_key(kms)
    valid = f"alias/valid_Name-1/{k['KeyId']}"
    kms.create_alias(AliasName=valid, TargetKeyId=k["KeyId"])
    for call in (
        lambda: kms_raw.create_alias(AliasName=name, TargetKeyId=k["KeyId"]),
        lambda: kms_raw.update_alias(AliasName=name, TargetKeyId=other["KeyId"]),
    ):
        with pytest.raises(ClientError) as e:
            call()
        if ":" in name:
            assert error_of(e) == ("ValidationException", f"{name} contains invalid characters for an alias", 400)
        else:
            assert error_of(e)[0] == "ValidationException"
            assert "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$" in error_of(e)[1]
    names = [a["AliasName"] for a in kms.list_aliases(KeyId=k["KeyId"])["Aliases"]]
    assert names == [valid], "nothing was created"


def test_dry_run_answers_http_400(kms):
    k = new_key(kms)
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=k["KeyId"], Plaintext=b"x", DryRun=True)
    assert error_of(e) == (
        "DryRunOperationException", "The request would have succeeded, but the DryRun option is set.", 400)


def test_ignore_ciphertext_dry_run_needs_no_ciphertext_blob(kms, kms_raw):
    k = new_key(kms)
    for call in (
        lambda: kms_raw.decrypt(KeyId=k["KeyId"], DryRun=True, DryRunModifiers=["IGNORE_CIPHERTEXT"]),
        lambda: kms_raw.re_encrypt(SourceKeyId=k["KeyId"], DestinationKeyId=k["KeyId"], DryRun=True,
                                   DryRunModifiers=["IGNORE_CIPHERTEXT"]),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert error_of(e)[0] == "DryRunOperationException"
    # The key is still checked: a disabled one fails the dry run.
    kms.disable_key(KeyId=k["KeyId"])
    with pytest.raises(ClientError) as e:
        kms_raw.decrypt(KeyId=k["KeyId"], DryRun=True, DryRunModifiers=["IGNORE_CIPHERTEXT"])
    assert error_of(e)[0] == "DisabledException"
    # Without the modifier, the blob is required as before.
    with pytest.raises(ClientError) as e:
        kms_raw.decrypt(KeyId=k["KeyId"], DryRun=True)
    assert error_of(e)[0] == "ValidationException"
    assert "ciphertextBlob" in error_of(e)[1]


def test_list_keys_resource_owners(kms, kms_raw):
    k = new_key(kms)
    assert kms.list_keys(ResourceOwners=["OTHER_ACCOUNTS_VIA_RAM"]) | {"ResponseMetadata": None} == {
        "Keys": [], "Truncated": False, "ResponseMetadata": None}
    own = [x["KeyId"] for x in kms.list_keys(ResourceOwners=["SELF"], Limit=1000)["Keys"]]
    both = [x["KeyId"] for x in kms.list_keys(ResourceOwners=["OTHER_ACCOUNTS_VIA_RAM", "SELF"], Limit=1000)["Keys"]]
    assert k["KeyId"] in own and own == both
    with pytest.raises(ClientError) as e:
        kms_raw.list_keys(ResourceOwners=["EVERYONE"])
    assert error_of(e)[0] == "ValidationException"


def test_decrypt_without_key_id_of_a_missing_key_is_access_denied(server, kms):
    """Another account's key, a key of another region, and a key that never
    existed all get the same AccessDeniedException."""
    mine = new_key(kms)
    blob = kms.encrypt(KeyId=mine["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    other_account = server.client(access_key="444455556666")
    other_region = server.client(region="eu-west-1")
    forged = bytearray(blob)
    forged[13] ^= 0xFF  # another key id in the header
    for client, b in ((other_account, blob), (other_region, blob), (kms, bytes(forged))):
        with pytest.raises(ClientError) as e:
            client.decrypt(CiphertextBlob=b)
        assert error_of(e) == ("AccessDeniedException", UNAVAILABLE, 400)
        destination = client.create_key()["KeyMetadata"]["KeyId"]
        with pytest.raises(ClientError) as e:
            client.re_encrypt(CiphertextBlob=b, DestinationKeyId=destination)
        assert error_of(e) == ("AccessDeniedException", UNAVAILABLE, 400)
    # Naming the key keeps the usual answer.
    with pytest.raises(ClientError) as e:
        other_region.decrypt(CiphertextBlob=blob, KeyId=mine["KeyId"])
    assert error_of(e)[0] == "NotFoundException"
