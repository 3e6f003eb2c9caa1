"""Journeys against the sandbox: real HTTP and WebSocket through the local ALB, real boto3 to moto over HTTP.

What the journeys must show (issue 3): the probe + journey tiers pass and leave no synthetic item; a fault or a
deadline at every journey step fails (or ends INCOMPLETE at) exactly that step and cleanup still leaves nothing;
a run killed with SIGKILL mid-journey leaves items that one sweep removes; two overlapping runs create one
session; the destructive tier refuses without the flag and passes (restoring capacity) with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from harness import contract
from harness.checks import CATALOGUE
from harness.config import CanaryConfig, load_config
from harness.core.deadline import Deadline
from harness.core.errors import CheckSkipped
from harness.core.model import CheckResult, Outcome, RunReport
from harness.core.runner import Runner
from harness.net.aws import AwsClients
from harness.net.http import HttpClient, HttpResponse
from harness.sessions.run_lock import DynamoRunLock
from harness.sessions.sweeper import sweep
from harness.sessions.synthetic import is_lock, plain, typed
from sandbox.faults import STEP_FAULTS
from sandbox.journey_support import JourneySupport
from tests.integration.sandbox_items import synthetic_items, wait_for

LIFECYCLE_STEPS = ("edit.running_count", "activate", "record", "status", "container_ready", "preview",
                   "websocket", "deactivate", "drained")
KEY_LATENCIES = {contract.SESSION_ACTIVATE_LATENCY, contract.CONTAINER_READY_LATENCY, contract.PREVIEW_LATENCY,
                 contract.WEBSOCKET_CONNECT_LATENCY}
DESTRUCTIVE = ("session.persistence", "session.concurrency", "session.auto_shutdown")
FAST = {"container_ready_timeout_s": 5, "http_timeout_s": 3, "session_expiry_timeout_s": 3,
        "cleanup_reserve_s": 15, "confirm_pause_s": 0.1}


# -- fixtures and helpers ----------------------------------------------------------------------------------------
@pytest.fixture
def support(sandbox: Any) -> JourneySupport:
    """The sandbox's journey support (installed by Sandbox.start, reset with the sandbox before each test)."""
    installed: JourneySupport = sandbox.journeys
    return installed


