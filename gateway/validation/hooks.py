"""What FHIRPath functions need from the running validation (reference resolution, profile checks, terminology)."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Resource = dict[str, Any]


@dataclass(frozen=True, slots=True)
class EvaluationHooks:
    """What FHIRPath functions need from the running validation: reference resolution and profile checks."""

    resolve: Callable[[str], Resource | None]
    conforms_to: Callable[[Resource, str], bool]
    member_of: Callable[[Any, str], bool | None]


HOOKS: contextvars.ContextVar[EvaluationHooks | None] = contextvars.ContextVar("validation_hooks", default=None)
