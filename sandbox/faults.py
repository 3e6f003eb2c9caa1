"""The sandbox's faults: the one catalogue of fault classes (target-surface §5), and the switchboard saying which
are injected right now.

Each ``FaultClass`` declares where it is injected (``Side``) and the check, outcome and reason (and, for a journey
step, the step) that must catch it; the detection matrix, the journey tests and the README's table read it here.

Faults are switched by name, from the ``SANDBOX_FAULTS`` environment variable at boot
(``"hermes_5xx,hermes_slow:delay_ms=800"``), from the admin endpoint ``/__sandbox/faults`` of the local
ALB, or in process (tests). Unknown names are rejected so a typo cannot silently test nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum


class Side(Enum):
    """Where a fault is injected, and so which sandbox modules implement it."""

    AWS_STATE = "aws_state"  # moto's state (sandbox.platform_state, sandbox.session_metric)
    AWS_PROXY = "aws_proxy"  # the canary's own AWS calls, answered by the proxy (sandbox.proxy_faults): ERROR
    HTTP = "http"  # the local ALB, its TLS, Hermes and the edit container (sandbox.alb, tls, hermes, edit_container)
    QUEUE = "queue"  # the queue platform (sandbox.queue_side)
    JOURNEY_STEP = "journey_step"  # one journey step (sandbox.journey_support), switched with JourneySupport.faults


@dataclass(frozen=True)
class FaultClass:
    name: str
    description: str
    # Which check should catch it and how (documentation + detection-matrix tests).
    expected_check: str
    expected_outcome: str  # FAILED (target at fault), ERROR (canary at fault), DEGRADED (deploying: not paged)
    expected_reason: str
    side: Side
    expected_step: str | None = None  # the journey step that ends with the outcome (journey-step faults)


FAULT_CATALOGUE: dict[str, FaultClass] = {
    f.name: f
    for f in (
        # -- session platform, target side
        FaultClass("hermes_down", "Hermes has no healthy task: the ALB answers 503 on /hermes/*",
                   "http.hermes_health", "FAILED", "http_5xx", Side.AWS_STATE),
        FaultClass("hermes_5xx", "Hermes answers 500 (application error)",
                   "http.hermes_health", "FAILED", "http_5xx", Side.HTTP),
        FaultClass("hermes_slow", "Hermes answers after delay_ms (default 3000)",
                   "latency.baseline", "FAILED", "latency_slow", Side.HTTP),
        FaultClass("hermes_malformed_json", "Hermes /health answers 200 with a body that is not JSON",
                   "http.hermes_health", "FAILED", "body_invalid", Side.HTTP),
        FaultClass("container_never_ready", "the edit container starts but /api/health never answers 200",
                   "session.lifecycle", "FAILED", "not_ready", Side.HTTP),
        FaultClass("session_not_persisted", "activate answers 200 but writes no DynamoDB record",
                   "session.lifecycle", "FAILED", "record_missing", Side.HTTP),
        FaultClass("activate_app_error", "activate answers 500 'Tasks cannot be empty'",
                   "session.lifecycle", "FAILED", "http_5xx", Side.HTTP),
        FaultClass("ws_refused", "the HMR WebSocket upgrade is refused (HTTP 403)",
                   "session.lifecycle", "FAILED", "ws_refused", Side.HTTP),
        FaultClass("targets_unhealthy", "the hermes target group reports its targets unhealthy",
                   "alb.targets", "FAILED", "unhealthy_targets", Side.AWS_STATE),
        FaultClass("targets_partly_unhealthy", "hermes runs 2 tasks and one of its targets fails its health checks "
                   "(the other still serves)", "alb.targets", "DEGRADED", "unhealthy_targets", Side.AWS_STATE),
        FaultClass("service_mismatch", "the hermes service wants 1 task but runs 0 (no deployment under way)",
                   "ecs.services", "FAILED", "desired_running_mismatch", Side.AWS_STATE),
        FaultClass("deployment_failed", "the hermes service has a rollout with failed tasks",
                   "ecs.services", "FAILED", "deployment_failed", Side.AWS_STATE),
        # Not an outage: a young rollout of Hermes whose new task is still in its first health checks (the ALB
        # answers 503 meanwhile). DEGRADED ``deploying``, never paged; ``age_s=`` (default 60) older than the
        # grace or ``failed_tasks=`` > 0 make it a stuck rollout (FAILED deployment_failed).
        FaultClass("deploying", "a hermes rollout started age_s ago (default 60) is IN_PROGRESS; its new task's "
                   "target is still in initial health checks, so /hermes/* answers 503",
                   "ecs.services", "DEGRADED", "deploying", Side.AWS_STATE),
        FaultClass("route_missing", "the ALB listener rule for /api/* is gone",
                   "alb.rules", "FAILED", "route_missing", Side.AWS_STATE),
        FaultClass("route_shadowed", "a priority-1 rule for /hermes* captures /hermes/* and forwards it to "
                   "edit-astro-tg", "alb.rules", "FAILED", "route_missing", Side.AWS_STATE),
        FaultClass("metric_missing", "ActiveSessionCount is not being published",
                   "cloudwatch.platform_metrics", "FAILED", "metric_missing", Side.AWS_STATE),
        FaultClass("ttl_disabled", "the sessions table has TTL switched off",
                   "dynamodb.sessions_table", "FAILED", "schema_mismatch", Side.AWS_STATE),
        FaultClass("efs_unavailable", "the workspace file system has no mount target",
                   "efs.filesystem", "FAILED", "resource_unavailable", Side.AWS_STATE),
        # -- TLS on the ALB's HTTPS listener (sandbox.tls): every check that uses the ALB's host fails the same way
        FaultClass("tls_wrong_host", "the ALB presents a certificate for *.webordinary.com, not its own host name",
                   "http.hermes_health", "FAILED", "tls_error", Side.HTTP),
        FaultClass("tls_expired", "the ALB presents a certificate for its host that expired a day ago",
                   "http.hermes_health", "FAILED", "tls_error", Side.HTTP),
        FaultClass("tls_unknown_ca", "the ALB presents a certificate from a CA that is not in the canary's bundle",
                   "http.hermes_health", "FAILED", "tls_error", Side.HTTP),
        FaultClass("tls_handshake_stall", "the ALB accepts TCP connections but never answers the TLS ClientHello",
                   "http.hermes_health", "FAILED", "tls_error", Side.HTTP),
        # -- canary side (ERROR), injected by the proxy in front of moto
        FaultClass("credentials_expired", "every AWS call answers ExpiredToken",
                   "aws.credentials", "ERROR", "credentials_expired", Side.AWS_PROXY),
        FaultClass("access_denied", "calls to service= (default ecs) answer AccessDenied",
                   "ecs.services", "ERROR", "access_denied", Side.AWS_PROXY),
        # throttled and aws_5xx take operation= (e.g. DescribeTable), first=N (only the first N matching calls) or
        # fraction= (with seed=) to model a throttle that recovers within the canary's retries.
        FaultClass("throttled", "calls to service= (default dynamodb) answer ThrottlingException (code= e.g. "
                   "ProvisionedThroughputExceededException)", "dynamodb.sessions_table", "ERROR", "throttled",
                   Side.AWS_PROXY),
        FaultClass("aws_5xx", "calls to service= (default efs) answer HTTP status= (default 503 ServiceUnavailable; "
                   "500 InternalFailure)", "efs.filesystem", "ERROR", "aws_error", Side.AWS_PROXY),
        # -- queue platform, target side
        FaultClass("dlq_message", "a message sits in a dead-letter queue",
                   "sqs.dlq_empty", "FAILED", "dlq_not_empty", Side.QUEUE),
        FaultClass("stuck_message", "the oldest message in an input queue is older than the limit",
                   "sqs.queue_age", "FAILED", "queue_stale", Side.QUEUE),
        FaultClass("failed_executions", "email-processor executions failed inside the window",
                   "stepfunctions.executions", "FAILED", "executions_failed", Side.QUEUE),
        FaultClass("stale_site", "the site's index.html is older than the last successful execution",
                   "s3.site", "FAILED", "site_stale", Side.QUEUE),
        FaultClass("stale_claim", "an ownership claim is past its TTL / names a stopped task",
                   "ownership.claims", "FAILED", "stale_claims", Side.QUEUE),
        FaultClass("idle_tasks", "edit tasks run with no queued work for longer than the limit",
                   "ecs.edit_idle", "FAILED", "idle_cost", Side.QUEUE),
        # -- journey steps the switchboard has no fault for (switched with JourneySupport.faults; they wrap the
        # Hermes and Astro listeners behind the local ALB, sandbox.journey_support)
        FaultClass("status_mismatch", "GET /hermes/api/sessions/{id}/status says 'expired' for a live session",
                   "session.lifecycle", "FAILED", "record_mismatch", Side.JOURNEY_STEP, "status"),
        FaultClass("preview_5xx", "Astro answers 500 on /session/{id}",
                   "session.lifecycle", "FAILED", "http_5xx", Side.JOURNEY_STEP, "preview"),
        FaultClass("deactivate_5xx", "POST /hermes/api/sessions/{id}/deactivate answers 500",
                   "session.lifecycle", "FAILED", "http_5xx", Side.JOURNEY_STEP, "deactivate"),
        FaultClass("session_not_drained", "deactivate answers 200 'draining' but the record stays live",
                   "session.lifecycle", "FAILED", "record_mismatch", Side.JOURNEY_STEP, "drained"),
        FaultClass("workspace_lost_on_restart", "a restarted edit task serves an empty workspace: earlier sessions' "
                   "previews 404", "session.persistence", "FAILED", "http_4xx", Side.JOURNEY_STEP, "after.preview"),
        FaultClass("no_scale_in", "the edit service keeps its task after the last session is drained",
                   "session.auto_shutdown", "FAILED", "idle_cost", Side.JOURNEY_STEP, "scale_in"),
    )
}

# The faults the switchboard (``Faults``: SANDBOX_FAULTS, ``/__sandbox/faults``) switches, and the journey-step
# faults ``sandbox.journey_support.StepFaults`` switches: two views of the one catalogue.
FAULT_CLASSES: dict[str, FaultClass] = {n: f for n, f in FAULT_CATALOGUE.items() if f.side is not Side.JOURNEY_STEP}
STEP_FAULTS: dict[str, FaultClass] = {n: f for n, f in FAULT_CATALOGUE.items() if f.side is Side.JOURNEY_STEP}


class UnknownFault(ValueError):
    """A fault name that the switchboard does not know."""


def parse_fault_spec(spec: str) -> dict[str, dict[str, str]]:
    """Parse ``"a,b:k=v:k2=v2"`` into ``{"a": {}, "b": {"k": "v", "k2": "v2"}}``; rejects unknown names."""
    faults: dict[str, dict[str, str]] = {}
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        name, *params = item.split(":")
        name = name.strip()
        if name not in FAULT_CLASSES:
            known = ", ".join(sorted(FAULT_CLASSES))
            raise UnknownFault(f"SANDBOX_FAULTS: unknown fault {name!r}; known faults: {known}")
        parsed: dict[str, str] = {}
        for param in params:
            key, sep, value = param.partition("=")
            if not sep or not key.strip():
                raise UnknownFault(f"SANDBOX_FAULTS: parameter {param!r} of {name!r} must be key=value")
            parsed[key.strip()] = value.strip()
        faults[name] = parsed
    return faults


class Faults:
    """Thread-safe set of active faults with their parameters."""

    def __init__(self, initial: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self._lock = threading.Lock()
        self._active: dict[str, dict[str, str]] = {}
        self._listeners: list[Callable[[dict[str, dict[str, str]]], None]] = []
        for name, params in (initial or {}).items():
            self.enable(name, **params)

    def enable(self, name: str, **params: str) -> None:
        if name not in FAULT_CLASSES:
            raise UnknownFault(f"unknown fault {name!r}")
        with self._lock:
            self._active[name] = {k: str(v) for k, v in params.items()}
        self._notify()

    def disable(self, name: str) -> None:
        with self._lock:
            self._active.pop(name, None)
        self._notify()

    def clear(self) -> None:
        with self._lock:
            self._active.clear()
        self._notify()

    def active(self, name: str) -> bool:
        with self._lock:
            return name in self._active

    def param(self, name: str, key: str, default: str) -> str:
        with self._lock:
            return self._active.get(name, {}).get(key, default)

    def snapshot(self) -> dict[str, dict[str, str]]:
        with self._lock:
            return {k: dict(v) for k, v in self._active.items()}

    def on_change(self, listener: Callable[[dict[str, dict[str, str]]], None]) -> None:
        """Call ``listener(snapshot)`` after every change (the AWS side re-applies state faults)."""
        self._listeners.append(listener)

    def _notify(self) -> None:
        snap = self.snapshot()
        for listener in list(self._listeners):
            listener(snap)
