"""One scheduled canary function: log group, role, function, async settings and its EventBridge schedule.

The overlap guard of DESIGN §7 is the run lock plus timing: a run gets at most half of its schedule period, so one
run ends well before the next starts. Reserved concurrency is optional (context ``reserved_concurrency``): Lambda
refuses any reservation that would leave the account less than its minimum unreserved concurrency.

Nothing is dropped silently. EventBridge invokes the function asynchronously: the target has no retries and its
undeliverable events go to the stack's dead-letter queue; Lambda's async queue has no retries either, keeps an
event at most one schedule period (a throttled run waits there, then expires), and sends the record of every
failed or expired invocation to the same queue (on-failure destination).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from harness.contract import NAMESPACE, SERVICE_NAME
from harness.settings import env_of
from infra.config import TARGET_ENV, EnvironmentConfig, InfraConfigError
from infra.nag import acknowledge
from infra.packaging import ARCHITECTURE, RUNTIME
from infra.permissions import WHY_LOG_STREAMS, WHY_XRAY, Arns, Grant, apply_grants, grants_for

CANARY_HANDLER = "handlers.canary.lambda_handler"
SWEEPER_HANDLER = "handlers.sweeper.lambda_handler"


@dataclass(frozen=True)
class FunctionSpec:
    """Sizing and schedule input of one function kind."""

    kind: str
    handler: str
    memory_mb: int
    max_timeout_s: int
    event: Mapping[str, Any]
    summary: str


SPECS: dict[str, FunctionSpec] = {
    # Probes run a dozen read-only checks concurrently (thread pool): 512 MB buys the CPU for TLS and boto3.
    "probe": FunctionSpec("probe", CANARY_HANDLER, 512, 300, {"tiers": ["probe"]},
                          "read-only probe tier"),
    # A journey waits for a cold edit container (60 s budget) and a session expiry (70 s) plus cleanup.
    "journey": FunctionSpec("journey", CANARY_HANDLER, 512, 600, {"tiers": ["journey"]},
                            "synthetic session journey"),
    "destructive": FunctionSpec("destructive", CANARY_HANDLER, 512, 900, {"tiers": ["destructive"]},
                                "destructive tier (test environments only)"),
    "sweeper": FunctionSpec("sweeper", SWEEPER_HANDLER, 256, 300, {}, "sweeper of leaked synthetic sessions"),
}

_RETENTION = {1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH",
              60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS", 150: "FIVE_MONTHS", 180: "SIX_MONTHS",
              365: "ONE_YEAR", 400: "THIRTEEN_MONTHS", 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS",
              1096: "THREE_YEARS", 1827: "FIVE_YEARS", 2192: "SIX_YEARS", 2557: "SEVEN_YEARS",
              2922: "EIGHT_YEARS", 3288: "NINE_YEARS", 3653: "TEN_YEARS"}
# Lambda async event age bounds (seconds).
_MIN_EVENT_AGE_S, _MAX_EVENT_AGE_S = 60, 6 * 3600


def event_age_seconds(every_minutes: int) -> int:
    """An event that waited longer than one period is stale: the next scheduled run supersedes it."""
    return min(_MAX_EVENT_AGE_S, max(_MIN_EVENT_AGE_S, every_minutes * 60))


def timeout_seconds(spec: FunctionSpec, every_minutes: int) -> int:
    """The spec's timeout, but never more than half the schedule period."""
    return max(30, min(spec.max_timeout_s, every_minutes * 60 // 2))


def run_budget_seconds(timeout_s: int) -> int:
    """The harness's run deadline: the timeout minus a margin for cleanup and the metric flush."""
    return timeout_s - max(10, timeout_s // 10)


def function_environment(cfg: EnvironmentConfig, spec: FunctionSpec, timeout_s: int,
                         selftest_alarm_name: str | None) -> dict[str, str]:
    """DESIGN §4 variables (names from harness.settings) from context; unset targets stay unset so their checks
    SKIP as not_configured."""
    env: dict[str, str] = {
        env_of("environment"): cfg.name,
        env_of("profile"): cfg.profile,
        env_of("allow_destructive"): "true" if spec.kind == "destructive" else "false",
        env_of("run_timeout_s"): str(run_budget_seconds(timeout_s)),
        "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,
    }
    if spec.kind != "sweeper":
        env[env_of("tiers")] = spec.kind
        # The checks this function runs that the stack alarms on: SKIPPED not_configured is an ERROR for them.
        required = cfg.checks_of(spec.kind)
        if required:
            env[env_of("required_checks")] = ",".join(required)
    if cfg.maintenance_windows:
        env[env_of("maintenance_windows")] = json.dumps(list(cfg.maintenance_windows), separators=(",", ":"))
    if selftest_alarm_name:
        env["CANARY_SELFTEST_ALARM"] = selftest_alarm_name
    for key, var in TARGET_ENV.items():
        value = cfg.target(key)
        if value is None:
            continue
        env[var] = ",".join(value) if isinstance(value, tuple) else str(value)
    clash = sorted(set(cfg.extra_environment) & set(env))
    if clash:
        raise InfraConfigError(f"context 'extra_environment' may not override {', '.join(clash)}")
    env.update(cfg.extra_environment)
    return env


def vpc_placement(scope: Construct, cfg: EnvironmentConfig) -> dict[str, Any]:
    """Function props that place it in the configured VPC, from ids only (no lookups); empty without a VPC."""
    if cfg.vpc is None:
        return {}
    vpc = ec2.Vpc.from_vpc_attributes(
        scope, "Vpc", vpc_id=cfg.vpc.vpc_id,
        availability_zones=list(cfg.vpc.availability_zones) or [f"{cfg.region}a"],
    )
    subnets = []
    for i, subnet_id in enumerate(cfg.vpc.subnet_ids):
        subnet = ec2.Subnet.from_subnet_id(scope, f"Subnet{i}", subnet_id)
        # Imported by id only: nothing here reads the subnet's route table.
        cdk.Annotations.of(subnet).acknowledge_warning(
            "@aws-cdk/aws-ec2:noSubnetRouteTableId", "the canary never reads the subnets' route tables"
        )
        subnets.append(subnet)
    props: dict[str, Any] = {"vpc": vpc, "vpc_subnets": ec2.SubnetSelection(subnets=subnets)}
    if cfg.vpc.security_group_ids:
        props["security_groups"] = [
            ec2.SecurityGroup.from_security_group_id(scope, f"SecurityGroup{i}", group_id, mutable=False)
            for i, group_id in enumerate(cfg.vpc.security_group_ids)
        ]
    return props


class CanaryFunction(Construct):
    """A function of one kind with its schedule; exposes what alarms and the dashboard need."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cfg: EnvironmentConfig,
        spec: FunctionSpec,
        every_minutes: int,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion,
        dead_letter_queue: sqs.IQueue,
        arns: Arns,
        selftest_alarm_name: str | None = None,
        selftest_alarm_arn: str | None = None,
        vpc_props: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        self.every_minutes = every_minutes
        self.function_name = f"{cfg.prefix}-{spec.kind}"
        self.timeout_s = timeout_seconds(spec, every_minutes)
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.event_age_s = event_age_seconds(every_minutes)
        self._on_failure = destinations.SqsDestination(dead_letter_queue)

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=self.log_group_name,
            retention=getattr(logs.RetentionDays, _RETENTION[cfg.log_retention_days]),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        # Our own role: no AWSLambdaBasicExecutionRole (it allows writing to every log group in the account).
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Webordinary canary {spec.summary} ({cfg.name})",
        )
        grants = [Grant("WriteOwnLogs", ("logs:CreateLogStream", "logs:PutLogEvents"),
                        (arns.log_group(self.log_group_name),), why=WHY_LOG_STREAMS)]
        grants += grants_for(spec.kind, cfg, arns, selftest_alarm_arn=selftest_alarm_arn)
        reasons = apply_grants(self.role, grants)
        reasons["AwsSolutions-IAM5[Resource::*]"] = "; ".join(
            filter(None, [reasons.get("AwsSolutions-IAM5[Resource::*]"), WHY_XRAY])
        )

        if vpc_props:
            # Lambda creates the ENIs itself; their ids cannot be named in a policy in advance.
            self.role.add_managed_policy(
                iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWSLambdaVPCAccessExecutionRole")
            )
            reasons["AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AWSLambdaVPCAccessExecutionRole]"] = (
                "the AWS-maintained policy holds exactly the ENI permissions a function in a VPC needs; "
                "ENI ids are created by Lambda and cannot be named in advance"
            )

        self.function = lambda_.Function(
            self,
            "Function",
            function_name=self.function_name,
            description=f"Webordinary canary: {spec.summary} ({cfg.name}, every {every_minutes} min)",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=spec.handler,
            code=code,
            layers=[layer],
            memory_size=spec.memory_mb,
            timeout=cdk.Duration.seconds(self.timeout_s),
            role=self.role,
            environment=function_environment(cfg, spec, self.timeout_s, selftest_alarm_name),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            reserved_concurrent_executions=cfg.reserved_concurrency,
            # Versions exist only for the deploy-time first run (infra/first_run.py); old ones are not kept.
            current_version_options=lambda_.VersionOptions(removal_policy=cdk.RemovalPolicy.DESTROY),
            **dict(vpc_props or {}),
        )
        # The deploy-time trigger invokes the current version with its provider role's own policy (same account),
        # and EventBridge the unqualified function: no grant is needed on the version.
        cdk.Annotations.of(self.function).acknowledge_warning(
            "@aws-cdk/aws-lambda:addPermissionsToVersionOrAlias",
            "only CDK's trigger provider invokes the version, allowed by its identity policy")
        # Adds sqs:SendMessage on the queue to the role (Lambda sends destination records with the function's role).
        self.function.configure_async_invoke(retry_attempts=0, max_event_age=cdk.Duration.seconds(self.event_age_s),
                                             on_failure=self._on_failure)
        acknowledge(self.function, "AwsSolutions-L1",
                    "python3.12 is the runtime the harness is tested on, the cp312 wheels in the asset are built "
                    "for, and the pinned Powertools layer is published for; upgrade all three together")

        self.rule = events.Rule(
            self,
            "Schedule",
            rule_name=f"{self.function_name}-schedule",
            description=f"Runs the {spec.summary} every {every_minutes} min with a constant input",
            schedule=events.Schedule.rate(cdk.Duration.minutes(every_minutes)),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    event=events.RuleTargetInput.from_object(cfg.scheduled_event(spec.kind, spec.event)),
                    dead_letter_queue=dead_letter_queue,
                    retry_attempts=0,
                )
            ],
        )
        for finding, reason in reasons.items():
            acknowledge(self.role, finding, reason)

    def configure_version_async_invoke(self) -> None:
        """The current version's async settings, equal to the function's (for a version invoked asynchronously)."""
        self.function.current_version.configure_async_invoke(
            retry_attempts=0, max_event_age=cdk.Duration.seconds(self.event_age_s), on_failure=self._on_failure)
