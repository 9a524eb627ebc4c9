"""Recipient directory: where to deliver a notice, looked up by SOR code, GLN (EAN) or municipality code.

The file is YAML (`.yaml`/`.yml`) or JSON (`.json`) with one top-level key, `recipients`, a list of::

    recipients:
      - name: Herlev Kommune, Plejecenter Herlev     # shown to operators
        endpoint: http://127.0.0.1:8082/fhir/$process-message   # where the message Bundle is POSTed
        sor: "953741000016009"                        # SOR code, >= 11 digits (DK-core min-digits-sor)
        gln: "5790001348120"                          # GLN / EAN location number, 13 digits
        municipality: "0163"                          # optional: 4-digit kommunekode (dk-core-municipality-codes)
        provider_number: "123456"                     # optional: GP provider number (ydernummer)
        role: municipality                            # optional free label (gp, municipality, ...)
    senders:                                          # optional: the organisations we send on behalf of
      - name: Region Hovedstadens Psykiatri, afsnit A
        sor: "265161000016000"
        gln: "5790000121526"
        signatory: {family: Jensen, given: [Anne], phone: "38640000", role_code: overlaege}

A sender's `signatory` signs CareCommunication text payloads when the input names no author (HL7 v2 ADT carries
none); `role_code` is from MedCom's `medcom-core-PractitionerRolesSKSadministrativ`.

SOR and GLN are both required because MedCom messaging puts both on every sender and receiver Organization
(`medcom-messaging-organization`: slices SOR-ID 1..1 and EAN-ID 1..). Codes are strings: quote them in YAML so
leading zeros survive. A SOR code, GLN or municipality code may name only one recipient.

Unknown recipients are an `IssueError` with code `business-rule` (HTTP 422 at intake) and message id
`delivery.recipient-unknown`, never a silent drop. Example: `fixtures/directory.example.yaml`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.datafiles import read_yaml_or_json
from mappings.issues import Issue, IssueError

_SOR = re.compile(r"\d{11,}")
_GLN = re.compile(r"\d{13}")
_MUNICIPALITY = re.compile(r"\d{4}")
_PROVIDER = re.compile(r"\d{4,7}")


@dataclass(frozen=True, slots=True)
class Recipient:
    name: str
    endpoint: str
    sor: str
    gln: str
    municipality: str | None = None
    role: str | None = None
    provider_number: str | None = None

    @property
    def key(self) -> str:
        """Stable key for the outbox ordering key `(citizen, recipient)`."""
        return f"sor:{self.sor}"


@dataclass(frozen=True, slots=True)
class Signatory:
    family: str
    given: tuple[str, ...]
    phone: str
    role_code: str | None = None


@dataclass(frozen=True, slots=True)
class SenderOrganisation:
    """An organisation the gateway sends on behalf of (e.g. the discharging hospital department)."""

    name: str
    sor: str
    gln: str
    signatory: Signatory | None = None


class RecipientDirectory:
    def __init__(self, recipients: Sequence[Recipient], senders: Sequence[SenderOrganisation] = ()) -> None:
        self._recipients = tuple(recipients)
        self._senders = {sender.sor: sender for sender in senders} | {sender.gln: sender for sender in senders}
        self._by: dict[tuple[str, str], Recipient] = {}
        problems: list[Issue] = []
        for index, recipient in enumerate(self._recipients):
            for kind, value in (
                ("sor", recipient.sor),
                ("gln", recipient.gln),
                ("municipality", recipient.municipality),
                ("provider_number", recipient.provider_number),
            ):
                if value is None:
                    continue
                if (kind, value) in self._by:
                    problems.append(
                        Issue(
                            "error",
                            "duplicate",
                            f"{kind} {value} names more than one recipient",
                            f"recipients[{index}].{kind}",
                            "directory.duplicate-key",
                        )
                    )
                self._by[(kind, value)] = recipient
        if problems:
            raise IssueError(tuple(problems))

    @classmethod
    def from_file(cls, path: Path) -> RecipientDirectory:
        """Load a YAML or JSON directory file (format in the module docstring)."""
        return cls.from_data(
            read_yaml_or_json(
                path,
                what="recipient directory",
                unreadable="directory.unreadable",
                unparseable="directory.unparseable",
            )
        )

    @classmethod
    def from_data(cls, data: Any) -> RecipientDirectory:
        """Build from already-parsed data (`{"recipients": [...]}`); every problem reported at once."""
        entries = data.get("recipients") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise IssueError.single(
                "structure",
                "the directory needs a top-level list `recipients`",
                expression="recipients",
                message_id="directory.no-recipients",
            )
        recipients: list[Recipient] = []
        problems: list[Issue] = []
        for index, entry in enumerate(entries):
            recipient, issues = _recipient(entry, f"recipients[{index}]")
            problems += issues
            if recipient is not None:
                recipients.append(recipient)
        senders: list[SenderOrganisation] = []
        raw_senders = data.get("senders") or []
        if not isinstance(raw_senders, list):
            problems.append(Issue("error", "structure", "senders must be a list", "senders", "directory.bad-entry"))
            raw_senders = []
        for index, entry in enumerate(raw_senders):
            sender, issues = _sender(entry, f"senders[{index}]")
            problems += issues
            if sender is not None:
                senders.append(sender)
        if problems:
            raise IssueError(tuple(problems))
        return cls(recipients, senders)

    @property
    def recipients(self) -> tuple[Recipient, ...]:
        return self._recipients

    def find(
        self,
        *,
        sor: str | None = None,
        gln: str | None = None,
        municipality: str | None = None,
        provider_number: str | None = None,
    ) -> Recipient:
        """The recipient named by the first given key that is known (SOR, GLN, municipality, provider number)."""
        keys = (("sor", sor), ("gln", gln), ("municipality", municipality), ("provider_number", provider_number))
        for kind, value in keys:
            if value is not None and (kind, value) in self._by:
                return self._by[(kind, value)]
        labels = {"sor": "SOR", "gln": "GLN", "municipality": "municipality", "provider_number": "provider number"}
        asked = ", ".join(f"{labels[k]} {v}" for k, v in keys if v)
        raise IssueError.single(
            "business-rule",
            f"no recipient in the directory for {asked or 'an empty key'}",
            message_id="delivery.recipient-unknown",
        )

    def sender(self, code: str) -> SenderOrganisation:
        """The sending organisation with this SOR code or GLN (422 at intake when unknown)."""
        found = self._senders.get(code)
        if found is None:
            raise IssueError.single(
                "business-rule",
                f"no sender organisation with SOR/GLN {code} in the directory (`senders`)",
                message_id="delivery.sender-unknown",
            )
        return found

    def by_sor(self, code: str) -> Recipient:
        return self.find(sor=code)

    def by_gln(self, code: str) -> Recipient:
        return self.find(gln=code)

    def by_municipality(self, code: str) -> Recipient:
        return self.find(municipality=code)


def _recipient(entry: Any, where: str) -> tuple[Recipient | None, list[Issue]]:
    if not isinstance(entry, dict):
        return None, [Issue("error", "structure", "each recipient is a mapping", where, "directory.bad-entry")]
    problems: list[Issue] = []

    def field(name: str, pattern: re.Pattern[str] | None, required: bool) -> str | None:
        value = entry.get(name)
        if value is None:
            if required:
                problems.append(
                    Issue("error", "required", f"{name} is required", f"{where}.{name}", "directory.missing")
                )
            return None
        text = str(value).strip()
        if not isinstance(value, str) or (pattern is not None and not pattern.fullmatch(text)):
            problems.append(
                Issue("error", "value", f"{name} {value!r} is not valid", f"{where}.{name}", "directory.bad-value")
            )
        return text

    name = field("name", None, True)
    endpoint = field("endpoint", None, True)
    sor = field("sor", _SOR, True)
    gln = field("gln", _GLN, True)
    municipality = field("municipality", _MUNICIPALITY, False)
    role = field("role", None, False)
    provider_number = field("provider_number", _PROVIDER, False)
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        problems.append(
            Issue("error", "value", "endpoint must be an http(s) URL", f"{where}.endpoint", "directory.bad-value")
        )
    if problems or name is None or endpoint is None or sor is None or gln is None:
        return None, problems
    return Recipient(name, endpoint, sor, gln, municipality, role, provider_number), []


def _sender(entry: Any, where: str) -> tuple[SenderOrganisation | None, list[Issue]]:
    problems: list[Issue] = []
    if not isinstance(entry, dict):
        return None, [Issue("error", "structure", "each sender is a mapping", where, "directory.bad-entry")]
    values: dict[str, str] = {}
    for name, pattern in (("name", None), ("sor", _SOR), ("gln", _GLN)):
        value = entry.get(name)
        if not isinstance(value, str) or (pattern is not None and not pattern.fullmatch(value)):
            problems.append(
                Issue("error", "value", f"{name} is missing or invalid", f"{where}.{name}", "directory.bad-value")
            )
        else:
            values[name] = value
    signatory = None
    raw = entry.get("signatory")
    if raw is not None:
        if not isinstance(raw, dict) or not all(isinstance(raw.get(k), str) for k in ("family", "phone")):
            problems.append(
                Issue("error", "value", "signatory needs family and phone", f"{where}.signatory", "directory.bad-value")
            )
        else:
            given = raw.get("given") or []
            signatory = Signatory(raw["family"], tuple(str(g) for g in given), raw["phone"], raw.get("role_code"))
    if problems:
        return None, problems
    return SenderOrganisation(values["name"], values["sor"], values["gln"], signatory), []
