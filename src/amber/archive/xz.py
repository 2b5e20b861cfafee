"""XZ members: the standard library's shared objects no import of the app reaches, as small as they can be.

A binary carries every shared object of the standard library (_ssl with OpenSSL, _sqlite3, the CJK
codecs, unicodedata...), whether the app imports them or not, so that any import works, as it carries
the source of every module. Like a module left with its source only (builder/stdlib_choice.py), one that
no import of the app reaches is loaded only if something imports it by a name computed at run time, and
then decompressed once per machine, into the extraction cache or a memory file. For those, xz's LZMA2
after its branch-call-jump filter (which turns relative call targets into absolute ones, so that
repeated calls to a function look alike) is about 14% smaller than zstd at level 19, and decompresses
five to ten times slower (_ssl's 5.2 MB: 55 ms in the runtime's C layer against about 10 ms for zstd),
once. What an app's imports reach stays zstd: a first run would wait for it.

Encoding takes about 0.3 s per MB, so the payloads are kept in `<cache>/packed/xz/`, named by a hash of
the bytes, the settings and the encoder: a build encodes each shared object once per machine. The bytes
come from the liblzma of the Python running amber (the host's, or the runtime's in a self-built amber),
so the same amber writes the same bytes. The runtime's C file layer decodes them (runtime/fs/archive.c,
one lzma_stream_buffer_decode); the build side with Python's lzma.
"""

from __future__ import annotations

import functools
import hashlib
import lzma
import os
import tempfile
from pathlib import Path

# LZMA2's preset 6: an 8 MiB dictionary, as large as all but the largest objects; 9 and "extreme" gain
# under 0.1% on the runtime's shared objects for 15% more time.
PRESET = 6
# The branch filter by ELF machine (e_machine). Python's lzma knows no ARM64 filter (liblzma 5.4 has
# one): other machines' objects get LZMA2 alone, which is still smaller than zstd.
BRANCH_FILTERS = {62: lzma.FILTER_X86}  # EM_X86_64
CACHE_VERSION = "1"  # in every cache key: a change of the settings below names new files
DIGEST_SIZE = 32  # a kept payload ends with its sha256, checked when it is read back


def compress(data: bytes, cache: Path | None = None) -> bytes:
    """One .xz stream of `data` (no integrity check of its own: the zip CRC is checked on every read),
    taken from or written to `cache` when one is given."""
    filters = _filters(data)
    if cache is None:
        return _encode(data, filters)
    key = hashlib.sha256(f"{CACHE_VERSION}-{filters}-{_encoder()}".encode() + data).hexdigest()
    kept = cache / key[:2] / f"{key}.xz"
    try:
        stored = kept.read_bytes()
        payload, digest = stored[:-DIGEST_SIZE], stored[-DIGEST_SIZE:]
        if hashlib.sha256(payload).digest() == digest:
            return payload
    except OSError:
        pass
    payload = _encode(data, filters)
    _keep(kept, payload + hashlib.sha256(payload).digest())
    return payload


def decompress(payload: bytes, size: int) -> bytes:
    """The `size` bytes of one .xz stream, else ValueError."""
    try:
        out = lzma.LZMADecompressor(format=lzma.FORMAT_XZ, memlimit=1 << 28).decompress(payload, size + 1)
    except lzma.LZMAError as exc:
        raise ValueError(f"xz: {exc}") from None
    if len(out) != size:
        raise ValueError(f"xz: {len(out)} bytes, expected {size}")
    return out


@functools.cache
def _encoder() -> str:
    """Which encoder this Python's liblzma is, by what it makes of a fixed sample: another liblzma may
    encode the same bytes otherwise, and a build must not take its payloads from a cache it filled."""
    sample = b"".join(i.to_bytes(4, "little") * (i % 7 + 1) for i in range(4096))
    return hashlib.sha256(_encode(sample, _filters(b""))).hexdigest()[:16]


def _filters(data: bytes) -> list[dict]:
    machine = int.from_bytes(data[18:20], "little") if data[:4] == b"\x7fELF" and data[5:6] == b"\x01" else 0
    branch = BRANCH_FILTERS.get(machine)
    return [*([{"id": branch}] if branch else []), {"id": lzma.FILTER_LZMA2, "preset": PRESET}]


def _encode(data: bytes, filters: list[dict]) -> bytes:
    return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE, filters=filters)


def _keep(path: Path, payload: bytes) -> None:
    """Write `payload` to `path` under a temporary name, then rename: a reader never sees half a file. A
    cache that cannot be written only costs the next build the encoding again."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
        os.replace(tmp, path)
    except OSError:
        pass
