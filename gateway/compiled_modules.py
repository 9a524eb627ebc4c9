"""Whether a package's modules run compiled (mypyc, see setup.py) or from their Python sources.

An editable install (`pip install -e .`, the README's commands) builds each compiled module next to its source,
and Python imports an extension module before a source of the same name. An edit to a source after the build
would then be shadowed by the older build, silently. `prefer_current` is called by a compiled package's
`__init__` before it imports anything else of its own: when a source is newer than its build, or
`GATEWAY_PURE_PYTHON=1` is set, the package's modules are imported from their sources, all of them (never a mix
of old builds and new sources).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
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


def build_state(folder: Path) -> BuildState:
    """The package's modules that have a build beside their source, and those whose source is newer."""
    compiled: list[str] = []
    stale: list[str] = []
    for source in sorted(folder.glob("*.py")):
        if source.name == "__init__.py":
            continue
        builds = [folder / f"{source.stem}{suffix}" for suffix in importlib.machinery.EXTENSION_SUFFIXES]
        built = [build for build in builds if build.exists()]
        if not built:
            continue
        compiled.append(source.stem)
        if min(build.stat().st_mtime for build in built) < source.stat().st_mtime:
            stale.append(source.stem)
    return BuildState(tuple(compiled), tuple(stale), os.environ.get("GATEWAY_PURE_PYTHON") == "1")


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
