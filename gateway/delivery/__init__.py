"""Reliable delivery of MedCom notices: outbox, retry policy, sender, worker and recipient directory."""

from gateway.delivery.directory import Recipient, RecipientDirectory
from gateway.delivery.outbox import NewNotice, NoticeRecord, NoticeState, Outbox
from gateway.delivery.outcome import AttemptOutcome, Failure, OutcomeKind
from gateway.delivery.policy import AckTimeoutPolicy, RetryDecision, RetryPolicy
from gateway.delivery.sender import HttpxSender, Sender
from gateway.delivery.worker import Worker, WorkerSettings

__all__ = [
    "AckTimeoutPolicy",
    "AttemptOutcome",
    "Failure",
    "HttpxSender",
    "NewNotice",
    "NoticeRecord",
    "NoticeState",
    "Outbox",
    "OutcomeKind",
    "Recipient",
    "RecipientDirectory",
    "RetryDecision",
    "RetryPolicy",
    "Sender",
    "Worker",
    "WorkerSettings",
]
