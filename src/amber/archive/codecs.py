"""Zstandard and LZ4 for archive members, on whichever Python runs amber.

Compressing and decompressing both use the `zstandard` and `lz4` libraries (pinned dependencies of
amber, carried by a self-built amber too). At run time the runtime's C file layer decompresses both
(runtime/fs/archive.c).
"""

from __future__ import annotations


def zstd_compress(data: bytes, level: int) -> bytes:
    """One frame with the content size in its header and zstd's content checksum at its end (the runtime
    checks that instead of the zip CRC, and refuses a frame without it): the same bytes for the same input
    and level."""
    import zstandard

    return zstandard.ZstdCompressor(level=level, write_content_size=True, write_checksum=True).compress(data)


def zstd_decompress(data: bytes, size: int) -> bytes:
    """The `size` bytes of one frame (zstd checks its checksum), else ValueError."""
    import zstandard

    try:
        out = zstandard.ZstdDecompressor().decompress(data, max_output_size=size)
    except zstandard.ZstdError as exc:
        raise ValueError(f"zstd: {exc}") from None
    if len(out) != size:
        raise ValueError(f"zstd: {len(out)} bytes, expected {size}")
    return out


# LZ4's high-compression level: its decompression is as fast at any level, and levels over 9 save under
# 0.5% on .pyc files for several times the build time.
LZ4_LEVEL = 9


def lz4_compress(data: bytes) -> bytes:
    """One raw LZ4 block (no frame: the archive's index records both sizes, and the zip CRC checks it)."""
    import lz4.block

    return lz4.block.compress(data, mode="high_compression", compression=LZ4_LEVEL, store_size=False)


def lz4_decompress(data: bytes, size: int) -> bytes:
    """The `size` bytes of one raw block."""
    import lz4.block

    try:
        out = lz4.block.decompress(data, uncompressed_size=size)
    except lz4.block.LZ4BlockError as exc:
        raise ValueError(f"lz4: {exc}") from None
    if len(out) != size:
        raise ValueError(f"lz4: {len(out)} bytes, expected {size}")
    return out
