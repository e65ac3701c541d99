"""Black-box test harness: starts the release `trent` binary on a free
loopback port and drives it with boto3 and the real AWS CLI."""

import json
import os
import re
import signal
import ssl
import socket
import subprocess
import sys
import time
import urllib.error
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


def aws_env(access_key="AKIDEXAMPLE", secret="secret", region=REGION, **extra):
    """The environment of an AWS tool run by a test: these credentials and
    Region, no shared config or credentials file of the machine's, one
    attempt per call; `extra` adds variables."""
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID=access_key,
        AWS_SECRET_ACCESS_KEY=secret,
        AWS_DEFAULT_REGION=region,
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_MAX_ATTEMPTS="1",
        **extra,
    )
    env.pop("AWS_SESSION_TOKEN", None)
    return env


ROOT_KEY_LINES = "[root_key]\nenv = 'TRENT_TEST_ROOT_KEY'\n"
TEST_ROOT_KEY = "5a" * 32


def write_config(path, body, root_key=True):
    """A configuration file: `body` plus, unless told otherwise, a root key
    taken from an environment variable the Server sets."""
    path = Path(path)
    path.write_text(body + ("\n" + ROOT_KEY_LINES if root_key else ""))
    return path


class Server:
    """One trent process on a data directory it may outlive.

    `tls`: None (plain HTTP), "dev" (`--dev-tls`), or the path of a CA file to
    trust when the configuration names its own certificate."""

    def __init__(self, data_dir, config=None, test_clock=True, extra_args=(), env=None, tls=None):
        self.data_dir = Path(data_dir)
        self.config = config
        self.test_clock = test_clock
        self.extra_args = list(extra_args)
        self.env = {"TRENT_TEST_ROOT_KEY": TEST_ROOT_KEY, **(env or {})}
        self.tls = tls
        self.port = None
        self.proc = None
        self.clock_token = None
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"

    @property
    def endpoint(self):
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def ca_bundle(self):
        """The CA file clients must trust (None for plain HTTP)."""
        if self.tls == "dev":
            return str(self.data_dir / "tls" / "ca.pem")
        return str(self.tls) if self.tls else None

    def start(self, expect_failure=False):
        self.port = free_port()
        args = [str(BIN), "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir)]
        if self.config:
            args += ["--config", str(self.config)]
        if self.test_clock:
            args.append("--unsafe-test-clock")
        if self.tls == "dev":
            args.append("--dev-tls")
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
                    pass
            except OSError:
                time.sleep(0.05)
                continue
            if self.test_clock:
                # The token is logged before the port opens; the last start's
                # line is the last match.
                tokens = re.findall(r"x-trent-test-clock-token: ([0-9a-f]{32})", self.read_log())
                assert tokens, f"no test clock token in the log:\n{self.read_log()}"
                self.clock_token = tokens[-1]
            return self
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

    def client(self, region=REGION, access_key="AKIDEXAMPLE", secret="secret", validate=True, verify=None):
        return boto3.client(
            "kms",
            endpoint_url=self.endpoint,
            verify=self.ca_bundle if verify is None else verify,
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
        env = aws_env(access_key, secret, region)
        tls = ["--ca-bundle", self.ca_bundle] if self.tls else []
        p = subprocess.run(
            [str(AWS), "kms", *args, "--endpoint-url", self.endpoint, "--output", "json", *tls],
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

    def clock_request(self, query, method="POST", token=None, host=None):
        """A raw request to the test clock endpoint: (status, body)."""
        req = urllib.request.Request(
            f"{self.endpoint}/trent-test/clock?{query}", method=method, data=b"" if method == "POST" else None
        )
        if token is not False:
            req.add_header("x-trent-test-clock-token", token or self.clock_token)
        if host:
            req.add_header("Host", host)
        ctx = ssl.create_default_context(cafile=self.ca_bundle) if self.tls else None
        try:
            with urllib.request.urlopen(req, timeout=30, context=ctx) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def advance(self, seconds):
        """Move the server's clock forward and run its background sweep."""
        status, body = self.clock_request(f"advance_seconds={int(seconds)}")
        assert status == 200, (status, body)
        return json.loads(body)


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
