"""One canary stack per (environment, region): functions and schedules, alarms, SNS topic, dashboard."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from harness.contract import alarm_prefix, selftest_alarm_name
from infra.alarm_factory import dashboard_name
from infra.alarms import CanaryAlarms
from infra.canary_function import SPECS, CanaryFunction, vpc_placement
from infra.catalogue import TIER_ORDER
from infra.config import EnvironmentConfig
from infra.dashboard import CanaryDashboard
from infra.first_run import FirstRuns
from infra.monitoring.monitored import Monitored
from infra.nag import acknowledge
from infra.packaging import lambda_code
from infra.permissions import Arns
from infra.powertools_layer import powertools_layer


class CanaryStack(cdk.Stack):
    """Everything one environment needs in one region; names derive from the environment."""

    def __init__(self, scope: Construct, cfg: EnvironmentConfig) -> None:
        super().__init__(
            scope,
            cfg.stack_name,
            env=cdk.Environment(account=cfg.account, region=cfg.region),
            description=f"Webordinary canary for {cfg.name} ({cfg.profile}) in {cfg.region}",
        )
        self.cfg = cfg
        cdk.Tags.of(self).add("project", "webordinary-canary")
        cdk.Tags.of(self).add("canary-environment", cfg.name)

        arns = Arns(self, cfg)
        self.topic = sns.Topic(self, "Alerts", topic_name=f"{cfg.prefix}-alerts",
                               display_name=f"Webordinary canary {cfg.name}", enforce_ssl=True)
        # A topic policy replaces SNS's default one (owner-only), so CloudWatch needs its own Allow; the
        # conditions keep it to this account's alarms of this stack (confused-deputy guard). enforce_ssl adds the
        # Deny for aws:SecureTransport false, which CloudWatch's own TLS calls never meet.
        self.topic.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowThisStacksAlarmsToPublish",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"],
            resources=[self.topic.topic_arn],
            conditions={
                "StringEquals": {"aws:SourceAccount": self.account},
                "ArnLike": {"aws:SourceArn": arns.alarm(f"{alarm_prefix(cfg.name)}-*")},
            },
        ))
        # Not KMS-encrypted on purpose: CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed
        # SNS key, and the notifications carry alarm names and states only (cdk-nag 3's AwsSolutions no longer
        # flags it). tests/infra/test_cdk_alert_path.py checks the key policy if that ever changes.
        for email in cfg.alarm_emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))

        self.schedule_dlq = sqs.Queue(
            self,
            "ScheduleDlq",
            queue_name=f"{cfg.prefix}-schedule-dlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        acknowledge(self.schedule_dlq, "AwsSolutions-SQS3",
                    "this queue is itself the dead-letter queue of the EventBridge schedule targets")

        code = lambda_code()
        layer = powertools_layer(self, cfg)
        selftest_name = selftest_alarm_name(cfg.name)
        vpc_props = vpc_placement(self, cfg)
        kinds = [t for t in TIER_ORDER if t in cfg.tiers] + (["sweeper"] if cfg.creates_sessions else [])
        self.functions: dict[str, CanaryFunction] = {}
        for kind in kinds:
            every = cfg.schedule_minutes[kind]
            self.functions[kind] = CanaryFunction(
                self,
                kind.capitalize(),
                cfg=cfg,
                spec=SPECS[kind],
                every_minutes=every,
                code=code,
                layer=layer,
                dead_letter_queue=self.schedule_dlq,
                arns=arns,
                selftest_alarm_name=selftest_name if kind == "probe" else None,
                selftest_alarm_arn=arns.alarm(selftest_name) if kind == "probe" else None,
                vpc_props=vpc_props,
            )

        monitored = Monitored(cfg, self.functions, self.schedule_dlq)
        self.alarms = CanaryAlarms(self, "Alarms", monitored=monitored, topic=self.topic)
        # Quiet first deploy: each function runs once before its alarms exist, so the heartbeat and the
        # not-invoked alarms (missing data breaches) start with a datapoint instead of paging until the first
        # scheduled run.
        self.first_runs = FirstRuns(self, "FirstRuns", functions=self.functions, before=[self.alarms])
        self.dashboard = CanaryDashboard(self, "Dashboard", monitored=monitored, alarms=self.alarms)

        cdk.CfnOutput(self, "AlertTopicArn", value=self.topic.topic_arn,
                      description="SNS topic of every canary alarm; subscribe on-call here")
        cdk.CfnOutput(self, "DashboardName", value=dashboard_name(cfg))
        cdk.CfnOutput(self, "SelfTestAlarmName", value=selftest_name,
                      description="drive it with `canary selftest` to prove alarm -> SNS -> e-mail")
        for kind, fn in self.functions.items():
            cdk.CfnOutput(self, f"{kind.capitalize()}FunctionName", value=fn.function_name)
