"""`canary selftest` against the sandbox's CloudWatch (moto over HTTP): the alarm goes to ALARM and back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.config import load_config
from harness.contract import selftest_alarm_name
from harness.net.aws import AwsClients
from harness.ops.selftest import run_selftest


def _cloudwatch(sandbox: Any) -> Any:
    return AwsClients(endpoint_url=sandbox.aws_endpoint_url).client("cloudwatch")


def test_selftest_drives_the_alarm_to_alarm_and_back_to_ok(sandbox: Any) -> None:
    config = load_config(environ=sandbox.environment())
    result = run_selftest(_cloudwatch(sandbox), config, interval_s=0.05)
    assert result["ok"] is True, result
    assert [s["state"] for s in result["states"]] == ["ALARM", "OK"]
    assert result["alarm"] == selftest_alarm_name("sandbox")
    assert result["alarm_actions"], "the alarm must notify someone"
    # it leaves the alarm as it found it
    alarm = _cloudwatch(sandbox).describe_alarms(AlarmNames=[result["alarm"]])["MetricAlarms"][0]
    assert alarm["StateValue"] == "OK"


def test_selftest_reports_a_missing_alarm_instead_of_crashing(sandbox: Any) -> None:
    config = load_config(environ=sandbox.environment())
    result = run_selftest(_cloudwatch(sandbox), config, alarm_name="no-such-alarm", interval_s=0.05)
    assert result["ok"] is False and "not found" in result["message"]


def test_selftest_with_denied_cloudwatch_is_a_clear_failure(sandbox: Any) -> None:
    sandbox.faults.enable("access_denied", service="monitoring")
    config = load_config(environ=sandbox.environment())
    result = run_selftest(_cloudwatch(sandbox), config, interval_s=0.05)
    assert result["ok"] is False
    assert result["reason"] == "access_denied"


# -- delivery: the alarm history says whether CloudWatch could publish each notification --------------------------
def _topic_policy(sandbox: Any, statements: list[dict[str, Any]] | None = None) -> None:
    """Replace the alert topic's policy (None: the stack's own, which lets CloudWatch publish)."""
    from sandbox.seeding import alert_topic_policy

    topic = sandbox.resources.extra["selftest_topic_arn"]
    policy = alert_topic_policy(topic, sandbox.resources.account_id)
    if statements is not None:
        policy["Statement"] = statements
    sandbox.control.client("sns").set_topic_attributes(TopicArn=topic, AttributeName="Policy",
                                                       AttributeValue=json.dumps(policy))


def test_selftest_is_ok_only_because_cloudwatch_executed_both_notifications(sandbox: Any) -> None:
    config = load_config(environ=sandbox.environment())
    result = run_selftest(_cloudwatch(sandbox), config, interval_s=0.05)
    topic = sandbox.resources.extra["selftest_topic_arn"]
    assert result["ok"] is True, result
    # THEN each transition's action is confirmed by its own Action history item
    assert [(d["state"], d["action"], d["executed"]) for d in result["deliveries"]] == [
        ("ALARM", topic, True), ("OK", topic, True)]
    assert all(d["summary"] == f"Successfully executed action {topic}" for d in result["deliveries"])
    assert "executed every action" in result["message"]


def test_a_topic_policy_that_lets_nobody_publish_fails_the_selftest_naming_cause_and_fix(sandbox: Any) -> None:
    # GIVEN the alert topic holding only the TLS Deny (what enforce_ssl alone deploys: issue 11, defect 1)
    topic = sandbox.resources.extra["selftest_topic_arn"]
    _topic_policy(sandbox, [{"Sid": "AllowPublishThroughSSLOnly", "Effect": "Deny", "Principal": "*",
                             "Action": "sns:Publish", "Resource": topic,
                             "Condition": {"Bool": {"aws:SecureTransport": "false"}}}])
    config = load_config(environ=sandbox.environment())
    # WHEN the self-test drives the alarm
    result = run_selftest(_cloudwatch(sandbox), config, interval_s=0.05)
    # THEN the alarm still moved (states are not delivery) but the self-test is not ok
    assert [s["state"] for s in result["states"]] == ["ALARM", "OK"]
    assert result["ok"] is False
    assert [(d["state"], d["executed"]) for d in result["deliveries"]] == [("ALARM", False), ("OK", False)]
    assert result["deliveries"][0]["summary"].startswith(f"Failed to execute action {topic}")
    # AND the message names the cause (CloudWatch's own error) and the fix
    assert "is not authorized to perform: SNS:Publish" in result["message"]
    assert "no resource-based policy allows" in result["message"]
    assert "cloudwatch.amazonaws.com to sns:Publish" in result["message"]


def test_an_allow_scoped_to_another_account_does_not_let_this_alarm_publish(sandbox: Any) -> None:
    topic = sandbox.resources.extra["selftest_topic_arn"]
    _topic_policy(sandbox, [{"Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
                             "Action": "sns:Publish", "Resource": topic,
                             "Condition": {"StringEquals": {"aws:SourceAccount": "999999999999"}}}])
    result = run_selftest(_cloudwatch(sandbox), load_config(environ=sandbox.environment()), interval_s=0.05)
    assert result["ok"] is False and result["deliveries"][0]["executed"] is False


def test_an_explicit_deny_for_cloudwatch_wins_over_the_allow(sandbox: Any) -> None:
    topic = sandbox.resources.extra["selftest_topic_arn"]
    from sandbox.seeding import alert_topic_policy

    statements = alert_topic_policy(topic, sandbox.resources.account_id)["Statement"]
    _topic_policy(sandbox, [*statements, {"Effect": "Deny", "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                          "Action": "SNS:*", "Resource": "*"}])
    result = run_selftest(_cloudwatch(sandbox), load_config(environ=sandbox.environment()), interval_s=0.05)
    assert result["ok"] is False and "explicit deny" in result["deliveries"][0]["error"]


def test_an_action_on_a_missing_topic_fails_the_selftest(sandbox: Any) -> None:
    # GIVEN an alarm whose action names a topic that does not exist
    cloudwatch = sandbox.control.client("cloudwatch")
    alarm = selftest_alarm_name("sandbox")
    described = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]
    ghost = described["AlarmActions"][0] + "-gone"
    cloudwatch.put_metric_alarm(**{k: described[k] for k in (
        "AlarmName", "Namespace", "MetricName", "Statistic", "Period", "EvaluationPeriods", "Threshold",
        "ComparisonOperator")}, AlarmActions=[ghost], OKActions=[], ActionsEnabled=True)
    try:
        result = run_selftest(_cloudwatch(sandbox), load_config(environ=sandbox.environment()), interval_s=0.05,
                              timeout_s=2)
    finally:
        cloudwatch.put_metric_alarm(**{k: described[k] for k in (
            "AlarmName", "Namespace", "MetricName", "Statistic", "Period", "EvaluationPeriods", "Threshold",
            "ComparisonOperator", "AlarmActions", "OKActions", "ActionsEnabled", "TreatMissingData")})
    # THEN the failed publish is reported as CloudWatch recorded it, and the self-test is not ok
    assert result["ok"] is False
    assert result["deliveries"] == [{"state": "ALARM", "action": ghost, "executed": False,
                                     "summary": result["deliveries"][0]["summary"],
                                     "error": "Topic does not exist"}]


class _SilentHistory:
    """The real CloudWatch client, except that the alarm history never shows an Action item (CloudWatch lagging)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_paginator(self, operation: str) -> Any:
        if operation != "describe_alarm_history":
            return self._client.get_paginator(operation)

        class Empty:
            def paginate(self, **_kwargs: Any) -> list[dict[str, Any]]:
                return [{"AlarmHistoryItems": []}]

        return Empty()


