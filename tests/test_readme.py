"""The README runs as a test (issue 17): every shell block as pasted, with real processes, printing what its
comments say; every JSON block parses and the plan document example is one. Conventions and the port question:
`tests/support/readme.py`."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from mappings.documents.plan import parse_plan_document
from tests.support.readme import (
    README,
    ROOT,
    SERVE,
    Block,
    blocks,
    clone_like,
    machine_lock,
    missing_output,
    readme_blocks,
    run_block,
)

BLOCKS = readme_blocks()
INSTALL_AND_SERVE = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/gateway serve"
INSTALL_AND_TEST = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest"


@pytest.mark.e2e
@pytest.mark.parametrize(
    "block",
    [block for block in BLOCKS if block.language == "bash" and "skip" not in block.directives],
    ids=lambda block: block.name,
)
def test_readme_block_runs_as_pasted_and_prints_what_it_says(block: Block, tmp_path: Path) -> None:
    code, output = run_block(block, clone_like(tmp_path / "clone"))
    assert code == 0, f"README block {block.name} failed with exit status {code}:\n{output[-6000:]}"
    missing = missing_output(block.expected_output(), output)
    assert not missing, f"README block {block.name} did not print {missing[0]!r}:\n{output[-6000:]}"


def test_the_readme_starts_with_the_two_commands_and_ci_runs_the_second() -> None:
    first = BLOCKS[0]
    assert (first.language, first.code.splitlines()) == ("bash", [INSTALL_AND_SERVE, INSTALL_AND_TEST])
    before = README.read_text("utf-8").split("```", 1)[0].splitlines()
    assert [line for line in before if line and not line.startswith("<!--")] == ["# careplan-gateway"]
    assert INSTALL_AND_TEST in (ROOT / ".ci" / "run").read_text("utf-8").splitlines()
    # a `serve` block starts what the first command leaves running
    assert INSTALL_AND_SERVE.endswith(" && " + SERVE.split(" >", 1)[0])


def test_every_skipped_block_says_why() -> None:
    assert all(block.directives["skip"] for block in BLOCKS if "skip" in block.directives)


def test_json_blocks_parse_and_the_plan_document_example_is_valid() -> None:
    json_blocks = [block for block in BLOCKS if block.language == "json"]
    for block in json_blocks:
        data = json.loads(block.code)
        if "plan-document" in block.directives:
            parse_plan_document(data)
    assert any("plan-document" in block.directives for block in json_blocks)


# --- the conventions themselves -------------------------------------------------------------------------------

SAMPLE = """# Title

## Section
<!-- readme-test: skip: needs Docker -->
```bash
docker compose up
```

## Another
```bash
# an explanation, not output
echo one    # a trailing explanation
# one

echo "two
three"
# two
# three
```
"""


def test_blocks_carry_their_heading_directives_and_expected_output() -> None:
    skipped, shown = blocks(SAMPLE)
    assert (skipped.heading, skipped.directives, skipped.line) == ("Section", {"skip": "needs Docker"}, 5)
    assert (shown.heading, shown.directives) == ("Another", {})
    assert shown.expected_output() == ["one", "two", "three"]


def test_an_unknown_directive_is_an_error_not_a_silent_run() -> None:
    with pytest.raises(ValueError, match="unknown readme-test directive 'skipp'"):
        blocks("<!-- readme-test: skipp -->\n```bash\ntrue\n```\n")


@pytest.mark.parametrize(
    ("expected", "output", "missing"),
    [
        (["HTTP/1.1 201 Created", 'etag: W/"1"'], 'HTTP/1.1 201 Created\r\netag: W/"1"\r\n', []),
        (['{"planId":"<id>","created":true,…}'], '{"planId":"dc88-f9","created":true,"x":1}\n', []),
        (["a  b   c"], "a b c\n", []),  # columns: any run of spaces
        (["second", "first"], "first\nsecond\n", ["first"]),  # in order
        (['{"status":"ok"}', "HTTP/1.1 201 Created"], '{"status":"ok"}HTTP/1.1 201 Created\r\n', []),  # no newline
        (['{"planId":"<id>"}'], '{"planId":"a b"}\n', ['{"planId":"<id>"}']),  # a value has no spaces
    ],
)
def test_shown_output_matches_with_wildcards_and_in_order(expected: list[str], output: str, missing: list[str]) -> None:
    assert missing_output(expected, output) == missing


def test_a_host_network_block_runs_on_the_machines_loopback(tmp_path: Path) -> None:
    block = Block("bash", "echo $((6 * 7))\n# 42\n", 1, "sample", {"host-network": ""})
    code, output = run_block(block, clone_like(tmp_path / "clone"), ports=())
    assert (code, missing_output(block.expected_output(), output)) == (0, [])


def test_the_machine_lock_refuses_a_taken_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"port {port} is taken"), machine_lock((port,)):
            pass


# --- Troubleshooting: what the README shows is what the code prints -------------------------------------------

START = """
.venv/bin/gateway serve > gateway.log 2>&1 &
curl -s --retry 30 --retry-connrefused --retry-delay 1 localhost:8080/health
"""
#: The FACT team's client writes the demo plan (its source is the team's namespace).
KEEPER = """
.venv/bin/gateway clients add fact-team --name 'FACT-team Nord' --sor 329631000016003 --gln 5790000555550 \\
     --scope 'system/*.cruds' --scope system/Messages.cru