def configure(sandbox: Any, monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> CanaryConfig:
    """The canary's config from the sandbox's environment (DESIGN §4); boto3 reaches moto via AWS_ENDPOINT_URL."""
    env = sandbox.environment()
    for key, value in env.items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    return load_config({"tiers": "probe,journey", **FAST, **overrides}, environ=env)


def run(config: CanaryConfig, *, check_ids: list[str] | None = None, tiers: list[str] | None = None,
        deadline: Deadline | None = None, aws: AwsClients | None = None, http: HttpClient | None = None,
        lock: bool = True) -> RunReport:
    aws = aws or AwsClients()
    runner = Runner(CATALOGUE, config=config, aws=aws, http=http or HttpClient(ca_bundle=config.ca_bundle))
    return runner.run(deadline=deadline or Deadline.after(90), check_ids=check_ids, tiers=tiers,
                      lock=DynamoRunLock(config, aws) if lock else None)


def result(report: RunReport, check_id: str) -> CheckResult:
    return next(c for c in report.checks if c.id == check_id)




def all_items(sandbox: Any) -> list[dict[str, Any]]:
    ddb = sandbox.aws.client("dynamodb")
    return [plain(i) for i in ddb.scan(TableName=sandbox.resources.sessions_table)["Items"]]




def steps(res: CheckResult) -> list[tuple[str, str, str | None]]:
    return [(s.name, s.outcome.value, s.reason.value if s.reason else None) for s in res.steps]


def work_steps(res: CheckResult) -> list[tuple[str, str, str | None]]:
    return [s for s in steps(res) if not s[0].startswith("cleanup:")]


def edit_counts(sandbox: Any) -> tuple[int, int]:
    counts: tuple[int, int] = sandbox.aws.service_counts(sandbox.resources.edit_service)
    return counts


def _iso(age_s: float) -> str:
    return datetime.fromtimestamp(time.time() - age_s, UTC).isoformat().replace("+00:00", "Z")


# -- the happy path -----------------------------------------------------------------------------------------------
def test_probe_and_journey_tiers_pass_and_leave_no_synthetic_item(sandbox: Any, support: JourneySupport,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    config = configure(sandbox, monkeypatch)
    report = run(config)
    bad = {c.id: (c.outcome.value, c.message) for c in report.checks if c.outcome is not Outcome.PASSED}
    assert not {k: v for k, v in bad.items() if v[0] != "SKIPPED"}, bad
    lifecycle = result(report, "session.lifecycle")
    assert lifecycle.outcome is Outcome.PASSED, lifecycle.message
    assert lifecycle.start_type == "cold"
    assert [s[0] for s in work_steps(lifecycle)] == list(LIFECYCLE_STEPS)
    assert {s[0] for s in steps(lifecycle)} >= {"cleanup:session", "cleanup:leftovers"}
    assert set(lifecycle.latencies_ms) == KEY_LATENCIES
    assert all(v > 0 for v in lifecycle.latencies_ms.values())
    assert lifecycle.cost_usd > 0
    assert report.estimated_cost_usd > lifecycle.cost_usd
    assert result(report, "cleanup.orphans").outcome is Outcome.PASSED
    assert synthetic_items(sandbox) == []  # no session, no lock
    assert support.activations == 1
    assert {i["sessionId"] for i in all_items(sandbox)} == {"session-7f3c2a9e-platform"}


def test_a_running_edit_service_labels_the_journey_warm(sandbox: Any, support: JourneySupport,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.aws.set_service_counts(sandbox.resources.edit_service, desired=1, running=1)
    report = run(configure(sandbox, monkeypatch), check_ids=["session.lifecycle"])
    lifecycle = result(report, "session.lifecycle")
    assert lifecycle.outcome is Outcome.PASSED, lifecycle.message
    assert lifecycle.start_type == "warm"
    assert lifecycle.evidence["edit_before"] == {"desired": 1, "running": 1}
    assert synthetic_items(sandbox) == []


# -- a failure at every step --------------------------------------------------------------------------------------
STEP_CASES: list[tuple[str, str, dict[str, str], str, str, dict[str, Any]]] = [
    # (step, fault, params, outcome, reason, config overrides)
    ("edit.running_count", "access_denied", {"service": "ecs"}, "ERROR", "access_denied", {}),
    ("activate", "activate_app_error", {}, "FAILED", "http_5xx", {}),
    ("record", "session_not_persisted", {}, "FAILED", "record_missing", {}),
    ("record", "throttled", {"service": "dynamodb"}, "ERROR", "throttled", {}),
    ("status", "status_mismatch", {}, "FAILED", "record_mismatch", {}),
    ("container_ready", "container_never_ready", {}, "FAILED", "not_ready", {"container_ready_timeout_s": 1.5}),
    ("preview", "preview_5xx", {}, "FAILED", "http_5xx", {}),
    ("websocket", "ws_refused", {}, "FAILED", "ws_refused", {}),
    ("deactivate", "deactivate_5xx", {}, "FAILED", "http_5xx", {}),
    ("drained", "session_not_drained", {}, "FAILED", "record_mismatch",
     {"http_timeout_s": 1.5, "session_expiry_timeout_s": 1}),
]


def test_the_step_cases_say_what_the_fault_catalogue_says() -> None:
    for step, fault, _params, outcome, reason, _overrides in STEP_CASES:
        if fault in STEP_FAULTS:
            declared = STEP_FAULTS[fault]
            assert (declared.expected_check, declared.expected_step, declared.expected_outcome,
                    declared.expected_reason) == ("session.lifecycle", step, outcome, reason), fault


@pytest.mark.parametrize(("step", "fault", "params", "outcome", "reason", "overrides"), STEP_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in STEP_CASES])
def test_a_fault_at_each_step_fails_that_step_and_cleanup_leaves_nothing(
        sandbox: Any, support: JourneySupport, monkeypatch: pytest.MonkeyPatch, step: str, fault: str,
        params: dict[str, str], outcome: str, reason: str, overrides: dict[str, Any]) -> None:
    config = configure(sandbox, monkeypatch, **overrides)
    if fault in STEP_FAULTS:
        support.faults.enable(fault)
    else:
        sandbox.faults.enable(fault, **params)
    # The run lock reads the same table: with DynamoDB throttled the lock itself would refuse the journey.
    report = run(config, check_ids=["session.lifecycle"], lock=fault != "throttled")
    lifecycle = result(report, "session.lifecycle")
    assert (lifecycle.outcome.value, lifecycle.reason.value if lifecycle.reason else None) == (outcome, reason), \
        (lifecycle.message, steps(lifecycle))
    done = work_steps(lifecycle)
    index = LIFECYCLE_STEPS.index(step)
    assert [s[0] for s in done] == list(LIFECYCLE_STEPS[:index + 1])
    assert all(s[1] == "PASSED" for s in done[:-1])
    assert done[-1][1:] == (outcome, reason)
    if outcome == "FAILED":  # white-box evidence: ECS, target health and (once there is a session) the record
        assert {"ecs_services", "stopped_tasks", "target_health"} <= set(lifecycle.evidence)
        assert ("session_record" in lifecycle.evidence) == (index > LIFECYCLE_STEPS.index("activate"))
    # Cleanup left nothing (with DynamoDB throttled the canary cannot delete: Hermes's drain removes it).
    sandbox.faults.clear()
    assert wait_for(lambda: synthetic_items(sandbox) == [], timeout_s=5 if fault == "throttled" else 0.5), \
        [plain(i) for i in synthetic_items(sandbox)]
    cleanups = [s for s in steps(lifecycle) if s[0].startswith("cleanup:")]
    if fault not in ("throttled", "access_denied", "activate_app_error"):
        assert ("cleanup:session", "PASSED", None) in cleanups


# -- a deadline at every step --------------------------------------------------------------------------------------
class JumpClock:
    """Monotonic time that a tripwire can move forward (to the end of the check's working time)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


class Tripwire:
    """Jumps the clock to the end of the work deadline (the cleanup reserve stays) when a call is first seen."""

    def __init__(self, clock: JumpClock, run_deadline: Deadline, reserve_s: float, kind: str, what: str,
                 where: str, after: tuple[str, str, str] | None = None) -> None:
        self.clock, self.run_deadline, self.reserve_s = clock, run_deadline, reserve_s
        self.trigger = (kind, what, where)
        self.after = after
        self.armed = after is None
        self.fired = False

    def saw(self, kind: str, what: str, where: str) -> None:
        if not self.armed and self.after and self._matches(self.after, kind, what, where):
            self.armed = True
            return
        if self.armed and not self.fired and self._matches(self.trigger, kind, what, where):
            self.fired = True
            self.clock.offset += (self.run_deadline.expires_at - self.reserve_s) - self.clock() + 0.001

    @staticmethod
    def _matches(pattern: tuple[str, str, str], kind: str, what: str, where: str) -> bool:
        return pattern[0] == kind and pattern[1] == what and pattern[2] in where


class TripHttp(HttpClient):
    def __init__(self, tripwire: Tripwire, ca_bundle: str | None) -> None:
        super().__init__(ca_bundle=ca_bundle)
        self.tripwire = tripwire

    def request(self, method: str, url: str, **kwargs: Any) -> HttpResponse:
        self.tripwire.saw("http", method, url)
        return super().request(method, url, **kwargs)

    def websocket_hello(self, url: str, **kwargs: Any) -> tuple[str, float, float]:
        self.tripwire.saw("ws", "", url)
        return super().websocket_hello(url, **kwargs)


class TripClient:
    """A boto3 client whose operations are reported to the tripwire before the harness's deadline check."""

    def __init__(self, client: Any, service: str, tripwire: Tripwire) -> None:
        self._client, self._service, self._tripwire = client, service, tripwire

    def __getattr__(self, name: str) -> Any:
        self._tripwire.saw("aws", self._service, name)
        return getattr(self._client, name)


DEADLINE_CASES: list[tuple[str, tuple[str, str, str], tuple[str, str, str] | None]] = [
    ("edit.running_count", ("aws", "ecs", "describe_services"), None),
    ("activate", ("http", "POST", "/hermes/api/sessions/activate"), None),
    ("record", ("aws", "dynamodb", "get_item"), None),
    ("status", ("http", "GET", "/status"), None),
    ("container_ready", ("http", "GET", "/api/health"), None),
    ("preview", ("http", "GET", "/session/"), None),
    ("websocket", ("ws", "", "/ws/hmr"), None),
    ("deactivate", ("http", "POST", "/deactivate"), None),
    ("drained", ("aws", "dynamodb", "get_item"), ("http", "POST", "/deactivate")),
]


@pytest.mark.parametrize(("step", "trigger", "after"), DEADLINE_CASES, ids=[c[0] for c in DEADLINE_CASES])
def test_a_deadline_at_each_step_ends_incomplete_and_cleanup_leaves_nothing(
        sandbox: Any, support: JourneySupport, monkeypatch: pytest.MonkeyPatch, step: str,
        trigger: tuple[str, str, str], after: tuple[str, str, str] | None) -> None:
    config = configure(sandbox, monkeypatch)
    clock = JumpClock()
    deadline = Deadline(clock() + 60, clock=clock)
    tripwire = Tripwire(clock, deadline, config.cleanup_reserve_s, *trigger, after=after)
    session = boto3.Session()
    aws = AwsClients(factory=lambda service: TripClient(session.client(service), service,  # type: ignore[call-overload]
                                                        tripwire))
    http = TripHttp(tripwire, config.ca_bundle)
    report = run(config, check_ids=["session.lifecycle"], deadline=deadline, aws=aws, http=http)
    lifecycle = result(report, "session.lifecycle")
    assert tripwire.fired
    assert (lifecycle.outcome, lifecycle.reason.value if lifecycle.reason else None) == (Outcome.INCOMPLETE,
                                                                                         "deadline"), steps(lifecycle)
    done = work_steps(lifecycle)
    assert [s[0] for s in done] == list(LIFECYCLE_STEPS[:LIFECYCLE_STEPS.index(step) + 1])
    assert done[-1][1:] == ("INCOMPLETE", "deadline")
    cleanups = [(s.name, s.outcome.value, s.message) for s in lifecycle.steps if s.name.startswith("cleanup:")]
    assert all(c[1] == "PASSED" for c in cleanups), cleanups
    expected = {"cleanup:release-edit-service"}
    if LIFECYCLE_STEPS.index(step) >= LIFECYCLE_STEPS.index("activate"):
        expected.add("cleanup:leftovers")
    if LIFECYCLE_STEPS.index(step) > LIFECYCLE_STEPS.index("activate"):
        expected.add("cleanup:session")
    assert {c[0] for c in cleanups} == expected
    assert synthetic_items(sandbox) == []  # the session (if any) and the lock are gone when run() returns


def test_an_activation_whose_answer_is_lost_is_left_for_one_sweep(sandbox: Any, support: JourneySupport,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Hermes creates the session after the canary gave up waiting: cleanup cannot see it yet, the sweep can."""
    config = configure(sandbox, monkeypatch, cleanup_reserve_s=3)
    aws, http = AwsClients(), HttpClient(ca_bundle=config.ca_bundle)
    run(config, check_ids=["aws.credentials"], aws=aws, http=http, lock=False)  # warm the clients
    sandbox.faults.enable("hermes_slow", delay_ms="1500")
    report = run(config, check_ids=["session.lifecycle"], deadline=Deadline.after(3.8), aws=aws, http=http)
    lifecycle = result(report, "session.lifecycle")
    assert lifecycle.outcome is Outcome.INCOMPLETE, steps(lifecycle)
    assert work_steps(lifecycle)[-1] == ("activate", "INCOMPLETE", "deadline")
    assert wait_for(lambda: len(synthetic_items(sandbox)) == 1, timeout_s=5)  # Hermes finished after all
    sandbox.faults.clear()
    swept = sweep(config, aws, http, Deadline.after(30), dry_run=False, older_than_s=0)
    assert swept.leaked == 1 and len(swept.deactivated) == 1 and swept.remaining == []
    assert synthetic_items(sandbox) == []


# -- SIGKILL mid-journey, then one sweep ------------------------------------------------------------------------------
CHILD = """
from harness.wiring import build_app
from harness.config import load_config
from harness.core.deadline import Deadline

config = load_config({"tiers": "journey", "container_ready_timeout_s": 60, "http_timeout_s": 3})
app = build_app(config)
app.runner.run(deadline=Deadline.after(120), check_ids=["session.lifecycle"], lock=app.lock)
print("finished", flush=True)
"""


def test_a_run_killed_mid_journey_leaves_items_that_one_sweep_removes(sandbox: Any, support: JourneySupport,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    config = configure(sandbox, monkeypatch)
    sandbox.faults.enable("container_never_ready")  # the child waits for readiness: killed mid-journey
    env = {**os.environ, **sandbox.environment()}
    child = subprocess.Popen([sys.executable, "-c", CHILD], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: len(synthetic_items(sandbox)) == 2, timeout_s=30), "no session + lock appeared"
        time.sleep(0.3)  # well inside the readiness poll
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    left = synthetic_items(sandbox)
    assert sorted(is_lock(i) for i in left) == [False, True]  # the session and the run lock
    sandbox.faults.clear()
    aws, http = AwsClients(), HttpClient(ca_bundle=config.ca_bundle)
    dry = sweep(config, aws, http, Deadline.after(30), dry_run=True, older_than_s=0)
    assert (dry.leaked, dry.stale_locks, dry.deleted) == (1, 1, [])
    assert len(synthetic_items(sandbox)) == 2
    swept = sweep(config, aws, http, Deadline.after(30), dry_run=False, older_than_s=0)
    assert swept.leaked == 1 and len(swept.deactivated) == 1 and swept.remaining == [] and swept.errors == []
    assert synthetic_items(sandbox) == []
    assert {i["sessionId"] for i in all_items(sandbox)} == {"session-7f3c2a9e-platform"}


# -- the run lock -----------------------------------------------------------------------------------------------------
def test_two_overlapping_runs_create_exactly_one_session(sandbox: Any, support: JourneySupport,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    config = configure(sandbox, monkeypatch)
    barrier = threading.Barrier(2)
    reports: list[RunReport] = []

    def one_run() -> None:
        aws = AwsClients()
        runner = Runner(CATALOGUE, config=config, aws=aws, http=HttpClient(ca_bundle=config.ca_bundle))
        lock = DynamoRunLock(config, aws)
        barrier.wait()
        reports.append(runner.run(deadline=Deadline.after(60), check_ids=["session.lifecycle"], lock=lock))

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    outcomes = sorted((result(r, "session.lifecycle").outcome.value,
                       str(result(r, "session.lifecycle").reason)) for r in reports)
    assert outcomes == [("PASSED", "None"), ("SKIPPED", "overlap")], outcomes
    loser = next(result(r, "session.lifecycle") for r in reports
                 if result(r, "session.lifecycle").outcome is Outcome.SKIPPED)
    winner_run = next(r.run_id for r in reports if result(r, "session.lifecycle").outcome is Outcome.PASSED)
    assert loser.evidence["lock_holder"] == winner_run and loser.steps == ()
    assert support.activations == 1
    assert synthetic_items(sandbox) == []


def test_a_stale_lock_is_taken_over_a_live_one_is_not(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    config = configure(sandbox, monkeypatch)
    aws = AwsClients()
    past = DynamoRunLock(config, aws, lease_margin_s=0, clock=lambda: time.time() - 3600)
    assert past.acquire("run-old", Deadline.after(5)) is None
    (old_lock,) = synthetic_items(sandbox)
    assert is_lock(old_lock) and plain(old_lock)["canary_run_id"] == "run-old"
    assert plain(old_lock)["ttl"] < time.time()

    lock = DynamoRunLock(config, aws)
    assert lock.acquire("run-new", Deadline.after(30)) is None  # the stale one is taken over
    assert lock.holder(Deadline.after(5)) == "run-new"
    assert lock.acquire("run-new", Deadline.after(30)) is None  # re-entrant for its holder
    refusal = lock.acquire("run-third", Deadline.after(30))
    assert isinstance(refusal, CheckSkipped) and refusal.reason.value == "overlap"
    assert refusal.evidence["lock_holder"] == "run-new"
    lock.release("run-third", Deadline.after(5))  # not the holder: nothing happens
    assert lock.holder(Deadline.after(5)) == "run-new"
    (item,) = synthetic_items(sandbox)
    data = plain(item)
    assert data["userId"] == data["sessionId"] == "TEST_canary-lock" and data["ttl"] > time.time()
    lock.release("run-new", Deadline.after(5))
    assert synthetic_items(sandbox) == []


# -- the destructive tier ------------------------------------------------------------------------------------------
def test_destructive_tier_refuses_without_the_flag(sandbox: Any, support: JourneySupport,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    config = configure(sandbox, monkeypatch, tiers="probe,journey,destructive")
    assert not config.allow_destructive
    report = run(config, tiers=["destructive"])
    for check_id in DESTRUCTIVE:
        res = result(report, check_id)
        assert (res.outcome, res.reason.value if res.reason else None) == (Outcome.SKIPPED, "not_allowed")
        assert "CANARY_ALLOW_DESTRUCTIVE" in res.message
    assert support.activations == 0 and support.restarts == []
    assert edit_counts(sandbox) == (0, 0)


def test_destructive_tier_passes_in_the_sandbox_and_restores_capacity(sandbox: Any, support: JourneySupport,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    config = configure(sandbox, monkeypatch, tiers="probe,journey,destructive", allow_destructive="true")
    report = run(config, tiers=["destructive"])
    for check_id in DESTRUCTIVE:
        res = result(report, check_id)
        assert res.outcome is Outcome.PASSED, (check_id, res.message, steps(res))
        assert ("cleanup:restore-capacity", "PASSED", None) in steps(res)
    persistence = result(report, "session.persistence")
    assert len(support.restarts) == 1 and persistence.evidence["restarted_task"] in support.restarts[0]
    concurrency = result(report, "session.concurrency")
    assert len(set(concurrency.evidence["session_ids"])) == 3
    assert concurrency.evidence["edit_during"]["running"] <= config.edit_max_tasks
    assert support.activations == 5  # 1 + 3 + 1
    assert synthetic_items(sandbox) == []
    assert wait_for(lambda: edit_counts(sandbox) == (0, 0), timeout_s=3)


def test_capacity_is_restored_to_what_it_was_never_lower(sandbox: Any, support: JourneySupport,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.aws.set_service_counts(sandbox.resources.edit_service, desired=1, running=1)
    config = configure(sandbox, monkeypatch, tiers="destructive", allow_destructive="true")
    report = run(config, check_ids=["session.auto_shutdown"])
    res = result(report, "session.auto_shutdown")
    assert res.outcome is Outcome.PASSED, (res.message, steps(res))
    # The platform scaled in to 0 once the session ended; the check put back the one task that ran before.
    assert res.evidence["capacity_restored"] == {"from": 0, "to": 1}
    assert edit_counts(sandbox) == (1, 1)


def test_no_scale_in_while_a_user_session_is_live(sandbox: Any, support: JourneySupport,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    ddb = sandbox.aws.client("dynamodb")
    user_session = {"sessionId": "session-user-live", "userId": "editor@ameliastamps.com", "clientId": "ameliastamps",
                    "status": "active", "createdAt": _iso(60)}
    ddb.put_item(TableName=sandbox.resources.sessions_table, Item=typed(user_session))
    config = configure(sandbox, monkeypatch, tiers="destructive", allow_destructive="true")
    report = run(config, check_ids=["session.auto_shutdown", "session.concurrency"])
    shutdown = result(report, "session.auto_shutdown")
    assert (shutdown.outcome, shutdown.reason.value if shutdown.reason else None) == (Outcome.SKIPPED, "not_allowed")
    concurrency = result(report, "session.concurrency")
    assert concurrency.outcome is Outcome.PASSED, concurrency.message
    assert concurrency.evidence["capacity_left"]["live_user_sessions"] == ["session-user-live"]
    assert edit_counts(sandbox)[0] == 1  # left for the user, not scaled back to 0
    assert plain(ddb.get_item(TableName=sandbox.resources.sessions_table,
                              Key=typed({k: user_session[k] for k in ("sessionId", "userId")}))["Item"]) == user_session
    assert synthetic_items(sandbox) == []


@pytest.mark.parametrize(("check_id", "fault", "step", "reason", "overrides"), [
    ("session.persistence", "workspace_lost_on_restart", "after.preview", "http_4xx", {}),
    ("session.auto_shutdown", "no_scale_in", "scale_in", "idle_cost", {"session_expiry_timeout_s": 1.5}),
])
def test_destructive_checks_catch_their_faults(sandbox: Any, support: JourneySupport,
                                               monkeypatch: pytest.MonkeyPatch, check_id: str, fault: str, step: str,
                                               reason: str, overrides: dict[str, Any]) -> None:
    config = configure(sandbox, monkeypatch, tiers="destructive", allow_destructive="true", **overrides)
    support.faults.enable(fault)
    report = run(config, check_ids=[check_id])
    res = result(report, check_id)
    assert (res.outcome, res.reason.value if res.reason else None) == (Outcome.FAILED, reason), steps(res)
    assert work_steps(res)[-1] == (step, "FAILED", reason)
    assert "ecs_services" in res.evidence
    assert synthetic_items(sandbox) == []
    assert wait_for(lambda: edit_counts(sandbox)[0] == 0, timeout_s=3)  # restored to what it was


# -- the sweeper and cleanup.orphans against moto -----------------------------------------------------------------
def _seed_mixture(sandbox: Any) -> dict[str, dict[str, Any]]:
    now = time.time()
    items: dict[str, dict[str, Any]] = {
        "old": {"sessionId": "session-old-synthetic", "userId": "TEST_canary-run-old@canary.webordinary.invalid",
                "clientId": "integration-test-client", "status": "active", "createdAt": _iso(7200)},
        "young": {"sessionId": "session-young-synthetic", "userId": "TEST_canary-run-now@canary.webordinary.invalid",
                  "clientId": "integration-test-client", "status": "active", "createdAt": _iso(5)},
        "near_miss": {"sessionId": "session-near-miss", "userId": "test_lowercase@ameliastamps.com",
                      "clientId": "ameliastamps", "status": "active", "createdAt": _iso(7200)},
        "stale_lock": {"sessionId": "TEST_canary-lock", "userId": "TEST_canary-lock", "canary_lock": True,
                       "canary_run_id": "run-dead", "ttl": int(now) - 60, "created_at": _iso(7200)},
    }
    ddb = sandbox.aws.client("dynamodb")
    for item in items.values():
        ddb.put_item(TableName=sandbox.resources.sessions_table, Item=typed(item))
    return items


def test_sweep_removes_only_old_synthetic_sessions_and_stale_locks(sandbox: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    config = configure(sandbox, monkeypatch)
    seeded = _seed_mixture(sandbox)
    before = {i["sessionId"]: i for i in all_items(sandbox)}
    aws, http = AwsClients(), HttpClient(ca_bundle=config.ca_bundle)
    dry = sweep(config, aws, http, Deadline.after(30), dry_run=True, older_than_s=3600)
    assert (dry.leaked, dry.stale_locks, dry.deactivated, dry.deleted) == (1, 1, [], [])
    assert {f["session_id"] for f in dry.found} == {"session-old-synthetic", "TEST_canary-lock"}
    assert {i["sessionId"]: i for i in all_items(sandbox)} == before
    report = sweep(config, aws, http, Deadline.after(30), dry_run=False, older_than_s=3600)
    assert report.deactivated == ["session-old-synthetic"]
    assert set(report.deleted) == {"session-old-synthetic", "lock:run-dead"} and report.remaining == []
    after = {i["sessionId"]: i for i in all_items(sandbox)}
    assert set(after) == {"session-7f3c2a9e-platform", "session-young-synthetic", "session-near-miss"}
    assert after["session-near-miss"] == seeded["near_miss"]
    assert after["session-7f3c2a9e-platform"] == before["session-7f3c2a9e-platform"]
    assert report.to_dict()["leaked"] == 1


def test_cleanup_orphans_reports_leftovers_without_deleting(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    config = configure(sandbox, monkeypatch)
    clean = result(run(config, check_ids=["cleanup.orphans"], lock=False), "cleanup.orphans")
    assert clean.outcome is Outcome.PASSED, clean.message
    _seed_mixture(sandbox)
    count = len(all_items(sandbox))
    dirty = result(run(config, check_ids=["cleanup.orphans"], lock=False), "cleanup.orphans")
    assert (dirty.outcome, dirty.reason.value if dirty.reason else None) == (Outcome.DEGRADED, "leaked_sessions")
    assert dirty.evidence["leaked"] == 1 and dirty.evidence["stale_locks"] == 1
    assert {x["session_id"] for x in dirty.evidence["leftovers"]} == {"session-old-synthetic", "TEST_canary-lock"}
    assert len(all_items(sandbox)) == count  # read-only
