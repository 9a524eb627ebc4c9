"""CPR numbers never reach a log line: messages, arguments, URLs, tracebacks."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.security.masking import CPR_MASK, PrivacyFilter, install_privacy_filter, mask_cpr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CPR 0101709998 admitted", f"CPR {CPR_MASK} admitted"),
        ("CPR 010170-9998 admitted", f"CPR {CPR_MASK} admitted"),
        (
            "GET /fhir/Patient?identifier=urn:oid:1.2.208.176.1.2|2509479989",
            f"GET /fhir/Patient?identifier=urn:oid:1.2.208.176.1.2|{CPR_MASK}",
        ),
        (
            "?identifier=urn%3Aoid%3A1.2.208.176.1.2%7C2509479989",
            f"?identifier=urn%3Aoid%3A1.2.208.176.1.2%7C{CPR_MASK}",
        ),
        ("cpr=251248%2D9996", f"cpr={CPR_MASK}"),
        ("name=a%200101709998&x=%3D0101709998", f"name=a%20{CPR_MASK}&x=%3D{CPR_MASK}"),
        (
            '{"system":"urn:oid:1.2.208.176.1.2","value":"2512489996"}',
            f'{{"system":"urn:oid:1.2.208.176.1.2","value":"{CPR_MASK}"}}',
        ),
        ("urn:oid:1.2.208.176.1.2#2509479989", f"urn:oid:1.2.208.176.1.2#{CPR_MASK}"),
        ("two: 0101709998,3112999999.", f"two: {CPR_MASK},{CPR_MASK}."),
        # percent- and +-encoded, as a URL decoder reads them (issue 11)
        ("name=%30%31%30%31%37%30%39%39%39%38&x=1", f"name={CPR_MASK}&x=1"),
        ("q=0101%37%309%3998", f"q={CPR_MASK}"),
        ("q=010170+9998&r=2", f"q={CPR_MASK}&r=2"),
        ("CPR 010170 9998.", f"CPR {CPR_MASK}."),
        ("q=1%30101709998", "q=1%30101709998"),  # twelve digits decoded, eleven as written: no CPR number
        ("tlf. +45 20 30 40 50, 100%25", "tlf. +45 20 30 40 50, 100%25"),
        # not CPR numbers: left alone
        ("SOR 953741000016009 GLN 5790001348120", "SOR 953741000016009 GLN 5790001348120"),
        ("unix time 1767225600", "unix time 1767225600"),
        ("day 32: 3201709998, month 13: 0113709998", "day 32: 3201709998, month 13: 0113709998"),
        ("11 digits 01017099981", "11 digits 01017099981"),
        ("9 digits 010170999", "9 digits 010170999"),
        ("oid 1.2.208.176.1.2", "oid 1.2.208.176.1.2"),
    ],
)
def test_mask_cpr(text: str, expected: str) -> None:
    assert mask_cpr(text) == expected


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(PrivacyFilter())
    logger = logging.getLogger("tests.masking")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_message_and_tuple_args_are_masked(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    logger.info("plan for %s at %s", "0101709998", "/fhir/CarePlan?subject:Patient.identifier=x|010170-9998")
    logger.info("literal 2509479989 in the message")
    assert "9998" not in stream.getvalue() and "2509479989" not in stream.getvalue()
    assert stream.getvalue().count(CPR_MASK) == 3


def test_dict_args_and_objects_are_masked(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured

    class Url:
        def __str__(self) -> str:
            return "https://gp.example/fhir/Patient?identifier=2509479989"

    logger.info("%(who)s via %(url)s", {"who": "2509479989", "url": Url()})
    assert "2509479989" not in stream.getvalue()


def test_int_arg_under_percent_d_still_logs_masked(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    logger.info("number %d, status %d", 2509479989, 200)
    assert "2509479989" not in stream.getvalue()
    assert "200" in stream.getvalue()


def test_exception_text_is_masked(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    try:
        raise ValueError("no patient 2509479989")
    except ValueError:
        logger.exception("lookup failed for %s", "2509479989")
    output = stream.getvalue()
    assert "2509479989" not in output
    assert "ValueError: no patient xxxxxx-xxxx" in output


def test_uvicorn_access_args_keep_their_shape() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/fhir/Patient?identifier=urn:oid:1.2.208.176.1.2|2509479989", "1.1", 200),
        None,
    )
    assert PrivacyFilter().filter(record)
    assert isinstance(record.args, tuple) and len(record.args) == 5  # uvicorn's AccessFormatter unpacks them
    assert record.getMessage() == (
        f'127.0.0.1:5000 - "GET /fhir/Patient?identifier=urn:oid:1.2.208.176.1.2|{CPR_MASK} HTTP/1.1" 200'
    )


def test_install_attaches_once_to_root_uvicorn_and_their_handlers() -> None:
    root = logging.getLogger()
    handler = logging.StreamHandler(io.StringIO())
    root.addHandler(handler)
    try:
        first = install_privacy_filter()
        second = install_privacy_filter()
        assert first is second
        for target in (root, handler, logging.getLogger("uvicorn.access"), logging.getLogger("uvicorn.error")):
            assert sum(isinstance(item, PrivacyFilter) for item in target.filters) == 1
        # a child logger's record reaches the root handler masked
        logging.getLogger("gateway.tests.child").warning("citizen %s", "2509479989")
        assert "2509479989" not in handler.stream.getvalue()
    finally:
        root.removeHandler(handler)
        for item in [item for item in handler.filters if isinstance(item, PrivacyFilter)]:
            handler.removeFilter(item)
        for other in root.handlers:
            for item in [item for item in other.filters if isinstance(item, PrivacyFilter)]:
                other.removeFilter(item)
        for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access"):
            logger = logging.getLogger(name)
            for item in [item for item in logger.filters if isinstance(item, PrivacyFilter)]:
                logger.removeFilter(item)


_cprs = st.builds(
    lambda day, month, year, serial, hyphen: f"{day:02d}{month:02d}{year:02d}{'-' if hyphen else ''}{serial:04d}",
    st.integers(1, 31),
    st.integers(1, 12),
    st.integers(0, 99),
    st.integers(0, 9999),
    st.booleans(),
)
_surroundings = st.text(alphabet=st.characters(blacklist_categories=("Nd",)), max_size=20)


@given(_surroundings, _cprs, _surroundings)
def test_any_cpr_between_non_digits_is_masked(before: str, cpr: str, after: str) -> None:
    masked = mask_cpr(before + cpr + after)
    assert cpr not in masked and cpr.replace("-", "") not in masked
    assert CPR_MASK in masked
