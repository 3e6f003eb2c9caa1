"""The queue platform as its probe checks see it: executions, queues, edit tasks (read once per run, shared).

Several checks judge the same observations (the last successful execution dates the site; queue depths and
running executions decide whether edit tasks are idle), so each observation is read once per run through
``ctx.facts.once`` and every check judges the same snapshot.

Read-only by construction: ListExecutions/DescribeExecution, ListQueues/GetQueueAttributes, CloudWatch
GetMetricData, DescribeServices/ListTasks/DescribeTasks. Never ReceiveMessage (DESIGN §1): a receive raises the
message's receive count and can push real work into a dead-letter queue; depth comes from GetQueueAttributes and
age from the ``ApproximateAgeOfOldestMessage`` metric.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from harness.core.check import CheckContext
from harness.core.errors import CheckFailed
from harness.core.model import Reason

ENDED_STATUSES = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
FAILURE_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")
# An execution that ended inside the window may have started before it; list back this far before the window.
# The email processor's longest wait is its 3600 s task token (target-surface §4); a day leaves ample margin.
LONGEST_EXECUTION_S = 86_400.0
# SQS publishes its metrics every minute for active queues; the newest datapoint in this lookback is "now".
AGE_LOOKBACK_S = 900.0
_SQS_ATTRIBUTES = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                   "ApproximateNumberOfMessagesDelayed"]
_DLQ_TOKEN = re.compile(r"(?:^|-)dlq(?:-|$)")


def now_utc() -> datetime:
    return datetime.now(UTC)


def as_utc(value: Any) -> datetime | None:
    """A boto3 timestamp (aware datetime, naive = UTC) or epoch number as an aware UTC datetime."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value) / 1000.0 if value > 1e11 else float(value)  # epoch milliseconds vs seconds
        return datetime.fromtimestamp(seconds, UTC)
    return None


def human_duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``2 h 5 min``: for messages an operator reads at 3 a.m."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


# ---------------------------------------------------------------------------------------------------------------
# Step Functions
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Execution:
    """One ListExecutions entry. ``ended`` is stopDate, or startDate when AWS left stopDate out (see below)."""

    arn: str
    name: str
    status: str
    start: datetime
    stop: datetime | None

    @property
    def duration_s(self) -> float | None:
        return (self.stop - self.start).total_seconds() if self.stop else None

    def ended_since(self, since: datetime) -> bool:
        """Did it end at or after ``since``? Without a stopDate, a start inside the window proves it (it ended
        after it started and before now); a start before the window proves nothing, so it is not counted."""
        if self.stop is not None:
            return self.stop >= since
        return self.start >= since


def window_start(ctx: CheckContext) -> datetime:
    """Start of the execution window (``CANARY_EXECUTION_WINDOW_S``), fixed once per run."""
    started: datetime = ctx.facts.once("queue.window_start",
                                       lambda: now_utc() - timedelta(seconds=ctx.config.execution_window_s))
    return started


def executions(ctx: CheckContext, status: str) -> tuple[Execution, ...]:
    """Executions of the state machine with ``status``, newest start first, back to the window start minus the
    longest execution (at least one page, so the latest success is known even when it is older)."""
    return ctx.facts.once(f"queue.executions.{status}", lambda: _list_executions(ctx, status))


def _list_executions(ctx: CheckContext, status: str) -> tuple[Execution, ...]:
    arn = ctx.config.state_machine_arn
    cutoff = window_start(ctx) - timedelta(seconds=LONGEST_EXECUTION_S)
    found: list[Execution] = []
    paginator = ctx.aws.stepfunctions.get_paginator("list_executions")
    for page in paginator.paginate(stateMachineArn=arn, statusFilter=status,
                                   PaginationConfig={"PageSize": 1000}):
        items = [_execution(raw) for raw in page.get("executions", [])]
        found.extend(items)
        if not items or min(e.start for e in items) < cutoff:
            break
    return tuple(found)


