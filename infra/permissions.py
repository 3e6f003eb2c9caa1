"""Least-privilege IAM for each canary function (DESIGN §1, §7).

Reads are Describe/List/Get on the named resources. Writes are few and scoped: the run-lock item in the sessions
table (``dynamodb:LeadingKeys`` on the test prefix), deletes of synthetic session records (journey cleanup and the
sweeper; see ``_synthetic_record_deletes`` for why LeadingKeys cannot apply), the destructive tier's
UpdateService/StopTask on the edit service and cluster, metrics in the canary's namespace, and SetAlarmState on the
self-test alarm. The canary never receives from the platform's queues (that would raise receive counts and push
real work into dead-letter queues), so no policy grants ``sqs:ReceiveMessage``.

Where an action has no resource-level permissions, or a resource name is only known at run time, the statement
carries a wildcard and a ``why``: that text becomes the cdk-nag IAM5 acknowledgment, so every wildcard is justified
next to the statement that needs it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import aws_cdk as cdk
from aws_cdk import aws_iam as iam

from harness.contract import NAMESPACE
from harness.iam_actions import ACTIONS, check_statements
from harness.spec import IamStatement
from infra.config import EnvironmentConfig, InfraConfigError

# Why each wildcard is there (cdk-nag IAM5 acknowledgment reasons).
WHY_NO_RESOURCE_LEVEL = "the action supports no resource-level permissions"
WHY_ELB = f"ELB Describe* are read-only and {WHY_NO_RESOURCE_LEVEL}"
WHY_METRICS_READ = f"CloudWatch GetMetricData/GetMetricStatistics/ListMetrics are read-only and {WHY_NO_RESOURCE_LEVEL}"
WHY_PUT_METRIC = f"PutMetricData {WHY_NO_RESOURCE_LEVEL}; the cloudwatch:namespace condition limits it to the canary's"
WHY_ECS_LIST = f"ECS ListServices/ListTasks {WHY_NO_RESOURCE_LEVEL}; the ecs:cluster condition limits them to one"
WHY_ECS_TASKS = "task ids are only known at run time; DescribeTasks is read-only and limited to the one cluster"
WHY_STOP_TASK = ("the destructive tier (test environments only) restarts an edit task whose id is only known at run "
                 "time; limited to the one cluster")
WHY_TABLE_INDEX = "index names are discovered with DescribeTable at run time; read-only"
WHY_EXECUTIONS = "execution names are only known at run time; DescribeExecution is read-only, one state machine"
WHY_SQS_DISCOVERY = ("queues are discovered by name prefix at run time (per-project queues); ListQueues "
                     f"{WHY_NO_RESOURCE_LEVEL}; GetQueueAttributes is read-only (never ReceiveMessage)")
WHY_LOG_STREAMS = "log stream names are created by Lambda per container; limited to the function's own log group"
WHY_XRAY = f"X-Ray PutTraceSegments/PutTelemetryRecords {WHY_NO_RESOURCE_LEVEL} (added by CDK for active tracing)"


@dataclass(frozen=True)
class Grant:
    """One policy statement, and why it needs a wildcard if it has one."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: Mapping[str, Any] | None = None
    why: str | None = None

    def __post_init__(self) -> None:
        if any("*" in r for r in self.resources if isinstance(r, str)) and not self.why:
            raise ValueError(f"grant {self.sid} has a wildcard resource but no justification")


