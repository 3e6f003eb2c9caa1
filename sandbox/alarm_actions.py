"""CloudWatch alarm actions in the sandbox: what CloudWatch does with an alarm's SNS actions on a state change, and
the alarm history (``DescribeAlarmHistory``) that reports it. moto records neither.

On a state change with actions enabled, CloudWatch publishes to each SNS action as the service principal
``cloudwatch.amazonaws.com`` and writes one ``Action`` history item per action: "Successfully executed action
<arn>" or "Failed to execute action <arn>. Received error: ..." (documented in AWS re:Post "Why didn't I receive an
SNS notification for my CloudWatch alarm trigger?"; the item shape is the AlarmHistoryItem API type). Whether
the publish is allowed is decided by ``harness.platform.topic_policy`` from the topic's access policy,
evaluated for that
principal (an explicit Deny wins, then any Allow; none is "no resource-based policy allows"), with the request
context CloudWatch brings: ``aws:SourceArn`` (the alarm), ``aws:SourceAccount``/``AWS:SourceOwner`` (its account),
TLS on.
A topic policy that holds only a Deny (as ``enforce_ssl`` alone gives) therefore fails, as on AWS.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import Any

from harness.platform.topic_policy import (
    SERVICE_PRINCIPAL as SERVICE_PRINCIPAL,  # aws_side seeds the topic policy with it
)
from harness.platform.topic_policy import publish_denial

_SUMMARY_MAX = 255  # AlarmHistoryItem.HistorySummary length constraint
_installed = False


def _item(alarm: Any, kind: str, summary: str, data: Mapping[str, Any], at: dt.datetime) -> dict[str, Any]:
    return {"AlarmName": alarm.name, "AlarmType": "MetricAlarm", "Timestamp": at, "HistoryItemType": kind,
            "HistorySummary": summary[:_SUMMARY_MAX], "HistoryData": json.dumps(data)[:4095]}


def execute_actions(alarm: Any, old_state: str, sns_backend: Any, account: str) -> list[dict[str, Any]]:
    """The history items of one state change: the StateUpdate, then one Action item per action executed."""
    at = dt.datetime.now(dt.UTC)
    millis = int(at.timestamp() * 1000)
    new_state = alarm.state_value
    items = [_item(alarm, "StateUpdate", f"Alarm updated from {old_state} to {new_state}",
                   {"version": "1.0", "oldState": {"stateValue": old_state},
                    "newState": {"stateValue": new_state, "stateReason": alarm.state_reason}}, at)]
    if not alarm.actions_enabled:
        return items
    actions = {"ALARM": alarm.alarm_actions, "OK": alarm.ok_actions,
               "INSUFFICIENT_DATA": alarm.insufficient_data_actions}.get(new_state) or []
    for arn in actions:
        topic = sns_backend.topics.get(arn) if ":sns:" in arn else None
        error: str | None
        if topic is None:
            error = "Topic does not exist" if ":sns:" in arn else "the sandbox only executes SNS actions"
        else:
            error = publish_denial(json.loads(topic.policy), arn, alarm.alarm_arn, account)
        if error is None:
            items.append(_item(alarm, "Action", f"Successfully executed action {arn}",
                               {"actionState": "Succeeded", "stateUpdateTimestamp": millis,
                                "notificationResource": arn}, at))
        else:
            items.append(_item(alarm, "Action", f'Failed to execute action {arn}. Received error: "{error}"',
                               {"actionState": "Failed", "stateUpdateTimestamp": millis,
                                "notificationResource": arn, "error": error}, at))
    return items


def history_of(alarm: Any) -> list[dict[str, Any]]:
    """The sandbox's history items of a moto alarm (newest last)."""
    history: list[dict[str, Any]] = vars(alarm).setdefault("_sandbox_history", [])
    return history


# -- moto hooks ------------------------------------------------------------------------------------------------
def install(cloudwatch_backend: Any, sns_backend_for: Callable[[], Any], account: str) -> None:
    """Record action history on every SetAlarmState of this backend, and teach moto DescribeAlarmHistory."""
    original = cloudwatch_backend.set_alarm_state

    def set_alarm_state(alarm_name: str, reason: str, reason_data: str, state_value: str) -> None:
        alarm = cloudwatch_backend.alarms.get(alarm_name)
        old_state = alarm.state_value if alarm is not None else None
        original(alarm_name, reason, reason_data, state_value)
        alarm = cloudwatch_backend.alarms[alarm_name]
        if old_state is not None and old_state != alarm.state_value:
            history_of(alarm).extend(execute_actions(alarm, old_state, sns_backend_for(), account))

    cloudwatch_backend.set_alarm_state = set_alarm_state
    _install_describe_alarm_history()


def _as_datetime(value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(float(value), dt.UTC)
    text = str(value)
    try:
        return dt.datetime.fromtimestamp(float(text), dt.UTC)
    except ValueError:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _install_describe_alarm_history() -> None:
    """Add DescribeAlarmHistory to moto's CloudWatch responses (process-wide, once; moto lacks the operation)."""
    global _installed
    if _installed:
        return
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.responses import ActionResult

    def describe_alarm_history(self: Any) -> Any:
        name = self._get_param("AlarmName")
        kind = self._get_param("HistoryItemType")
        start, end = _as_datetime(self._get_param("StartDate")), _as_datetime(self._get_param("EndDate"))
        limit = int(self._get_param("MaxRecords") or 100)
        alarms = self.cloudwatch_backend.alarms
        chosen = [alarms[name]] if name in alarms else ([] if name else list(alarms.values()))
        items = [i for a in chosen for i in history_of(a)
                 if (not kind or i["HistoryItemType"] == kind) and (start is None or i["Timestamp"] >= start)
                 and (end is None or i["Timestamp"] <= end)]
        ascending = self._get_param("ScanBy") == "TimestampAscending"
        items.sort(key=lambda i: i["Timestamp"], reverse=not ascending)
        return ActionResult({"AlarmHistoryItems": items[:limit]})

    CloudWatchResponse.describe_alarm_history = describe_alarm_history  # type: ignore[attr-defined]
    _installed = True
