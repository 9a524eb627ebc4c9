"""The pages in a real browser: Debian's Chromium driven by Playwright, against a real gateway process.

Scenario (issue 12): sign in with a printed link, read the plan, add a wish, withdraw consent for one member and see
that member's API read turn to 404, print to PDF; axe-core (vendored, `vendor/axe-core`) finds no serious or
critical WCAG 2.1 A/AA violation on any page; screenshots at phone and desktop widths go to
`tests/browser/screenshots/` (ignored by git).

Chromium runs headless with the flags this machine's closed network needs (no background connections) and a fresh
profile per test run. Outside CI the tests skip when Chromium or Playwright is missing; under `CI=true` they fail.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pypdf
import pytest
import yaml

from gateway.security.tokens import LocalSigningKey, issue_token
from tests.support import processes, scenario

CHROMIUM = Path("/usr/bin/chromium")
HERE = Path(__file__).parent
AXE = HERE / "vendor" / "axe-core" / "axe.min.js"
SCREENSHOTS = HERE / "screenshots"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
CLIENTS = [
    {
        "client_id": "region",  # the FACT team: the demo plan's source is its SOR namespace
        "organisation": {"name": "FACT-team Nord", "sor": "329631000016003", "gln": "5790000555550"},
        "scopes": ["system/*.cruds", "system/Messages.cr"],
    },
    {
        "client_id": "gp",
        "organisation": {
            "name": "Lægerne i Slagelse Bymidte",
            "sor": "481561000016002",
            "gln": "5790000167814",
            "provider_number": "012345",
        },
        "scopes": ["system/CarePlan.rs", "system/CareTeam.rs", "system/Goal.rs", "system/Consent.rs"],
    },
]


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists():
        return "Debian's chromium is not installed (apt-get install -y chromium chromium-driver)"
    return None


@pytest.fixture(scope="module", autouse=True)
def chromium_present() -> None:
    missing = _browser_missing()
    if missing and os.environ.get("CI"):
        pytest.fail(f"browser tests must run in CI: {missing}")
    if missing:
        pytest.skip(missing)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[processes.Service]:
    data = tmp_path_factory.mktemp("gateway")
    (data / "clients.yaml").write_text(yaml.safe_dump({"clients": CLIENTS}, allow_unicode=True), "utf-8")
    directory = scenario.write_directory(data / "directory.yaml", "http://127.0.0.1:9/gp", "http://127.0.0.1:9/k")
    service = processes.gateway(data, directory, insecure_no_auth="false", worker_enabled="false").start()
    try:
        yield service
    finally:
        service.stop()


def token(service: processes.Service, client: str) -> dict[str, str]:
    data = Path(service.env["GATEWAY_DATA_DIR"])
    scopes = next(c["scopes"] for c in CLIENTS if c["client_id"] == client)
    signed = issue_token(
        LocalSigningKey.load_or_create(data),
        client_id=client,
        scopes=" ".join(scopes),
        issuer="urn:careplan-gateway:local",
        audience="https://careplan-gateway.example/fhir",
        now=datetime.now(UTC),
        lifetime=timedelta(minutes=10),
    )
    return {"Authorization": f"Bearer {signed}"}


def sign_in_link(service: processes.Service, *arguments: str) -> str:
    """`gateway sign-in-link ...` as an operator runs it; the printed link, pointed at the test's port."""
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "sign-in-link", *arguments],
        env={**os.environ, **service.env},
        capture_output=True,
        text=True,
        check=True,
    )
    link = result.stdout.strip()
    assert "/app/sign-in/" in link, result.stdout + result.stderr
    return service.url + link[link.index("/app/sign-in/") :]


@pytest.fixture(scope="module")
def plan_id(gateway: processes.Service) -> str:
    response = httpx.post(f"{gateway.url}/plans", json=scenario.plan_document(), headers=token(gateway, "region"))
    assert response.status_code == 201, response.text
    return str(response.json()["planId"])


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport=PHONE,
            bypass_csp=True,  # axe-core is injected as a script; the pages' CSP allows only their own files
            locale="da-DK",
        )
        try:
            yield context
        finally:
            context.close()


