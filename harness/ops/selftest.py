"""Alert-path self-test: drive the dedicated self-test alarm to ALARM and back with SetAlarmState, and read back
whether CloudWatch could deliver each notification.

An operator runs it after a deploy (or on a schedule) to prove alarm -> SNS -> email works end to end. A state
change alone proves nothing: CloudWatch records in the alarm history (``DescribeAlarmHistory``,
``HistoryItemType=Action``) whether each action executed: "Successfully executed action <arn>" or "Failed to
execute action <arn>. Received error: ..." (e.g. the topic policy does not let ``cloudwatch.amazonaws.com``
publish). The self-test is ``ok`` only when every action of both transitions executed. It touches only the
self-test alarm; the email arriving is the last proof, which only the subscriber can see.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from harness.config import CanaryConfig
from harness.contract import selftest_alarm_name
from harness.core.deadline import Deadline, poll_until
from harness.core.errors import Verdict
from harness.net.aws import classify_aws_error

_SUCCEEDED = "Successfully executed action"
_FAILED = "Failed to execute action"
# Clock skew allowance when asking CloudWatch for the history items written since a state change.
_SKEW = timedelta(seconds=5)
FIX = ("the topic's access policy must allow the service principal cloudwatch.amazonaws.com to sns:Publish "
       "(scoped with aws:SourceAccount / aws:SourceArn); a KMS-encrypted topic's key policy must also let "
       "cloudwatch.amazonaws.com use the key (kms:GenerateDataKey*, kms:Decrypt)")


def _state(cloudwatch: Any, name: str) -> dict[str, Any]:
    alarms = cloudwatch.describe_alarms(AlarmNames=[name]).get("MetricAlarms", [])
    return alarms[0] if alarms else {}


def _action_items(cloudwatch: Any, name: str, since: datetime) -> list[dict[str, Any]]:
    """Action history items written since ``since`` (oldest first)."""
    items: list[dict[str, Any]] = []
    for page in cloudwatch.get_paginator("describe_alarm_history").paginate(
            AlarmName=name, HistoryItemType="Action", StartDate=since, ScanBy="TimestampAscending"):
        items.extend(page.get("AlarmHistoryItems", []))
    return items


def _delivery(item: dict[str, Any]) -> tuple[bool | None, str, str]:
    """(executed?, action ARN, error) of one Action item; executed is None for an item of another kind."""
    summary = str(item.get("HistorySummary", ""))
    try:
        data = json.loads(str(item.get("HistoryData") or "{}"))
    except ValueError:
        data = {}
    data = data if isinstance(data, dict) else {}
    arn = str(data.get("notificationResource") or "")
    state = str(data.get("actionState") or "")
    if summary.startswith(_SUCCEEDED) or state == "Succeeded":
        return True, arn or summary[len(_SUCCEEDED):].strip().rstrip("."), ""
    if summary.startswith(_FAILED) or state == "Failed":
        error = str(data.get("error") or summary.partition("Received error:")[2].strip().strip('"') or summary)
        return False, arn or summary[len(_FAILED):].strip().split(" ", 1)[0].rstrip("."), error
    return None, arn, ""


def _is(target: str) -> Callable[[str], bool]:
    return lambda state: state == target


def run_selftest(cloudwatch: Any, config: CanaryConfig, *, alarm_name: str | None = None,
                 timeout_s: float = 60.0, interval_s: float = 2.0) -> dict[str, Any]:
    """ALARM then OK, each confirmed in the alarm history; returns a JSON-able result with ``ok``."""
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
    actions = {"ALARM": list(alarm.get("AlarmActions", [])), "OK": list(alarm.get("OKActions", []))}
    result: dict[str, Any] = {"alarm": name, "alarm_actions": actions["ALARM"], "ok_actions": actions["OK"],
                              "actions_enabled": bool(alarm.get("ActionsEnabled", False)), "states": [],
                              "deliveries": []}
    problems: list[str] = []
    if not actions["ALARM"]:
        problems.append("the alarm has no alarm actions (no SNS topic): nobody would be told")
    if not result["actions_enabled"]:
        problems.append("alarm actions are disabled")
    try:
        for target in ("ALARM", "OK"):
            step = deadline.child(timeout_s)  # the state change and its history share one budget
            since = datetime.now(UTC) - _SKEW
            cloudwatch.set_alarm_state(AlarmName=name, StateValue=target,
                                       StateReason=f"canary selftest at {started.isoformat()} ({target})")
            seen = poll_until(lambda: str(_state(cloudwatch, name).get("StateValue")), until=_is(target),
                              deadline=step, timeout_s=timeout_s, what=f"{name} in state {target}",
                              interval_s=interval_s)
            result["states"].append({"state": seen, "at": datetime.now(UTC).isoformat()})
            if result["actions_enabled"]:
                problems += _confirm_deliveries(cloudwatch, name, target, actions[target], since, step,
                                                interval_s, result["deliveries"])
    except Verdict as exc:
        result.update(ok=False, message="; ".join([*problems, exc.message]))
        return result
    result["executed_actions"] = [d["summary"] for d in result["deliveries"]]
    result["ok"] = not problems
    result["message"] = "; ".join(problems) or (
        "alarm went to ALARM and back to OK and CloudWatch executed every action; check the subscribed inbox "
        "for both notifications")
    return result


def _confirm_deliveries(cloudwatch: Any, name: str, state: str, arns: list[str], since: datetime,
                        step: Deadline, interval_s: float, deliveries: list[dict[str, Any]]) -> list[str]:
    """Wait (bounded) for one Action history item per action of this transition; the problems they show."""
    if not arns:
        return []

    def reported(items: list[dict[str, Any]]) -> bool:
        return {arn for ok, arn, _ in map(_delivery, items) if ok is not None} >= set(arns)

    try:
        items = poll_until(lambda: _action_items(cloudwatch, name, since), until=reported, deadline=step,
                           timeout_s=step.remaining(), what=f"the alarm history of {name} ({state} actions)",
                           interval_s=interval_s)
    except Verdict:
        items = _action_items(cloudwatch, name, since)
    problems: list[str] = []
    for arn in arns:
        found = [(ok, error, item) for item in items for ok, item_arn, error in [_delivery(item)]
                 if item_arn == arn and ok is not None]
        if not found:
            deliveries.append({"state": state, "action": arn, "executed": None, "summary": ""})
            problems.append(f"CloudWatch reported no executed action for {arn} after the {state} transition "
                            "(DescribeAlarmHistory, HistoryItemType=Action): delivery is unproven")
            continue
        ok, error, item = found[-1]
        deliveries.append({"state": state, "action": arn, "executed": ok,
                           "summary": str(item.get("HistorySummary", "")), **({"error": error} if error else {})})
        if not ok:
            problems.append(f"CloudWatch failed to publish the {state} notification to {arn}: {error}. Fix: {FIX}")
    return problems
