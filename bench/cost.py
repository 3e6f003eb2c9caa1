"""Cost and time to detect: the figures ``canary cost`` prints, judged against their targets.

- Monthly cost of one environment (Lambda, logs, custom metrics, alarms, dashboard, and the platform-side cost of
  journeys) against the same checks as CloudWatch Synthetics canaries. Target: <= 25%.
- Worst-case time from a hard outage to ALARM, in probe schedule periods. Target: <= 1 period (the runner confirms
  a failure inside the run, so an alarm can fire on one datapoint). Shown twice: with the cost model's deployment
  (``harness.reporting.cost_report.default_deployment``) and with the alarm settings the CDK app actually deploys
  (``cdk.json`` context: ``alarm_datapoints`` of ``alarm_evaluation_periods``), because they can drift apart.
- The always-on custom-metric count (contract v2: at most 12 whatever the number of checks; the sparse metrics are
  billed only in the hours they occur), and how the monthly bill moves per added check, here and on Synthetics.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from bench import PROJECT_ROOT, Figure, print_figures

TARGET_RATIO_PCT = 25.0
TARGET_PERIODS = 1.0
TARGET_ALWAYS_ON_METRICS = 12.0
CDK_JSON = PROJECT_ROOT / "cdk.json"


# -- pure helpers (unit-tested) -------------------------------------------------------------------------------


def metric_budget(total_usd: float, metrics_usd: float, synthetics_usd: float, target_ratio: float,
                  price_per_metric: float) -> int:
    """How many custom metrics fit if everything else stays the same and the total must stay within
    ``target_ratio`` of the Synthetics equivalent (never negative)."""
    room = target_ratio * synthetics_usd - (total_usd - metrics_usd)
    return max(0, math.floor(room / price_per_metric + 1e-9))


def periods_to_detect(alarm_period_minutes: float, datapoints: int, schedule_minutes: float) -> float:
    """Breaching datapoints the alarm needs, in schedule periods (the run after the outage starts is the first)."""
    return alarm_period_minutes * datapoints / schedule_minutes


def cdk_alarm_settings(context: Mapping[str, Any]) -> dict[str, int]:
    """The alarm window and probe schedule the CDK app deploys (its defaults when the context omits them)."""
    # The paging path: critical checks' alarms (the platform-unhealthy composite's children).
    return {"datapoints": int(context.get("critical_alarm_datapoints", 1)),
            "evaluation_periods": int(context.get("critical_alarm_evaluation_periods", 1)),
            "probe_minutes": int(context.get("probe_every_minutes", 15))}


# -- the figures ----------------------------------------------------------------------------------------------


def run() -> list[Figure]:
    from harness.config import CanaryConfig
    from harness.reporting import cost as prices
    from harness.reporting.cost_report import (
        default_deployment,
        estimate_deployment,
        sparse_metric_hour_usd,
        time_to_detect,
    )

    config = CanaryConfig()  # the defaults `canary cost` sees with no environment: session-platform
    deployment = default_deployment(config)
    estimate = estimate_deployment(config, deployment)
    pct = estimate.ratio_to_synthetics * 100
    lines = sorted(estimate.lines.items(), key=lambda item: -item[1])
    top = ", ".join(f"{name} ${usd:.2f}" for name, usd in lines[:4])
    metrics_usd = estimate.lines.get("cloudwatch:metrics", 0.0)
    budget = metric_budget(estimate.total_usd, metrics_usd, estimate.synthetics_equivalent_usd,
                           TARGET_RATIO_PCT / 100, prices.CLOUDWATCH_METRIC_MONTH_USD)
    probe = next(s for s in deployment.schedules if s.name == "probes")
    figures = [
        Figure("cost: monthly total / Synthetics equivalent", pct, "%", TARGET_RATIO_PCT,
               raw=f"${estimate.total_usd:.2f} vs ${estimate.synthetics_equivalent_usd:.2f} per month; "
                   f"largest: {top}",
               note=f"{config.profile}, prices as of {estimate.prices_as_of}"),
        Figure("cost: always-on custom metrics", float(estimate.custom_metrics), "count", TARGET_ALWAYS_ON_METRICS,
               raw=f"${metrics_usd:.2f}/month at ${prices.CLOUDWATCH_METRIC_MONTH_USD:.2f} each; sparse "
                   f"{', '.join(estimate.sparse_metrics)}: ${sparse_metric_hour_usd():.5f} per metric-hour emitted",
               note=f"the 25% target leaves room for {budget}; the same for any number of non-SLI checks"),
        Figure("cost: monthly bill per added check", estimate.per_added_check["check"] * 100, "cents",
               raw=f"latency SLI ${estimate.per_added_check['latency_sli_check']:.2f}; on Synthetics "
                   f"${estimate.per_added_check['synthetics_check']:.2f}",
               note="its alarm and log lines; no always-on metric unless it is a latency SLI"),
        Figure("time to detect: cost model's alarms", periods_to_detect(
            deployment.alarm_period_minutes, deployment.alarm_datapoints, probe.every_minutes), "periods",
               TARGET_PERIODS,
               raw=f"{estimate.time_to_detect_minutes:g} min worst case: {probe.every_minutes}-min probes, "
                   f"{deployment.alarm_datapoints} datapoint(s) + ~1 min alarm evaluation"),
    ]
    if CDK_JSON.is_file():
        context = json.loads(CDK_JSON.read_text(encoding="utf-8")).get("context", {})
        cdk = cdk_alarm_settings(context)
        deployed = replace(deployment, alarm_period_minutes=cdk["probe_minutes"],
                           alarm_datapoints=cdk["datapoints"], alarm_evaluation_periods=cdk["evaluation_periods"])
        figures.append(Figure(
            "time to detect: critical alarms as cdk.json deploys them",
            periods_to_detect(cdk["probe_minutes"], cdk["datapoints"], cdk["probe_minutes"]), "periods",
            TARGET_PERIODS,
            raw=f"{time_to_detect(deployed):g} min worst case: {cdk['probe_minutes']}-min probes, "
                f"{cdk['datapoints']} of {cdk['evaluation_periods']} datapoints",
            note="" if cdk["datapoints"] == deployment.alarm_datapoints else
            "differs from the cost model: `canary cost` understates it"))
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    print_figures(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
