"""The detection matrix: every fault class the sandbox can inject, both profiles, through the real Runner.

Each row comes from ``sandbox.faults.FAULT_CLASSES`` (so the table and the sandbox cannot drift): the fault is
switched on, the profile's probe tier runs (plus the journey tier when the fault's check is a journey) over
real boto3 -> fault proxy -> moto and real HTTP to the local ALB, and

- the fault's check ends with exactly the outcome and reason code FAULT_CLASSES names (FAILED: the target is at
  fault; ERROR: the canary is; DEGRADED: a young rollout, not paged), a FAILED probe confirmed by its re-probe;
- every other check of the run stays PASSED, except the collateral declared below per fault, with why;
- the datapoints attribute it the way the alarms expect: CheckFailed 1 and ChecksFailed for FAILED, no
  CheckFailed and CanaryErrors for ERROR, CheckDegraded and no CheckFailed for DEGRADED; the exit code says the same;
- a journey's cleanup leaves no synthetic item behind, and no AWS call of the run (read by the sandbox's proxy)
  writes anything but the canary's own synthetic items: no capacity change on any path, failing ones included.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from harness import contract
from harness.checks import CATALOGUE
from harness.config import load_config
from harness.core.deadline import Deadline
from harness.core.model import EXIT_CODES, CheckResult, Outcome, Reason, RunReport, Tier
from harness.core.runner import Runner
from harness.net.aws import AwsClients
from harness.net.http import HttpClient
from harness.reporting.metrics import report_datapoints
from harness.sessions.run_lock import DynamoRunLock
from harness.sessions.synthetic import is_synthetic
from sandbox.faults import FAULT_CLASSES
from sandbox.queue_side import QueueSide
from sandbox.runtime import Sandbox
from tests.integration.aws_writes import capacity_writes, forbidden_writes

SESSION, QUEUE = contract.SESSION_PLATFORM, contract.QUEUE_PLATFORM
BY_ID = {c.id: c for c in CATALOGUE}
# Small budgets so a fault is caught fast; latency thresholds above a loaded CI machine's noise but below the
# hermes_slow fault's 3 s delay (its row must still fail on latency).
OVERRIDES: dict[str, Any] = {"confirm_pause_s": 0.1, "container_ready_timeout_s": 5, "http_timeout_s": 4,
                             "session_expiry_timeout_s": 3, "cleanup_reserve_s": 15,
                             "latency_degraded_ms": 2500, "latency_failed_ms": 2900}

_HERMES_DOWN_CASCADE = {"http.routing": ("FAILED", "http_5xx", "/hermes/* is one of the routes it probes"),
                        "latency.baseline": ("FAILED", "http_5xx", "its samples are GET /hermes/health")}
_DEPLOYING = "the same rollout excuses every readiness/routing failure of Hermes"
_TLS_CASCADE = {check: ("FAILED", "tls_error", "it speaks to the same HTTPS listener, whose TLS is broken")
                for check in ("http.routing", "latency.baseline")}
_TLS_FAULTS = ("tls_wrong_host", "tls_expired", "tls_unknown_ca", "tls_handshake_stall")
# What else a fault legitimately changes: fault -> {check: (outcome, reason, why)}. Everything not declared
# here (or in DEPENDENTS_SKIPPED) must stay PASSED: a fault leaking into unrelated checks is a false page.
COLLATERAL: dict[str, dict[str, tuple[str, str, str]]] = {
    "hermes_down": {"alb.targets": ("FAILED", "unhealthy_targets", "no healthy Hermes target is why the ALB 503s"),
                    **_HERMES_DOWN_CASCADE},
    "hermes_5xx": _HERMES_DOWN_CASCADE,
    "hermes_malformed_json": {"http.routing": ("FAILED", "schema_mismatch",
                                               "/hermes/health no longer looks like Hermes's JSON answer")},
    "targets_unhealthy": {"http.hermes_health": ("FAILED", "http_5xx", "the ALB has no healthy target to route to"),
                          **_HERMES_DOWN_CASCADE},
    "service_mismatch": {"alb.targets": ("FAILED", "unhealthy_targets", "0 running tasks register no target"),
                         "http.hermes_health": ("FAILED", "http_5xx", "nothing serves /hermes/*"),
                         **_HERMES_DOWN_CASCADE},
    "route_missing": {"http.routing": ("FAILED", "route_default",
                                       "/api/* now falls through to the ALB's default 200 'healthy'")},
    "route_shadowed": {"http.hermes_health": ("FAILED", "http_5xx", "/hermes/* reaches the idle Astro group: 503"),
                       **_HERMES_DOWN_CASCADE},
    "access_denied": {"ecs.cluster": ("ERROR", "access_denied", "the same ECS permission is denied")},
    "throttled": {"cleanup.orphans": ("ERROR", "throttled", "it scans the same DynamoDB table")},
    "deploying": {check: ("DEGRADED", "deploying", _DEPLOYING)
                  for check in ("alb.targets", "http.hermes_health", "http.routing", "latency.baseline")},
    **{fault: _TLS_CASCADE for fault in _TLS_FAULTS},
}
# Faults after which every check that depends on the failed one is SKIPPED dependency_failed (not paged twice).
DEPENDENTS_SKIPPED: dict[str, str] = {
    "credentials_expired": "every AWS check depends on aws.credentials: skipped instead of piling up alarms",
}


@dataclass(frozen=True)
class Row:
    """One line of the matrix, derived from FAULT_CLASSES and the catalogue."""

    fault: str
    profile: str
    tiers: tuple[str, ...]
    check: str
    outcome: Outcome
    reason: Reason

    def __str__(self) -> str:
        return self.fault


def _profile_of(check_id: str) -> str:
    """The profile a fault's check belongs to (checks shared by both profiles count as session platform)."""
    return SESSION if check_id in contract.CHECK_IDS_BY_PROFILE[SESSION] else QUEUE