def _execution(raw: Mapping[str, Any]) -> Execution:
    start = as_utc(raw.get("startDate")) or now_utc()
    return Execution(arn=str(raw.get("executionArn", "")), name=str(raw.get("name", "")),
                     status=str(raw.get("status", "")), start=start, stop=as_utc(raw.get("stopDate")))


def ended_in_window(ctx: CheckContext, status: str) -> list[Execution]:
    since = window_start(ctx)
    return [e for e in executions(ctx, status) if e.ended_since(since)]


def last_success(ctx: CheckContext) -> Execution | None:
    """The successful execution that ended last (None if none is listed)."""
    done = [e for e in executions(ctx, "SUCCEEDED") if e.stop is not None]
    return max(done, key=lambda e: e.stop or e.start, default=None)


# DescribeExecution calls one run may spend finding each site's project's latest success (newest first).
MAX_PROJECT_DESCRIBES = 100
# Leading bucket labels that name a site's role, not its project (``edit.amelia.webordinary.com``).
_SITE_ROLE_LABELS = frozenset({"edit", "www", "preview", "staging"})


def project_of_input(text: Any) -> str | None:
    """The project an email-processor execution works for: its input's ``projectId``, or the part of its
    ``projectKey`` (``project#user``, the ownership key) before ``#``; None when the input says neither."""
    try:
        data = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    project = data.get("projectId")
    if isinstance(project, str) and project:
        return project
    key = data.get("projectKey")
    if isinstance(key, str) and key:
        return key.split("#", 1)[0] or None
    return None


def project_of_bucket(bucket: str) -> str | None:
    """A site bucket's project by the platform's naming: ``edit.amelia.webordinary.com`` → ``amelia``."""
    labels = [label for label in bucket.lower().split(".") if label]
    while labels and labels[0] in _SITE_ROLE_LABELS:
        labels.pop(0)
    return labels[0] if len(labels) >= 2 else None


def execution_project(ctx: CheckContext, execution: Execution) -> str | None:
    """The project of one execution (DescribeExecution's input), read once per run."""
    return ctx.facts.once(
        f"queue.execution_project.{execution.arn}",
        lambda: project_of_input(ctx.aws.stepfunctions.describe_execution(executionArn=execution.arn).get("input")))


def last_success_by_project(ctx: CheckContext, projects: Iterable[str],
                            limit: int = MAX_PROJECT_DESCRIBES) -> dict[str, Execution]:
    """The latest successful execution of each project, walking successes newest-end first until every project
    has one or ``limit`` executions were described (a project missing from the result has no recent success)."""
    wanted = set(projects)
    found: dict[str, Execution] = {}
    done = sorted((e for e in executions(ctx, "SUCCEEDED") if e.stop is not None),
                  key=lambda e: e.stop or e.start, reverse=True)
    for execution in done[:limit]:
        if found.keys() >= wanted:
            break
        project = execution_project(ctx, execution)
        if project in wanted and project not in found:
            found[project] = execution
    return found


def last_activity(ctx: CheckContext) -> datetime | None:
    """When the state machine last finished anything (any ended status)."""
    ends = [e.stop or e.start for status in ENDED_STATUSES for e in executions(ctx, status)]
    return max(ends, default=None)


def running_executions(ctx: CheckContext) -> tuple[Execution, ...]:
    """RUNNING executions (first page: enough to know whether work is in flight)."""

    def compute() -> tuple[Execution, ...]:
        response = ctx.aws.stepfunctions.list_executions(stateMachineArn=ctx.config.state_machine_arn,
                                                         statusFilter="RUNNING", maxResults=100)
        return tuple(_execution(raw) for raw in response.get("executions", []))

    return ctx.facts.once("queue.executions.RUNNING", compute)


# ---------------------------------------------------------------------------------------------------------------
# SQS
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class QueueRef:
    """A platform queue: its URL, name and role (``dlq``, ``unclaimed``, ``input``, ``interrupts``, ``other``)."""

    url: str
    name: str
    kind: str


