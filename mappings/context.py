"""The `MappingContext`: everything a pure mapping needs from the outside world, passed in.

Pure code in `mappings/` never reads the clock or generates random ids (STYLE.md, "Mappings"): the caller hands
it the instant to use, a source of fresh UUIDs (for ids that MedCom requires to be new on every send, such as
`Bundle.id`) and, for `gateway convert --explain`, an optional collector of `(output path, source location)` pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from mappings.issues import IssueError


@dataclass(slots=True)
class ExplainCollector:
    """Records where each output element came from: `(output path, source location)` pairs, in order.

    Output paths are FHIRPath-like (`Bundle.entry[1].resource.identifier[0].value`); source locations name the
    input field (`PID-3.1`, an XPath such as `/Emessage/ClinicalEmail/Patient/CivilRegistrationNumber`, or
    `context` for values that came from configuration rather than from the input).
    """

    pairs: list[tuple[str, str]] = field(default_factory=list)

    def record(self, output_path: str, source_location: str) -> None:
        self.pairs.append((output_path, source_location))


@dataclass(frozen=True, slots=True)
class MappingContext:
    """The clock value, the id source and the optional explain collector for one conversion.

    `now` must be timezone-aware (MedCom: all dateTimes carry a time zone). `new_uuid` returns a fresh UUID
    string; it is used only where MedCom demands a new value per send (`Bundle.id`), every other id is
    derived from the input (UUID v5) so that converting the same input twice gives the same message.
    `explain` is `None` unless the caller asked for provenance of each output field.
    """

    now: datetime
    new_uuid: Callable[[], str]
    explain: ExplainCollector | None = None

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise IssueError.single(
                "invalid",
                "MappingContext.now must be timezone-aware",
                message_id="mapping.naive-clock",
            )

    def record(self, output_path: str, source_location: str) -> None:
        """Record one explain pair when a collector is present; a no-op otherwise."""
        if self.explain is not None:
            self.explain.record(output_path, source_location)
