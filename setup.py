"""The build's one step beyond pyproject.toml: the profile validator compiled to C with mypyc.

`gateway/validation` is pure, fully typed Python (mypy --strict) that walks every notice the gateway emits and
every message the fixtures receive; mypyc (part of mypy: https://mypyc.readthedocs.io) compiles such modules to C
extensions without changing their source, which makes the walk about twice as fast (bench/README.md, "The
validator compiled"). The .py files stay the source of truth: they are what mypy, ruff and the tests read, and
what runs when no compiler is at hand.

- `GATEWAY_COMPILE=0` in the environment builds pure Python (nothing compiled).
- Each extension is optional: without a C compiler the install still succeeds, with the pure-Python validator.
- An editable install builds the extensions next to their sources; `gateway.validation` runs the sources
  instead whenever one of them differs from what was compiled (`gateway.compiled_modules`: the build records
  each source's SHA-256), so an edit is never shadowed by an older build.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from setuptools import setup

#: The modules compiled: the whole validator but its package `__init__`, which decides at import whether the
#: compiled modules are current (`gateway/validation/__init__.py`).
COMPILED = sorted(str(path) for path in Path("gateway/validation").glob("*.py") if path.name != "__init__.py")


def compiled_extensions() -> list[object]:
    if os.environ.get("GATEWAY_COMPILE", "1") == "0":
        return []
    from mypyc.build import mypycify

    # What is compiled, by content: `gateway.compiled_modules` runs the sources instead of any build whose source
    # has changed since (the manifest goes into the wheel with the package's other JSON files).
    digests = {Path(source).stem: hashlib.sha256(Path(source).read_bytes()).hexdigest() for source in COMPILED}
    Path("gateway/validation/_compiled_sources.json").write_text(json.dumps(digests, indent=1) + "\n")

    # mypyc type-checks what it compiles; in pip's isolated build environment the runtime dependencies are not
    # installed, so their imports are Any here (the full mypy --strict run with them installed is in the tests).
    extensions = mypycify(["--ignore-missing-imports", "--config-file=", *COMPILED], opt_level="3")
    for extension in extensions:
        extension.optional = True  # a failed compile leaves that module pure Python instead of failing the install
    return list(extensions)


setup(ext_modules=compiled_extensions())
