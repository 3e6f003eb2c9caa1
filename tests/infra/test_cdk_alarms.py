"""Every alarm: metric and exact EMF dimensions, threshold, M-of-N, missing data, actions, runbook text."""

from __future__ import annotations

from typing import Any

import pytest

from harness.contract import (
    CHECK_FAILED,
    CHECK_IDS_BY_PROFILE,
    CRITICAL_CHECKS,
    ERROR_ONLY_CHECKS,
    KEY_LATENCY_METRICS,
    NAMESPACE,
    PER_CHECK_METRICS,
    PER_RUN_METRICS,
    all_check_ids,
    check_dimensions,
    container_ready_dimensions,
    run_dimensions,
)
from tests.infra.conftest import PRODUCTION, QUEUE, STAGING, Synthesized
from tests.infra.template_tools import by_property, dimensions, logical_id, render, resources

P = "webordinary-canary-production"
# aws.credentials and config.valid only ever end ERROR (never FAILED): CanaryErrors covers them, no per-check alarm.
PRODUCTION_CHECKS = [c for c in CHECK_IDS_BY_PROFILE["session-platform"]
                     if c not in ("session.persistence", "session.concurrency", "session.auto_shutdown")
                     and c not in ERROR_ONLY_CHECKS]


def alarms(synthesized: Synthesized, stack: str) -> dict[str, dict[str, Any]]:
    return by_property(synthesized.json(stack), "AWS::CloudWatch::Alarm", "AlarmName")


def composites(synthesized: Synthesized, stack: str) -> dict[str, dict[str, Any]]:
    return by_property(synthesized.json(stack), "AWS::CloudWatch::CompositeAlarm", "AlarmName")


def topic_ref(synthesized: Synthesized, stack: str, prefix: str) -> dict[str, str]:
    return {"Ref": logical_id(synthesized.json(stack), "AWS::SNS::Topic", "TopicName", f"{prefix}-alerts")}


def test_production_has_exactly_the_expected_alarms(synthesized: Synthesized) -> None:
    names = set(alarms(synthesized, PRODUCTION))
    expected = {f"{P}-check-{c}" for c in PRODUCTION_CHECKS}
    expected |= {f"{P}-{n}" for n in ("canary-errors", "canary-errors-60min", "heartbeat", "leaked-sessions",
                                     "schedule-dlq-depth", "alert-path-selftest")}
    expected |= {f"{P}-{kind}-{what}" for kind in ("probe", "journey", "sweeper")
                 for what in ("errors", "throttles", "not-invoked", "duration-near-timeout")}
    assert names == expected
    assert set(composites(synthesized, PRODUCTION)) == {f"{P}-platform-unhealthy", f"{P}-canary-broken"}


@pytest.mark.parametrize("check_id", PRODUCTION_CHECKS)
def test_per_check_alarm_is_m_of_n_on_sparse_check_failed_with_missing_data_not_breaching(
        synthesized: Synthesized, check_id: str) -> None:
    alarm = alarms(synthesized, PRODUCTION)[f"{P}-check-{check_id}"]
    assert alarm["Namespace"] == NAMESPACE
    # Contract v2: CheckFailed is emitted (as 1) only when the check ends FAILED.
    assert alarm["MetricName"] == CHECK_FAILED
    # The exact EMF dimension set, Powertools' service dimension included.
    assert dimensions(alarm) == check_dimensions("production", check_id)
    assert dimensions(alarm)["service"] == "webordinary-canary"
    assert alarm["Statistic"] == "Sum"
    assert alarm["Period"] == (3600 if check_id == "session.lifecycle" else 900)
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    # Critical checks page on one datapoint (failures are confirmed inside the run: detection within one
    # period); warnings keep DESIGN's 2 of 3.
    expected = (1, 1) if check_id in CRITICAL_CHECKS else (2, 3)
    assert (alarm["DatapointsToAlarm"], alarm["EvaluationPeriods"]) == expected
    # A pass, a maintenance window, ERROR or SKIPPED emit no CheckFailed: that must not page.
    assert alarm["TreatMissingData"] == "notBreaching"
    topic = topic_ref(synthesized, PRODUCTION, P)
    if check_id in CRITICAL_CHECKS:
        assert "AlarmActions" not in alarm and "OKActions" not in alarm  # pages through the composite
    else:
        assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic]


