"""FHIR NPM packages: read `package.tgz` files and folders of conformance resources.

A FHIR package (https://confluence.hl7.org/display/FHIR/NPM+Package+Specification) is a gzipped tar whose
`package/package.json` names it, its version and its `dependencies`; each other `package/*.json` file is one
resource. We keep only conformance resources (StructureDefinition, ValueSet, CodeSystem), as raw JSON bytes: a
registry decodes a resource only when a profile that needs it is compiled.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from mappings.issues import IssueError

#: Resource types the validator reads; everything else in a package (examples, SearchParameters) is skipped.
CONFORMANCE_TYPES = frozenset({"StructureDefinition", "ValueSet", "CodeSystem"})

#: Folder holding the packages shipped with the gateway: `<name>/<version>/package.tgz`.
SHIPPED_PACKAGES = Path(__file__).resolve().parent / "packages"


@dataclass(frozen=True, slots=True)
class ResourceEntry:
    """One conformance resource of a package, still encoded."""

    resource_type: str
    url: str
    version: str | None
    raw: bytes


@dataclass(slots=True)
class FhirPackage:
    """A loaded package: its identity, its declared dependencies and its conformance resources."""

    name: str
    version: str
    dependencies: dict[str, str] = field(default_factory=dict)
    resources: list[ResourceEntry] = field(default_factory=list)

    @property
    def key(self) -> str:
        """`name#version`, the FHIR package reference form."""
        return f"{self.name}#{self.version}"


def _entry(data: bytes) -> ResourceEntry | None:
    # The resourceType and url sit near the top of every published file; a full parse is the only safe way.
    resource = orjson.loads(data)
    if not isinstance(resource, dict):
        return None
    resource_type = resource.get("resourceType")
    url = resource.get("url")
    if resource_type not in CONFORMANCE_TYPES or not isinstance(url, str):
        return None
    version = resource.get("version")
    return ResourceEntry(resource_type, url, version if isinstance(version, str) else None, data)


def read_package(path: Path) -> FhirPackage:
    """Read a FHIR NPM `package.tgz`; raises `IssueError` when it is not one."""
    try:
        with tarfile.open(path) as archive:
            manifest: dict[str, object] | None = None
            entries: list[ResourceEntry] = []
            for member in archive.getmembers():
                if not member.isfile() or not member.name.endswith(".json") or member.name.count("/") != 1:
                    continue
                handle = archive.extractfile(member)
                if handle is None:
                    continue
                data = handle.read()
                if member.name == "package/package.json":
                    manifest = orjson.loads(data)
                elif not member.name.startswith("package/."):
                    entry = _entry(data)
                    if entry is not None:
                        entries.append(entry)
    except (OSError, tarfile.TarError, orjson.JSONDecodeError) as error:
        raise IssueError.single(
            "processing", f"cannot read FHIR package {path}: {error}", message_id="validation.package-unreadable"
        ) from error
    if manifest is None or not isinstance(manifest.get("name"), str):
        raise IssueError.single(
            "processing", f"{path} has no package/package.json", message_id="validation.package-unreadable"
        )
    dependencies = manifest.get("dependencies") or {}
    return FhirPackage(
        name=str(manifest["name"]),
        version=str(manifest.get("version", "0.0.0")),
        dependencies={str(k): str(v) for k, v in dict(dependencies).items()} if isinstance(dependencies, dict) else {},
        resources=entries,
    )


def read_folder(path: Path, *, name: str = "local", version: str = "0.0.0") -> FhirPackage:
    """Every `*.json` conformance resource in `path` (not recursive) as a package without dependencies.

    Used for our own `profiles/`: they resolve their canonicals against the newest versions present.
    """
    entries: list[ResourceEntry] = []
    for file in sorted(path.glob("*.json")) if path.is_dir() else []:
        try:
            entry = _entry(file.read_bytes())
        except orjson.JSONDecodeError as error:
            raise IssueError.single(
                "structure", f"{file} is not JSON: {error}", message_id="validation.package-unreadable"
            ) from error
        if entry is not None:
            entries.append(entry)
    return FhirPackage(name=name, version=version, resources=entries)


def read_ig(path: Path, *, name: str = "ig") -> FhirPackage:
    """Conformance resources given on the command line (the FHIR validator's `-ig`): a package `.tgz`, a folder
    of JSON and XML resources (not recursive), or one such file. A folder or file becomes a package `name`
    without dependencies, its canonicals resolved against the newest versions loaded. `IssueError` when `path` is
    none of these or holds no conformance resource."""
    if path.is_file() and path.name.endswith((".tgz", ".tar.gz")):
        return read_package(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in (".json", ".xml"))
    elif path.is_file() and path.suffix.lower() in (".json", ".xml"):
        files = [path]
    else:
        raise IssueError.single(
            "not-found",
            f"{path} is no FHIR package (.tgz), folder or JSON/XML file",
            message_id="validation.package-unreadable",
        )
    entries = [entry for entry in (_file_entry(file) for file in files) if entry is not None]
    if not entries:
        raise IssueError.single(
            "not-found",
            f"{path} holds no StructureDefinition, ValueSet or CodeSystem",
            message_id="validation.package-unreadable",
        )
    return FhirPackage(name=name, version="0.0.0", resources=entries)


def _file_entry(file: Path) -> ResourceEntry | None:
    data = file.read_bytes()
    if file.suffix.lower() == ".xml":
        from gateway.validation.fhir_xml import read_fhir_xml  # the XML reader needs the R4 core plans

        try:
            data = orjson.dumps(read_fhir_xml(data).resource)
        except IssueError:
            return None  # not a FHIR resource: not a conformance resource either
    try:
        return _entry(data)
    except orjson.JSONDecodeError as error:
        raise IssueError.single(
            "structure", f"{file} is not JSON: {error}", message_id="validation.package-unreadable"
        ) from error


def shipped_package_files(root: Path = SHIPPED_PACKAGES) -> Iterator[Path]:
    """The `package.tgz` files under `root`, in a stable order."""
    yield from sorted(root.glob("*/*/package.tgz"))


def message_examples(path: Path) -> Iterator[dict[str, Any]]:
    """The example message Bundles a FHIR package ships (`package/example/Bundle-*.json` of `type` message), e.g.
    MedCom's CareCommunication examples, in the archive's order."""
    with tarfile.open(path) as archive:
        for member in archive.getmembers():
            folder, _, name = member.name.rpartition("/")
            if not member.isfile() or folder != "package/example" or not name.startswith("Bundle-"):
                continue
            handle = archive.extractfile(member)
            bundle = orjson.loads(handle.read()) if handle is not None and name.endswith(".json") else None
            if isinstance(bundle, dict) and bundle.get("type") == "message":
                yield bundle
