"""`uuid5_text` is `str(uuid.uuid5(...))`, character for character: every derived id of every notice depends on it."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from mappings.context import PUBLIC_NOTICE_NAMESPACE
from mappings.uuids import uuid5_text

NAMESPACES = [
    PUBLIC_NOTICE_NAMESPACE,
    uuid.NAMESPACE_URL,
    uuid.NAMESPACE_DNS,
    uuid.UUID(int=0),
    uuid.UUID(int=2**128 - 1),
]


@given(st.sampled_from(NAMESPACES) | st.uuids(), st.text())
def test_is_the_standard_library_uuid5(namespace: uuid.UUID, name: str) -> None:
    assert uuid5_text(namespace, name) == str(uuid.uuid5(namespace, name))


def test_sets_version_and_variant_for_every_variant_digit() -> None:
    # the variant digit is one of 8, 9, a, b depending on the digest: find a name for each and check all four
    seen: dict[str, str] = {}
    for index in range(200):
        name = f"Patient|{index}"
        text = uuid5_text(PUBLIC_NOTICE_NAMESPACE, name)
        seen.setdefault(text[19], name)
        parsed = uuid.UUID(text)
        assert parsed.version == 5 and parsed.variant == uuid.RFC_4122
        assert text == str(uuid.uuid5(PUBLIC_NOTICE_NAMESPACE, name))
    assert sorted(seen) == ["8", "9", "a", "b"]


def test_a_known_id() -> None:
    # RFC 9562 Appendix A.4: UUIDv5 of "www.example.com" in the DNS namespace
    assert uuid5_text(uuid.NAMESPACE_DNS, "www.example.com") == "2ed6657d-e927-568b-95e1-2665a8aea6a2"
