"""Alarm factory: the one place that turns a metric and a rule into a CloudWatch alarm.

Everything an operator or CloudWatch reads from an alarm is decided here, once: the name (stack prefix + short
name), the M-of-N window (from context, clipped to CloudWatch's one-day limit), the treatment of missing data,
the runbook (the alarm description: WHAT, RULE, FIRST, dashboard; at most 1024 characters) and who is notified
(alarm and OK actions to the topic). The monitoring modules say only what to watch and what the runbook says.

Alarms are created in the factory's scope, so their construct paths (and the template's logical ids) do not depend
on which monitoring module declared them. A named alarm whose logical id changes is a new resource of the same name
(PutMetricAlarm overwrites an existing alarm's whole configuration) whose old twin CloudFormation then deletes, by
that same name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.config import EnvironmentConfig

# CloudWatch: period x evaluation periods may not exceed one day; a description at most 1024 characters.
MAX_WINDOW_S = 86_400
MAX_DESCRIPTION = 1024

_MISSING_WORDS = {
    cw.TreatMissingData.NOT_BREACHING: "not breaching",
    cw.TreatMissingData.BREACHING: "breaching",
}
_ABOVE_OR_AT = cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
_ABOVE = cw.ComparisonOperator.GREATER_THAN_THRESHOLD
_BELOW = cw.ComparisonOperator.LESS_THAN_THRESHOLD
_SYMBOLS = {_ABOVE_OR_AT: ">=", _ABOVE: ">", _BELOW: "<"}


def dashboard_name(cfg: EnvironmentConfig) -> str:
    """Dashboards are global per account, so the region is part of the name (every runbook points at it)."""
    return f"{cfg.prefix}-{cfg.region}"


def evaluation_window(cfg: EnvironmentConfig, period_s: int, *, critical: bool = False) -> tuple[int, int]:
    """(datapoints M, evaluation periods N) from context, clipped so N x period fits in one day.

    Critical checks use their own (default 1 of 1): their failures are confirmed inside the run.
    """
    wanted_periods = cfg.critical_alarm_evaluation_periods if critical else cfg.alarm_evaluation_periods
    wanted_points = cfg.critical_alarm_datapoints if critical else cfg.alarm_datapoints
    periods = max(1, min(wanted_periods, MAX_WINDOW_S // period_s))
    return min(wanted_points, periods), periods


def absence_minutes(every_minutes: int) -> int:
    """How long without data means "not running": twice the schedule period, at most one day."""
    return min(MAX_WINDOW_S, 2 * every_minutes * 60) // 60


@dataclass(frozen=True)
class Runbook:
    """What an alarm means and what to look at first; the rule and the dashboard are added by the factory."""

    what: str
    first: str


def _checked(text: str) -> str:
    if len(text) > MAX_DESCRIPTION:
        raise ValueError(f"alarm description longer than CloudWatch's {MAX_DESCRIPTION} characters: {text[:80]}...")
    return text


class AlarmFactory:
    """Creates the alarms of one stack in ``scope`` and keeps them, in creation order, for the dashboard."""

    def __init__(self, scope: Construct, cfg: EnvironmentConfig, topic: sns.ITopic) -> None:
        self.scope = scope
        self.cfg = cfg
        self._topic_action = cw_actions.SnsAction(topic)
        self._dashboard = dashboard_name(cfg)
        self.all: list[cw.AlarmBase] = []

    def window(self, every_minutes: int, *, critical: bool = False) -> tuple[int, int]:
        """The context's M-of-N for a metric with this period."""
        return evaluation_window(self.cfg, every_minutes * 60, critical=critical)

    def _notify(self, alarm: cw.AlarmBase) -> None:
        alarm.add_alarm_action(self._topic_action)
        alarm.add_ok_action(self._topic_action)

    def occurred(self, construct_id: str, *, name: str, metric: cw.Metric, window: tuple[int, int],
                 runbook: Runbook, notify: bool) -> cw.Alarm:
        """Something happened (a count >= 1) in M of N periods. For sparse metrics, emitted only when it happens:
        no data means it did not, so missing data is not breaching."""
        return self._alarm(construct_id, name, metric, 1, _ABOVE_OR_AT, window, cw.TreatMissingData.NOT_BREACHING,
                           runbook, notify)

    def exceeded(self, construct_id: str, *, name: str, metric: cw.Metric, threshold: float,
                 window: tuple[int, int], runbook: Runbook, notify: bool) -> cw.Alarm:
        """A value above ``threshold`` in M of N periods; no data is not breaching (nothing ran, nothing grew)."""
        return self._alarm(construct_id, name, metric, threshold, _ABOVE, window, cw.TreatMissingData.NOT_BREACHING,
                           runbook, notify)

    def absent(self, construct_id: str, *, name: str, metric: cw.Metric, runbook: Runbook) -> cw.Alarm:
        """No datapoint in one period of ``metric`` (its period is the absence window): something stopped.

        Missing data is breaching, since missing data is the signal. No actions: absence alarms feed canary-broken.
        """
        return self._alarm(construct_id, name, metric, 1, _BELOW, (1, 1), cw.TreatMissingData.BREACHING, runbook,
                           notify=False)

    def _alarm(self, construct_id: str, name: str, metric: cw.Metric, threshold: float,
               comparison: cw.ComparisonOperator, window: tuple[int, int], missing: cw.TreatMissingData,
               runbook: Runbook, notify: bool) -> cw.Alarm:
        datapoints, periods = window
        rule = (f"{metric.metric_name} {metric.statistic} {_SYMBOLS[comparison]} {threshold:g} in {datapoints} of "
                f"{periods} x {metric.period.to_minutes()} min")
        alarm = cw.Alarm(
            self.scope,
            construct_id,
            alarm_name=f"{self.cfg.prefix}-{name}",
            alarm_description=_checked(
                f"WHAT: {runbook.what}. RULE: {rule}; missing data is {_MISSING_WORDS[missing]}. "
                f"FIRST: {runbook.first} Dashboard: {self._dashboard}."),
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=periods,
            datapoints_to_alarm=datapoints,
            treat_missing_data=missing,
        )
        if notify:
            self._notify(alarm)
        self.all.append(alarm)
        return alarm

    def any_of(self, construct_id: str, *, name: str, children: Sequence[cw.IAlarm],
               runbook: Runbook) -> cw.CompositeAlarm:
        """A composite in ALARM while any child is: the one that notifies for its children."""
        alarm = cw.CompositeAlarm(
            self.scope,
            construct_id,
            composite_alarm_name=f"{self.cfg.prefix}-{name}",
            alarm_description=_checked(f"WHAT: {runbook.what}. FIRST: {runbook.first} Dashboard: {self._dashboard}."),
            alarm_rule=cw.AlarmRule.any_of(*[cw.AlarmRule.from_alarm(c, cw.AlarmState.ALARM) for c in children]),
        )
        self._notify(alarm)
        self.all.append(alarm)
        return alarm
