"""Hand-made HTTP/1.1 exchanges on raw sockets: requests whose body is sent
late, in part or never, to see what the server does before it has the body."""

import http.client
import socket
import ssl

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import REGION


def signed_headers(server, target, body, creds=("AKIDEXAMPLE", "secret"), content_length=None, region=REGION):
    """Headers of a request for `target` signed over `body` by botocore,
    declaring `content_length` (default: the body's length)."""
    h = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"TrentService.{target}"}
    req = AWSRequest(method="POST", url=server.endpoint + "/", data=body, headers=h)
    SigV4Auth(Credentials(*creds), "kms", region).add_auth(req)
    headers = {k: v for k, v in req.prepare().headers.items() if k.lower() != "content-length"}
    headers["Host"] = f"127.0.0.1:{server.port}"
    headers["Content-Length"] = str(len(body) if content_length is None else content_length)
    return headers


def connect(server, timeout=10):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    if server.tls:
        ctx = ssl.create_default_context(cafile=server.ca_bundle)
        s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
    return s


def send_head(sock, headers):
    lines = ["POST / HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())


def read_response(sock):
    r = http.client.HTTPResponse(sock)
    r.begin()
    return r.status, dict(r.getheaders()), r.read()


def exchange(server, headers, body=b""):
    """Send the head (and `body`, possibly shorter than declared) and read
    the answer."""
    with connect(server) as s:
        send_head(s, headers)
        if body:
            s.sendall(body)
        return read_response(s)