@dataclass
class Arns:
    """ARNs of the platform's resources in the stack's account and region (no lookups)."""

    stack: cdk.Stack
    cfg: EnvironmentConfig

    def _arn(self, service: str, resource: str, name: str, *, colon: bool = False) -> str:
        return self.stack.format_arn(
            service=service,
            resource=resource,
            resource_name=name,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME if colon else cdk.ArnFormat.SLASH_RESOURCE_NAME,
        )

    def cluster(self, name: str) -> str:
        return self._arn("ecs", "cluster", name)

    def service(self, cluster: str, name: str) -> str:
        return self._arn("ecs", "service", f"{cluster}/{name}")

    def tasks(self, cluster: str) -> str:
        return self._arn("ecs", "task", f"{cluster}/*")

    def cfn_stack(self, name: str) -> str:
        return self._arn("cloudformation", "stack", f"{name}/*")

    def table(self, name: str) -> str:
        return self._arn("dynamodb", "table", name)

    def table_indexes(self, name: str) -> str:
        return self._arn("dynamodb", "table", f"{name}/index/*")

    def file_system(self, fs_id: str) -> str:
        return self._arn("elasticfilesystem", "file-system", fs_id)

    def secret(self, name_or_arn: str) -> str:
        if name_or_arn.startswith("arn:"):
            return name_or_arn
        # Secrets Manager appends 6 random characters to the name; '?' matches exactly one.
        return self._arn("secretsmanager", "secret", f"{name_or_arn}-??????", colon=True)

    def executions(self, state_machine_arn: str) -> str:
        parts = state_machine_arn.split(":")
        if len(parts) < 7 or parts[5] != "stateMachine":
            raise InfraConfigError(f"context 'state_machine_arn': {state_machine_arn!r} is not a state machine ARN")
        return ":".join([*parts[:5], "execution", parts[6], "*"])

    def queue(self, url: str) -> str:
        """sqs ARN from a queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)."""
        parsed = urlparse(url)
        path = [p for p in parsed.path.split("/") if p]
        host = parsed.hostname or ""
        region = host.split(".")[1] if host.startswith("sqs.") else host.split(".")[0]
        if len(path) != 2 or not path[0].isdigit() or not region:
            raise InfraConfigError(f"context 'queue_urls'/'dlq_urls': {url!r} is not an SQS queue URL")
        partition = self.stack.partition
        return f"arn:{partition}:sqs:{region}:{path[0]}:{path[1]}"

    def queues_with_prefix(self, prefix: str) -> str:
        return self.stack.format_arn(service="sqs", resource=f"{prefix}*", arn_format=cdk.ArnFormat.NO_RESOURCE_NAME)

    def bucket(self, name: str) -> str:
        return self.stack.format_arn(service="s3", region="", account="", resource=name,
                                     arn_format=cdk.ArnFormat.NO_RESOURCE_NAME)

    def bucket_object(self, name: str, key: str) -> str:
        return self.stack.format_arn(service="s3", region="", account="", resource=name, resource_name=key)

    def alarm(self, name: str) -> str:
        return self._arn("cloudwatch", "alarm", name, colon=True)

    def log_group(self, name: str) -> str:
        return self._arn("logs", "log-group", f"{name}:*", colon=True)


def _metrics_write() -> Grant:
    return Grant("PutCanaryMetrics", ACTIONS["PutCanaryMetrics"], ("*",),
                 {"StringEquals": {"cloudwatch:namespace": NAMESPACE}}, WHY_PUT_METRIC)


def _ecs_read(cfg: EnvironmentConfig, arns: Arns, services: Sequence[str]) -> list[Grant]:
    cluster = cfg.target("ecs_cluster")
    if not cluster:
        return []
    cluster_arn = arns.cluster(cluster)
    grants = [
        Grant("EcsDescribeCluster", ACTIONS["EcsDescribeCluster"], (cluster_arn,)),
        Grant("EcsListInCluster", ACTIONS["EcsListInCluster"], ("*",),
              {"ArnEquals": {"ecs:cluster": cluster_arn}}, WHY_ECS_LIST),
        Grant("EcsDescribeTasks", ACTIONS["EcsDescribeTasks"], (arns.tasks(cluster),),
              {"ArnEquals": {"ecs:cluster": cluster_arn}}, WHY_ECS_TASKS),
    ]
    named = [cfg.target(key) for key in services if cfg.target(key)]
    if named:
        grants.append(Grant("EcsDescribeServices", ACTIONS["EcsDescribeServices"],
                            tuple(arns.service(cluster, name) for name in named)))
    return grants


def _table_read(sid: str, table: str | None, arns: Arns) -> list[Grant]:
    if not table:
        return []
    return [Grant(sid, ACTIONS[sid], (arns.table(table), arns.table_indexes(table)), why=WHY_TABLE_INDEX)]


def _lock_item_writes(cfg: EnvironmentConfig, arns: Arns) -> list[Grant]:
    """The run lock (harness.sessions.run_lock): every key attribute of the lock item is <prefix>canary-lock."""
    table = cfg.target("sessions_table")
    if not table:
        return []
    prefix = cfg.target("test_prefix")
    # ForAllValues is true when the request carries no LeadingKeys at all (IAM: "use ForAllValues with Allow
    # carefully"); the Null test makes the key's presence part of the grant instead of a property of PutItem.
    return [Grant("PutOwnPrefixedItems", ACTIONS["PutOwnPrefixedItems"], (arns.table(table),),
                  {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{prefix}*"]},
                   "Null": {"dynamodb:LeadingKeys": "false"}})]


