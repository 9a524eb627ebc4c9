"""The code base stays lint-, format- and type-clean: part of the one test command, so CI enforces it."""

from __future__ import annotations

import subprocess
import sys
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