def _row(name: str) -> Row:
    fault = FAULT_CLASSES[name]
    tier = BY_ID[fault.expected_check].tier
    tiers = ("probe",) if tier is Tier.PROBE else ("probe", tier.value)
    return Row(name, _profile_of(fault.expected_check), tiers, fault.expected_check,
               Outcome(fault.expected_outcome), Reason(fault.expected_reason))


# Session-platform rows first: the queue platform is attached to the shared sandbox once, for the rows at the end.
ROWS = sorted((_row(name) for name in FAULT_CLASSES), key=lambda r: (r.profile != SESSION, r.fault))


class Platforms:
    """The test-wide sandbox, with the queue platform attached while queue rows run (detached at the end)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.queue: QueueSide | None = None

    def healthy(self, profile: str) -> dict[str, str]:
        """Reset to the healthy platform of ``profile``; returns the canary's environment for it."""
        if profile == QUEUE and self.queue is None:
            self.queue = QueueSide(self.sandbox.aws, self.sandbox.faults, refresh_interval_s=0).start()
        elif profile == SESSION:
            self.detach()
        self.sandbox.reset()
        if self.queue is not None:
            self.queue.reset()
            return {**self.sandbox.environment(), **self.queue.environment(), "CANARY_PROFILE": QUEUE}
        return self.sandbox.environment()

    def detach(self) -> None:
        if self.queue is not None:
            self.queue.stop()
            self.queue = None
            self.sandbox.reset()  # the edit service back to the session platform's seed


@pytest.fixture(scope="module")
def platforms(sandbox_session: Sandbox) -> Iterator[Platforms]:
    held = Platforms(sandbox_session)
    try:
        yield held
    finally:
        held.detach()


def run_row(row: Row, env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> RunReport:
    for key, value in env.items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)  # boto3 reads AWS_ENDPOINT_URL itself: real HTTP to the fault proxy
    config = load_config({**OVERRIDES, "tiers": ",".join(row.tiers)}, environ=env)
    aws = AwsClients()
    runner = Runner(CATALOGUE, config=config, aws=aws, http=HttpClient(ca_bundle=config.ca_bundle))
    lock = DynamoRunLock(config, aws) if "journey" in row.tiers else None
    return runner.run(deadline=Deadline.after(120), tiers=list(row.tiers), profile=row.profile, lock=lock)


def expected_others(row: Row, report: RunReport) -> dict[str, tuple[str, str | None]]:
    """What every check other than the fault's own must end as: PASSED unless declared collateral."""
    expected: dict[str, tuple[str, str | None]] = {}
    for result in report.checks:
        if result.id == row.check:
            continue
        if row.fault in DEPENDENTS_SKIPPED and row.check in BY_ID[result.id].depends_on:
            expected[result.id] = ("SKIPPED", "dependency_failed")
        elif result.id in COLLATERAL.get(row.fault, {}):
            outcome, reason, _why = COLLATERAL[row.fault][result.id]
            expected[result.id] = (outcome, reason)
        else:
            expected[result.id] = ("PASSED", None)
    return expected


