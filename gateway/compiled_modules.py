"""Whether a package's modules run compiled (mypyc, see setup.py) or from their Python sources.

Python imports an extension module before a source of the same name. An editable install (`pip install -e .`,
the README's commands) builds each compiled module next to its source, so an edit made after the build would be
shadowed by the older build, silently. The build therefore records what it compiled: `setup.py` writes the
SHA-256 of each compiled source into `_compiled_sources.json` beside them (`MANIFEST`). `prefer_current`, called
by a compiled package's `__init__` before it imports anything else of its own, compares the sources with it:
when one differs (or has no record), or `GATEWAY_PURE_PYTHON=1` is set, the package's modules are imported from
their sources, all of them (never a mix of old builds and new sources). Contents, not file times: a wheel
install writes the files in any order, and a checkout rewrites files it does not change.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType


@dataclass(frozen=True)
class BuildState:
    """What is compiled in a package, and why its sources run instead when they do."""

    compiled: tuple[str, ...]
    stale: tuple[str, ...]
    forced_source: bool

    @property
    def runs_compiled(self) -> bool:
        return bool(self.compiled) and not self.stale and not self.forced_source


#: What `setup.py` writes beside the compiled sources: {module name: SHA-256 of the source it compiled}.
MANIFEST = "_compiled_sources.json"


def source_digest(source: Path) -> str:
    return hashlib.sha256(source.read_bytes()).hexdigest()


def build_state(folder: Path) -> BuildState:
    """The package's modules that have a build beside their source, and those that keep the builds from running:
    a source that is not what was built (or has no record), or, once anything is built, a module that is not.
    All or nothing: the compiled modules call one another inside their shared library, so a module imported from
    its source beside them would be a second copy with its own state."""
    try:
        built_from: dict[str, str] = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        built_from = {}
    sources = {path.stem: path for path in sorted(folder.glob("*.py")) if path.name != "__init__.py"}
    built = [
        name
        for name in sources
        if any((folder / f"{name}{suffix}").exists() for suffix in importlib.machinery.EXTENSION_SUFFIXES)
    ]
    stale = (
        [name for name, source in sources.items() if name not in built or built_from.get(name) != source_digest(source)]
        if built
        else []
    )
    return BuildState(tuple(built), tuple(stale), os.environ.get("GATEWAY_PURE_PYTHON") == "1")


class _Sources(importlib.abc.MetaPathFinder):
    """Finds the modules directly in one package at their `.py` sources, ahead of any build."""

    def __init__(self, package: str, folder: Path) -> None:
        self.prefix = package + "."
        self.folder = folder

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(self.prefix):
            return None
        leaf = fullname[len(self.prefix) :]
        source = self.folder / f"{leaf}.py"
        if "." in leaf or not source.is_file():
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def prefer_current(package: str, folder: Path) -> BuildState:
    """Imports `package`'s modules from their sources from now on unless its builds are all current."""
    state = build_state(folder)
    if state.compiled and not state.runs_compiled:
        sys.meta_path.insert(0, _Sources(package, folder))
    return state
