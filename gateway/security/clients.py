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

A token's scopes are intersected with `scopes` here, so a leaked signing key cannot widen a client's rights, and
removing a client here locks it out at once. The organisation identifiers are what consent decisions
(`mappings.plan.may_disclose`) and audit records (`mappings.audit`) name. Quote codes in YAML so leading zeros
survive. A client id may appear once; unknown keys are errors (a typo such as `scope:` must not silently grant
nothing, or worse). Every problem in the file is reported at once, each located (`clients[2].organisation.sor`).
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
_CLIENT_KEYS = frozenset({"client_id", "organisation", "scopes", "rate_limit"})
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


def gln_check_digit_ok(gln: str) -> bool:
    """GS1 mod-10 check digit (GS1 General Specifications §7.9.1): weights 3,1,3,... from the right."""
    digits = [int(char) for char in gln]
    total = sum(digit * (3 if index % 2 == 0 else 1) for index, digit in enumerate(reversed(digits[:-1])))
    return (10 - total % 10) % 10 == digits[-1]


class ClientRegistry:
    """The registered clients, by `client_id`."""

    def __init__(self, clients: Mapping[str, ClientRecord]) -> None:
        self._clients = dict(clients)

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
        if problems:
            raise IssueError(tuple(problems))
        return cls(clients)

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
    if len(problems) > before or client_id is None or organisation is None or scopes is None:
        return None
    return ClientRecord(client_id, organisation, scopes, rate_limit)
