"""Intake to acknowledgement (issue 18): 500 distinct A03 discharges posted at a steady 50 inputs/s; for each, the
time from the start of its POST until every notice made from it was acknowledged by its fixture receiver.

Real processes on loopback (`tests/support/processes.delivery_stack`): the GP and municipality fixtures and
`gateway serve` with its own delivery worker (the README's single-node shape), SQLite. One stay per A03, spread
over 40 citizens with a plan each: each stay's A01 admission is posted first, as fast as the gateway takes them,
and delivered before the paced phase starts (the gateway refuses a discharge whose admission it never saw). The
A03s are then sent open-loop from a pool of threads in this process, each POST started at its slot
(`start + i / rate`) whatever the earlier answers, so a slow gateway meets the same arrival rate instead of
slowing its sender down.

The acknowledgement time is the gateway's own record, not a poll: `GET /messages/{id}` gives each notice's
`ack.receivedAt` (the worker's clock when the fixture's response carrying the MedCom Acknowledgement arrived; the
fixtures acknowledge in the response), with microseconds, against the POST's start on the same system clock.
The attempts' own start and finish times split it (`_split`): up to the first send of the input's notices
(intake, its commit, the worker's pickup) and from there to the last acknowledgement (the worker's sends, one at
a time). Target: p99 < 100 ms at 50 inputs/s. A first phase of 100 A03s at 5/s gives the path's own latency on
a gateway that keeps up.

    python -m bench.intake_ack [--phases 100@5,500@50] [--senders 64] [--citizens 40]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tests.support import load, processes, scenario

TARGET_P99_MS = 100.0


@dataclass
class Post:
    """One paced POST as its sender saw it."""

    slot: float  # seconds after the phase started, when it was due
    started: float  # time.time() at the start of the POST, comparable with the gateway's timestamps
    lateness: float  # seconds it started after its slot (every sender busy, or this process starved)
    seconds: float  # the POST's own latency, to the 202
    status: int  # 0: no answer (the connection failed)
    message_id: str | None
    refusal: str | None  # the answer's body when it was not 202, or why there was none


def paced(base: str, bodies: Sequence[bytes], rate: float, senders: int) -> list[Post]:
    """POST each body at `start + i / rate` from `senders` threads (each its own connection); every answer."""
    posts: list[Post | None] = [None] * len(bodies)
    following = iter(range(len(bodies)))
    lock = threading.Lock()
    begin = time.monotonic() + 0.5  # every thread connected and waiting before the first slot

    def sender() -> None:
        # An idle connection is dropped here before uvicorn's 5 s keep-alive ends it: at a slow rate each thread
        # waits longer than that between posts, and a POST racing the server's close is reset, not retried.
        limits = httpx.Limits(keepalive_expiry=2.0)
        with httpx.Client(base_url=base, timeout=120, limits=limits) as client:
            client.get("/health")
            while True:
                with lock:
                    index = next(following, None)
                if index is None:
                    return
                slot = index / rate
                if (pause := begin + slot - time.monotonic()) > 0:
                    time.sleep(pause)
                lateness = time.monotonic() - begin - slot
                started_wall, started = time.time(), time.perf_counter()
                try:
                    response = client.post("/messages", content=bodies[index], headers=load.HL7)
                except httpx.TransportError as error:  # counted as status 0 with its reason, not a lost thread
                    failed = f"{type(error).__name__}: {error}"
                    posts[index] = Post(slot, started_wall, lateness, time.perf_counter() - started, 0, None, failed)
                    continue
                seconds = time.perf_counter() - started
                accepted = response.status_code == 202
                message, refusal = (response.json()["messageId"], None) if accepted else (None, response.text[:500])
                posts[index] = Post(slot, started_wall, lateness, seconds, response.status_code, message, refusal)

    threads = [threading.Thread(target=sender, name=f"sender-{n}") for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(post is not None for post in posts), "a sender thread died"
    return [post for post in posts if post is not None]


def _instant(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _split(post: Post, notices: list[dict[str, Any]]) -> dict[str, float] | None:
    """Seconds from the POST's start to the last acknowledgement of its notices, and its parts; None if a notice of
    the input was not acknowledged (dead, withheld, still waiting). `to_first_send`: intake, its commit and the
    worker taking up the first notice; `sends`: from that send's start to the last acknowledgement (the worker sends
    one notice at a time), of which `sending` were the HTTP sends themselves (the fixture's validation and
    acknowledgement included) and the rest the worker's bookkeeping between them and other inputs' notices."""
    if not notices or any(n["state"] != "acknowledged" or n["ack"] is None for n in notices):
        return None
    attempts = [attempt for notice in notices for attempt in notice["attempts"]]
    first_send = min(_instant(attempt["startedAt"]) for attempt in attempts)
    acknowledged = max(_instant(notice["ack"]["receivedAt"]) for notice in notices)
    return {
        "ack": acknowledged - post.started,
        "to_first_send": first_send - post.started,
        "sends": acknowledged - first_send,
        "sending": sum(_instant(attempt["finishedAt"]) - _instant(attempt["startedAt"]) for attempt in attempts),
        "attempts": len(attempts),
    }


def _percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


def _ms(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50": _percentile(values, 50) * 1e3,
        "p99": _percentile(values, 99) * 1e3,
        "max": max(values, default=float("nan")) * 1e3,
    }


def phase(base: str, discharges: Sequence[bytes], rate: float, senders: int) -> dict[str, Any]:
    """Post the discharges at `rate`, wait until every notice is acknowledged, read when each was."""
    posts = paced(base, discharges, rate, senders)
    last_post = time.monotonic()
    empty = load.drained(base, timeout=600)
    splits = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for post in posts:
            if post.message_id is not None:
                splits.append(_split(post, client.get(f"/messages/{post.message_id}").json()["notices"]))
    done = [split for split in splits if split is not None]
    statuses = Counter(post.status for post in posts)
    starts = [post.started for post in posts]
    ack = _ms([split["ack"] for split in done])
    return {
        "inputs": len(discharges),
        "rate_per_s": rate,
        "achieved_rate_per_s": (len(posts) - 1) / (max(starts) - min(starts)) if len(posts) > 1 else rate,
        "senders": senders,
        "statuses": {str(status): n for status, n in sorted(statuses.items())},
        "server_errors": sum(n for status, n in statuses.items() if status >= 500),
        "first_refusal": next((post.refusal for post in posts if post.refusal is not None), None),
        "acknowledged_inputs": len(done),
        "unacknowledged_inputs": len(posts) - len(done),
        "sends_per_input": sum(split["attempts"] for split in done) / max(1, len(done)),
        "ack_ms": ack,
        "intake_post_ms": _ms([post.seconds for post in posts]),
        "late_start_ms": _ms([max(0.0, post.lateness) for post in posts]),
        # Where each input's time went (see `_split`).
        "split_ms": {part: _ms([split[part] for split in done]) for part in ("to_first_send", "sends", "sending")},
        "queue_empty_after_last_post_s": None if empty is None else empty - last_post,
        "target_p99_ms": TARGET_P99_MS,
        "target_met": len(done) == len(posts) and ack["p99"] < TARGET_P99_MS,
    }


def measure(phases: Sequence[tuple[int, float]], senders: int, citizens: int) -> dict[str, Any]:
    """One stack and `citizens` plans; the admissions of every phase's stays first, then each phase (`inputs` A03s
    at `rate`/s) in turn, each on an empty queue. Phases are keyed by their rate (`"50/s"`)."""
    total = sum(inputs for inputs, _ in phases)
    cprs = load.citizens(citizens)
    stays = [load.stays(2, cprs[n % citizens], first=n)[0] for n in range(total)]  # round robin over the citizens
    discharges = [discharge for _, discharge in stays]
    measured: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        with processes.delivery_stack(Path(folder), separate_worker=False) as stack:
            base = stack.api.url
            for cpr in cprs:
                assert httpx.post(f"{base}/plans", json=scenario.plan_for(cpr)).status_code == 201
            admitted = load.run(base, [(admission,) for admission, _ in stays], senders=4)
            if set(admitted.statuses) != {202} or admitted.queue_empty is None:
                raise RuntimeError(f"the admissions did not all go through: {dict(admitted.statuses)}")
            for inputs, rate in phases:
                taken, discharges = discharges[:inputs], discharges[inputs:]
                measured[f"{rate:g}/s"] = phase(base, taken, rate, senders)
    return {
        "database": "sqlite",
        "shape": "gateway serve with its delivery worker",
        "citizens": citizens,
        "phases": measured,
    }


#: The issue's figure (500 A03s at 50/s) after the path's own latency on a quiet gateway (100 at 5/s).
PHASES = ((100, 5.0), (500, 50.0))
QUICK_PHASES = ((4, 4.0), (10, 10.0))
#: 15 stays each: a stay's admission stays among its citizen's 50 newest notices to a recipient (`load.citizens`).
CITIZENS = 40


def run(seed: int, quick: bool) -> dict[str, Any]:
    """The suite (PHASES; QUICK_PHASES when quick). The seed is not used: the schedule is fixed."""
    figures = measure(QUICK_PHASES, 4, 4) if quick else measure(PHASES, 64, CITIZENS)
    figures["headline"] = {
        f"A03 intake→ack {part} ms ({rate})": measured["ack_ms"][part]
        for rate, measured in figures["phases"].items()
        for part in ("p50", "p99")
    }
    return figures


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arguments.add_argument("--phases", default="100@5,500@50", help="INPUTS@RATE,... (default 100@5,500@50)")
    arguments.add_argument("--senders", type=int, default=64)
    arguments.add_argument("--citizens", type=int, default=CITIZENS)
    options = arguments.parse_args()
    phases = [(int(inputs), float(rate)) for inputs, rate in (part.split("@") for part in options.phases.split(","))]
    figures = measure(phases, options.senders, options.citizens)
    for rate, measured in figures["phases"].items():
        ack, post = measured["ack_ms"], measured["intake_post_ms"]
        print(f"{measured['inputs']} A03s at {rate} (achieved {measured['achieved_rate_per_s']:.1f}/s), SQLite")
        print(f"  answers                {measured['statuses']}  (5xx: {measured['server_errors']})")
        print(f"  intake→ack             p50 {ack['p50']:.0f} ms, p99 {ack['p99']:.0f} ms, max {ack['max']:.0f} ms")
        print(f"  POST                   p50 {post['p50']:.0f} ms, p99 {post['p99']:.0f} ms")
        for part, split in measured["split_ms"].items():
            print(f"  {part:<22} p50 {split['p50']:.0f} ms, p99 {split['p99']:.0f} ms")
        print(f"  late starts            p99 {measured['late_start_ms']['p99']:.0f} ms")
        if measured["first_refusal"]:
            print(f"  first refusal          {measured['first_refusal']}")
        print(f"  unacknowledged inputs  {measured['unacknowledged_inputs']}; target met: {measured['target_met']}")


if __name__ == "__main__":
    main()
