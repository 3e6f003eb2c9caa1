"""Safety over sequences (DESIGN §1): whatever runs, failures, kills and sweeps happen, in whatever order, no item
without the test prefix is ever deleted or changed, and one clean sweep leaves nothing synthetic behind.

tests/unit/test_synthetic.py proves the single-shot property (one sweep, one set of undos, one lock) against
adversarial tables. This one drives *histories* through the real code paths: the Runner running the real
``session.lifecycle`` journey with the real DynamoRunLock, against an in-memory sessions table and a fake
platform (Hermes, the edit container, the preview, the WebSocket) that can fail at any step or lose its answer;
runs whose cleanup is throttled half-way; runs killed before any cleanup (SIGKILL: items and a held lock stay);
the platform's own activity (users come and go, near-miss user ids, an item squatting on the lock's key); and
the real sweeper, dry or not, at any age limit. A hypothesis state machine explores the interleavings.
"""

from __future__ import annotations

import copy
import json
import posixpath
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from harness.checks import CATALOGUE
from harness.config import CanaryConfig
from harness.core.deadline import Deadline
from harness.core.errors import CheckFailed, TransientFailure, Verdict
from harness.core.model import Outcome, Reason
from harness.core.runner import Runner
from harness.net.aws import AwsClients
from harness.net.http import HttpClient, HttpResponse
from harness.sessions.run_lock import DynamoRunLock
from harness.sessions.sweeper import SweepReport, sweep
from harness.sessions.synthetic import is_synthetic, plain, run_id_of, typed
from harness.sessions.testdata import SyntheticData
from tests.unit.fake_dynamodb import FakeDynamoDB, FakeTable

PREFIX = "TEST_"
TABLE = "webordinary-edit-sessions"
BASE = "https://edit.webordinary.invalid"
HERMES = f"{BASE}/hermes"
# Where the fake platform fails a journey (each is a real failure path of the check and its undo).
FAILURES = (None, "activate_500", "activate_500_after_write", "lost_answer", "status_wrong", "preview_404",
            "ws_refused", "deactivate_500")
# User ids the platform itself uses: real ones, and near misses of the prefix that must never count as synthetic.
PLATFORM_USERS = st.one_of(
    st.sampled_from(["scott@ameliastamps.com", "alice@example.com", "TEST", "test_bob", "Test_carol", " TEST_x",
                     "xTEST_", "TEST-dave", ""]),
    st.text(alphabet="abcdefgTEST_@.-", max_size=8).filter(lambda u: not u.startswith(PREFIX)),
)
STATUSES = ("initializing", "active", "draining", "expired")
# Session ids a red team would plant on a synthetic item to make a request address a real session (issue 14).
HOSTILE_SHAPES = ("{real}/deactivate?x=", "x/../{real}", "../{real}", "{real}#", "{real}?x=", "x/./../{real}",
                  "x%2F..%2F{real}", "%2e%2e/{real}", "{real}/", "./{real}")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


class ThrottlingDynamoDB:
    """The in-memory table behind a switch: once armed, every call after the first ``allowed`` is throttled."""

    def __init__(self, inner: FakeDynamoDB) -> None:
        self.inner = inner
        self._lock = threading.Lock()
        self._allowed: int | None = None
        self.throttled = 0

    def arm(self, allowed: int | None) -> None:
        with self._lock:
            self._allowed = allowed

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                if self._allowed is not None:
                    if self._allowed <= 0:
                        self.throttled += 1
                        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
                                          name)
                    self._allowed -= 1
            return attr(*args, **kwargs)

        return call


