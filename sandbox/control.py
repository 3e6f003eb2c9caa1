"""The seam between the sandbox's AWS side (moto) and its HTTP side (Hermes, edit container, ALB).

The HTTP simulators change platform state the way the real platform would (Hermes scales the edit service,
ECS registers targets); moto cannot do that by itself (no service tasks, always-healthy targets), so the AWS
side implements this protocol by driving moto's in-process backends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class SeededResources:
    """Names and ARNs of everything the sandbox seeded (seed-era names from target-surface §1-§2)."""

    region: str
    account_id: str
    cluster: str
    hermes_service: str
    edit_service: str
    sessions_table: str
    load_balancer_arn: str
    listener_arn: str
    target_groups: dict[str, str]  # name -> ARN: hermes-api-tg, edit-api-tg, edit-astro-tg, edit-ws-tg
    efs_id: str
    metric_environment: str = "production"
    extra: dict[str, Any] = field(default_factory=dict)  # queue-platform resources, added by that profile


class PlatformControl(Protocol):
    """What the HTTP-side simulators may do to the AWS side."""

    @property
    def resources(self) -> SeededResources:
        """What was seeded (read-only)."""

    def client(self, service: str) -> Any:
        """A boto3 client straight to moto (never fault-injected: faults target the canary, not the platform)."""

    def set_service_counts(self, service: str, *, desired: int, running: int, pending: int = 0) -> None:
        """Set an ECS service's desired/running/pending counts and (de)register its targets to match."""

    def service_counts(self, service: str) -> tuple[int, int]:
        """(desired, running) of an ECS service."""

    def healthy_target_count(self, target_group_name: str) -> int:
        """Targets the ALB would route to (registered and healthy) in a target group."""

    def route_for_path(self, path: str) -> str | None:
        """Target group name of the listener rule that matches ``path`` (by priority); None = default action."""
