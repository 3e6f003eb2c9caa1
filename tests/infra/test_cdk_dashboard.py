"""The dashboard of DESIGN §6: alarm status, per-check table, latencies, readiness, cost, Lambda health, failures."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.contract import CHECK_IDS_BY_PROFILE, LATENCY_SLI_CHECKS
from tests.infra.conftest import PRODUCTION, QUEUE, STAGING, Synthesized
from tests.infra.template_tools import dashboard_body, logical_id, resources

P = "webordinary-canary-production"
PRODUCTION_CHECKS = [c for c in CHECK_IDS_BY_PROFILE["session-platform"]
                     if c not in ("session.persistence", "session.concurrency", "session.auto_shutdown")]


def widgets(synthesized: Synthesized, stack: str) -> dict[str, dict[str, Any]]:
    body = dashboard_body(synthesized.json(stack))
    return {w["properties"].get("title", w["type"]): w for w in body["widgets"]}


def series(widget: dict[str, Any]) -> list[list[Any]]:
    return [m for m in widget["properties"]["metrics"] if isinstance(m[0], str)]


def test_dashboard_is_named_per_environment_and_region(synthesized: Synthesized) -> None:
    (dashboard,) = resources(synthesized.json(PRODUCTION), "AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == f"{P}-us-west-2"


def test_alarm_status_widget_lists_every_alarm(synthesized: Synthesized) -> None:
    template = synthesized.json(PRODUCTION)
    alarm_ids = [*resources(template, "AWS::CloudWatch::Alarm"),
                 *resources(template, "AWS::CloudWatch::CompositeAlarm")]
    listed = widgets(synthesized, PRODUCTION)["Alarms"]["properties"]["alarms"]
    assert sorted(listed) == sorted("${" + i + ".Arn}" for i in alarm_ids)


def test_per_check_table_reads_the_structured_log_lines_not_a_metric(synthesized: Synthesized) -> None:
    # Contract v2: a passing check emits no outcome metric, so last outcome, reason and pass rate come from the
    # handler's one log line per check (fields check, outcome, reason) through Logs Insights.
    widget = widgets(synthesized, PRODUCTION)["Per check: last outcome, reason, pass rate (canary logs)"]
    query = widget["properties"]["query"]
    for kind in ("probe", "journey"):
        assert f"SOURCE '/aws/lambda/{P}-{kind}'" in query
    assert "/aws/lambda/webordinary-canary-production-sweeper" not in query  # the sweeper runs no check
    assert 'filter kind = "check_result"' in query
    assert "latest(outcome) as last_outcome, latest(reason) as last_reason" in query
    assert 'avg(passed) as pass_rate' in query and 'strcontains(outcome, "PASSED") as passed' in query
    assert "count(*) as runs by check" in query and "sort check asc" in query
    assert widget["properties"]["view"] == "table"


@pytest.mark.parametrize("stack", [PRODUCTION, STAGING, QUEUE])
def test_no_widget_reads_check_passed(synthesized: Synthesized, stack: str) -> None:
    assert "CheckPassed" not in json.dumps(dashboard_body(synthesized.json(stack)))


@pytest.mark.parametrize("stat", ["p50", "p90", "p99"])
def test_check_duration_percentiles_only_for_latency_slis(synthesized: Synthesized, stat: str) -> None:
    widget = widgets(synthesized, PRODUCTION)[f"Check duration {stat} (ms), latency SLIs"]
    lines = series(widget)
    assert [m[-1]["label"] for m in lines] == [c for c in PRODUCTION_CHECKS if c in LATENCY_SLI_CHECKS]
    assert {m[1] for m in lines} == {"CheckDuration"} and {m[-1]["stat"] for m in lines} == {stat}
    queue = series(widgets(synthesized, QUEUE)[f"Check duration {stat} (ms), latency SLIs"])
    assert {m[-1]["label"] for m in queue} == {"s3.site", "stepfunctions.executions"}


def test_journey_latencies_and_cold_vs_warm_readiness(synthesized: Synthesized) -> None:
    named = widgets(synthesized, PRODUCTION)
    steps = series(named["Journey step latency p50/p90/p99 (ms)"])
    assert {(m[1], m[-1]["stat"]) for m in steps} == {
        (name, p) for name in ("SessionActivateLatency", "PreviewLatency", "WebSocketConnectLatency")
        for p in ("p50", "p90", "p99")}
    ready = series(named["Edit container ready: cold vs warm (ms)"])
    assert {(dict(zip(m[2:-1:2], m[3:-1:2], strict=True))["StartType"], m[-1]["stat"]) for m in ready} == {
        (start, p) for start in ("cold", "warm") for p in ("p50", "p90", "p99")}
    assert {m[1] for m in ready} == {"ContainerReadyLatency"}
    # The queue profile has no journey, so no journey widgets.
    assert "Journey step latency p50/p90/p99 (ms)" not in widgets(synthesized, QUEUE)


def test_cost_per_day_and_hygiene(synthesized: Synthesized) -> None:
    named = widgets(synthesized, PRODUCTION)
    cost = named["Estimated canary cost per day (USD)"]
    (metric,) = series(cost)
    assert metric[1] == "EstimatedRunCostUSD" and metric[-1]["stat"] == "Sum" and metric[-1]["period"] == 86400
    assert cost["properties"]["view"] == "bar"
    assert series(named["Leaked synthetic sessions"])[0][1] == "LeakedSessions"
    queue = logical_id(synthesized.json(PRODUCTION), "AWS::SQS::Queue", "QueueName", f"{P}-schedule-dlq")
    (dlq,) = series(named["Undelivered scheduled runs (DLQ)"])
    assert dlq[:4] == ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${" + queue + ".QueueName}"]


def test_lambda_health_covers_every_function(synthesized: Synthesized) -> None:
    template = synthesized.json(PRODUCTION)
    name_of = {"${Ref:" + k + "}": v["Properties"]["FunctionName"]
               for k, v in resources(template, "AWS::Lambda::Function").items() if "FunctionName" in v["Properties"]}
    named = widgets(synthesized, PRODUCTION)
    counts = series(named["Lambda invocations, errors, throttles"])
    assert {(m[1], name_of[m[3]]) for m in counts} == {
        (metric, f"{P}-{kind}") for kind in ("probe", "journey", "sweeper")
        for metric in ("Invocations", "Errors", "Throttles")}
    duration = named["Lambda duration vs timeout (ms)"]
    assert {name_of[m[3]] for m in series(duration)} == {f"{P}-{kind}" for kind in ("probe", "journey", "sweeper")}
    limits = {a["value"] for a in duration["properties"]["annotations"]["horizontal"]}
    assert limits == {240000, 480000}  # 80% of the 300 s and 600 s timeouts


def test_logs_insights_widget_shows_the_latest_failures(synthesized: Synthesized) -> None:
    widget = widgets(synthesized, PRODUCTION)["Latest failures (canary logs)"]
    query = widget["properties"]["query"]
    for kind in ("probe", "journey", "sweeper"):
        assert f"SOURCE '/aws/lambda/{P}-{kind}'" in query
    # The handler's per-check log line carries check, outcome and reason (handlers.composition.observe_result).
    assert 'filter outcome in ["FAILED", "ERROR", "INCOMPLETE"]' in query
    assert "fields @timestamp, check, outcome, reason" in query
    assert "sort @timestamp desc" in query


def test_disabled_checks_are_named_on_the_dashboard_and_nowhere_else(synthesized: Synthesized) -> None:
    # conftest: staging disables alb.targets and alb.rules (no ALB); production disables nothing.
    texts = [w["properties"]["markdown"] for w in dashboard_body(synthesized.json(STAGING))["widgets"]
             if w["type"] == "text"]
    (disabled,) = [t for t in texts if t.startswith("### Disabled checks")]
    assert "`alb.targets`, `alb.rules`" in disabled and "disabled_checks" in disabled
    assert not [w for w in dashboard_body(synthesized.json(PRODUCTION))["widgets"]
                if w["type"] == "text" and "Disabled checks" in w["properties"]["markdown"]]
