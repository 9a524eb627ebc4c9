"""A resource written straight into the store, as `author` (an organisation's SOR code), past the REST API's write
checks: what a deployment with `GATEWAY_ENFORCE_REFERENTIAL_INTEGRITY=false`, or data from before that check,
holds. The attacker tests use it to put a reference to a hidden resource in an attacker's own resource, which the
API refuses to write (`tests/security/test_reference_oracle.py`), and show that nothing leaks through it either."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI


def write_directly(app: FastAPI, resource: dict[str, Any], author: str) -> str:
    """Stores `resource` under a new id with `author` as its author; returns the id."""
    resource_id = str(uuid.uuid4())
    with app.state.fhir.store.writing() as tx:
        tx.create({**resource, "id": resource_id}, resource_id=resource_id, author=author)
    return resource_id
