"""Two commits' REST figures on one corpus, interleaved in one run: what a change did, on a machine that drifts.

`bench.http_load` reports requests per second of the server's CPU time. On this shared 2-core machine a process's
CPU time for the same work moves by 3x and more between hours (the host's other guests; a guest's CPU time
includes what it cannot see taken), so figures from different runs cannot be compared. This script builds the
corpus of `bench.plan_corpus` once, then starts `gateway serve` from this checkout and from a `git worktree` of
`--against` in turn, drives the same cases with the same load generator against each, and prints per case the
median per-core figure of each side and their ratio: both sides see the same machine within minutes.

The order alternates, round by round (this, against, then against, this, ...; the first from the seed), so an
even number of rounds cancels a drift within the run. There is one: in six pairs of in-process reads on one SQLite
file, the second of a pair took 2-47 % more CPU whichever code it ran. The database grows under every run (its
AuditEvents, and here the deep result `deep_page` stores at each start); that it is the cause is a guess.

Both commits must share the database schema (the same migration head): the corpus is built once, by this
checkout. `--against` defaults to `HEAD~1`.

Run: .venv/bin/python -m bench.http_compare [--against REV] [--plans 10000] [--databases sqlite,postgresql]
     [--cases read,status_region] [--rounds 4] [--seconds 6]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import http_load, plan_corpus

ROOT = http_load.ROOT


@contextmanager
def worktree(revision: str) -> Iterator[Path]:
    """A detached checkout of `revision`, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="bench-against-")) / "tree"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), revision], check=True, stdout=sys.stderr
    )
    try:
        yield folder
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder)], check=False)
        shutil.rmtree(folder.parent, ignore_errors=True)


def migration_head(root: Path) -> str:
    """The newest migration file's name (revisions are numbered in order: `0013_...`)."""
    versions = root / "gateway" / "store" / "migrations" / "versions"
    return max(path.name for path in versions.glob("[0-9]*.py"))


def compare(
    against: Path, plans: int, databases: list[str], cases: list[str], rounds: int, seconds: float, seed: int
) -> dict[str, Any]:
    rng = random.Random(seed)
    sides = {"this": ROOT, "against": against}
    results: dict[str, Any] = {}
    for database in databases:
        with http_load._database(database) as (url, folder):
            settings = plan_corpus.settings_for(folder, url)
            engine = plan_corpus.build(settings, plans)
            ids = plan_corpus.one_of_each(engine)
            engine.dispose()
            per_core: dict[str, dict[str, list[float]]] = {name: {side: [] for side in sides} for name in cases}
            p99: dict[str, dict[str, list[float]]] = {name: {side: [] for side in sides} for name in cases}
            first = list(sides)
            rng.shuffle(first)
            for round_number in range(rounds):
                order = first if round_number % 2 == 0 else first[::-1]
                for side in order:
                    with _served(sides[side], folder, url) as (base, pid):
                        chosen = {n: c for n, c in http_load._cases(settings, ids, plans, base).items() if n in cases}
                        for name, case in chosen.items():
                            figures = http_load._drive(base, pid, case, seconds, seed)
                            per_core[name][side].append(figures["per_core"] or 0.0)
                            p99[name][side].append(figures["p99_ms"] or 0.0)
                    print(f"http_compare {database} round {round_number + 1}: {side}", file=sys.stderr, flush=True)
            results[database] = {
                name: {
                    "per_core": {side: statistics.median(values) for side, values in per_core[name].items()},
                    "p99_ms": {side: statistics.median(values) for side, values in p99[name].items()},
                    "ratio": round(
                        statistics.median(per_core[name]["this"]) / statistics.median(per_core[name]["against"]), 2
                    ),
                }
                for name in cases
            }
    return results


@contextmanager
def _served(root: Path, folder: Path, url: str) -> Iterator[tuple[str, int]]:
    """`gateway serve` from `root`'s code (the server imports from its working directory)."""
    saved = http_load.ROOT
    http_load.ROOT = root
    try:
        with http_load._server(folder, url) as served:
            time.sleep(0.5)
            yield served
    finally:
        http_load.ROOT = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--against", default="HEAD~1")
    parser.add_argument("--plans", type=int, default=10_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--cases", default="read,patient,status,date,status_region,deep_page")
    parser.add_argument("--rounds", type=int, default=4, help="even, so that the alternating order balances")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=18)
    arguments = parser.parse_args()
    with worktree(arguments.against) as against:
        if migration_head(against) != migration_head(ROOT):
            raise SystemExit(
                f"{arguments.against} has migration head {migration_head(against)}, this checkout "
                f"{migration_head(ROOT)}: the corpus is built once, so both must share the schema"
            )
        result = compare(
            against,
            arguments.plans,
            arguments.databases.split(","),
            arguments.cases.split(","),
            arguments.rounds,
            arguments.seconds,
            arguments.seed,
        )
    print(json.dumps({"against": arguments.against, "plans": arguments.plans, "databases": result}, indent=2))


if __name__ == "__main__":
    main()
