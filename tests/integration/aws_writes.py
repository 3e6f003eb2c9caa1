"""What counts as a write among the AWS calls the sandbox's proxy recorded (``AwsSandbox.recording``).

DESIGN §1: read-only by default. A canary run may write exactly three things: its own synthetic DynamoDB items
(the run lock, and the cleanup/sweeper deletes, all behind the test-prefix guard), and the self-test alarm's
state. Changing capacity (a service's desired count, its tasks, a table's throughput, scaling policies) belongs
to the destructive tier alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sandbox.call_recording import AwsCall

READ_VERBS = ("Describe", "List", "Get", "Query", "Scan", "BatchGet", "Head")
READ_METHODS = ("GET", "HEAD")  # REST services (EFS, S3) are recorded by HTTP method
ALLOWED_WRITES: dict[str, str] = {
    "dynamodb:PutItem": "the run lock: a prefixed item, conditional put",
    "dynamodb:DeleteItem": "cleanup, sweeper and lock release: synthetic items only, conditional delete",
    "cloudwatch:SetAlarmState": "the alert-path self-test alarm only",
}
CAPACITY_WRITES = frozenset({
    "ecs:UpdateService", "ecs:StopTask", "ecs:RunTask", "ecs:StartTask", "ecs:CreateService", "ecs:DeleteService",
    "ecs:UpdateServicePrimaryTaskSet", "ecs:CreateTaskSet", "ecs:UpdateTaskSet", "ecs:DeleteTaskSet",
    "ecs:PutClusterCapacityProviders", "ecs:DeleteCluster",
    "dynamodb:UpdateTable", "dynamodb:DeleteTable", "dynamodb:UpdateTimeToLive",
    "application-autoscaling:RegisterScalableTarget", "application-autoscaling:PutScalingPolicy",
    "application-autoscaling:DeleteScalingPolicy", "autoscaling:SetDesiredCapacity",
    "autoscaling:UpdateAutoScalingGroup", "lambda:PutFunctionConcurrency",
    "elasticloadbalancing:DeregisterTargets", "elasticloadbalancing:RegisterTargets",
    "elasticloadbalancing:ModifyTargetGroup", "elasticloadbalancing:ModifyRule", "elasticloadbalancing:DeleteRule",
    "elasticloadbalancing:ModifyListener", "states:StopExecution", "sqs:PurgeQueue", "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
})


def is_read(call: AwsCall) -> bool:
    name = call.action.partition(":")[2]
    return name in READ_METHODS or name.startswith(READ_VERBS)


def writes(calls: Iterable[AwsCall]) -> list[str]:
    """Every call that is not a read, by action (in order)."""
    return [c.action for c in calls if not is_read(c)]


def forbidden_writes(calls: Iterable[AwsCall]) -> list[str]:
    """Writes outside ALLOWED_WRITES (capacity writes included): must be empty for a non-destructive run."""
    return [action for action in writes(calls) if action not in ALLOWED_WRITES]


def capacity_writes(calls: Iterable[AwsCall]) -> list[AwsCall]:
    return [c for c in calls if c.action in CAPACITY_WRITES]


def json_body(call: AwsCall) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(call.body or b"{}")
    return body
