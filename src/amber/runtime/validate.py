"""Checks every runtime build must pass before it enters the cache.

A runtime is only useful if it is portable, so "it built" is not enough: the
file must link glibc alone, need no symbol newer than the baseline, export
nothing but the Python C API, import every module of the table, find CA
certificates and terminal descriptions on any distribution, and carry no path
of the build machine.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
from pathlib import Path

from amber import targets
from amber.elf import ElfFile
from amber.errors import AmberError
from amber.runtime.recipe import PythonRecipe

GLIBC_LIBRARIES = {
    "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1",
    *(target.loader for target in targets.TARGETS.values() if target.libc == "gnu"),
}
# musl is one library: libc.so (its loader), whatever the program calls.
MUSL_LIBRARIES = {"libc.so", *(target.loader for target in targets.TARGETS.values() if target.libc == "musl")}


def libc_name(target: targets.Target) -> str:
    return "glibc" if target.libc == "gnu" else target.libc


def libc_libraries(target: targets.Target) -> set[str]:
    """The sonames of the target's C library: all a runtime may link."""
    return GLIBC_LIBRARIES if target.libc == "gnu" else MUSL_LIBRARIES
C_API_PATTERNS = ("Py*", "_Py*", "PY*", "_PY*")
# libc's file functions the runtime defines (runtime/fs/): every object the process loads binds
# to these, so that paths under the binary read its archive.
INTERPOSED = frozenset({
    "open", "open64", "openat", "openat64", "fopen", "fopen64", "access", "faccessat",
    "stat", "stat64", "lstat", "lstat64", "fstatat", "fstatat64",
    "__xstat", "__xstat64", "__lxstat", "__lxstat64", "__fxstatat", "__fxstatat64",
    "__open_2", "__open64_2", "__openat_2", "__openat64_2", "__realpath_chk", "__readlink_chk",
    "fstat", "fstat64", "__fxstat", "__fxstat64",
    "opendir", "fdopendir", "readdir", "readdir64", "readdir_r", "readdir64_r", "closedir", "rewinddir", "dirfd",
    "scandir", "scandir64", "realpath", "readlink",
    "dlopen", "execve", "execv", "execvp", "execvpe", "posix_spawn", "posix_spawnp",
    "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "chmod", "fchmodat", "chown", "lchown", "fchownat",
    "truncate", "truncate64", "utime", "utimes", "utimensat", "rename", "renameat", "link", "symlink",
    "setxattr", "lsetxattr", "removexattr", "lremovexattr", "listxattr", "llistxattr", "getxattr", "lgetxattr",
})
# Start-up symbols every executable linked with --export-dynamic exports (crt1.o, crti.o; musl's crt1.o
# adds _start_c).
CRT_SYMBOLS = {"_start", "main", "_IO_stdin_used", "__data_start", "data_start", "__libc_csu_init",
               "__libc_csu_fini", "_init", "_fini", "__dso_handle", "_edata", "_end", "__bss_start", "_start_c"}
# The CA bundle locations ssl must know (Debian/Ubuntu, RHEL/CentOS/Fedora, SUSE, Alpine).
REQUIRED_CA_FILES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
)
REQUIRED_TERMINFO_DIRS = ("/etc/terminfo", "/lib/terminfo", "/usr/share/terminfo", "/usr/lib/terminfo")
# Beyond the module table: the pure-Python modules that wrap them, and the smoke list.
SMOKE_IMPORTS = (
    "ssl", "sqlite3", "ctypes", "lzma", "bz2", "zlib", "decimal", "hashlib", "uuid", "readline",
    "curses", "json", "asyncio", "multiprocessing", "venv", "ensurepip", "zoneinfo", "xml.etree.ElementTree",
)


