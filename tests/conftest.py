"""Black-box test harness: starts the release `trent` binary on a free
loopback port and drives it with boto3 and the real AWS CLI."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("TRENT_BIN", ROOT / "target" / "release" / "trent"))
AWS = Path(sys.executable).parent / "aws"
REGION = "us-east-1"
ACCOUNT = "111122223333"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One trent process on a data directory it may outlive."""

    def __init__(self, data_dir, config=None, test_clock=True, extra_args=(), env=None):
        self.data_dir = Path(data_dir)
        self.config = config
        self.test_clock = test_clock
        self.extra_args = list(extra_args)
        self.env = env or {}
        self.port = None
        self.proc = None
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, expect_failure=False):
        self.port = free_port()
        args = [str(BIN), "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir)]
        if self.config:
            args += ["--config", str(self.config)]
        if self.test_clock:
            args.append("--unsafe-test-clock")
        args += self.extra_args
        self.log = open(self.log_path, "ab")
        env = {**os.environ, "TRENT_LOG": "info", **self.env}
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        if expect_failure:
            try:
                return self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError("server was expected to fail at start-up")
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"trent exited at start-up:\n{self.read_log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"trent did not start listening:\n{self.read_log()}")

    def read_log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def client(self, region=REGION, access_key="AKIDEXAMPLE", secret="secret", validate=True):
        return boto3.client(
            "kms",
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret,
            config=Config(
                retries={"max_attempts": 1, "mode": "standard"},
                parameter_validation=validate,
                connect_timeout=5,
                read_timeout=30,
            ),
        )

    def cli(self, *args, access_key="AKIDEXAMPLE", secret="secret", region=REGION, check=True):
        """Run `aws kms ARGS` against this server; returns (rc, parsed JSON or text, stderr)."""
        env = dict(
            os.environ,
            AWS_ACCESS_KEY_ID=access_key,
            AWS_SECRET_ACCESS_KEY=secret,
            AWS_DEFAULT_REGION=region,
            AWS_CONFIG_FILE="/dev/null",
            AWS_SHARED_CREDENTIALS_FILE="/dev/null",
            AWS_MAX_ATTEMPTS="1",
        )
        env.pop("AWS_SESSION_TOKEN", None)
        p = subprocess.run(
            [str(AWS), "kms", *args, "--endpoint-url", self.endpoint, "--output", "json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        if check and p.returncode != 0:
            raise AssertionError(f"aws kms {' '.join(args)} failed ({p.returncode}): {p.stderr}")
        out = p.stdout.strip()
        try:
            parsed = json.loads(out) if out else None
        except json.JSONDecodeError:
            parsed = out
        return p.returncode, parsed, p.stderr

    def advance(self, seconds):
        """Move the server's clock forward and run its background sweep."""
        req = urllib.request.Request(
            f"{self.endpoint}/trent-test/clock?advance_seconds={int(seconds)}", method="POST", data=b""
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("trent") / "data").start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def kms(server):
    return server.client()


@pytest.fixture(scope="module")
def kms_raw(server):
    """A client that does not validate parameters, to reach the server's checks."""
    return server.client(validate=False)


def error_of(excinfo):
    """(code, message, http status) of a botocore ClientError."""
    r = excinfo.value.response
    return r["Error"]["Code"], r["Error"].get("Message", ""), r["ResponseMetadata"]["HTTPStatusCode"]


def new_key(kms, **kwargs):
    return kms.create_key(**kwargs)["KeyMetadata"]