class FakePlatform(HttpClient):
    """Hermes, the edit container, the preview and the HMR WebSocket behind the ALB, over the in-memory table.

    Hermes looks sessions up by id alone (as the real one does); ``violations`` records any time a request from
    the canary made it change an item that is not synthetic.
    """

    def __init__(self, table: FakeTable, clock: Callable[[], float]) -> None:
        super().__init__()
        self.table = table
        self.clock = clock
        self.failure: str | None = None
        self.violations: list[str] = []
        self._lock = threading.Lock()

    def _items_of(self, session_id: str) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
        return [(k, v) for k, v in sorted(self.table.items.items()) if plain(v).get("sessionId") == session_id]

    @staticmethod
    def _json(url: str, status: int, body: Any) -> HttpResponse:
        return HttpResponse(url, status, {"Content-Type": "application/json"}, json.dumps(body).encode(), 1.0)

    def request(self, method: str, url: str, *, deadline: Deadline, timeout_s: float, json_body: Any = None,
                headers: Any = None, allow_redirects: bool = True) -> HttpResponse:
        deadline.check(f"{method} {url}")
        # Worst case of what a server may see: the URL as requests puts it on the wire (dot segments removed),
        # then decoded whole (as a proxy that decodes %2F would) and normalised again.
        wire = str(requests.Request(method, url).prepare().url)
        path = posixpath.normpath(unquote(urlsplit(wire).path))
        with self._lock:
            return self._answer(method, url, path, json_body)

    def _answer(self, method: str, url: str, path: str, body: Any) -> HttpResponse:
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/hermes/api/sessions/activate":
            return self._activate(url, body)
        if path.startswith("/hermes/api/sessions/") and len(parts) == 5:
            session_id, action = parts[3], parts[4]
            found = self._items_of(session_id)
            if method == "GET" and action == "status":
                if not found:
                    return self._json(url, 404, {"statusCode": 404})
                record = plain(found[0][1])
                said = "expired" if self.failure == "status_wrong" else record.get("status")
                return self._json(url, 200, {"status": said, "previewUrl": f"{BASE}/session/{session_id}"})
            if method == "POST" and action == "deactivate":
                if self.failure == "deactivate_500":
                    return self._json(url, 500, {"error": "Internal Server Error"})
                if not found:
                    return self._json(url, 404, {"statusCode": 404})
                key, item = found[0]
                if not is_synthetic(item, PREFIX):
                    self.violations.append(f"deactivate reached platform item {plain(item)}")
                self.table.items[key] = {**item, "status": {"S": "draining"}}
                return self._json(url, 200, {"status": "draining"})
        if method == "GET" and path == "/api/health":
            return self._json(url, 200, {"status": "healthy"})
        if method == "GET" and path.startswith("/session/"):
            if self.failure == "preview_404":
                return HttpResponse(url, 404, {"Content-Type": "text/html"}, b"<html>Not found</html>", 1.0)
            page = f"<!doctype html><html><title>preview</title><body>{parts[-1]}</body></html>"
            return HttpResponse(url, 200, {"Content-Type": "text/html"}, page.encode(), 1.0)
        return self._json(url, 404, {"statusCode": 404})

    def _activate(self, url: str, body: Any) -> HttpResponse:
        if self.failure == "activate_500":
            return self._json(url, 500, {"error": "Tasks cannot be empty"})
        session_id = f"session-{uuid.uuid4()}"
        now = self.clock()
        self.table.add(typed({"sessionId": session_id, "userId": body["userId"], "clientId": body["clientId"],
                              "threadId": f"thread-{session_id[-8:]}", "status": "active",
                              "createdAt": _iso(now), "lastActivity": int(now * 1000), "ttl": int(now) + 1800}))
        if self.failure == "activate_500_after_write":
            return self._json(url, 500, {"error": "timed out waiting for the container"})
        if self.failure == "lost_answer":
            raise TransientFailure(Reason.CONNECTION_ERROR, f"connection to {url} failed: ConnectionResetError")
        return self._json(url, 200, {"sessionId": session_id, "status": "active",
                                     "previewUrl": f"{BASE}/session/{session_id}"})

    def websocket_hello(self, url: str, *, deadline: Deadline, timeout_s: float,
                        headers: Any = None) -> tuple[str, float, float]:
        if self.failure == "ws_refused":
            raise CheckFailed(Reason.WS_REFUSED, "WebSocket upgrade refused with HTTP 403", {"url": url})
        return '{"type":"connected"}', 1.0, 2.0


