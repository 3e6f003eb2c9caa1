"""``canary cost``: what the deployed canary costs per month and how fast it detects a hard outage.

The estimate covers Lambda GB-seconds and requests per schedule, custom metrics, alarms, the dashboard and
log ingestion, plus the platform-side cost of journeys (edit-container task-seconds of synthetic sessions),
next to the cost of the same checks as CloudWatch Synthetics canaries. Prices: ``harness.reporting.cost``.

Custom metrics follow contract v2 (DESIGN §6): CloudWatch bills a metric for each hour in which it receives
data, so only the always-on set (``contract.always_on_metrics``, the same whatever the number of checks) is a
monthly line; the sparse ones (``CheckFailed`` and friends) cost a fraction of a cent per hour in which something
failed, and a healthy month costs nothing for them. ``per_added_check`` says how the bill moves with the catalogue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from harness import contract
from harness.config import CanaryConfig
from harness.reporting import cost

MINUTES_PER_MONTH = 30 * 24 * 60
HOURS_PER_MONTH = MINUTES_PER_MONTH / 60
# One more per-check log line per run (JSON with Powertools' context keys and the contract's fields).
LOG_KB_PER_CHECK_LINE = 0.8


@dataclass(frozen=True)
class Schedule:
    """One scheduled function: how often, how long a run takes, how much memory."""

    name: str
    every_minutes: int
    run_seconds: float
    memory_mb: int
    checks: int
    synthetic_task_seconds: float = 0.0  # edit-container time a run keeps up for its synthetic sessions

    @property
    def runs_per_month(self) -> float:
        return MINUTES_PER_MONTH / self.every_minutes


@dataclass(frozen=True)
class Deployment:
    """What is deployed for one environment (mirrors the CDK defaults in cdk.json)."""

    profile: str = contract.SESSION_PLATFORM
    schedules: tuple[Schedule, ...] = ()
    alarm_period_minutes: int = 15
    alarm_datapoints: int = 1
    alarm_evaluation_periods: int = 1
    log_kb_per_run: float = 4.0  # the invoke and run summary lines and the EMF lines; per-check lines come on top
    alarms: int = 0
    composite_alarms: int = 2  # platform-unhealthy, canary-broken
    dashboards: int = 1
    tiers: tuple[str, ...] = ("probe", "journey")


def default_deployment(config: CanaryConfig, *, probe_minutes: int = 15, journey_minutes: int = 60,
                       sweeper_minutes: int = 60, memory_mb: int = 512) -> Deployment:
    """The CDK app's defaults for this profile: probes every 15 min, journeys and sweeper hourly."""
    ids = contract.CHECK_IDS_BY_PROFILE[config.profile]
    probes = sum(1 for i in ids if contract.NON_PROBE_TIERS.get(i, "probe") == "probe")
    schedules = [Schedule("probes", probe_minutes, 4.0, memory_mb, probes)]
    if config.profile == contract.SESSION_PLATFORM:
        # A cold journey keeps one edit task up roughly activation + readiness + drain (~3 min at seed timings).
        ready = config.container_ready_timeout_s
        schedules.append(Schedule("journeys", journey_minutes, 45.0, memory_mb, 1,
                                  synthetic_task_seconds=ready + 120.0))
        schedules.append(Schedule("sweeper", sweeper_minutes, 3.0, 256, 0))
    per_check_alarms = sum(1 for i in ids if contract.NON_PROBE_TIERS.get(i, "probe") in ("probe", "journey")
                           and i not in contract.ERROR_ONLY_CHECKS)
    # As infra/alarms.py builds them: one per scheduled check, canary-errors (and one per slower check-running
    # schedule), heartbeat, four per function (errors, throttles, not-invoked, duration), leaked-sessions when a
    # sweeper runs, schedule DLQ, self-test.
    sweeper = any(s.name == "sweeper" for s in schedules)
    slower = len({s.every_minutes for s in schedules if s.name != "sweeper"} - {probe_minutes})
    alarms = per_check_alarms + 2 + slower + 4 * len(schedules) + (1 if sweeper else 0) + 1 + 1
    tiers = ("probe", "journey") if config.profile == contract.SESSION_PLATFORM else ("probe",)
    return Deployment(profile=config.profile, schedules=tuple(schedules), alarm_period_minutes=probe_minutes,
                      alarms=alarms, tiers=tiers)


