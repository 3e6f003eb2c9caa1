"""What one stack's monitoring watches: its environment, its scheduled functions and the schedule's DLQ.

Alarms and the dashboard both read it, so "the fastest schedule", "the canary's log groups" and "how often a
check runs" are computed once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import aws_sqs as sqs

from infra.canary_function import CanaryFunction
from infra.catalogue import tier_of
from infra.config import EnvironmentConfig


@dataclass(frozen=True)
class Monitored:
    """The environment, its functions by kind (probe, journey, destructive, sweeper) and the schedule DLQ."""

    cfg: EnvironmentConfig
    functions: Mapping[str, CanaryFunction]
    schedule_dlq: sqs.IQueue

    @property
    def canary_functions(self) -> list[CanaryFunction]:
        """The functions that run checks (every kind but the sweeper)."""
        return [fn for kind, fn in self.functions.items() if kind != "sweeper"]

    @property
    def fastest_minutes(self) -> int:
        """The shortest schedule period of a check-running function: the per-run metrics' period."""
        return min(fn.every_minutes for fn in self.canary_functions)

    @property
    def canary_log_groups(self) -> list[str]:
        return [fn.log_group_name for fn in self.canary_functions]

    def every_minutes(self, check_id: str) -> int:
        """How often a check runs: its tier's schedule period."""
        return self.functions[tier_of(check_id)].every_minutes
