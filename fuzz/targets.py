"""Fuzz targets for the readers that parse untrusted bytes inside an amber binary (run by the runtime).

    scripts/fuzz [RUNS_PER_TARGET]        (default 100000)

Each target feeds atheris-mutated bytes to one reader and accepts only the errors that reader
documents; any other exception, a hang or a crash of the interpreter is a finding.
  index   the patched zipimport's amber trailer + index reader and its lazy directory
          (`_read_amber_index`, `_AmberDirectory`), then `_get_data` of each member it lists
  zstd    the runtime's _amber_fs.unpack of a zstd member (a checksummed frame of exactly the recorded
          size, else ValueError), the C function every zstd member goes through
  lz4     the runtime's _amber_fs.unpack of an LZ4 member (the code every start runs): a block of
          exactly the recorded size and CRC, else ValueError
  xz      the runtime's _amber_fs.unpack of an xz member (a shared object no start loads): one stream of
          exactly the recorded size and CRC, within liblzma's memory limit, else ValueError
  elf     boot/elf.py (`dynamic_info`), which the native loader runs on every shared object
What it found is kept as a regression test (tests/test_zipimport_patch.py: a record offset past the
index made seek() raise ValueError).
"""

import io
import os
import sys
import tempfile
import zipimport

import atheris

if os.environ.get("AMBER_FUZZ_ZIPIMPORT"):
    # A patched Lib/zipimport.py to fuzz before any runtime is built from it (run by a same-minor Python).
    import importlib.util

    _spec = importlib.util.spec_from_file_location("zipimport", os.environ["AMBER_FUZZ_ZIPIMPORT"])
    zipimport = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(zipimport)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "amber", "boot"))
import contextlib

import elf  # noqa: E402

# zipimport is a frozen module: instrument every function already loaded, not just new imports.
atheris.instrument_all()

SCRATCH = tempfile.NamedTemporaryFile(prefix="amber-fuzz-", delete=False)  # noqa: SIM115 (lives for the run)


def fuzz_index(data):
    try:
        files = zipimport._read_amber_index(io.BytesIO(data), SCRATCH.name)
    except zipimport.ZipImportError:
        return
    if files is None:
        return
    SCRATCH.seek(0)
    SCRATCH.truncate()
    SCRATCH.write(data)
    SCRATCH.flush()
    try:
        entries = list(files.items())[:8]
    except zipimport.ZipImportError:  # a record pointing outside the archive: refused, as documented
        return
    for _name, entry in entries:
        with contextlib.suppress(zipimport.ZipImportError, OSError, EOFError):
            zipimport._get_data(SCRATCH.name, entry)


def fuzz_zstd(data):
    """The runtime's C unpack of a zstd member, as the importer calls it: a size from the member's record and
    the payload (zstd's checksum replaces the CRC)."""
    from _amber_fs import unpack

    size = int.from_bytes(data[:4], "little") % (1 << 21)  # a record's size, kept within memory
    with contextlib.suppress(ValueError):
        out = unpack(data[4:], ZSTD, size, 0)
        assert len(out) == size


def _unpack_recorded(data, method):
    """The runtime's C unpack of a member checked by its CRC, as a record gives it: size and CRC, then the
    payload."""
    from _amber_fs import unpack

    size = int.from_bytes(data[:4], "little") % (1 << 21)  # a record's size, kept within memory
    crc = int.from_bytes(data[4:8], "little")
    with contextlib.suppress(ValueError):
        out = unpack(data[8:], method, size, crc)
        assert len(out) == size


def fuzz_lz4(data):
    """An LZ4 member: one raw block."""
    _unpack_recorded(data, LZ4)


def fuzz_xz(data):
    """An xz member: one .xz stream."""
    _unpack_recorded(data, XZ)


def fuzz_elf(data):
    with contextlib.suppress(elf.ELFError):
        elf.dynamic_info(data)


ZSTD, LZ4, XZ = 93, 0x4C34, 95  # archive/writer.py's (the runtime's Python has no amber package to import them from)
TARGETS = {"index": fuzz_index, "zstd": fuzz_zstd, "lz4": fuzz_lz4, "xz": fuzz_xz, "elf": fuzz_elf}


def main():
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
