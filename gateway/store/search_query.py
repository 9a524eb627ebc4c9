"""FHIR search request parameters parsed into a `SearchQuery` (pure; no database).

Semantics follow FHIR R4 search (http://hl7.org/fhir/R4/search.html): repeating a parameter ANDs the
repetitions, commas inside one value OR its parts, `\\,` escapes a comma.

Unknown or unsupported parameters (an unknown name, a modifier we do not support) follow the client's
`Prefer: handling` (R4 search.html#errors, "Handling Errors"): `handling=strict`, and no preference, refuse them with
400 naming the parameter, as a client filtering on a parameter we do not know would otherwise get more than it
asked for; `handling=lenient` ignores them, and the Bundle's `self` link then lists only the parameters actually
used, which is how the spec lets a client see what was ignored (search.html#conformance: "the server SHALL return
the parameters that were actually used to process the search"). A value that is wrong for a known parameter
(`date=yesterday`) is an error in both modes: it is not an unknown parameter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from gateway.store.dates import date_range
from mappings.issues import Issue, IssueError

SPECIAL_PARAMS = {"_id": "token", "_lastUpdated": "date"}
#: `_id` and `_lastUpdated` live on the resource row, not in the index tables: only these modifiers make sense.
SPECIAL_MODIFIERS = {"_id": {"", "not"}, "_lastUpdated": {""}}
RESULT_PARAMS = {
    "_count",
    "_offset",
    "_include",
    "_revinclude",
    "_sort",
    "_summary",
    "_total",
    "_format",
    "_pretty",
    "_elements",
}
MODIFIERS = {
    "token": {"", "not", "missing"},
    "reference": {"", "missing"},
    "date": {"", "missing"},
    "string": {"", "exact", "contains", "missing"},
}
#: Index tables a `_sort` key can be read from (R4 search.html#sort); reference parameters have no order.
SORTABLE_TYPES = ("string", "date", "token")
#: Types whose search is not over the index tables (the audit trail): sorted by `_id` and `_lastUpdated` only, and
#: neither the start, the end nor the source of a chain or `_has`.
UNINDEXED_TYPES = ("AuditEvent",)
SUMMARY_MODES = ("true", "text", "data", "count", "false")
TOTAL_MODES = ("none", "estimate", "accurate")
_ELEMENT_NAME = re.compile(r"[a-z][A-Za-z0-9]*")
#: Parameters some clients add for their own bookkeeping (fhirpy's `count()` sends `_totalMethod=count`): no
#: meaning to a FHIR server, harmless, so ignored in both handling modes and left out of the `self` link.
CLIENT_PARAMS = {"_totalMethod"}
#: C0 and C1 control characters (Unicode category Cc), NUL included: never part of a search value.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class Criterion:
    """One search parameter occurrence: `name[:modifier]=value1,value2` (values ORed)."""

    name: str
    type: str
    modifier: str
    values: tuple[str, ...]
    target_type: str | None = None  # `subject:Patient=...`; a chain's target type; `_has`'s source type
    #: A chain (`subject:Patient.identifier=x`): the criterion on the target; `_has`: the one on the source.
    chain: Criterion | None = None
    #: `_has`: the source type's reference parameter that points at the searched resource.
    via: str | None = None


@dataclass(frozen=True, slots=True)
class Include:
    source_type: str
    param: str
    target_type: str | None
    reverse: bool = False
    #: `_include:iterate` (R4 search.html#revinclude): applied again to what the includes brought in.
    iterate: bool = False


@dataclass(frozen=True, slots=True)
class SearchQuery:
    resource_type: str
    criteria: tuple[Criterion, ...] = ()
    count: int = 20
    offset: int = 0
    includes: tuple[Include, ...] = ()
    sort: str = "_lastUpdated"
    summary_count: bool = False
    #: `_summary` other than count and false: "true", "text" or "data" (R4 search.html#summary); None: whole.
    summary: str | None = None
    #: `_elements`: the top-level elements to return of each match (R4 search.html#elements); empty: all.
    elements: tuple[str, ...] = ()
    #: `_total` (R4 search.html#total): "none" leaves `Bundle.total` out; "estimate" and "accurate" both count;
    #: "" (not asked): counted when that is cheap (not for a stored result whose later matches are not stored yet).
    total_mode: str = ""
    #: The parameters used to process the search (ignored ones left out): the `self` link and the audit record.
    raw: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    #: False when only the first matches matter (a conditional write's one-or-several): no count query is run and
    #: `SearchPage.total` is the number of matches returned.
    counted: bool = True
    #: The id to store this search's result under when it has more than one page (stable paging); None: page by
    #: offset over the live data (a conditional write, a search inside a batch).
    snapshot: str | None = None
    #: Page through the result stored under this id (a `next` link's `_getpages`) instead of searching again.
    page_of: str | None = None

    @property
    def total_asked(self) -> bool:
        """`_total=accurate` or `estimate`: count even where the server would not (both count exactly)."""
        return self.total_mode in ("accurate", "estimate")


def split_or(value: str) -> tuple[str, ...]:
    parts = re.split(r"(?<!\\),", value)
    return tuple(part.replace("\\,", ",") for part in parts)


def lenient_handling(prefer: str | None) -> bool:
    """True when a `Prefer` header asks for `handling=lenient` (RFC 7240 section 4.4; values are case-insensitive,
    several preferences are comma-separated)."""
    if not prefer:
        return False
    wanted = {part.strip().lower().replace(" ", "").replace('"', "") for part in prefer.split(",")}
    return "handling=lenient" in wanted and "handling=strict" not in wanted


def parse_search(
    resource_type: str,
    pairs: Iterable[tuple[str, str]],
    *,
    param_types: dict[str, dict[str, str]],
    default_count: int = 20,
    max_count: int = 200,
    lenient: bool = False,
    targets: dict[str, dict[str, tuple[str, ...]]] | None = None,
) -> SearchQuery:
    """`param_types` maps resource type -> parameter name -> search type (from `search_params`); `lenient`: ignore
    unknown and unsupported parameters instead of refusing them (`Prefer: handling=lenient`)."""
    pairs = tuple(pairs)
    targets = targets or {}
    used: list[tuple[str, str]] = []
    known = param_types[resource_type]
    criteria: list[Criterion] = []
    includes: list[Include] = []
    issues: list[Issue] = []
    count, offset, sort, summary_count = default_count, 0, "_lastUpdated", False
    summary: str | None = None
    elements: tuple[str, ...] = ()
    total_mode = ""
    for key, value in pairs:
        if _CONTROL.search(key) or _CONTROL.search(value):
            # A NUL byte would end a C string inside a database driver (SQLite matched every row on it).
            issues.append(
                Issue(
                    "error",
                    "invalid",
                    f"Search parameter {key[:40]!r} contains a control character",
                    expression=key[:40],
                    message_id="search.control-character",
                )
            )
            continue
        name, _, modifier = key.partition(":")
        if name in CLIENT_PARAMS:
            continue
        if name in RESULT_PARAMS:
            used.append((key, value))
            if name == "_count":
                count = min(_non_negative(key, value, issues), max_count)
            elif name == "_offset":
                offset = _non_negative(key, value, issues)
            elif name in ("_include", "_revinclude"):
                include = _parse_include(key, value, resource_type, param_types, issues)
                if include:
                    includes.append(include)
            elif name == "_sort":
                issues += _sort_issues(key, value, resource_type, known)
                sort = value
            elif name == "_summary":
                if value not in SUMMARY_MODES:
                    issues.append(_bad(key, f"_summary takes one of {', '.join(SUMMARY_MODES)}, not {value[:40]!r}"))
                summary_count = value == "count"
                summary = value if value in ("true", "text", "data") else None
            elif name == "_elements":
                elements = tuple(part.strip() for part in value.split(",") if part.strip())
                wrong = [part for part in elements if not _ELEMENT_NAME.fullmatch(part)]
                if wrong or not elements:
                    issues.append(_bad(key, f"_elements takes top-level element names, not {value[:40]!r}"))
            elif name == "_total":
                if value not in TOTAL_MODES:
                    issues.append(_bad(key, f"_total takes one of {', '.join(TOTAL_MODES)}, not {value[:40]!r}"))
                total_mode = value
            continue
        if name == "_has":
            criterion = _parse_has(key, value, resource_type, param_types, targets, issues, lenient)
        elif "." in key:
            criterion = _parse_chain(key, value, resource_type, param_types, targets, issues, lenient)
        else:
            criterion = _parse_plain(key, value, resource_type, known, issues, lenient)
        if criterion is not None:
            criteria.append(criterion)
            used.append((key, value))
    if issues:
        raise IssueError(tuple(issues), status=400)
    return SearchQuery(
        resource_type,
        tuple(criteria),
        count=count,
        offset=offset,
        includes=tuple(includes),
        sort=sort,
        summary_count=summary_count,
        summary=summary,
        elements=elements,
        total_mode=total_mode,
        raw=tuple(used),
    )


def _parse_plain(
    key: str, value: str, resource_type: str, known: dict[str, str], issues: list[Issue], lenient: bool
) -> Criterion | None:
    """`name[:modifier]=value` of one of `resource_type`'s own parameters."""
    name, _, modifier = key.partition(":")
    param_type = SPECIAL_PARAMS.get(name) or known.get(name)
    if param_type is None:
        if not lenient:
            issues.append(
                Issue(
                    "error",
                    "not-supported",
                    f"Unknown search parameter {name!r} for {resource_type}; supported: "
                    + ", ".join(sorted([*known, *SPECIAL_PARAMS])),
                    expression=key,
                    message_id="search.unknown-parameter",
                )
            )
        return None
    if name in SPECIAL_PARAMS and modifier not in SPECIAL_MODIFIERS[name]:
        if not lenient:
            issues.append(_bad(key, f"{name} does not take the modifier {modifier!r}"))
        return None
    target_type = None
    if param_type == "reference" and modifier and modifier[:1].isupper():
        target_type, modifier = modifier, ""
    if modifier not in MODIFIERS[param_type]:
        if not lenient:
            issues.append(_bad(key, f"Modifier {modifier!r} is not supported on {param_type} parameter {name!r}"))
        return None
    if modifier == "missing" and value not in ("true", "false"):
        issues.append(_bad(key, ":missing takes true or false"))
        return None
    if value == "":
        issues.append(_bad(key, f"Search parameter {name!r} has an empty value"))
        return None
    return Criterion(name, param_type, modifier, split_or(value), target_type)


