"""The wire protocol itself: AWS JSON 1.1 framing, protocol errors and
SigV4 failures, with hand-made requests signed by botocore's signer."""

import datetime
import json
import urllib.error
import urllib.request
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import REGION, new_key

CREDS = Credentials("AKIDEXAMPLE", "secret")


def send(server, target, body, *, sign=True, headers=None, method="POST", region=REGION, service="kms", when=None, creds=CREDS):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    h = {"Content-Type": "application/x-amz-json-1.1"}
    if target is not None:
        h["X-Amz-Target"] = f"TrentService.{target}"
    h.update(headers or {})
    req = AWSRequest(method=method, url=server.endpoint + "/", data=data, headers=h)
    if sign:
        signer = SigV4Auth(creds, service, region)
        if when is None:
            signer.add_auth(req)
        else:
            # Sign as if the clock said `when`.
            with mock.patch("botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=None)):
                signer.add_auth(req)
    prepared = req.prepare()
    r = urllib.request.Request(prepared.url, data=prepared.body, method=method, headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def err(body):
    d = json.loads(body)
    return d["__type"], d.get("message")


def test_success_headers_and_empty_bodies(server, kms):
    k = new_key(kms)
    status, headers, body = send(server, "EnableKey", {"KeyId": k["KeyId"]})
    assert status == 200
    assert body == b""
    assert headers["Content-Type"] == "application/x-amz-json-1.1"
    assert len(headers["x-amzn-RequestId"]) == 36
    status, _, body = send(server, "ListKeys", {})
    assert status == 200 and "Keys" in json.loads(body)
    status, _, body = send(server, "ListKeys", b"")
    assert status == 200, "an empty body is read as {}"


def test_unknown_and_missing_operation(server):
    for target in ["NoSuchThing", None]:
        status, _, body = send(server, target, {})
        assert status == 400
        assert err(body) == ("UnknownOperationException", None)
    status, _, body = send(server, "ListKeys", {}, method="GET")
    assert status == 400 and err(body)[0] == "UnknownOperationException"
    status, _, body = send(server, "ListKeys", {}, headers={"Content-Type": "text/plain"})
    assert err(body)[0] == "UnknownOperationException"


def test_malformed_json_and_wrong_types(server, kms):
    k = new_key(kms)
    status, _, body = send(server, "ListKeys", b"{not json")
    assert status == 400 and err(body) == ("SerializationException", None)
    status, _, body = send(server, "ListKeys", {"Limit": "ten"})
    assert status == 400 and err(body)[0] == "SerializationException"
    status, _, body = send(server, "Encrypt", {"KeyId": k["KeyId"], "Plaintext": "!!not base64!!"})
    assert status == 400 and err(body)[0] == "SerializationException"
    dup = b'{"KeyId": "%s", "Plaintext": "eA==", "EncryptionContext": {"a": "1", "a": "2"}}' % k["KeyId"].encode()
    status, _, body = send(server, "Encrypt", dup)
    assert status == 400 and err(body)[0] == "SerializationException"
    assert "Duplicate key 'a'" in err(body)[1]
    status, _, body = send(server, "Encrypt", {"KeyId": k["KeyId"], "Plaintext": "eA==", "EncryptionContext": {"a": 1}})
    assert err(body)[0] == "SerializationException"


def test_missing_required_members(server):
    status, _, body = send(server, "Encrypt", {})
    assert status == 400
    assert err(body) == (
        "ValidationException",
        "2 validation errors detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null; "
        "Value null at 'plaintext' failed to satisfy constraint: Member must not be null",
    )


def test_unknown_members_are_ignored(server, kms):
    k = new_key(kms)
    status, _, _ = send(server, "DescribeKey", {"KeyId": k["KeyId"], "Extra": [1, 2]})
    assert status == 200


def test_body_size_cap(server):
    """A declared length over the cap is refused from the headers alone: the
    answer comes before a byte of the body is sent."""
    from rawhttp import exchange, signed_headers
    headers = signed_headers(server, "ListKeys", b"{}", content_length=2 * 1024 * 1024)
    status, _, body = exchange(server, headers)
    assert status == 400
    assert err(body) == ("ValidationException", "The request body exceeds the limit of 1048576 bytes.")


def test_operations_not_built_yet_say_so(server):
    status, _, body = send(server, "CreateCustomKeyStore", {"CustomKeyStoreName": "x"})
    assert status == 400
    assert err(body) == ("UnsupportedOperationException", "CreateCustomKeyStore is not supported by this Trent server yet.")


def test_authentication_errors(server):
    status, _, body = send(server, "ListKeys", {}, sign=False)
    assert (status, err(body)) == (400, ("MissingAuthenticationTokenException", "Missing Authentication Token"))
    status, _, body = send(server, "ListKeys", {}, sign=False, headers={"Authorization": "AWS4-HMAC-SHA256 Credential=x", "X-Amz-Date": "20260101T000000Z"})
    assert err(body)[0] == "IncompleteSignatureException"
    assert "Authorization header requires 'Signature' parameter." in err(body)[1]
    status, _, body = send(server, "ListKeys", {}, service="s3")
    assert err(body) == ("InvalidSignatureException", "Credential should be scoped to correct service: 'kms'.")
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=6)
    status, _, body = send(server, "ListKeys", {}, when=old)
    assert status == 400 and err(body)[0] == "InvalidSignatureException"
    assert err(body)[1].startswith("Signature expired: ") and err(body)[1].endswith(" - 5 min.)")
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=6)
    status, _, body = send(server, "ListKeys", {}, when=future)
    assert err(body)[1].startswith("Signature not yet current: ")
    recent = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=4)
    status, _, _ = send(server, "ListKeys", {}, when=recent)
    assert status == 200, "within the 5-minute skew"
