"""The check catalogue: one module per target system; ``CATALOGUE`` is every check in report order.

To add a check: write it in the module of its target system with ``@check``, add it to that module's
``CHECKS``, add its id to ``harness.contract.CHECK_IDS_BY_PROFILE``, a README row, and a sandbox test.
"""

from __future__ import annotations

from harness.check import Check
from harness.checks import (
    account,
    alb,
    cloudwatch,
    destructive,
    dynamodb,
    ecs,
    ecs_idle,
    efs,
    http_probes,
    hygiene,
    journeys,
    latency,
    ownership,
    s3_site,
    sqs,
    stepfunctions,
)

CATALOGUE: tuple[Check, ...] = (
    account.aws_credentials,
    account.config_valid,
    ecs.ecs_cluster,
    ecs.ecs_services,
    dynamodb.dynamodb_sessions_table,
    alb.alb_targets,
    alb.alb_rules,
    efs.efs_filesystem,
    http_probes.http_hermes_health,
    http_probes.http_routing,
    cloudwatch.cloudwatch_platform_metrics,
    latency.latency_baseline,
    journeys.session_lifecycle,
    destructive.session_persistence,
    destructive.session_concurrency,
    destructive.session_auto_shutdown,
    hygiene.cleanup_orphans,
    stepfunctions.stepfunctions_executions,
    sqs.sqs_dlq_empty,
    sqs.sqs_queue_age,
    s3_site.s3_site,
    ownership.ownership_claims,
    ecs_idle.ecs_edit_idle,
)


def by_id() -> dict[str, Check]:
    return {c.id: c for c in CATALOGUE}
