"""`python -m bench --quick` runs every suite and writes results of the agreed shape (never the timings: the
machine is shared), keeping the run before as previous.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATHS = {"a03", "xdis01", "xdis91", "relay"}
STAGES = {"parse", "plan_lookup", "mapping", "validation"}
EARLIER = {
    "meta": {"seed": 18, "quick": True, "when": "2026-11-30T12:00:00+00:00", "commit": "0" * 40},
    "suites": {"discharge": {}},
    "headline": {"discharge · a03: ms per input": 15.3, "discharge · a03: ratio to orjson floor": 302.0},
}


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    out = tmp_path_factory.mktemp("bench")
    (out / "latest.json").write_text(json.dumps(EARLIER), encoding="utf-8")  # the run before, to keep and plot
    subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "discharge", "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out, json.loads((out / "latest.json").read_text(encoding="utf-8"))


def test_quick_run_writes_latest_and_keeps_previous(results: tuple[Path, dict[str, object]]) -> None:
    out, latest = results
    assert json.loads((out / "previous.json").read_text(encoding="utf-8")) == EARLIER
    assert latest["meta"]["quick"] is True and latest["meta"]["seed"] == 18  # type: ignore[index]
    assert set(latest["suites"]) == {"discharge"}  # type: ignore[arg-type]
    assert set(EARLIER["headline"]) <= set(latest["headline"])  # type: ignore[arg-type]  # the plot's pairs


def test_every_discharge_path_has_its_figures(results: tuple[Path, dict[str, object]]) -> None:
    discharge = results[1]["suites"]["discharge"]  # type: ignore[index]
    assert set(discharge["paths"]) == PATHS
    for path, figures in discharge["paths"].items():
        assert figures["notices"] >= 1, path
        for key in (
            "ms_per_input",
            "inputs_per_s_per_core",
            "ratio_to_orjson_floor",
            "ratio_to_fhir_resources_parse",
            "peak_memory_kib",
            "plan_lookup_uncached_ms",
        ):
            assert _number(figures[key]), (path, key)
        assert set(figures["stages_ms"]) == STAGES and all(map(_number, figures["stages_ms"].values()))
    assert discharge["paths"]["a03"]["notices"] == 4  # HospitalNotification + GP, municipality, coordinator


def test_hl7_parsers_validator_and_memory_are_reported(results: tuple[Path, dict[str, object]]) -> None:
    discharge = results[1]["suites"]["discharge"]  # type: ignore[index]
    assert set(discharge["hl7_parse"]) == {"python_hl7", "hl7apy_whole_message", "parse_hl7v2"}
    assert discharge["hl7_parse"]["python_hl7"]["ratio_to_python_hl7"] == 1.0
    ratio = discharge["validator_vs_fhir_resources"]
    assert ratio["bundles"] == len(ratio["per_bundle"]) >= 1
    assert ratio["min"] <= ratio["median"] <= ratio["max"]
    assert discharge["max_rss_kib"] > 0


def test_headline_figures_are_plotted(results: tuple[Path, dict[str, object]]) -> None:
    out, latest = results
    assert latest["headline"] and all(map(_number, latest["headline"].values()))  # type: ignore[attr-defined]
    assert (out / "latest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_module_with_run_is_a_suite() -> None:
    from bench.__main__ import suites

    assert {"discharge", "intake_ack", "intake_backlog"} <= set(suites())
    assert not [name for name in suites() if name.startswith("bench_")]


@pytest.fixture(scope="module")
def intake(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The two suites that start the gateway and both fixtures as processes, quick."""
    out = tmp_path_factory.mktemp("bench-intake")
    subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "intake_ack", "intake_backlog", "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    latest: dict[str, object] = json.loads((out / "latest.json").read_text(encoding="utf-8"))
    return latest


def test_intake_to_acknowledgement_is_reported_per_rate(intake: dict[str, object]) -> None:
    ack = intake["suites"]["intake_ack"]  # type: ignore[index]
    assert set(ack["phases"]) == {"4/s", "10/s"}
    for rate, phase in ack["phases"].items():
        assert phase["statuses"] == {"202": phase["inputs"]} and phase["server_errors"] == 0, rate
        assert phase["acknowledged_inputs"] == phase["inputs"] and phase["sends_per_input"] >= 4, rate
        for figures in (phase["ack_ms"], phase["intake_post_ms"], *phase["split_ms"].values()):
            assert figures["p50"] <= figures["p99"] <= figures["max"] and _number(figures["p50"]), rate
        assert isinstance(phase["target_met"], bool)
    assert set(ack["headline"]) == {f"A03 intake→ack {p} ms ({r})" for r in ("4/s", "10/s") for p in ("p50", "p99")}


def test_the_backlog_is_reported(intake: dict[str, object]) -> None:
    backlog = intake["suites"]["intake_backlog"]  # type: ignore[index]
    assert backlog["statuses"] == {"202": 40} and backlog["server_errors"] == 0
    assert backlog["notices"] == 20 * 3 + 20 * 4
    assert _number(backlog["intake_p99_ms"]) and _number(backlog["acknowledged_after_last_post_s"])
    assert set(backlog["targets_met"]) == {"no_5xx", "intake_p99", "acknowledged_within_60s"}
    assert all(map(_number, intake["headline"].values()))  # type: ignore[attr-defined]


def test_read_path_reports_both_reads_and_their_stages() -> None:
    from bench import read_path

    result = read_path.run(18, True)
    figures = result["ms_per_request"]
    assert set(figures) == {
        "http_authenticated",
        "http_unauthenticated",
        "token",
        "caller",
        "service",
        "service_open",
        "audit",
        "select",
        "select_visible",
    }
    assert all(map(_number, figures.values()))
    assert _number(result["ratio_authenticated_to_unauthenticated"])
    assert set(result["headline"]) == {
        "authenticated read ms",
        "unauthenticated read ms",
        "authenticated / unauthenticated",
    }
