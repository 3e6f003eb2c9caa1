"""The metric contract shared by the harness, the Lambda handlers and the CDK alarms (stdlib only).

Operators' alarms and dashboards depend on these names: change them only with a migration note.
Contract v2 (DESIGN §6): CloudWatch bills a custom metric for each hour in which it receives data, so per-check
outcomes are sparse (``CheckFailed`` only when a check fails) and the always-on metrics are a fixed set that does
not grow with the catalogue (``always_on_metrics``: at most 12 per environment). How each outcome maps onto
metrics, INCOMPLETE included, is documented in ``harness.reporting.metrics``.
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.spec import PROFILES as PROFILES  # re-exported: profiles and tiers are the contract's names
from harness.spec import QUEUE_PLATFORM as QUEUE_PLATFORM
from harness.spec import SESSION_PLATFORM as SESSION_PLATFORM
from harness.spec import TIERS as TIERS
from harness.spec import by_id

NAMESPACE = "Webordinary/Canary"

# Dimensions. Status is never a dimension (it would multiply the metric count).
DIM_ENVIRONMENT = "Environment"
DIM_CHECK = "Check"
DIM_STEP = "Step"
DIM_START_TYPE = "StartType"
# Powertools adds a ``service`` dimension to every EMF blob; alarms must name it too.
DIM_SERVICE = "service"
SERVICE_NAME = "webordinary-canary"

# Per check (dimensions Environment, Check [, service]). Contract v2 (DESIGN §6): outcomes are sparse.
CHECK_FAILED = "CheckFailed"  # 1, emitted only when the check ends FAILED; per-check alarms watch it
CHECK_DURATION = "CheckDuration"  # ms, always, but only for LATENCY_SLI_CHECKS
CHECK_DEGRADED = "CheckDegraded"  # 1, only when the check ends DEGRADED
CHECK_RETRIED = "CheckRetried"  # 1, only when the check retried

# Per run (dimensions Environment [, service]).
RUN_PASSED = "RunPassed"  # 1/0, every run (maintenance included); also the heartbeat (sample count)
CHECKS_FAILED = "ChecksFailed"  # count, only when > 0 (never inside a maintenance window)
# Count, only when > 0: checks that ended ERROR, plus those that ended INCOMPLETE outside a maintenance window (the
# canary could not judge the target within its deadline), plus config errors and crashes. The canary is broken,
# not the platform; consecutive INCOMPLETE runs therefore fire the canary-broken alarm (M of N on this metric).
CANARY_ERRORS = "CanaryErrors"
RUN_DURATION = "RunDuration"  # ms, every run
ESTIMATED_RUN_COST = "EstimatedRunCostUSD"  # None unit (USD), every run
LEAKED_SESSIONS = "LeakedSessions"  # count, only when a sweep found leaked sessions

# Key latencies (dimensions Environment, Check [, Step | StartType]).
SESSION_ACTIVATE_LATENCY = "SessionActivateLatency"
CONTAINER_READY_LATENCY = "ContainerReadyLatency"  # + StartType=cold|warm
PREVIEW_LATENCY = "PreviewLatency"
WEBSOCKET_CONNECT_LATENCY = "WebSocketConnectLatency"

UNIT_COUNT = "Count"
UNIT_MS = "Milliseconds"
UNIT_NONE = "None"

PER_CHECK_METRICS: dict[str, str] = {
    CHECK_FAILED: UNIT_COUNT,
    CHECK_DURATION: UNIT_MS,
    CHECK_DEGRADED: UNIT_COUNT,
    CHECK_RETRIED: UNIT_COUNT,
}
PER_RUN_METRICS: dict[str, str] = {
    RUN_PASSED: UNIT_COUNT,
    CHECKS_FAILED: UNIT_COUNT,
    CANARY_ERRORS: UNIT_COUNT,
    RUN_DURATION: UNIT_MS,
    ESTIMATED_RUN_COST: UNIT_NONE,
    LEAKED_SESSIONS: UNIT_COUNT,
}
KEY_LATENCY_METRICS: dict[str, str] = {
    SESSION_ACTIVATE_LATENCY: UNIT_MS,
    CONTAINER_READY_LATENCY: UNIT_MS,
    PREVIEW_LATENCY: UNIT_MS,
    WEBSOCKET_CONNECT_LATENCY: UNIT_MS,
}

# One structured log line per check per run (DESIGN §6), written by the Lambda; the dashboard's Logs Insights
# widgets (per-check table: last outcome, reason, pass rate; latest failures) read these field names.
LOG_FIELD_KIND = "kind"  # == LOG_KIND_CHECK_RESULT on the per-check line (filter on it)
LOG_KIND_CHECK_RESULT = "check_result"
LOG_FIELD_CHECK = "check"  # check id
LOG_FIELD_OUTCOME = "outcome"  # PASSED | DEGRADED | FAILED | ERROR | SKIPPED | INCOMPLETE
LOG_FIELD_REASON = "reason"  # reason code, or LOG_NO_REASON (never absent: latest(reason) must not skip a pass)
LOG_NO_REASON = "none"
LOG_FIELD_DURATION_MS = "duration_ms"  # the check's duration
LOG_FIELD_RUN_ID = "run_id"  # also Powertools' correlation_id
LOG_FIELD_TIER = "tier"
LOG_FIELD_PROFILE = "profile"
LOG_FIELD_ENVIRONMENT = "environment"  # the Environment dimension's value
LOG_FIELD_RETRIES = "retries"
LOG_FIELD_DETAIL = "detail"  # the result's message, cut at 500 characters
LOG_FIELD_EVIDENCE = "evidence"  # only on DEGRADED, FAILED and ERROR lines that have evidence (redacted, bounded)
LOG_FIELDS = (LOG_FIELD_KIND, LOG_FIELD_CHECK, LOG_FIELD_OUTCOME, LOG_FIELD_REASON, LOG_FIELD_DURATION_MS,
              LOG_FIELD_RUN_ID, LOG_FIELD_TIER, LOG_FIELD_PROFILE, LOG_FIELD_ENVIRONMENT, LOG_FIELD_RETRIES,
              LOG_FIELD_DETAIL)

# Check ids are metric dimension values: stable, dotted, lower case. Each check is described once, in
# ``harness.spec.SPECS``; the lists below are derived from it (in report order).
_SPECS = by_id()

CHECK_IDS_BY_PROFILE: dict[str, tuple[str, ...]] = {
    profile: tuple(i for i, s in _SPECS.items() if profile in s.profiles) for profile in PROFILES
}

# Checks whose duration is a latency SLI: the only ones that emit CheckDuration (always-on, billed hourly).
LATENCY_SLI_CHECKS = frozenset(i for i, s in _SPECS.items() if s.latency_sli)

# Checks whose failure should page (composite "platform unhealthy"); the rest are warnings.
CRITICAL_CHECKS = frozenset(i for i, s in _SPECS.items() if s.critical)

# Checks that only ever end ERROR (the canary's own footing), never FAILED: they never emit CheckFailed, so they get
# no per-check alarm (it could never fire); their ERROR counts in CanaryErrors (the canary-errors alarm).
ERROR_ONLY_CHECKS = frozenset(i for i, s in _SPECS.items() if s.error_only)

# Tier of each check id that is not a probe (the rest are probes).
NON_PROBE_TIERS: dict[str, str] = {i: s.tier for i, s in _SPECS.items() if s.tier != "probe"}


def all_check_ids() -> tuple[str, ...]:
    """Every check id across profiles, in catalogue order, without duplicates."""
    seen: dict[str, None] = {}
    for ids in CHECK_IDS_BY_PROFILE.values():
        for check_id in ids:
            seen.setdefault(check_id, None)
    return tuple(seen)


# Emitted only when they happen (value 1, or a count > 0): CloudWatch bills a custom metric per hour in which it
# receives data, so sparse metrics cost nothing on a healthy platform while keeping their names.
SPARSE_PER_CHECK_METRICS = (CHECK_FAILED, CHECK_DEGRADED, CHECK_RETRIED)
SPARSE_PER_RUN_METRICS = (CHECKS_FAILED, CANARY_ERRORS, LEAKED_SESSIONS)
# Per run, on every run: the heartbeat and the run's own cost and duration.
ALWAYS_ON_PER_RUN_METRICS = (RUN_PASSED, RUN_DURATION, ESTIMATED_RUN_COST)


def always_on_metrics(check_ids: Iterable[str]) -> tuple[str, ...]:
    """The custom metrics an environment running ``check_ids`` on schedule emits on every run, one entry each.

    The set is fixed whatever the catalogue: the per-run metrics, ``CheckDuration`` of the latency SLIs only and
    the journey's key latencies. ``ContainerReadyLatency`` is one entry: each
    journey run emits it with ``StartType`` cold or warm, never both, so the pair is billed as one metric.
    Everything else (``SPARSE_PER_CHECK_METRICS``, ``SPARSE_PER_RUN_METRICS``) costs only in the hours it happens.
    """
    ids = list(dict.fromkeys(check_ids))
    names = list(ALWAYS_ON_PER_RUN_METRICS)
    names += [f"{CHECK_DURATION}[{c}]" for c in ids if c in LATENCY_SLI_CHECKS]
    if "session.lifecycle" in ids:
        names += [f"{name}[session.lifecycle]" for name in KEY_LATENCY_METRICS]
    return tuple(names)


def scheduled_check_ids(profile: str, tiers: tuple[str, ...] = ("probe", "journey")) -> tuple[str, ...]:
    """The profile's check ids whose tier is scheduled."""
    return tuple(c for c in CHECK_IDS_BY_PROFILE[profile] if NON_PROBE_TIERS.get(c, "probe") in tiers)


