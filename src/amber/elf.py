"""The host side's one ELF reader: what the builder and the runtime validator ask of an ELF file.

Both need the same facts — the libraries a file needs (DT_NEEDED), its DT_SONAME, the GLIBC_x.y
versions it requires (its version-needs table), the symbols it exports, whether the kernel can run
it — and both must get them the same way, or the builder's glibc baseline and the validator's would
drift apart. The dynamic section is read by the boot code's reader (`amber.boot.elf`, standard
library only, which runs inside binaries and needs nothing more); this module adds what only the host
asks: symbol versions, the exported dynamic symbols, the file type. Only 64-bit little-endian files
are read (x86_64 and aarch64: amber.targets); no library is loaded.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from functools import cached_property

from amber.boot.elf import ELF_MAGIC, ELFError, dynamic_section

__all__ = ["ELF_MAGIC", "ELFError", "ElfFile", "is_elf"]

DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH = 1, 14, 15, 29
DT_VERNEED, DT_VERNEEDNUM = 0x6FFFFFFE, 0x6FFFFFFF
DT_RELR = 36  # packed relative relocations (lld/mold -z pack-relative-relocs); musl reads them from 1.2.4 on
MUSL_RELR = (1, 2, 4)
ET_EXEC, ET_DYN = 2, 3
PT_INTERP = 3
SHT_DYNSYM = 11
SHN_UNDEF = 0
STB_GLOBAL, STB_WEAK = 1, 2
STV_DEFAULT, STV_PROTECTED = 0, 3
GLIBC_VERSION_RE = re.compile(r"^GLIBC_(\d+)\.(\d+)")
SYMBOL = struct.Struct("<IBBHQQ")  # Elf64_Sym: name, info, other, section index, value, size


def is_elf(data: bytes) -> bool:
    return data[:4] == ELF_MAGIC


@dataclass(frozen=True)
class ElfFile:
    """One ELF file's bytes, read lazily: each fact is computed on first use."""

    data: bytes

    @cached_property
    def _dynamic(self):
        return dynamic_section(self.data)

    @cached_property
    def _tags(self) -> list[tuple[int, int]]:
        return self._dynamic[0]

    def _string(self, index: int) -> str:
        return self._dynamic[1](index)

    @property
    def needed(self) -> list[str]:
        """DT_NEEDED, in order."""
        return [self._string(value) for tag, value in self._tags if tag == DT_NEEDED]

    @property
    def soname(self) -> str | None:
        return next((self._string(value) for tag, value in self._tags if tag == DT_SONAME), None)

    @property
    def runpath(self) -> str | None:
        return next((self._string(value) for tag, value in self._tags if tag in (DT_RUNPATH, DT_RPATH)), None)

    @cached_property
    def symbol_versions(self) -> list[str]:
        """The version names the file requires of its libraries (GLIBC_2.14, GLIBCXX_3.4...), sorted."""
        tags = dict(self._tags)
        if DT_VERNEED not in tags:
            return []
        file_offset = self._dynamic[2]
        names: set[str] = set()
        offset = file_offset(tags[DT_VERNEED])
        for _ in range(tags.get(DT_VERNEEDNUM, 0)):
            _version, count, _file, aux, following = self._unpack("<HHIII", offset)
            aux_offset = offset + aux
            for _ in range(count):
                _hash, _flags, _other, name, next_aux = self._unpack("<IHHII", aux_offset)
                names.add(self._string(name))
                if not next_aux:
                    break
                aux_offset += next_aux
            if not following:
                break
            offset += following
        return sorted(names)

    @property
    def glibc_versions(self) -> list[str]:
        """The GLIBC_x.y versions required (GLIBC_PRIVATE left out), oldest first."""
        found = [name for name in self.symbol_versions if GLIBC_VERSION_RE.match(name)]
        return sorted(found, key=lambda name: tuple(int(x) for x in GLIBC_VERSION_RE.match(name).groups()))

    @property
    def glibc_needed(self) -> tuple[int, int] | None:
        """The newest GLIBC_x.y the file requires, or None."""
        versions = self.glibc_versions
        if not versions:
            return None
        major, minor = GLIBC_VERSION_RE.match(versions[-1]).groups()
        return int(major), int(minor)

    @property
    def musl_needed(self) -> tuple[int, ...] | None:
        """The musl version the file requires beyond musl 1.2, or None. musl versions no symbols, so what is read
        is what an older loader cannot process: packed relative relocations (DT_RELR), which musl before 1.2.4
        ignores, so the object crashes on its first pointer (wheels built on Alpine 3.18 and newer carry them)."""
        return MUSL_RELR if any(tag == DT_RELR for tag, _ in self._tags) else None

    @cached_property
    def exported_symbols(self) -> list[str]:
        """The dynamic symbols the file defines for others (global or weak, default or protected
        visibility), sorted: what a shared object exports, what an executable offers to the objects
        it loads."""
        data = self.data
        shoff, = self._unpack("<Q", 0x28)
        shentsize, shnum = self._unpack("<HH", 0x3A)
        if shoff == 0 or shentsize < 64 or shoff + shnum * shentsize > len(data):
            return []
        sections = [self._unpack("<IIQQQQIIQQ", shoff + i * shentsize) for i in range(shnum)]
        exported = []
        for _name, sh_type, _flags, _addr, offset, size, link, _info, _align, entsize in sections:
            if sh_type != SHT_DYNSYM or link >= len(sections) or entsize < SYMBOL.size:
                continue
            strings = sections[link][4]
            for at in range(offset, min(offset + size, len(data)) - SYMBOL.size + 1, entsize):
                name, info, other, shndx, _value, _size = SYMBOL.unpack_from(data, at)
                if name and shndx != SHN_UNDEF and info >> 4 in (STB_GLOBAL, STB_WEAK) \
                        and other & 3 in (STV_DEFAULT, STV_PROTECTED):
                    end = data.find(b"\0", strings + name)
                    if end < 0:
                        raise ELFError("symbol name out of range")
                    exported.append(data[strings + name:end].decode("utf-8", "surrogateescape"))
        return sorted(exported)

    @property
    def machine(self) -> int:
        """e_machine: the CPU the file is for (62 x86_64, 183 aarch64; amber.targets names them)."""
        return self._unpack("<H", 18)[0]

    @property
    def interpreter(self) -> str | None:
        """The dynamic loader a program names (PT_INTERP), or None (a library, a static program)."""
        phoff, = self._unpack("<Q", 0x20)
        phentsize, phnum = self._unpack("<HH", 0x36)
        for i in range(phnum):
            p_type, _flags, p_offset, _vaddr, _paddr, p_filesz = self._unpack("<IIQQQQ", phoff + i * phentsize)
            if p_type == PT_INTERP:
                return self.data[p_offset:p_offset + p_filesz].rstrip(b"\0").decode("utf-8", "surrogateescape")
        return None

    @property
    def is_program(self) -> bool:
        """An executable the kernel runs (ET_EXEC, or ET_DYN with an interpreter: a PIE), as opposed to
        a shared library."""
        if len(self.data) < 64:
            return False
        e_type, = self._unpack("<H", 16)
        if e_type == ET_EXEC:
            return True
        phoff, = self._unpack("<Q", 0x20)
        phentsize, phnum = self._unpack("<HH", 0x36)
        headers = [phoff + i * phentsize for i in range(phnum) if phoff + (i + 1) * phentsize <= len(self.data)]
        return e_type == ET_DYN and any(self._unpack("<I", at)[0] == PT_INTERP for at in headers)

    def _unpack(self, fmt: str, offset: int) -> tuple:
        try:
            return struct.unpack_from(fmt, self.data, offset)
        except struct.error as exc:
            raise ELFError(f"truncated ELF file: {exc}") from None
