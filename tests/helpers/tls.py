"""A TLS server and client for handshake tests, and the certificates they use (made with the host's openssl)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SERVER = r"""
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
with socket.create_server(("127.0.0.1", 0)) as sock:
    print(sock.getsockname()[1], flush=True)
    conn, _ = sock.accept()
    with ctx.wrap_socket(conn, server_side=True) as tls:
        tls.sendall(b"hello " + tls.recv(100))
"""

CLIENT = r"""
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20) as raw:
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(b"amber")
        print(tls.version(), tls.recv(100).decode())
"""


def make_tls_ca(d: Path) -> dict[str, Path]:
    """A self-signed CA and a server certificate for 127.0.0.1 in `d`."""
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("openssl command not installed")

    def sh(*args):
        subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True)
    # Python 3.13 verifies strictly (VERIFY_X509_STRICT): the CA needs key usage, the leaf an AKID.
    sh("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
       "-subj", "/CN=amber test CA", "-addext", "basicConstraints=critical,CA:TRUE",
       "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-addext", "subjectKeyIdentifier=hash")
    sh("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (d / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    )
    sh("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
       "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return {"ca_cert": d / "ca.pem", "server_cert": d / "server.pem", "server_key": d / "server.key"}
