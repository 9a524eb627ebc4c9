"""Reading JSON that others wrote, whose shape is not yet checked (a peer's answer, an operator's Bundle)."""

from __future__ import annotations

from typing import Any


def items(value: Any) -> list[Any]:
    """A JSON array's items; anything else (malformed data, reported elsewhere or not at all) as no items."""
    return value if isinstance(value, list) else []


def entry_keys(entry: Any) -> list[str]:
    """The ways a Bundle entry is referenced within its Bundle: its `fullUrl` and its resource's `Type/id`."""
    if not isinstance(entry, dict):
        return []
    resource = entry.get("resource")
    keys = [str(entry["fullUrl"])] if entry.get("fullUrl") else []
    if isinstance(resource, dict) and resource.get("id"):
        keys.append(f"{resource.get('resourceType')}/{resource['id']}")
    return keys


def repeated_entry(entries: list[Any]) -> tuple[int, str, int] | None:
    """The first entry that repeats an earlier one's `fullUrl` or `Type/id`, as (its position, the key, the earlier
    one's position); None when every entry is one resource. A reference to a repeated key means one entry to one
    reader and another to the next, so a Bundle that has one is refused wherever it is read."""
    seen: dict[str, int] = {}
    for position, entry in enumerate(entries):
        for key in entry_keys(entry):
            earlier = seen.setdefault(key, position)
            if earlier != position:
                return position, key, earlier
    return None


def entry_index(entries: list[Any]) -> dict[str, int]:
    """Each entry's position by the keys it is referenced by (`entry_keys`)."""
    return {key: position for position, entry in enumerate(entries) for key in entry_keys(entry)}


def entry_at(index: dict[str, int], reference: str) -> int | None:
    """The position of the entry `reference` names (its fullUrl, its `Type/id`, or an absolute URL ending in
    `Type/id`: MedCom's tests mix the forms), or None."""
    position = index.get(reference)
    return position if position is not None else index.get("/".join(reference.rstrip("/").split("/")[-2:]))
