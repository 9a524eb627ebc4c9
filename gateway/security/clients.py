"""Client registry: which OAuth2 client is which organisation, and what it may ever be granted.

The file is YAML (`.yaml`/`.yml`) or JSON (`.json`) with one top-level key, `clients`, a list of::

    clients:
      - client_id: odense-kommune-bostoette          # the token's `client_id` / `sub` claim
        organisation:
          name: Odense Kommune, Socialpsykiatri og Bostøtte
          sor: "953741000016009"                     # SOR code, >= 11 digits (DK-core min-digits-sor)
          gln: "5790001348120"                       # GLN / EAN location number, 13 digits + GS1 check digit
          municipality: "0461"                       # optional: kommunekode (dk-core-municipality-codes)
          provider_number: "123456"                  # optional: GP provider number (ydernummer)
        scopes: [system/CarePlan.rs, system/CareTeam.rs, system/Goal.rs]   # SMART v2 (see scopes.py)
        rate_limit: 120                              # optional: requests per minute (default: settings)
        plan_sources: [urn:oid:1.2.208.176.1.1.953741000016009.kip]   # optional: plan source systems it owns
        sends_as: ["953741000016017"]                # optional: other senders its messages may name (SOR codes)

A token's scopes are intersected with `scopes` here, so a leaked signing key cannot widen a client's rights, and
removing a client here locks it out at once. The organisation's SOR code is what consent decisions
(`mappings.plan.may_disclose`) and authorship name; its identifiers are what audit records (`mappings.audit`) name.

A plan's source identifier (`source.system` of a plan document, the CarePlan's identifier) lives in its author's
namespace: every organisation owns `https://sor2.sum.dsdn.dk/#id=<its SOR code>` (MedCom's SOR endpoint form),
and `plan_sources` registers further systems (its EHR's own URIs). A system belongs to one organisation only, so
no one else can write, capture or block a plan under it (`owners_of`). Quote codes in YAML so leading zeros
survive. A client id may appear once; unknown keys are errors (a typo such as `scope:` must not silently grant
nothing, or worse). Every problem in the file is reported at once, each located (`clients[2].organisation.sor`).

A message posted to `/messages` names its sender (MSH-4, a letter's `Sender`, `MessageHeader.sender`), and the
notices go out in that sender's name. A client may name its own organisation, and the organisations listed in
`sends_as` (by SOR code: an integration engine posting for the hospital departments behind it); any other sender
is refused before the message is looked at further.
Example: `fixtures/clients.example.yaml`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.datafiles import read_yaml_or_json
from gateway.security.scopes import ScopeSet
from mappings.issues import Issue, IssueError
from mappings.plan.codes import GLN_SYSTEM, MUNICIPALITY_SYSTEM, PROVIDER_NUMBER_SYSTEM, SOR_SYSTEM

_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_SOR = re.compile(r"\d{11,18}")
_GLN = re.compile(r"\d{13}")
_MUNICIPALITY = re.compile(r"\d{4}")
_PROVIDER = re.compile(r"\d{4,7}")
_CLIENT_KEYS = frozenset({"client_id", "organisation", "scopes", "rate_limit", "plan_sources", "sends_as"})
#: An absolute URI, as the plan document's `source.system` (RFC 3986 scheme ":" ...), within the plan table's column.
_SOURCE_SYSTEM = re.compile(r"[a-z][a-z0-9+.\-]*:[^\s|]{1,500}")
SOR_SOURCE = "https://sor2.sum.dsdn.dk/#id="  # MedCom's SOR endpoint form (NOTES.md §2)
_SOR_SOURCE = re.compile(re.escape(SOR_SOURCE) + r"(\d{11,18})")
_ORGANISATION_KEYS = frozenset({"name", "sor", "gln", "municipality", "provider_number"})


@dataclass(frozen=True, slots=True)
class Organisation:
    name: str
    sor: str
    gln: str
    municipality: str | None = None
    provider_number: str | None = None

    def identifiers(self) -> tuple[tuple[str, str], ...]:
        """`(system, value)` pairs, SOR first (DK-core / MedCom identifier systems)."""
        pairs = [(SOR_SYSTEM, self.sor), (GLN_SYSTEM, self.gln)]
        if self.provider_number is not None:
            pairs.append((PROVIDER_NUMBER_SYSTEM, self.provider_number))
        if self.municipality is not None:
            pairs.append((MUNICIPALITY_SYSTEM, self.municipality))
        return tuple(pairs)


@dataclass(frozen=True, slots=True)
class ClientRecord:
    client_id: str
    organisation: Organisation
    scopes: ScopeSet
    rate_limit: int | None = None
    plan_sources: tuple[str, ...] = ()
    #: SOR codes of the senders its messages may name besides its own organisation.
    sends_as: frozenset[str] = frozenset()


def sor_of_source(system: str) -> str | None:
    """The SOR code of a `https://sor2.sum.dsdn.dk/#id=<SOR>` source system, else None."""
    match = _SOR_SOURCE.fullmatch(system)
    return match.group(1) if match else None


def gln_check_digit_ok(gln: str) -> bool:
    """GS1 mod-10 check digit (GS1 General Specifications §7.9.1): weights 3,1,3,... from the right."""
    digits = [int(char) for char in gln]
    total = sum(digit * (3 if index % 2 == 0 else 1) for index, digit in enumerate(reversed(digits[:-1])))
    return (10 - total % 10) % 10 == digits[-1]


class ClientRegistry:
    """The registered clients, by `client_id`."""

    def __init__(self, clients: Mapping[str, ClientRecord]) -> None:
        self._clients = dict(clients)
        self._sources: dict[str, frozenset[str]] = {}
        for record in self._clients.values():
            for system in record.plan_sources:
                self._sources[system] = self._sources.get(system, frozenset()) | {record.organisation.sor}

    @classmethod
    def from_file(cls, path: Path) -> ClientRegistry:
        return cls.from_data(
            read_yaml_or_json(
                path, what="client registry", unreadable="clients.unreadable", unparseable="clients.syntax"
            )
        )

    @classmethod
    def from_data(cls, data: Any) -> ClientRegistry:
        if not isinstance(data, dict) or not isinstance(data.get("clients"), list):
            raise IssueError.single(
                "structure",
                "The client registry needs a top-level list 'clients'",
                expression="clients",
                message_id="clients.structure",
            )
        problems: list[Issue] = []
        for key in sorted(set(data) - {"clients"}, key=str):
            problems.append(_problem(str(key), f"Unknown top-level key {key!r}"))
        clients: dict[str, ClientRecord] = {}
        for index, entry in enumerate(data["clients"]):
            record = _client(entry, f"clients[{index}]", problems)
            if record is None:
                continue
            if record.client_id in clients:
                problems.append(
                    _problem(f"clients[{index}].client_id", f"Client id {record.client_id!r} appears twice")
                )
            clients[record.client_id] = record
        problems += _shared_sources(clients)
        if problems:
            raise IssueError(tuple(problems))
        return cls(clients)

    def owners_of(self, system: str) -> frozenset[str]:
        """The SOR codes of the organisations owning a plan source system (none: nobody's)."""
        implicit = sor_of_source(system)
        return self._sources.get(system, frozenset()) | ({implicit} if implicit else frozenset())

    def get(self, client_id: str) -> ClientRecord | None:
        """The client, or None when no client has this id (the caller answers 401)."""
        return self._clients.get(client_id)

    def __iter__(self) -> Iterator[ClientRecord]:
        return iter(self._clients.values())

    def __len__(self) -> int:
        return len(self._clients)


def _problem(where: str, message: str) -> Issue:
    return Issue("error", "value", message, expression=where, message_id="clients.invalid")


def _text(
    entry: Mapping[str, Any],
    key: str,
    where: str,
    pattern: re.Pattern[str] | None,
    problems: list[Issue],
    *,
    required: bool = True,
) -> str | None:
    value = entry.get(key)
    if value is None:
        if required:
            problems.append(_problem(f"{where}.{key}", f"{key} is required"))
        return None
    if not isinstance(value, str):
        problems.append(_problem(f"{where}.{key}", f"{key} must be a quoted string, not {type(value).__name__}"))
        return None
    if pattern is not None and not pattern.fullmatch(value):
        problems.append(_problem(f"{where}.{key}", f"{key} {value!r} has the wrong form"))
        return None
    return value


def _organisation(entry: Any, where: str, problems: list[Issue]) -> Organisation | None:
    if not isinstance(entry, dict):
        problems.append(_problem(where, "organisation must be a mapping (name, sor, gln, ...)"))
        return None
    before = len(problems)
    for key in sorted(set(entry) - _ORGANISATION_KEYS, key=str):
        problems.append(_problem(f"{where}.{key}", f"Unknown key {key!r}"))
    name = _text(entry, "name", where, None, problems)
    sor = _text(entry, "sor", where, _SOR, problems)
    gln = _text(entry, "gln", where, _GLN, problems)
    if gln is not None and not gln_check_digit_ok(gln):
        problems.append(_problem(f"{where}.gln", f"gln {gln!r} fails the GS1 check digit"))
    municipality = _text(entry, "municipality", where, _MUNICIPALITY, problems, required=False)
    provider_number = _text(entry, "provider_number", where, _PROVIDER, problems, required=False)
    if len(problems) > before or name is None or sor is None or gln is None:
        return None
    return Organisation(name, sor, gln, municipality, provider_number)


def _scopes(value: Any, where: str, problems: list[Issue]) -> ScopeSet | None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.append(_problem(where, "scopes must be a list of scope strings"))
        return None
    try:
        return ScopeSet.parse(value)
    except IssueError as error:
        problems.extend(
            Issue("error", "value", issue.diagnostics, expression=where, message_id="clients.scope-invalid")
            for issue in error.issues
        )
        return None


def _client(entry: Any, where: str, problems: list[Issue]) -> ClientRecord | None:
    if not isinstance(entry, dict):
        problems.append(_problem(where, "Each client must be a mapping"))
        return None
    before = len(problems)
    for key in sorted(set(entry) - _CLIENT_KEYS, key=str):
        problems.append(_problem(f"{where}.{key}", f"Unknown key {key!r}"))
    client_id = _text(entry, "client_id", where, _CLIENT_ID, problems)
    organisation = _organisation(entry.get("organisation"), f"{where}.organisation", problems)
    scopes = _scopes(entry.get("scopes"), f"{where}.scopes", problems)
    rate_limit = entry.get("rate_limit")
    if rate_limit is not None and (type(rate_limit) is not int or rate_limit < 1):
        problems.append(_problem(f"{where}.rate_limit", "rate_limit must be a positive whole number per minute"))
    sources = _plan_sources(entry.get("plan_sources", []), f"{where}.plan_sources", organisation, problems)
    sends_as = _sends_as(entry.get("sends_as", []), f"{where}.sends_as", problems)
    if len(problems) > before or client_id is None or organisation is None or scopes is None:
        return None
    return ClientRecord(client_id, organisation, scopes, rate_limit, sources, sends_as)


def _sends_as(value: Any, where: str, problems: list[Issue]) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.append(_problem(where, "sends_as must be a list of SOR codes (quoted)"))
        return frozenset()
    for index, code in enumerate(value):
        if not _SOR.fullmatch(code):
            problems.append(_problem(f"{where}[{index}]", f"{code[:40]!r} is not a SOR code (11-18 digits)"))
    return frozenset(value)


def _plan_sources(value: Any, where: str, organisation: Organisation | None, problems: list[Issue]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.append(_problem(where, "plan_sources must be a list of URIs"))
        return ()
    for index, system in enumerate(value):
        if not _SOURCE_SYSTEM.fullmatch(system):
            problems.append(_problem(f"{where}[{index}]", f"{system[:80]!r} is not an absolute URI (max 500)"))
        elif organisation is not None and sor_of_source(system) not in (None, organisation.sor):
            problems.append(_problem(f"{where}[{index}]", f"{system} is another organisation's SOR namespace"))
    return tuple(value)


def _shared_sources(clients: Mapping[str, ClientRecord]) -> list[Issue]:
    """A plan source system registered for two organisations would let either write the other's plans."""
    owner: dict[str, str] = {}
    problems: list[Issue] = []
    for index, record in enumerate(clients.values()):
        for system in record.plan_sources:
            first = owner.setdefault(system, record.organisation.sor)
            if first != record.organisation.sor:
                problems.append(
                    _problem(f"clients[{index}].plan_sources", f"{system} is registered for SOR {first} already")
                )
    return problems
