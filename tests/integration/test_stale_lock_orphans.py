"""Issue 14 #5: a killed run's session is an orphan as soon as its run lock is stale, not an hour later.

The lock carries the holder's run id and a lease; once the lease has passed the holder is gone, so the sessions
that run made can only be leftovers: ``cleanup.orphans`` reports them and the default (hourly) sweep removes
them at once, while a young session of a run that still holds its lease is left alone.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from harness.checks import CATALOGUE
from harness.config import load_config
from harness.core.deadline import Deadline
from harness.core.model import Outcome
from harness.core.runner import Runner
from harness.net.aws import AwsClients
from harness.net.http import HttpClient
from harness.sessions.sweeper import sweep
from harness.sessions.synthetic import plain, typed


def _iso(age_s: float) -> str:
    return datetime.fromtimestamp(time.time() - age_s, UTC).isoformat().replace("+00:00", "Z")


def _seed(sandbox: Any, *, lock_expires_in_s: float) -> None:
    now = time.time()
    items = [
        {"sessionId": "TEST_canary-lock", "userId": "TEST_canary-lock", "canary_lock": True,
         "canary_run_id": "run-killed", "ttl": int(now + lock_expires_in_s), "created_at": _iso(300)},
        {"sessionId": "session-of-killed-run", "userId": "TEST_canary-run-killed@canary.webordinary.invalid",
         "canary_run_id": "run-killed", "clientId": "integration-test-client", "status": "active",
         "createdAt": _iso(240)},
        {"sessionId": "session-of-other-run", "userId": "TEST_canary-run-other@canary.webordinary.invalid",
         "canary_run_id": "run-other", "clientId": "integration-test-client", "status": "active",
         "createdAt": _iso(240)},
    ]
    ddb = sandbox.aws.client("dynamodb")
    for item in items:
        ddb.put_item(TableName=sandbox.resources.sessions_table, Item=typed(item))


def _ids(sandbox: Any) -> set[str]:
    ddb = sandbox.aws.client("dynamodb")
    return {plain(i)["sessionId"] for i in ddb.scan(TableName=sandbox.resources.sessions_table)["Items"]}


@pytest.fixture
def config(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    env = sandbox.environment()
    for key, value in env.items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    return load_config({"http_timeout_s": 3}, environ=env)


def test_sessions_of_a_run_whose_lock_is_stale_are_orphans_at_once(sandbox: Any, config: Any) -> None:
    _seed(sandbox, lock_expires_in_s=-30)  # the holder's lease ran out 30 s ago
    report = Runner(CATALOGUE, config=config, aws=AwsClients(), http=HttpClient()).run(
        deadline=Deadline.after(30), check_ids=["cleanup.orphans"])
    (orphans,) = report.checks
    assert orphans.outcome is Outcome.DEGRADED, orphans.message
    assert {x["session_id"] for x in orphans.evidence["leftovers"]} == {"TEST_canary-lock", "session-of-killed-run"}

    swept = sweep(config, AwsClients(), HttpClient(), Deadline.after(30), dry_run=False, older_than_s=3600,
                  drain_wait_s=0.2)
    assert swept.leaked == 1 and swept.stale_locks == 1 and swept.remaining == []
    ids = _ids(sandbox)
    assert "session-of-killed-run" not in ids and "TEST_canary-lock" not in ids
    assert "session-of-other-run" in ids  # young, and its run holds no stale lock: not ours to judge yet


def test_a_live_lease_keeps_its_runs_young_sessions(sandbox: Any, config: Any) -> None:
    _seed(sandbox, lock_expires_in_s=120)  # the holder may still be running its journey
    swept = sweep(config, AwsClients(), HttpClient(), Deadline.after(30), dry_run=True, older_than_s=3600)
    assert (swept.leaked, swept.stale_locks) == (0, 0)
