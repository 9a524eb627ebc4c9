"""The code base stays lint-, format- and type-clean: part of the one test command, so CI enforces it."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_lint_is_clean() -> None:
    result = run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("package", ["gateway", "mappings", "fixtures"])
def test_mypy_strict_is_clean(package: str) -> None:
    result = run("mypy", "-p", package)
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_layers_hold() -> None:
    """pyproject's import-linter contracts: mappings pure, gateway never imports fixtures, layers one way."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint_imports)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# --- the suite stands alone -------------------------------------------------------------------------------------

#: Where the suite, its fixtures and benchmarks may not look: an absolute path into a machine's folders (a checkout,
#: a home, a temporary folder the test did not make) or the reference folder beside the repository. What the suite
#: reads is copied into `tests/data/` with its source and licence instead.
OUTSIDE = re.compile(r"^(file://)?/(work|home|root|Users|tmp|opt|mnt|srv|var|data)(/|$)|\.\./shared\b|shared/reference")
VENDORED = ROOT / "tests" / "data"


def _outside_paths(source: str, relative: Path) -> Iterator[str]:
    """Each string constant or `Path(__file__)` climb in `source` (at `relative`) naming a place outside the repo."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and OUTSIDE.search(node.value):
            yield f"{relative}:{node.lineno}: {node.value[:80]!r}"
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "parents":
            # Path(__file__).parents[n] is the repository root for n = depth - 1; anything higher is outside it
            index = node.slice
            if isinstance(index, ast.Constant) and isinstance(index.value, int) and index.value >= len(relative.parts):
                yield f"{relative}:{node.lineno}: parents[{index.value}] climbs out of the repository"
        elif isinstance(node, ast.Attribute) and node.attr == "parent":
            if isinstance(node.value, ast.Name) and node.value.id in {"ROOT", "REPO_ROOT"}:
                yield f"{relative}:{node.lineno}: {node.value.id}.parent is outside the repository"


def _own_files(suffixes: set[str]) -> list[Path]:
    here = Path(__file__).resolve()
    return [
        path
        for folder in ("tests", "fixtures", "bench")
        for path in sorted((ROOT / folder).rglob("*"))
        if path.suffix in suffixes and path != here and not path.is_relative_to(VENDORED) and ".venv" not in path.parts
    ]


def test_no_test_fixture_or_benchmark_names_a_path_outside_the_repository() -> None:
    """Issue 17: a clone of this repository runs its whole suite; nothing is read from `../shared` or a machine path."""
    offenders = [
        finding
        for path in _own_files({".py"})
        for finding in _outside_paths(path.read_text("utf-8"), path.relative_to(ROOT))
    ]
    offenders += [
        f"{path.relative_to(ROOT)}: {match.group(0)!r}"
        for path in _own_files({".yaml", ".yml", ".json", ".toml", ".hl7", ".xml"})
        for match in [OUTSIDE.search(path.read_text("utf-8", errors="replace"))]
        if match
    ]
    assert not offenders, "\n".join(offenders)


def test_the_rule_finds_what_it_forbids() -> None:
    source = 'A = Path("/work/shared/reference/x.json")\nB = ROOT.parent / "shared"\nC = Path(__file__).parents[3]\n'
    findings = list(_outside_paths(source, Path("tests/gateway/test_x.py")))
    assert sorted(finding.split(": ", 1)[0] for finding in findings) == [
        f"tests/gateway/test_x.py:{n}" for n in (1, 2, 3)
    ]
    assert not list(_outside_paths("D = Path(__file__).parents[2] / 'fixtures'\n", Path("tests/gateway/test_x.py")))


def test_every_vendored_reference_file_has_its_source_and_licence() -> None:
    """`tests/data/reference/SOURCES.md` has one row per file (repository, path, commit, licence), and no stale row."""
    folder = VENDORED / "reference"
    sources = (folder / "SOURCES.md").read_text("utf-8")
    rows = {
        line.split("|")[1].strip() for line in sources.splitlines() if line.startswith("| ") and line.count("|") == 6
    }
    files = {
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and path.name != "SOURCES.md" and "LICENSES" not in path.relative_to(folder).parts
    }
    assert files - rows == set(), "files without a SOURCES.md row"
    assert rows - files - {"file"} == set(), "SOURCES.md rows without a file"
    licences = {path.name for path in (folder / "LICENSES").iterdir()}
    assert {"MIT-HL7-Denmark.txt", "CC0-1.0.txt"} <= licences
    assert all(f"`LICENSES/{name}`" in sources for name in licences), "every licence text is named by a repository"
