"""The datapoints a run report becomes (DESIGN §6, contract v2), independent of how they are shipped.

The Lambda handler emits them as EMF through Powertools; ``canary run --publish`` sends them with
PutMetricData. One function decides what is emitted, so both paths match the alarms exactly.

Contract v2 pays for signal, not for silence: CloudWatch bills a custom metric for each hour in which it receives
data, so outcome metrics are sparse (sent only when the thing happened) and a healthy run sends no per-check
outcome at all. What each outcome emits:

- FAILED: ``CheckFailed`` = 1 (the per-check alarms' metric) and counts in ``ChecksFailed``;
- DEGRADED: ``CheckDegraded`` = 1; PASSED: no outcome metric;
- ERROR: counts in ``CanaryErrors`` (the canary is at fault, never the platform);
- INCOMPLETE: counts in ``CanaryErrors`` too: the run's deadline cut the check off, so the canary could not
  judge the target, and a check that stays INCOMPLETE run after run must still reach an alarm (the canary-broken
  one, M of N on ``CanaryErrors``). A target that hangs is FAILED ``http_timeout`` by its own step bound, so what
  is left INCOMPLETE is the canary's budget problem;
- SKIPPED: nothing.
``CheckRetried`` = 1 whenever a judged check retried; ``CheckDuration`` only for ``contract.LATENCY_SLI_CHECKS``
(never SKIPPED or INCOMPLETE: that duration is where the deadline cut it). Per run, always ``RunPassed`` (the
heartbeat), ``RunDuration`` and ``EstimatedRunCostUSD``; the sweeper's ``LeakedSessions`` only when it found some.

Inside a maintenance window the platform's verdicts are reported but not paged: no ``CheckFailed`` and no
``ChecksFailed`` (the per-check alarms treat the gap as not breaching), no INCOMPLETE in ``CanaryErrors`` (a
platform under maintenance may hang); ``RunPassed`` is still emitted so the heartbeat keeps watching the canary,
and ERROR still counts, because the canary's own faults do not depend on the platform's window.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness import contract
from harness.core.model import CheckResult, Outcome, RunReport


@dataclass(frozen=True)
class Datapoint:
    name: str
    unit: str
    value: float
    dimensions: Mapping[str, str]


def _check_points(environment: str, result: CheckResult, maintenance: bool) -> list[Datapoint]:
    dims = contract.check_dimensions(environment, result.id)
    points: list[Datapoint] = []
    if result.outcome is Outcome.FAILED and not maintenance:
        points.append(Datapoint(contract.CHECK_FAILED, contract.UNIT_COUNT, 1.0, dims))
    if result.id in contract.LATENCY_SLI_CHECKS and result.outcome not in (Outcome.SKIPPED, Outcome.INCOMPLETE):
        points.append(Datapoint(contract.CHECK_DURATION, contract.UNIT_MS, float(result.duration_ms), dims))
    if result.outcome is Outcome.DEGRADED:
        points.append(Datapoint(contract.CHECK_DEGRADED, contract.UNIT_COUNT, 1.0, dims))
    if result.retries and result.outcome is not Outcome.SKIPPED:
        points.append(Datapoint(contract.CHECK_RETRIED, contract.UNIT_COUNT, 1.0, dims))
    for name, ms in result.latencies_ms.items():
        if name not in contract.KEY_LATENCY_METRICS:
            continue
        if name == contract.CONTAINER_READY_LATENCY:
            if result.start_type not in ("cold", "warm"):
                continue
            key_dims = contract.container_ready_dimensions(environment, result.start_type)
        else:
            key_dims = dims
        points.append(Datapoint(name, contract.KEY_LATENCY_METRICS[name], float(ms), key_dims))
    return points


def canary_error_count(report: RunReport) -> int:
    """Checks the canary could not judge through its own fault: ERROR, and INCOMPLETE outside maintenance."""
    outcomes = [r.outcome for r in report.checks]
    incomplete = 0 if report.maintenance else outcomes.count(Outcome.INCOMPLETE)
    return outcomes.count(Outcome.ERROR) + incomplete


def report_datapoints(report: RunReport, *, leaked_sessions: int | None = None) -> list[Datapoint]:
    """Every datapoint for one run: per check, key latencies, then per run (sparse ones only when non-zero)."""
    points: list[Datapoint] = []
    for result in report.checks:
        points.extend(_check_points(report.environment, result, report.maintenance))
    run_dims = contract.run_dimensions(report.environment)
    points.append(Datapoint(contract.RUN_PASSED, contract.UNIT_COUNT, 1.0 if report.outcome.passed else 0.0,
                            run_dims))
    failed = 0 if report.maintenance else sum(1 for r in report.checks if r.outcome is Outcome.FAILED)
    if failed:
        points.append(Datapoint(contract.CHECKS_FAILED, contract.UNIT_COUNT, float(failed), run_dims))
    errors = canary_error_count(report)
    if errors:
        points.append(Datapoint(contract.CANARY_ERRORS, contract.UNIT_COUNT, float(errors), run_dims))
    points.extend([
        Datapoint(contract.RUN_DURATION, contract.UNIT_MS, float(report.duration_ms), run_dims),
        Datapoint(contract.ESTIMATED_RUN_COST, contract.UNIT_NONE, float(report.estimated_cost_usd), run_dims),
    ])
    if leaked_sessions:  # sparse, like the sweeper's own emission (handlers.metrics.sweep_blobs)
        points.append(Datapoint(contract.LEAKED_SESSIONS, contract.UNIT_COUNT, float(leaked_sessions), run_dims))
    return points


def to_metric_data(points: list[Datapoint]) -> list[dict[str, Any]]:
    """PutMetricData ``MetricData`` entries (the CLI's ``--publish``)."""
    return [{"MetricName": p.name, "Unit": p.unit, "Value": p.value,
             "Dimensions": [{"Name": k, "Value": v} for k, v in p.dimensions.items()]} for p in points]


def publish(cloudwatch: Any, points: list[Datapoint], *, batch: int = 500) -> int:
    """Send datapoints with PutMetricData (namespace from the contract); returns how many were sent."""
    data = to_metric_data(points)
    for start in range(0, len(data), batch):
        cloudwatch.put_metric_data(Namespace=contract.NAMESPACE, MetricData=data[start:start + batch])
    return len(data)
