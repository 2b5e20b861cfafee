"""amber's smallest example: report where this single-file binary runs."""

import os
import platform
import ssl
import sys


def main() -> int:
    name = sys.argv[1] if len(sys.argv) > 1 else "world"
    print(f"Hello, {name}!")
    print(f"  binary:  {sys.executable}")
    print(f"  python:  {platform.python_version()} ({platform.python_implementation()})")
    print(f"  libc:    {' '.join(platform.libc_ver())}")
    print(f"  openssl: {ssl.OPENSSL_VERSION}")
    print(f"  host:    {platform.node()} ({platform.system()} {platform.release()}, pid {os.getpid()})")
    return 0
