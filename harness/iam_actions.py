"""Which IAM actions each canary function needs, statement by statement (stdlib only).

One table, two readers: ``infra.permissions`` turns each statement into a policy statement with scoped resources,
and ``canary doctor`` asks ``iam:SimulatePrincipalPolicy`` whether the deployed role allows the very same actions.
Because both read ``ACTIONS`` and ``statements_for``, the doctor cannot check a list that drifted from the grants
(``tests/infra/test_iam_actions_parity.py`` proves the two agree for every profile, kind and target mix).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.spec import SPECS, CheckSpec, IamStatement

# No resource-level permissions exist for these (Service Authorization Reference); they are read-only.
ELB_DESCRIBE = (
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
)
METRICS_READ = ("cloudwatch:GetMetricData", "cloudwatch:GetMetricStatistics", "cloudwatch:ListMetrics")
TABLE_READ = ("dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive", "dynamodb:GetItem", "dynamodb:Query",
              "dynamodb:Scan")

# Statement id -> actions, for statements several checks (or the canary itself) share; a check names them in its
# ``CheckSpec.iam``. The sid is the policy statement's Sid in the deployed role.
SHARED_ACTIONS: dict[str, tuple[str, ...]] = {
    "PutCanaryMetrics": ("cloudwatch:PutMetricData",),
    "EcsDescribeCluster": ("ecs:DescribeClusters",),
    "EcsListInCluster": ("ecs:ListServices", "ecs:ListTasks"),
    "EcsDescribeTasks": ("ecs:DescribeTasks",),
    "EcsDescribeServices": ("ecs:DescribeServices",),
    "ReadSessionsTable": TABLE_READ,
    "ReadOwnershipTable": TABLE_READ,
    "PutOwnPrefixedItems": ("dynamodb:PutItem",),
    "DeleteSyntheticRecords": ("dynamodb:DeleteItem",),
    "ReadHermesToken": ("secretsmanager:GetSecretValue",),
    "DecryptHermesToken": ("kms:Decrypt",),
    "AlbDescribe": ELB_DESCRIBE,
    "ReadMetrics": METRICS_READ,
    "EfsDescribe": ("elasticfilesystem:DescribeFileSystems", "elasticfilesystem:DescribeMountTargets"),
    "DescribePlatformStack": ("cloudformation:DescribeStacks",),
    "StepFunctionsRead": ("states:DescribeStateMachine", "states:ListExecutions"),
    "StepFunctionsDescribeExecutions": ("states:DescribeExecution",),
    "SqsAttributes": ("sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListDeadLetterSourceQueues"),
    "SqsDiscover": ("sqs:ListQueues",),
    "SiteIndexRead": ("s3:GetObject",),
    "SiteBucketList": ("s3:ListBucket",),
    "ScaleEditServiceInTestEnvironment": ("ecs:UpdateService",),
    "RestartEditTaskInTestEnvironment": ("ecs:StopTask",),
    "DriveSelfTestAlarm": ("cloudwatch:DescribeAlarms", "cloudwatch:DescribeAlarmHistory", "cloudwatch:SetAlarmState"),
}

FUNCTION_KINDS = ("probe", "journey", "destructive", "sweeper")


def check_statements(kind: str, profile: str, targets: Mapping[str, Any],
                     specs: tuple[CheckSpec, ...] = SPECS) -> tuple[IamStatement, ...]:
    """Statements the checks a function runs bring themselves (``CheckSpec.iam``), once their resource keys are set.

    The probe function runs the probe tier, the journey function the journey tier, and so on; the sweeper runs none.
    """
    found: dict[str, IamStatement] = {}
    for spec in specs:
        if spec.tier == kind and profile in spec.profiles:
            for statement in spec.own_statements:
                if all(targets.get(key) for key in statement.config_keys()):
                    found.setdefault(statement.sid, statement)
    return tuple(found.values())


# Every statement id -> its actions: the shared ones, then those the checks declare in their specs.
ACTIONS: dict[str, tuple[str, ...]] = {
    **SHARED_ACTIONS, **{s.sid: s.actions for spec in SPECS for s in spec.own_statements},
}


def _ecs(targets: Mapping[str, Any], services: tuple[str, ...]) -> list[str]:
    if not targets.get("ecs_cluster"):
        return []
    sids = ["EcsDescribeCluster", "EcsListInCluster", "EcsDescribeTasks"]
    if any(targets.get(key) for key in services):
        sids.append("EcsDescribeServices")
    return sids


def _secret(targets: Mapping[str, Any], kms_key: bool) -> list[str]:
    if not targets.get("hermes_api_token_secret"):
        return []
    return ["ReadHermesToken", *(["DecryptHermesToken"] if kms_key else [])]


def _session_platform(targets: Mapping[str, Any], kms_key: bool) -> list[str]:
    sids = _ecs(targets, ("hermes_service", "edit_service"))
    if targets.get("sessions_table"):
        sids.append("ReadSessionsTable")
    if targets.get("target_group_arns") or targets.get("load_balancer_arn"):
        sids.append("AlbDescribe")
    if targets.get("efs_file_system_id"):
        sids.append("EfsDescribe")
    if targets.get("platform_stack_name"):
        sids.append("DescribePlatformStack")
    return [*sids, "ReadMetrics", *_secret(targets, kms_key)]


def _queue_platform(targets: Mapping[str, Any]) -> list[str]:
    sids: list[str] = []
    if targets.get("state_machine_arn"):
        sids += ["StepFunctionsRead", "StepFunctionsDescribeExecutions"]
    sids += ["SqsAttributes", "SqsDiscover"]
    if targets.get("site_buckets"):
        sids += ["SiteIndexRead", "SiteBucketList"]
    if targets.get("ownership_table"):
        sids.append("ReadOwnershipTable")
    return [*sids, *_ecs(targets, ("edit_service",)), "ReadMetrics"]


def statements_for(kind: str, profile: str, targets: Mapping[str, Any], *, kms_key: bool = False,
                   selftest: bool = False) -> list[str]:
    """Statement ids one function kind (probe, journey, destructive, sweeper) needs, in policy order.

    ``targets`` holds the target settings by their snake_case config keys (unset or empty = not configured);
    ``kms_key`` says the Hermes token secret is encrypted with a customer key; ``selftest`` that the probe
    function drives the alert-path self-test alarm.
    """
    if kind not in FUNCTION_KINDS:
        raise ValueError(f"unknown function kind {kind!r}; known: {', '.join(FUNCTION_KINDS)}")
    sids = ["PutCanaryMetrics"]
    if kind == "sweeper":
        if targets.get("sessions_table"):
            sids += ["ReadSessionsTable", "DeleteSyntheticRecords"]
        return sids + _secret(targets, kms_key)
    sids += _queue_platform(targets) if profile == "queue-platform" else _session_platform(targets, kms_key)
    sids += [statement.sid for statement in check_statements(kind, profile, targets)]
    if kind in ("journey", "destructive") and targets.get("sessions_table"):
        sids += ["PutOwnPrefixedItems", "DeleteSyntheticRecords"]
    if kind == "destructive" and targets.get("ecs_cluster") and targets.get("edit_service"):
        sids += ["ScaleEditServiceInTestEnvironment", "RestartEditTaskInTestEnvironment"]
    if kind == "probe" and selftest:
        sids.append("DriveSelfTestAlarm")
    return sids


def actions_for(kind: str, profile: str, targets: Mapping[str, Any], **options: bool) -> dict[str, tuple[str, ...]]:
    """Statement id -> actions for one function kind (see ``statements_for``)."""
    return {sid: ACTIONS[sid] for sid in statements_for(kind, profile, targets, **options)}
