"""Where every element of a notice came from (`gateway convert --explain`): one `Origin` per leaf element.

Builders describe each resource they make with a map from relative element paths to origins
(`identifier[0].value` → `Origin("input", "PID-3.1")`; `[*]` matches any index), and `ExplainCollector.finish`
expands those maps over the finished message Bundle, leaf by leaf, so the explanation follows the output exactly:
an element the output does not have is not explained, and an element without a description is reported as
`unexplained` (a test over every notice asserts there is none).

Kinds, in the words an operator asks in ("where did this come from?"):
- `input`: a field of the message taken in (`PID-3.1`, `/Emessage/ClinicalEmail/Patient/CivilRegistrationNumber`);
- `plan`: a field of the citizen's shared plan (`coordination.next_meeting`);
- `directory`: the recipient directory (SOR/GLN, names, endpoints, signatories), with the key it was found by;
- `history`: the stay's earlier notice as the outbox keeps it (HospitalNotification Provenances);
- `constant`: fixed by the standard or by this gateway (profiles, code systems, fixed codes);
- `generated id`: an id the gateway makes (UUID v5 of the input's identity, or new per send), or a reference to one;
- `clock`: the time the gateway made the message (MedCom: the time sent);
- `derived`: made from other elements of the same resource (its generated narrative).
`values` holds the input values a composed text was written from, `(field, value as the input gave it)`, so a
reader (and a test) can check that every date in a Danish text is one of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["input", "plan", "directory", "history", "constant", "generated id", "clock", "derived", "unexplained"]
KINDS: tuple[Kind, ...] = ("input", "plan", "directory", "history", "constant", "generated id", "clock", "derived")
_INDEX = re.compile(r"\[\d+\]")


@dataclass(frozen=True, slots=True)
class Origin:
    """One element's origin: its kind, the field or key it came from, and the input values of a composed text."""

    kind: Kind
    source: str = ""
    values: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"kind": self.kind, "source": self.source}
        if self.values:
            found["values"] = [{"field": name, "value": value} for name, value in self.values]
        return found


@dataclass(frozen=True, slots=True)
class Text:
    """A composed text and the `(field, value)` pairs it was written from (values as the input gave them)."""

    text: str
    values: tuple[tuple[str, str], ...] = ()

    def origin(self, kind: Kind) -> Origin:
        return Origin(kind, ", ".join(dict.fromkeys(name for name, _ in self.values)), self.values)


CONSTANT = Origin("constant", "fixed by the profile or by this gateway")
GENERATED_ID = Origin("generated id", "UUID v5 of the input's identity and the element's role")
NARRATIVE = Origin("derived", "generated narrative of this resource's own elements")


def reference_to(target: str) -> Origin:
    """A reference to another resource of the message: it carries that resource's generated id."""
    return Origin("generated id", f"the id of {target}")


@dataclass(frozen=True, slots=True)
class Explained:
    """One leaf element of a notice and its origin."""

    path: str
    origin: Origin

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, **self.origin.to_json()}


Description = Mapping[str, Origin]


def leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every leaf (string, number, boolean) under `value`, with its FHIRPath-like path."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield from leaves(child, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from leaves(child, f"{path}[{index}]")
    else:
        yield path, value


def _origin(relative: str, description: Description) -> Origin | None:
    """The description's origin for a concrete path: exact first, then with any of its indices as `[*]`."""
    found = description.get(relative)
    if found is not None:
        return found
    parts = _INDEX.split(relative)
    indices = _INDEX.findall(relative)
    for mask in range(1, 2 ** len(indices)):
        candidate = parts[0]
        for position, index in enumerate(indices):
            candidate += ("[*]" if mask >> position & 1 else index) + parts[position + 1]
        found = description.get(candidate)
        if found is not None:
            return found
    return None


@dataclass(slots=True)
class ExplainCollector:
    """Collects the descriptions of the resources one conversion builds and explains each finished Bundle."""

    descriptions: dict[int, Description] = field(default_factory=dict)
    #: `(Bundle.id, its explained leaves)`, in the order the notices were finished.
    notices: list[tuple[str, tuple[Explained, ...]]] = field(default_factory=list)

    def describe(self, resource: Any, description: Description) -> None:
        """Remember how `resource` (a dict about to go into a Bundle) was made; merged with earlier descriptions."""
        earlier = self.descriptions.get(id(resource), {})
        self.descriptions[id(resource)] = {**earlier, **description}

    def finish(self, bundle: dict[str, Any]) -> tuple[Explained, ...]:
        """Explain every leaf of `bundle` from the descriptions of the Bundle itself and of each entry's resource."""
        explained: list[Explained] = []
        own = self.descriptions.get(id(bundle), {})
        for index, entry in enumerate(bundle.get("entry", [])):
            resource = entry.get("resource", {})
            inner = self.descriptions.get(id(resource), {})
            for relative, _value in leaves(resource, ""):
                origin = _origin(relative, inner) or Origin("unexplained")
                explained.append(Explained(f"Bundle.entry[{index}].resource.{relative}", origin))
            for key in entry:
                if key != "resource":
                    origin = _origin(f"entry[*].{key}", own) or Origin("unexplained")
                    explained.append(Explained(f"Bundle.entry[{index}].{key}", origin))
        for relative, _value in leaves({k: v for k, v in bundle.items() if k != "entry"}, ""):
            explained.append(Explained(f"Bundle.{relative}", _origin(relative, own) or Origin("unexplained")))
        result = tuple(explained)
        self.notices.append((str(bundle.get("id", "")), result))
        return result

    def relayed(self, bundle: dict[str, Any]) -> tuple[Explained, ...]:
        """A message passed on unchanged: every element is the input's own element at the same path."""
        result = tuple(Explained(f"Bundle.{path}", Origin("input", f"Bundle.{path}")) for path, _ in leaves(bundle, ""))
        self.notices.append((str(bundle.get("id", "")), result))
        return result

    def for_bundle(self, bundle: dict[str, Any]) -> tuple[Explained, ...]:
        """The explanation `finish` or `relayed` made for `bundle` (empty when it was not explained)."""
        bundle_id = str(bundle.get("id", ""))
        return next((explained for known, explained in reversed(self.notices) if known == bundle_id), ())
