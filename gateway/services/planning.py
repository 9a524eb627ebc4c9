"""What planning an input's notices works with and gives: the directory and plan seams, and the planned notices.

`Directory` is the recipient directory (or `OfflineDirectory` for a preview without one), `PlanSource` the
citizen's current plan (stored, or a file given to a preview). `Planning` holds the notices an input becomes, what
was withheld and why, and notes; `party_of` turns a directory entry into a message party that knows where each of
its fields came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.delivery.directory import Recipient, SenderOrganisation
from gateway.fhir.access import OPEN, Access
from gateway.services.offline import is_offline
from gateway.services.plans import StoredPlan
from gateway.services.stay_notices import Withheld
from mappings.context import MappingContext
from mappings.documents.discharge import Party
from mappings.explain import Explained, Origin

Resource = dict[str, Any]


class Directory(Protocol):
    """Where notices go: the recipient directory, or `OfflineDirectory` for a preview without one."""

    def find(
        self,
        *,
        sor: str | None = None,
        gln: str | None = None,
        municipality: str | None = None,
        provider_number: str | None = None,
    ) -> Recipient: ...

    def sender(self, code: str) -> SenderOrganisation: ...


class PlanSource(Protocol):
    """The citizen's current shared plan (stored, or given to an offline preview as a file)."""

    def current_plan_for(self, cpr: str, access: Access = OPEN) -> StoredPlan | None: ...


@dataclass(frozen=True)
class PlannedNotice:
    """A notice built and addressed, not yet validated or stored."""

    kind: str
    recipient: Recipient
    message: Resource
    disclosure: str | None = None  # why plan content is (or is not) included, for the operator
    explained: tuple[Explained, ...] = ()
    #: (plan id, data category) of the shared plan's content it carries; consent is decided again while it is
    #: queued (`gateway.services.withdrawals`).
    carries: tuple[str, str] | None = None


@dataclass
class Planning:
    """The notices an input becomes, what was withheld and why, and anything else the operator should know."""

    notices: list[PlannedNotice] = field(default_factory=list)
    withheld: list[Withheld] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(
        self,
        kind: str,
        recipient: Recipient,
        message: Resource,
        ctx: MappingContext,
        disclosure: str | None = None,
        carries: tuple[str, str] | None = None,
    ) -> None:
        explained = ctx.explain.for_bundle(message) if ctx.explain is not None else ()
        self.notices.append(PlannedNotice(kind, recipient, message, disclosure, explained, carries))


def party_of(organisation: Recipient | SenderOrganisation, found_by: str) -> Party:
    """A directory entry as a message party; every field's origin is the directory (an offline preview's entry
    carries only the identifier the input gave, and says so)."""
    if not is_offline(organisation):
        origin = Origin("directory", f"recipient directory entry of {found_by}")
        return Party(
            gln=organisation.gln,
            sor=organisation.sor,
            name=organisation.name,
            sources=(("gln", origin), ("sor", origin), ("name", origin)),
        )
    unknown = Origin("directory", f"{found_by}: unknown without the recipient directory")
    given = Origin("input", f"{found_by} (offline: the identifier as the input gives it)")
    return Party(
        gln=organisation.gln or None,
        sor=organisation.sor or None,
        sources=(
            ("gln", given if organisation.gln else unknown),
            ("sor", given if organisation.sor else unknown),
            ("name", unknown),
        ),  # fmt: skip
    )
