#!/usr/bin/env python3
"""Pre-signed requests for wrk.

`setup` creates the benchmark key (and a 1 KiB ciphertext for Decrypt) with
boto3. `static` writes a wrk script that sends one pre-signed request over and
over. `dynamic` writes a script that picks a random key per request from a
list, each with its own pre-computed SigV4 signature. Signatures are valid for
AWS's 5-minute clock-skew window, so scripts are generated right before each
run.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import sys

ACCESS_KEY = "AKIABENCH00000000001"
SECRET = "bench-secret-access-key"
# An IAM user with an identity policy (bench/run.sh configures it).
USER_KEY = "AKIABENCHUSER0000001"
USER_SECRET = "bench-user-secret"
USER_ARN = "arn:aws:iam::111122223333:user/bench"
CONTEXT = {"app": "bench", "tenant": "t1"}

# Ten statements, conditions on the encryption context and the principal,
# most of them about Encrypt so that evaluation has work to do; the user is
# allowed by the last Allow and by the account's delegation to IAM.
TEN_STATEMENTS = {"Version": "2012-10-17", "Statement": [
    {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
    {"Sid": "NoBlockedTenant", "Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*",
     "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "blocked"}}},
    {"Sid": "OnlyOwnAccount", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
     "Condition": {"StringNotEquals": {"kms:CallerAccount": "111122223333"}}},
    {"Sid": "Billing", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/billing"}, "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
     "Condition": {"StringEquals": {"kms:EncryptionContext:app": "billing"}}},
    {"Sid": "Reports", "Effect": "Allow", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*",
     "Condition": {"StringLike": {"kms:EncryptionContext:app": "report-*"}, "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/report*"}}},
    {"Sid": "Auditors", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/auditor"}, "Action": "kms:DescribeKey", "Resource": "*"},
    {"Sid": "Keys", "Effect": "Allow", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*",
     "Condition": {"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["app", "tenant", "x"]}, "StringEquals": {"kms:EncryptionContext:app": "other"}}},
    {"Sid": "NoDeletion", "Effect": "Deny", "Principal": "*", "Action": "kms:ScheduleKeyDeletion", "Resource": "*",
     "Condition": {"NumericLessThan": {"kms:ScheduleKeyDeletionPendingWindowInDays": "30"}}},
    {"Sid": "Tenants", "Effect": "Allow", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*",
     "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": ["t2", "t3", "t4"]}}},
    {"Sid": "BenchUser", "Effect": "Allow", "Principal": {"AWS": USER_ARN}, "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
     "Condition": {"StringEquals": {"kms:EncryptionContext:app": "bench"}, "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/bench*"}}},
]}

# The bench user's identity policy (bench/run.sh puts it in the config).
IDENTITY_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "arn:aws:kms:us-east-1:111122223333:key/*",
     "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "t1"}}},
]}
ACCOUNT = "111122223333"
REGION = "us-east-1"
REPLICA_REGION = "eu-west-1"
PLAINTEXT_1K = base64.b64encode(bytes(range(256)) * 4).decode()  # 1024 bytes


def signing_key(date, secret=SECRET, region=REGION):
    k = hmac.new(b"AWS4" + secret.encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, "kms", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


class Signer:
    def __init__(self, host, target, access_key=ACCESS_KEY, secret=SECRET, region=REGION):
        now = datetime.datetime.now(datetime.timezone.utc)
        self.amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        self.scope = f"{self.amz_date[:8]}/{region}/kms/aws4_request"
        self.key = signing_key(self.amz_date[:8], secret, region)
        self.access_key = access_key
        self.host = host
        self.target = f"TrentService.{target}"
        self.signed = "content-type;host;x-amz-date;x-amz-target"

    def signature(self, body):
        creq = "\n".join([
            "POST", "/", "",
            "content-type:application/x-amz-json-1.1",
            f"host:{self.host}",
            f"x-amz-date:{self.amz_date}",
            f"x-amz-target:{self.target}",
            "",
            self.signed,
            hashlib.sha256(body.encode()).hexdigest(),
        ])
        sts = "\n".join(["AWS4-HMAC-SHA256", self.amz_date, self.scope, hashlib.sha256(creq.encode()).hexdigest()])
        return hmac.new(self.key, sts.encode(), hashlib.sha256).hexdigest()

    def auth_prefix(self):
        return f"AWS4-HMAC-SHA256 Credential={self.access_key}/{self.scope}, SignedHeaders={self.signed}, Signature="


MESSAGE_256 = base64.b64encode(bytes(range(256))).decode()  # 256 bytes to sign

# op -> (state key, target, body members): the asymmetric and HMAC requests
# of bench/asymmetric.sh, against the keys `setup-asymmetric` makes.
ASYMMETRIC = {
    "sign-p256": ("p256", "Sign", {"Message": MESSAGE_256, "SigningAlgorithm": "ECDSA_SHA_256"}),
    "verify-p256": ("p256", "Verify", {"Message": MESSAGE_256, "SigningAlgorithm": "ECDSA_SHA_256", "Signature": "p256_sig"}),
    "sign-rsa2048": ("rsa2048", "Sign", {"Message": MESSAGE_256, "SigningAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256"}),
    "verify-rsa2048": ("rsa2048", "Verify", {"Message": MESSAGE_256, "SigningAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256", "Signature": "rsa2048_sig"}),
    "sign-rsa4096": ("rsa4096", "Sign", {"Message": MESSAGE_256, "SigningAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256"}),
    "generate-mac": ("hmac", "GenerateMac", {"Message": PLAINTEXT_1K, "MacAlgorithm": "HMAC_SHA_256"}),
}


def body_for(op, key_id, blob=None):
    if op == "encrypt":
        return "Encrypt", json.dumps({"KeyId": key_id, "Plaintext": PLAINTEXT_1K})
    if op == "encrypt-context":
        return "Encrypt", json.dumps({"KeyId": key_id, "Plaintext": PLAINTEXT_1K, "EncryptionContext": CONTEXT})
    if op == "decrypt":
        return "Decrypt", json.dumps({"CiphertextBlob": blob, "KeyId": key_id})
    if op == "generate-data-key":
        return "GenerateDataKey", json.dumps({"KeyId": key_id, "KeySpec": "AES_256"})
    if op == "create-key":
        return "CreateKey", json.dumps({"Description": "bench"})
    raise SystemExit(f"unknown op {op}")


def lua_str(s):
    return json.dumps(s)  # a JSON string literal is a valid Lua string literal here (ASCII only)


def headers_lua(signer):
    return (
        f'  ["Content-Type"] = "application/x-amz-json-1.1",\n'
        f'  ["X-Amz-Target"] = {lua_str(signer.target)},\n'
        f'  ["X-Amz-Date"] = {lua_str(signer.amz_date)},\n'
    )


def cmd_setup(a):
    import boto3
    kms = boto3.client("kms", endpoint_url=a.endpoint, region_name=REGION,
                       aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET)
    key = kms.create_key(Description="bench")["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=base64.b64decode(PLAINTEXT_1K))["CiphertextBlob"]
    policy_key = kms.create_key(Description="bench, ten statements", Policy=json.dumps(TEN_STATEMENTS))["KeyMetadata"]["KeyId"]
    # Both keys work for the requests the benchmark sends.
    user = boto3.client("kms", endpoint_url=a.endpoint, region_name=REGION,
                        aws_access_key_id=USER_KEY, aws_secret_access_key=USER_SECRET)
    user.encrypt(KeyId=policy_key, Plaintext=b"check", EncryptionContext=CONTEXT)
    kms.encrypt(KeyId=key, Plaintext=b"check", EncryptionContext=CONTEXT)
    with open(a.out, "w") as f:
        json.dump({"key": key, "blob": base64.b64encode(blob).decode(), "policy_key": policy_key}, f)


def cmd_setup_asymmetric(a):
    import boto3
    kms = boto3.client("kms", endpoint_url=a.endpoint, region_name=REGION,
                       aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET)
    state = json.load(open(a.state))
    for name, spec, usage in [("p256", "ECC_NIST_P256", "SIGN_VERIFY"), ("rsa2048", "RSA_2048", "SIGN_VERIFY"),
                              ("rsa4096", "RSA_4096", "SIGN_VERIFY"), ("hmac", "HMAC_256", "GENERATE_VERIFY_MAC")]:
        state[name] = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"]
    msg = base64.b64decode(MESSAGE_256)
    for name, alg in [("p256", "ECDSA_SHA_256"), ("rsa2048", "RSASSA_PKCS1_V1_5_SHA_256")]:
        sig = kms.sign(KeyId=state[name], Message=msg, SigningAlgorithm=alg)["Signature"]
        state[f"{name}_sig"] = base64.b64encode(sig).decode()
    json.dump(state, open(a.state, "w"))


def cmd_setup_keys(a):
    """An imported-material key and a multi-Region key with a replica in
    REPLICA_REGION, each with a 1 KiB ciphertext (the multi-Region one made
    by the primary, so Decrypt in the replica's Region is cross-Region)."""
    import boto3
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    def client(region):
        return boto3.client("kms", endpoint_url=a.endpoint, region_name=region,
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET)
    kms, replica = client(REGION), client(REPLICA_REGION)
    state = json.load(open(a.state))
    plaintext = base64.b64decode(PLAINTEXT_1K)
    byok = kms.create_key(Origin="EXTERNAL", Description="bench, imported")["KeyMetadata"]["KeyId"]
    p = kms.get_parameters_for_import(KeyId=byok, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    public = serialization.load_der_public_key(p["PublicKey"])
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    kms.import_key_material(KeyId=byok, ImportToken=p["ImportToken"], EncryptedKeyMaterial=public.encrypt(os.urandom(32), oaep),
                            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    mrk = kms.create_key(MultiRegion=True, Description="bench, multi-Region")["KeyMetadata"]["KeyId"]
    kms.replicate_key(KeyId=mrk, ReplicaRegion=REPLICA_REGION)
    state["byok"] = byok
    state["byok_blob"] = base64.b64encode(kms.encrypt(KeyId=byok, Plaintext=plaintext)["CiphertextBlob"]).decode()
    state["mrk"] = mrk
    blob = kms.encrypt(KeyId=mrk, Plaintext=plaintext)["CiphertextBlob"]
    assert replica.decrypt(CiphertextBlob=blob)["Plaintext"] == plaintext
    state["mrk_blob"] = base64.b64encode(blob).decode()
    json.dump(state, open(a.state, "w"))


def cmd_static(a):
    state = json.load(open(a.state))
    key = state["policy_key"] if a.policy_key else state[a.key]
    blob = state[a.blob]
    if a.op in ASYMMETRIC:
        name, target, members = ASYMMETRIC[a.op]
        members = {k: (state[v] if k == "Signature" else v) for k, v in members.items()}
        target, body = target, json.dumps({"KeyId": state[name], **members})
    else:
        target, body = body_for(a.op, key, blob)
    s = Signer(a.host, target, *((USER_KEY, USER_SECRET) if a.as_user else (ACCESS_KEY, SECRET)), region=a.region)
    print("wrk.method = \"POST\"")
    print(f"wrk.body = {lua_str(body)}")
    print("wrk.headers = {\n" + headers_lua(s) + f'  ["Authorization"] = {lua_str(s.auth_prefix() + s.signature(body))},\n}}')


def cmd_dynamic(a):
    ids = [l.strip() for l in open(a.ids) if l.strip()]
    if a.limit:
        ids = ids[: a.limit]
    target, sample = body_for("encrypt", "KEYID")
    prefix, suffix = sample.split("KEYID")
    s = Signer(a.host, target)
    out = sys.stdout
    out.write("local ids = {\n")
    sigs = []
    for i in ids:
        out.write(f'"{i}",\n')
        sigs.append(s.signature(prefix + i + suffix))
    out.write("}\nlocal sigs = {\n")
    for g in sigs:
        out.write(f'"{g}",\n')
    out.write("}\n")
    out.write(f"local prefix = {lua_str(prefix)}\nlocal suffix = {lua_str(suffix)}\n")
    out.write(f"local auth = {lua_str(s.auth_prefix())}\n")
    out.write("local n = #ids\nlocal headers = {\n" + headers_lua(s) + "}\n")
    # Every request is formatted once per wrk thread, in init(); request()
    # only picks one. Building a fresh 1.4 KB Lua string per request instead
    # costs the load generator (which shares the two cores with the server)
    # three times more with 100,000 distinct bodies than with one, which
    # would measure wrk rather than Trent.
    out.write(
        "local reqs = {}\n"
        "function init(args)\n"
        "  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))\n"
        "  for i = 1, n do\n"
        "    headers[\"Authorization\"] = auth .. sigs[i]\n"
        "    reqs[i] = wrk.format(\"POST\", \"/\", headers, prefix .. ids[i] .. suffix)\n"
        "  end\n"
        "end\n"
        "function request()\n"
        "  return reqs[math.random(n)]\n"
        "end\n"
    )


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    x = sub.add_parser("setup"); x.add_argument("--endpoint", required=True); x.add_argument("--out", required=True)
    x = sub.add_parser("static"); x.add_argument("--host", required=True); x.add_argument("--state", required=True); x.add_argument("--op", required=True)
    x.add_argument("--policy-key", action="store_true", help="the key with the ten-statement policy")
    x.add_argument("--as-user", action="store_true", help="sign as the IAM user with an identity policy")
    x.add_argument("--key", default="key", help="the state's key to use (key, byok, mrk)")
    x.add_argument("--blob", default="blob", help="the state's ciphertext for Decrypt (blob, byok_blob, mrk_blob)")
    x.add_argument("--region", default=REGION, help="the Region the request is signed for")
    x = sub.add_parser("setup-keys"); x.add_argument("--endpoint", required=True); x.add_argument("--state", required=True)
    x = sub.add_parser("setup-asymmetric"); x.add_argument("--endpoint", required=True); x.add_argument("--state", required=True)
    x = sub.add_parser("identity-policy")
    x = sub.add_parser("dynamic"); x.add_argument("--host", required=True); x.add_argument("--ids", required=True); x.add_argument("--limit", type=int, default=0)
    a = p.parse_args()
    {"setup": cmd_setup, "setup-asymmetric": cmd_setup_asymmetric, "setup-keys": cmd_setup_keys, "static": cmd_static, "dynamic": cmd_dynamic,
     "identity-policy": lambda a: print(json.dumps(IDENTITY_POLICY))}[a.cmd](a)


if __name__ == "__main__":
    main()