AUTH="Authorization: Bearer $(.venv/bin/gateway token create --client fact-team)"
curl -sS --fail-with-body -X POST localhost:8080/plans -H "$AUTH" -H 'Content-Type: application/json' \\
     --data-binary @fixtures/samples/demo/plan.json
"""
#: Each Troubleshooting entry (its `###` heading), reproduced: the README's ```text block must be in the output.
REPRODUCTIONS = {
    "The gateway does not answer": "curl -sS --fail-with-body http://127.0.0.1:8080/fhir/metadata || true\n",
    "Port 8080 is taken": START + ".venv/bin/gateway serve || true\n",
    "401: the request carries no valid token": START
    + "curl -sS --fail-with-body localhost:8080/fhir/CarePlan || true\n",
    "422: no recipient directory": START
    + KEEPER
    + """
.venv/bin/gateway clients add ward --name 'Psykiatrisk Center Øst' --sor 265161000016000 --gln 5790000209354 \\
     --scope system/Messages.cru
WARD="Authorization: Bearer $(.venv/bin/gateway token create --client ward)"
curl -sS --fail-with-body -X POST localhost:8080/messages -H "$WARD" -H 'Accept: application/json' \\
     -H 'Content-Type: x-application/hl7-v2+er7' --data-binary @fixtures/samples/inbound/adt_a03_discharge_8859-1.hl7 \\
     || true
""",
    "403: the message names another sender": START
    + KEEPER
    + """
curl -sS --fail-with-body -X POST localhost:8080/messages -H "$AUTH" -H 'Accept: application/json' \\
     -H 'Content-Type: x-application/hl7-v2+er7' --data-binary @fixtures/samples/inbound/adt_a03_discharge_8859-1.hl7 \\
     || true
""",
    "`gateway messages list` finds no database": "mkdir elsewhere && cd elsewhere\n"
    + "../.venv/bin/gateway messages list || true\n",
}


def troubleshooting() -> dict[str, Block]:
    """The ```text block of each `###` entry under "## Troubleshooting"."""
    text = README.read_text("utf-8")
    section = text.split("\n## Troubleshooting\n", 1)[1].split("\n## ", 1)[0]
    return {block.heading: block for block in blocks("## Troubleshooting\n" + section) if block.language == "text"}


def test_every_troubleshooting_entry_is_reproduced() -> None:
    assert sorted(troubleshooting()) == sorted(REPRODUCTIONS)
    assert len(REPRODUCTIONS) == 6


@pytest.mark.e2e
@pytest.mark.parametrize("heading", sorted(REPRODUCTIONS))
def test_troubleshooting_shows_what_the_code_prints(heading: str, tmp_path: Path) -> None:
    shown = troubleshooting()[heading]
    reproduction = Block("bash", REPRODUCTIONS[heading], 0, heading)
    code, output = run_block(reproduction, clone_like(tmp_path / "clone"))
    assert code == 0, output[-4000:]
    missing = missing_output([line for line in shown.code.splitlines() if line], output)
    assert not missing, f"{heading}: the README shows {missing[0]!r}, the code printed:\n{output[-4000:]}"