@dataclass(frozen=True)
class Estimate:
    lines: dict[str, float] = field(default_factory=dict)
    synthetics_equivalent_usd: float = 0.0
    time_to_detect_minutes: float = 0.0
    custom_metrics: int = 0  # always-on (billed every month); the sparse ones are not counted
    prices_as_of: str = cost.PRICES_AS_OF
    always_on_metrics: tuple[str, ...] = ()
    sparse_metrics: tuple[str, ...] = ()
    per_added_check: dict[str, float] = field(default_factory=dict)

    @property
    def total_usd(self) -> float:
        return sum(self.lines.values())

    @property
    def ratio_to_synthetics(self) -> float:
        return self.total_usd / self.synthetics_equivalent_usd if self.synthetics_equivalent_usd else math.inf

    def to_dict(self) -> dict[str, Any]:
        return {"monthly_usd": {k: round(v, 4) for k, v in self.lines.items()},
                "total_monthly_usd": round(self.total_usd, 2),
                "synthetics_equivalent_monthly_usd": round(self.synthetics_equivalent_usd, 2),
                "ratio_to_synthetics": round(self.ratio_to_synthetics, 3),
                "custom_metrics": self.custom_metrics,
                "always_on_metrics": list(self.always_on_metrics),
                "sparse_metrics": list(self.sparse_metrics),
                "sparse_metric_hour_usd": round(sparse_metric_hour_usd(), 6),
                "per_added_check_monthly_usd": {k: round(v, 4) for k, v in self.per_added_check.items()},
                "time_to_detect_minutes": self.time_to_detect_minutes,
                "prices_as_of": self.prices_as_of}


def sparse_metric_hour_usd() -> float:
    """What one sparse metric costs for one hour in which it is emitted (a failing check's CheckFailed, say)."""
    return cost.CLOUDWATCH_METRIC_MONTH_USD / HOURS_PER_MONTH


def per_added_check(deployment: Deployment) -> dict[str, float]:
    """Monthly change of the bill for one more probe check, here and as a Synthetics canary.

    Here: its alarm (one per scheduled check), one more log line per run, and for a latency SLI its always-on
    ``CheckDuration``; its sparse metrics cost ``sparse_metric_hour_usd`` per hour it fails, nothing while it passes.
    Checks run concurrently inside the one invocation, so the Lambda time is not modelled per check. Synthetics:
    one more canary, billed per run, plus the same alarm.
    """
    probe = next((s for s in deployment.schedules if s.name == "probes"), None)
    runs = probe.runs_per_month if probe else 0.0
    alarm = cost.CLOUDWATCH_ALARM_MONTH_USD
    logs = runs * LOG_KB_PER_CHECK_LINE / 1024 / 1024 * cost.LOG_INGEST_GB_USD
    return {"check": alarm + logs,
            "latency_sli_check": alarm + logs + cost.CLOUDWATCH_METRIC_MONTH_USD,
            "synthetics_check": alarm + runs * cost.SYNTHETICS_RUN_USD}


def time_to_detect(deployment: Deployment) -> float:
    """Worst case from a hard outage to the paging alarm: the outage starts just after a run, the next run sees
    it and confirms it in-run (one period), the critical alarm needs ``alarm_datapoints`` breaching periods
    (default 1, infra context ``critical_alarm_datapoints``), and CloudWatch evaluates about a minute later."""
    period = deployment.alarm_period_minutes
    return period * deployment.alarm_datapoints + 1.0


