"""The operators' dashboard (DESIGN §6): alarm status, the per-check table, latencies, readiness, cost, Lambda health,
and the latest failures from the logs.

Metrics use the contract's exact dimension sets, like the alarms, so every line has data. Contract v2 emits no
per-check outcome metric while a check passes, so the per-check table (last outcome, reason, pass rate) reads the
handler's one structured log line per check with Logs Insights, and latency percentiles cover only the latency-SLI
checks, the only ones that emit ``CheckDuration``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from constructs import Construct

from harness.contract import (
    CANARY_ERRORS,
    CHECK_DURATION,
    CHECKS_FAILED,
    ESTIMATED_RUN_COST,
    LATENCY_SLI_CHECKS,
    LEAKED_SESSIONS,
    LOG_FIELD_CHECK,
    LOG_FIELD_KIND,
    LOG_FIELD_OUTCOME,
    LOG_FIELD_REASON,
    LOG_KIND_CHECK_RESULT,
    PREVIEW_LATENCY,
    RUN_PASSED,
    SESSION_ACTIVATE_LATENCY,
    WEBSOCKET_CONNECT_LATENCY,
)
from infra.alarm_factory import dashboard_name
from infra.alarms import CanaryAlarms
from infra.canary_function import CanaryFunction
from infra.metrics import CanaryMetrics
from infra.monitoring.functions import DURATION_WARN_FRACTION, duration_warn_ms
from infra.monitoring.monitored import Monitored

PERCENTILES = ("p50", "p90", "p99")
LIFECYCLE = "session.lifecycle"

# The handler's one log line per check carries the contract's fields (contract.LOG_FIELDS, written by
# handlers.composition.observe_result); ``kind`` marks it, and ``reason`` is never absent, so latest() does not
# skip a pass. A test runs the handler and checks that its lines carry every field these queries read.
PER_CHECK_QUERY = (
    f"fields {LOG_FIELD_CHECK}, {LOG_FIELD_OUTCOME}, {LOG_FIELD_REASON}, "
    f'strcontains({LOG_FIELD_OUTCOME}, "PASSED") as passed',
    f'filter {LOG_FIELD_KIND} = "{LOG_KIND_CHECK_RESULT}"',
    f"stats latest({LOG_FIELD_OUTCOME}) as last_outcome, latest({LOG_FIELD_REASON}) as last_reason, "
    f"avg(passed) as pass_rate, count(*) as runs by {LOG_FIELD_CHECK}",
    f"sort {LOG_FIELD_CHECK} asc",
)
# Logs Insights over every function's log group: the handler logs one JSON line per check (check, outcome, reason,
# detail) with Powertools' level; correlation_id is the run id. ERROR-level lines catch the sweeper and crashes.
LATEST_FAILURES_QUERY = (
    "fields @timestamp, check, outcome, reason, detail, correlation_id, @logStream",
    'filter outcome in ["FAILED", "ERROR", "INCOMPLETE"] or level = "ERROR"',
    "sort @timestamp desc",
    "limit 50",
)


class CanaryDashboard(Construct):
    """One dashboard per (environment, region) stack."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        monitored: Monitored,
        alarms: CanaryAlarms,
    ) -> None:
        super().__init__(scope, construct_id)
        cfg, functions = monitored.cfg, monitored.functions
        env = cfg.name
        metrics = CanaryMetrics(env)
        checks = cfg.alarmed_checks
        every = {c: monitored.every_minutes(c) for c in checks}
        fastest = monitored.fastest_minutes

        self.dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=dashboard_name(cfg),
                                      default_interval=cdk.Duration.days(1))
        schedules = ", ".join(f"{k} every {f.every_minutes} min" for k, f in functions.items())
        self.dashboard.add_widgets(cw.TextWidget(
            markdown=(f"## Webordinary canary: {env} ({cfg.region})\nProfile `{cfg.profile}`; {schedules}. "
                      "Alarm descriptions are the runbooks; reproduce a check locally with "
                      "`canary run --check <id>`."),
            width=24, height=2,
        ))
        if cfg.disabled_checks:
            # Disabled on purpose (context 'disabled_checks'): not run, not alarmed; say so where people look.
            self.dashboard.add_widgets(cw.TextWidget(
                markdown=("### Disabled checks (not run, no alarm)\n"
                          + ", ".join(f"`{c}`" for c in cfg.disabled_checks)
                          + "\n\nListed in the context key `disabled_checks`; remove them there and configure their "
                          "resources to monitor them again."),
                width=24, height=2,
            ))
        self.dashboard.add_widgets(cw.AlarmStatusWidget(
            title="Alarms", alarms=list(alarms.all), width=24, height=6,
            sort_by=cw.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP,
        ))
        log_groups = monitored.canary_log_groups
        self.dashboard.add_widgets(
            cw.LogQueryWidget(
                title="Per check: last outcome, reason, pass rate (canary logs)",
                log_group_names=log_groups, query_lines=list(PER_CHECK_QUERY),
                view=cw.LogQueryVisualizationType.TABLE, width=12, height=8,
            ),
            cw.GraphWidget(
                title="Runs",
                left=[cw.MathExpression(expression="100 * runs", label="run pass rate (%)",
                                        period=cdk.Duration.minutes(fastest),
                                        using_metrics={"runs": metrics.run(RUN_PASSED, "Average", fastest,
                                                                           "RunPassed")})],
                right=[metrics.run(CHECKS_FAILED, "Sum", fastest, "checks failed"),
                       metrics.run(CANARY_ERRORS, "Sum", fastest, "canary errors")],
                left_y_axis=cw.YAxisProps(min=0, max=100, show_units=False),
                right_y_axis=cw.YAxisProps(min=0, show_units=False), width=12, height=8,
            ),
        )
        sli = [c for c in checks if c in LATENCY_SLI_CHECKS]
        if sli:
            self.dashboard.add_widgets(*[
                cw.GraphWidget(title=f"Check duration {p} (ms), latency SLIs", width=8, height=8,
                               left=[metrics.check(CHECK_DURATION, c, p, every[c], c) for c in sli],
                               left_y_axis=cw.YAxisProps(min=0, show_units=False),
                               legend_position=cw.LegendPosition.BOTTOM)
                for p in PERCENTILES
            ])
        if LIFECYCLE in checks:
            self.dashboard.add_widgets(*self._journey_widgets(metrics, every[LIFECYCLE]))
        self.dashboard.add_widgets(*self._cost_and_hygiene(metrics, monitored))
        self.dashboard.add_widgets(*self._lambda_health(functions))
        self.dashboard.add_widgets(cw.LogQueryWidget(
            title="Latest failures (canary logs)",
            log_group_names=[f.log_group_name for f in functions.values()],
            query_lines=list(LATEST_FAILURES_QUERY),
            view=cw.LogQueryVisualizationType.TABLE,
            width=24, height=8,
        ))

    @staticmethod
    def _journey_widgets(metrics: CanaryMetrics, minutes: int) -> Sequence[cw.IWidget]:
        key = [(SESSION_ACTIVATE_LATENCY, "activate"), (PREVIEW_LATENCY, "preview"),
               (WEBSOCKET_CONNECT_LATENCY, "websocket")]
        latencies = [metrics.check(name, LIFECYCLE, p, minutes, f"{label} {p}") for name, label in key
                     for p in PERCENTILES]
        ready = [
            metrics.container_ready(start, p, minutes, f"{start} {p}")
            for start in ("cold", "warm") for p in PERCENTILES
        ]
        return (
            cw.GraphWidget(title="Journey step latency p50/p90/p99 (ms)", left=latencies, width=12, height=8,
                           left_y_axis=cw.YAxisProps(min=0, show_units=False)),
            cw.GraphWidget(title="Edit container ready: cold vs warm (ms)", left=ready, width=12, height=8,
                           left_y_axis=cw.YAxisProps(min=0, show_units=False)),
        )

    @staticmethod
    def _cost_and_hygiene(metrics: CanaryMetrics, monitored: Monitored) -> Sequence[cw.IWidget]:
        functions = monitored.functions
        day = cdk.Duration.days(1)
        widgets: list[cw.IWidget] = [
            cw.GraphWidget(
                title="Estimated canary cost per day (USD)", width=8, height=6, period=day,
                left=[metrics.run(ESTIMATED_RUN_COST, "Sum", int(day.to_minutes()), "USD per day")],
                left_y_axis=cw.YAxisProps(min=0, show_units=False), view=cw.GraphWidgetView.BAR,
            ),
        ]
        if "sweeper" in functions:
            widgets.append(cw.GraphWidget(
                title="Leaked synthetic sessions", width=8, height=6,
                left=[metrics.run(LEAKED_SESSIONS, "Maximum", functions["sweeper"].every_minutes, "leaked")],
                left_y_axis=cw.YAxisProps(min=0, show_units=False),
            ))
        widgets.append(cw.GraphWidget(
            title="Undelivered scheduled runs (DLQ)", width=8, height=6,
            left=[CanaryMetrics.queue_depth(monitored.schedule_dlq, "messages")],
            left_y_axis=cw.YAxisProps(min=0, show_units=False),
        ))
        return widgets

    @staticmethod
    def _lambda_health(functions: Mapping[str, CanaryFunction]) -> Sequence[cw.IWidget]:
        counts: list[cw.IMetric] = []
        durations: list[cw.IMetric] = []
        limits: list[cw.HorizontalAnnotation] = []
        for kind, fn in functions.items():
            counts += [fn.function.metric_invocations(statistic="Sum", label=f"{kind} invocations"),
                       fn.function.metric_errors(statistic="Sum", label=f"{kind} errors"),
                       fn.function.metric_throttles(statistic="Sum", label=f"{kind} throttles")]
            durations.append(fn.function.metric_duration(statistic="Maximum", label=f"{kind} max"))
            limits.append(cw.HorizontalAnnotation(value=duration_warn_ms(fn),
                                                  label=f"{kind} {int(DURATION_WARN_FRACTION * 100)}% of timeout"))
        return (
            cw.GraphWidget(title="Lambda invocations, errors, throttles", left=counts, width=12, height=6,
                           left_y_axis=cw.YAxisProps(min=0, show_units=False)),
            cw.GraphWidget(title="Lambda duration vs timeout (ms)", left=durations, left_annotations=limits,
                           width=12, height=6, left_y_axis=cw.YAxisProps(min=0, show_units=False)),
        )
