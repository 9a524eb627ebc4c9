"""A registry of conformance resources keyed by canonical URL and version, with per-package closures.

MedCom message types sit on different dependency stacks (HospitalNotification 3.0.2 on messaging 2.1.0 /
MedCom core 2.0.x / DK-core 2.0.0; CareCommunication 5.0.2 on messaging 4.0.2 / core 3.0.1 / DK-core 3.4.0), so a
canonical such as `.../medcom-messaging-organization` means different things depending on who asks. A profile's
*package* decides: its `Closure` lists that package and its dependencies breadth-first (the nearest declaration
wins, as in npm), and a canonical is looked up there first, then among all packages (newest version). A dependency
version that is not shipped is replaced by the nearest one present with the same name (same major version
preferred), as the reference packages' README advises; the closure records each substitution.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from gateway.validation.packages import FhirPackage, ResourceEntry, read_folder, read_package
from mappings.issues import IssueError

_VERSION_PART = re.compile(r"(\d+)")
CACHE_FORMAT = 1


def version_key(version: str | None) -> tuple[tuple[int, ...], int, str]:
    """Sort key for package/resource versions: numeric parts, then releases above pre-releases (SemVer 2.0 §11)."""
    if not version:
        return ((), 0, "")
    core, _, pre = version.partition("-")
    numbers = tuple(int(part) for part in _VERSION_PART.findall(core))
    return (numbers, 0 if pre else 1, pre)


def split_canonical(reference: str) -> tuple[str, str | None]:
    """`url|version` → (url, version); FHIR R4 §2.1.0.12 canonical references."""
    url, bar, version = reference.partition("|")
    return url, (version if bar else None)


@dataclass(frozen=True, slots=True)
class Closure:
    """A package and its dependencies in lookup order, with the version substitutions made."""

    packages: tuple[str, ...]
    #: What was substituted for what, as notes for diagnostics.
    substitutions: tuple[str, ...] = ()
    #: The package keys chosen in place of a dependency's own version.
    substituted: frozenset[str] = frozenset()


@dataclass
class Registry:
    """Conformance resources of several packages; decoded lazily, at most once each."""

    packages: dict[str, FhirPackage] = field(default_factory=dict)
    _index: dict[str, dict[str, ResourceEntry]] = field(default_factory=dict)
    _by_url: dict[str, list[tuple[str, ResourceEntry]]] = field(default_factory=dict)
    _decoded: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)
    _closures: dict[str, Closure] = field(default_factory=dict, repr=False)
    #: The decoded resources of the registry this one extends (read only: its entries outlive this registry).
    _inherited: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)

    def add(self, package: FhirPackage) -> None:
        key = package.key
        self.packages[key] = package
        index = self._index.setdefault(key, {})
        for entry in package.resources:
            index.setdefault(entry.url, entry)
            # a new list each time: an `extended` registry shares its parent's lists until it adds to them
            entries = [*self._by_url.get(entry.url, ()), (key, entry)]
            if len(entries) > 1:
                entries.sort(key=lambda item: (version_key(item[1].version), version_key(item[0].split("#")[1])))
            self._by_url[entry.url] = entries
        self._closures.clear()

    def extended(self, packages: Iterable[FhirPackage]) -> Registry:
        """A registry of this one's packages plus `packages` (an IG given on the command line, a test case's
        supporting profiles); this one is unchanged, and resources decoded by either are decoded once."""
        child = Registry(dict(self.packages), dict(self._index), dict(self._by_url), _inherited=self._decoded)
        for package in packages:
            if package.key in child.packages:
                raise IssueError.single(
                    "conflict",
                    f"FHIR package {package.key} is already loaded",
                    message_id="validation.package-duplicate",
                )
            child.add(package)
        return child

    # -- lookups -------------------------------------------------------------------------------------------------
    def _decode(self, entry: ResourceEntry) -> dict[str, Any]:
        cached = self._decoded.get(id(entry)) or self._inherited.get(id(entry))
        if cached is None:
            cached = orjson.loads(entry.raw)
            self._decoded[id(entry)] = cached
        return cached

    def locate(self, reference: str, closure: Closure | None = None) -> tuple[str, dict[str, Any]] | None:
        """(package key, resource) for a canonical reference (`url` or `url|version`); `None` when unknown.

        A versioned reference matches the resource's own `version` (or its package's version); an unversioned
        one is looked up in `closure` first and then resolves to the newest version present.
        """
        url, version = split_canonical(reference)
        candidates = self._by_url.get(url)
        if not candidates:
            return None
        if version is not None:
            for key, entry in reversed(candidates):
                if version in (entry.version, key.split("#")[1]):
                    return key, self._decode(entry)
        if closure is not None:
            for key in closure.packages:
                found = self._index.get(key, {}).get(url)
                if found is not None:
                    return key, self._decode(found)
        key, entry = candidates[-1]
        return key, self._decode(entry)

    def resolve(self, reference: str, closure: Closure | None = None) -> dict[str, Any] | None:
        located = self.locate(reference, closure)
        return located[1] if located else None

    def urls(self, resource_type: str) -> list[str]:
        return sorted(url for url, entries in self._by_url.items() if entries[-1][1].resource_type == resource_type)

    # -- closures ------------------------------------------------------------------------------------------------
    def _nearest(self, name: str, wanted: str) -> str | None:
        present = [key.split("#")[1] for key in self.packages if key.split("#")[0] == name]
        if not present:
            return None
        if wanted in present:
            return wanted
        wanted_key = version_key(wanted)
        same_major = [v for v in present if version_key(v)[0][:1] == wanted_key[0][:1]]
        pool = same_major or present
        return min(pool, key=lambda v: (abs(_as_number(v) - _as_number(wanted)), v))

    def closure(self, package_key: str) -> Closure:
        """`package_key` and its transitive dependencies, breadth-first, one version per package name."""
        cached = self._closures.get(package_key)
        if cached is not None:
            return cached
        order: list[str] = []
        names: set[str] = set()
        substitutions: list[str] = []
        substituted: set[str] = set()
        queue = [package_key]
        while queue:
            key = queue.pop(0)
            name = key.split("#")[0]
            if name in names or key not in self.packages:
                continue
            names.add(name)
            order.append(key)
            for dep_name, dep_version in self.packages[key].dependencies.items():
                if dep_name == "hl7.fhir.r4.examples":
                    continue
                chosen = self._nearest(dep_name, dep_version)
                if chosen is None or dep_name in names:
                    continue
                if chosen != dep_version:
                    substitutions.append(f"{dep_name}#{dep_version} -> {chosen} (for {key})")
                    substituted.add(f"{dep_name}#{chosen}")
                queue.append(f"{dep_name}#{chosen}")
        result = Closure(tuple(order), tuple(substitutions), frozenset(substituted))
        self._closures[package_key] = result
        return result


def _as_number(version: str) -> float:
    parts = version_key(version)[0] + (0, 0, 0)
    return parts[0] * 1_000_000 + parts[1] * 1_000 + parts[2]


# -- building and caching ------------------------------------------------------------------------------------------
def _fingerprint(package_files: Iterable[Path], folders: Iterable[Path]) -> str:
    digest = hashlib.sha256(f"format {CACHE_FORMAT}".encode())
    for file in package_files:
        stat = file.stat()
        digest.update(f"{file}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    for folder in folders:
        for file in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            stat = file.stat()
            digest.update(f"{file}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/careplan-gateway` (or `~/.cache/careplan-gateway`), as the XDG base-dir spec says."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "careplan-gateway"


def build_registry(
    package_files: Iterable[Path], folders: Iterable[Path] = (), *, cache_dir: Path | None = None
) -> Registry:
    """A registry of the given `package.tgz` files plus folders of loose `*.json` resources.

    With `cache_dir`, the read packages are pickled there under a fingerprint of the inputs (path, size, mtime),
    so the next start-up skips decompression; an unreadable or stale cache is simply rebuilt.
    """
    files = list(package_files)
    folder_list = list(folders)
    cache_file = None
    if cache_dir is not None:
        cache_file = cache_dir / f"validation-registry-{_fingerprint(files, folder_list)}.pickle"
        try:
            with cache_file.open("rb") as handle:
                packages: list[FhirPackage] = pickle.load(handle)
            return _registry_of(packages)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError):
            pass
    packages = [read_package(file) for file in files]
    for number, folder in enumerate(folder_list):
        packages.append(read_folder(folder, name="local" if number == 0 else f"local{number}"))
    if cache_file is not None:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            temporary = cache_file.with_suffix(f".{os.getpid()}.tmp")
            with temporary.open("wb") as handle:
                pickle.dump(packages, handle, protocol=pickle.HIGHEST_PROTOCOL)
            temporary.replace(cache_file)
        except OSError:
            pass  # a read-only home directory only costs start-up time
    return _registry_of(packages)


def _registry_of(packages: list[FhirPackage]) -> Registry:
    registry = Registry()
    for package in packages:
        registry.add(package)
    return registry
