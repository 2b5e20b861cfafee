"""Zstandard and LZ4 for archive members, on whichever Python runs amber.

Compressing and decompressing both use the `zstandard` and `lz4` libraries (pinned dependencies of
amber, carried by a self-built amber too). At run time the runtime's C file layer decompresses both
(runtime/fs/archive.c).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping


def zstd_compress(data: bytes, level: int, dictionary: bytes | None = None) -> bytes:
    """One frame with the content size in its header and zstd's content checksum at its end (the runtime
    checks that instead of the zip CRC, and refuses a frame without it), compressed with `dictionary` (whose
    id the header then names) if one is given: the same bytes for the same input, level and dictionary."""
    return _compressor(level, dictionary).compress(data)


@functools.lru_cache(maxsize=8)
def _compressor(level: int, dictionary: bytes | None):  # -> zstandard.ZstdCompressor
    """One compressor per level and dictionary: preparing a 1 MiB dictionary costs more than compressing
    a small member with it."""
    import zstandard

    prepared = None
    if dictionary is not None:
        prepared = zstandard.ZstdCompressionDict(dictionary)
        prepared.precompute_compress(level=level)
    return zstandard.ZstdCompressor(level=level, dict_data=prepared, write_content_size=True, write_checksum=True)


def zstd_frame_dictionary(data: bytes) -> int:
    """The dictionary id a frame's header names (0: none, or not a frame)."""
    import zstandard

    try:
        return zstandard.get_frame_parameters(data).dict_id
    except zstandard.ZstdError:
        return 0


def zstd_decompress(data: bytes, size: int, dictionaries: Mapping[int, bytes] | None = None) -> bytes:
    """The `size` bytes of one frame (zstd checks its checksum), with the dictionary its header names
    from `dictionaries` ({id: bytes}), else ValueError."""
    import zstandard

    wanted = zstd_frame_dictionary(data)
    dictionary = None
    if wanted:
        if not dictionaries or wanted not in dictionaries:
            raise ValueError(f"zstd: the frame needs dictionary {wanted}, which the archive does not hold")
        dictionary = zstandard.ZstdCompressionDict(dictionaries[wanted])
    try:
        out = zstandard.ZstdDecompressor(dict_data=dictionary).decompress(data, max_output_size=size)
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
