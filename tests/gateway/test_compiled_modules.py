"""The validator compiled by mypyc (setup.py): CI runs it compiled, it reports exactly what its Python sources
report, and an edit to a source is never shadowed by an older build (`gateway.compiled_modules`)."""

from __future__ import annotations

import importlib.machinery
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import gateway.validation
from gateway.compiled_modules import MANIFEST, build_state, prefer_current, source_digest
from gateway.validation import default_validator
from gateway.validation import validator as walker_module
from tests.gateway.validation.conftest import PACKAGE_OF_FOLDER, REFERENCE
from tests.gateway.validation.test_examples import EXAMPLES

ROOT = Path(__file__).resolve().parents[2]
MEDCOM = ROOT / "fixtures" / "samples" / "inbound" / "medcom"
BUILD_SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


@pytest.mark.skipif(os.environ.get("CI") != "true", reason="a local checkout may be installed without compiling")
def test_ci_runs_the_compiled_validator() -> None:
    """`.ci/run` installs with `pip install -e`, which compiles: the suite then tests the compiled modules."""
    state = gateway.validation.BUILD
    assert state.runs_compiled, state
    assert "validator" in state.compiled and "fhirpath" in state.compiled
    assert walker_module.__file__ is not None and walker_module.__file__.endswith(
        tuple(importlib.machinery.EXTENSION_SUFFIXES)
    )


_REPORT = """
import json, sys
from pathlib import Path
import gateway.validation
from gateway.validation import default_validator
validator = default_validator()
out = {"compiled": gateway.validation.BUILD.runs_compiled, "issues": {}}
for name, path, package in json.loads(sys.stdin.read()):
    resource = json.loads(Path(path).read_text("utf-8"))
    result = validator.validate(resource, package=package)
    out["issues"][name] = [[i.severity, i.code, i.expression, i.message_id, i.diagnostics] for i in result.issues]
print(json.dumps(out))
"""


def _cases() -> list[tuple[str, str, str | None]]:
    cases: list[tuple[str, str, str | None]] = [
        (relative, str(REFERENCE / relative), PACKAGE_OF_FOLDER[Path(relative).parts[0]]) for relative in EXAMPLES
    ]
    cases += [(path.name, str(path), None) for path in sorted(MEDCOM.glob("Bundle-*.json"))]
    return cases


def _report_from_sources(cases: list[tuple[str, str, str | None]]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _REPORT],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "GATEWAY_PURE_PYTHON": "1"},
        cwd=ROOT,
        timeout=600,
    )
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_compiled_and_source_validators_report_the_same_issues() -> None:
    """Every reference example and MedCom sample, issue for issue: here (compiled in CI) and in a process that
    imports the sources (`GATEWAY_PURE_PYTHON=1`), the validator a machine without a C compiler runs."""
    cases = _cases()
    assert len(cases) >= 190
    source = _report_from_sources(cases)
    assert source["compiled"] is False
    validator = default_validator()
    differences = []
    for name, path, package in cases:
        result = validator.validate(json.loads(Path(path).read_text("utf-8")), package=package)
        here = [[i.severity, i.code, i.expression, i.message_id, i.diagnostics] for i in result.issues]
        if here != source["issues"][name]:
            differences.append(name)
    assert not differences, differences


@pytest.fixture
def package(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A package `built_pkg` with one module `mod`, built from its present source (the manifest says so), whose
    "build" is a file that is no extension at all: importing it fails, so a test that imports `mod` and gets it
    shows that the source was taken."""
    folder = tmp_path / "built_pkg"
    folder.mkdir()
    (folder / "__init__.py").write_text(
        textwrap.dedent(
            """
            from pathlib import Path
            from gateway.compiled_modules import prefer_current
            BUILD = prefer_current(__name__, Path(__file__).parent)
            """
        )
    )
    (folder / "mod.py").write_text("WHERE = 'source'\n")
    (folder / f"mod{BUILD_SUFFIX}").write_bytes(b"not an extension module")
    (folder / MANIFEST).write_text(json.dumps({"mod": source_digest(folder / "mod.py")}))
    sys.path.insert(0, str(tmp_path))
    finders = list(sys.meta_path)
    try:
        yield "built_pkg", folder
    finally:
        sys.path.remove(str(tmp_path))
        sys.meta_path[:] = finders
        for name in [name for name in sys.modules if name == "built_pkg" or name.startswith("built_pkg.")]:
            del sys.modules[name]


def test_a_source_edited_after_the_build_is_imported_from_source(package: tuple[str, Path]) -> None:
    name, folder = package
    (folder / "mod.py").write_text("WHERE = 'source'  # edited since the build\n")
    state = build_state(folder)
    assert state.compiled == ("mod",) and state.stale == ("mod",) and not state.runs_compiled
    module = importlib.import_module(f"{name}.mod")
    assert module.WHERE == "source"
    assert module.__file__ == str(folder / "mod.py")


def test_a_build_without_a_record_of_its_source_is_not_trusted(package: tuple[str, Path]) -> None:
    name, folder = package
    (folder / MANIFEST).unlink()
    assert build_state(folder).stale == ("mod",)
    assert importlib.import_module(f"{name}.mod").WHERE == "source"


def test_a_module_left_uncompiled_keeps_the_whole_package_on_its_sources(package: tuple[str, Path]) -> None:
    """A new module since the build, or one whose extension failed to build: never a mix of the two."""
    name, folder = package
    (folder / "other.py").write_text("WHERE = 'source'\n")
    state = build_state(folder)
    assert state.compiled == ("mod",) and state.stale == ("other",) and not state.runs_compiled
    assert importlib.import_module(f"{name}.mod").WHERE == "source"


def test_a_current_build_is_what_python_imports_whatever_the_file_times(package: tuple[str, Path]) -> None:
    """A wheel install writes the source after its build as often as before it; a checkout rewrites unchanged
    files: only the contents decide (in a wheel-installed image every module had looked stale by file times)."""
    name, folder = package
    _age(folder / f"mod{BUILD_SUFFIX}", 60)  # the build older than its (unchanged) source
    state = build_state(folder)
    assert state.stale == () and state.runs_compiled
    # nothing stands before the build: Python loads it (here it is no extension, so the import fails)
    with pytest.raises(ImportError):
        importlib.import_module(f"{name}.mod")


def test_pure_python_can_be_asked_for(package: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    name, folder = package
    monkeypatch.setenv("GATEWAY_PURE_PYTHON", "1")
    state = build_state(folder)
    assert state.forced_source and not state.runs_compiled
    assert importlib.import_module(f"{name}.mod").WHERE == "source"


def test_a_package_without_builds_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text("")
    finders = list(sys.meta_path)
    state = prefer_current("nothing_built", tmp_path)
    assert state.compiled == () and not state.runs_compiled
    assert sys.meta_path == finders


def _age(path: Path, seconds: float) -> None:
    stat = path.stat()
    os.utime(path, (stat.st_atime - seconds, stat.st_mtime - seconds))


def test_the_record_of_what_was_compiled_goes_into_the_wheel() -> None:
    """A wheel install (the image) has the manifest beside the builds, or every module would run from source."""
    import fnmatch
    import tomllib

    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]["package-data"]
    patterns = package_data.get("*", []) + package_data.get("gateway.validation", [])
    assert any(fnmatch.fnmatch(MANIFEST, pattern) for pattern in patterns)
    assert f"gateway/validation/{MANIFEST}" in (ROOT / "setup.py").read_text("utf-8")