def verdicts(results: Mapping[str, CheckResult]) -> dict[str, tuple[str, str | None]]:
    return {i: (r.outcome.value, r.reason.value if r.reason else None) for i, r in results.items()}


# -- the matrix ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("row", ROWS, ids=str)
def test_detection_matrix(row: Row, platforms: Platforms, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the healthy platform of the fault's profile with this one fault switched on
    env = platforms.healthy(row.profile)
    platforms.sandbox.faults.enable(row.fault)
    # WHEN the profile's probe tier (and the journey tier, for a journey's fault) runs
    with platforms.sandbox.aws.recording() as calls:
        report = run_row(row, env, monkeypatch)
    results = {r.id: r for r in report.checks}
    detail = {i: (r.outcome.value, r.reason and r.reason.value, r.message[:160]) for i, r in results.items()}
    # THEN exactly the selected checks of that profile ran, none SKIPPED for want of configuration
    wanted = {c for c in contract.CHECK_IDS_BY_PROFILE[row.profile]
              if contract.NON_PROBE_TIERS.get(c, "probe") in row.tiers}
    assert set(results) == wanted, detail
    # AND the fault's check caught it with the outcome and reason FAULT_CLASSES names
    caught = results[row.check]
    assert (caught.outcome, caught.reason) == (row.outcome, row.reason), detail
    if caught.outcome is Outcome.FAILED and caught.tier is Tier.PROBE:
        assert caught.evidence.get("confirmed") is True, "a FAILED probe is confirmed by one re-probe"
    # AND everything else ended as declared: PASSED, or the fault's documented collateral
    others = {i: r for i, r in results.items() if i != row.check}
    assert verdicts(others) == expected_others(row, report), detail
    # AND the report and its datapoints attribute it the way the alarms read it
    assert report.outcome is (Outcome.ERROR if Outcome.ERROR in {r.outcome for r in report.checks} else row.outcome)
    assert report.exit_code == EXIT_CODES[report.outcome]
    points = {(p.name, p.dimensions.get("Check")): p.value for p in report_datapoints(report)}
    failed = points.get((contract.CHECK_FAILED, row.check))
    if row.outcome is Outcome.FAILED:
        assert failed == 1.0 and points[(contract.CHECKS_FAILED, None)] >= 1.0
    elif row.outcome is Outcome.ERROR:
        assert failed is None and points[(contract.CANARY_ERRORS, None)] >= 1.0
    else:  # DEGRADED: not paged (no CheckFailed), counted as degraded for the dashboard
        assert failed is None and points[(contract.CHECK_DEGRADED, row.check)] == 1.0
        assert (contract.CHECKS_FAILED, None) not in points
    assert json.loads(json.dumps(report.to_dict()))["outcome"] == report.outcome.value
    # AND the run wrote nothing but its own synthetic items (read-only by default, failing paths included)
    assert calls and capacity_writes(calls) == [] and forbidden_writes(calls) == []
    # AND a journey cleaned up after itself: nothing synthetic is left (no session, no run lock)
    if "journey" in row.tiers:
        table = platforms.sandbox.resources.sessions_table
        items = platforms.sandbox.control.client("dynamodb").scan(TableName=table)["Items"]
        assert [i for i in items if is_synthetic(i, "TEST_")] == []


def test_the_matrix_covers_every_fault_class_and_declares_nothing_stale() -> None:
    # every fault has its row, in the profile its check belongs to, with a known outcome and reason
    assert sorted(r.fault for r in ROWS) == sorted(FAULT_CLASSES)
    assert {r.profile for r in ROWS} == {SESSION, QUEUE}
    for row in ROWS:
        assert row.check in contract.CHECK_IDS_BY_PROFILE[row.profile], row
        assert row.outcome in (Outcome.FAILED, Outcome.ERROR, Outcome.DEGRADED), row
    # target faults FAILED, canary-side faults ERROR: the two alarms are never mixed
    canary_side = {r.fault for r in ROWS if r.outcome is Outcome.ERROR}
    assert canary_side == {"credentials_expired", "access_denied", "throttled", "aws_5xx"}
    # collateral names real faults and checks of the same profile, each with a reason code and a why
    assert set(COLLATERAL) | set(DEPENDENTS_SKIPPED) <= set(FAULT_CLASSES)
    profiles = {r.fault: r.profile for r in ROWS}
    for fault, checks in COLLATERAL.items():
        for check_id, (outcome, reason, why) in checks.items():
            assert check_id in contract.CHECK_IDS_BY_PROFILE[profiles[fault]], (fault, check_id)
            assert Outcome(outcome) and Reason(reason) and why, (fault, check_id)
