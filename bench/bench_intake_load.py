"""Intake under a backlog (issue 18): 1,000 A01/A03 posts for one citizen from 4 concurrent senders, with a
delivery worker running; reports 5xx answers, intake latency p50/p99 and how long after the last post every notice
was acknowledged.

Real processes on loopback: the GP and municipality fixtures, `gateway serve --no-worker` and `gateway worker`,
on SQLite (default) or PostgreSQL. Targets: no 5xx, intake p99 < 500 ms, the queue empty within 60 s of the
last post. The functional version (fewer posts, no timing assertions) is tests/e2e/test_intake_under_load.py.

Run: .venv/bin/python bench/bench_intake_load.py [--posts 1000] [--senders 4] [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support is the shared harness

from tests.support import load, processes, scenario  # noqa: E402


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arguments.add_argument("--posts", type=int, default=1000)
    arguments.add_argument("--senders", type=int, default=4)
    arguments.add_argument("--database-url", default=None)
    options = arguments.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        gp, municipality = processes.fixture("gp", data).start(), processes.fixture("municipality", data).start()
        directory = scenario.write_directory(
            data / "directory.yaml", f"{gp.url}/fhir/$process-message", f"{municipality.url}/fhir/$process-message"
        )
        shared = {"database_url": options.database_url} if options.database_url else {}
        api = processes.gateway(data, directory, name="api", worker_enabled="false", **shared).start(timeout=90)
        worker = processes.worker(data, directory, **shared).start(timeout=90)
        try:
            assert httpx.post(f"{api.url}/plans", json=scenario.plan_document()).status_code == 201
            result = load.run(api.url, load.stays(options.posts), options.senders)
        finally:
            for service in (worker, api, gp, municipality):
                service.stop()
    database = "PostgreSQL" if options.database_url else "SQLite"
    server_errors = sum(n for status, n in result.statuses.items() if status >= 500)
    print(f"{options.posts} posts from {options.senders} senders for one citizen, {database}, worker running")
    print(f"  answers                {dict(sorted(result.statuses.items()))}  (5xx: {server_errors})")
    print(f"  notices made           {result.notices}")
    print(
        f"  intake latency         p50 {result.percentile(50) * 1e3:.0f} ms, p99 {result.percentile(99) * 1e3:.0f} ms"
    )
    print(f"  intake throughput      {options.posts / (result.last_post - result.started):.1f} posts/s")
    if result.queue_empty is None:
        print("  every notice acknowledged: NOT within 300 s of the last post")
    else:
        print(f"  every notice acknowledged {result.queue_empty - result.last_post:.1f} s after the last post")


if __name__ == "__main__":
    main()
