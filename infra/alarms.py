"""The alarms that page (DESIGN §6): what the platform is doing, and whether the canary itself still works.

Every custom metric names exactly the dimensions its EMF line carries, taken from ``harness.contract``
(Powertools adds ``service``): an alarm on any other dimension set watches a metric that never exists.

Missing data:
- per-check alarms watch the sparse ``CheckFailed`` (contract v2: emitted, as 1, only when the check ends FAILED)
  and treat missing data as not breaching: a check that passed, or ended ERROR, SKIPPED or INCOMPLETE, or ran in a
  maintenance window, emits nothing, and none of that is an outage;
- the heartbeat treats it as breaching: the handler emits ``RunPassed`` on every run, maintenance included, so
  no sample in a window twice the schedule means the canary is not running.

Who notifies: the composites "platform unhealthy" (critical checks) and "canary broken" carry the SNS actions,
their children none, so one problem sends one message. Warning-level checks, duration, DLQ depth, leaked
sessions and the self-test alarm notify directly. Every notifying alarm also sends OK on recovery.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from harness.contract import (
    CANARY_ERRORS,
    CHECK_FAILED,
    ERROR_ONLY_CHECKS,
    LEAKED_SESSIONS,
    NAMESPACE,
    RUN_PASSED,
    check_dimensions,
    run_dimensions,
    selftest_alarm_name,
)
from infra.canary_function import CanaryFunction
from infra.catalogue import CHECK_HINTS, is_critical, tier_of
from infra.config import EnvironmentConfig

# Nothing emits this metric: the self-test alarm moves only by SetAlarmState (alert-path test, issue 7).
SELFTEST_METRIC = "AlertPathSelfTest"
# CloudWatch: period x evaluation periods may not exceed one day.
_MAX_WINDOW_S = 86_400
DURATION_WARN_FRACTION = 0.8

_MISSING_WORDS = {
    cw.TreatMissingData.NOT_BREACHING: "not breaching",
    cw.TreatMissingData.BREACHING: "breaching",
}


def dashboard_name(cfg: EnvironmentConfig) -> str:
    """Dashboards are global per account, so the region is part of the name."""
    return f"{cfg.prefix}-{cfg.region}"


def evaluation_window(cfg: EnvironmentConfig, period_s: int, *, critical: bool = False) -> tuple[int, int]:
    """(datapoints M, evaluation periods N) from context, clipped so N x period fits in one day.

    Critical checks use their own (default 1 of 1): their failures are confirmed inside the run.
    """
    wanted_periods = cfg.critical_alarm_evaluation_periods if critical else cfg.alarm_evaluation_periods
    wanted_points = cfg.critical_alarm_datapoints if critical else cfg.alarm_datapoints
    periods = max(1, min(wanted_periods, _MAX_WINDOW_S // period_s))
    return min(wanted_points, periods), periods


class CanaryAlarms(Construct):
    """Every alarm of one stack, plus the two composites; exposes them for the dashboard and tests."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cfg: EnvironmentConfig,
        functions: Mapping[str, CanaryFunction],
        schedule_dlq: sqs.IQueue,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self._cfg = cfg
        self._topic_action = cw_actions.SnsAction(topic)
        self._dashboard = dashboard_name(cfg)
        self.all: list[cw.AlarmBase] = []
        self.check_alarms: dict[str, cw.Alarm] = {}
        canary_fns = [f for kind, f in functions.items() if kind != "sweeper"]
        fastest = min(f.every_minutes for f in canary_fns)
        log_groups = ", ".join(f.log_group_name for f in canary_fns)

        for check_id in cfg.alarmed_checks:
            if check_id in ERROR_ONLY_CHECKS:
                continue  # never FAILED: its ERROR reaches canary-errors through CanaryErrors
            every = functions[tier_of(check_id)].every_minutes
            self.check_alarms[check_id] = self._check_alarm(check_id, every, notify=not is_critical(check_id))

        broken_children: list[cw.Alarm] = []
        self.canary_errors = self._alarm(
            "CanaryErrors",
            name="canary-errors",
            metric=self._metric(CANARY_ERRORS, run_dimensions(cfg.name), "Sum", fastest),
            threshold=1,
            comparison=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            window=evaluation_window(cfg, fastest * 60),
            missing=cw.TreatMissingData.NOT_BREACHING,
            what="checks ended ERROR: the canary is at fault (config, credentials, AccessDenied, its own "
            "throttling, a bug), not the platform",
            first=f"Logs Insights on {log_groups} for outcome ERROR and the reason code; recent IAM or context "
            "changes; `canary run` locally with the same config.",
            notify=False,
        )
        broken_children.append(self.canary_errors)
        heartbeat_s = min(_MAX_WINDOW_S, 2 * fastest * 60)
        self.heartbeat = self._alarm(
            "Heartbeat",
            name="heartbeat",
            metric=self._metric(RUN_PASSED, run_dimensions(cfg.name), "SampleCount", heartbeat_s // 60),
            threshold=1,
            comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            window=(1, 1),
            missing=cw.TreatMissingData.BREACHING,
            what=f"no run reported RunPassed for {heartbeat_s // 60} min (twice the {fastest}-min schedule): "
            "the canary is not running or its metrics do not arrive (maintenance windows still emit RunPassed)",
            first="is the schedule rule enabled; Lambda Errors/Throttles; the schedule DLQ; the function's "
            "POWERTOOLS_SERVICE_NAME and CANARY_ENVIRONMENT (they are metric dimensions).",
            notify=False,
        )
        broken_children.append(self.heartbeat)

        self.duration_alarms: dict[str, cw.Alarm] = {}
        for kind, fn in functions.items():
            broken_children += self._function_alarms(kind, fn)

        self.leaked_sessions: cw.Alarm | None = None
        if "sweeper" in functions:
            every = functions["sweeper"].every_minutes
            self.leaked_sessions = self._alarm(
                "LeakedSessions",
                name="leaked-sessions",
                metric=self._metric(LEAKED_SESSIONS, run_dimensions(cfg.name), "Maximum", every),
                threshold=0,
                comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                window=(1, 1),
                missing=cw.TreatMissingData.NOT_BREACHING,
                what="the sweeper found synthetic sessions older than the sweep age: a journey's cleanup did not "
                "finish (each leaked session may hold an edit container, which costs money)",
                first="journey logs for cleanup errors; `canary sweep --dry-run`; the edit service's running "
                "count; deactivate leftovers through Hermes.",
                notify=True,
            )

        self.schedule_dlq = self._alarm(
            "ScheduleDlqDepth",
            name="schedule-dlq-depth",
            metric=cw.Metric(
                namespace="AWS/SQS",
                metric_name="ApproximateNumberOfMessagesVisible",
                dimensions_map={"QueueName": schedule_dlq.queue_name},
                statistic="Maximum",
                period=cdk.Duration.minutes(5),
            ),
            threshold=1,
            comparison=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            window=(1, 1),
            missing=cw.TreatMissingData.NOT_BREACHING,
            what="a scheduled run was lost: Lambda's on-failure record of an async invocation that errored "
            "(crash, timeout) or expired unprocessed (throttled past its maximum event age), or an event "
            "EventBridge could not deliver (permission, deleted function)",
            first="read a message: a Lambda record holds requestContext.condition (RetriesExhausted, "
            "EventAgeExceeded) and the function; an EventBridge one has ERROR_CODE attributes; then the "
            "function's errors and throttles, or the rule's target and resource policy; purge once fixed.",
            notify=True,
        )

        self.selftest = self._alarm(
            "AlertPathSelfTest",
            name=selftest_alarm_name(cfg.name).removeprefix(f"{cfg.prefix}-"),
            metric=self._metric(SELFTEST_METRIC, run_dimensions(cfg.name), "Maximum", 1),
            threshold=1,
            comparison=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            window=(1, 1),
            missing=cw.TreatMissingData.NOT_BREACHING,
            what="a self-test, not an incident: an operator drove this alarm with SetAlarmState to prove the "
            "alarm -> SNS -> e-mail path; it returns to OK by itself within minutes",
            first="nothing to fix if you expected it; if the OK message never arrives, check the SNS "
            "subscription.",
            notify=True,
        )

        critical = [self.check_alarms[c] for c in self.check_alarms if is_critical(c)]
        self.platform_unhealthy: cw.CompositeAlarm | None = None
        if critical:
            self.platform_unhealthy = self._composite(
                "PlatformUnhealthy",
                name="platform-unhealthy",
                children=critical,
                what="a critical check failed (confirmed by an in-run re-probe) "
                + ("in the latest run" if cfg.critical_alarm_evaluation_periods == 1 else
                   f"in {cfg.critical_alarm_datapoints} of the last {cfg.critical_alarm_evaluation_periods} runs")
                + ": users are likely "
                f"affected ({', '.join(c for c in self.check_alarms if is_critical(c))})",
                first="open the child alarm in ALARM and its runbook; the dashboard's latest-failures widget "
                "names the step and reason; check for a deployment in progress.",
            )
        self.canary_broken = self._composite(
            "CanaryBroken",
            name="canary-broken",
            children=broken_children,
            what="the canary cannot be trusted right now (errors, crashes, throttling or not running): the "
            "platform may be fine, but it is unmonitored",
            first="open the child alarm in ALARM; the functions' logs; the schedule rules and DLQ; recent "
            "deploys of this stack.",
        )

    # -- builders ---------------------------------------------------------------------------------------------

    def _metric(self, name: str, dimensions: Mapping[str, str], statistic: str, minutes: int) -> cw.Metric:
        return cw.Metric(namespace=NAMESPACE, metric_name=name, dimensions_map=dict(dimensions),
                         statistic=statistic, period=cdk.Duration.minutes(minutes))

    def _runbook(self, what: str, first: str, metric_text: str, missing: cw.TreatMissingData) -> str:
        text = (f"WHAT: {what}. RULE: {metric_text}; missing data is {_MISSING_WORDS[missing]}. "
                f"FIRST: {first} Dashboard: {self._dashboard}.")
        if len(text) > 1024:
            raise ValueError(f"alarm description longer than CloudWatch's 1024 characters: {text[:80]}...")
        return text

    def _alarm(
        self,
        construct_id: str,
        *,
        name: str,
        metric: cw.IMetric,
        threshold: float,
        comparison: cw.ComparisonOperator,
        window: tuple[int, int],
        missing: cw.TreatMissingData,
        what: str,
        first: str,
        notify: bool,
    ) -> cw.Alarm:
        datapoints, periods = window
        config = metric.to_metric_config().metric_stat
        assert config is not None
        symbol = {
            cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD: ">=",
            cw.ComparisonOperator.GREATER_THAN_THRESHOLD: ">",
            cw.ComparisonOperator.LESS_THAN_THRESHOLD: "<",
        }[comparison]
        rule = (f"{config.metric_name} {config.statistic} {symbol} {threshold:g} in {datapoints} of "
                f"{periods} x {config.period.to_minutes()} min")
        alarm = cw.Alarm(
            self,
            construct_id,
            alarm_name=f"{self._cfg.prefix}-{name}",
            alarm_description=self._runbook(what, first, rule, missing),
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=periods,
            datapoints_to_alarm=datapoints,
            treat_missing_data=missing,
        )
        if notify:
            alarm.add_alarm_action(self._topic_action)
            alarm.add_ok_action(self._topic_action)
        self.all.append(alarm)
        return alarm

    def _composite(self, construct_id: str, *, name: str, children: Sequence[cw.IAlarm], what: str,
                   first: str) -> cw.CompositeAlarm:
        text = f"WHAT: {what}. FIRST: {first} Dashboard: {self._dashboard}."
        if len(text) > 1024:
            raise ValueError(f"composite alarm description too long: {text[:80]}...")
        alarm = cw.CompositeAlarm(
            self,
            construct_id,
            composite_alarm_name=f"{self._cfg.prefix}-{name}",
            alarm_description=text,
            alarm_rule=cw.AlarmRule.any_of(*[cw.AlarmRule.from_alarm(c, cw.AlarmState.ALARM) for c in children]),
        )
        alarm.add_alarm_action(self._topic_action)
        alarm.add_ok_action(self._topic_action)
        self.all.append(alarm)
        return alarm

    def _check_alarm(self, check_id: str, every_minutes: int, *, notify: bool) -> cw.Alarm:
        level = "critical (pages through platform-unhealthy)" if not notify else "warning"
        return self._alarm(
            "Check" + "".join(part.capitalize() for part in check_id.replace("_", ".").split(".")),
            name=f"check-{check_id}",
            metric=self._metric(CHECK_FAILED, check_dimensions(self._cfg.name, check_id), "Sum", every_minutes),
            threshold=1,
            comparison=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            window=evaluation_window(self._cfg, every_minutes * 60, critical=not notify),
            missing=cw.TreatMissingData.NOT_BREACHING,
            what=f"check {check_id} ({tier_of(check_id)} tier, {level}) FAILED",
            first=f"{CHECK_HINTS[check_id]} Reproduce: `canary run --check {check_id}`.",
            notify=notify,
        )

    def _function_alarms(self, kind: str, fn: CanaryFunction) -> list[cw.Alarm]:
        """Errors, throttles and not-invoked feed canary-broken; duration near the timeout warns directly."""
        every = fn.every_minutes
        name = fn.function_name
        window = evaluation_window(self._cfg, every * 60)

        def lambda_metric(metric: str, statistic: str, minutes: int) -> cw.Metric:
            return cw.Metric(namespace="AWS/Lambda", metric_name=metric, dimensions_map={"FunctionName": name},
                             statistic=statistic, period=cdk.Duration.minutes(minutes))

        prefix = "".join(p.capitalize() for p in kind.split("-"))
        errors = self._alarm(
            f"{prefix}Errors",
            name=f"{kind}-errors",
            metric=lambda_metric("Errors", "Sum", every),
            threshold=1,
            comparison=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            window=window,
            missing=cw.TreatMissingData.NOT_BREACHING,
            what=f"{name} crashed or timed out (the handler never raises on its own, so this is a bug, an "
            "import error or a timeout)",
            first=f"Logs Insights on {fn.log_group_name} for 'Task timed out' or a traceback; the "
            "Powertools layer version; the last deploy.",
            notify=False,
        )
        throttles = self._alarm(
            f"{prefix}Throttles",
            name=f"{kind}-throttles",
            metric=lambda_metric("Throttles", "Sum", every),
            threshold=1,
            comparison=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            window=window,
            missing=cw.TreatMissingData.NOT_BREACHING,
            what=f"{name} was throttled in several periods: runs overlap (its reserved concurrency, if set) or "
            "the account is out of concurrency, so scheduled runs are delayed or dropped",
            first="run duration vs schedule; manual console runs during scheduled ones; the account's "
            "unreserved concurrency.",
            notify=False,
        )
        invoked_s = min(_MAX_WINDOW_S, 2 * every * 60)
        not_invoked = self._alarm(
            f"{prefix}NotInvoked",
            name=f"{kind}-not-invoked",
            metric=lambda_metric("Invocations", "Sum", invoked_s // 60),
            threshold=1,
            comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            window=(1, 1),
            missing=cw.TreatMissingData.BREACHING,
            what=f"{name} was not invoked for {invoked_s // 60} min (twice its {every}-min schedule)",
            first=f"is the rule {name}-schedule enabled; the schedule DLQ; the function's resource policy.",
            notify=False,
        )
        threshold_ms = round(fn.timeout_s * 1000 * DURATION_WARN_FRACTION)
        self.duration_alarms[kind] = self._alarm(
            f"{prefix}DurationNearTimeout",
            name=f"{kind}-duration-near-timeout",
            metric=lambda_metric("Duration", "Maximum", every),
            threshold=threshold_ms,
            comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            window=window,
            missing=cw.TreatMissingData.NOT_BREACHING,
            what=f"{name} runs take over {int(DURATION_WARN_FRACTION * 100)}% of its {fn.timeout_s}-s timeout: "
            "soon runs end INCOMPLETE or time out",
            first="which check is slow (CheckDuration on the dashboard); target latency; slow AWS calls in the "
            "X-Ray traces.",
            notify=True,
        )
        return [errors, throttles, not_invoked]
