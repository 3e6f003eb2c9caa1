"""The schedule's dead-letter queue: any message in it is a scheduled run that was lost.

Two writers, one queue: EventBridge sends events it could not deliver to the target (permission, deleted
function), and Lambda's on-failure destination sends the record of an async invocation that errored or expired
unprocessed (throttled past its maximum event age). Lambda never hands a throttled async event back to
EventBridge, so this queue is where a dropped run shows.
"""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cw

from infra.alarm_factory import AlarmFactory, Runbook
from infra.metrics import CanaryMetrics
from infra.monitoring.monitored import Monitored

_LOST_RUN = Runbook(
    what="a scheduled run was lost: Lambda's on-failure record of an async invocation that errored (crash, timeout) "
    "or expired unprocessed (throttled past its maximum event age), or an event EventBridge could not deliver "
    "(permission, deleted function)",
    first="read a message: a Lambda record holds requestContext.condition (RetriesExhausted, EventAgeExceeded) and "
    "the function; an EventBridge one has ERROR_CODE attributes; then the function's errors and throttles, or the "
    "rule's target and resource policy; purge once fixed.",
)


def schedule_dlq_alarm(factory: AlarmFactory, monitored: Monitored) -> cw.Alarm:
    """At least one message visible in the schedule DLQ; notifies directly."""
    return factory.occurred("ScheduleDlqDepth", name="schedule-dlq-depth", window=(1, 1), notify=True,
                            metric=CanaryMetrics.queue_depth(monitored.schedule_dlq), runbook=_LOST_RUN)