def estimate_deployment(config: CanaryConfig, deployment: Deployment | None = None) -> Estimate:
    dep = deployment or default_deployment(config)
    lines: dict[str, float] = {}
    synthetics = 0.0
    for sched in dep.schedules:
        runs = sched.runs_per_month
        gb_s = runs * sched.run_seconds * sched.memory_mb / 1024
        lines[f"lambda:{sched.name}"] = gb_s * cost.LAMBDA_ARM_GB_SECOND_USD + runs * cost.LAMBDA_REQUEST_USD
        log_kb = dep.log_kb_per_run + sched.checks * LOG_KB_PER_CHECK_LINE
        lines[f"logs:{sched.name}"] = runs * log_kb / 1024 / 1024 * cost.LOG_INGEST_GB_USD
        if sched.synthetic_task_seconds:
            lines[f"platform:{sched.name}"] = runs * sched.synthetic_task_seconds / 3600 * cost.EDIT_TASK_HOUR_USD
        # The same checks as Synthetics canaries: one canary per check, each run billed. A journey's
        # platform cost is the same whoever runs it, so it is added to both sides.
        synthetics += runs * sched.checks * cost.SYNTHETICS_RUN_USD + lines.get(f"platform:{sched.name}", 0.0)
    always_on = contract.always_on_metrics(contract.scheduled_check_ids(dep.profile, dep.tiers))
    metrics = len(always_on)
    lines["cloudwatch:metrics"] = metrics * cost.CLOUDWATCH_METRIC_MONTH_USD  # always-on only: the sparse cost 0
    lines["cloudwatch:alarms"] = dep.alarms * cost.CLOUDWATCH_ALARM_MONTH_USD
    lines["cloudwatch:composite_alarms"] = dep.composite_alarms * cost.CLOUDWATCH_COMPOSITE_ALARM_MONTH_USD
    lines["cloudwatch:dashboard"] = dep.dashboards * cost.CLOUDWATCH_DASHBOARD_MONTH_USD
    # Synthetics would still need its own alarms and dashboard: count them on both sides.
    synthetics += (dep.alarms * cost.CLOUDWATCH_ALARM_MONTH_USD
                   + dep.composite_alarms * cost.CLOUDWATCH_COMPOSITE_ALARM_MONTH_USD
                   + dep.dashboards * cost.CLOUDWATCH_DASHBOARD_MONTH_USD)
    sparse = (*contract.SPARSE_PER_CHECK_METRICS, *contract.SPARSE_PER_RUN_METRICS)
    return Estimate(lines=lines, synthetics_equivalent_usd=synthetics, time_to_detect_minutes=time_to_detect(dep),
                    custom_metrics=metrics, always_on_metrics=always_on, sparse_metrics=sparse,
                    per_added_check=per_added_check(dep))


def render_estimate(estimate: Estimate) -> str:
    rows = [f"{name:<28} ${value:>9.2f}" for name, value in sorted(estimate.lines.items())]
    rows.append(f"{'total per month':<28} ${estimate.total_usd:>9.2f}")
    rows.append(f"{'same checks on Synthetics':<28} ${estimate.synthetics_equivalent_usd:>9.2f}"
                f"  (ratio {estimate.ratio_to_synthetics:.1%}, target <= 25%)")
    rows.append(f"always-on custom metrics: {estimate.custom_metrics} (target <= 12 whatever the number of checks), "
                f"${estimate.lines.get('cloudwatch:metrics', 0.0):.2f}/month: {', '.join(estimate.always_on_metrics)}")
    rows.append(f"sparse custom metrics (emitted only when it happens; ${sparse_metric_hour_usd():.5f} per metric "
                f"per hour emitted, $0 on a healthy platform): {', '.join(estimate.sparse_metrics)}")
    added = estimate.per_added_check
    if added:
        rows.append(f"each added check: +${added['check']:.2f}/month (its alarm and log lines), "
                    f"+${added['latency_sli_check']:.2f} if it is a latency SLI (its CheckDuration); "
                    f"on Synthetics +${added['synthetics_check']:.2f}")
    rows.append(f"worst-case time to detect a hard outage: {estimate.time_to_detect_minutes:g} min "
                f"(target <= one schedule period + evaluation)")
    rows.append(f"prices as of {estimate.prices_as_of}")
    return "\n".join(rows)