def accessibility_problems(page: Any) -> list[str]:
    """Serious and critical axe-core violations of WCAG 2.0/2.1 A and AA on the current page."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """async () => await axe.run(document, {runOnly: {type: 'tag',
             values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"""
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def look(page: Any, name: str) -> None:
    """Screenshots at phone and desktop width, and the accessibility check at both."""
    SCREENSHOTS.mkdir(exist_ok=True)
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
        assert accessibility_problems(page) == [], f"{name} at {label} width"
    page.set_viewport_size(PHONE)


def test_citizen_signs_in_reads_adds_a_wish_withdraws_consent_and_prints(
    browser: Any, gateway: processes.Service, plan_id: str
) -> None:
    page = browser.new_page()
    page.goto(f"{gateway.url}/app")
    look(page, "01-front")

    page.goto(sign_in_link(gateway, "--cpr", scenario.CPR))
    look(page, "02-sign-in")
    page.get_by_role("button", name="Log ind").click()
    page.wait_for_url("**/app/mig")
    assert page.get_by_role("heading", level=1).inner_text() == "Din plan, Søren Ærling Østergård"
    assert page.get_by_text("At bo i egen lejlighed tæt på min søster om et par år.").is_visible()
    assert page.get_by_text("Ved indlæggelse ønsker jeg ikke at få Haldol.").is_visible()
    look(page, "03-citizen")

    page.get_by_role("radio", name="Drøm").check()
    page.get_by_label("Med dine egne ord").fill("At tage toget til Skagen med Ida til sommer.")
    page.get_by_role("button", name="Gem").click()
    page.wait_for_url("**/app/mig?gemt=wish")
    assert page.get_by_role("status").inner_text() == "Dit ønske er gemt i planen."
    assert page.get_by_text("At tage toget til Skagen med Ida til sommer.").is_visible()

    gp_read = f"{gateway.url}/fhir/CarePlan/{plan_id}"
    assert httpx.get(gp_read, headers=token(gateway, "gp")).status_code == 200
    page.get_by_role("button", name="Luk for Peter Æbelø").click()
    page.wait_for_url("**/app/mig?gemt=consent")
    assert httpx.get(gp_read, headers=token(gateway, "gp")).status_code == 404, "effective on the next request"
    assert page.get_by_role("button", name="Giv lov til Peter Æbelø").is_visible()
    look(page, "04-citizen-after")

    pdf = browser.request.get(f"{gateway.url}/app/mig/{plan_id}/plan.pdf")
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.body())).pages)
    assert "At tage toget til Skagen med Ida til sommer." in text and "Søren Ærling Østergård" in text

    page.emulate_media(media="print")
    assert not page.get_by_role("button", name="Gem").is_visible(), "the print stylesheet hides the forms"
    printed = page.pdf(format="A4")
    (SCREENSHOTS / "05-citizen-printed.pdf").write_bytes(printed)
    assert "Søren Ærling Østergård" in pypdf.PdfReader(io.BytesIO(printed)).pages[0].extract_text()
    page.emulate_media(media="screen")

    page.get_by_role("button", name="Log ud").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Du er logget ud"
    look(page, "06-signed-out")


def test_team_page_for_the_plans_author_in_the_browser(browser: Any, gateway: processes.Service, plan_id: str) -> None:
    document = httpx.get(f"{gateway.url}/plans/{plan_id}", headers=token(gateway, "region")).json()
    document["coordination"] |= {"meeting_date": "2025-06-03", "next_meeting": "2025-09-02"}
    document["interventions"][1]["status"] = "completed"
    put = httpx.put(f"{gateway.url}/plans/{plan_id}", json=document, headers=token(gateway, "region"))
    assert put.status_code == 200, put.text
    page = browser.new_page()
    page.goto(sign_in_link(gateway, "--client", "region"))
    page.get_by_role("button", name="Log ind").click()
    page.wait_for_url("**/app/plans")
    look(page, "07-organisation-home")
    page.goto(f"{gateway.url}/app/plans/{plan_id}")
    assert page.get_by_role("heading", name="Ændret siden sidste koordinationsmøde").is_visible()
    assert page.get_by_text("Status: Ikke startet → Færdig").is_visible()
    assert page.get_by_role("heading", name="Borgerens beskeder").is_visible()
    look(page, "08-team")
    page.goto(f"{gateway.url}/app/plans/not-a-plan")
    assert page.get_by_role("heading", level=1).inner_text() == "Siden findes ikke"
    look(page, "09-not-found")


def test_a_paused_plan_stays_on_the_citizens_page_marked_as_paused(
    browser: Any, gateway: processes.Service, plan_id: str
) -> None:
    """The plan put on hold by its author (stop 27: the page said "no shared plan yet"); put back afterwards."""
    region = token(gateway, "region")
    document = httpx.get(f"{gateway.url}/plans/{plan_id}", headers=region).json()
    try:
        paused = httpx.put(f"{gateway.url}/plans/{plan_id}", json=document | {"status": "on-hold"}, headers=region)
        assert paused.status_code == 200, paused.text
        page = browser.new_page()
        page.goto(sign_in_link(gateway, "--cpr", scenario.CPR))
        page.get_by_role("button", name="Log ind").click()
        page.wait_for_url("**/app/mig")
        assert page.get_by_text("Din plan er sat på pause for en tid.").is_visible()
        assert page.get_by_role("heading", name="Hvem må se hvad").is_visible()
        look(page, "10-citizen-paused")
    finally:
        httpx.put(f"{gateway.url}/plans/{plan_id}", json=document, headers=region).raise_for_status()


def test_screenshot_folder_is_ignored_by_git() -> None:
    ignored = (HERE.parent.parent / ".gitignore").read_text("utf-8")
    assert "tests/browser/screenshots/" in ignored
