"""The queue platform (target-surface §4) on the sandbox's moto server, its S3 site over HTTP, and its faults.

Seeds the email → Step Functions → SQS → edit container → S3 flow: the ``email-processor`` state machine with a
history of executions, the unclaimed / input (FIFO, redrive to its DLQ) / interrupt queues and the intake DLQ,
the ownership table with a live claim, the site bucket ``edit.amelia.webordinary.com`` (served over HTTP by a
small loopback server, since S3 website hosting is not something moto serves) and one running edit task.

moto runs no state machine, computes no ``ApproximateAgeOfOldestMessage`` and never dates a task's start, so the
sandbox renders that state itself through moto's in-process backends (the server runs in this process): the
platform is a pure function of "now + active faults" (``QueueSide.render``), re-applied on every fault change, on
``reset`` and periodically, so the healthy seed stays healthy however long the sandbox serves.

Faults (``sandbox.faults.FAULT_CLASSES``): ``dlq_message``, ``stuck_message`` (``mode=age`` default: an input
message 2 h old; ``mode=no_containers``: a claim request waits 5 min while the edit service runs 0 tasks),
``failed_executions`` (FAILED, ProcessingTimeout, TIMED_OUT and ABORTED runs inside the hour), ``stale_site``
(index.html written 2 h before the last success), ``stale_claim`` (a second claim naming a task that is
``mode=stopped`` (default) | ``unknown`` to ECS | ``expired``), ``idle_tasks`` (the edit task started 2 h ago, the
last execution ended 3 h ago, the container released its claim).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from botocore.exceptions import ClientError

from sandbox.control import SeededResources
from sandbox.faults import Faults

QUEUE_PLATFORM = "queue-platform"
PROJECT, USER = "amelia", "scott"
PROJECT_KEY = f"{PROJECT}#{USER}"
QUEUE_PREFIX = "webordinary-"
STATE_MACHINE_NAME = "email-processor"
UNCLAIMED_QUEUE = "webordinary-unclaimed"
INPUT_QUEUE = f"webordinary-input-{PROJECT}-{USER}.fifo"
INTERRUPT_QUEUE = f"webordinary-interrupts-{PROJECT}-{USER}"
INPUT_DLQ = f"webordinary-dlq-{PROJECT}-{USER}.fifo"
INTAKE_DLQ = "webordinary-intake-lambda-dlq"
OWNERSHIP_TABLE = "webordinary-container-ownership"
SITE_BUCKET = f"edit.{PROJECT}.webordinary.com"
MAX_RECEIVE_COUNT = 3
CLAIM_TTL_S = 3600
SQS_NAMESPACE = "AWS/SQS"
AGE_METRIC = "ApproximateAgeOfOldestMessage"
DEPTH_METRICS = ("ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible",
                 "ApproximateNumberOfMessagesDelayed")

# Fault shapes (well past the canary's default limits: 15 min queue age, 15 min site tolerance, 30 min idle).
STUCK_AGE_S = 7200.0
NO_CONTAINER_WAIT_S = 300.0
STALE_SITE_BEHIND_S = 7200.0
IDLE_FOR_S = 7200.0
IDLE_SHIFT_S = 3 * 3600.0  # with idle_tasks, the last execution ended this long ago
EXPIRED_CLAIM_AGO_S = 7200.0
HEALTHY_TASK_AGE_S = 600.0
HEALTHY_SITE_AGE_S = 240.0

INDEX_HTML = (b"<!doctype html><html><head><title>Amelia Stamps</title></head>"
              b"<body><h1>Amelia Stamps</h1><p>Hand-carved rubber stamps.</p></body></html>")
NOT_FOUND_HTML = b"<!doctype html><html><body><h1>404</h1><p>Page not found.</p></body></html>"


@dataclass(frozen=True)
class _Run:
    """One execution of the state machine, relative to now: it ended ``ended_ago_s`` ago after ``duration_s``."""

    name: str
    status: str
    ended_ago_s: float
    duration_s: float
    error: str | None = None
    cause: str | None = None


# The healthy history: recent successes, one preemption (by design) and one failure older than the 1 h window.
HEALTHY_RUNS: tuple[_Run, ...] = (
    _Run("email-7c1e-0001", "SUCCEEDED", 300, 95),
    _Run("email-7c1e-0002", "SUCCEEDED", 720, 120),
    _Run("email-7c1e-0003", "SUCCEEDED", 1200, 80),
    _Run("email-7c1e-0004", "FAILED", 1500, 40, "PREEMPTED", f"Interrupted by a newer message for {PROJECT_KEY}"),
    _Run("email-7c1e-0005", "SUCCEEDED", 1860, 140),
    _Run("email-7c1e-0006", "SUCCEEDED", 2640, 70),
    _Run("email-7c1e-0007", "SUCCEEDED", 3300, 110),
    _Run("email-7c1e-0008", "FAILED", 3 * 3600, 60, "States.TaskFailed", "Error: spawn node ENOENT"),
)
# failed_executions: what target-surface §5 lists (runtime crash, processing timeout, state machine timeout).
FAILED_RUNS: tuple[_Run, ...] = (
    _Run("email-9f2a-0001", "FAILED", 420, 35, "States.TaskFailed", "Error: spawn /bin/sh ENOENT"),
    _Run("email-9f2a-0002", "FAILED", 900, 600, "ProcessingTimeout", "No result from the container in time"),
    _Run("email-9f2a-0003", "TIMED_OUT", 1300, 1200, "States.Timeout", "State machine timed out"),
    _Run("email-9f2a-0004", "ABORTED", 2000, 200),
)

STATE_MACHINE_DEFINITION = {
    "Comment": "webordinary email processor (sandbox copy; moto does not execute it)",
    "StartAt": "CheckOwnership",
    "States": {
        "CheckOwnership": {
            "Type": "Task", "Resource": "arn:aws:states:::dynamodb:getItem",
            "Parameters": {"TableName": OWNERSHIP_TABLE, "Key": {"projectKey": {"S.$": "$.projectKey"}}},
            "ResultPath": "$.ownership", "Next": "SendToContainer",
        },
        "SendToContainer": {
            "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"QueueUrl.$": "$.queueUrl",
                           "MessageBody": {"taskToken.$": "$$.Task.Token", "instruction.$": "$.instruction"},
                           "MessageGroupId.$": "$.projectKey"},
            "HeartbeatSeconds": 60, "TimeoutSeconds": 3600, "End": True,
        },
    },
}


class QueueControl(Protocol):
    """What the queue side needs from the AWS side (``sandbox.aws_side.AwsSandbox`` provides it)."""

    @property
    def resources(self) -> SeededResources: ...

    def client(self, service: str) -> Any: ...

    def set_service_counts(self, service: str, *, desired: int, running: int, pending: int = 0) -> None: ...


def _moto_now() -> dt.datetime:
    """moto stores naive UTC datetimes; mixing aware ones breaks its sorting."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _backend(control: QueueControl, service: str) -> Any:
    from moto.backends import get_backend

    res = control.resources
    region = "aws" if service == "s3" else res.region  # S3 is global in moto
    return get_backend(service)[res.account_id][region]  # type: ignore[call-overload]


