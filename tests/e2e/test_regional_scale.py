"""Several instances on one PostgreSQL behave as one gateway, and keep per-citizen order through crashes.

Two API processes (`gateway serve --no-worker`) and two delivery workers (`gateway worker`) share one database; the
GP and municipality fixtures receive. While admissions and discharges (A01/A03 pairs) for several citizens are
posted, any of the four processes is killed with SIGKILL and restarted, again and again. Afterwards every notice
has arrived exactly once as each receiver shows it, and each receiver got every citizen's notices in the order
they were made (compared as sequences, not as sorted sets).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import processes, scenario

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
HL7 = {"content-type": "x-application/hl7-v2+er7", "accept": "application/json"}
CITIZENS = ("0102801111", "0203802222", "0304803333", "0405804444")
STAYS = 3
MIN_KILLS = 20


class Posting:
    """Posts to whichever API instance answers, retrying the same bytes (intake dedupes them) until 2xx."""

    def __init__(self, apis: list[processes.Service]) -> None:
        self.apis = apis
        self.turn = 0
        self.retries = 0

    def post(self, path: str, **request: Any) -> httpx.Response:
        deadline = time.monotonic() + 120
        while True:
            api = self.apis[self.turn % len(self.apis)]
            self.turn += 1
            try:
                response = httpx.post(f"{api.url}{path}", timeout=30, **request)
                if response.status_code < 500:
                    return response
            except httpx.TransportError:
                pass
            self.retries += 1
            assert time.monotonic() < deadline, f"no API instance accepted {path}"
            time.sleep(0.2)

    def get(self, path: str) -> Any:
        while True:
            for api in self.apis:
                try:
                    return httpx.get(f"{api.url}{path}", timeout=10).json()
                except (httpx.TransportError, ValueError):
                    time.sleep(0.2)


class CrashLoop(threading.Thread):
    """Every second or two kills a random running process with SIGKILL; each is started again in the background, so
    kills land at any moment of intake and delivery, not in step with the restarts. The last API instance up is
    spared (behind a proxy, clients would otherwise have nobody to talk to); any other process may die."""

    def __init__(self, services: list[processes.Service], seed: int) -> None:
        super().__init__(daemon=True)
        self.services = services
        self.rng = random.Random(seed)
        self.kills: Counter[str] = Counter()
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self._restarting: dict[str, threading.Thread] = {}

    @property
    def total(self) -> int:
        return sum(self.kills.values())

    def wait_for(self, kills: int) -> None:
        while self.total < kills and not self.errors:
            time.sleep(0.05)
        assert not self.errors, self.errors

    def run(self) -> None:
        while not self.stop.is_set():
            time.sleep(self.rng.uniform(1.0, 3.0))
            running = [s for s in self.services if not self._restarting.get(s.name, _DONE).is_alive()]
            if sum(s.name.startswith("api") for s in running) == 1:
                running = [s for s in running if not s.name.startswith("api")]
            if running:
                victim = self.rng.choice(running)
                victim.kill()
                self.kills[victim.name] += 1
                self._restarting[victim.name] = threading.Thread(target=self._restart, args=(victim,), daemon=True)
                self._restarting[victim.name].start()

    def _restart(self, victim: processes.Service) -> None:
        try:
            victim.start(timeout=120)
        except BaseException as error:  # noqa: BLE001 - reported by the test thread
            self.errors.append(error)

    def finish(self) -> None:
        self.stop.set()
        if self.is_alive():
            self.join(timeout=30)
        for thread in self._restarting.values():
            thread.join(timeout=150)
        assert not self.errors, self.errors


_DONE = threading.Thread(target=lambda: None)


def test_two_apis_and_two_workers_on_postgresql_survive_a_crash_loop(
    tmp_path: Path, fresh_postgres_url: str, receivers: tuple[processes.Service, processes.Service]
) -> None:
    gp, municipality = receivers
    # Every delivery takes a moment, so kills land mid-send; the municipality first stores two deliveries and hangs
    # up (the sender never learns they arrived: MedCom's resend case).
    slow = {"kind": "delay", "seconds": 1.2, "count": 1000}
    for receiver, faults in ((gp, [slow]), (municipality, [{"kind": "drop", "after": True, "count": 2}, slow])):
        for fault in faults:
            assert httpx.post(f"{receiver.url}/faults", json=fault).is_success
    directory = processes.directory(tmp_path, gp, municipality)
    shared = {"database_url": fresh_postgres_url}
    apis = [processes.gateway(tmp_path, directory, name=f"api-{n}", worker_enabled="false", **shared) for n in (1, 2)]
    workers = [processes.worker(tmp_path, directory, name=f"worker-{n}", **shared) for n in (1, 2)]
    apis[0].start(timeout=90)  # the first one migrates the new database
    for service in (apis[1], *workers):
        service.start(timeout=90)
    client = Posting(apis)
    for cpr in CITIZENS:
        assert client.post("/plans", json=scenario.plan_for(cpr)).status_code == 201
    loop = CrashLoop([*apis, *workers], seed=20261201)
    inputs = [
        (cpr, scenario.adt_for(sample, cpr, f"{sample[4:7]}-{n}-{stay}", f"{n:02d}{stay:02d}{'0' * 28}"))
        for stay in range(STAYS)
        for n, cpr in enumerate(CITIZENS)
        for sample in ("adt_a01_inpatient_8859-1.hl7", "adt_a03_discharge_8859-1.hl7")
    ]
    citizen_of: dict[str, str] = {}
    try:
        loop.start()
        for index, (cpr, body) in enumerate(inputs):
            # Intake is spread over the crash loop: the last input goes in after the MIN_KILLS-th kill, and the
            # workers deliver what came in so far meanwhile, so the kills land during intake and delivery.
            loop.wait_for(-(-index * MIN_KILLS // (len(inputs) - 1)))
            reply = client.post("/messages", content=body, headers=HL7)
            assert reply.status_code == 202, reply.text
            citizen_of[reply.json()["messageId"]] = cpr
        killed_during_intake = loop.total
        loop.finish()  # the processes are all started again; what was in flight is taken up again
        notices = wait_until_acknowledged(client, len(citizen_of))
    finally:
        loop.finish()
        for service in (*apis, *workers):
            service.stop()
    expected: dict[tuple[str, str], list[str]] = defaultdict(list)
    for notice in notices:  # the gateway lists notices in the order they were made
        expected[(citizen_of[notice["inboundMessageId"]], notice["recipient"])].append(notice["messageHeaderId"])
    key_of = {header: key for key, headers in expected.items() for header in headers}
    seen: dict[tuple[str, str], list[str]] = defaultdict(list)
    raw_deliveries = 0
    for receiver in (gp, municipality):
        accepted = httpx.get(f"{receiver.url}/received", timeout=10).json()["messages"]
        headers = [message["message_header_id"] for message in accepted]
        assert len(headers) == len(set(headers)), f"{receiver.name}: nothing shown twice"
        for header in headers:
            seen[key_of[header]].append(header)
        raw_deliveries += len(httpx.get(f"{receiver.url}/received/raw", timeout=10).json()["deliveries"])
    assert set(seen) == set(expected) and len(expected) == 4 * len(CITIZENS), "municipality, GP, ward, botilbud"
    for key, headers in expected.items():
        assert seen[key] == headers, f"citizen {key[0][:4]}… to {key[1]}: received in the order made"
    assert killed_during_intake >= MIN_KILLS
    print(
        f"crash loop: {loop.total} SIGKILLs ({dict(loop.kills)}; {killed_during_intake} during "
        f"intake), {len(citizen_of)} inbound messages ({client.retries} posts retried), {len(notices)} notices, "
        f"{sum(n['attemptsSinceQueued'] for n in notices)} attempts, {raw_deliveries} deliveries seen by the "
        "receivers; 0 lost, 0 shown twice, per-citizen order kept for every receiver"
    )


def wait_until_acknowledged(client: Posting, inbound: int, timeout: float = 300) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        notices: list[dict[str, Any]] = client.get("/messages?limit=500")
        done = {n["state"] for n in notices} == {"acknowledged"} and len(
            {n["inboundMessageId"] for n in notices}
        ) == inbound
        if done or time.monotonic() > deadline:
            assert done, [(n["id"], n["state"], n["lastError"]) for n in notices if n["state"] != "acknowledged"]
            return notices
        time.sleep(0.5)
