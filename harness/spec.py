"""Every check described once (stdlib only): what the harness, the CDK app, the doctor and the README read about it.

A ``CheckSpec`` holds what a check *is* to everything around it: its id (a metric dimension), tier, profiles,
whether it pages, whether its duration is a latency SLI, the config keys it needs, the text operators read and the
IAM statements it makes. ``harness.contract`` derives its lists from ``SPECS`` (``CHECK_IDS_BY_PROFILE``,
``CRITICAL_CHECKS``...), ``@check`` binds a function to its spec by id, ``infra.catalogue`` derives the hints and
required context, ``harness.iam_actions`` the statements a new check brings, and ``scripts/readme_checks.py`` the
README table. It imports nothing of the project, so ``infra`` (which may not import boto3) can read it.

To add a check: append its ``CheckSpec`` to ``SPECS`` (report order), then write its function (``@check(id)``) in
``harness/checks/<module>.py``; README "Adding a check" lists the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

SESSION_PLATFORM = "session-platform"
QUEUE_PLATFORM = "queue-platform"
PROFILES = (SESSION_PLATFORM, QUEUE_PLATFORM)
TIERS = ("probe", "journey", "destructive")
BOTH = PROFILES
SESSION = (SESSION_PLATFORM,)
QUEUE = (QUEUE_PLATFORM,)

# Parallel sessions session.concurrency activates (its summary says how many).
CONCURRENT_SESSIONS = 3

# A requirement of the deployed stack: one context key, or a tuple meaning "any one of these".
Requirement = str | tuple[str, ...]


@dataclass(frozen=True)
class IamStatement:
    """A policy statement a check brings that no other check makes (shared ones are named by sid, see ``iam``).

    ``resource`` is ``"*"`` (then ``why`` says why: it becomes the cdk-nag acknowledgment) or an ARN resource of
    ``service`` in the stack's account and region, e.g. ``"file-system/{efs_file_system_id}"``: each ``{key}``
    names a target config key, and the statement is granted only when every such key is set.
    """

    sid: str
    actions: tuple[str, ...]
    service: str = ""
    resource: str = "*"
    why: str | None = None

    def config_keys(self) -> tuple[str, ...]:
        """The config keys the resource names (``{key}`` placeholders), in order."""
        return tuple(part.split("}", 1)[0] for part in self.resource.split("{")[1:])


@dataclass(frozen=True)
class CheckSpec:
    """One check as the rest of the project sees it. ``id`` is a metric dimension: never rename one."""

    id: str
    module: str  # harness.checks.<module> holds the function, named like the id ("efs.filesystem" -> efs_filesystem)
    summary: str  # what it asserts (``canary list``, README)
    why: str  # why it matters (README)
    hint: str  # the first things an operator checks when its alarm fires (alarm description: keep it short)
    tier: str = "probe"
    profiles: tuple[str, ...] = SESSION
    critical: bool = False  # its failure pages through platform-unhealthy; otherwise a warning
    latency_sli: bool = False  # emits CheckDuration on every run (one always-on metric)
    error_only: bool = False  # only ever ends ERROR (the canary's own footing): no per-check alarm
    requires: tuple[str, ...] = ()  # config keys; unset -> SKIPPED not_configured
    # What a deployed stack must set so the check does not skip: defaults to ``requires``; a superset where the
    # check resolves a setting itself (Hermes from base_url or hermes_url).
    context: tuple[Requirement, ...] | None = None
    iam: tuple[str | IamStatement, ...] = ()  # statement sids of harness.iam_actions.ACTIONS, or its own statements

    @property
    def attribute(self) -> str:
        return self.id.replace(".", "_")

    @property
    def required_context(self) -> tuple[Requirement, ...]:
        return self.requires if self.context is None else self.context

    @property
    def own_statements(self) -> tuple[IamStatement, ...]:
        return tuple(s for s in self.iam if isinstance(s, IamStatement))

    @property
    def statement_ids(self) -> tuple[str, ...]:
        return tuple(s.sid if isinstance(s, IamStatement) else s for s in self.iam)


_HERMES = (("base_url", "hermes_url"),)
_DESTRUCTIVE_REQUIRES = ("base_url", "sessions_table", "ecs_cluster", "edit_service")
_JOURNEY_IAM = ("ReadSessionsTable", "PutOwnPrefixedItems", "DeleteSyntheticRecords", "EcsDescribeServices",
                "ReadHermesToken")
_DESTRUCTIVE_IAM = (*_JOURNEY_IAM, "EcsListInCluster", "ScaleEditServiceInTestEnvironment",
                    "RestartEditTaskInTestEnvironment")

SPECS: tuple[CheckSpec, ...] = (
    CheckSpec(
        "aws.credentials", "account", profiles=BOTH, error_only=True,
        summary="STS GetCallerIdentity answers with the canary's identity",
        why="expired or missing credentials are the canary's fault (ERROR), not an outage; checked first so the "
            "other AWS checks are skipped instead of paging",
        hint="The canary's role or session token is invalid: check the function's role and recent IAM changes."),
    CheckSpec(
        "config.valid", "account", profiles=BOTH, error_only=True,
        summary="the resolved configuration names every resource the selected checks need",
        why="an unset resource silently skips its checks; this check makes that visible in every report",
        hint="The function's environment is invalid: read the config.valid message in the logs, fix the CDK "
             "context and redeploy."),
    CheckSpec(
        "ecs.cluster", "ecs", requires=("ecs_cluster",), iam=("EcsDescribeCluster",),
        summary="the ECS cluster exists and is ACTIVE (task counts, services, Container Insights as evidence)",
        why="every edit session and Hermes itself run as tasks in this cluster; a deleted or failed cluster means "
            "no session can start",
        hint="ECS cluster missing or not ACTIVE: aws ecs describe-clusters."),
    CheckSpec(
        "ecs.services", "ecs", critical=True, requires=("ecs_cluster",),
        context=("ecs_cluster", "hermes_service", "edit_service"),
        iam=("EcsDescribeServices", "EcsListInCluster", "EcsDescribeTasks", "DescribePlatformStack"),
        summary="Hermes and the edit service are ACTIVE, run their desired count, and no rollout is stuck",
        why="a service below its desired count or a stuck rollout is an outage in the making; the edit service at "
            "0 is the platform's normal idle state, Hermes at 0 means the session API is down",
        hint="Hermes or edit service not ACTIVE, running < desired, or a stuck/failed deployment: aws ecs "
             "describe-services, read its events and stopped-task reasons in the evidence."),
    CheckSpec(
        "dynamodb.sessions_table", "dynamodb", requires=("sessions_table",), iam=("ReadSessionsTable",),
        summary="the sessions table is ACTIVE, has a sessionId key (schema discovered) and TTL enabled",
        why="Hermes records every session here; a wrong key schema breaks lookups and TTL off means sessions "
            "never expire",
        hint="Sessions table not ACTIVE, key schema changed or TTL off: aws dynamodb describe-table / "
             "describe-time-to-live."),
    CheckSpec(
        "alb.targets", "alb", critical=True, requires=("target_group_arns",), iam=("AlbDescribe",),
        summary="every watched target group has healthy targets, or is empty because its service is idle",
        why="the ALB answers 502/503 when a target group has no healthy target (FAILED); unhealthy targets beside "
            "healthy ones still serve (DEGRADED); reason codes (Target.FailedHealthChecks, ...) say why",
        hint="Unhealthy targets: aws elbv2 describe-target-health; the evidence has the reason codes. Idle edit "
             "targets (service at 0) do not fail this check."),
    CheckSpec(
        "alb.rules", "alb", requires=("load_balancer_arn",), iam=("AlbDescribe",),
        summary="each of /hermes/*, /api/*, /session/* and /ws/* reaches its own forward rule (rules evaluated in "
                "priority order, path and host conditions) and that rule's target group exists",
        why="a missing rule sends the route to the listener's default action (a fixed 200 'healthy'), which looks "
            "like success to a naive probe; a higher-priority rule capturing the route sends it elsewhere",
        hint="A /hermes, /api, /session or /ws listener rule is missing or points at a deleted target group: aws "
             "elbv2 describe-rules."),
    CheckSpec(
        "efs.filesystem", "efs", requires=("efs_file_system_id",), iam=("EfsDescribe",),
        summary="the workspace file system is available and has at least one available mount target",
        why="edit tasks mount /workspace from EFS; no mount target means tasks fail to start",
        hint="Workspace file system not available or lost a mount target: aws efs describe-file-systems."),
    CheckSpec(
        "http.hermes_health", "http_probes", critical=True, latency_sli=True, context=_HERMES,
        summary="GET /hermes/health answers 200 with JSON status 'healthy'",
        why="Hermes is the session API: when it is down no editing session can start; 502/503 are never a pass",
        hint="GET /hermes/health is not 200 healthy: check Hermes tasks, its target group health and the ALB 5xx "
             "metrics."),
    CheckSpec(
        "http.routing", "http_probes", critical=True, latency_sli=True, requires=("base_url",),
        iam=("AlbDescribe", "EcsDescribeServices"),
        summary="each ALB route (/hermes, /api, /session, /ws) answers from its own service, not the ALB default",
        why="a missing rule falls through to the ALB's fixed 200 'healthy'; 502/503 on a route whose service should "
            "serve is an outage; 503 while the edit service is idle (desired 0) is expected",
        hint="A route answers from the ALB default or with 502/503 while its service should serve: check listener "
             "rules and target health."),
    CheckSpec(
        "cloudwatch.platform_metrics", "cloudwatch", iam=("ReadMetrics",),
        summary="ActiveSessionCount is published (dimensions discovered with ListMetrics) and has a fresh datapoint",
        why="the edit service scales on this metric; if it is missing or stale, sessions get no container",
        hint="ActiveSessionCount is missing or stale: check that Hermes still publishes it with its Environment "
             "dimension."),
    CheckSpec(
        "latency.baseline", "latency", latency_sli=True, context=_HERMES,
        summary="p50/p95 of N sequential GET /hermes/health stay under the degraded/failed thresholds",
        why="slowness precedes outages; a p95 above the threshold is what users feel before anything fails",
        hint="p50/p95 over the thresholds: check ALB TargetResponseTime and the Hermes service's CPU."),
    CheckSpec(
        "session.lifecycle", "journeys", tier="journey", critical=True, latency_sli=True,
        requires=("base_url", "sessions_table"), iam=_JOURNEY_IAM,
        summary="a synthetic session activates through Hermes, is recorded under the discovered key, its container "
                "becomes ready, serves the preview and the HMR WebSocket, and deactivates",
        why="this is what an editor does; it catches every failure the probes cannot see (activation logic, "
            "container start, routing to a live session), and labels cold vs warm starts",
        hint="The synthetic session journey failed at the step named in the logs: activation, record, container "
             "readiness, preview, WebSocket or deactivation; the evidence holds ECS events."),
    CheckSpec(
        "session.persistence", "destructive", tier="destructive", latency_sli=True, requires=_DESTRUCTIVE_REQUIRES,
        iam=_DESTRUCTIVE_IAM,
        summary="a session survives a restart of its edit task: same record, branch and preview afterwards",
        why="workspaces live on EFS so a container restart must not lose an editor's work; checked through the "
            "platform's own surface (record, status endpoint, preview), not by looking inside the container",
        hint="Workspace state did not survive a restart: check EFS mounts and the edit task's stopped reasons "
             "(test environments only)."),
    CheckSpec(
        "session.concurrency", "destructive", tier="destructive", latency_sli=True, requires=_DESTRUCTIVE_REQUIRES,
        iam=_DESTRUCTIVE_IAM,
        summary=f"{CONCURRENT_SESSIONS} sessions activated in parallel are distinct and isolated, and the edit "
                "service stays within its maximum task count",
        why="parallel editors must not see each other's sessions, and a burst must not scale past the service's "
            "maximum (cost and quota)",
        hint="Parallel sessions were not isolated or exceeded the service maximum: check edit service scaling "
             "(test environments only)."),
    CheckSpec(
        "session.auto_shutdown", "destructive", tier="destructive", latency_sli=True,
        requires=_DESTRUCTIVE_REQUIRES, iam=_DESTRUCTIVE_IAM,
        summary="after the last session is deactivated the edit service scales in to zero within "
                "SESSION_EXPIRY_TIMEOUT_S",
        why="an edit task left running with no session costs money every hour (sprint 10 removed auto-sleep)",
        hint="The idle edit service did not scale in: check the auto-shutdown setting and scaling policies "
             "(test environments only)."),
    CheckSpec(
        "cleanup.orphans", "hygiene", requires=("sessions_table",), iam=("ReadSessionsTable",),
        summary="no synthetic session (test prefix) is older than the sweep age or left by a run whose lock is stale",
        why="a leftover synthetic session can keep an edit container running (cost) and hides real sessions in "
            "dashboards; the sweeper removes them, this check shows they exist",
        hint="Synthetic sessions older than the sweep age exist: check the sweeper's last runs and its logs; run "
             "`canary sweep --dry-run`."),
    CheckSpec(
        "stepfunctions.executions", "stepfunctions", profiles=QUEUE, critical=True, latency_sli=True,
        requires=("state_machine_arn",), iam=("StepFunctionsRead", "StepFunctionsDescribeExecutions"),
        summary="no email-processor execution ended FAILED, TIMED_OUT or ABORTED inside the window (PREEMPTED "
                "and ProcessingTimeout counted separately); p95 duration of the successful ones",
        why="a failed execution is an email whose edit never happened; the window keeps old failures from paging",
        hint="email-processor executions failed, timed out or aborted in the window: aws stepfunctions "
             "list-executions --status-filter FAILED."),
    CheckSpec(
        "sqs.dlq_empty", "sqs", profiles=QUEUE, critical=True, context=(("dlq_urls", "queue_name_prefix"),),
        iam=("SqsAttributes", "SqsDiscover"),
        summary="every dead-letter queue (DLQ_URLS, or discovered by name under QUEUE_NAME_PREFIX) holds no message",
        why="a message in a DLQ is an email the platform gave up on after its retries: lost work until someone "
            "redrives it",
        hint="A dead-letter queue holds messages (named in the logs): inspect them in the console, never from the "
             "canary; find why the consumer failed."),
    CheckSpec(
        "sqs.queue_age", "sqs", profiles=QUEUE, context=(("queue_urls", "queue_name_prefix"),),
        iam=("SqsAttributes", "SqsDiscover", "EcsDescribeServices"),
        summary="the unclaimed, input and interrupt queues hold no visible message older than "
                "CANARY_QUEUE_AGE_LIMIT_S, and no work waits while the edit service runs no task",
        why="work that waits is an email nobody is editing: a stuck FIFO (wrong claim), or no container at all",
        hint="Oldest message too old or queue too deep: check that edit containers are running and claiming "
             "work."),
    CheckSpec(
        "s3.site", "s3_site", profiles=QUEUE, critical=True, latency_sli=True, requires=("site_urls",),
        iam=("SiteIndexRead", "SiteBucketList", "StepFunctionsRead"),
        summary="each SITE_URLS answers 200 and (with SITE_BUCKETS) its index.html is not older than its project's "
                "last successful execution by more than CANARY_SITE_TOLERANCE_S",
        why="the site is what the customer sees: down is an outage, stale is an edit that silently never shipped",
        hint="Site not 200 or index.html older than the last successful execution: check the container's S3 sync "
             "and CloudFront."),
    CheckSpec(
        "ownership.claims", "ownership", profiles=QUEUE, requires=("ownership_table",),
        iam=("ReadOwnershipTable", "EcsListInCluster", "EcsDescribeTasks"),
        summary="no ownership claim is past its TTL or names a container/task that is no longer running",
        why="a stale claim makes the state machine believe a dead container owns the project: that user's emails "
            "wait in the queue forever",
        hint="Claims past their TTL or naming stopped tasks: check the claim Lambda and the ownership table."),
    CheckSpec(
        "ecs.edit_idle", "ecs_idle", profiles=QUEUE, requires=("ecs_cluster", "edit_service"),
        iam=("EcsDescribeServices", "EcsListInCluster", "EcsDescribeTasks", "SqsAttributes", "SqsDiscover"),
        summary="no edit task runs with no queued or in-flight work for longer than CANARY_IDLE_THRESHOLD_S",
        why="an idle 2 vCPU / 4 GB Fargate task costs about $2 a day for nothing; nobody notices until the bill",
        hint="Edit tasks running with no queued work (cost leak): scale the edit service in by hand."),
)


def by_id(specs: tuple[CheckSpec, ...] | None = None) -> dict[str, CheckSpec]:
    """Specs (default ``SPECS``) keyed by check id, in report order; a duplicate id is refused (ids are metric
    dimensions), and so is a tier or profile outside the contract's."""
    found: dict[str, CheckSpec] = {}
    for spec in SPECS if specs is None else specs:
        if spec.id in found:
            raise ValueError(f"check id {spec.id!r} is declared twice in harness.spec.SPECS")
        if spec.tier not in TIERS or not spec.profiles or set(spec.profiles) - set(PROFILES):
            raise ValueError(f"check {spec.id!r}: tier must be one of {TIERS} and profiles a non-empty subset of "
                             f"{PROFILES}")
        unjustified = [s.sid for s in spec.own_statements if "*" in s.resource and not s.why]
        if unjustified:
            raise ValueError(f"check {spec.id!r}: statement(s) {', '.join(unjustified)} have a wildcard resource but "
                             "no why (it becomes the cdk-nag acknowledgment)")
        found[spec.id] = spec
    return found


def spec_for(check_id: str) -> CheckSpec:
    """The spec of a check id, or a clear error naming where to declare it."""
    spec = by_id().get(check_id)
    if spec is None:
        raise KeyError(f"check {check_id!r} has no CheckSpec: add one to harness.spec.SPECS")
    return spec
