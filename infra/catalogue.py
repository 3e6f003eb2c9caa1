"""What infra needs to know about each check: its tier, the context keys it needs, and the first things an
operator looks at.

The check ids and their tiers come from ``harness.contract`` (infra may import nothing else from the project);
the hints and the required context keys are mirrored here, and tests pin that they cover exactly the contract's
ids and include every ``requires=`` the harness declares.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.contract import CHECK_IDS_BY_PROFILE, CRITICAL_CHECKS, NON_PROBE_TIERS, TIERS, all_check_ids

TIER_ORDER = TIERS

# Tier of every check: the contract names the non-probe ones; the rest (cleanup.orphans included) are probes.
CHECK_TIER: dict[str, str] = {check_id: NON_PROBE_TIERS.get(check_id, "probe") for check_id in all_check_ids()}

# First things to check when a check's alarm fires (kept short: alarm descriptions max out at 1024 chars).
CHECK_HINTS: dict[str, str] = {
    "aws.credentials": "The canary's role or session token is invalid: check the function's role and recent IAM "
    "changes.",
    "config.valid": "The function's environment is invalid: read the config.valid message in the logs, fix the "
    "CDK context and redeploy.",
    "ecs.cluster": "ECS cluster missing or not ACTIVE: aws ecs describe-clusters.",
    "ecs.services": "Hermes or edit service not ACTIVE, running < desired, or a stuck/failed deployment: aws ecs "
    "describe-services, read its events and stopped-task reasons in the evidence.",
    "dynamodb.sessions_table": "Sessions table not ACTIVE, key schema changed or TTL off: aws dynamodb "
    "describe-table / describe-time-to-live.",
    "alb.targets": "Unhealthy targets: aws elbv2 describe-target-health; the evidence has the reason codes. Idle "
    "edit targets (service at 0) do not fail this check.",
    "alb.rules": "A /hermes, /api, /session or /ws listener rule is missing or points at a deleted target group: "
    "aws elbv2 describe-rules.",
    "efs.filesystem": "Workspace file system not available or lost a mount target: aws efs describe-file-systems.",
    "http.hermes_health": "GET /hermes/health is not 200 healthy: check Hermes tasks, its target group health and "
    "the ALB 5xx metrics.",
    "http.routing": "A route answers from the ALB default or with 502/503 while its service should serve: check "
    "listener rules and target health.",
    "cloudwatch.platform_metrics": "ActiveSessionCount is missing or stale: check that Hermes still publishes it "
    "with its Environment dimension.",
    "latency.baseline": "p50/p95 over the thresholds: check ALB TargetResponseTime and the Hermes service's CPU.",
    "cleanup.orphans": "Synthetic sessions older than the sweep age exist: check the sweeper's last runs and its "
    "logs; run `canary sweep --dry-run`.",
    "session.lifecycle": "The synthetic session journey failed at the step named in the logs: activation, record, "
    "container readiness, preview, WebSocket or deactivation; the evidence holds ECS events.",
    "session.persistence": "Workspace state did not survive a restart: check EFS mounts and the edit task's "
    "stopped reasons (test environments only).",
    "session.concurrency": "Parallel sessions were not isolated or exceeded the service maximum: check edit service "
    "scaling (test environments only).",
    "session.auto_shutdown": "The idle edit service did not scale in: check the auto-shutdown setting and scaling "
    "policies (test environments only).",
    "stepfunctions.executions": "email-processor executions failed, timed out or aborted in the window: aws "
    "stepfunctions list-executions --status-filter FAILED.",
    "sqs.dlq_empty": "A dead-letter queue holds messages (named in the logs): inspect them in the console, never "
    "from the canary; find why the consumer failed.",
    "sqs.queue_age": "Oldest message too old or queue too deep: check that edit containers are running and "
    "claiming work.",
    "s3.site": "Site not 200 or index.html older than the last successful execution: check the container's S3 "
    "sync and CloudFront.",
    "ownership.claims": "Claims past their TTL or naming stopped tasks: check the claim Lambda and the ownership "
    "table.",
    "ecs.edit_idle": "Edit tasks running with no queued work (cost leak): scale the edit service in by hand.",
}


# Context keys a deployed stack must set for each check, or the check would SKIP not_configured (or quietly use a
# seed-era default name) on every run while its alarm stays green. Each item is one requirement; a tuple means
# "any one of these". A superset of the harness's ``requires=``: it adds what a check resolves inside itself
# (Hermes from base_url or hermes_url, queues from URLs or the name prefix, the services ecs.services watches).
REQUIRED_CONTEXT: dict[str, tuple[str | tuple[str, ...], ...]] = {
    "aws.credentials": (),
    "config.valid": (),
    "ecs.cluster": ("ecs_cluster",),
    "ecs.services": ("ecs_cluster", "hermes_service", "edit_service"),
    "dynamodb.sessions_table": ("sessions_table",),
    "alb.targets": ("target_group_arns",),
    "alb.rules": ("load_balancer_arn",),
    "efs.filesystem": ("efs_file_system_id",),
    "http.hermes_health": (("base_url", "hermes_url"),),
    "http.routing": ("base_url",),
    "cloudwatch.platform_metrics": (),
    "latency.baseline": (("base_url", "hermes_url"),),
    "cleanup.orphans": ("sessions_table",),
    "session.lifecycle": ("base_url", "sessions_table"),
    "session.persistence": ("base_url", "sessions_table", "ecs_cluster", "edit_service"),
    "session.concurrency": ("base_url", "sessions_table", "ecs_cluster", "edit_service"),
    "session.auto_shutdown": ("base_url", "sessions_table", "ecs_cluster", "edit_service"),
    "stepfunctions.executions": ("state_machine_arn",),
    "sqs.dlq_empty": (("dlq_urls", "queue_name_prefix"),),
    "sqs.queue_age": (("queue_urls", "queue_name_prefix"),),
    "s3.site": ("site_urls",),
    "ownership.claims": ("ownership_table",),
    "ecs.edit_idle": ("ecs_cluster", "edit_service"),
}


def missing_context(check_id: str, has: Callable[[str], bool]) -> tuple[str, ...]:
    """The requirements of a check that the context leaves unset, each spelled as its key(s) ("a or b")."""
    missing = []
    for requirement in REQUIRED_CONTEXT[check_id]:
        keys = (requirement,) if isinstance(requirement, str) else requirement
        if not any(has(key) for key in keys):
            missing.append(" or ".join(repr(k) for k in keys))
    return tuple(missing)


def tier_of(check_id: str) -> str:
    return CHECK_TIER[check_id]


def is_critical(check_id: str) -> bool:
    return check_id in CRITICAL_CHECKS


def checks_for(profile: str, tiers: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The checks of a profile that the scheduled tiers run, in catalogue order."""
    return tuple(c for c in CHECK_IDS_BY_PROFILE[profile] if CHECK_TIER[c] in tiers)


def tiers_with_checks(profile: str) -> tuple[str, ...]:
    """Tiers that have at least one check in the profile (scheduling an empty tier would be a silent no-op)."""
    present = {CHECK_TIER[c] for c in CHECK_IDS_BY_PROFILE[profile]}
    return tuple(t for t in TIER_ORDER if t in present)
