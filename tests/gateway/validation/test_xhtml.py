"""Narrative XHTML: txt-1 (only basic HTML, no scripts or event handlers), txt-2 (not empty), internal links."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.validation import Validator
from gateway.validation.xhtml import broken_links, has_content, language_problem, narrative_problems

NS = 'xmlns="http://www.w3.org/1999/xhtml"'


@pytest.mark.parametrize(
    ("div", "problem"),
    [
        (f"<div {NS}><script>alert(1)</script>x</div>", "<script> is not allowed"),
        (f'<div {NS}><p onclick="steal()">x</p></div>', "'onclick' is not allowed on <p>"),
        (f'<div {NS}><a href="javascript:steal()">x</a></div>', "scripts are not allowed"),
        (f"<div {NS}><form>x</form></div>", "<form> is not allowed"),
        (f"<div {NS}><p>x<div>y</div></p></div>", "<div> is not allowed inside a paragraph"),
        ("<div>x</div>", "must be a <div> in the namespace"),
        (f"<p {NS}>x</p>", "must be a <div>"),
        (f"<div {NS}>a&nbsp;b</div>", "not well-formed"),
        (f'<div {NS}><a href="a b">x</a></div>', "characters a URL may not"),
    ],
)
def test_a_narrative_outside_the_allowed_html_is_refused(div: str, problem: str) -> None:
    assert any(problem in found for found in narrative_problems(div)), narrative_problems(div)


@pytest.mark.parametrize(
    "div",
    [
        f'<div {NS}><p>Plan for <b>Søren</b></p><table><tr><td colspan="2">x</td></tr></table></div>',
        f'<div {NS} xml:lang="da" lang="da"><a name="top"> </a><img src="data:image/png;base64,iVBOR" alt="x"/></div>',
    ],
)
def test_a_narrative_of_basic_html_passes(div: str) -> None:
    assert narrative_problems(div) == ()


def test_an_empty_narrative_has_no_content_but_an_image_counts() -> None:
    assert not has_content(f"<div {NS}> <p/> </div>")
    assert has_content(f'<div {NS}><img src="x.png"/></div>')


def _patient(div: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "text": {"status": "generated", "div": div}}


def test_txt_1_and_txt_2_are_errors_at_the_div(validator: Validator) -> None:
    script = validator.validate(_patient(f"<div {NS}><script>x</script>y</div>"))
    assert [(i.message_id, i.expression) for i in script.errors] == [("validation.invariant", "Patient.text.div")]
    assert "txt-1" in script.errors[0].diagnostics and "<script>" in script.errors[0].diagnostics
    empty = validator.validate(_patient(f"<div {NS}>  </div>"))
    assert [(i.expression, i.diagnostics[:5]) for i in empty.errors] == [("Patient.text.div", "txt-2")]


def test_an_internal_link_must_point_at_an_anchor_or_a_contained_resource(validator: Validator) -> None:
    patient = _patient(
        f'<div {NS}><a name="top"> </a><a href="#c1">contact</a> <a href="#top">top</a> <a href="#nowhere">x</a></div>'
    )
    patient["contained"] = [{"resourceType": "Organization", "id": "c1", "name": "Botilbuddet"}]
    patient["contact"] = [{"organization": {"reference": "#c1"}}]
    assert broken_links(patient) == [("Patient.text.div", "#nowhere")]
    errors = {(i.message_id, i.expression) for i in validator.validate(patient).errors}
    assert ("validation.narrative-link", "Patient.text.div") in errors


@pytest.mark.parametrize(
    ("control", "sections", "language", "problem"),
    [
        (("_no",), ["da", "en"], None, "not allowed"),
        (("_no",), [], None, None),
        (("_yes",), [], None, "needs language sections"),
        (("_resource",), ["de", "pt"], "da", "needs a section for da"),
        (("_resource",), ["da"], "da", None),
        (("en",), ["da"], None, "needs a section for en"),
    ],
)
def test_narrative_language_control(
    control: tuple[str, ...], sections: list[str], language: str | None, problem: str | None
) -> None:
    div = f"<div {NS}>" + "".join(f'<div xml:lang="{s}" lang="{s}">tekst</div>' for s in sections) + "</div>"
    found = language_problem(control, div, language)
    assert (found is None) if problem is None else (found is not None and problem in found)
