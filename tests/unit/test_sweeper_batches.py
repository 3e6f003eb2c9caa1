"""The sweeper at scale (issue 13): batches over a bounded pool, one drain wait per batch, resumable.

Against the in-memory table and a fake Hermes (pure units: the protocol path is covered by the integration
tests and ``bench.sweep_scale``): what the deadline cuts off is reported as ``remaining`` and untouched — never
deactivated without being deleted — and the next sweep retires exactly that remainder.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from harness.config import CanaryConfig
from harness.core.deadline import Deadline
from harness.net.aws import AwsClients
from harness.net.http import HttpClient, HttpResponse
from harness.sessions.sweeper import sweep
from harness.sessions.synthetic import plain, typed
from tests.unit.fake_dynamodb import FakeDynamoDB, FakeTable

TABLE = "webordinary-edit-sessions"
BASE = "https://edit.webordinary.invalid"


class SlowHermes(HttpClient):
    """Deactivate takes ``delay_s`` and records the session; the platform keeps the record (drain is slow)."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s
        self.deactivated: list[str] = []
        self.in_flight = self.peak = 0
        self._lock = threading.Lock()

    def request(self, method: str, url: str, *, deadline: Deadline, timeout_s: float, json_body: Any = None,
                headers: Any = None, allow_redirects: bool = True) -> HttpResponse:
        with self._lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        time.sleep(self.delay_s)
        with self._lock:
            self.in_flight -= 1
            self.deactivated.append(unquote(urlsplit(url).path.split("/")[-2]))
        return HttpResponse(url, 200, {"Content-Type": "application/json"}, json.dumps({"status": "draining"}).encode(),
                            1.0)


def _table(count: int) -> FakeTable:
    table = FakeTable(TABLE, "sessionId", "userId", page_size=7)
    old = datetime.fromtimestamp(time.time() - 7200, UTC).isoformat().replace("+00:00", "Z")
    for n in range(count):
        table.add(typed({"sessionId": f"session-leak-{n:03d}", "userId": f"TEST_canary-run-r{n:03d}@x.invalid",
                         "status": "active", "createdAt": old}))
    return table


def _config() -> CanaryConfig:
    return CanaryConfig(base_url=BASE, sessions_table=TABLE, test_prefix="TEST_", http_timeout_s=0.5)


def test_a_cut_off_sweep_leaves_the_rest_untouched_and_the_next_one_finishes_it() -> None:
    table = _table(30)
    aws = AwsClients(factory=lambda _service: FakeDynamoDB(table))
    hermes = SlowHermes(delay_s=0.3)
    first = sweep(_config(), aws, hermes, Deadline.after(2.5), dry_run=False, older_than_s=3600, drain_wait_s=0,
                  workers=2, batch_size=4)
    assert first.remaining, "a 2.5 s deadline cannot fit 8 batches of 0.6 s"
    assert set(first.deleted).isdisjoint(first.remaining)
    assert sorted(hermes.deactivated) == sorted(first.deleted)  # nothing deactivated without being deleted
    left = {plain(v)["sessionId"] for v in table.items.values()}
    assert left == set(first.remaining)  # what was cut off is exactly what is still there, untouched

    second = sweep(_config(), aws, hermes, Deadline.after(60), dry_run=False, older_than_s=3600, drain_wait_s=0,
                   workers=2, batch_size=4)
    assert set(second.deleted) == set(first.remaining) and second.remaining == []
    assert table.items == {}


def test_deactivations_run_in_parallel_but_never_above_the_pool_bound() -> None:
    table = _table(24)
    aws = AwsClients(factory=lambda _service: FakeDynamoDB(table))
    hermes = SlowHermes(delay_s=0.05)
    report = sweep(_config(), aws, hermes, Deadline.after(60), dry_run=False, older_than_s=3600, drain_wait_s=0,
                   workers=6, batch_size=12)
    assert len(report.deleted) == 24 and report.remaining == []
    assert 1 < hermes.peak <= 6
