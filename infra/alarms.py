"""The alarms that page (DESIGN §6): what the platform is doing, and whether the canary itself still works.

Composition only: ``infra.monitoring`` declares each concern's alarms through one ``AlarmFactory`` (names, M of N,
missing data, runbooks, actions) over ``infra.metrics`` (the contract's names and dimensions); this construct is
their scope and adds the composite "canary broken".

Who notifies: the composites "platform unhealthy" (critical checks) and "canary broken" carry the SNS actions,
their children none, so one problem sends one message. Warning-level checks, duration, DLQ depth, leaked
sessions and the self-test alarm notify directly. Every notifying alarm also sends OK on recovery.
"""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.alarm_factory import AlarmFactory, Runbook
from infra.metrics import CanaryMetrics
from infra.monitoring import canary_health, checks, queues
from infra.monitoring.functions import function_alarms
from infra.monitoring.monitored import Monitored


class CanaryAlarms(Construct):
    """Every alarm of one stack, plus the two composites; exposes them for the dashboard and tests."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        monitored: Monitored,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        functions = monitored.functions
        factory = AlarmFactory(self, monitored.cfg, topic)
        metrics = CanaryMetrics(monitored.cfg.name)
        self.all: list[cw.AlarmBase] = factory.all

        self.check_alarms = checks.check_alarms(factory, metrics, monitored)
        self.canary_errors = canary_health.canary_errors(factory, metrics, monitored)
        self.heartbeat = canary_health.heartbeat(factory, metrics, monitored)
        broken_children: list[cw.Alarm] = [self.canary_errors, self.heartbeat]
        self.canary_errors_slower = canary_health.canary_errors_slower(factory, metrics, monitored)
        broken_children += self.canary_errors_slower
        self.duration_alarms: dict[str, cw.Alarm] = {}
        for kind, fn in functions.items():
            feeding_broken, self.duration_alarms[kind] = function_alarms(factory, kind, fn)
            broken_children += feeding_broken
        self.leaked_sessions: cw.Alarm | None = None
        if "sweeper" in functions:
            self.leaked_sessions = canary_health.leaked_sessions(factory, metrics, functions["sweeper"].every_minutes)
        self.schedule_dlq = queues.schedule_dlq_alarm(factory, monitored)
        self.selftest = canary_health.selftest(factory, metrics)
        self.platform_unhealthy = checks.platform_unhealthy(factory, self.check_alarms)
        self.canary_broken = factory.any_of(
            "CanaryBroken",
            name="canary-broken",
            children=broken_children,
            runbook=Runbook(
                what="the canary cannot be trusted right now (errors, crashes, throttling or not running): the "
                "platform may be fine, but it is unmonitored",
                first="open the child alarm in ALARM; the functions' logs; the schedule rules and DLQ; recent "
                "deploys of this stack.",
            ),
        )

