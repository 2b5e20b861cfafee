"""Give every symbol defined in a static library hidden visibility, in place.

The interpreter is linked with --export-dynamic so that extension modules
from wheels find the Python C API. Everything else must stay inside: if the
interpreter exported OpenSSL's SSL_CTX_new, a wheel's bundled libpq would bind
to our OpenSSL instead of its own. `-fvisibility=hidden` covers C code but not
hand-written assembly (OpenSSL's perlasm declares plain `.globl` symbols), and
zig's linker driver drops `--version-script` for executables. So we patch the
objects themselves: in each ELF member of the archive, every *defined* global
or weak symbol gets STV_HIDDEN. Sizes do not change, so the archive and its
symbol index stay valid. Undefined references (memcpy from glibc) are left alone.
"""

from __future__ import annotations

import struct
from pathlib import Path

AR_MAGIC = b"!<arch>\n"
AR_HEADER_SIZE = 60
ELF_MAGIC = b"\x7fELF"
SHT_SYMTAB = 2
STB_GLOBAL, STB_WEAK = 1, 2
STV_HIDDEN = 2
SHN_UNDEF = 0


def _hide_in_elf(buf: bytearray, start: int, size: int) -> int:
    """Patch one relocatable ELF64 LE object at buf[start:start+size]; return symbols hidden."""
    if buf[start:start + 4] != ELF_MAGIC or buf[start + 4] != 2 or buf[start + 5] != 1:
        return 0  # not ELF64 little endian: leave it alone
    shoff, = struct.unpack_from("<Q", buf, start + 0x28)
    shentsize, shnum = struct.unpack_from("<HH", buf, start + 0x3A)
    hidden = 0
    for i in range(shnum):
        sh = start + shoff + i * shentsize
        sh_type, = struct.unpack_from("<I", buf, sh + 4)
        if sh_type != SHT_SYMTAB:
            continue
        sh_offset, sh_size = struct.unpack_from("<QQ", buf, sh + 0x18)
        sh_entsize, = struct.unpack_from("<Q", buf, sh + 0x38)
        if sh_offset + sh_size > size or sh_entsize < 24:
            raise ValueError("symbol table outside its object")
        for sym in range(start + sh_offset, start + sh_offset + sh_size, sh_entsize):
            info, other, shndx = struct.unpack_from("<BBH", buf, sym + 4)
            if info >> 4 in (STB_GLOBAL, STB_WEAK) and shndx != SHN_UNDEF and other & 3 != STV_HIDDEN:
                buf[sym + 5] = (other & ~3) | STV_HIDDEN
                hidden += 1
    return hidden


def hide_archive(path: Path) -> int:
    """Hide every defined symbol of every object in the static library `path`."""
    buf = bytearray(path.read_bytes())
    if not buf.startswith(AR_MAGIC):
        raise ValueError(f"{path} is not an ar archive")
    pos, hidden = len(AR_MAGIC), 0
    while pos + AR_HEADER_SIZE <= len(buf):
        header = bytes(buf[pos:pos + AR_HEADER_SIZE])
        size = int(header[48:58].decode().strip())
        data = pos + AR_HEADER_SIZE
        hidden += _hide_in_elf(buf, data, size)
        pos = data + size + (size & 1)
    path.write_bytes(bytes(buf))
    return hidden
