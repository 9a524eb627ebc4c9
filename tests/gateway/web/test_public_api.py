"""The public surface of gateway.web is reviewed: adding or removing a name must change this test."""

import gateway.web


def test_public_names_are_pinned() -> None:
    assert sorted(gateway.web.__all__) == ["PlanNarrator", "install", "plan_pdf_bytes", "router", "xhtml_problems"]
    assert all(hasattr(gateway.web, name) for name in gateway.web.__all__)
