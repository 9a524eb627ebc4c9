"""`python -m bench`: every benchmark suite in one run, with a fixed seed; JSON results and a plot against the last run.

The registry is the `bench` package itself: every module in it that defines `run(seed: int, quick: bool) -> dict`
is a suite (`discharge`, `read_path`; the HTTP figures are `http_*` modules). A suite returns plain JSON data and
may put the figures worth plotting under `"headline"` (`{label: number}`, lower is better). The older `bench_*.py`
scripts print their own figures and are not suites.

    python -m bench                   # every suite, seed 18 -> bench/results/latest.json (+ previous.json, .png)
    python -m bench --quick           # one small round of each (what the test runs: the shape, not the timings)
    python -m bench --only discharge  # some suites only
    python -m bench --out /tmp/bench  # results elsewhere
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
Suite = Callable[[int, bool], dict[str, Any]]


def suites() -> dict[str, Suite]:
    """Every module of the `bench` package with a `run(seed, quick)`, by module name."""
    found: dict[str, Suite] = {}
    for module in sorted(pkgutil.iter_modules([str(HERE)]), key=lambda m: m.name):
        if module.name.startswith("_") or module.name.startswith("bench_"):
            continue
        loaded = importlib.import_module(f"bench.{module.name}")
        run = getattr(loaded, "run", None)
        if callable(run):
            found[module.name] = run
    return found


def _commit() -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def _validator_build() -> str:
    """Which validator the figures are of: compiled by mypyc (setup.py) or its Python sources, and why."""
    from gateway.validation import BUILD

    if BUILD.runs_compiled:
        return "compiled (mypyc)"
    if BUILD.forced_source:
        return "Python sources (GATEWAY_PURE_PYTHON=1)"
    if BUILD.stale:
        return f"Python sources (not built from the present {', '.join(BUILD.stale)}: reinstall)"
    return "Python sources (not compiled)"


def run_all(seed: int, quick: bool, only: list[str] | None = None) -> dict[str, Any]:
    chosen = suites()
    unknown = sorted(set(only or ()) - set(chosen))
    if unknown:
        raise SystemExit(f"unknown suite(s) {', '.join(unknown)}; known: {', '.join(chosen)}")
    results: dict[str, Any] = {}
    headline: dict[str, float] = {}
    for name, run in chosen.items():
        if only and name not in only:
            continue
        started = time.perf_counter()
        print(f"suite {name} ...", file=sys.stderr, flush=True)
        result = run(seed, quick)
        result.setdefault("wall_seconds", time.perf_counter() - started)
        results[name] = result
        headline.update({f"{name} · {label}": value for label, value in result.get("headline", {}).items()})
    return {
        "meta": {
            "seed": seed,
            "quick": quick,
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": _commit(),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "validator": _validator_build(),
        },
        "suites": results,
        "headline": headline,
    }


def write(results: dict[str, Any], out: Path) -> tuple[Path, Path | None]:
    """latest.json (the last run becomes previous.json) and a plot of the headline figures against the last run."""
    out.mkdir(parents=True, exist_ok=True)
    latest, previous = out / "latest.json", out / "previous.json"
    if latest.exists():
        shutil.move(latest, previous)
    latest.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    before = json.loads(previous.read_text(encoding="utf-8")) if previous.exists() else None
    return latest, plot(results, before, out / "latest.png")


def plot(latest: dict[str, Any], previous: dict[str, Any] | None, target: Path) -> Path | None:
    """Grouped bars, previous run against this one, for every headline figure (log scale: ms and ratios mix)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed (pip install -e '.[bench]'): no plot", file=sys.stderr)
        return None
    labels = list(latest["headline"])
    if not labels:
        return None
    now = [latest["headline"][label] for label in labels]
    then = [(previous or {}).get("headline", {}).get(label, 0.0) for label in labels]
    figure, axes = plt.subplots(figsize=(10, 0.45 * len(labels) + 1.5))
    positions = range(len(labels))
    axes.barh([p + 0.2 for p in positions], then, height=0.4, label=_label(previous, "previous"), color="#bbbbbb")
    axes.barh([p - 0.2 for p in positions], now, height=0.4, label=_label(latest, "latest"), color="#1f77b4")
    axes.set_yticks(list(positions), labels, fontsize=8)
    axes.invert_yaxis()
    axes.set_xscale("log")
    axes.set_xlabel("lower is better (log scale)")
    axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, fontsize=8, frameon=False)
    figure.tight_layout()
    figure.savefig(target, dpi=100)
    plt.close(figure)
    return target


def _label(results: dict[str, Any] | None, name: str) -> str:
    if results is None:
        return f"{name}: none"
    meta = results["meta"]
    return f"{name}: {(meta.get('commit') or '?')[:8]} {meta['when']}{' (quick)' if meta['quick'] else ''}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=18, help="seed of the measuring order (default 18)")
    parser.add_argument("--quick", action="store_true", help="one small round per figure: shape, not timings")
    parser.add_argument("--only", nargs="+", metavar="SUITE", help="run these suites only")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder (default bench/results)")
    args = parser.parse_args(argv)
    results = run_all(args.seed, args.quick, args.only)
    latest, picture = write(results, args.out)
    for label, value in results["headline"].items():
        print(f"{label:<60} {value:10.2f}")
    print(f"wrote {latest}" + (f" and {picture}" if picture else ""))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
