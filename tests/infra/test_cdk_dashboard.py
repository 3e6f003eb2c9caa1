"""The dashboard of DESIGN §6: alarm status, pass rate, latencies, readiness, cost, Lambda health, failures."""

from __future__ import annotations

from typing import Any

import pytest

from harness.contract import CHECK_IDS_BY_PROFILE, NAMESPACE
from tests.infra.conftest import PRODUCTION, QUEUE, Synthesized
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


def test_pass_rate_is_check_passed_average_times_100_per_check(synthesized: Synthesized) -> None:
    widget = widgets(synthesized, PRODUCTION)["Pass rate per check (%)"]
    expressions = [m[0] for m in widget["properties"]["metrics"] if isinstance(m[0], dict)]
    assert [e["label"] for e in expressions] == PRODUCTION_CHECKS
    by_id = {m[-1]["id"]: m for m in series(widget)}
    for expression in expressions:
        metric_id = expression["expression"].removeprefix("100 * ")
        metric = by_id[metric_id]
        assert metric[:2] == [NAMESPACE, "CheckPassed"] and metric[-1].get("stat", "Average") == "Average"
        assert dict(zip(metric[2:-1:2], metric[3:-1:2], strict=True)) == {
            "Check": expression["label"], "Environment": "production", "service": "webordinary-canary"}
    assert widget["properties"]["yAxis"]["left"] == {"min": 0, "max": 100, "showUnits": False}


@pytest.mark.parametrize("stat", ["p50", "p90", "p99"])
def test_check_duration_percentiles(synthesized: Synthesized, stat: str) -> None:
    widget = widgets(synthesized, PRODUCTION)[f"Check duration {stat} (ms)"]
    lines = series(widget)
    assert [m[-1]["label"] for m in lines] == PRODUCTION_CHECKS
    assert {m[1] for m in lines} == {"CheckDuration"} and {m[-1]["stat"] for m in lines} == {stat}


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
               for k, v in resources(template, "AWS::Lambda::Function").items()}
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