@dataclass(frozen=True)
class Depth:
    """GetQueueAttributes' approximate counts."""

    visible: int
    in_flight: int
    delayed: int

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed

    def evidence(self) -> dict[str, int]:
        return {"visible": self.visible, "in_flight": self.in_flight, "delayed": self.delayed}


def queue_kind(name: str, prefix: str) -> str:
    """Role of a queue from its name (target-surface §4 naming: ``{prefix}input-{project}-{user}.fifo`` ...)."""
    stem = name[len(prefix):] if name.startswith(prefix) else name
    stem = stem.removesuffix(".fifo")
    if _DLQ_TOKEN.search(stem):
        return "dlq"
    for kind in ("unclaimed", "input", "interrupts"):
        if stem == kind or stem.startswith(kind + "-"):
            return kind
    return "other"


def queue_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def platform_queues(ctx: CheckContext) -> tuple[QueueRef, ...]:
    """Every queue whose name starts with ``QUEUE_NAME_PREFIX`` (ListQueues, paginated), classified by name."""

    def compute() -> tuple[QueueRef, ...]:
        prefix = ctx.config.queue_name_prefix
        urls: list[str] = []
        paginator = ctx.aws.sqs.get_paginator("list_queues")
        for page in paginator.paginate(QueueNamePrefix=prefix, PaginationConfig={"PageSize": 1000}):
            urls.extend(str(u) for u in page.get("QueueUrls", []) or [])
        return tuple(QueueRef(u, queue_name(u), queue_kind(queue_name(u), prefix)) for u in sorted(set(urls)))

    return ctx.facts.once("queue.platform_queues", compute)


def dead_letter_queues(ctx: CheckContext) -> tuple[tuple[QueueRef, ...], str]:
    """The DLQs to watch and where they came from: ``DLQ_URLS``, else every queue under the prefix whose name
    has a ``dlq`` token (``webordinary-dlq-…``, ``webordinary-intake-lambda-dlq``, ``webordinary-email-dlq``)."""
    if ctx.config.dlq_urls:
        return tuple(QueueRef(u, queue_name(u), "dlq") for u in ctx.config.dlq_urls), "DLQ_URLS"
    found = tuple(q for q in platform_queues(ctx) if q.kind == "dlq")
    return found, f"ListQueues prefix {ctx.config.queue_name_prefix!r}"


def work_queues(ctx: CheckContext) -> tuple[tuple[QueueRef, ...], str]:
    """The unclaimed, input and interrupt queues: ``QUEUE_URLS``, else discovered under the prefix."""
    prefix = ctx.config.queue_name_prefix
    if ctx.config.queue_urls:
        refs = []
        for url in ctx.config.queue_urls:
            kind = queue_kind(queue_name(url), prefix)
            refs.append(QueueRef(url, queue_name(url), "other" if kind == "dlq" else kind))
        return tuple(refs), "QUEUE_URLS"
    found = tuple(q for q in platform_queues(ctx) if q.kind in ("unclaimed", "input", "interrupts"))
    return found, f"ListQueues prefix {prefix!r}"


def queue_depth(ctx: CheckContext, queue: QueueRef) -> Depth:
    """Approximate visible / in-flight / delayed counts (GetQueueAttributes), once per run per queue."""

    def compute() -> Depth:
        attrs = ctx.aws.sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=_SQS_ATTRIBUTES)
        values = attrs.get("Attributes", {}) or {}
        return Depth(visible=int(values.get("ApproximateNumberOfMessages", 0)),
                     in_flight=int(values.get("ApproximateNumberOfMessagesNotVisible", 0)),
                     delayed=int(values.get("ApproximateNumberOfMessagesDelayed", 0)))

    return ctx.facts.once(f"queue.depth.{queue.url}", compute)


