"""Alert-path self-test: drive the dedicated self-test alarm to ALARM and back with SetAlarmState.

An operator runs it after a deploy (or on a schedule) to prove alarm → SNS → email works end to end: the
email arriving is the proof; this reports what CloudWatch says (state changes and, on real AWS, the
executed alarm actions in the alarm history). It touches only the self-test alarm.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from harness.aws import classify_aws_error
from harness.config import CanaryConfig
from harness.contract import selftest_alarm_name
from harness.deadline import Deadline, poll_until
from harness.errors import Verdict


def _state(cloudwatch: Any, name: str) -> dict[str, Any]:
    alarms = cloudwatch.describe_alarms(AlarmNames=[name]).get("MetricAlarms", [])
    return alarms[0] if alarms else {}


def _executed_actions(cloudwatch: Any, name: str, since: datetime) -> list[str] | None:
    """What CloudWatch says it did with the alarm's actions (evidence only; None if it cannot be read)."""
    try:
        history = cloudwatch.describe_alarm_history(AlarmName=name, HistoryItemType="Action", StartDate=since)
    except (ClientError, BotoCoreError):
        return None
    return [str(h.get("HistorySummary", "")) for h in history.get("AlarmHistoryItems", [])]


def _is(target: str) -> Callable[[str], bool]:
    return lambda state: state == target


def run_selftest(cloudwatch: Any, config: CanaryConfig, *, alarm_name: str | None = None,
                 timeout_s: float = 60.0, interval_s: float = 2.0) -> dict[str, Any]:
    """ALARM then OK; returns a JSON-able result with ``ok`` and what was observed."""
    name = alarm_name or selftest_alarm_name(config.environment)
    try:
        return _drive(cloudwatch, name, timeout_s=timeout_s, interval_s=interval_s)
    except (ClientError, BotoCoreError) as exc:
        verdict = classify_aws_error(exc)
        return {"ok": False, "alarm": name, "reason": verdict.reason.value, "message": verdict.message}


def _drive(cloudwatch: Any, name: str, *, timeout_s: float, interval_s: float) -> dict[str, Any]:
    deadline = Deadline.after(timeout_s * 2 + 10)
    started = datetime.now(UTC)
    alarm = _state(cloudwatch, name)
    if not alarm:
        return {"ok": False, "alarm": name, "message": f"alarm {name!r} not found: deploy the canary stack first"}
    actions = list(alarm.get("AlarmActions", []))
    result: dict[str, Any] = {"alarm": name, "alarm_actions": actions, "ok_actions": list(alarm.get("OKActions", [])),
                              "actions_enabled": bool(alarm.get("ActionsEnabled", False)), "states": []}
    try:
        for target in ("ALARM", "OK"):
            cloudwatch.set_alarm_state(AlarmName=name, StateValue=target,
                                       StateReason=f"canary selftest at {started.isoformat()} ({target})")
            seen = poll_until(lambda: str(_state(cloudwatch, name).get("StateValue")), until=_is(target),
                              deadline=deadline, timeout_s=timeout_s, what=f"{name} in state {target}",
                              interval_s=interval_s)
            result["states"].append({"state": seen, "at": datetime.now(UTC).isoformat()})
    except Verdict as exc:
        result.update(ok=False, message=exc.message)
        return result
    executed = _executed_actions(cloudwatch, name, started)
    result["executed_actions"] = executed
    problems = []
    if not actions:
        problems.append("the alarm has no alarm actions (no SNS topic): nobody would be told")
    if not result["actions_enabled"]:
        problems.append("alarm actions are disabled")
    result["ok"] = not problems
    result["message"] = "; ".join(problems) or (
        "alarm went to ALARM and back to OK; check the subscribed inbox for both notifications"
        + ("" if executed else " (CloudWatch reported no executed actions)"))
    return result