def seed_queue_platform(control: QueueControl) -> dict[str, Any]:
    """Create the queue platform's resources on moto; returns their names, URLs and ARNs (also stored in
    ``control.resources.extra["queue_platform"]``)."""
    res = control.resources
    sqs, sfn, ddb, s3 = (control.client(s) for s in ("sqs", "stepfunctions", "dynamodb", "s3"))

    def queue(name: str, attributes: dict[str, str]) -> tuple[str, str]:
        if name.endswith(".fifo"):
            attributes = {"FifoQueue": "true", **attributes}
        url = str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
        arn = str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
        return url, arn

    dlq_url, dlq_arn = queue(INPUT_DLQ, {"MessageRetentionPeriod": "1209600"})
    intake_dlq_url, _ = queue(INTAKE_DLQ, {"MessageRetentionPeriod": "1209600"})
    input_url, _ = queue(INPUT_QUEUE, {
        "VisibilityTimeout": "3600", "ContentBasedDeduplication": "true",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}),
    })
    unclaimed_url, _ = queue(UNCLAIMED_QUEUE, {"VisibilityTimeout": "300"})
    interrupt_url, _ = queue(INTERRUPT_QUEUE, {"VisibilityTimeout": "60"})

    role_arn = f"arn:aws:iam::{res.account_id}:role/webordinary-email-processor-role"
    state_machine_arn = str(sfn.create_state_machine(
        name=STATE_MACHINE_NAME, definition=json.dumps(STATE_MACHINE_DEFINITION), roleArn=role_arn,
        loggingConfiguration={"level": "ERROR", "includeExecutionData": False},
        tracingConfiguration={"enabled": True},
    )["stateMachineArn"])
    execution_arns = {}
    for run in HEALTHY_RUNS + FAILED_RUNS:
        execution_arns[run.name] = str(sfn.start_execution(
            stateMachineArn=state_machine_arn, name=run.name,
            input=json.dumps({"projectKey": PROJECT_KEY, "queueUrl": input_url}),
        )["executionArn"])

    ddb.create_table(
        TableName=OWNERSHIP_TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "projectKey", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "projectKey", "KeyType": "HASH"}],
    )
    ddb.update_time_to_live(TableName=OWNERSHIP_TABLE,
                            TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})

    s3.create_bucket(Bucket=SITE_BUCKET, CreateBucketConfiguration={"LocationConstraint": res.region})
    s3.put_bucket_website(Bucket=SITE_BUCKET, WebsiteConfiguration={
        "IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "404.html"}})
    s3.put_object(Bucket=SITE_BUCKET, Key="index.html", Body=INDEX_HTML, ContentType="text/html")
    s3.put_object(Bucket=SITE_BUCKET, Key="404.html", Body=NOT_FOUND_HTML, ContentType="text/html")

    seeded: dict[str, Any] = {
        "state_machine_arn": state_machine_arn,
        "execution_arns": execution_arns,
        "queue_urls": {"unclaimed": unclaimed_url, "input": input_url, "interrupts": interrupt_url},
        "dlq_urls": {"input": dlq_url, "intake": intake_dlq_url},
        "ownership_table": OWNERSHIP_TABLE,
        "site_bucket": SITE_BUCKET,
        "queue_name_prefix": QUEUE_PREFIX,
    }
    res.extra["queue_platform"] = seeded
    return seeded


def queue_environment(seeded: Mapping[str, Any], site_urls: list[str], resources: SeededResources) -> dict[str, str]:
    """The canary's queue-profile environment (DESIGN §4) for seeded resources served at ``site_urls``."""
    return {
        "CANARY_PROFILE": QUEUE_PLATFORM,
        "STATE_MACHINE_ARN": str(seeded["state_machine_arn"]),
        "QUEUE_URLS": ",".join(seeded["queue_urls"].values()),
        "DLQ_URLS": ",".join(seeded["dlq_urls"].values()),
        "SITE_URLS": ",".join(site_urls),
        "SITE_BUCKETS": str(seeded["site_bucket"]),
        "OWNERSHIP_TABLE": str(seeded["ownership_table"]),
        "QUEUE_NAME_PREFIX": str(seeded["queue_name_prefix"]),
        "ECS_CLUSTER": resources.cluster,
        "EDIT_SERVICE": resources.edit_service,
    }


class QueueSide:
    """The queue platform on top of a started AWS side: seed, serve the site, render faults.

    Usage: ``QueueSide(aws_sandbox, faults).start()`` after ``AwsSandbox.start()``; ``reset()`` after
    ``AwsSandbox.reset()`` (which scales the edit service back to its session-platform seed); ``stop()`` before
    ``AwsSandbox.stop()``.
    """

    def __init__(self, control: QueueControl, faults: Faults, *, host: str = "127.0.0.1",
                 refresh_interval_s: float = 60.0) -> None:
        self.control = control
        self.faults = faults
        self._host = host
        self._refresh_interval_s = refresh_interval_s
        self._lock = threading.RLock()
        self._seeded: dict[str, Any] | None = None
        self._site: SiteServer | None = None
        self._running = False
        self._dead_task: str | None = None
        self._executions: dict[str, Any] = {}  # moto's Execution objects of the seeded runs, by ARN
        self._listening = False
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> QueueSide:
        with self._lock:
            if self._running:
                return self
            # Seeded once per moto: a QueueSide attached again (e.g. to a shared test sandbox) reuses it.
            seeded = self.control.resources.extra.get("queue_platform")
            self._seeded = seeded if seeded is not None else seed_queue_platform(self.control)
            self._executions = {arn: self._execution(arn) for arn in self.seeded["execution_arns"].values()}
            self._site = SiteServer(self.control, SITE_BUCKET, host=self._host)
            self._site.start()
            self._running = True
            try:
                if not self._listening:
                    self.faults.on_change(self._on_faults)
                    self._listening = True
                self.render()
            except BaseException:
                self.stop()
                raise
        if self._refresh_interval_s > 0:
            self._stop.clear()
            self._refresher = threading.Thread(target=self._refresh_loop, name="sandbox-queue", daemon=True)
            self._refresher.start()
        return self

    def stop(self) -> None:
        """Stop rendering and serving (moto's resources stay: they go with the AWS side)."""
        self._running = False
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join(timeout=5)
            self._refresher = None
        if self._site is not None:
            self._site.stop()
            self._site = None
        with self._lock, contextlib.suppress(Exception):  # moto may already be torn down: nothing to restore
            if self._executions:  # list every seeded execution again, so a later QueueSide finds them all
                machine = self._machine()
                machine.executions[:] = [e for e in machine.executions if e.execution_arn not in self._executions]
                machine.executions.extend(self._executions.values())

    def reset(self) -> None:
        """Back to the healthy queue platform (faults are cleared by the caller's ``Faults.clear``)."""
        with self._lock:
            self._dead_task = None
            self._drop_foreign_executions()
            self.render()

    # -- what callers need --------------------------------------------------------------------------------
    @property
    def seeded(self) -> dict[str, Any]:
        if self._seeded is None:
            raise RuntimeError("QueueSide not started")
        return self._seeded

    @property
    def site_url(self) -> str:
        if self._site is None:
            raise RuntimeError("QueueSide not started")
        return self._site.url

    def environment(self) -> dict[str, str]:
        """Env vars for a canary run of the queue profile against this sandbox (merge over the AWS side's)."""
        return queue_environment(self.seeded, [self.site_url], self.control.resources)

    # -- rendering ----------------------------------------------------------------------------------------
    def _on_faults(self, _snapshot: dict[str, dict[str, str]]) -> None:
        if self._running:
            self.render()

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self._refresh_interval_s):
            if self._running:
                try:
                    self.render()
                except Exception:  # only while tearing down (moto already gone) is an error expected
                    if self._running:
                        raise

    def render(self) -> None:
        """Converge moto onto "healthy queue platform + active faults", relative to now (idempotent)."""
        with self._lock:
            if not self._running:
                return
            faults = self.faults
            now = _moto_now()
            idle = faults.active("idle_tasks")
            no_containers = (faults.active("stuck_message")
                             and faults.param("stuck_message", "mode", "age") == "no_containers")
            tasks = self._render_edit_service(0 if no_containers else 1)
            dead_task = None
            if faults.active("stale_claim") and faults.param("stale_claim", "mode", "stopped") == "stopped":
                dead_task = self._stopped_task(len(tasks))
                tasks = self._edit_tasks()
            self._render_task_starts(tasks, now - dt.timedelta(seconds=IDLE_FOR_S if idle else HEALTHY_TASK_AGE_S))
            shift = IDLE_SHIFT_S if idle else 0.0
            last_success = self._render_executions(now, shift, faults.active("failed_executions"))
            self._render_site(now, last_success, faults.active("stale_site"))
            self._render_claims(now, tasks, dead_task, owned=not (idle or no_containers))
            self._render_messages(now)

    def _render_edit_service(self, wanted: int) -> list[str]:
        """Run ``wanted`` edit tasks; returns their ARNs (oldest first)."""
        res = self.control.resources
        if len(self._edit_tasks()) != wanted:
            self.control.set_service_counts(res.edit_service, desired=wanted, running=wanted)
        return self._edit_tasks()

    def _edit_tasks(self) -> list[str]:
        res = self.control.resources
        listed = self.control.client("ecs").list_tasks(cluster=res.cluster, serviceName=res.edit_service,
                                                       desiredStatus="RUNNING")
        return [str(a) for a in listed.get("taskArns", [])]

    def _render_task_starts(self, arns: list[str], started: dt.datetime) -> None:
        tasks = _backend(self.control, "ecs").tasks[self.control.resources.cluster]
        for arn in arns:
            tasks[arn].started_at = started
            tasks[arn].createdAt = started - dt.timedelta(seconds=30)

    def _render_executions(self, now: dt.datetime, shift_s: float, failing: bool) -> dt.datetime:
        """Date every seeded execution; failed_executions adds the failures. Returns the last success's end."""
        machine = self._machine()
        wanted = list(HEALTHY_RUNS) + (list(FAILED_RUNS) if failing else [])
        seeded_arns = set(self._executions)
        # Foreign executions (e.g. a test's RUNNING one) stay; of the seeded ones, exactly the wanted are listed.
        shown = [e for e in machine.executions if e.execution_arn not in seeded_arns]
        ends: list[dt.datetime] = []
        for run in wanted:
            execution = self._executions[self.seeded["execution_arns"][run.name]]
            stop = now - dt.timedelta(seconds=run.ended_ago_s + shift_s)
            execution.status = run.status
            execution.start_date = stop - dt.timedelta(seconds=run.duration_s)
            execution.stop_date = stop
            execution.error, execution.cause = run.error, run.cause
            if run.status == "SUCCEEDED":
                execution.output = json.dumps({"status": "completed", "projectKey": PROJECT_KEY})
                ends.append(stop)
            shown.append(execution)
        machine.executions[:] = shown
        return max(ends)

    def _execution(self, arn: str) -> Any:
        """moto's Execution object (kept: an execution hidden from the listing must come back with its ARN)."""
        known = {e.execution_arn: e for e in self._machine().executions}
        if arn in known:
            return known[arn]
        if self._executions.get(arn) is not None:
            return self._executions[arn]
        raise RuntimeError(f"seeded execution {arn} is gone from moto")

    def _machine(self) -> Any:
        return _backend(self.control, "stepfunctions").describe_state_machine(self.seeded["state_machine_arn"])

    def _drop_foreign_executions(self) -> None:
        """Forget executions the sandbox did not seed (a test's RUNNING execution)."""
        if self._seeded is None:
            return
        machine = self._machine()
        machine.executions[:] = [e for e in machine.executions if e.execution_arn in self._executions]

    def _render_site(self, now: dt.datetime, last_success: dt.datetime, stale: bool) -> None:
        bucket = _backend(self.control, "s3").buckets[SITE_BUCKET]
        if "index.html" not in bucket.keys:
            self.control.client("s3").put_object(Bucket=SITE_BUCKET, Key="index.html", Body=INDEX_HTML,
                                                 ContentType="text/html")
        written = (last_success - dt.timedelta(seconds=STALE_SITE_BEHIND_S) if stale
                   else now - dt.timedelta(seconds=HEALTHY_SITE_AGE_S))
        bucket.keys["index.html"].last_modified = written

    def _render_claims(self, now: dt.datetime, tasks: list[str], dead_task: str | None, *, owned: bool) -> None:
        ddb = self.control.client("dynamodb")
        existing = ddb.scan(TableName=OWNERSHIP_TABLE, ProjectionExpression="projectKey").get("Items", [])
        claims: dict[str, dict[str, Any]] = {}
        epoch = now.replace(tzinfo=dt.UTC).timestamp()
        if owned and tasks:
            claims[PROJECT_KEY] = self._claim(PROJECT_KEY, tasks[0], epoch, epoch - 420)
        if self.faults.active("stale_claim"):
            mode = self.faults.param("stale_claim", "mode", "stopped")
            key = f"{PROJECT}#alice"
            if mode == "expired" and tasks:
                claims[key] = self._claim(key, tasks[0], epoch - EXPIRED_CLAIM_AGO_S - CLAIM_TTL_S,
                                          epoch - EXPIRED_CLAIM_AGO_S - CLAIM_TTL_S)
            elif mode == "unknown":
                res = self.control.resources
                gone = f"arn:aws:ecs:{res.region}:{res.account_id}:task/{res.cluster}/{uuid.uuid4().hex}"
                claims[key] = self._claim(key, gone, epoch, epoch - 120)
            elif dead_task is not None:
                claims[key] = self._claim(key, dead_task, epoch, epoch - 120)
        for item in existing:
            if item["projectKey"]["S"] not in claims:
                ddb.delete_item(TableName=OWNERSHIP_TABLE, Key={"projectKey": item["projectKey"]})
        for item in claims.values():
            ddb.put_item(TableName=OWNERSHIP_TABLE, Item=item)

    @staticmethod
    def _claim(key: str, task_arn: str, last_activity: float, claimed_at: float) -> dict[str, Any]:
        """An ownership row as the container writes it (ms timestamps, TTL 1 h after the last activity)."""
        return {
            "projectKey": {"S": key},
            "containerId": {"S": f"container-{int(claimed_at * 1000)}-{task_arn[-7:]}"},
            "taskArn": {"S": task_arn},
            "claimedAt": {"N": str(int(claimed_at * 1000))},
            "lastActivity": {"N": str(int(last_activity * 1000))},
            "status": {"S": "active"},
            "ttl": {"N": str(int(last_activity + CLAIM_TTL_S))},
        }

    def _stopped_task(self, running: int) -> str:
        """An edit task ECS reports STOPPED (started by scaling out, stopped by scaling back in), made once."""
        if self._dead_task is None:
            res = self.control.resources
            self.control.set_service_counts(res.edit_service, desired=running + 1, running=running + 1)
            self.control.set_service_counts(res.edit_service, desired=running, running=running)
            ecs = self.control.client("ecs")
            stopped = ecs.list_tasks(cluster=res.cluster, serviceName=res.edit_service,
                                     desiredStatus="STOPPED").get("taskArns", [])
            if not stopped:
                raise RuntimeError("scaling the edit service in stopped no task")
            self._dead_task = str(stopped[-1])
        return self._dead_task

    def _render_messages(self, now: dt.datetime) -> None:
        """Queue contents and their ApproximateAgeOfOldestMessage datapoints."""
        faults = self.faults
        mode = faults.param("stuck_message", "mode", "age")
        stuck = faults.active("stuck_message")
        wanted = {
            INPUT_QUEUE: stuck and mode != "no_containers",
            UNCLAIMED_QUEUE: stuck and mode == "no_containers",
            INTERRUPT_QUEUE: False,
            INPUT_DLQ: faults.active("dlq_message"),
            INTAKE_DLQ: False,
        }
        ages = {INPUT_QUEUE: STUCK_AGE_S if wanted[INPUT_QUEUE] else 0.0,
                UNCLAIMED_QUEUE: NO_CONTAINER_WAIT_S if wanted[UNCLAIMED_QUEUE] else 0.0,
                INTERRUPT_QUEUE: 0.0}
        sqs = self.control.client("sqs")
        backend = _backend(self.control, "sqs")
        for name, want in wanted.items():
            queue = backend.get_queue(name)
            held = len(queue._messages)
            if want and held == 0:
                body = json.dumps({"type": "CLAIM_REQUEST" if name == UNCLAIMED_QUEUE else "WORK",
                                   "projectId": PROJECT, "userId": USER, "messageId": uuid.uuid4().hex})
                extra = ({"MessageGroupId": PROJECT_KEY, "MessageDeduplicationId": uuid.uuid4().hex}
                         if name.endswith(".fifo") else {})
                sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"], MessageBody=body, **extra)
            elif not want and held:
                queue.last_purged_at = None  # moto enforces AWS's one purge per 60 s; the sandbox is the platform
                backend.purge_queue(name)
        cloudwatch = _backend(self.control, "cloudwatch")
        cloudwatch.metric_data = [d for d in cloudwatch.metric_data
                                  if not (d.namespace == SQS_NAMESPACE and d.name in (AGE_METRIC, *DEPTH_METRICS))]
        stamp = now.replace(tzinfo=dt.UTC)
        self.control.client("cloudwatch").put_metric_data(Namespace=SQS_NAMESPACE, MetricData=[
            {"MetricName": AGE_METRIC, "Dimensions": [{"Name": "QueueName", "Value": name}], "Value": age,
             "Unit": "Seconds", "Timestamp": stamp - dt.timedelta(seconds=offset)}
            for name, age in ages.items() for offset in (120, 60, 0)
        ])
        # SQS publishes the depth of every active queue each minute (nobody receives here: nothing in flight).
        depth = {name: {DEPTH_METRICS[0]: float(len(backend.get_queue(name)._messages)), DEPTH_METRICS[1]: 0.0,
                        DEPTH_METRICS[2]: 0.0} for name in wanted}
        data = [{"MetricName": metric, "Dimensions": [{"Name": "QueueName", "Value": name}], "Value": value,
                 "Unit": "Count", "Timestamp": stamp - dt.timedelta(seconds=offset)}
                for name, values in depth.items() for metric, value in values.items() for offset in (120, 60, 0)]
        cw = self.control.client("cloudwatch")
        for start in range(0, len(data), 500):
            cw.put_metric_data(Namespace=SQS_NAMESPACE, MetricData=data[start:start + 500])


class SiteServer:
    """The S3 website endpoint of one bucket on loopback: GET/HEAD ``/path`` serve the bucket's objects
    (``/`` and ``dir/`` → ``index.html``), a missing key answers 404 with ``404.html``."""

    def __init__(self, control: QueueControl, bucket: str, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._control = control
        self._bucket = bucket
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox-site", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def fetch(self, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for a request path, as the S3 website endpoint would answer."""
        key = path.split("?", 1)[0].lstrip("/")
        if not key or key.endswith("/"):
            key += "index.html"
        s3 = self._control.client("s3")
        for status, candidate in ((200, key), (404, "404.html")):
            try:
                obj = s3.get_object(Bucket=self._bucket, Key=candidate)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    continue
                return 503, "text/plain", f"S3 error: {exc}".encode()
            return status, str(obj.get("ContentType") or "application/octet-stream"), obj["Body"].read()
        return 404, "text/plain", b"404 Not Found"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 60

            def do_GET(self) -> None:
                status, content_type, body = site.fetch(self.path)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_HEAD = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
