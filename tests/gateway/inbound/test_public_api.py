"""The public surface of `gateway.inbound` is pinned."""

import gateway.inbound


def test_all_is_pinned() -> None:
    assert sorted(gateway.inbound.__all__) == [
        "DEFAULT_LIMITS",
        "Limits",
        "build_hl7_ack",
        "parse_fhir_message",
        "parse_hl7v2",
        "parse_oioxml",
    ]
    for name in gateway.inbound.__all__:
        assert hasattr(gateway.inbound, name)
