"""The metric contract shared by the harness, the Lambda handlers and the CDK alarms (stdlib only).

Operators' alarms and dashboards depend on these names: change them only with a migration note.
The custom-metric count is bounded: every (metric, dimension set) pair below is one CloudWatch metric
per environment and check, so the total is known in advance (see ``custom_metric_count``).
"""

from __future__ import annotations

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
CHECK_PASSED = "CheckPassed"  # v1, being removed: nothing new may use it
CHECK_DURATION = "CheckDuration"  # ms, always, but only for LATENCY_SLI_CHECKS
CHECK_DEGRADED = "CheckDegraded"  # 1/0
CHECK_RETRIED = "CheckRetried"  # 1/0

# Per run (dimensions Environment [, service]).
RUN_PASSED = "RunPassed"  # 1/0; also the heartbeat (sample count)
CHECKS_FAILED = "ChecksFailed"  # count
CANARY_ERRORS = "CanaryErrors"  # count of ERROR outcomes: the canary is broken, not the platform
RUN_DURATION = "RunDuration"  # ms
ESTIMATED_RUN_COST = "EstimatedRunCostUSD"  # None unit (USD)
LEAKED_SESSIONS = "LeakedSessions"  # count

# Key latencies (dimensions Environment, Check [, Step | StartType]).
SESSION_ACTIVATE_LATENCY = "SessionActivateLatency"
CONTAINER_READY_LATENCY = "ContainerReadyLatency"  # + StartType=cold|warm
PREVIEW_LATENCY = "PreviewLatency"
WEBSOCKET_CONNECT_LATENCY = "WebSocketConnectLatency"

UNIT_COUNT = "Count"
UNIT_MS = "Milliseconds"
UNIT_NONE = "None"

PER_CHECK_METRICS: dict[str, str] = {
    CHECK_PASSED: UNIT_COUNT,
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

# Check ids are metric dimension values: stable, dotted, lower case.
SESSION_PLATFORM = "session-platform"
QUEUE_PLATFORM = "queue-platform"
PROFILES = (SESSION_PLATFORM, QUEUE_PLATFORM)
TIERS = ("probe", "journey", "destructive")

CHECK_IDS_BY_PROFILE: dict[str, tuple[str, ...]] = {
    SESSION_PLATFORM: (
        "aws.credentials",
        "config.valid",
        "ecs.cluster",
        "ecs.services",
        "dynamodb.sessions_table",
        "alb.targets",
        "alb.rules",
        "efs.filesystem",
        "http.hermes_health",
        "http.routing",
        "cloudwatch.platform_metrics",
        "latency.baseline",
        "session.lifecycle",
        "session.persistence",
        "session.concurrency",
        "session.auto_shutdown",
        "cleanup.orphans",
    ),
    QUEUE_PLATFORM: (
        "aws.credentials",
        "config.valid",
        "stepfunctions.executions",
        "sqs.dlq_empty",
        "sqs.queue_age",
        "s3.site",
        "ownership.claims",
        "ecs.edit_idle",
    ),
}

# Checks whose duration is a latency SLI: the only ones that emit CheckDuration (always-on, billed hourly).
LATENCY_SLI_CHECKS = frozenset(
    {
        "http.hermes_health",
        "http.routing",
        "latency.baseline",
        "session.lifecycle",
        "session.persistence",
        "session.concurrency",
        "session.auto_shutdown",
        "s3.site",
        "stepfunctions.executions",
    }
)

# Checks whose failure should page (composite "platform unhealthy"); the rest are warnings.
CRITICAL_CHECKS = frozenset(
    {
        "http.hermes_health",
        "http.routing",
        "ecs.services",
        "alb.targets",
        "session.lifecycle",
        "sqs.dlq_empty",
        "stepfunctions.executions",
        "s3.site",
    }
)


def all_check_ids() -> tuple[str, ...]:
    """Every check id across profiles, in catalogue order, without duplicates."""
    seen: dict[str, None] = {}
    for ids in CHECK_IDS_BY_PROFILE.values():
        for check_id in ids:
            seen.setdefault(check_id, None)
    return tuple(seen)


# CheckDegraded and CheckRetried are emitted only when they happen (value 1): CloudWatch bills a custom metric
# per hour in which it receives data, so sparse metrics cost next to nothing while keeping their names.
SPARSE_PER_CHECK_METRICS = (CHECK_DEGRADED, CHECK_RETRIED)
# Tier of each check id that is not a probe (the rest are probes).
NON_PROBE_TIERS: dict[str, str] = {
    "session.lifecycle": "journey",
    "session.persistence": "destructive",
    "session.concurrency": "destructive",
    "session.auto_shutdown": "destructive",
}


def custom_metric_count(profile: str, tiers: tuple[str, ...] = ("probe", "journey")) -> int:
    """Distinct always-on custom metrics one environment emits for a profile and its scheduled tiers.

    Each is billed monthly (``harness.cost``); the sparse per-check metrics are not counted.
    """
    checks = [c for c in CHECK_IDS_BY_PROFILE[profile] if NON_PROBE_TIERS.get(c, "probe") in tiers]
    per_check = (len(PER_CHECK_METRICS) - len(SPARSE_PER_CHECK_METRICS)) * len(checks)
    per_run = len(PER_RUN_METRICS)
    # Key latencies exist only for session.lifecycle: three plain, ContainerReady twice (cold, warm).
    key = (len(KEY_LATENCY_METRICS) + 1) if "session.lifecycle" in checks else 0
    return per_check + per_run + key


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
