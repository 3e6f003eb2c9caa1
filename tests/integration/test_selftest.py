"""`canary selftest` against the sandbox's CloudWatch (moto over HTTP): the alarm goes to ALARM and back."""

from __future__ import annotations

from typing import Any

from harness.aws import AwsClients
from harness.config import load_config
from harness.contract import selftest_alarm_name
from harness.selftest import run_selftest


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