def _synthetic_record_deletes(cfg: EnvironmentConfig, arns: Arns) -> list[Grant]:
    """Deleting leftover synthetic session records (journey cleanup, sweeper) and the released run lock.

    dynamodb:LeadingKeys cannot apply: Hermes assigns the sessionId partition key of a synthetic session, so only
    its user key (userId) carries the test prefix. The harness guards every delete twice instead: one predicate
    (harness.sessions.synthetic.SyntheticStore.is_synthetic, property-tested) and a server-side ConditionExpression
    begins_with(<user key>, <prefix>) on the DeleteItem itself (DESIGN §1).
    """
    table = cfg.target("sessions_table")
    if not table:
        return []
    return [Grant("DeleteSyntheticRecords", ACTIONS["DeleteSyntheticRecords"], (arns.table(table),))]


def _secret_read(cfg: EnvironmentConfig, arns: Arns) -> list[Grant]:
    secret = cfg.target("hermes_api_token_secret")
    if not secret:
        return []
    grants = [Grant("ReadHermesToken", ACTIONS["ReadHermesToken"], (arns.secret(secret),))]
    if cfg.hermes_api_token_kms_key_arn:
        grants.append(Grant("DecryptHermesToken", ACTIONS["DecryptHermesToken"], (cfg.hermes_api_token_kms_key_arn,),
                            {"StringEquals": {"kms:ViaService": f"secretsmanager.{cfg.region}.amazonaws.com"}}))
    return grants


def _alb_read(cfg: EnvironmentConfig) -> list[Grant]:
    if not (cfg.target_list("target_group_arns") or cfg.target("load_balancer_arn")):
        return []
    return [Grant("AlbDescribe", ACTIONS["AlbDescribe"], ("*",), why=WHY_ELB)]


def _metrics_read() -> Grant:
    return Grant("ReadMetrics", ACTIONS["ReadMetrics"], ("*",), why=WHY_METRICS_READ)


def _session_platform_reads(cfg: EnvironmentConfig, arns: Arns) -> list[Grant]:
    grants = _ecs_read(cfg, arns, ("hermes_service", "edit_service"))
    grants += _table_read("ReadSessionsTable", cfg.target("sessions_table"), arns)
    grants += _alb_read(cfg)
    fs_id = cfg.target("efs_file_system_id")
    if fs_id:
        grants.append(Grant("EfsDescribe", ACTIONS["EfsDescribe"], (arns.file_system(fs_id),)))
    stack = cfg.target("platform_stack_name")
    if stack:
        grants.append(Grant("DescribePlatformStack", ACTIONS["DescribePlatformStack"], (arns.cfn_stack(stack),),
                            why="a stack ARN ends in an id assigned at creation; the stack name is fixed"))
    grants.append(_metrics_read())
    grants += _secret_read(cfg, arns)
    return grants


def _queue_platform_reads(cfg: EnvironmentConfig, arns: Arns) -> list[Grant]:
    grants: list[Grant] = []
    machine = cfg.target("state_machine_arn")
    if machine:
        grants.append(Grant("StepFunctionsRead", ACTIONS["StepFunctionsRead"], (machine,)))
        grants.append(Grant("StepFunctionsDescribeExecutions", ACTIONS["StepFunctionsDescribeExecutions"],
                            (arns.executions(machine),), why=WHY_EXECUTIONS))
    queues = [arns.queue(u) for u in (*cfg.target_list("queue_urls"), *cfg.target_list("dlq_urls"))]
    prefix = cfg.target("queue_name_prefix") or "webordinary-"
    grants.append(Grant("SqsAttributes", ACTIONS["SqsAttributes"],
                        (*dict.fromkeys(queues), arns.queues_with_prefix(prefix)), why=WHY_SQS_DISCOVERY))
    grants.append(Grant("SqsDiscover", ACTIONS["SqsDiscover"], ("*",), why=WHY_SQS_DISCOVERY))
    buckets = cfg.target_list("site_buckets")
    if buckets:
        grants.append(Grant("SiteIndexRead", ACTIONS["SiteIndexRead"],
                            tuple(arns.bucket_object(b, "index.html") for b in buckets)))
        # Without ListBucket a missing index.html answers 403 instead of 404, hiding the real reason.
        grants.append(Grant("SiteBucketList", ACTIONS["SiteBucketList"], tuple(arns.bucket(b) for b in buckets)))
    grants += _table_read("ReadOwnershipTable", cfg.target("ownership_table"), arns)
    grants += _ecs_read(cfg, arns, ("edit_service",))
    grants.append(_metrics_read())
    return grants


