"""The alert-path self-test through the Lambda handler (``{"selftest": true}``) against the sandbox's CloudWatch.

tests/integration/test_selftest.py covers ``harness.ops.selftest`` as the CLI uses it. Here the handler is invoked
as Lambda would (context object, the function's environment), and the sandbox's AWS proxy shows exactly what
it did: no check ran, and its only writes were the two SetAlarmState calls on the self-test alarm.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from handlers.canary import CanaryHandler
from handlers.composition import build_app
from handlers.events import EventInvalid, parse_canary_event
from harness.checks import CATALOGUE
from harness.contract import selftest_alarm_name
from tests.integration.aws_writes import writes
from tests.lambda_support import LambdaContext

KNOWN = [c.id for c in CATALOGUE]



@pytest.fixture
def function_env(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The probe function's environment against the sandbox (boto3 reads AWS_ENDPOINT_URL from the process)."""
    env = {**sandbox.environment(), "CANARY_SELFTEST_ALARM": selftest_alarm_name("sandbox")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield env


def invoke(env: dict[str, str], event: Any) -> dict[str, Any]:
    app = build_app(env)
    response: dict[str, Any] = CanaryHandler(lambda: app)(event, LambdaContext())
    return response


def test_selftest_event_drives_the_alarm_to_alarm_and_back_and_runs_no_check(
        sandbox: Any, function_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    alarm = function_env["CANARY_SELFTEST_ALARM"]
    # WHEN an operator invokes the probe function with {"selftest": true}
    with sandbox.aws.recording() as calls:
        response = invoke(function_env, {"selftest": True})
    # THEN the alarm went to ALARM and back to OK, and the response says so with the alarm's actions
    assert response["selftest"] is True and response["ok"] is True, response
    assert response["alarm"] == alarm and [s["state"] for s in response["states"]] == ["ALARM", "OK"]
    assert response["alarm_actions"] == [sandbox.resources.extra["selftest_topic_arn"]]
    cloudwatch = sandbox.control.client("cloudwatch")
    assert cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"] == "OK"
    # AND its only writes were the two state changes of that alarm; no check ran (no STS, ECS, HTTP...)
    assert writes(calls) == ["cloudwatch:SetAlarmState", "cloudwatch:SetAlarmState"]
    assert all(alarm in c.body.decode() for c in calls if c.action == "cloudwatch:SetAlarmState")
    assert {c.service for c in calls} == {"monitoring"}
    assert "checks" not in response
    # AND CloudWatch's alarm history confirmed each notification (read, not written: DescribeAlarmHistory)
    assert [(d["state"], d["executed"]) for d in response["deliveries"]] == [("ALARM", True), ("OK", True)]
    assert "cloudwatch:DescribeAlarmHistory" in {c.action for c in calls}
    # AND no metric was emitted (a self-test is not a run)
    assert '"_aws"' not in capsys.readouterr().out


def test_selftest_through_the_handler_fails_when_cloudwatch_may_not_publish(
        sandbox: Any, function_env: dict[str, str]) -> None:
    # GIVEN the alert topic's policy holding only the TLS Deny: no statement lets cloudwatch.amazonaws.com publish
    topic = sandbox.resources.extra["selftest_topic_arn"]
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "sns:Publish", "Resource": topic,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
    sandbox.control.client("sns").set_topic_attributes(TopicArn=topic, AttributeName="Policy",
                                                       AttributeValue=json.dumps(policy))
    response = invoke(function_env, {"selftest": True})
    assert response["ok"] is False and [s["state"] for s in response["states"]] == ["ALARM", "OK"], response
    assert "Failed to execute action" in response["deliveries"][0]["summary"]
    assert "cloudwatch.amazonaws.com" in response["message"]


def test_selftest_names_a_missing_alarm_instead_of_crashing(sandbox: Any, function_env: dict[str, str]) -> None:
    env = {**function_env, "CANARY_SELFTEST_ALARM": "webordinary-canary-sandbox-no-such-alarm"}
    response = invoke(env, {"selftest": True})
    assert response["ok"] is False and "not found" in response["message"], response


def test_selftest_without_permission_is_a_clear_failure(sandbox: Any, function_env: dict[str, str]) -> None:
    sandbox.faults.enable("access_denied", service="monitoring")
    response = invoke(function_env, {"selftest": True})
    assert (response["ok"], response["reason"]) == (False, "access_denied"), response


@pytest.mark.parametrize("event", [
    {"selftest": True, "tiers": ["probe"]},
    {"selftest": True, "checks": ["http.hermes_health"]},
    {"selftest": True, "dry_run": True},
    {"selftest": True, "profile": "session-platform"},
    {"selftest": "yes"},
    {"selftest": 1},
])
def test_a_selftest_event_with_anything_else_is_invalid_and_touches_nothing(
        event: dict[str, Any], sandbox: Any, function_env: dict[str, str]) -> None:
    with pytest.raises(EventInvalid) as caught:
        parse_canary_event(event, known_checks=KNOWN)
    assert [d["field"] for d in caught.value.details] == ["selftest"]
    with sandbox.aws.recording() as calls:
        response = invoke(function_env, event)
    assert response["error"] == "validation" and [d["field"] for d in response["details"]] == ["selftest"]
    assert calls == []
    alarm = function_env["CANARY_SELFTEST_ALARM"]
    state = sandbox.control.client("cloudwatch").describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]
    assert state["StateValue"] == "OK"


def test_selftest_alone_and_inside_a_schedule_envelope_parse() -> None:
    assert parse_canary_event({"selftest": True}, known_checks=KNOWN).selftest is True
    envelope = {"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
                "source": "aws.events", "account": "123456789012", "time": "2026-11-25T18:00:00Z",
                "region": "us-west-2", "resources": [], "detail": {"selftest": True}}
    assert parse_canary_event(envelope, known_checks=KNOWN).selftest is True
    assert parse_canary_event({}, known_checks=KNOWN).selftest is False
    explicit_run = parse_canary_event({"selftest": False, "tiers": ["probe"]}, known_checks=KNOWN)
    assert (explicit_run.selftest, explicit_run.tiers) == (False, ["probe"])  # selftest false is a normal run
