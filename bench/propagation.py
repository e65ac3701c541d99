"""The time from DisableKey answered by one node to the first refusal of
Encrypt by another node sharing the database (whose cache held the key).

Usage: propagation.py ENDPOINT_A ENDPOINT_B [TRIES]. Prints one line of
JSON: the tries' median, 90th percentile and maximum in milliseconds.
Node B is polled with Encrypt back to back (each ~1 ms on loopback), which
bounds the resolution."""

import json
import statistics
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ACCESS_KEY, SECRET = "AKIABENCH00000000001", "bench-secret-access-key"


def client(endpoint):
    return boto3.client(
        "kms", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET,
        config=Config(retries={"max_attempts": 1}),
    )


def until(b, key, refused, limit=10.0):
    """Encrypt on B until it is refused (or allowed again); seconds taken."""
    start = time.monotonic()
    while True:
        try:
            b.encrypt(KeyId=key, Plaintext=b"x")
            if not refused:
                return time.monotonic() - start
        except ClientError as e:
            if e.response["Error"]["Code"] != "DisabledException":
                raise
            if refused:
                return time.monotonic() - start
        if time.monotonic() - start > limit:
            raise SystemExit(f"no change seen on node B within {limit} s")


def main():
    a, b = client(sys.argv[1]), client(sys.argv[2])
    tries = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    key = a.create_key(Description="propagation")["KeyMetadata"]["KeyId"]
    until(b, key, refused=False)
    samples = []
    for _ in range(tries):
        b.encrypt(KeyId=key, Plaintext=b"x")  # in B's cache
        a.disable_key(KeyId=key)
        samples.append(until(b, key, refused=True) * 1000)
        a.enable_key(KeyId=key)
        until(b, key, refused=False)
    samples.sort()
    print(json.dumps({
        "tries": tries,
        "median_ms": round(statistics.median(samples), 2),
        "p90_ms": round(samples[int(0.9 * (tries - 1))], 2),
        "max_ms": round(samples[-1], 2),
    }))


if __name__ == "__main__":
    main()
