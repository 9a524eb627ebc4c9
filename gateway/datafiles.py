"""Operator-edited data files (recipient directory, client registry): read as YAML or JSON, re-read on change.

One reader and one reloader for both, so their error reporting and reload behaviour cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml

from mappings.issues import IssueError

T = TypeVar("T")


def read_yaml_or_json(path: Path, *, what: str, unreadable: str, unparseable: str) -> Any:
    """The parsed file (`.json` as JSON, anything else as YAML); an `IssueError` names `what` went wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise IssueError.single(
            "not-found", f"Cannot read {what} {path}: {error.strerror}", message_id=unreadable
        ) from error
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise IssueError.single(
            "structure", f"{what.capitalize()} {path} is not valid YAML/JSON: {_where(error)}", message_id=unparseable
        ) from error


def _where(error: json.JSONDecodeError | yaml.YAMLError) -> str:
    """The parser's complaint in one line, with the line and column an editor jumps to."""
    mark = getattr(error, "problem_mark", None)
    if isinstance(error, yaml.MarkedYAMLError) and mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {error.problem or error.context}"
    return " ".join(str(error).split())


class ReloadingFile(Generic[T]):
    """`load(path)`, cached until the file's modification time changes; `when_missing()` while it is absent."""

    def __init__(self, path: Path, load: Callable[[Path], T], when_missing: Callable[[], T]) -> None:
        self.path = path
        self._load = load
        self._when_missing = when_missing
        self._loaded: tuple[float, T] | None = None

    def __call__(self) -> T:
        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            return self._when_missing()
        if self._loaded is None or self._loaded[0] != mtime:
            self._loaded = (mtime, self._load(self.path))
        return self._loaded[1]