def _check_statement(statement: IamStatement, cfg: EnvironmentConfig, arns: Arns) -> Grant:
    """A statement a check declares in its spec: ``*``, or its ARN resource with the config keys filled in."""
    if statement.resource == "*":
        return Grant(statement.sid, statement.actions, ("*",), why=statement.why)
    return Grant(statement.sid, statement.actions, tuple(
        arns.stack.format_arn(service=statement.service, resource=resource, arn_format=cdk.ArnFormat.NO_RESOURCE_NAME)
        for resource in statement.resources_for(cfg.targets)), why=statement.why)


def grants_for(kind: str, cfg: EnvironmentConfig, arns: Arns, *, selftest_alarm_arn: str | None = None) -> list[Grant]:
    """Statements for one function kind: probe, journey, destructive or sweeper."""
    grants: list[Grant] = [_metrics_write()]
    if kind == "sweeper":
        grants += _table_read("ReadSessionsTable", cfg.target("sessions_table"), arns)
        grants += _synthetic_record_deletes(cfg, arns)
        grants += _secret_read(cfg, arns)  # deactivates leftovers through Hermes first
        return grants
    if cfg.profile == "queue-platform":
        grants += _queue_platform_reads(cfg, arns)
    else:
        grants += _session_platform_reads(cfg, arns)
    grants += [_check_statement(s, cfg, arns) for s in check_statements(kind, cfg.profile, cfg.targets)]
    if kind in ("journey", "destructive"):
        grants += _lock_item_writes(cfg, arns)
        grants += _synthetic_record_deletes(cfg, arns)
    cluster, edit = cfg.target("ecs_cluster"), cfg.target("edit_service")
    if kind == "destructive" and cluster and edit:
        # Test environments only (allow_destructive): scale the edit service and restart one of its tasks; the
        # harness restores the previous desired count, never "scales to zero".
        grants.append(Grant("ScaleEditServiceInTestEnvironment", ACTIONS["ScaleEditServiceInTestEnvironment"],
                            (arns.service(cluster, edit),)))
        grants.append(Grant("RestartEditTaskInTestEnvironment", ACTIONS["RestartEditTaskInTestEnvironment"],
                            (arns.tasks(cluster),),
                            {"ArnEquals": {"ecs:cluster": arns.cluster(cluster)}}, WHY_STOP_TASK))
    if kind == "probe" and selftest_alarm_arn:
        # The alert-path self-test (harness.ops.selftest) reads and flips only the dedicated self-test alarm.
        grants.append(Grant("DriveSelfTestAlarm", ACTIONS["DriveSelfTestAlarm"], (selftest_alarm_arn,)))
    return grants


def flatten_reference(value: Any) -> str:
    """cdk-nag's rendering of a resolved CloudFormation value (its flattenCfnReference), for finding ids."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, items = value["Fn::Join"]
            return delimiter.join(flatten_reference(i) for i in items)
        if "Fn::Sub" in value:
            return flatten_reference(value["Fn::Sub"])
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return f"<{flatten_reference(resource)}.{flatten_reference(attribute)}>"
        if "Fn::ImportValue" in value:
            return flatten_reference(value["Fn::ImportValue"])
        if "Ref" in value:
            return f"<{flatten_reference(value['Ref'])}>"
    raise ValueError(f"cannot render {value!r} as a cdk-nag finding")


def apply_grants(role: iam.Role, grants: Sequence[Grant]) -> dict[str, str]:
    """Attach the statements and acknowledge each wildcard with its reason; returns finding id -> reason."""
    stack = cdk.Stack.of(role)
    reasons: dict[str, list[str]] = {}
    for grant in grants:
        role.add_to_principal_policy(iam.PolicyStatement(
            sid=grant.sid,
            actions=list(grant.actions),
            resources=list(grant.resources),
            conditions=dict(grant.conditions) if grant.conditions else None,
        ))
        for resource in grant.resources:
            rendered = flatten_reference(stack.resolve(resource))
            if "*" in rendered and grant.why:
                reasons.setdefault(f"AwsSolutions-IAM5[Resource::{rendered}]", [])
                if grant.why not in reasons[f"AwsSolutions-IAM5[Resource::{rendered}]"]:
                    reasons[f"AwsSolutions-IAM5[Resource::{rendered}]"].append(grant.why)
    return {finding: "; ".join(whys) for finding, whys in reasons.items()}
