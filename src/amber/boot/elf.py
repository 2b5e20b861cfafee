"""A small reader for the dynamic section of 64-bit little-endian ELF shared objects (x86_64, aarch64: it runs
inside the binary, whatever its CPU).

The native-code loader needs to know, before it loads an extension module from
memory, which of the libraries that module needs (DT_NEEDED) are vendored in
the archive, and under which name each vendored library will be found
(DT_SONAME). Only the bytes of the file are read; nothing is loaded.
"""

import struct

ELF_MAGIC = b"\x7fELF"
PT_LOAD, PT_DYNAMIC = 1, 2
DT_NULL, DT_NEEDED, DT_STRTAB, DT_SONAME, DT_RPATH, DT_RUNPATH = 0, 1, 5, 14, 15, 29


class ELFError(ValueError):
    """The bytes are not a well-formed 64-bit little-endian ELF file."""


def dynamic_info(data):
    """(needed, soname, runpath) of an ELF64 LE object; soname/runpath may be None."""
    entries, string, _offset = dynamic_section(data)
    needed = [string(v) for t, v in entries if t == DT_NEEDED]
    soname = next((string(v) for t, v in entries if t == DT_SONAME), None)
    runpath = next((string(v) for t, v in entries if t in (DT_RUNPATH, DT_RPATH)), None)
    return needed, soname, runpath


def needed_offsets(data):
    """{DT_NEEDED name: (file offset of its string, room in bytes for a replacement)} of an ELF64 LE object. The
    room is the name's length: a shorter string, NUL-terminated, fits in place."""
    entries, string, file_offset = dynamic_section(data)
    strtab = file_offset(next(v for t, v in entries if t == DT_STRTAB))
    return {string(v): (strtab + v, len(string(v).encode("utf-8", "surrogateescape")))
            for t, v in entries if t == DT_NEEDED}


def dynamic_section(data):
    """(entries [(tag, value)], string(index) -> str, file_offset(vaddr) -> int) of an ELF64 LE object."""
    if len(data) < 64 or data[:4] != ELF_MAGIC:
        raise ELFError("not an ELF file")
    if data[4] != 2 or data[5] != 1:
        raise ELFError("not a 64-bit little-endian ELF file")
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    if phentsize < 56 or phoff + phnum * phentsize > len(data):
        raise ELFError("program headers out of range")
    loads, dynamic = [], None
    for i in range(phnum):
        p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if p_type == PT_LOAD:
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == PT_DYNAMIC:
            dynamic = (p_offset, p_filesz)

    def file_offset(vaddr):
        for seg_vaddr, seg_offset, seg_size in loads:
            if seg_vaddr <= vaddr < seg_vaddr + seg_size:
                return seg_offset + (vaddr - seg_vaddr)
        raise ELFError("address outside every loaded segment")

    if dynamic is None:
        return [], None, file_offset
    offset, size = dynamic
    if offset + size > len(data):
        raise ELFError("dynamic section out of range")
    entries = []
    strtab_vaddr = None
    for pos in range(offset, offset + size - 15, 16):
        tag, value = struct.unpack_from("<qQ", data, pos)
        if tag == DT_NULL:
            break
        if tag == DT_STRTAB:
            strtab_vaddr = value
        entries.append((tag, value))
    if strtab_vaddr is None:
        raise ELFError("dynamic section without a string table")
    strtab = file_offset(strtab_vaddr)

    def string(index):
        start = strtab + index
        end = data.find(b"\0", start)
        if start >= len(data) or end < 0:
            raise ELFError("string out of range")
        return data[start:end].decode("utf-8", "surrogateescape")

    return entries, string, file_offset
