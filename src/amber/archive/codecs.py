"""Zstandard for archive members, on whichever Python runs amber.

Compressing needs the `zstandard` library (a pinned dependency of amber). Decompressing
uses it too, or, inside an amber binary (a self-built amber), the runtime's built-in
`_amber_zstd`, which is what the patched zipimport decompresses with at run time.
"""

from __future__ import annotations


def zstd_compress(data: bytes, level: int) -> bytes:
    """One frame with the content size in its header and zstd's content checksum at its end (the runtime
    checks that instead of the zip CRC, and refuses a frame without it): the same bytes for the same input
    and level."""
    import zstandard

    return zstandard.ZstdCompressor(level=level, write_content_size=True, write_checksum=True).compress(data)


def zstd_decompress(data: bytes, size: int) -> bytes:
    """The `size` bytes of one frame."""
    try:
        from _amber_zstd import decompress  # type: ignore[import-not-found]
    except ImportError:
        import zstandard

        out = zstandard.ZstdDecompressor().decompress(data, max_output_size=size)
        if len(out) != size:
            raise ValueError(f"zstd: {len(out)} bytes, expected {size}") from None
        return out
    return decompress(data, size)