class SafetyMachine(RuleBasedStateMachine):
    """Histories of canary runs, kills, sweeps and platform activity over one sessions table."""

    @initialize(sort_key=st.booleans(), page_size=st.integers(min_value=1, max_value=4))
    def setup(self, sort_key: bool, page_size: int) -> None:
        self.table = FakeTable(TABLE, "sessionId", "userId" if sort_key else None, page_size=page_size)
        self.ddb = ThrottlingDynamoDB(FakeDynamoDB(self.table))
        self.aws = AwsClients(factory=lambda _service: self.ddb)
        self.offset_s = 0.0  # how far the histories' clock has moved past the wall clock
        self.platform = FakePlatform(self.table, self.clock)
        self.config = CanaryConfig(base_url=BASE, sessions_table=TABLE, test_prefix=PREFIX, ecs_cluster=None,
                                   tiers=("probe", "journey"), http_timeout_s=1.0, container_ready_timeout_s=2.0,
                                   session_expiry_timeout_s=0.0, cleanup_reserve_s=5.0, confirm_failures=False)
        self.expected: dict[tuple[str, ...], dict[str, Any]] = {}  # the platform's items, as the platform left them
        self.next_id = 0

    def clock(self) -> float:
        return time.time() + self.offset_s

    @rule(minutes=st.sampled_from([1, 30, 120]))
    def time_passes(self, minutes: int) -> None:
        """Leases expire and leftovers age (the lock, the sweeper and the platform share this clock)."""
        self.offset_s += minutes * 60

    # -- what the platform does on its own ---------------------------------------------------------------------
    def lock(self) -> DynamoRunLock:
        return DynamoRunLock(self.config, self.aws, clock=self.clock)

    @rule(user=st.one_of(PLATFORM_USERS, st.none(), st.integers(min_value=0, max_value=9)),
          status=st.sampled_from(STATUSES), age_s=st.sampled_from([5.0, 7200.0, None]),
          squat_lock_key=st.sampled_from([False] * 9 + [True]), share_id=st.sampled_from([False] * 4 + [True]))
    def platform_adds_a_session(self, user: str | int | None, status: str, age_s: float | None,
                                squat_lock_key: bool, share_id: bool) -> None:
        values: dict[str, Any] = {"sessionId": f"session-p{self.next_id}", "status": status, "clientId": "ameliastamps"}
        self.next_id += 1
        if squat_lock_key and self.table.sort is None:
            values["sessionId"] = PREFIX + "canary-lock"  # a platform item under the lock's key (hash-only table)
        left_over = sorted(str(plain(v).get("sessionId")) for v in self.table.items.values() if is_synthetic(v, PREFIX))
        if share_id and left_over and self.table.sort is not None:
            values["sessionId"] = left_over[0]  # a platform record under a leftover synthetic session's id
        if self.table.sort is not None:
            values["userId"] = "anonymous" if user is None else str(user)  # the sort key is a string attribute
        elif user is not None:
            values["userId"] = user
        if age_s is not None:
            values["createdAt"] = _iso(self.clock() - age_s)
        item = typed(values)
        key = self.table.key_of(item)
        if key in self.table.items:
            return  # the platform does not overwrite: a new session gets a new key
        self.table.add(item)
        self.expected[key] = copy.deepcopy(item)

    @precondition(lambda self: bool(self.expected))
    @rule(data=st.data(), status=st.sampled_from(STATUSES), remove=st.booleans())
    def platform_updates_or_ends_a_session(self, data: st.DataObject, status: str, remove: bool) -> None:
        key = data.draw(st.sampled_from(sorted(self.expected)))
        if remove:
            del self.table.items[key]
            del self.expected[key]
        else:
            self.table.items[key] = {**self.table.items[key], "status": {"S": status}}
            self.expected[key] = copy.deepcopy(self.table.items[key])

    @rule()
    def platform_reaps_drained_sessions(self) -> None:
        """The platform removes drained sessions (synthetic ones included) once their container is gone."""
        for key in [k for k, v in self.table.items.items()
                    if plain(v).get("status") == "draining" and k not in self.expected]:
            del self.table.items[key]

    # -- what the canary does ----------------------------------------------------------------------------------
    @rule(failure=st.sampled_from((None, None, *FAILURES)), throttle_after=st.one_of(st.none(), st.integers(0, 12)))
    def canary_run(self, failure: str | None, throttle_after: int | None) -> None:
        """One scheduled run of the journey tier; the platform may fail a step, DynamoDB may throttle half-way."""
        self.platform.failure = failure
        self.ddb.arm(throttle_after)
        try:
            report = Runner(CATALOGUE, config=self.config, aws=self.aws, http=self.platform).run(
                deadline=Deadline.after(30), check_ids=["session.lifecycle"], lock=self.lock())
        finally:
            self.ddb.arm(None)
            self.platform.failure = None
        (result,) = report.checks
        event(f"run: {failure or 'healthy'}{' throttled' if throttle_after is not None else ''} -> "
              f"{result.outcome.value} {result.reason.value if result.reason else ''}")
        if failure is None and throttle_after is None and result.reason is not Reason.OVERLAP:
            assert result.outcome is Outcome.PASSED, (result.reason, result.message)
        # A run that was not throttled cleans up after itself completely (unless another run held the lock).
        if throttle_after is None and result.reason is not Reason.OVERLAP:
            assert not [plain(v) for v in self.table.items.values() if run_id_of(v, PREFIX) == report.run_id]

    @precondition(lambda self: bool(self.expected))
    @rule(data=st.data(), shape=st.sampled_from(HOSTILE_SHAPES), age_s=st.sampled_from([5.0, 7200.0]),
          sweep_now=st.booleans())
    def hostile_synthetic_item_names_a_platform_session(self, data: st.DataObject, shape: str, age_s: float,
                                                        sweep_now: bool) -> None:
        """A synthetic item (its user has the prefix) whose sessionId is crafted to address a real session.

        Half the time the hourly sweep follows at once, so the plant and the sweep meet in most histories.
        """
        real = str(plain(self.expected[data.draw(st.sampled_from(sorted(self.expected)))]).get("sessionId"))
        values = {"sessionId": shape.format(real=real), "userId": f"{PREFIX}hostile-{self.next_id}@x.invalid",
                  "status": "active", "clientId": self.config.test_client_id,
                  "createdAt": _iso(self.clock() - age_s)}
        self.next_id += 1
        item = typed(values)
        event(f"hostile id planted: {shape}")
        if self.table.key_of(item) not in self.table.items:
            self.table.add(item)
        if sweep_now:
            self.sweeper_runs(older_than_s=3600.0, dry_run=False, throttle_after=None)

    @rule(lock_too=st.booleans())
    def canary_killed_mid_journey(self, lock_too: bool) -> None:
        """SIGKILL after activation: the session (and the run lock) stay; no undo ran."""
        run_id = f"run-killed-{uuid.uuid4().hex[:8]}"
        if lock_too:
            self.lock().acquire(run_id, Deadline.after(30))
        body = SyntheticData(PREFIX, self.config.test_client_id, run_id=run_id).activation_body()
        self.platform.post(f"{HERMES}/api/sessions/activate", deadline=Deadline.after(5), timeout_s=1, json_body=body)

    @rule(older_than_s=st.sampled_from([0.0, 60.0, 3600.0]), dry_run=st.booleans(),
          throttle_after=st.one_of(st.none(), st.integers(0, 8)))
    def sweeper_runs(self, older_than_s: float, dry_run: bool, throttle_after: int | None) -> None:
        self.ddb.arm(throttle_after)
        report: SweepReport | None = None
        try:
            report = sweep(self.config, self.aws, self.platform, Deadline.after(30), dry_run=dry_run,
                           older_than_s=older_than_s, drain_wait_s=0, clock=self.clock)
        except Verdict as exc:  # the table could not even be read: the sweep says so and changes nothing
            assert throttle_after is not None and exc.reason is Reason.THROTTLED, exc
        finally:
            self.ddb.arm(None)
        event(f"sweep: {'dry ' if dry_run else ''}{'unreadable' if report is None else f'{report.leaked} leaked'}")
        if report is not None and throttle_after is None and not dry_run and older_than_s == 0:
            # One clean sweep leaves nothing synthetic (no session, no lock), whatever came before; except what
            # it must refuse: a session whose id a platform record shares (Hermes finds sessions by id alone).
            shared = {plain(v).get("sessionId") for v in self.expected.values()}
            left = [plain(v) for v in self.table.items.values() if is_synthetic(v, PREFIX)]
            assert [i for i in left if i.get("sessionId") not in shared] == [], (left, report.to_dict())
            assert set(report.refused) <= shared, report.to_dict()

    # -- the property ------------------------------------------------------------------------------------------
    @invariant()
    def platform_items_are_exactly_as_the_platform_left_them(self) -> None:
        if not hasattr(self, "table"):
            return
        actual = {k: v for k, v in self.table.items.items() if not is_synthetic(v, PREFIX)}
        assert actual == self.expected, {"changed_or_created": {k: plain(v) for k, v in actual.items()
                                                                if self.expected.get(k) != v},
                                         "deleted": [k for k in self.expected if k not in actual]}
        assert self.platform.violations == []


SafetyMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=20, deadline=None,
                                          suppress_health_check=[HealthCheck.too_slow])
test_no_history_of_runs_failures_kills_and_sweeps_touches_a_platform_item = SafetyMachine.TestCase
