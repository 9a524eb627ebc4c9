"""Collaborators for routes, taken from `app.state` (set by `create_app`; tests pass their own).

Both dependencies are `async def` although they await nothing: FastAPI runs a plain `def` dependency on the
threadpool, and a hop there and back costs more than the attribute lookup it would run (issue 18: a read paid four
hops). A dependency that blocks (file, network, database) stays a plain `def`."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request

T = TypeVar("T")


def from_state(name: str, kind: type[T]) -> Callable[[Request], Coroutine[Any, Any, T]]:
    """A dependency returning `app.state.<name>`, checked to be a `kind` (one accessor for every collaborator)."""

    async def collaborator(request: Request) -> T:
        value = getattr(request.app.state, name)
        if not isinstance(value, kind):
            raise TypeError(f"app.state.{name} is {type(value).__name__}, not {kind.__name__}")
        return value

    collaborator.__name__ = f"{name}_collaborator"
    return collaborator


async def fhir_base(request: Request) -> str:
    """The FHIR base URL as the client addressed us (used for Location, fullUrl and paging links)."""
    return str(request.base_url).rstrip("/") + "/fhir"
