"""Prices and the per-run cost estimate (the canary's own compute plus what journeys cost the platform).

Prices are public list prices for us-west-2 as of 2026-11 (documented constants; override per deployment).
"""

from __future__ import annotations

from dataclasses import dataclass

# AWS Lambda, arm64: per GB-second and per request.
LAMBDA_ARM_GB_SECOND_USD = 0.0000133334
LAMBDA_REQUEST_USD = 0.20 / 1_000_000
# Fargate (Linux/arm64 is cheaper; the platform runs x86 per target-surface §2): per vCPU-hour, per GB-hour.
FARGATE_VCPU_HOUR_USD = 0.04048
FARGATE_GB_HOUR_USD = 0.004445
# The seed's own per-hour figures for the platform's tasks (target-surface §1.4).
EDIT_TASK_HOUR_USD = 0.081  # 2 vCPU, 4 GB
HERMES_TASK_HOUR_USD = 0.027  # 0.5 vCPU, 1 GB
CLOUDWATCH_METRIC_MONTH_USD = 0.30
CLOUDWATCH_ALARM_MONTH_USD = 0.10
CLOUDWATCH_COMPOSITE_ALARM_MONTH_USD = 0.50
CLOUDWATCH_DASHBOARD_MONTH_USD = 3.00
LOG_INGEST_GB_USD = 0.50
SYNTHETICS_RUN_USD = 0.0012
PRICES_AS_OF = "2026-11-01"


@dataclass(frozen=True)
class CostModel:
    """What one run costs: Lambda time at ``memory_mb`` plus platform task-seconds journeys consumed."""

    memory_mb: int = 512
    edit_task_hour_usd: float = EDIT_TASK_HOUR_USD

    def run_cost(self, duration_s: float) -> float:
        """The canary's own compute for one run of ``duration_s`` seconds."""
        return duration_s * (self.memory_mb / 1024) * LAMBDA_ARM_GB_SECOND_USD + LAMBDA_REQUEST_USD

    def task_seconds_cost(self, task_seconds: float) -> float:
        """Platform cost of edit-container time a synthetic session kept running."""
        return task_seconds / 3600 * self.edit_task_hour_usd
