"""The public surface of gateway.delivery is reviewed: adding or removing a name must change this test."""

import gateway.delivery


def test_public_names_are_pinned() -> None:
    assert sorted(gateway.delivery.__all__) == [
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
    assert all(hasattr(gateway.delivery, name) for name in gateway.delivery.__all__)