def _parse_chain(
    key: str,
    value: str,
    resource_type: str,
    param_types: dict[str, dict[str, str]],
    targets: dict[str, dict[str, tuple[str, ...]]],
    issues: list[Issue],
    lenient: bool,
) -> Criterion | None:
    """`reference[:Type].parameter[:modifier]=value` (R4 search.html#chaining), one level deep. Without `:Type` the
    reference parameter must have exactly one target type (`patient` -> Patient), else the client must name it."""
    head, _, tail = key.partition(".")
    reference, _, target = head.partition(":")
    if resource_type in UNINDEXED_TYPES:
        issues.append(_bad(key, f"{resource_type} searches take no chained parameters"))
        return None
    if param_types[resource_type].get(reference) != "reference":
        if not lenient:
            issues.append(_bad(key, f"{reference!r} is not a reference search parameter of {resource_type}"))
        return None
    if "." in tail:
        issues.append(_bad(key, "Chains go one level deep: reference.parameter"))
        return None
    possible = targets.get(resource_type, {}).get(reference, ())
    if not target:
        if len(possible) != 1:
            issues.append(_bad(key, f"Name the target type of {reference!r}: {reference}:[Type].{tail}"))
            return None
        target = possible[0]
    if target not in param_types or target in UNINDEXED_TYPES or (possible and target not in possible):
        issues.append(_bad(key, f"{reference!r} of {resource_type} does not refer to {target!r} resources"))
        return None
    inner = _parse_plain(tail, value, target, param_types[target], issues, lenient)
    if inner is None:
        return None
    return Criterion(reference, "reference", "", inner.values, target, chain=inner)


