"""Becomes `__amber_zipzstd__`: zipfile learns the Zstandard members (zip method 93) and LZ4 members
(amber's method 0x4C34, the code every start runs) of the binary, so that code reading the binary as a
zip gets their bytes: importlib.resources' ZipReader (zoneinfo reads tzdata's files through it),
importlib.metadata on zip paths, an app opening its own executable with zipfile.

CPython 3.13's zipfile knows no zstd. The runtime's built-in _amber_zstd inflates one frame of a
known size in one call, so the decompressor gathers a member's compressed bytes as zipfile reads
them and inflates them once the frame is whole: the frame's end is found by walking its block
headers, its size is in its header (amber's writer always records it). Installed right after
zipfile is first imported, in every binary that has zstd members (all but --no-compress builds).
An LZ4 block says neither of its sizes, so the member being read tells them (ZipExtFile's constructor,
and its seek back, which starts a new decompressor), and the runtime's _amber_fs.unpack decompresses
the whole block once it has arrived.
"""

ZSTD = 93
LZ4 = 0x4C34
MAGIC = b"\x28\xb5\x2f\xfd"
DICT_ID_SIZES = (0, 1, 2, 4)


def frame_sizes(data):
    """(compressed size, content size) of the zstd frame at the start of `data` once it is whole, else None."""
    if len(data) < 6:
        return None
    if data[:4] != MAGIC:
        raise ValueError("zstd: not a frame")
    descriptor = data[4]
    single_segment = descriptor >> 5 & 1
    pos = 5 + (0 if single_segment else 1) + DICT_ID_SIZES[descriptor & 3]
    size_bytes = (1 if single_segment else 0, 2, 4, 8)[descriptor >> 6]
    if not size_bytes:
        raise ValueError("zstd: frame without its content size")
    if len(data) < pos + size_bytes:
        return None
    content = int.from_bytes(data[pos:pos + size_bytes], "little") + (256 if size_bytes == 2 else 0)
    pos += size_bytes
    while True:  # blocks: a 3-byte header (last flag, type, size); an RLE block holds one byte
        if len(data) < pos + 3:
            return None
        header = int.from_bytes(data[pos:pos + 3], "little")
        pos += 3 + (1 if header >> 1 & 3 == 1 else header >> 3)
        if header & 1:
            break
    pos += 4 if descriptor >> 2 & 1 else 0  # content checksum
    return (pos, content) if len(data) >= pos else None


class ZstdMember:
    """zipfile's decompressor protocol (decompress(chunk) -> bytes, eof) for one zstd member."""

    def __init__(self):
        self._data = bytearray()
        self.eof = False

    def decompress(self, data):
        if self.eof:
            return b""
        self._data += data
        sizes = frame_sizes(self._data)
        if sizes is None:
            return b""
        from _amber_zstd import decompress

        self.eof = True
        return decompress(bytes(self._data[:sizes[0]]), sizes[1])


class Lz4Member:
    """The same protocol for one LZ4 member, whose sizes and CRC `expect` gives."""

    def __init__(self):
        self._data = bytearray()
        self._entry = None
        self.eof = False

    def expect(self, compressed, size, crc):
        self._entry = (compressed, size, crc)

    def decompress(self, data):
        if self.eof:
            return b""
        self._data += data
        compressed, size, crc = self._entry
        if len(self._data) < compressed:
            return b""
        from _amber_fs import unpack

        self.eof = True
        return unpack(bytes(self._data[:compressed]), LZ4, size, crc)


def install():
    import zipfile

    get_decompressor, check_compression = zipfile._get_decompressor, zipfile._check_compression
    open_member, seek = zipfile.ZipExtFile.__init__, zipfile.ZipExtFile.seek
    ours = {ZSTD: ZstdMember, LZ4: Lz4Member}

    def _check_compression(compression):
        if compression not in ours:
            check_compression(compression)

    def _get_decompressor(compress_type):
        return ours[compress_type]() if compress_type in ours else get_decompressor(compress_type)

    def __init__(self, fileobj, mode, zipinfo, *args, **kwargs):
        open_member(self, fileobj, mode, zipinfo, *args, **kwargs)
        if zipinfo.compress_type == LZ4:
            self._decompressor.expect(zipinfo.compress_size, zipinfo.file_size, zipinfo.CRC)

    def _seek(self, offset, whence=0):
        decompressor = self._decompressor
        at = seek(self, offset, whence)
        if self._compress_type == LZ4 and self._decompressor is not decompressor:  # rewound: a new one
            self._decompressor.expect(self._orig_compress_size, self._orig_file_size, self._orig_crc)
        return at

    zipfile._check_compression = _check_compression
    zipfile._get_decompressor = _get_decompressor
    zipfile.ZipExtFile.__init__ = __init__
    zipfile.ZipExtFile.seek = _seek
    zipfile.compressor_names.setdefault(ZSTD, "zstd")
    zipfile.compressor_names.setdefault(LZ4, "lz4")
