"""Prometheus metrics (prometheus-client): what an operator watches on a dashboard and alerts on.

| metric | type | labels | from |
|---|---|---|---|
| `gateway_outbox_notices` | gauge | `state` (pending, sending, sent, dead, held) | the database, at scrape time |
| `gateway_outbox_oldest_ready_seconds` | gauge | | how long the longest-waiting deliverable notice waits (worker lag) |
| `gateway_delivery_attempts_total` | counter | `outcome` (delivered, transient, permanent) | this process's worker |
| `gateway_delivery_send_seconds` | histogram | | one send, request to response |
| `gateway_delivery_latency_seconds` | histogram | | intake to positive acknowledgement, per notice |
| `gateway_intake_total` | counter | `kind`, `outcome` (accepted, repeat, refused) | this process's intake |
| `gateway_validation_seconds` | histogram | | profile validation of one notice |

The queue gauges are read from the database when Prometheus scrapes, so every instance reports the whole queue;
the counters and histograms count what this process did (sum them over instances). Each app has its own
`CollectorRegistry`, so several apps in one process (tests) do not collide.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from gateway.clock import Clock
from gateway.delivery import outbox_queue
from gateway.delivery.outbox import Acknowledge, Attempt, Claim, NextStep
from gateway.store.dates import format_instant

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.attempts = Counter(
            "gateway_delivery_attempts", "Delivery attempts by outcome", ["outcome"], registry=self.registry
        )
        self.send_seconds = Histogram(
            "gateway_delivery_send_seconds", "One send, request to response", registry=self.registry
        )
        self.delivery_latency = Histogram(
            "gateway_delivery_latency_seconds",
            "Intake to positive acknowledgement, per notice",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.intake = Counter(
            "gateway_intake", "Inbound messages by kind and outcome", ["kind", "outcome"], registry=self.registry
        )
        self.validation_seconds = Histogram(
            "gateway_validation_seconds", "Profile validation of one notice", registry=self.registry
        )

    def watch_outbox(self, engine: Engine, clock: Clock) -> None:
        """Report the outbox queue (depth per state, worker lag) from the database at every scrape."""
        self.registry.register(OutboxCollector(engine, clock))

    def observe_attempt(self, claim: Claim, attempt: Attempt, step: NextStep) -> None:
        """The worker's observer: one delivery attempt and, when it completed the notice, its latency."""
        self.attempts.labels(attempt.outcome.value).inc()
        self.send_seconds.observe(max(0.0, (attempt.finished_at - attempt.started_at).total_seconds()))
        if isinstance(step, Acknowledge):
            self.delivery_latency.observe(max(0.0, (attempt.finished_at - claim.notice.created_at).total_seconds()))


class OutboxCollector(Collector):
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.engine.connect() as connection, connection.begin():
            depths = outbox_queue.depths(connection)
            oldest = outbox_queue.oldest_ready(connection)
        notices = GaugeMetricFamily("gateway_outbox_notices", "Notices in the outbox by state", labels=["state"])
        for state, count in depths.items():
            notices.add_metric([state], count)
        yield notices
        now = self.clock.now()
        waiting = 0.0 if oldest is None or oldest > format_instant(now) else _seconds_since(oldest, now)
        yield GaugeMetricFamily(
            "gateway_outbox_oldest_ready_seconds", "How long the longest-waiting deliverable notice waits", waiting
        )


def _seconds_since(instant: str, now: datetime) -> float:
    return max(0.0, (now - datetime.fromisoformat(instant.replace("Z", "+00:00"))).total_seconds())
