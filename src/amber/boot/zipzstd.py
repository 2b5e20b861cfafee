"""Becomes `__amber_zipzstd__`: zipfile learns the Zstandard members (zip method 93), the LZ4 members
(amber's method 0x4C34, the code every start runs) and the xz members (95, the stdlib's shared objects
no import of the app reaches) of the binary, so that code reading the binary as a zip gets their bytes:
importlib.resources' ZipReader (zoneinfo reads tzdata's files through it), importlib.metadata on zip
paths, an app opening its own executable with zipfile.

CPython 3.13's zipfile knows none of them. Its decompressors get a member's compressed bytes chunk by
chunk and are never told the sizes, so the member being opened tells ours (ZipExtFile's constructor,
and its seek back, which starts a new decompressor): it gathers the compressed bytes as zipfile reads
them and unpacks them, once all have come, in one call to the runtime's C file layer
(`_amber_fs.unpack`), which reads the binary's members for the importer too and checks them the same
way (zstd's checksum, the CRC of an LZ4 or xz member), with the archive's zstd dictionaries. Installed
right after zipfile is first imported, in every binary that has such members (all but --no-compress
builds).
"""

ZSTD = 93
LZ4 = 0x4C34
XZ = 95


class WholeMember:
    """zipfile's decompressor protocol (decompress(chunk) -> bytes, eof) for one zstd, LZ4 or xz member, whose
    sizes and CRC `expect` gives."""

    def __init__(self, method):
        self._method = method
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
        return unpack(bytes(self._data[:compressed]), self._method, size, crc)


def install():
    import zipfile

    get_decompressor, check_compression = zipfile._get_decompressor, zipfile._check_compression
    open_member, seek = zipfile.ZipExtFile.__init__, zipfile.ZipExtFile.seek
    ours = (ZSTD, LZ4, XZ)

    def _check_compression(compression):
        if compression not in ours:
            check_compression(compression)

    def _get_decompressor(compress_type):
        return WholeMember(compress_type) if compress_type in ours else get_decompressor(compress_type)

    def __init__(self, fileobj, mode, zipinfo, *args, **kwargs):
        open_member(self, fileobj, mode, zipinfo, *args, **kwargs)
        if zipinfo.compress_type in ours:
            self._decompressor.expect(zipinfo.compress_size, zipinfo.file_size, zipinfo.CRC)

    def _seek(self, offset, whence=0):
        decompressor = self._decompressor
        at = seek(self, offset, whence)
        if self._compress_type in ours and self._decompressor is not decompressor:  # rewound: a new one
            self._decompressor.expect(self._orig_compress_size, self._orig_file_size, self._orig_crc)
        return at

    zipfile._check_compression = _check_compression
    zipfile._get_decompressor = _get_decompressor
    zipfile.ZipExtFile.__init__ = __init__
    zipfile.ZipExtFile.seek = _seek
    zipfile.compressor_names.setdefault(ZSTD, "zstd")
    zipfile.compressor_names.setdefault(LZ4, "lz4")
    zipfile.compressor_names.setdefault(XZ, "xz")