def custom_metric_count(profile: str, tiers: tuple[str, ...] = ("probe", "journey")) -> int:
    """Always-on custom metrics one environment emits for a profile and its scheduled tiers (at most 12).

    Each is billed every month (``harness.reporting.cost_report``); the sparse metrics are billed per hour they
    occur and are
    not counted.
    """
    return len(always_on_metrics(scheduled_check_ids(profile, tiers)))


# The exact dimension sets each EMF blob carries (Powertools adds ``service``). Alarms built by infra/ must use
# these same functions, or they watch a metric that never exists.
def run_dimensions(environment: str) -> dict[str, str]:
    """Dimensions of the per-run metrics."""
    return {DIM_ENVIRONMENT: environment, DIM_SERVICE: SERVICE_NAME}


def check_dimensions(environment: str, check_id: str) -> dict[str, str]:
    """Dimensions of the per-check metrics and of the key latencies (ContainerReadyLatency adds StartType)."""
    return {DIM_ENVIRONMENT: environment, DIM_CHECK: check_id, DIM_SERVICE: SERVICE_NAME}


def container_ready_dimensions(environment: str, start_type: str) -> dict[str, str]:
    """Dimensions of ContainerReadyLatency: the journey's check id plus cold|warm."""
    return {**check_dimensions(environment, "session.lifecycle"), DIM_START_TYPE: start_type}


def alarm_prefix(environment: str) -> str:
    """Prefix of every alarm name the CDK app creates for an environment."""
    return f"webordinary-canary-{environment}"


def selftest_alarm_name(environment: str) -> str:
    """The dedicated alarm that ``canary selftest`` drives to ALARM and back (alert-path proof)."""
    return f"{alarm_prefix(environment)}-alert-path-selftest"
