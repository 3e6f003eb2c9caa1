"""The datapoints a run report becomes (DESIGN §6), independent of how they are shipped.

The Lambda handler emits them as EMF through Powertools; ``canary run --publish`` sends them with
PutMetricData. One function decides what is emitted, so both paths match the alarms exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness import contract
from harness.model import CheckResult, Outcome, RunReport


@dataclass(frozen=True)
class Datapoint:
    name: str
    unit: str
    value: float
    dimensions: Mapping[str, str]


def _check_points(environment: str, result: CheckResult, maintenance: bool) -> list[Datapoint]:
    dims = contract.check_dimensions(environment, result.id)
    points: list[Datapoint] = []
    judged = result.outcome in (Outcome.PASSED, Outcome.DEGRADED, Outcome.FAILED)
    # ERROR/SKIPPED/INCOMPLETE say nothing about the target: no CheckPassed (ERROR counts in CanaryErrors).
    # During maintenance no CheckPassed at all: the per-check alarms treat missing data as not breaching.
    if judged and not maintenance:
        points.append(Datapoint(contract.CHECK_PASSED, contract.UNIT_COUNT, 1.0 if result.outcome.passed else 0.0,
                                dims))
    # An INCOMPLETE check's duration is where the deadline cut it, not how long the target took.
    if result.outcome not in (Outcome.SKIPPED, Outcome.INCOMPLETE):
        points.append(Datapoint(contract.CHECK_DURATION, contract.UNIT_MS, float(result.duration_ms), dims))
    # Sparse: emitted only when they happen (see contract.SPARSE_PER_CHECK_METRICS).
    if judged and result.outcome is Outcome.DEGRADED:
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


def report_datapoints(report: RunReport, *, leaked_sessions: int | None = None) -> list[Datapoint]:
    """Every datapoint for one run: per check, key latencies, then per run."""
    points: list[Datapoint] = []
    for result in report.checks:
        points.extend(_check_points(report.environment, result, report.maintenance))
    run_dims = contract.run_dimensions(report.environment)
    outcomes = [r.outcome for r in report.checks]
    points.extend([
        Datapoint(contract.RUN_PASSED, contract.UNIT_COUNT, 1.0 if report.outcome.passed else 0.0, run_dims),
        Datapoint(contract.CHECKS_FAILED, contract.UNIT_COUNT, float(outcomes.count(Outcome.FAILED)), run_dims),
        Datapoint(contract.CANARY_ERRORS, contract.UNIT_COUNT, float(outcomes.count(Outcome.ERROR)), run_dims),
        Datapoint(contract.RUN_DURATION, contract.UNIT_MS, float(report.duration_ms), run_dims),
        Datapoint(contract.ESTIMATED_RUN_COST, contract.UNIT_NONE, float(report.estimated_cost_usd), run_dims),
    ])
    if leaked_sessions is not None:
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