def queue_depths(ctx: CheckContext, queues: Sequence[QueueRef]) -> dict[QueueRef, Depth]:
    """Depth of every queue with AWS calls that grow as O(N / 500), not O(N).

    Up to ``DIRECT_DEPTH_LIMIT`` queues are read exactly (GetQueueAttributes each). Beyond that, CloudWatch's
    ``AWS/SQS`` depth metrics screen them in GetMetricData batches of 500 queries: SQS publishes them every
    minute for every active queue, and a queue is active while it contains any message. A queue whose newest
    ``EMPTY_DATAPOINTS`` datapoints of all three counts are zero is empty (AWS: "make sure that you see multiple
    consecutive zero data points before considering that queue empty"), and one with no datapoint in the lookback
    is inactive, hence empty; every other queue — something counted, or too few datapoints to tell — is confirmed
    with GetQueueAttributes. Never ReceiveMessage.
    """
    if len(queues) <= DIRECT_DEPTH_LIMIT:
        return {q: queue_depth(ctx, q) for q in queues}
    names = sorted({q.name for q in queues})
    points = ctx.facts.once("queue.depth_metrics." + ",".join(names), lambda: _depth_metrics(ctx, names))
    depths: dict[QueueRef, Depth] = {}
    for queue in queues:
        series = points.get(queue.name, {})
        if not any(series.values()):
            depths[queue] = Depth(0, 0, 0)  # inactive: SQS publishes for any queue holding a message
            continue
        newest = [values[:EMPTY_DATAPOINTS] for values in series.values()]
        if all(len(values) >= EMPTY_DATAPOINTS and not any(values) for values in newest):
            depths[queue] = Depth(0, 0, 0)
            continue
        depths[queue] = queue_depth(ctx, queue)
    return depths


# GetQueueAttributes for each queue below this count (exact and cheap); the metric screen above it.
DIRECT_DEPTH_LIMIT = 20
EMPTY_DATAPOINTS = 3
_DEPTH_METRICS = ("ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible",
                  "ApproximateNumberOfMessagesDelayed")


def _depth_metrics(ctx: CheckContext, names: Sequence[str]) -> dict[str, dict[str, list[float]]]:
    """{queue: {metric: values newest first}} for the three SQS depth metrics over the lookback."""
    wanted = [(name, metric) for name in names for metric in _DEPTH_METRICS]
    found: dict[str, dict[str, list[float]]] = {name: {m: [] for m in _DEPTH_METRICS} for name in names}
    for batch, results in _metric_batches(ctx, wanted):
        for index, values in results.items():
            name, metric = batch[index]
            found[name][metric] = values
    return found


def _metric_batches(ctx: CheckContext, wanted: Sequence[tuple[str, str]]
                    ) -> Iterable[tuple[Sequence[tuple[str, str]], dict[int, list[float]]]]:
    """GetMetricData over (queue name, AWS/SQS metric) pairs, 500 queries a call (its limit), Maximum per minute;
    yields each batch with {index in batch: values newest first}."""
    end = now_utc() + timedelta(minutes=1)
    start = end - timedelta(seconds=AGE_LOOKBACK_S + 60)
    for offset in range(0, len(wanted), 500):
        batch = wanted[offset:offset + 500]
        queries = [{
            "Id": f"q{i}",
            "MetricStat": {"Metric": {"Namespace": "AWS/SQS", "MetricName": metric,
                                      "Dimensions": [{"Name": "QueueName", "Value": name}]},
                           "Period": 60, "Stat": "Maximum"},
            "ReturnData": True,
        } for i, (name, metric) in enumerate(batch)]
        results: dict[int, list[float]] = {}
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end,
                                      "ScanBy": "TimestampDescending"}
            if token:
                kwargs["NextToken"] = token
            response = ctx.aws.cloudwatch.get_metric_data(**kwargs)
            for result in response.get("MetricDataResults", []):
                points = sorted(zip(result.get("Timestamps", []), result.get("Values", []), strict=False),
                                key=lambda p: p[0], reverse=True)
                results.setdefault(int(str(result["Id"])[1:]), []).extend(float(v) for _t, v in points)
            token = response.get("NextToken")
            if not token:
                break
        yield batch, results


