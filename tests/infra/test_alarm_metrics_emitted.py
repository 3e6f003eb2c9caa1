"""No silent greens (issue 11.5): every alarm in the template watches a metric that a run really emits.

The Lambda handlers run against the sandbox (real HTTP, boto3 over HTTP to moto) with each synthesized function's
own CANARY_* and POWERTOOLS_* environment (so the Environment dimension and service are the deployed ones) and
the sandbox's targets. Each per-check alarm's check is made to FAIL by a sandbox fault (or a resource that does
not exist), the EMF lines on stdout are collected as (namespace, metric, dimension set), and every alarm's
(namespace, metric, dimensions) must be among them. AWS/* alarms watch AWS's own metrics; the self-test alarm
watches a metric nothing emits on purpose (only SetAlarmState moves it) and is the one named exception. The
dashboard's per-check table is held to the same standard: the log fields its query reads are the handler's.

Covered: the session-platform production stack (probe and journey functions, the sweeper) and the queue-platform
stack. Staging differs only by its environment name and the destructive tier, whose checks take minutes each.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from handlers.canary import CanaryHandler
from handlers.composition import build_app, logger
from handlers.sweeper import SweepHandler
from harness import contract
from infra.dashboard import PER_CHECK_QUERY
from infra.metrics import SELFTEST_METRIC
from sandbox.queue_side import QueueSide
from tests.infra.conftest import PRODUCTION, QUEUE, Synthesized
from tests.infra.template_tools import by_property, dimensions
from tests.lambda_support import LambdaContext, emf

pytestmark = pytest.mark.slow  # about a minute: some twenty handler runs against the sandbox

Emitted = set[tuple[str, str, frozenset[tuple[str, str]]]]

# How to make each alarmed check FAIL: a sandbox fault (name, params) and/or environment overrides.
SESSION_FAILURES: dict[str, tuple[str | None, dict[str, str], dict[str, str]]] = {
    "ecs.cluster": (None, {}, {"ECS_CLUSTER": "webordinary-no-such-cluster"}),
    "ecs.services": ("service_mismatch", {}, {}),
    "dynamodb.sessions_table": ("ttl_disabled", {}, {}),
    "alb.targets": ("targets_unhealthy", {}, {}),
    "alb.rules": ("route_missing", {}, {}),
    "efs.filesystem": ("efs_unavailable", {}, {}),
    "http.hermes_health": ("hermes_5xx", {}, {}),
    "http.routing": ("hermes_down", {}, {}),
    "cloudwatch.platform_metrics": ("metric_missing", {}, {}),
    "latency.baseline": ("hermes_slow", {"delay_ms": "300"},
                         {"CANARY_LATENCY_SAMPLES": "3", "CANARY_LATENCY_DEGRADED_MS": "100",
                          "CANARY_LATENCY_FAILED_MS": "200"}),
    "cleanup.orphans": (None, {}, {"SESSIONS_TABLE": "webordinary-no-such-table"}),
    "session.lifecycle": ("activate_app_error", {}, {}),
}
QUEUE_FAILURES: dict[str, tuple[str | None, dict[str, str], dict[str, str]]] = {
    "sqs.dlq_empty": ("dlq_message", {}, {}),
    "sqs.queue_age": ("stuck_message", {}, {}),
    "stepfunctions.executions": ("failed_executions", {}, {}),
    "s3.site": ("stale_site", {}, {}),
    "ownership.claims": ("stale_claim", {}, {}),
    "ecs.edit_idle": ("idle_tasks", {}, {}),
}


@pytest.fixture(autouse=True)
def _clean_powertools(fresh_powertools: None) -> None:
    """Every test starts with clean Powertools state."""




def functions(template: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Function kind -> the deployed function's plain-string environment."""
    out = {}
    for props in by_property(template, "AWS::Lambda::Function", "FunctionName").values():
        variables = props.get("Environment", {}).get("Variables", {})
        if "CANARY_ENVIRONMENT" in variables:
            out[props["FunctionName"].rsplit("-", 1)[1]] = {k: v for k, v in variables.items() if isinstance(v, str)}
    return out


