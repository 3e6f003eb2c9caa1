"""The check catalogue: one module per target system; ``CATALOGUE`` is every check in report order.

Loaded lazily (cold start, issue 13): importing this package imports no check module. Each entry knows its id, tier
and profiles from ``harness.contract`` (what selection reads first) and imports its module the first time anything
else is read (``fn``, ``requires``, ``depends_on``...), so a run loads only the modules of the checks it selects:
a probe run never imports the journeys or the queue platform's checks.

To add a check: write it in the module of its target system with ``@check``, add its id to
``harness.contract.CHECK_IDS_BY_PROFILE`` (and ``NON_PROBE_TIERS`` if it is not a probe), add it to ``_MODULES``
below, a README row, and a sandbox test (a unit test holds the declaration and the contract to the same values).
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING, Any, cast

from harness import contract
from harness.model import Profile, Tier

if TYPE_CHECKING:
    from harness.check import Check

# Check id -> (module in this package, attribute), in report order.
_MODULES: dict[str, tuple[str, str]] = {
    "aws.credentials": ("account", "aws_credentials"),
    "config.valid": ("account", "config_valid"),
    "ecs.cluster": ("ecs", "ecs_cluster"),
    "ecs.services": ("ecs", "ecs_services"),
    "dynamodb.sessions_table": ("dynamodb", "dynamodb_sessions_table"),
    "alb.targets": ("alb", "alb_targets"),
    "alb.rules": ("alb", "alb_rules"),
    "efs.filesystem": ("efs", "efs_filesystem"),
    "http.hermes_health": ("http_probes", "http_hermes_health"),
    "http.routing": ("http_probes", "http_routing"),
    "cloudwatch.platform_metrics": ("cloudwatch", "cloudwatch_platform_metrics"),
    "latency.baseline": ("latency", "latency_baseline"),
    "session.lifecycle": ("journeys", "session_lifecycle"),
    "session.persistence": ("destructive", "session_persistence"),
    "session.concurrency": ("destructive", "session_concurrency"),
    "session.auto_shutdown": ("destructive", "session_auto_shutdown"),
    "cleanup.orphans": ("hygiene", "cleanup_orphans"),
    "stepfunctions.executions": ("stepfunctions", "stepfunctions_executions"),
    "sqs.dlq_empty": ("sqs", "sqs_dlq_empty"),
    "sqs.queue_age": ("sqs", "sqs_queue_age"),
    "s3.site": ("s3_site", "s3_site"),
    "ownership.claims": ("ownership", "ownership_claims"),
    "ecs.edit_idle": ("ecs_idle", "ecs_edit_idle"),
}
_IMPORT_LOCK = threading.Lock()


class LazyCheck:
    """A catalogue entry: ``id``, ``tier`` and ``profiles`` at once, every other ``Check`` field on first read."""

    __slots__ = ("_check", "_where", "id", "profiles", "tier")

    def __init__(self, check_id: str, module: str, attribute: str) -> None:
        self.id = check_id
        self.tier = Tier(contract.NON_PROBE_TIERS.get(check_id, "probe"))
        self.profiles = tuple(Profile(p) for p in contract.PROFILES if check_id in contract.CHECK_IDS_BY_PROFILE[p])
        self._where = (f"{__name__}.{module}", attribute)
        self._check: Check | None = None

    def load(self) -> Check:
        """The declared ``Check`` (importing its module once; thread-safe, runs start checks concurrently)."""
        if self._check is None:
            with _IMPORT_LOCK:
                if self._check is None:
                    module, attribute = self._where
                    self._check = cast("Check", getattr(importlib.import_module(module), attribute))
        return self._check

    def __getattr__(self, name: str) -> Any:
        return getattr(self.load(), name)

    def __repr__(self) -> str:
        state = "loaded" if self._check is not None else "not loaded"
        return f"LazyCheck({self.id!r}, {self.tier.value}, {state})"


# Typed as checks: every field of ``Check`` reads through (``LazyCheck.load`` gives the declaration itself).
CATALOGUE: tuple[Check, ...] = cast("tuple[Check, ...]", tuple(LazyCheck(i, m, a) for i, (m, a) in _MODULES.items()))


def by_id() -> dict[str, Check]:
    return {c.id: c for c in CATALOGUE}