def test_destructive_checks_fit_the_one_day_evaluation_limit(synthesized: Synthesized) -> None:
    # Twelve-hourly destructive runs: 2 x 43200 s is the longest window CloudWatch allows.
    staging = alarms(synthesized, STAGING)
    for check_id in ("session.persistence", "session.concurrency", "session.auto_shutdown"):
        alarm = staging[f"webordinary-canary-staging-check-{check_id}"]
        assert alarm["Period"] == 43200
        assert (alarm["DatapointsToAlarm"], alarm["EvaluationPeriods"]) == (2, 2)
        assert alarm["Period"] * alarm["EvaluationPeriods"] <= 86400


def test_heartbeat_breaches_when_no_run_reports_for_twice_the_schedule(synthesized: Synthesized) -> None:
    alarm = alarms(synthesized, PRODUCTION)[f"{P}-heartbeat"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (NAMESPACE, "RunPassed", "SampleCount")
    assert dimensions(alarm) == run_dimensions("production")
    assert alarm["Period"] == 1800  # 2 x 15 min: always holds at least one run, even with run-time jitter
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "LessThanThreshold")
    assert (alarm["DatapointsToAlarm"], alarm["EvaluationPeriods"]) == (1, 1)
    assert alarm["TreatMissingData"] == "breaching"
    assert "AlarmActions" not in alarm  # notifies through canary-broken


def test_canary_errors_alarm(synthesized: Synthesized) -> None:
    alarm = alarms(synthesized, PRODUCTION)[f"{P}-canary-errors"]
    assert (alarm["MetricName"], alarm["Statistic"], alarm["Period"]) == ("CanaryErrors", "Sum", 900)
    assert dimensions(alarm) == run_dimensions("production")
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert (alarm["DatapointsToAlarm"], alarm["EvaluationPeriods"], alarm["TreatMissingData"]) == (
        2, 3, "notBreaching")


@pytest.mark.parametrize(("kind", "period", "timeout"), [("probe", 900, 300), ("journey", 3600, 600),
                                                         ("sweeper", 3600, 300)])
def test_function_health_alarms(synthesized: Synthesized, kind: str, period: int, timeout: int) -> None:
    named = alarms(synthesized, PRODUCTION)
    function = {"FunctionName": f"{P}-{kind}"}
    errors, throttles = named[f"{P}-{kind}-errors"], named[f"{P}-{kind}-throttles"]
    for alarm, metric in ((errors, "Errors"), (throttles, "Throttles")):
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/Lambda", metric, "Sum")
        assert dimensions(alarm) == function and alarm["Period"] == period
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
        assert (alarm["DatapointsToAlarm"], alarm["EvaluationPeriods"], alarm["TreatMissingData"]) == (
            2, 3, "notBreaching")
    not_invoked = named[f"{P}-{kind}-not-invoked"]
    assert (not_invoked["MetricName"], not_invoked["Statistic"], not_invoked["Period"]) == (
        "Invocations", "Sum", 2 * period)
    assert (not_invoked["ComparisonOperator"], not_invoked["TreatMissingData"]) == ("LessThanThreshold", "breaching")
    duration = named[f"{P}-{kind}-duration-near-timeout"]
    assert (duration["MetricName"], duration["Statistic"]) == ("Duration", "Maximum")
    assert (duration["Threshold"], duration["ComparisonOperator"]) == (timeout * 800, "GreaterThanThreshold")
    assert duration["AlarmActions"] == [topic_ref(synthesized, PRODUCTION, P)]