def _parse_has(
    key: str,
    value: str,
    resource_type: str,
    param_types: dict[str, dict[str, str]],
    targets: dict[str, dict[str, tuple[str, ...]]],
    issues: list[Issue],
    lenient: bool,
) -> Criterion | None:
    """`_has:Type:reference:parameter[:modifier]=value` (R4 search.html#has): resources that a `Type` resource
    matching `parameter=value` refers to through its `reference` parameter. One level: no nested `_has`."""
    parts = key.split(":", 4)
    if resource_type in UNINDEXED_TYPES:
        issues.append(_bad(key, f"{resource_type} searches take no _has"))
        return None
    if len(parts) < 4 or parts[3] in ("", "_has"):
        issues.append(_bad(key, "_has takes _has:Type:reference:parameter=value (one level)"))
        return None
    source, reference = parts[1], parts[2]
    if source not in param_types or source in UNINDEXED_TYPES:
        issues.append(_bad(key, f"_has: {source!r} is not a resource type searched here"))
        return None
    possible = targets.get(source, {}).get(reference, ())
    if param_types[source].get(reference) != "reference" or (possible and resource_type not in possible):
        issues.append(_bad(key, f"_has: {source}.{reference} is not a reference search parameter to {resource_type}"))
        return None
    inner = _parse_plain(":".join(parts[3:]), value, source, param_types[source], issues, lenient)
    if inner is None:
        return None
    return Criterion("_has", "has", "", inner.values, source, chain=inner, via=reference)


def sort_keys(sort: str) -> list[tuple[str, bool]]:
    """`_sort=a,-b` as [(name, descending)]: the keys in order of precedence (R4 search.html#sort)."""
    return [(part.lstrip("-"), part.startswith("-")) for part in sort.split(",") if part.lstrip("-")]


def _sort_issues(key: str, value: str, resource_type: str, known: dict[str, str]) -> list[Issue]:
    names = sort_keys(value)
    allowed = {"_id", "_lastUpdated"}
    if resource_type not in UNINDEXED_TYPES:
        allowed |= {name for name, kind in known.items() if kind in SORTABLE_TYPES}
    wrong = [name for name, _ in names if name not in allowed]
    if wrong or not names or len(names) != len(value.split(",")):
        return [_bad(key, f"_sort takes a comma-separated list of [-]{{{', '.join(sorted(allowed))}}}, not {value!r}")]
    return []