def deployed_env(function_env: Mapping[str, str], target_env: Mapping[str, str]) -> dict[str, str]:
    """The sandbox's targets under the deployed function's own identity (environment, profile, tiers, service)."""
    # (the maintenance window is left out: a run inside it would rightly emit no CheckFailed)
    own = {k: v for k, v in function_env.items()
           if k.startswith(("CANARY_", "POWERTOOLS_")) and k != "CANARY_MAINTENANCE_WINDOWS"}
    return {**target_env, **own, "CANARY_CONFIRM_PAUSE_S": "0"}


def alarm_metrics(template: dict[str, Any]) -> dict[str, tuple[str, str, frozenset[tuple[str, str]]]]:
    """Alarm name -> (namespace, metric, dimensions) of every alarm on the canary's own namespace."""
    return {name: (a["Namespace"], a["MetricName"], frozenset(dimensions(a).items()))
            for name, a in by_property(template, "AWS::CloudWatch::Alarm", "AlarmName").items()
            if a.get("Namespace") == contract.NAMESPACE and a["MetricName"] != SELFTEST_METRIC}


def collect(out: str) -> Emitted:
    return {(contract.NAMESPACE, metric, frozenset(dims.items())) for dims, values in emf(out) for metric in values}


def run(handler: Any, event: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], Emitted]:
    response = handler(event, LambdaContext(remaining_s=240.0))
    return response, collect(capsys.readouterr().out)


def canary(app: Any) -> CanaryHandler:
    return CanaryHandler(lambda: app)


def use(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> dict[str, str]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)  # boto3 reads AWS_ENDPOINT_URL and the credentials from the process
    return dict(env)