def _version_tuple(name: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", name))


def elf_facts(path: Path) -> dict:
    """DT_NEEDED, required GLIBC_x.y versions and exported symbols of an ELF file (amber.elf: the same
    reader the builder measures an app's glibc baseline with)."""
    elf = ElfFile(path.read_bytes())
    return {"needed": sorted(elf.needed), "glibc_versions": elf.glibc_versions, "exported": elf.exported_symbols}


def check_elf(facts: dict, baseline: str, target: targets.Target = targets.DEFAULT) -> list[str]:
    problems = []
    foreign = [n for n in facts["needed"] if n not in libc_libraries(target)]
    if foreign:
        problems.append(f"links libraries outside {libc_name(target)}: {', '.join(foreign)}")
    limit = _version_tuple(baseline)
    too_new = [v for v in facts["glibc_versions"] if _version_tuple(v) > limit]
    if too_new:
        problems.append(f"needs glibc symbol versions above GLIBC_{baseline}: {', '.join(too_new)}")
    not_api = [s for s in facts["exported"] if s not in CRT_SYMBOLS and s not in INTERPOSED
               and not any(fnmatch.fnmatchcase(s, p) for p in C_API_PATTERNS)]
    if not_api:
        shown = ", ".join(not_api[:12]) + (" ..." if len(not_api) > 12 else "")
        problems.append(f"exports {len(not_api)} symbols outside the Python C API: {shown}")
    for essential in ("PyModule_Create2", "PyArg_ParseTuple", "_Py_NoneStruct", "PyExc_ValueError"):
        if essential not in facts["exported"]:
            problems.append(f"does not export {essential}: extension modules from wheels could not load")
    return problems


def check_shared_modules(dynload: Path, baseline: str, target: targets.Target = targets.DEFAULT) -> list[str]:
    """The stdlib extension modules built as shared objects: glibc only (or each other, for stubs),
    the baseline's symbol versions, and nothing exported but their PyInit_ functions: OpenSSL and
    the other libraries inside them stay private, as in the interpreter."""
    problems = []
    files = sorted(dynload.glob("*.so"))
    if not files:
        return [f"no shared extension modules in {dynload}"]
    ours = {f.name for f in files}
    limit = _version_tuple(baseline)
    for path in files:
        facts = elf_facts(path)
        foreign = [n for n in facts["needed"] if n not in libc_libraries(target) and n not in ours]
        too_new = [v for v in facts["glibc_versions"] if _version_tuple(v) > limit]
        leaked = [s for s in facts["exported"] if not s.startswith("PyInit_")]
        if foreign:
            problems.append(f"{path.name} links libraries outside {libc_name(target)}: {', '.join(foreign)}")
        if too_new:
            problems.append(f"{path.name} needs glibc symbol versions above GLIBC_{baseline}: {', '.join(too_new)}")
        if leaked:
            problems.append(f"{path.name} exports {len(leaked)} symbols besides PyInit_*: {', '.join(leaked[:8])}")
    return problems


def file_contents(path: Path) -> list[bytes]:
    """The file's bytes and, for an amber runtime or app, each archive member's bytes decompressed (the
    members are zstd: a string inside them is not in the file as it is)."""
    from amber.archive.reader import open_binary

    contents = [path.read_bytes()]
    try:
        binary = open_binary(path)
    except AmberError:
        return contents
    return contents + [m.data for m in binary.members()]


def check_build_paths(path: Path, forbidden: list[Path]) -> list[str]:
    """No path of the build machine may be compiled into the file (ELF or archive members)."""
    contents = file_contents(path)
    found = [str(p) for p in forbidden if str(p) and any(str(p).encode() in data for data in contents)]
    return [f"contains the build-machine path {p}" for p in found]


_PROBE = r"""
import importlib, json, os, sys
result = {"failed": {}}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception as exc:
        result["failed"][name] = f"{type(exc).__name__}: {exc}"
import ssl, sysconfig, curses
result["ca_files"] = list(getattr(ssl, "_AMBER_CA_FILES", ()))
result["openssl"] = ssl.OPENSSL_VERSION
result["sysconfig_cc"] = sysconfig.get_config_var("CC")
result["version"] = sys.version
result["builtin"] = sorted(sys.builtin_module_names)
try:  # patch 0004: amber's boot code makes its memory files with it
    os.close(os.memfd_create("probe", os.MFD_CLOEXEC))
    result["memfd_create"] = True
except Exception as exc:
    result["memfd_create"] = f"{type(exc).__name__}: {exc}"
try:
    curses.setupterm("xterm-256color", sys.stdout.fileno())
    result["terminfo_fallback"] = True
except Exception as exc:
    result["terminfo_fallback"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(result))
"""


def probe(runtime: Path, modules: list[str], runner: tuple[str, ...] = ()) -> dict:
    """Run the runtime itself (through `runner`, an emulator, for another CPU): import everything, report
    ssl/curses/sysconfig facts."""
    env = {"PATH": "/usr/bin:/bin", "TERMINFO_DIRS": "/nonexistent", "TERMINFO": "/nonexistent", "LC_ALL": "C"}
    proc = subprocess.run([*runner, str(runtime), "-I", "-c", _PROBE, *modules], capture_output=True, text=True,
                          env=env, timeout=600, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise AmberError(f"the new runtime does not run: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check_probe(result: dict) -> list[str]:
    problems = [f"module {name} does not import: {err}" for name, err in sorted(result["failed"].items())]
    missing_ca = [p for p in REQUIRED_CA_FILES if p not in result["ca_files"]]
    if missing_ca:
        problems.append(f"ssl does not look for CA bundles at: {', '.join(missing_ca)}")
    if result["memfd_create"] is not True:
        problems.append(f"os.memfd_create does not work: {result['memfd_create']}")
    if result["terminfo_fallback"] is not True:
        problems.append(f"curses has no built-in terminfo fallback: {result['terminfo_fallback']}")
    cc = (result.get("sysconfig_cc") or "").split()
    if not cc or "zig" in cc[0] or "/" in cc[0]:
        problems.append(f"sysconfig names the build machine's compiler: CC={' '.join(cc)}")
    return problems


def check_terminfo_dirs(path: Path) -> list[str]:
    """ncurses (in the runtime's _curses shared object) searches the directories every distribution uses."""
    joined = ":".join(REQUIRED_TERMINFO_DIRS).encode()
    if not any(joined in data for data in file_contents(path)):
        return [f"ncurses does not search the usual terminfo directories ({':'.join(REQUIRED_TERMINFO_DIRS)})"]
    return []


def validate(runtime: Path, rec: PythonRecipe, forbidden: list[Path], target: targets.Target = targets.DEFAULT,
             runner: tuple[str, ...] = ()) -> dict:
    """Run every check for `target`; raise AmberError listing all problems, else return the facts. (musl has
    no symbol versions: the GLIBC_x.y checks find nothing to refuse there.)"""
    baseline = targets.version_text(target.libc_floor)
    facts = elf_facts(runtime)
    problems = check_elf(facts, baseline, target)
    problems += check_build_paths(runtime, forbidden)
    problems += check_terminfo_dirs(runtime)
    problems += check_shared_modules(runtime.parent.parent / "lib" / f"python{rec.minor}" / "lib-dynload", baseline,
                                     target)
    modules = [m.name for m in rec.extensions if m.status != "disabled"] + list(SMOKE_IMPORTS)
    result = probe(runtime, modules, runner)
    problems += check_probe(result)
    if problems:
        raise AmberError("runtime validation failed:\n  - " + "\n  - ".join(problems))
    return {
        "needed": facts["needed"],
        "glibc_max": facts["glibc_versions"][-1] if facts["glibc_versions"] else None,
        "exported_symbols": len(facts["exported"]),
        "openssl": result["openssl"],
        "modules_checked": len(modules),
    }
