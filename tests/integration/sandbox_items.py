"""What the tests read back from the sandbox: its synthetic items, and a bounded wait for the platform to react."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from harness.sessions.synthetic import is_synthetic


def synthetic_items(sandbox: Any) -> list[dict[str, Any]]:
    """Every synthetic item in the sessions table, read straight from moto (all pages)."""
    ddb = sandbox.aws.client("dynamodb")
    items: list[dict[str, Any]] = []
    for page in ddb.get_paginator("scan").paginate(TableName=sandbox.resources.sessions_table):
        items.extend(i for i in page["Items"] if is_synthetic(i, "TEST_"))
    return items


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    """For the test's own waiting on the sandbox (the platform drains asynchronously)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()
