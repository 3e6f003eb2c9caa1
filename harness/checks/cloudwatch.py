"""CloudWatch check: the platform's ActiveSessionCount metric exists with its real dimensions and is fresh.

The seed-era harness read it without dimensions and always got 0 (a CloudWatch metric is identified by its
full dimension set). Here the dimensions are discovered with ListMetrics, then read with GetMetricData.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from harness.core.check import CheckContext, check
from harness.core.model import Reason

METRIC_NAME = "ActiveSessionCount"
_MAX_SERIES = 10  # GetMetricData queries per call are cheap, but a metric with more series is misconfigured
_PERIOD_S = 60


@check("cloudwatch.platform_metrics", timeout_s=20)
def cloudwatch_platform_metrics(ctx: CheckContext) -> None:
    namespace = ctx.config.metric_namespace_platform
    with ctx.step("cloudwatch.list_metrics"):
        metrics = [m for page in ctx.aws.cloudwatch.get_paginator("list_metrics").paginate(
            Namespace=namespace, MetricName=METRIC_NAME) for m in page.get("Metrics", [])]
    dimension_sets = [_dims(m) for m in metrics]
    ctx.evidence.update({"namespace": namespace, "metric": METRIC_NAME, "dimension_sets": dimension_sets})
    if not dimension_sets:
        raise ctx.fail(Reason.METRIC_MISSING, f"{namespace}/{METRIC_NAME} is not published (ListMetrics found no "
                                              "series in the last two weeks)")
    chosen = [d for d in dimension_sets if d.get("Environment") == ctx.config.environment] or dimension_sets
    chosen = chosen[:_MAX_SERIES]
    ctx.evidence["dimensions"] = chosen[0] if len(chosen) == 1 else chosen
    now = datetime.now(UTC)
    window_s = ctx.config.metric_freshness_s
    with ctx.step("cloudwatch.get_metric_data"):
        response = ctx.aws.cloudwatch.get_metric_data(
            MetricDataQueries=[
                {"Id": f"m{i}", "ReturnData": True,
                 "MetricStat": {"Metric": {"Namespace": namespace, "MetricName": METRIC_NAME,
                                           "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()]},
                                "Period": _PERIOD_S, "Stat": "Maximum"}}
                for i, dims in enumerate(chosen)
            ],
            StartTime=now - timedelta(seconds=window_s), EndTime=now + timedelta(seconds=_PERIOD_S),
            ScanBy="TimestampDescending")
    latest: tuple[datetime, float, dict[str, str]] | None = None
    for result in response.get("MetricDataResults", []):
        index = int(str(result.get("Id", "m0"))[1:] or 0)
        for stamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
            moment = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
            if latest is None or moment > latest[0]:
                latest = (moment, float(value), chosen[index])
    if latest is None:
        raise ctx.fail(Reason.METRIC_STALE, f"{METRIC_NAME} {_fmt(chosen[0])} has no datapoint in the last "
                                            f"{window_s:g} s")
    age_s = max(0.0, (now - latest[0]).total_seconds())
    ctx.evidence["latest"] = {"value": latest[1], "at": latest[0].isoformat(), "age_s": round(age_s, 1),
                              "dimensions": latest[2]}
    ctx.note(f"{METRIC_NAME} {_fmt(latest[2])} = {latest[1]:g}, {age_s:.0f} s old")


def _dims(metric: dict[str, Any]) -> dict[str, str]:
    return {str(d["Name"]): str(d["Value"]) for d in metric.get("Dimensions", [])}


def _fmt(dims: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in sorted(dims.items())) + "}"

CHECKS = (cloudwatch_platform_metrics,)
