"""Core result model: outcomes, reason codes, step/check/run results (frozen, JSON-serialisable)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    """What happened. FAILED blames the target, ERROR blames the canary: they drive different alarms."""

    PASSED = "PASSED"
    DEGRADED = "DEGRADED"
    FAILED = "FAILED"
    ERROR = "ERROR"
    SKIPPED = "SKIPPED"
    INCOMPLETE = "INCOMPLETE"

    @property
    def passed(self) -> bool:
        """DEGRADED counts as passed (``RunPassed``; it emits ``CheckDegraded``, never ``CheckFailed``)."""
        return self in (Outcome.PASSED, Outcome.DEGRADED)


class Tier(StrEnum):
    PROBE = "probe"
    JOURNEY = "journey"
    DESTRUCTIVE = "destructive"


class Profile(StrEnum):
    SESSION_PLATFORM = "session-platform"
    QUEUE_PLATFORM = "queue-platform"


class Reason(StrEnum):
    """Closed set of reason codes. Each fault class has its own code; never branch on message text."""

    # target-side (FAILED / DEGRADED)
    HTTP_5XX = "http_5xx"
    HTTP_4XX = "http_4xx"
    HTTP_STATUS = "http_status"
    HTTP_TIMEOUT = "http_timeout"
    CONNECTION_ERROR = "connection_error"
    DNS_ERROR = "dns_error"
    TLS_ERROR = "tls_error"
    REDIRECT_LOOP = "redirect_loop"
    BODY_INVALID = "body_invalid"
    BODY_TOO_LARGE = "body_too_large"
    SCHEMA_MISMATCH = "schema_mismatch"
    NOT_READY = "not_ready"
    UNHEALTHY_TARGETS = "unhealthy_targets"
    DESIRED_RUNNING_MISMATCH = "desired_running_mismatch"
    DEPLOYMENT_FAILED = "deployment_failed"
    DEPLOYING = "deploying"
    RESOURCE_MISSING = "resource_missing"
    RESOURCE_UNAVAILABLE = "resource_unavailable"
    RECORD_MISSING = "record_missing"
    RECORD_MISMATCH = "record_mismatch"
    ROUTE_MISSING = "route_missing"
    ROUTE_DEFAULT = "route_default"
    WS_REFUSED = "ws_refused"
    WS_NO_MESSAGE = "ws_no_message"
    METRIC_MISSING = "metric_missing"
    METRIC_STALE = "metric_stale"
    LATENCY_SLOW = "latency_slow"
    EXECUTIONS_FAILED = "executions_failed"
    DLQ_NOT_EMPTY = "dlq_not_empty"
    QUEUE_STALE = "queue_stale"
    SITE_STALE = "site_stale"
    STALE_CLAIMS = "stale_claims"
    IDLE_COST = "idle_cost"
    LEAKED_SESSIONS = "leaked_sessions"
    APPLICATION_ERROR = "application_error"
    # canary-side (ERROR)
    CREDENTIALS_EXPIRED = "credentials_expired"
    CREDENTIALS_MISSING = "credentials_missing"
    ACCESS_DENIED = "access_denied"
    THROTTLED = "throttled"
    CONFIG_INVALID = "config_invalid"
    AWS_ERROR = "aws_error"
    CLEANUP_FAILED = "cleanup_failed"
    CANARY_BUG = "canary_bug"
    # neither (SKIPPED / INCOMPLETE / notes)
    NOT_CONFIGURED = "not_configured"
    NOT_ALLOWED = "not_allowed"
    NOT_SELECTED = "not_selected"
    DEPENDENCY_FAILED = "dependency_failed"
    IDLE = "idle"
    OVERLAP = "overlap"
    MAINTENANCE = "maintenance"
    DEADLINE = "deadline"


@dataclass(frozen=True)
class StepResult:
    """One step of a check, with its own timing and (when the client exposes them) HTTP phases."""

    name: str
    outcome: Outcome
    duration_ms: int
    reason: Reason | None = None
    message: str = ""
    phases_ms: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "outcome": self.outcome.value,
            "duration_ms": self.duration_ms,
            "reason": self.reason.value if self.reason else None,
        }
        if self.message:
            data["message"] = self.message
        if self.phases_ms:
            data["phases_ms"] = {k: round(v, 1) for k, v in self.phases_ms.items()}
        return data


@dataclass(frozen=True)
class CheckResult:
    """The verdict for one check in one run."""

    id: str
    tier: Tier
    profile: Profile
    outcome: Outcome
    reason: Reason | None
    message: str
    duration_ms: int
    retries: int = 0
    start_type: str | None = None
    steps: tuple[StepResult, ...] = ()
    evidence: Mapping[str, Any] = field(default_factory=dict)
    # Key latencies (contract.KEY_LATENCY_METRICS name -> ms) recorded by journeys.
    latencies_ms: Mapping[str, float] = field(default_factory=dict)
    cost_usd: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tier": self.tier.value,
            "profile": self.profile.value,
            "outcome": self.outcome.value,
            "reason": self.reason.value if self.reason else None,
            "message": self.message,
            "duration_ms": self.duration_ms,
            "retries": self.retries,
            "start_type": self.start_type,
            "steps": [s.to_dict() for s in self.steps],
            "evidence": dict(self.evidence),
        }


_RUN_PRECEDENCE = (Outcome.ERROR, Outcome.FAILED, Outcome.INCOMPLETE, Outcome.DEGRADED)


def run_outcome(results: tuple[CheckResult, ...] | list[CheckResult]) -> Outcome:
    """ERROR > FAILED > INCOMPLETE > DEGRADED > PASSED (DESIGN §9); SKIPPED never decides."""
    outcomes = {r.outcome for r in results}
    for candidate in _RUN_PRECEDENCE:
        if candidate in outcomes:
            return candidate
    return Outcome.PASSED


EXIT_CODES: Mapping[Outcome, int] = {
    Outcome.PASSED: 0,
    Outcome.DEGRADED: 0,
    Outcome.FAILED: 1,
    Outcome.ERROR: 2,
    Outcome.INCOMPLETE: 3,
}
EXIT_USAGE = 64


@dataclass(frozen=True)
class RunReport:
    """Everything one run produced; ``to_dict`` is the §9 JSON contract."""

    run_id: str
    environment: str
    profile: Profile
    started_at: str  # ISO-8601 UTC
    duration_ms: int
    checks: tuple[CheckResult, ...]
    estimated_cost_usd: float
    canary_version: str
    maintenance: bool = False

    @property
    def outcome(self) -> Outcome:
        return run_outcome(self.checks)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "run_id": self.run_id,
            "environment": self.environment,
            "profile": self.profile.value,
            "started_at": self.started_at,
            "duration_ms": self.duration_ms,
            "outcome": self.outcome.value,
            "estimated_cost_usd": round(self.estimated_cost_usd, 6),
            "canary_version": self.canary_version,
            "checks": [c.to_dict() for c in self.checks],
        }
        if self.maintenance:
            data["maintenance"] = True
        return data
