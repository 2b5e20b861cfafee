"""The cross toolchain: `zig cc` aimed at a target's CPU and old C library.

zig ships the headers and link stubs of every glibc version for every CPU, so
`-target x86_64-linux-gnu.2.17` (or `aarch64-linux-gnu.2.17`: amber/targets.py
names them) produces binaries that need nothing newer than glibc 2.17 whatever
the build machine runs or is. Configure scripts want plain commands for
CC/AR/RANLIB, so we write tiny wrapper scripts around the zig binary, one set
per target.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from amber.errors import AmberError
from amber.targets import Target

# Flags every C compilation of the runtime gets. -fPIC: the objects end up in
# an executable that exports the C API, and libraries like OpenSSL assume PIC.
# -fvisibility=hidden: symbols of the bundled libraries must never be exported
# from the interpreter (a wheel's own libssl must not bind to ours).
BASE_CFLAGS = "-O2 -fPIC -g0 -fvisibility=hidden -fno-semantic-interposition"


def zig_binary() -> Path:
    """Locate the zig executable shipped in the `ziglang` PyPI package."""
    try:
        import ziglang  # type: ignore[import-not-found]
    except ImportError as exc:
        raise AmberError(
            "building a runtime needs the zig compiler, amber's runtime-build extra: "
            "pip install 'amber[runtime-build]' (or 'ziglang==0.17.1')"
        ) from exc
    zig = Path(ziglang.__file__).parent / "zig"
    if not zig.is_file():
        raise AmberError(f"the ziglang package has no zig binary at {zig}")
    return zig


@dataclass(frozen=True)
class Toolchain:
    """Wrapper scripts for zig plus the environment that points builds at them."""

    bindir: Path
    target: Target
    prefix_map: str  # the build root, mapped away in debug info and __FILE__
    zig_cache: Path  # one for every target: zig's build of each C library stub is kept there

    @property
    def cc(self) -> str:
        return str(self.bindir / "zig-cc")

    @property
    def ar(self) -> str:
        return str(self.bindir / "zig-ar")

    @property
    def ranlib(self) -> str:
        return str(self.bindir / "zig-ranlib")

    def cflags(self, extra: str = "") -> str:
        mapping = f"-ffile-prefix-map={self.prefix_map}=/amber-build"
        return " ".join(part for part in (BASE_CFLAGS, mapping, extra) if part)

    def env(self, deps: Path, extra_cflags: str = "") -> dict[str, str]:
        """Environment for a configure/make run that installs into `deps`."""
        env = dict(os.environ)
        for var in ("CFLAGS", "CPPFLAGS", "LDFLAGS", "LIBS", "CXXFLAGS", "PKG_CONFIG_PATH", "MAKEFLAGS"):
            env.pop(var, None)
        env.update(
            CC=self.cc,
            AR=self.ar,
            RANLIB=self.ranlib,
            CFLAGS=self.cflags(extra_cflags),
            CPPFLAGS=f"-I{deps}/include",
            LDFLAGS=f"-L{deps}/lib",
            PKG_CONFIG_PATH=f"{deps}/lib/pkgconfig",
            PKG_CONFIG_LIBDIR=f"{deps}/lib/pkgconfig",
            SOURCE_DATE_EPOCH="0",
            LC_ALL="C",
            ZIG_GLOBAL_CACHE_DIR=str(self.zig_cache),
            ZIG_LOCAL_CACHE_DIR=str(self.zig_cache),
        )
        return env


def make_toolchain(root: Path, target: Target, prefix_map: Path) -> Toolchain:
    """Write the zig wrapper scripts for `target` under `root/<target>/bin` and return the toolchain."""
    zig = zig_binary()
    bindir = root / target.name / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    wrappers = {
        # -Wno-date-time: CPython's getbuildinfo.c uses __DATE__/__TIME__, which
        # zig rejects as non-reproducible; SOURCE_DATE_EPOCH pins them instead.
        "zig-cc": f'exec "{zig}" cc -target {target.zig_target} -Wno-date-time -Wno-unused-command-line-argument "$@"',
        "zig-ar": f'exec "{zig}" ar "$@"',
        "zig-ranlib": f'exec "{zig}" ranlib "$@"',
    }
    for name, body in wrappers.items():
        path = bindir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    return Toolchain(bindir=bindir, target=target, prefix_map=str(prefix_map), zig_cache=root / "zig-cache")


def zig_version() -> str:
    """The zig version string, part of the recipe hash."""
    out = subprocess.run([str(zig_binary()), "version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def host_tool(name: str) -> str:
    """A build-machine tool (make, perl, tclsh...), or a clear error naming it."""
    found = shutil.which(name)
    if not found:
        raise AmberError(f"'{name}' is needed to build the runtime: run scripts/bootstrap (apt-get install)")
    return found