def test_leaked_sessions_dlq_depth_and_selftest_alarms(synthesized: Synthesized) -> None:
    named = alarms(synthesized, PRODUCTION)
    topic = topic_ref(synthesized, PRODUCTION, P)
    leaked = named[f"{P}-leaked-sessions"]
    assert (leaked["MetricName"], leaked["Statistic"], leaked["Period"]) == ("LeakedSessions", "Maximum", 3600)
    assert dimensions(leaked) == run_dimensions("production")
    assert (leaked["Threshold"], leaked["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    dlq = named[f"{P}-schedule-dlq-depth"]
    queue = logical_id(synthesized.json(PRODUCTION), "AWS::SQS::Queue", "QueueName", f"{P}-schedule-dlq")
    assert (dlq["Namespace"], dlq["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert dimensions(dlq) == {"QueueName": "${" + queue + ".QueueName}"}
    assert (dlq["Threshold"], dlq["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    selftest = named[f"{P}-alert-path-selftest"]
    # On a metric nothing emits, so only SetAlarmState moves it; it returns to OK by itself.
    emitted = set(PER_CHECK_METRICS) | set(PER_RUN_METRICS) | set(KEY_LATENCY_METRICS)
    assert selftest["Namespace"] == NAMESPACE and selftest["MetricName"] not in emitted
    for alarm in (leaked, dlq, selftest):
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic]


def test_composites_page_once_for_the_platform_and_once_for_the_canary(synthesized: Synthesized) -> None:
    template = synthesized.json(PRODUCTION)
    named = composites(synthesized, PRODUCTION)
    ids = {props["AlarmName"]: k for k, props in
           ((k, v["Properties"]) for k, v in resources(template, "AWS::CloudWatch::Alarm").items())}
    topic = topic_ref(synthesized, PRODUCTION, P)

    def children(composite: dict[str, Any]) -> set[str]:
        rule = render(composite["AlarmRule"])
        return {name for name, logical in ids.items() if "${" + logical + ".Arn}" in rule}

    platform = named[f"{P}-platform-unhealthy"]
    assert children(platform) == {f"{P}-check-{c}" for c in PRODUCTION_CHECKS if c in CRITICAL_CHECKS}
    broken = named[f"{P}-canary-broken"]
    assert children(broken) == {f"{P}-canary-errors", f"{P}-canary-errors-60min", f"{P}-heartbeat"} | {
        f"{P}-{kind}-{what}" for kind in ("probe", "journey", "sweeper")
        for what in ("errors", "throttles", "not-invoked")}
    for composite in (platform, broken):
        assert render(composite["AlarmRule"]).count("ALARM(") == len(children(composite))
        assert composite["AlarmActions"] == [topic] and composite["OKActions"] == [topic]


@pytest.mark.parametrize("stack", [PRODUCTION, STAGING, QUEUE])
def test_every_alarm_is_a_short_runbook_and_notifying_alarms_send_ok_too(synthesized: Synthesized,
                                                                        stack: str) -> None:
    for alarm in [*alarms(synthesized, stack).values(), *composites(synthesized, stack).values()]:
        text = alarm["AlarmDescription"]
        assert text.startswith("WHAT: ") and " FIRST: " in text and len(text) <= 1024, alarm["AlarmName"]
        assert ("AlarmActions" in alarm) == ("OKActions" in alarm), alarm["AlarmName"]


@pytest.mark.parametrize("stack", [PRODUCTION, STAGING, QUEUE])
def test_custom_metric_alarms_name_only_contract_dimension_sets(synthesized: Synthesized, stack: str) -> None:
    # An alarm with one dimension more or less than the EMF line watches a metric that never exists.
    env = {PRODUCTION: "production", STAGING: "staging", QUEUE: "queue"}[stack]
    allowed = [run_dimensions(env)] + [check_dimensions(env, c) for c in all_check_ids()]
    allowed += [container_ready_dimensions(env, s) for s in ("cold", "warm")]
    custom = [a for a in alarms(synthesized, stack).values() if a["Namespace"] == NAMESPACE]
    assert custom
    for alarm in custom:
        assert dimensions(alarm) in allowed, alarm["AlarmName"]


def test_queue_profile_alarms_cover_its_checks_only(synthesized: Synthesized) -> None:
    prefix = "webordinary-canary-queue"
    named = alarms(synthesized, QUEUE)
    checks = {n.removeprefix(f"{prefix}-check-") for n in named if n.startswith(f"{prefix}-check-")}
    assert checks == set(CHECK_IDS_BY_PROFILE["queue-platform"]) - ERROR_ONLY_CHECKS
    assert f"{prefix}-leaked-sessions" not in named  # no journeys, no sweeper
    platform = composites(synthesized, QUEUE)[f"{prefix}-platform-unhealthy"]
    assert render(platform["AlarmRule"]).count("ALARM(") == len(
        CRITICAL_CHECKS & set(CHECK_IDS_BY_PROFILE["queue-platform"]))


def test_checks_that_only_end_error_get_no_per_check_alarm_and_disabled_checks_none_at_all(
        synthesized: Synthesized) -> None:
    for stack, prefix in ((PRODUCTION, P), (QUEUE, "webordinary-canary-queue")):
        named = alarms(synthesized, stack)
        assert not [c for c in ERROR_ONLY_CHECKS if f"{prefix}-check-{c}" in named]
        assert f"{prefix}-canary-errors" in named  # where their ERROR is counted
    staging = alarms(synthesized, STAGING)  # conftest: staging disables alb.targets and alb.rules
    assert "webordinary-canary-staging-check-alb.targets" not in staging
    assert "webordinary-canary-staging-check-alb.rules" not in staging
    assert "webordinary-canary-staging-check-http.routing" in staging
