"""Every operation of the foundation through the real AWS CLI (v1)."""

import base64

import pytest


def test_every_operation_through_the_aws_cli(server, tmp_path):
    cli = server.cli
    _, created, _ = cli("create-key", "--description", "cli key", "--tags", "TagKey=env,TagValue=test")
    key = created["KeyMetadata"]
    kid = key["KeyId"]
    assert cli("describe-key", "--key-id", kid)[1]["KeyMetadata"]["Description"] == "cli key"
    assert kid in [k["KeyId"] for k in cli("list-keys")[1]["Keys"]]
    cli("update-key-description", "--key-id", kid, "--description", "renamed")
    cli("create-alias", "--alias-name", "alias/cli-test", "--target-key-id", kid)
    assert "alias/cli-test" in [a["AliasName"] for a in cli("list-aliases", "--key-id", kid)[1]["Aliases"]]

    pt = tmp_path / "pt"
    pt.write_bytes(b"through the cli")
    enc = cli("encrypt", "--key-id", "alias/cli-test", "--plaintext", f"fileb://{pt}", "--encryption-context", "k=v")[1]
    ct = tmp_path / "ct"
    ct.write_bytes(base64.b64decode(enc["CiphertextBlob"]))
    dec = cli("decrypt", "--ciphertext-blob", f"fileb://{ct}", "--encryption-context", "k=v")[1]
    assert base64.b64decode(dec["Plaintext"]) == b"through the cli"
    rc, _, err = cli("decrypt", "--ciphertext-blob", f"fileb://{ct}", check=False)
    assert rc != 0 and "InvalidCiphertextException" in err

    other = cli("create-key")[1]["KeyMetadata"]["KeyId"]
    re = cli("re-encrypt", "--ciphertext-blob", f"fileb://{ct}", "--source-encryption-context", "k=v",
             "--destination-key-id", other)[1]
    assert re["KeyId"].endswith(other)
    gdk = cli("generate-data-key", "--key-id", kid, "--key-spec", "AES_256")[1]
    assert len(base64.b64decode(gdk["Plaintext"])) == 32
    gdkwp = cli("generate-data-key-without-plaintext", "--key-id", kid, "--number-of-bytes", "16")[1]
    assert "Plaintext" not in gdkwp
    assert len(base64.b64decode(cli("generate-random", "--number-of-bytes", "48")[1]["Plaintext"])) == 48

    cli("tag-resource", "--key-id", kid, "--tags", "TagKey=owner,TagValue=me")
    cli("untag-resource", "--key-id", kid, "--tag-keys", "env")
    assert cli("list-resource-tags", "--key-id", kid)[1]["Tags"] == [{"TagKey": "owner", "TagValue": "me"}]

    cli("enable-key-rotation", "--key-id", kid, "--rotation-period-in-days", "180")
    status = cli("get-key-rotation-status", "--key-id", kid)[1]
    assert status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 180
    cli("rotate-key-on-demand", "--key-id", kid)
    assert len(cli("list-key-rotations", "--key-id", kid)[1]["Rotations"]) == 1
    cli("disable-key-rotation", "--key-id", kid)

    policy = cli("get-key-policy", "--key-id", kid, "--policy-name", "default", "--output", "text")[1]
    assert "key-default-1" in str(policy)
    cli("put-key-policy", "--key-id", kid, "--policy-name", "default", "--policy",
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}')
    assert cli("list-key-policies", "--key-id", kid)[1]["PolicyNames"] == ["default"]

    last = cli("get-key-last-usage", "--key-id", kid)[1]
    assert last["KeyLastUsage"]["Operation"] in {"GenerateDataKey", "GenerateDataKeyWithoutPlaintext"}

    cli("disable-key", "--key-id", kid)
    rc, _, err = cli("encrypt", "--key-id", kid, "--plaintext", f"fileb://{pt}", check=False)
    assert rc != 0 and "DisabledException" in err and "is disabled." in err
    cli("enable-key", "--key-id", kid)
    cli("update-alias", "--alias-name", "alias/cli-test", "--target-key-id", other)
    cli("delete-alias", "--alias-name", "alias/cli-test")
    sched = cli("schedule-key-deletion", "--key-id", kid, "--pending-window-in-days", "7")[1]
    assert sched["KeyState"] == "PendingDeletion" and sched["PendingWindowInDays"] == 7
    assert cli("cancel-key-deletion", "--key-id", kid)[1]["KeyId"] == key["Arn"]
    assert cli("describe-key", "--key-id", kid)[1]["KeyMetadata"]["KeyState"] == "Disabled"


@pytest.mark.parametrize("args,code", [
    (["describe-key", "--key-id", "alias/does-not-exist"], "NotFoundException"),
    (["schedule-key-deletion", "--key-id", "11111111-2222-4333-8444-555555555555"], "NotFoundException"),
    (["create-alias", "--alias-name", "alias/aws/mine", "--target-key-id", "11111111-2222-4333-8444-555555555555"], "NotAuthorizedException"),
])
def test_cli_reports_aws_errors(server, args, code):
    rc, _, err = server.cli(*args, check=False)
    assert rc != 0
    assert f"({code})" in err
