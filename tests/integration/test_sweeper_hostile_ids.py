"""Red-team finding 1 (issue 14): a synthetic item with a hostile ``sessionId`` must not retire a real session.

Before the fix the sweeper put the raw id in the Hermes URL: ``<real>/deactivate?x=`` or ``x/../<real>`` passed
the prefix guard (the item's userId is synthetic) and the POST deactivated the platform's own session. Now the id
is refused before anything is sent; the synthetic record itself is still removed by its exact key.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from harness.config import load_config
from harness.core.deadline import Deadline
from harness.net.aws import AwsClients
from harness.net.http import HttpClient
from harness.sessions.sweeper import sweep
from harness.sessions.synthetic import plain, typed

REAL = "session-7f3c2a9e-platform"  # the platform's own session, seeded by the sandbox
HOSTILE = [f"{REAL}/deactivate?x=", f"x/../{REAL}", f"{REAL}#", f"{REAL}?", f"../{REAL}", f"x/./../{REAL}"]


def _iso(age_s: float) -> str:
    return datetime.fromtimestamp(time.time() - age_s, UTC).isoformat().replace("+00:00", "Z")


def _items(sandbox: Any) -> dict[str, dict[str, Any]]:
    ddb = sandbox.aws.client("dynamodb")
    items = ddb.scan(TableName=sandbox.resources.sessions_table)["Items"]
    return {i["sessionId"]: i for i in (plain(x) for x in items)}


def test_a_hostile_synthetic_session_id_never_reaches_a_real_session(sandbox: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    env = sandbox.environment()
    for key, value in env.items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    config = load_config({"http_timeout_s": 3}, environ=env)
    before = _items(sandbox)
    assert not before[REAL]["userId"].startswith("TEST_")
    ddb = sandbox.aws.client("dynamodb")
    for n, session_id in enumerate(HOSTILE):
        ddb.put_item(TableName=sandbox.resources.sessions_table, Item=typed({
            "sessionId": session_id, "userId": f"TEST_canary-hostile-{n}@canary.webordinary.invalid",
            "clientId": "integration-test-client", "status": "active", "createdAt": _iso(7200)}))

    report = sweep(config, AwsClients(), HttpClient(), Deadline.after(60), dry_run=False, older_than_s=3600,
                   drain_wait_s=0.5)

    assert report.deactivated == []  # nothing was sent to Hermes for any hostile id
    assert len(report.implausible) == len(HOSTILE)
    assert set(report.deleted) == set(HOSTILE) and report.remaining == []
    time.sleep(sandbox.ready_delay_s + 0.5)  # a deactivate would have drained the real session by now
    after = _items(sandbox)
    assert after[REAL] == before[REAL]  # untouched: same status, same record
    assert set(after) == set(before)
