"""Compatibility fixture, network group: each check uses its package for real and raises if anything is off.

No traffic leaves the machine: HTTP clients talk to a server of this process on 127.0.0.1, TLS is
only configured (CA bundle loaded), and AWS clients are answered by botocore's Stubber.
`compat-network` runs every check and prints one line per package, then a summary line ending in OK;
`compat-network NAME...` runs some; `compat-network import NAME` only imports NAME's modules.
"""

import contextlib
import json
import os
import sys
import threading

from ._harness import check
from ._harness import main as _main


@contextlib.contextmanager
def local_server():
    """An HTTP server of this process on 127.0.0.1 (ephemeral port) that echoes the request as JSON."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Echo(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"path": self.path, "agent": self.headers.get("User-Agent", "")}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def inside(path):
    """A member of this binary, which OpenSSL's fopen reads through the runtime's C file layer."""
    return os.path.isfile(path) and path.startswith(sys.executable + "/")


@check("certifi", "certifi")
def check_certifi():
    import ssl

    import certifi

    assert inside(certifi.where()), certifi.where()
    context = ssl.create_default_context(cafile=certifi.where())
    roots = len(context.get_ca_certs())
    assert roots > 100 and context.verify_mode == ssl.CERT_REQUIRED, roots
    assert certifi.contents().startswith("\n# Issuer") or "BEGIN CERTIFICATE" in certifi.contents()
    return f"TLS context from the bundle: {roots} roots"


@check("requests", "requests")
def check_requests():
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util import ssl_

    with local_server() as base, requests.Session() as session:
        response = session.get(f"{base}/a", params={"q": "amber"}, headers={"User-Agent": "compat"}, timeout=10)
    assert response.status_code == 200 and response.json() == {"path": "/a?q=amber", "agent": "compat"}
    # What send() does for https:// with verify=True, short of connecting: the pool gets certifi's
    # bundle (inside the binary: OpenSSL opens it there), from which the TLS context is built.
    adapter = session.get_adapter("https://example.invalid/")
    assert isinstance(adapter, HTTPAdapter)
    request = requests.Request("GET", "https://example.invalid/").prepare()
    pool = adapter.get_connection_with_tls_context(request, verify=True)
    adapter.cert_verify(pool, request.url, True, None)
    assert pool.cert_reqs == "CERT_REQUIRED" and inside(pool.ca_certs), (pool.cert_reqs, pool.ca_certs)
    context = ssl_.create_urllib3_context()
    context.load_verify_locations(pool.ca_certs)
    roots = len(context.get_ca_certs())
    assert roots > 100, roots
    return f"GET with params from 127.0.0.1, https pool's TLS context ({roots} roots)"


@check("httpx", "httpx")
def check_httpx():
    import asyncio

    import httpx

    with local_server() as base:
        with httpx.Client(base_url=base) as client:
            data = client.get("/sync", headers={"User-Agent": "compat"}).json()
        assert data == {"path": "/sync", "agent": "compat"}, data

        async def fetch():
            async with httpx.AsyncClient(base_url=base) as client:
                return (await client.get("/async")).json()

        assert asyncio.run(fetch())["path"] == "/async"
    context = httpx.create_ssl_context()
    roots = len(context.get_ca_certs())
    assert roots > 100, roots
    return f"sync and async GET from 127.0.0.1, TLS context ({roots} roots)"


@check("urllib3", "urllib3")
def check_urllib3():
    import ssl

    import certifi
    import urllib3
    from urllib3.util import ssl_

    with local_server() as base, urllib3.PoolManager(retries=urllib3.Retry(total=2)) as pool:
        response = pool.request("GET", f"{base}/u", headers={"User-Agent": "compat"})
    assert response.status == 200 and response.json() == {"path": "/u", "agent": "compat"}
    context = ssl_.create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
    context.load_verify_locations(certifi.where())
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2 and len(context.get_ca_certs()) > 100
    return "PoolManager GET from 127.0.0.1, TLS 1.2+ context"


def _aws_session():
    import boto3

    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"  # never ask an instance metadata service
    return boto3.session.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret",
                                 region_name="eu-central-1")


@check("botocore", "botocore.session")
def check_botocore():
    from botocore.stub import Stubber

    session = _aws_session()._session
    services = session.get_available_services()
    assert len(services) > 300 and "dynamodb" in services, len(services)
    client = session.create_client("dynamodb", region_name="ap-southeast-2")
    assert client.meta.endpoint_url == "https://dynamodb.ap-southeast-2.amazonaws.com", client.meta.endpoint_url
    with Stubber(client) as stub:
        stub.add_response("list_tables", {"TableNames": ["amber"]}, {})
        assert client.list_tables()["TableNames"] == ["amber"]
    return f"{len(services)} service models, endpoint from the bundled rules, stubbed call"


@check("boto3", "boto3")
def check_boto3():
    session = _aws_session()
    s3 = session.client("s3")
    assert s3.meta.endpoint_url == "https://s3.eu-central-1.amazonaws.com", s3.meta.endpoint_url
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "amber", "Key": "k"}, ExpiresIn=60)
    assert "X-Amz-Signature=" in url and "amber" in url, url
    bucket = session.resource("s3").Bucket("amber")  # resource models: boto3's own JSON data
    assert bucket.name == "amber" and hasattr(bucket, "objects")
    return "S3 client, presigned URL (SigV4), resource model"


# ---- the same harness in every compat fixture ----

def main():
    return _main("network")
