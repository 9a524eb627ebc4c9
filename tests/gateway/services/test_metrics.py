"""The worker's metrics: attempts by outcome, send time, and intake-to-acknowledgement latency per notice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import generate_latest

from gateway.delivery.outbox import Acknowledge, AckRecord, Attempt, AwaitAck, Claim, NoticeRecord, NoticeState
from gateway.delivery.outcome import OutcomeKind
from gateway.services.metrics import Metrics

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def claim() -> Claim:
    notice = NoticeRecord("n", "in", "h", "c", "r", "http://x", "hn", {}, NoticeState.SENDING, 1, T0)
    return Claim(notice, "token")


def test_attempts_send_time_and_latency_are_observed() -> None:
    metrics = Metrics()
    sent = Attempt("b1", T0 + timedelta(seconds=10), T0 + timedelta(seconds=11), OutcomeKind.DELIVERED)
    metrics.observe_attempt(claim(), sent, AwaitAck(T0 + timedelta(minutes=30)))
    acked = Attempt("b2", T0 + timedelta(seconds=20), T0 + timedelta(seconds=20.5), OutcomeKind.DELIVERED)
    metrics.observe_attempt(claim(), acked, Acknowledge(AckRecord("a", "b", "ok", T0)))
    failed = Attempt("b3", T0, T0, OutcomeKind.TRANSIENT)
    metrics.observe_attempt(claim(), failed, AwaitAck(T0))
    text = generate_latest(metrics.registry).decode()
    assert 'gateway_delivery_attempts_total{outcome="delivered"} 2.0' in text
    assert 'gateway_delivery_attempts_total{outcome="transient"} 1.0' in text
    assert "gateway_delivery_send_seconds_count 3.0" in text
    assert "gateway_delivery_latency_seconds_count 1.0" in text, "only an acknowledged notice has a latency"
    assert "gateway_delivery_latency_seconds_sum 20.5" in text
