"""Primitive value checks: the linear-time base64Binary check decides exactly what R4's regex decides."""

from __future__ import annotations

import base64
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.validation import default_validator
from gateway.validation.primitives import BASE64_REGEX, Base64Pattern

REGEX = re.compile(BASE64_REGEX)
FAST = Base64Pattern()

# the alphabet, Unicode whitespace the regex's \s knows (and a separator it does not), and a few outsiders
characters = st.sampled_from(list("ABZaz09+/=") + [" ", "\n", "\t", "\u2003", "\x1c", "\u200b", "-", "_", "é", "*"])


@settings(max_examples=2000, deadline=None, database=None)
@given(value=st.text(characters, max_size=14))
def test_base64_check_agrees_with_the_r4_regex(value: str) -> None:
    assert bool(FAST.fullmatch(value)) == bool(REGEX.fullmatch(value)), repr(value)


def test_base64_check_reaches_both_verdicts() -> None:
    assert FAST.fullmatch(base64.b64encode(b"synthetic attachment").decode())
    assert FAST.fullmatch("QUJD\nREVG")
    assert not FAST.fullmatch("QUJ")
    assert not FAST.fullmatch("QU JD")
    assert not FAST.fullmatch("   ")


def test_the_validator_uses_it_for_base64binary() -> None:
    validator = default_validator()
    assert isinstance(validator.regex("base64Binary"), Base64Pattern)
    attachment = {"resourceType": "Binary", "contentType": "application/pdf", "data": "QUJD REVG"}
    assert validator.validate(attachment).ok
    broken = dict(attachment, data="QUJDR")
    assert ("validation.primitive-format", "Binary.data") in {
        (i.message_id, i.expression) for i in validator.validate(broken).errors
    }


def test_uri_verdicts_are_kept_for_short_values_within_a_bound() -> None:
    from gateway.validation.primitives import _SEEN_LENGTH, _SEEN_VALUES, UriPattern

    pattern = UriPattern(None, examples=False, absolute=True)
    for _ in range(2):  # the second time from what was kept, with the same verdicts
        assert pattern.fullmatch("http://medcomfhir.dk/ig/core/StructureDefinition/medcom-core-patient") is True
        assert pattern.fullmatch("no-scheme") is False
        assert pattern.fullmatch("http://example.org/fhir/Patient/1") is False
    assert pattern.seen == {
        "http://medcomfhir.dk/ig/core/StructureDefinition/medcom-core-patient": True,
        "no-scheme": False,
        "http://example.org/fhir/Patient/1": False,
    }
    long_value = "urn:x:" + "a" * _SEEN_LENGTH
    assert pattern.fullmatch(long_value) is True and long_value not in pattern.seen
    for number in range(_SEEN_VALUES + 100):
        pattern.fullmatch(f"urn:x:{number}")
        assert len(pattern.seen) <= _SEEN_VALUES
    # emptied when full, so a value that recurs from now on is kept again
    assert "http://medcomfhir.dk/ig/core/StructureDefinition/medcom-core-patient" not in pattern.seen
    assert pattern.fullmatch("urn:x:kept-again") is True and pattern.seen["urn:x:kept-again"] is True
