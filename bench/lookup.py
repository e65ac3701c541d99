"""LookupEvents latency over a large trail, through boto3 (so the figures
include the client's signing and parsing, as a user sees them). Prints one
JSON object: per query, the median and slowest of REPEAT calls, in ms.

Usage: lookup.py --endpoint URL --access-key AK --secret SK --key-arn ARN"""

import argparse
import json
import statistics
import time

import boto3
from botocore.config import Config

REPEAT = 20


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--key-arn")
    p.add_argument("--mark", action="store_true", help="only create a key (the trail's oldest event) and exit")
    a = p.parse_args()
    if a.mark:
        boto3.client("kms", endpoint_url=a.endpoint, region_name="us-east-1", aws_access_key_id=a.access_key,
                     aws_secret_access_key=a.secret).create_key(Description="the trail's first event")
        return
    ct = boto3.client(
        "cloudtrail", endpoint_url=a.endpoint, region_name="us-east-1",
        aws_access_key_id=a.access_key, aws_secret_access_key=a.secret,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=300),
    )
    # The middle of the trail's time span, for a one-second window.
    newest = ct.lookup_events(MaxResults=1)["Events"][0]["EventTime"]
    oldest = ct.lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateKey"}])["Events"][-1]["EventTime"]
    # boto3 parses EventTime into datetimes; the request takes epoch seconds.
    middle = int((oldest.timestamp() + newest.timestamp()) / 2)

    def page_20():
        token, n = None, 0
        for _ in range(20):
            r = ct.lookup_events(**({"NextToken": token} if token else {}))
            n += len(r["Events"])
            token = r.get("NextToken")
            if token is None:
                break
        return n

    queries = {
        "newest 50, no filter": lambda: len(ct.lookup_events()["Events"]),
        "EventName=Encrypt, first page": lambda: len(ct.lookup_events(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Encrypt"}])["Events"]),
        "ResourceName=the key, first page": lambda: len(ct.lookup_events(
            LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": a.key_arn}])["Events"]),
        "one-second window in the middle": lambda: len(ct.lookup_events(
            StartTime=middle, EndTime=middle + 1)["Events"]),
        "EventName=CreateKey (the oldest events: every index read)": lambda: len(ct.lookup_events(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateKey"}])["Events"]),
        "20 pages of 50 through NextToken": page_20,
    }
    out = {}
    for name, q in queries.items():
        times, found = [], 0
        for _ in range(REPEAT):
            t = time.perf_counter()
            found = q()
            times.append((time.perf_counter() - t) * 1000)
        out[name] = {"found": found, "p50_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
