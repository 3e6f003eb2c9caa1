"""Deploy-aware results and maintenance windows, in the sandbox (DESIGN §3, §6; issue 7).

Deploying: while Hermes rolls out (the sandbox's ``deploying`` fault: a young PRIMARY deployment IN_PROGRESS, its
new target still in initial health checks, the ALB answering 503), every readiness and routing failure of Hermes
is DEGRADED ``deploying`` with the rollout as evidence, and nothing pages; a rollout older than the grace, or
with failed tasks, is stuck: FAILED. Without readable ECS state there is no excuse.

The same holds while the platform's CloudFormation stack (``PLATFORM_STACK_NAME``) has an update younger than
the grace under way: a Hermes that ECS sees short of tasks, with no rollout of its own, is then deploying too.

Maintenance: a run inside a configured window says so in the report, notes it on every result, and emits no
``CheckFailed`` nor ``ChecksFailed`` (the per-check alarms treat the gap as not breaching) but still ``RunPassed``
(the heartbeat), through both shipping paths: the Lambda's EMF and ``canary run --publish``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from handlers.canary import CanaryHandler
from handlers.composition import build_app
from harness import contract
from harness.checks import CATALOGUE
from harness.config import load_config
from harness.core.deadline import Deadline
from harness.core.model import CheckResult, RunReport
from harness.core.runner import Runner
from harness.net.aws import AwsClients
from harness.net.http import HttpClient
from harness.reporting.metrics import report_datapoints
from tests.lambda_support import LambdaContext

ROOT = Path(__file__).resolve().parents[2]
HERMES = "webordinary-hermes-service"
# The readiness and routing checks of Hermes: what a rollout excuses, and what a stuck one fails.
HERMES_FACING = {"ecs.services": "deployment_failed", "alb.targets": "unhealthy_targets",
                 "http.hermes_health": "http_5xx", "http.routing": "http_5xx", "latency.baseline": "http_5xx"}


def run_probes(sandbox: Any, monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> RunReport:
    env = sandbox.environment()
    for key, value in env.items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    config = load_config({"confirm_pause_s": 0.1, "latency_degraded_ms": 2500, "latency_failed_ms": 2900,
                          **overrides}, environ=env)
    http = HttpClient(ca_bundle=config.ca_bundle)
    return Runner(CATALOGUE, config=config, aws=AwsClients(), http=http).run(deadline=Deadline.after(60))


def by_id(report: RunReport) -> dict[str, CheckResult]:
    return {c.id: c for c in report.checks}


def verdicts(report: RunReport) -> dict[str, tuple[str, str | None]]:
    return {c.id: (c.outcome.value, c.reason.value if c.reason else None) for c in report.checks}


# -- deploying -------------------------------------------------------------------------------------------------
def test_a_young_rollout_is_deploying_with_its_evidence_and_pages_nothing(sandbox: Any,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN Hermes one minute into a rollout whose new task is still in its first health checks
    sandbox.faults.enable("deploying")
    # WHEN the probe tier runs
    report = run_probes(sandbox, monkeypatch)
    results = by_id(report)
    # THEN every Hermes readiness/routing check is DEGRADED deploying, the rest PASSED
    got = verdicts(report)
    assert {i: got[i] for i in HERMES_FACING} == dict.fromkeys(HERMES_FACING, ("DEGRADED", "deploying")), got
    assert {o for i, o in got.items() if i not in HERMES_FACING} == {("PASSED", None)}, got
    # AND each carries the rollout as evidence
    (primary, old) = results["ecs.services"].evidence[HERMES]["deployments"]
    assert (primary["status"], primary["rolloutState"], primary["failedTasks"]) == ("PRIMARY", "IN_PROGRESS", 0)
    assert 50 <= primary["age_s"] <= 600 and old["status"] == "ACTIVE"
    (target,) = results["alb.targets"].evidence["target_groups"]["hermes-api-tg"]["targets"]
    assert (target["state"], target["reason"]) == ("initial", "Elb.InitialHealthChecking")
    for check_id in ("http.hermes_health", "latency.baseline"):
        deploying = results[check_id].evidence["deploying"]
        assert deploying["service"] == HERMES and "rollout in progress" in deploying["why"], check_id
        assert deploying["deployments"][0]["rolloutState"] == "IN_PROGRESS", check_id
    routes = {r["path"]: r for r in results["http.routing"].evidence["routes"]}
    assert routes["/hermes/health"]["verdict"] == "DEGRADED deploying"
    assert "deploys" in results["http.hermes_health"].message
    # AND nothing pages: exit 0, no CheckFailed, RunPassed 1, the degradation counted for the dashboard
    assert report.exit_code == 0
    points = report_datapoints(report)
    assert not [p for p in points if p.name in (contract.CHECK_FAILED, contract.CHECKS_FAILED)]
    assert {p.dimensions["Check"] for p in points if p.name == contract.CHECK_DEGRADED} == set(HERMES_FACING)
    assert [p.value for p in points if p.name == contract.RUN_PASSED] == [1.0]


@pytest.mark.parametrize(("params", "overrides", "why"), [
    ({"age_s": "7200"}, {}, "rollout started"),
    ({"failed_tasks": "2"}, {}, "failed task"),
    ({}, {"deploy_grace_s": 30}, "grace 30 s"),
], ids=["older-than-the-grace", "failed-tasks", "operator-grace"])
def test_a_stuck_rollout_fails_every_hermes_facing_check(params: dict[str, str], overrides: dict[str, Any], why: str,
                                                         sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.faults.enable("deploying", **params)
    report = run_probes(sandbox, monkeypatch, **overrides)
    got = verdicts(report)
    assert {i: got[i] for i in HERMES_FACING} == {i: ("FAILED", r) for i, r in HERMES_FACING.items()}, got
    assert why in by_id(report)["ecs.services"].message
    assert "stuck" in by_id(report)["alb.targets"].message
    assert report.exit_code == 1


def test_no_excuse_without_readable_ecs_state(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the same young rollout, but the canary may not read ECS: it cannot know a rollout is under way
    sandbox.faults.enable("deploying")
    sandbox.faults.enable("access_denied", service="ecs")
    report = run_probes(sandbox, monkeypatch)
    got = verdicts(report)
    # THEN Hermes's 503 is FAILED, not excused, and the ECS checks say why they could not judge
    assert got["http.hermes_health"] == ("FAILED", "http_5xx") and got["latency.baseline"] == ("FAILED", "http_5xx")
    assert "deploying" not in by_id(report)["http.hermes_health"].evidence
    assert got["ecs.services"] == ("ERROR", "access_denied")


# -- the platform's CloudFormation stack updating -------------------------------------------------------------------
@pytest.mark.parametrize(("status", "age_s", "configured", "excused"), [
    ("UPDATE_IN_PROGRESS", 60.0, True, True),
    ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", 60.0, True, True),
    ("UPDATE_IN_PROGRESS", 7200.0, True, False),  # an update stuck past the grace excuses nothing
    ("UPDATE_COMPLETE", 60.0, True, False),
    ("UPDATE_IN_PROGRESS", 60.0, False, False),  # PLATFORM_STACK_NAME unset: the stack is not looked at
], ids=["updating", "cleanup", "stuck", "done", "not-configured"])
def test_a_young_stack_update_excuses_hermes_readiness_failures(status: str, age_s: float, configured: bool,
                                                                 excused: bool, sandbox: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN Hermes down to 0 of 1 tasks with no ECS rollout of its own, while the platform stack is in `status`
    sandbox.faults.enable("service_mismatch")
    sandbox.aws.set_stack_status(status, age_s=age_s)
    overrides = {} if configured else {"platform_stack_name": ""}  # "" is unset: the stack is never read
    report = run_probes(sandbox, monkeypatch, **overrides)
    got = verdicts(report)
    expected = {"ecs.services": "desired_running_mismatch", **{i: r for i, r in HERMES_FACING.items()
                                                               if i != "ecs.services"}}
    if excused:
        # THEN every Hermes readiness/routing failure is DEGRADED deploying, with the stack as evidence
        assert {i: got[i] for i in expected} == dict.fromkeys(expected, ("DEGRADED", "deploying")), got
        results = by_id(report)
        for check_id in ("ecs.services", "alb.targets", "http.routing"):
            assert results[check_id].evidence["stack_update"]["status"] == status, check_id
        assert results["http.hermes_health"].evidence["deploying"]["stack_update"]["stack"] == \
            sandbox.resources.extra["platform_stack_name"]
        assert report.exit_code == 0
    else:
        # THEN the outage is an outage
        assert {i: got[i] for i in expected} == {i: ("FAILED", r) for i, r in expected.items()}, got
        assert report.exit_code == 1


# -- maintenance windows ------------------------------------------------------------------------------------------
def window(*, around_now: bool) -> str:
    now = datetime.now(UTC)
    start, end = (now - timedelta(hours=1), now + timedelta(hours=1)) if around_now else (
        now - timedelta(days=2), now - timedelta(days=1))
    return json.dumps([{"start": start.isoformat(), "end": end.isoformat()}])




def emf_metrics(out: str) -> list[tuple[dict[str, str], dict[str, float]]]:
    """(dimensions, {metric: value}) of every EMF line on stdout."""
    lines = []
    for line in (json.loads(raw) for raw in out.splitlines() if '"_aws"' in raw):
        (directive,) = line["_aws"]["CloudWatchMetrics"]
        (names,) = directive["Dimensions"]
        lines.append(({n: line[n] for n in names}, {m["Name"]: line[m["Name"]][0] for m in directive["Metrics"]}))
    return lines


@pytest.mark.usefixtures("fresh_powertools")
@pytest.mark.parametrize("inside", [True, False], ids=["inside-the-window", "outside-it"])
def test_the_lambda_inside_a_window_notes_every_result_and_emits_no_check_failed(
        inside: bool, sandbox: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN an outage (Hermes answers 500) and a maintenance window around now (or one that already ended)
    sandbox.faults.enable("hermes_5xx")
    env = {**sandbox.environment(), "CANARY_MAINTENANCE_WINDOWS": window(around_now=inside),
           "CANARY_CONFIRM_PAUSE_S": "0.1", "CANARY_LATENCY_DEGRADED_MS": "20000", "CANARY_LATENCY_FAILED_MS": "30000"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    app = build_app(env)
    # WHEN the scheduled probe run happens
    response = CanaryHandler(lambda: app)({}, LambdaContext())
    lines = emf_metrics(capsys.readouterr().out)
    emitted = {name for _dims, metrics in lines for name in metrics}
    (run,) = [m for d, m in lines if "Check" not in d]
    checks = {c["id"]: c for c in response["checks"]}
    # THEN the outage is still reported as it is (FAILED), RunPassed arrives for the heartbeat
    assert checks["http.hermes_health"]["outcome"] == "FAILED" and response["outcome"] == "FAILED"
    assert run[contract.RUN_PASSED] == 0.0
    failed = {i for i, c in checks.items() if c["outcome"] == "FAILED"}
    if inside:
        # AND the run is marked, every result carries the note, and no CheckFailed reaches the per-check alarms
        assert response["maintenance"] is True
        assert all("maintenance window until" in c["message"] and c["evidence"]["maintenance_window"]
                   for c in checks.values()), [c["message"] for c in checks.values()]
        assert not {contract.CHECK_FAILED, contract.CHECKS_FAILED} & emitted and contract.CHECK_DURATION in emitted
    else:
        assert "maintenance" not in response
        assert not [c for c in checks.values() if "maintenance" in c["message"] or "maintenance_window" in
                    c["evidence"]]
        assert run[contract.CHECKS_FAILED] == len(failed)
        assert {d["Check"] for d, m in lines if contract.CHECK_FAILED in m} == failed


def test_canary_run_inside_a_window_publishes_no_check_failed_and_marks_its_reports(sandbox: Any,
                                                                                    tmp_path: Path) -> None:
    # GIVEN an outage (Hermes answers 500) and a run environment of its own (its metrics are told apart by the
    # Environment dimension)
    sandbox.faults.enable("hermes_5xx")
    environment = f"maint-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, **sandbox.environment(), "CANARY_ENVIRONMENT": environment,
           "CANARY_MAINTENANCE_WINDOWS": window(around_now=True)}
    junit = tmp_path / "report.xml"
    # WHEN `canary run --publish` runs inside the window
    proc = subprocess.run([sys.executable, "-m", "cli.main", "run", "--json", "--junit", str(junit), "--publish"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    # THEN the outage is reported as it is (exit 1, FAILED), and the JSON and the JUnit say maintenance, the table too
    assert proc.returncode == 1, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["maintenance"] is True and report["outcome"] == "FAILED"
    properties = {p.get("name"): p.get("value") for p in ET.parse(junit).getroot().iter("property")}
    assert properties.get("maintenance") == "true"
    assert "maintenance window" in proc.stderr
    # AND CloudWatch received RunPassed and the SLI checks' durations, but no CheckFailed or ChecksFailed
    cloudwatch = sandbox.control.client("cloudwatch")
    dims = [{"Name": "Environment", "Value": environment}]
    published = {m["MetricName"] for m in cloudwatch.list_metrics(Namespace=contract.NAMESPACE,
                                                                  Dimensions=dims)["Metrics"]}
    assert {contract.RUN_PASSED, contract.CHECK_DURATION} <= published
    assert not {contract.CHECK_FAILED, contract.CHECKS_FAILED} & published