def failing_runs(sandbox: Any, failures: Mapping[str, tuple[str | None, dict[str, str], dict[str, str]]],
                 envs: Mapping[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch,
                 capsys: pytest.CaptureFixture[str]) -> Emitted:
    """Each check alone, made to fail, through the handler of the function that runs it."""
    emitted: Emitted = set()
    for check_id, (fault, params, overrides) in failures.items():
        kind = contract.NON_PROBE_TIERS.get(check_id, "probe")
        env = use(monkeypatch, {**envs[kind], **overrides})
        sandbox.reset()
        if fault:
            sandbox.faults.enable(fault, **params)
        app = build_app(env)
        response, points = run(canary(app), {"checks": [check_id]}, capsys)
        outcomes = {c["id"]: (c["outcome"], c["reason"]) for c in response["checks"]}
        assert outcomes[check_id][0] == "FAILED", (check_id, outcomes[check_id], response.get("error"))
        emitted |= points
    sandbox.reset()
    return emitted


def seed_leaked_session(sandbox: Any) -> None:
    created = (datetime.now(UTC) - timedelta(hours=3)).isoformat().replace("+00:00", "Z")
    sandbox.control.client("dynamodb").put_item(
        TableName=sandbox.resources.sessions_table,
        Item={"sessionId": {"S": "sess-leaked-1"}, "userId": {"S": "TEST_canary-run-old@canary.webordinary.invalid"},
              "status": {"S": "active"}, "createdAt": {"S": created}})


def test_every_session_platform_alarm_watches_a_metric_a_run_emits(
        synthesized: Synthesized, sandbox: Any, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    template = synthesized.json(PRODUCTION)
    watched = alarm_metrics(template)
    per_check = {n.split("-check-", 1)[1] for n in watched if "-check-" in n}
    assert per_check == set(SESSION_FAILURES)  # every per-check alarm has a way to fail here, and only those
    target = sandbox.environment()
    envs = {kind: deployed_env(env, target) for kind, env in functions(template).items()}
    # every per-check alarm: its check FAILED once
    emitted = failing_runs(sandbox, SESSION_FAILURES, envs, monkeypatch, capsys)
    # CanaryErrors: the canary's own credentials rejected (ERROR)
    env = use(monkeypatch, envs["probe"])
    sandbox.faults.enable("credentials_expired")
    app = build_app(env)
    response, points = run(canary(app), {"checks": ["aws.credentials"]}, capsys)
    assert response["outcome"] == "ERROR"
    emitted |= points
    sandbox.reset()
    # LeakedSessions: the sweeper finds a synthetic session older than the sweep age
    seed_leaked_session(sandbox)
    env = use(monkeypatch, envs["sweeper"])
    sweeper_app = build_app(env)
    swept = SweepHandler(lambda: sweeper_app)({}, LambdaContext())
    assert swept["leaked"] == 1
    emitted |= collect(capsys.readouterr().out)
    sandbox.reset()
    # THEN every alarm on the canary's namespace reads a (namespace, metric, dimensions) that really arrived
    missing = {name: metric for name, metric in watched.items() if metric not in emitted}
    assert missing == {}
    assert {m for _, m, _ in watched.values()} >= {contract.CHECK_FAILED, contract.RUN_PASSED,
                                                   contract.CANARY_ERRORS, contract.LEAKED_SESSIONS}


def test_every_queue_platform_alarm_watches_a_metric_a_run_emits(
        synthesized: Synthesized, sandbox: Any, queue: QueueSide, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    template = synthesized.json(QUEUE)
    watched = alarm_metrics(template)
    assert {n.split("-check-", 1)[1] for n in watched if "-check-" in n} == set(QUEUE_FAILURES)
    queue.reset()
    target = {**sandbox.aws.canary_env(), **queue.environment()}
    envs = {kind: deployed_env(env, target) for kind, env in functions(template).items()}
    assert set(envs) == {"probe"}  # the queue profile deploys only probes
    emitted = set()
    for check_id, (fault, params, overrides) in QUEUE_FAILURES.items():
        queue.reset()
        env = use(monkeypatch, {**envs["probe"], **overrides})
        assert fault
        sandbox.faults.enable(fault, **params)
        app = build_app(env)
        response, points = run(canary(app), {"checks": [check_id]}, capsys)
        assert {c["id"]: c["outcome"] for c in response["checks"]}[check_id] == "FAILED", response["checks"]
        emitted |= points
        sandbox.faults.clear()
    sandbox.faults.enable("credentials_expired")
    app = build_app(use(monkeypatch, envs["probe"]))
    response, points = run(canary(app), {"checks": ["aws.credentials"]}, capsys)
    assert response["outcome"] == "ERROR"
    emitted |= points
    sandbox.faults.clear()
    missing = {name: metric for name, metric in watched.items() if metric not in emitted}
    assert missing == {}


def test_the_dashboards_per_check_table_reads_fields_the_handler_logs(
        synthesized: Synthesized, sandbox: Any, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    # The Logs Insights widget (DESIGN §6 v2: the per-check table) is only as good as the fields it names.
    envs = {kind: deployed_env(env, sandbox.environment()) for kind, env in functions(synthesized.json(PRODUCTION))
            .items()}
    app = build_app(use(monkeypatch, envs["probe"]))
    sandbox.faults.enable("hermes_5xx")
    with caplog.at_level(logging.INFO, logger=logger.name):
        response, _ = run(canary(app), {"checks": ["http.hermes_health", "ecs.cluster"]}, capsys)
    lines = [json.loads(logger.registered_formatter.format(r)) for r in caplog.records if r.name == logger.name]
    per_check = [line for line in lines if line.get(contract.LOG_FIELD_KIND) == contract.LOG_KIND_CHECK_RESULT]
    assert sorted(line[contract.LOG_FIELD_CHECK] for line in per_check) == ["ecs.cluster", "http.hermes_health"]
    outcomes = {c["id"]: c["outcome"] for c in response["checks"]}
    query = "\n".join(PER_CHECK_QUERY)
    for field in (contract.LOG_FIELD_KIND, contract.LOG_FIELD_CHECK, contract.LOG_FIELD_OUTCOME,
                  contract.LOG_FIELD_REASON):
        assert field in query
        assert all(line.get(field) not in (None, "") for line in per_check), field
    assert {line[contract.LOG_FIELD_CHECK]: line[contract.LOG_FIELD_OUTCOME] for line in per_check} == outcomes
    assert outcomes == {"ecs.cluster": "PASSED", "http.hermes_health": "FAILED"}
