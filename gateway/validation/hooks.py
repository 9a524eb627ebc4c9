"""What FHIRPath functions need from the running validation (reference resolution, profile checks, terminology)."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

Resource = dict[str, Any]


class EvaluationHooks:
    """What FHIRPath functions need from the running validation: reference resolution and profile checks (a
    plain class, as `walk_state.Scope` says why)."""

    __slots__ = ("resolve", "conforms_to", "member_of")

    def __init__(
        self,
        resolve: Callable[[str], Resource | None],
        conforms_to: Callable[[Resource, str], bool],
        member_of: Callable[[Any, str], bool | None],
    ) -> None:
        self.resolve = resolve
        self.conforms_to = conforms_to
        self.member_of = member_of


HOOKS: contextvars.ContextVar[EvaluationHooks | None] = contextvars.ContextVar("validation_hooks", default=None)
