"""Run reports -> CloudWatch metrics as EMF lines on stdout (Powertools; the Lambda never calls PutMetricData).

What a run emits is decided once, in ``harness.reporting.metrics.report_datapoints`` (shared with ``canary run
--publish``); this module only ships it. Datapoints are grouped by dimension set, one EMF line per set, because
an EMF line applies all its dimensions to all its metrics. Each set is exactly one of the contract's
(``run_dimensions``, ``check_dimensions``, ``container_ready_dimensions``), ``service`` included, since the CDK
alarms name those same sets: one dimension more or less is a different metric, and the alarm would watch
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness import contract
from harness.core.model import RunReport
from harness.reporting.metrics import Datapoint, report_datapoints


@dataclass(frozen=True)
class Blob:
    """One EMF line: one dimension set and the datapoints that share it."""

    dimensions: Mapping[str, str]
    points: tuple[Datapoint, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)


def group(points: Iterable[Datapoint], *, metadata: Mapping[str, Any] | None = None) -> list[Blob]:
    """Group datapoints by dimension set, in first-seen order; ``metadata`` rides on every line."""
    grouped: dict[tuple[tuple[str, str], ...], list[Datapoint]] = {}
    for point in points:
        grouped.setdefault(tuple(point.dimensions.items()), []).append(point)
    return [Blob(dict(key), tuple(pts), dict(metadata or {})) for key, pts in grouped.items()]


def report_blobs(report: RunReport) -> list[Blob]:
    """Everything one canary run emits; the run id is metadata (searchable in logs, not a dimension)."""
    return group(report_datapoints(report), metadata={"run_id": report.run_id})


def sweep_blobs(environment: str, *, leaked: int, run_id: str, canary_errors: int = 0) -> list[Blob]:
    """The sweeper's LeakedSessions when it found any, plus CanaryErrors when the sweep itself could not work.

    Sparse like the outcomes (contract v2): a clean sweep sends nothing, so it costs nothing; the leaked-sessions
    alarm treats missing data as not breaching, and the sweeper's own failures have their Lambda alarms.
    """
    dims = contract.run_dimensions(environment)
    points = []
    if leaked:
        points.append(Datapoint(contract.LEAKED_SESSIONS, contract.UNIT_COUNT, float(leaked), dims))
    if canary_errors:
        points.append(Datapoint(contract.CANARY_ERRORS, contract.UNIT_COUNT, float(canary_errors), dims))
    return group(points, metadata={"run_id": run_id})


def canary_error_blobs(environment: str, *, what: str) -> list[Blob]:
    """CanaryErrors=1 for an invocation that could not start (invalid configuration): the canary is broken.

    RunPassed is deliberately absent: nothing ran, so there is no run to call passed or failed; the heartbeat
    alarm on RunPassed's sample count fires if this keeps happening, the CanaryErrors alarm at once.
    """
    dims = contract.run_dimensions(environment)
    return group([Datapoint(contract.CANARY_ERRORS, contract.UNIT_COUNT, 1.0, dims)], metadata={"canary_error": what})


def emit(blobs: Iterable[Blob]) -> int:
    """Print each blob as one EMF line through Powertools; returns how many lines were written."""
    from aws_lambda_powertools.metrics import EphemeralMetrics

    written = 0
    for blob in blobs:
        # Explicit namespace and service: POWERTOOLS_* variables must not change the set the alarms watch.
        metrics = EphemeralMetrics(namespace=contract.NAMESPACE, service=contract.SERVICE_NAME)
        for name, value in blob.dimensions.items():
            metrics.add_dimension(name=name, value=value)
        for key, meta in blob.metadata.items():
            metrics.add_metadata(key=key, value=meta)
        for point in blob.points:
            metrics.add_metric(name=point.name, unit=point.unit, value=point.value)
        metrics.flush_metrics()
        written += 1
    return written