def oldest_message_ages(ctx: CheckContext, names: Sequence[str]) -> dict[str, float | None]:
    """Newest ``AWS/SQS ApproximateAgeOfOldestMessage`` (seconds) per queue name within ``AGE_LOOKBACK_S``;
    None when CloudWatch has no datapoint (SQS stops publishing for queues inactive for hours)."""
    ages: dict[str, float | None] = {name: None for name in names}
    for batch, results in _metric_batches(ctx, [(name, "ApproximateAgeOfOldestMessage") for name in names]):
        for index, values in results.items():
            name = batch[index][0]
            if values and ages[name] is None:
                ages[name] = values[0]
    return ages


# ---------------------------------------------------------------------------------------------------------------
# ECS (the edit service the containers run in)
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EditService:
    """The edit service's counts (DescribeServices)."""

    name: str
    desired: int
    running: int
    pending: int


@dataclass(frozen=True)
class TaskState:
    """One task as DescribeTasks saw it."""

    arn: str
    last_status: str
    desired_status: str
    started_at: datetime | None
    stopped_reason: str

    @property
    def id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]

    @property
    def alive(self) -> bool:
        return self.last_status != "STOPPED" and self.desired_status != "STOPPED"


def edit_service(ctx: CheckContext) -> EditService:
    """The edit service's desired/running/pending, once per run; FAILED ``resource_missing`` if ECS lacks it."""

    def compute() -> EditService:
        cluster, name = ctx.config.ecs_cluster, str(ctx.config.edit_service)
        response = ctx.aws.ecs.describe_services(cluster=cluster, services=[name])
        for svc in response.get("services", []):
            if svc.get("serviceName") == name and svc.get("status") != "INACTIVE":
                return EditService(name, int(svc.get("desiredCount", 0)), int(svc.get("runningCount", 0)),
                                   int(svc.get("pendingCount", 0)))
        raise CheckFailed(Reason.RESOURCE_MISSING, f"ECS service {name} not found in cluster {cluster}",
                          {"service": name, "failures": response.get("failures", [])[:3]})

    return ctx.facts.once("queue.edit_service", compute)


def describe_tasks(ctx: CheckContext, tasks: Iterable[str]) -> dict[str, TaskState | None]:
    """DescribeTasks (batches of 100) by ARN or id; None for a task ECS does not know (gone ~1 h after it
    stopped)."""
    wanted = list(dict.fromkeys(tasks))
    found: dict[str, TaskState | None] = {t: None for t in wanted}
    for offset in range(0, len(wanted), 100):
        batch = wanted[offset:offset + 100]
        response = ctx.aws.ecs.describe_tasks(cluster=ctx.config.ecs_cluster, tasks=batch)
        for raw in response.get("tasks", []):
            state = TaskState(arn=str(raw.get("taskArn", "")), last_status=str(raw.get("lastStatus", "")),
                              desired_status=str(raw.get("desiredStatus", "")),
                              started_at=as_utc(raw.get("startedAt")),
                              stopped_reason=str(raw.get("stoppedReason", "") or ""))
            for key in batch:
                if key == state.arn or key.rsplit("/", 1)[-1] == state.id:
                    found[key] = state
    return found


def running_edit_tasks(ctx: CheckContext) -> tuple[TaskState, ...]:
    """The edit service's tasks that are not stopped (ListTasks desiredStatus RUNNING + DescribeTasks), once."""

    def compute() -> tuple[TaskState, ...]:
        arns: list[str] = []
        paginator = ctx.aws.ecs.get_paginator("list_tasks")
        for page in paginator.paginate(cluster=ctx.config.ecs_cluster, serviceName=ctx.config.edit_service,
                                       desiredStatus="RUNNING"):
            arns.extend(str(a) for a in page.get("taskArns", []))
        if not arns:
            return ()
        states = describe_tasks(ctx, arns)
        return tuple(s for s in states.values() if s is not None and s.alive)

    return ctx.facts.once("queue.edit_tasks", compute)
