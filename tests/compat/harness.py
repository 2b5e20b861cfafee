"""The check harness every compatibility fixture app uses (one copy: run.py's build() puts it into each
fixture's package as `_harness.py` before building; a fixture is built through run.py, not alone).

A fixture registers one check per distribution with `@check(dist, *modules)`; `main(group)` then
runs as the app's script: every check (or those named) printing `<dist>==<version>: <what it did> OK`
or `FAIL <reason>`, then a summary line ending in OK; `<app> import NAME...` only imports NAME's
modules (start-up timing).
"""

import importlib
import importlib.metadata
import sys
import traceback

CHECKS = {}


def check(dist, *modules):
    """Register a check for distribution `dist`; `modules` are what `import DIST` times."""

    def register(func):
        CHECKS[dist] = (modules, func)
        return func

    return register


def main(group):
    args = sys.argv[1:]
    if args[:1] == ["import"]:  # no name: nothing but the app's own start-up
        for name in args[1:]:
            for module in CHECKS[name][0]:
                importlib.import_module(module)
        return 0
    names = args or list(CHECKS)
    failed = []
    for name in names:
        version = "?"
        try:
            version = importlib.metadata.version(name)
            detail = CHECKS[name][1]()
        except Exception as exc:  # one line for the table, the traceback on stderr
            traceback.print_exc()
            failed.append(name)
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            print(f"{name}=={version}: FAIL {reason}", flush=True)
        else:
            print(f"{name}=={version}: {detail} OK", flush=True)
    if failed:
        print(f"{group}: {len(failed)} of {len(names)} failed: {' '.join(failed)}")
        return 1
    print(f"{group}: {len(names)} packages OK")
    return 0
