"""The `MappingContext`: everything a pure mapping needs from the outside world, passed in.

Pure code in `mappings/` never reads the clock or generates random ids (STYLE.md, "Mappings"): the caller hands
it the instant to use, a source of fresh UUIDs (for ids that MedCom requires to be new on every send, such as
`Bundle.id`) and, for `gateway convert --explain`, an optional `ExplainCollector` (`mappings.explain`) that learns
where every element of every notice came from.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mappings.explain import Description, ExplainCollector
from mappings.issues import IssueError

__all__ = ["ExplainCollector", "MappingContext"]


#: The namespace of ids derived from an input's identity (UUID v5), as MedCom's examples and the tests know them.
PUBLIC_NOTICE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:careplan-gateway:medcom-notices")


@dataclass(frozen=True, slots=True)
class MappingContext:
    """The clock value, the id source and the optional explain collector for one conversion.

    `now` must be timezone-aware (MedCom: all dateTimes carry a time zone). `new_uuid` returns a fresh UUID
    string; it is used only where MedCom demands a new value per send (`Bundle.id`), every other id is
    derived from the input (UUID v5) so that converting the same input twice gives the same message.
    `explain` is `None` unless the caller asked for the origin of each output element. `require_identifiers`
    is `False` only for an offline preview without a recipient directory (`gateway convert`): organisations then
    carry the identifiers the input gives, and the profile check names what the directory would add.
    `header_namespace` derives the notices' `MessageHeader.id`s: a deployment's own secret one
    (`Settings.header_namespace`), so that no one can compute the id of a notice it never saw (and take it first
    with a message of its own, or ask whether it exists).
    """

    now: datetime
    new_uuid: Callable[[], str]
    explain: ExplainCollector | None = None
    require_identifiers: bool = True
    header_namespace: uuid.UUID = PUBLIC_NOTICE_NAMESPACE

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise IssueError.single(
                "invalid",
                "MappingContext.now must be timezone-aware",
                message_id="mapping.naive-clock",
            )

    def describe(self, resource: Any, description: Callable[[], Description]) -> None:
        """Tell the collector how `resource` was made; `description` is only called when someone asks."""
        if self.explain is not None:
            self.explain.describe(resource, description())
