"""Build steps of the C libraries that are linked statically into the interpreter.

Each step builds only what CPython links (no programs, docs or tests) and
installs headers plus one static archive into the shared `deps` prefix. All are
compiled with hidden visibility, so none of their symbols is exported by the
interpreter.
"""

from __future__ import annotations

import platform
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from amber import targets
from amber.progress import BuildLog
from amber.runtime.toolchain import Toolchain, host_tool

# ncurses looks for terminal descriptions in these directories, so one binary
# finds them on Debian/Ubuntu (/lib, /usr/share), RHEL/Fedora (/usr/share),
# SUSE (/usr/share) and Alpine (/etc, /usr/share).
TERMINFO_DIRS = "/etc/terminfo:/lib/terminfo:/usr/share/terminfo:/usr/lib/terminfo"
# Descriptions compiled into the binary for machines with no terminfo at all.
TERMINFO_FALLBACKS = "xterm,xterm-256color,vt100,linux,screen,screen-256color,tmux-256color,dumb"


@dataclass
class LibContext:
    """Everything one library step needs."""

    name: str
    version: str
    src: Path  # the unpacked source tree (a private copy; steps may write into it)
    deps: Path  # merged install prefixes of the libraries this one links against
    prefix: Path  # where this library installs (its cache directory)
    tools: Toolchain
    log: BuildLog
    jobs: int

    def env(self, extra_cflags: str = "") -> dict[str, str]:
        return self.tools.env(self.deps, extra_cflags)

    def run(self, *cmd: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            stdout: Path | None = None) -> None:
        self.log.run(list(cmd), cwd=cwd or self.src, env=env or self.env(), stdout=stdout)

    def make(self, *targets: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.run(host_tool("make"), f"-j{self.jobs}", *targets, cwd=cwd, env=env)

    def configure(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.run(
            "./configure", f"--prefix={self.prefix}", "--disable-shared", "--enable-static",
            f"--host={self.tools.target.gnu_triple}", f"--build={build_triple()}", *args, env=env,
        )


def build_triple() -> str:
    """configure's --build: the machine the build runs on (its code generators are compiled for it)."""
    host = targets.host()
    return host.gnu_triple if host is not None else f"{platform.machine()}-pc-linux-gnu"


def build_zlib(ctx: LibContext) -> None:
    ctx.run("./configure", f"--prefix={ctx.prefix}", "--static")
    ctx.make("libz.a")
    ctx.make("install")


def build_bzip2(ctx: LibContext) -> None:
    env = ctx.env()
    ctx.make(
        "libbz2.a", f"CC={env['CC']}", f"AR={env['AR']}", f"RANLIB={env['RANLIB']}",
        f"CFLAGS={env['CFLAGS']} -D_FILE_OFFSET_BITS=64",
    )
    (ctx.prefix / "include").mkdir(parents=True, exist_ok=True)
    (ctx.prefix / "lib").mkdir(parents=True, exist_ok=True)
    shutil.copy2(ctx.src / "bzlib.h", ctx.prefix / "include" / "bzlib.h")
    shutil.copy2(ctx.src / "libbz2.a", ctx.prefix / "lib" / "libbz2.a")


def build_xz(ctx: LibContext) -> None:
    ctx.configure(
        "--disable-xz", "--disable-xzdec", "--disable-lzmadec", "--disable-lzmainfo",
        "--disable-lzma-links", "--disable-scripts", "--disable-doc", "--disable-nls",
        "--disable-rpath", "--enable-threads=posix",
    )
    ctx.make(cwd=ctx.src / "src" / "liblzma")
    ctx.make("install", cwd=ctx.src / "src" / "liblzma")


# Debian's libffi tarball has no generated `configure`; running autoreconf would
# need autotools and minutes. Its build for one CPU is a handful of files, so we
# compile them directly with the configuration autoconf would have found.
_FFICONFIG = """\
#define EH_FRAME_FLAGS "a"
#define FFI_EXEC_STATIC_TRAMP 1
#define HAVE_ALLOCA_H 1
#define HAVE_AS_CFI_PSEUDO_OP 1
{arch_config}#define HAVE_DLFCN_H 1
#define HAVE_HIDDEN_VISIBILITY_ATTRIBUTE 1
#define HAVE_INTTYPES_H 1
#define HAVE_LONG_DOUBLE 1
#define HAVE_MEMCPY 1
#define HAVE_MKOSTEMP 1
#define HAVE_MMAP 1
#define HAVE_MMAP_ANON 1
#define HAVE_MMAP_DEV_ZERO 1
#define HAVE_MMAP_FILE 1
#define HAVE_RO_EH_FRAME 1
#define HAVE_STDINT_H 1
#define HAVE_STDIO_H 1
#define HAVE_STDLIB_H 1
#define HAVE_STRINGS_H 1
#define HAVE_STRING_H 1
#define HAVE_SYS_MMAN_H 1
#define HAVE_SYS_STAT_H 1
#define HAVE_SYS_TYPES_H 1
#define HAVE_UNISTD_H 1
#define SIZEOF_DOUBLE 8
#define SIZEOF_LONG_DOUBLE 16
#define SIZEOF_SIZE_T 8
#define STDC_HEADERS 1
#define VERSION "{version}"
#ifdef HAVE_HIDDEN_VISIBILITY_ATTRIBUTE
#ifdef LIBFFI_ASM
#define FFI_HIDDEN(name) .hidden name
#else
#define FFI_HIDDEN __attribute__ ((visibility ("hidden")))
#endif
#else
#ifdef LIBFFI_ASM
#define FFI_HIDDEN(name)
#else
#define FFI_HIDDEN
#endif
#endif
"""
_FFI_SOURCES = ["src/prep_cif.c", "src/types.c", "src/raw_api.c", "src/java_raw_api.c", "src/closures.c", "src/tramp.c"]


@dataclass(frozen=True)
class FfiPort:
    """libffi's code for one CPU: its directory under src/, its files there, the TARGET its ffi.h names,
    and the assembler facts configure would have found for it."""

    directory: str
    sources: tuple[str, ...]
    target_macro: str
    arch_config: str


FFI_PORTS = {
    "x86_64": FfiPort("x86", ("ffi64.c", "ffiw64.c", "unix64.S", "win64.S"), "X86_64",
                      "#define HAVE_AS_X86_64_UNWIND_SECTION_TYPE 1\n#define HAVE_AS_X86_PCREL 1\n"),
    "aarch64": FfiPort("aarch64", ("ffi.c", "sysv.S"), "AARCH64", ""),
}


def build_libffi(ctx: LibContext) -> None:
    port = FFI_PORTS[ctx.tools.target.arch]
    gen = ctx.src / "amber-gen"
    gen.mkdir(exist_ok=True)
    (gen / "fficonfig.h").write_text(_FFICONFIG.replace("{version}", ctx.version).replace("{arch_config}",
                                                                                          port.arch_config))
    header = (ctx.src / "include" / "ffi.h.in").read_text()
    for key, value in {
        "@VERSION@": ctx.version, "@TARGET@": port.target_macro, "@HAVE_LONG_DOUBLE@": "1",
        "@HAVE_LONG_DOUBLE_VARIANT@": "0", "@FFI_EXEC_TRAMPOLINE_TABLE@": "0",
    }.items():
        header = header.replace(key, value)
    (gen / "ffi.h").write_text(header)
    shutil.copy2(ctx.src / "src" / port.directory / "ffitarget.h", gen / "ffitarget.h")
    env = ctx.env()
    objects = []
    for source in [*_FFI_SOURCES, *(f"src/{port.directory}/{name}" for name in port.sources)]:
        obj = gen / (Path(source).name.replace(".", "_") + ".o")
        ctx.run(
            env["CC"], *env["CFLAGS"].split(), "-DFFI_BUILDING", f"-I{gen}", f"-I{ctx.src / 'include'}",
            f"-I{ctx.src / 'src' / port.directory}", "-c", str(ctx.src / source), "-o", str(obj),
        )
        objects.append(str(obj))
    (ctx.prefix / "lib").mkdir(parents=True, exist_ok=True)
    (ctx.prefix / "include").mkdir(parents=True, exist_ok=True)
    ctx.run(env["AR"], "rcs", str(ctx.prefix / "lib" / "libffi.a"), *objects)
    for name in ("ffi.h", "ffitarget.h"):
        shutil.copy2(gen / name, ctx.prefix / "include" / name)
    pkgconfig = ctx.prefix / "lib" / "pkgconfig"
    pkgconfig.mkdir(parents=True, exist_ok=True)
    (pkgconfig / "libffi.pc").write_text(
        f"prefix={ctx.prefix}\nlibdir=${{prefix}}/lib\nincludedir=${{prefix}}/include\n\n"
        f"Name: libffi\nDescription: Library supporting Foreign Function Interfaces\n"
        f"Version: {ctx.version}\nLibs: -L${{libdir}} -lffi\nCflags: -I${{includedir}}\n"
    )


def build_zstd(ctx: LibContext) -> None:
    env = ctx.env()
    common = [f"CC={env['CC']}", f"AR={env['AR']}", f"RANLIB={env['RANLIB']}", f"PREFIX={ctx.prefix}"]
    ctx.make("-C", "lib", "libzstd.a", "ZSTD_LEGACY_SUPPORT=0", *common)
    ctx.make("-C", "lib", "install-static", "install-includes", "install-pc", *common)


def build_lz4(ctx: LibContext) -> None:
    # Only LZ4_decompress_safe is linked (the runtime reads the start-up code's LZ4 members): with a
    # section per function, the linker's --gc-sections drops the rest of lz4.o (150 KB of the ELF).
    env = ctx.env("-ffunction-sections -fdata-sections")
    common = [f"CC={env['CC']}", f"AR={env['AR']}", "BUILD_SHARED=no", f"PREFIX={ctx.prefix}"]
    ctx.make("-C", "lib", "liblz4.a", *common, env=env)
    ctx.make("-C", "lib", "install", *common, env=env)


# What neither CPython's ssl and hashlib nor a TLS peer of today needs from OpenSSL (_ssl, which carries
# libcrypto and libssl, 5.9 -> 5.2 MB): the message formats and protocols Python has no API for (CMS,
# time stamps, CMP/CRMF, certificate transparency, OCSP, SRP, DTLS and SRTP), the national and niche
# ciphers and digests no TLS suite of a mainstream peer offers (ARIA, Camellia, SEED, SM2/3/4, GOST,
# IDEA, MDC2, Whirlpool, SIV), binary-field curves, RFC 3779 extensions, the post-quantum signatures (ML-
# and SLH-DSA; ML-KEM, TLS 1.3's hybrid key share, stays), Argon2 and SipHash (no Python API) and the
# thread pool only Argon2 uses. hashlib's algorithms, TLS 1.2/1.3 suites, PSK and DH stay.
UNUSED_BY_PYTHON = (
    "no-argon2", "no-aria", "no-camellia", "no-cmp", "no-cms", "no-ct", "no-dtls", "no-ec2m", "no-gost", "no-idea",
    "no-mdc2", "no-ml-dsa", "no-rfc3779", "no-seed", "no-siv", "no-slh-dsa", "no-sm2", "no-sm3", "no-sm4", "no-srp",
    "no-srtp", "no-ts", "no-whirlpool", "no-ocsp", "no-siphash", "no-default-thread-pool", "no-thread-pool",
)


def build_openssl(ctx: LibContext) -> None:
    env = ctx.env()
    # The compiled-in OPENSSLDIR is only a default; the CA bundle is found at the
    # distributions' own locations by CPython's ssl (see patches/ssl-ca-locations).
    ctx.run(
        host_tool("perl"), "./Configure", ctx.tools.target.openssl, "--prefix=/usr/local", "--libdir=lib",
        "--openssldir=/etc/ssl", "no-shared", "no-module", "no-tests", "no-docs", "no-apps",
        "no-engine", "no-dso", "no-ui-console", "no-legacy", "no-comp", "no-ssl3",
        "no-unit-test", "no-quic", *UNUSED_BY_PYTHON, env=env,
    )
    # OpenSSL_version(OPENSSL_CFLAGS) embeds the compile command; write that
    # header ourselves so no build-machine path ends up in the binary.
    ctx.run(host_tool("perl"), "util/mkbuildinf.pl", "zig cc -O2 -fPIC", ctx.tools.target.openssl, env=env,
            stdout=ctx.src / "crypto" / "buildinf.h")
    ctx.make("build_libs", env=env)
    stage = ctx.src / "amber-stage"
    ctx.make("install_dev", f"DESTDIR={stage}", env=env)
    _merge_tree(stage / "usr" / "local", ctx.prefix)


def build_sqlite(ctx: LibContext) -> None:
    # Debian ships SQLite's full source tree: generate the amalgamation (needs
    # tclsh and a host compiler for its code generators), then compile that one file.
    env = ctx.env()
    env["BCC"] = host_tool("gcc")
    env["TCLSH_CMD"] = host_tool("tclsh")
    ctx.configure("--disable-tcl", "--disable-readline", "--disable-editline", "--enable-threadsafe", env=env)
    ctx.make("sqlite3.c", "sqlite3.h", env=env)
    options = [
        "-DSQLITE_ENABLE_FTS3", "-DSQLITE_ENABLE_FTS3_PARENTHESIS", "-DSQLITE_ENABLE_FTS4",
        "-DSQLITE_ENABLE_FTS5", "-DSQLITE_ENABLE_RTREE", "-DSQLITE_ENABLE_MATH_FUNCTIONS",
        "-DSQLITE_ENABLE_DBSTAT_VTAB", "-DSQLITE_ENABLE_COLUMN_METADATA", "-DSQLITE_THREADSAFE=1",
        "-DSQLITE_USE_URI=1", "-DHAVE_USLEEP=1",
    ]
    obj = ctx.src / "sqlite3.o"
    ctx.run(env["CC"], *env["CFLAGS"].split(), *options, "-c", "sqlite3.c", "-o", str(obj), env=env)
    (ctx.prefix / "lib").mkdir(parents=True, exist_ok=True)
    (ctx.prefix / "include").mkdir(parents=True, exist_ok=True)
    ctx.run(env["AR"], "rcs", str(ctx.prefix / "lib" / "libsqlite3.a"), str(obj), env=env)
    for header in ("sqlite3.h", "src/sqlite3ext.h"):
        shutil.copy2(ctx.src / header, ctx.prefix / "include" / Path(header).name)


def build_ncurses(ctx: LibContext) -> None:
    env = ctx.env()
    # The code generators ncurses compiles for the build machine get plain flags.
    env.update(BUILD_CC=host_tool("gcc"), BUILD_CFLAGS="-O2", BUILD_CPPFLAGS="", BUILD_LDFLAGS="", BUILD_LIBS="")
    ctx.configure(
        "--without-shared", "--without-debug", "--without-ada", "--without-cxx",
        "--without-cxx-binding", "--without-progs", "--without-tests", "--without-manpages",
        "--enable-widec", "--disable-db-install", "--without-pkg-config",
        "--enable-pc-files", f"--with-pkg-config-libdir={ctx.prefix}/lib/pkgconfig",
        f"--with-terminfo-dirs={TERMINFO_DIRS}", "--with-default-terminfo-dir=/usr/share/terminfo",
        f"--with-fallbacks={TERMINFO_FALLBACKS}", "--disable-home-terminfo",
        "--without-gpm", "--disable-termcap", "--enable-symlinks",
        env=env,
    )
    ctx.make("libs", env=env)
    ctx.make("install.libs", "install.includes", env=env)
    # libedit's configure and CPython's look for the non-wide names too.
    lib = ctx.prefix / "lib"
    for wide in lib.glob("lib*w.a"):
        narrow = lib / (wide.name[:-3] + ".a")
        if not narrow.exists():
            narrow.symlink_to(wide.name)
    include = ctx.prefix / "include"
    if (include / "ncursesw").is_dir() and not (include / "ncurses").exists():
        (include / "ncurses").symlink_to("ncursesw")


def build_libedit(ctx: LibContext) -> None:
    # libedit insists on __STDC_ISO_10646__ (wchar_t holds Unicode code points). musl's wchar_t does, but
    # musl, unlike glibc's stdc-predef.h, never defines the macro: say it for it.
    iso_10646 = " -D__STDC_ISO_10646__=201103L" if ctx.tools.target.libc == "musl" else ""
    env = ctx.env(f"-I{ctx.deps}/include/ncursesw{iso_10646}")
    env["LIBS"] = "-lncursesw"
    ctx.configure("--disable-examples", "--disable-man", env=env)
    ctx.make(cwd=ctx.src / "src", env=env)
    ctx.make("install", cwd=ctx.src / "src", env=env)


def build_libuuid(ctx: LibContext) -> None:
    env = ctx.env()
    ctx.configure(
        "--disable-all-programs", "--enable-libuuid", "--without-systemd", "--without-python",
        "--without-udev", "--without-tinfo", "--without-ncursesw", "--without-ncurses",
        "--disable-nls", "--disable-asciidoc", "--disable-poman", "--localstatedir=/var",
        "--runstatedir=/run", "--disable-bash-completion", "--disable-makeinstall-chown",
        env=env,
    )
    ctx.make("libuuid.la", env=env)
    ctx.make("install-usrlib_execLTLIBRARIES", "install-uuidincHEADERS", "install-pkgconfigDATA", env=env)


def _merge_tree(source: Path, target: Path) -> None:
    """Move every file under `source` into the same place under `target`."""
    for path in sorted(source.rglob("*")):
        dest = target / path.relative_to(source)
        if path.is_dir() and not path.is_symlink():
            dest.mkdir(parents=True, exist_ok=True)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest, follow_symlinks=False)


BUILDERS: dict[str, Callable[[LibContext], None]] = {
    "zlib": build_zlib,
    "bzip2": build_bzip2,
    "xz": build_xz,
    "libffi": build_libffi,
    "zstd": build_zstd,
    "lz4": build_lz4,
    "openssl": build_openssl,
    "sqlite": build_sqlite,
    "ncurses": build_ncurses,
    "libedit": build_libedit,
    "libuuid": build_libuuid,
}
