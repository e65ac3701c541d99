#!/usr/bin/env python3
"""Unauthenticated flood: many connections that each send a valid-looking
signed header and a large body without valid credentials (half an unknown
access key, half a configured access key id, `--flood-key`, with a wrong
secret), while a correctly signed Encrypt with another credential goes
through every 200 ms. Reports the server's resident memory (now
and peak) and how the good requests fared.

Used by `bench/run.sh` (figures in docs/benchmarks.md) and by
`tests/test_network.py`, which asserts on the same numbers.

    python bench/flood.py --endpoint http://127.0.0.1:8080 --pid PID \\
        --access-key AKID --secret SECRET --flood-key OTHER_AKID \\
        [--connections 1500] [--body-mib 1]
"""

import argparse
import asyncio
import json
import os
import threading
import time

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def attack_head(host, port, access_key, secret, body_len):
    """A signed head for an Encrypt whose body will not match the
    signature (or whose key is unknown): credentials are not valid."""
    h = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.Encrypt"}
    req = AWSRequest(method="POST", url=f"http://{host}:{port}/", data=b"{}", headers=h)
    SigV4Auth(Credentials(access_key, secret), "kms", "us-east-1").add_auth(req)
    headers = {k: v for k, v in req.prepare().headers.items() if k.lower() != "content-length"}
    headers["Host"] = f"{host}:{port}"
    headers["Content-Length"] = str(body_len)
    lines = ["POST / HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def one_attacker(host, port, head, body, outcomes):
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as e:
        outcomes[f"connect failed: {e.__class__.__name__}"] = outcomes.get(f"connect failed: {e.__class__.__name__}", 0) + 1
        return
    status = "no answer"
    try:
        writer.write(head)
        writer.write(body)
        try:
            await asyncio.wait_for(writer.drain(), 60)
        except (ConnectionError, asyncio.TimeoutError):
            pass  # refused before the body was read: expected
        line = await asyncio.wait_for(reader.readline(), 60)
        rest = await asyncio.wait_for(reader.read(4096), 10)
        if line:
            status = line.decode(errors="replace").split(" ", 2)[1]
            for t in (b"UnrecognizedClientException", b"InvalidSignatureException", b"ThrottlingException"):
                if t in rest:
                    status += " " + t.decode()
    except (ConnectionError, asyncio.TimeoutError, IndexError):
        status = "reset"
    finally:
        writer.close()
    outcomes[status] = outcomes.get(status, 0) + 1


async def attack(host, port, heads, body, connections):
    outcomes = {}
    await asyncio.gather(*(one_attacker(host, port, heads[i % len(heads)], body, outcomes) for i in range(connections)))
    return outcomes


def flood(endpoint, pid, access_key, secret, flood_key, connections=1500, body_mib=1, key_id=None):
    host, port = endpoint.split("//")[1].rstrip("/").split(":")
    port = int(port)
    body = b"x" * (body_mib << 20)
    heads = [
        attack_head(host, port, flood_key, "not-the-secret", len(body)),
        attack_head(host, port, "AKIAUNKNOWNATTACKER0", "whatever", len(body)),
    ]
    kms = boto3.client(
        "kms", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=access_key,
        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=30),
    )
    key_id = key_id or kms.create_key()["KeyMetadata"]["KeyId"]
    base_rss = rss_kib(pid)
    stop = threading.Event()
    samples, good = [], []

    def sample():
        while not stop.is_set():
            samples.append(rss_kib(pid))
            time.sleep(0.02)

    def legit():
        while not stop.is_set():
            t = time.time()
            try:
                kms.encrypt(KeyId=key_id, Plaintext=b"p" * 1024)
                good.append(("ok", time.time() - t))
            except Exception as e:  # noqa: BLE001 - recorded and reported
                good.append((f"{e.__class__.__name__}: {e}", time.time() - t))
            time.sleep(0.2)

    threads = [threading.Thread(target=sample), threading.Thread(target=legit)]
    for t in threads:
        t.start()
    started = time.time()
    outcomes = asyncio.run(attack(host, port, heads, body, connections))
    elapsed = time.time() - started
    stop.set()
    for t in threads:
        t.join()
    return {
        "connections": connections,
        "body_bytes": len(body),
        "seconds": round(elapsed, 2),
        "rss_before_mib": round(base_rss / 1024, 1),
        "rss_max_sampled_mib": round(max(samples + [base_rss]) / 1024, 1),
        "rss_peak_mib": round(rss_kib(pid, "VmHWM") / 1024, 1),
        "attacker_outcomes": outcomes,
        "good_requests": len(good),
        "good_ok": sum(1 for g in good if g[0] == "ok"),
        "good_failures": [g[0] for g in good if g[0] != "ok"][:5],
        "good_max_latency_s": round(max((g[1] for g in good), default=0), 3),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--access-key", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--flood-key", required=True, help="a configured access key id the flood signs with, without its secret")
    ap.add_argument("--connections", type=int, default=1500)
    ap.add_argument("--body-mib", type=int, default=1)
    a = ap.parse_args()
    print(json.dumps(flood(a.endpoint, a.pid, a.access_key, a.secret, a.flood_key, a.connections, a.body_mib), indent=1))


if __name__ == "__main__":
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    main()