def _parse_include(
    key: str,
    value: str,
    resource_type: str,
    param_types: dict[str, dict[str, str]],
    issues: list[Issue],
) -> Include | None:
    reverse = key.startswith("_revinclude")
    modifier = key.partition(":")[2]
    if modifier not in ("", "iterate", "recurse"):  # `recurse` is R4's older name for `iterate`
        issues.append(_bad(key, f"{key.partition(':')[0]} takes the modifier :iterate, not {modifier!r}"))
        return None
    iterate = modifier != ""
    parts = value.split(":")
    if len(parts) not in (2, 3) or parts[0] not in param_types:
        issues.append(_bad(key, f"{key} takes SourceType:parameter[:TargetType], not {value!r}"))
        return None
    source, param = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    if param_types[source].get(param) != "reference":
        issues.append(_bad(key, f"{source}:{param} is not a reference search parameter"))
        return None
    if not reverse and not iterate and source != resource_type:
        issues.append(_bad(key, f"_include source type must be {resource_type}, not {source}"))
        return None
    return Include(source, param, target, reverse, iterate)


#: Paging numbers beyond this are refused (the databases' integers are 64-bit; nobody pages a billion deep).
MAX_PAGING_NUMBER = 1_000_000_000


def _non_negative(key: str, value: str, issues: list[Issue]) -> int:
    if not value.isdigit() or int(value) > MAX_PAGING_NUMBER:
        issues.append(_bad(key, f"{key} must be an integer from 0 to {MAX_PAGING_NUMBER}, not {value[:40]!r}"))
        return 0
    return int(value)


def parse_history(
    pairs: Iterable[tuple[str, str]], *, default_count: int, max_count: int
) -> tuple[int, int, str | None]:
    """`_count`, `_offset` and `_since` of a history request (FHIR R4 http.html#history); anything else is 400."""
    count, offset, since = default_count, 0, None
    for key, value in pairs:
        if key in ("_count", "_offset"):
            if not value.isdigit() or int(value) > MAX_PAGING_NUMBER:
                raise IssueError.single(
                    "invalid", f"{key} must be an integer from 0 to {MAX_PAGING_NUMBER}", expression=key
                )
            if key == "_count":
                count = min(int(value), max_count)
            else:
                offset = int(value)
        elif key == "_since":
            try:
                since = date_range(value)[0]
            except ValueError as error:
                raise IssueError.single(
                    "invalid", f"_since {value!r} is not a FHIR instant", expression="_since"
                ) from error
        elif key not in ("_format", "_pretty"):
            raise IssueError.single("not-supported", f"History does not support the parameter {key!r}", expression=key)
    return count, offset, since


#: The parameters of a `next` link into a stored result (HAPI FHIR's names: `_getpages`, `_getpagesoffset`).
PAGING_PARAMS = ("_getpages", "_getpagesoffset", "_count")


def parse_paging(pairs: Sequence[tuple[str, str]]) -> tuple[str, int, int | None] | None:
    """(search id, offset, count or None) of a request for a page of a stored result, or None for a new search.
    Anything else on such a request but `_format` and `_pretty` is refused: the stored search's own parameters
    apply to every page."""
    found = dict(pairs)
    if "_getpages" not in found:
        return None
    issues: list[Issue] = []
    for key, _ in pairs:
        if key not in (*PAGING_PARAMS, "_format", "_pretty"):
            issues.append(_bad(key, f"A page of a stored search takes only {', '.join(PAGING_PARAMS)}, not {key!r}"))
    offset = _non_negative("_getpagesoffset", found.get("_getpagesoffset", "0"), issues)
    count = _non_negative("_count", found["_count"], issues) if "_count" in found else None
    if issues:
        raise IssueError(tuple(issues), status=400)
    return found["_getpages"], offset, count


def expired_search(search_id: str) -> IssueError:
    """410 for a `_getpages` id that is unknown, expired or someone else's (HAPI FHIR answers 410 Gone: "Search ID
    ... does not exist and may have expired"); the three are not told apart."""
    return IssueError.single(
        "not-found",
        f"The search result {search_id[:64]!r} does not exist or has expired; search again",
        expression="_getpages",
        message_id="search.result-expired",
        status=410,
    )


def _bad(key: str, text: str) -> Issue:
    return Issue("error", "invalid", text, expression=key, message_id="search.invalid-parameter")


def query_pairs_without(pairs: Sequence[tuple[str, str]], *names: str) -> list[tuple[str, str]]:
    return [(key, value) for key, value in pairs if key not in names]