def test_no_action_item_within_the_wait_is_unproven_not_ok(sandbox: Any) -> None:
    result = run_selftest(_SilentHistory(_cloudwatch(sandbox)), load_config(environ=sandbox.environment()),
                          interval_s=0.05, timeout_s=1)
    assert [s["state"] for s in result["states"]] == ["ALARM", "OK"]
    assert result["ok"] is False and [d["executed"] for d in result["deliveries"]] == [None, None]
    assert "delivery is unproven" in result["message"]


@pytest.mark.parametrize(("item", "expected"), [
    ({"HistorySummary": 'Failed to execute action arn:aws:sns:us-east-1:111122223333:alerts. Received error: '
                        '"Resource: arn:aws:cloudwatch:us-east-1:111122223333:alarm:a is not authorized to perform: '
                        'SNS:Publish on resource: arn:aws:sns:us-east-1:111122223333:alerts"'},
     (False, "arn:aws:sns:us-east-1:111122223333:alerts",
      "Resource: arn:aws:cloudwatch:us-east-1:111122223333:alarm:a is not authorized to perform: SNS:Publish on "
      "resource: arn:aws:sns:us-east-1:111122223333:alerts")),
    ({"HistorySummary": "Successfully executed action arn:aws:sns:us-east-1:111122223333:alerts"},
     (True, "arn:aws:sns:us-east-1:111122223333:alerts", "")),
    ({"HistorySummary": "Alarm updated from OK to ALARM"}, (None, "", "")),
])
def test_history_items_as_aws_documents_them_are_read_from_the_summary_alone(
        item: dict[str, str], expected: tuple[bool | None, str, str]) -> None:
    from harness.ops.selftest import _delivery

    assert _delivery(item) == expected
