"""What infra needs to know about each check: its tier and the first things an operator looks at.

The check ids and their tiers come from ``harness.contract`` (infra may import nothing else from the project);
the hints are operator knowledge, and a test pins that they cover exactly the contract's ids.
"""

from __future__ import annotations

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
