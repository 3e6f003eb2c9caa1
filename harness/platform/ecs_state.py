"""The ECS view of the platform shared by the probe checks: service states, rollouts, stopped-task reasons.

Several checks judge "should this be serving?" (``ecs.services``, ``alb.targets``, ``http.routing``), so the
answer is read once per run (``ctx.facts.once``) and every check judges the same snapshot. Two things an SRE
expects are encoded here rather than in each check:

- Deploy-aware: a rollout younger than ``deploy_grace_s`` with no failed tasks is ``deploying`` (DEGRADED, not
  paged); older, or with failed tasks, or ``rolloutState`` FAILED, it is ``stuck`` (FAILED).
- Idle is not down: the edit service at desired 0 is the platform's normal resting state (``ServiceState.idle``).
- The platform's CloudFormation stack (``PLATFORM_STACK_NAME``, optional) updating for less than the grace counts
  as deploying too: a readiness/routing failure during it is DEGRADED ``deploying`` (``stack_excuse``).

Read-only: DescribeServices, ListTasks, DescribeTasks and DescribeStacks only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from harness.core.check import CheckContext
from harness.core.errors import CheckFailed, CheckSkipped, DeadlineExceeded, Verdict
from harness.core.model import Reason

DeployStatus = Literal["stable", "deploying", "stuck"]

EVENTS_KEPT = 5
STOPPED_TASKS_KEPT = 5
# ECS stop codes that mean "the task broke", as opposed to a scale-in or a user's StopTask.
FAILURE_STOP_CODES = frozenset({"TaskFailedToStart", "EssentialContainerExited"})
_FACT_KEY = "platform.service_states"
_STACK_FACT_KEY = "platform.stack"
# CloudFormation states in which the stack is changing the platform under the canary's feet.
STACK_BUSY = frozenset({"CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
                        "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
                        "IMPORT_IN_PROGRESS", "IMPORT_ROLLBACK_IN_PROGRESS"})


@dataclass(frozen=True)
class Deployment:
    """One entry of a service's ``deployments`` (PRIMARY is the newest; ACTIVE ones are being replaced)."""

    id: str
    status: str
    rollout_state: str | None
    rollout_reason: str | None
    created_at: datetime | None
    updated_at: datetime | None
    desired: int
    running: int
    pending: int
    failed_tasks: int

    @classmethod
    def from_description(cls, raw: Mapping[str, Any]) -> Deployment:
        return cls(id=str(raw.get("id", "")), status=str(raw.get("status", "")),
                   rollout_state=_opt_str(raw.get("rolloutState")),
                   rollout_reason=_opt_str(raw.get("rolloutStateReason")),
                   created_at=_as_datetime(raw.get("createdAt")), updated_at=_as_datetime(raw.get("updatedAt")),
                   desired=int(raw.get("desiredCount", 0)), running=int(raw.get("runningCount", 0)),
                   pending=int(raw.get("pendingCount", 0)), failed_tasks=int(raw.get("failedTasks", 0)))


@dataclass(frozen=True)
class ServiceEvent:
    at: datetime | None
    message: str


@dataclass(frozen=True)
class ServiceState:
    """An ECS service as DescribeServices saw it at ``read_at``."""

    name: str
    status: str  # ACTIVE | DRAINING | INACTIVE
    desired: int
    running: int
    pending: int
    deployments: tuple[Deployment, ...]
    events: tuple[ServiceEvent, ...]  # newest first, at most EVENTS_KEPT
    target_groups: tuple[str, ...]  # ARNs from the service's loadBalancers
    read_at: datetime

    @classmethod
    def from_description(cls, raw: Mapping[str, Any], *, read_at: datetime | None = None) -> ServiceState:
        """Build from one element of DescribeServices' ``services`` (boto3 shape, datetimes or ISO strings)."""
        events = sorted((ServiceEvent(_as_datetime(e.get("createdAt")), str(e.get("message", "")))
                         for e in raw.get("events", []) or []),
                        key=lambda e: e.at or datetime.min.replace(tzinfo=UTC), reverse=True)
        target_groups = tuple(dict.fromkeys(str(lb["targetGroupArn"]) for lb in raw.get("loadBalancers", []) or []
                                            if lb.get("targetGroupArn")))
        return cls(name=str(raw.get("serviceName", "")), status=str(raw.get("status", "")),
                   desired=int(raw.get("desiredCount", 0)), running=int(raw.get("runningCount", 0)),
                   pending=int(raw.get("pendingCount", 0)),
                   deployments=tuple(Deployment.from_description(d) for d in raw.get("deployments", []) or []),
                   events=tuple(events[:EVENTS_KEPT]), target_groups=target_groups,
                   read_at=read_at or datetime.now(UTC))

    @property
    def idle(self) -> bool:
        """Scaled to zero on purpose: nothing should serve, and nothing is wrong."""
        return self.desired == 0

    @property
    def primary(self) -> Deployment | None:
        for deployment in self.deployments:
            if deployment.status == "PRIMARY":
                return deployment
        return self.deployments[0] if self.deployments else None

    def age_s(self, moment: datetime | None) -> float | None:
        if moment is None:
            return None
        return max(0.0, (self.read_at - moment).total_seconds())

    def evidence(self) -> dict[str, Any]:
        """JSON-ready white-box evidence: counts, deployments with ages, recent events, target groups."""
        return {
            "status": self.status, "desired": self.desired, "running": self.running, "pending": self.pending,
            "deployments": [
                {"id": d.id, "status": d.status, "rolloutState": d.rollout_state, "desired": d.desired,
                 "running": d.running, "pending": d.pending, "failedTasks": d.failed_tasks,
                 "age_s": _round(self.age_s(d.created_at)), "rolloutStateReason": d.rollout_reason}
                for d in self.deployments
            ],
            "events": [{"at": e.at.isoformat() if e.at else None, "message": e.message[:300]} for e in self.events],
            "target_groups": [target_group_name(arn) for arn in self.target_groups],
        }


@dataclass(frozen=True)
class DeployAssessment:
    """``deploy_status`` with the sentence that explains it (for messages)."""

    status: DeployStatus
    why: str


def assess_deploy(state: ServiceState, grace_s: float) -> DeployAssessment:
    """Is a rollout (or scale-out) under way, and is it healthy?

    - any deployment with ``rolloutState`` FAILED -> stuck;
    - a rollout (a deployment IN_PROGRESS, or old ACTIVE deployments still being replaced): failed tasks or older
      than ``grace_s`` -> stuck, else deploying;
    - no rollout, but fewer running than desired with tasks PENDING and the primary deployment changed within
      ``grace_s`` (a scale-out, e.g. Hermes starting an edit task): deploying; older -> stuck;
    - otherwise stable (a plain running < desired with nothing pending is for the caller to judge).
    """
    failed = [d for d in state.deployments if (d.rollout_state or "").upper() == "FAILED"]
    if failed:
        d = failed[0]
        return DeployAssessment("stuck", f"rollout {d.id} FAILED: {d.rollout_reason or 'no reason given'}")
    rolling = [d for d in state.deployments if (d.rollout_state or "").upper() == "IN_PROGRESS"]
    if len(state.deployments) > 1:
        rolling = list(state.deployments)
    if rolling:
        newest = state.primary if state.primary in rolling else rolling[0]
        # Failed tasks of the deployment being rolled out (an old ACTIVE one's history does not count).
        failed_tasks = sum(d.failed_tasks for d in rolling
                           if d is newest or (d.rollout_state or "").upper() == "IN_PROGRESS")
        age = state.age_s(newest.created_at if newest else None)
        if failed_tasks:
            return DeployAssessment("stuck", f"rollout has {failed_tasks} failed task(s)")
        if age is not None and age > grace_s:
            return DeployAssessment("stuck", f"rollout started {age:.0f} s ago (grace {grace_s:g} s)")
        return DeployAssessment("deploying", f"rollout in progress for {_fmt_age(age)}")
    if state.running < state.desired and state.pending > 0:
        primary = state.primary
        changed = state.age_s((primary.updated_at or primary.created_at) if primary else None)
        if changed is not None and changed > grace_s:
            return DeployAssessment("stuck", f"{state.pending} task(s) pending for over {changed:.0f} s "
                                             f"(grace {grace_s:g} s)")
        return DeployAssessment("deploying", f"scaling out: {state.running}/{state.desired} running, "
                                             f"{state.pending} pending")
    return DeployAssessment("stable", "no rollout in progress")


def deploy_status(state: ServiceState, grace_s: float) -> DeployStatus:
    """"stable" | "deploying" (young rollout, no failed tasks) | "stuck" (see ``assess_deploy``)."""
    return assess_deploy(state, grace_s).status


@dataclass(frozen=True)
class ServiceStates:
    """The watched services of one run: found ones by name, and the ones ECS reported missing (with why)."""

    found: Mapping[str, ServiceState]
    missing: Mapping[str, str]

    def get(self, name: str | None) -> ServiceState | None:
        return self.found.get(name) if name else None

    def owner_of(self, target_group_arn: str) -> ServiceState | None:
        """The watched service whose loadBalancers attach this target group."""
        for state in self.found.values():
            if target_group_arn in state.target_groups:
                return state
        return None


def watched_services(ctx: CheckContext) -> tuple[str, ...]:
    return tuple(n for n in (ctx.config.hermes_service, ctx.config.edit_service) if n)


def read_service_states(ctx: CheckContext) -> ServiceStates:
    """DescribeServices for the watched services, now (uncached: a journey that scales needs fresh counts)."""
    cluster = ctx.config.ecs_cluster
    names = watched_services(ctx)
    if not cluster or not names:
        raise CheckSkipped(Reason.NOT_CONFIGURED, "not configured: set ECS_CLUSTER, HERMES_SERVICE, EDIT_SERVICE")
    response = ctx.aws.ecs.describe_services(cluster=cluster, services=list(names))
    read_at = datetime.now(UTC)
    found = {str(s["serviceName"]): ServiceState.from_description(s, read_at=read_at)
             for s in response.get("services", [])}
    missing: dict[str, str] = {}
    for failure in response.get("failures", []):
        name = str(failure.get("arn", "")).rsplit("/", 1)[-1]
        if name in names and name not in found:
            missing[name] = str(failure.get("reason", "MISSING"))
    for name in names:
        if name not in found and name not in missing:
            missing[name] = "MISSING"
    return ServiceStates(found=found, missing=missing)


def service_states(ctx: CheckContext) -> ServiceStates:
    """The watched services, read once per run and shared by every check of the run."""
    return ctx.facts.once(_FACT_KEY, lambda: read_service_states(ctx))


def service_state(ctx: CheckContext, service_name: str) -> ServiceState:
    """One watched service from the run's snapshot; FAILED ``resource_missing`` when ECS does not know it."""
    states = service_states(ctx)
    state = states.get(service_name)
    if state is None:
        why = states.missing.get(service_name, "not watched")
        raise CheckFailed(Reason.RESOURCE_MISSING, f"ECS service {service_name} not found in cluster "
                                                   f"{ctx.config.ecs_cluster} ({why})", {"service": service_name})
    return state


@dataclass(frozen=True)
class StackUpdate:
    """The platform's CloudFormation stack while an operation is under way on it."""

    name: str
    status: str
    since: datetime | None  # LastUpdatedTime (CreationTime for a stack being created)
    read_at: datetime

    @property
    def age_s(self) -> float | None:
        return max(0.0, (self.read_at - self.since).total_seconds()) if self.since else None

    @property
    def why(self) -> str:
        return f"stack {self.name} {self.status} for {_fmt_age(self.age_s)}"

    def evidence(self) -> dict[str, Any]:
        return {"stack": self.name, "status": self.status, "age_s": _round(self.age_s)}


def _read_stack(ctx: CheckContext, name: str) -> StackUpdate | None:
    stacks = ctx.aws.cloudformation.describe_stacks(StackName=name).get("Stacks", [])
    if not stacks:
        return None
    stack = stacks[0]
    status = str(stack.get("StackStatus", ""))
    if status not in STACK_BUSY:
        return None
    since = _as_datetime(stack.get("LastUpdatedTime")) or _as_datetime(stack.get("CreationTime"))
    return StackUpdate(name=name, status=status, since=since, read_at=datetime.now(UTC))


def stack_excuse(ctx: CheckContext) -> StackUpdate | None:
    """The platform stack's update if one is under way and younger than the grace (read once per run); None when
    no stack is configured, it is not updating, the update outlived the grace, or the stack cannot be read."""
    name = ctx.config.platform_stack_name
    if not name:
        return None
    try:
        update = ctx.facts.once(_STACK_FACT_KEY, lambda: _read_stack(ctx, name))
    except DeadlineExceeded:
        raise
    except Verdict:
        return None
    if update is None or (update.age_s is not None and update.age_s > ctx.config.deploy_grace_s):
        return None
    return update


@dataclass(frozen=True)
class DeployExcuse:
    """A watched service's young, healthy-so-far rollout (or the platform stack's young update): why its
    readiness failure is not (yet) an outage."""

    state: ServiceState
    assessment: DeployAssessment
    stack: StackUpdate | None = None

    def evidence(self) -> dict[str, Any]:
        evidence = {"service": self.state.name, "why": self.assessment.why, **self.state.evidence()}
        if self.stack is not None:
            evidence["stack_update"] = self.stack.evidence()
        return {"deploying": evidence}


def deploying_excuse(ctx: CheckContext, service_name: str | None) -> DeployExcuse | None:
    """The service's rollout if it is ``deploying`` (DESIGN §3: readiness and routing failures of that service are
    then DEGRADED ``deploying``), or the platform stack's young update while the service itself looks stable;
    None when it is stuck, nothing is deploying, or ECS cannot be read (no excuse without evidence: the failure
    stands). Reads the run's shared ECS snapshot."""
    if not service_name:
        return None
    try:
        states = service_states(ctx)
    except DeadlineExceeded:
        raise
    except Verdict:
        return None
    state = states.get(service_name)
    if state is None:
        return None
    assessment = assess_deploy(state, ctx.config.deploy_grace_s)
    if assessment.status == "deploying":
        return DeployExcuse(state, assessment)
    stack = stack_excuse(ctx) if assessment.status == "stable" else None
    return DeployExcuse(state, DeployAssessment("deploying", stack.why), stack) if stack is not None else None


def stopped_task_reasons(ctx: CheckContext, service: str, *, limit: int = STOPPED_TASKS_KEPT) -> list[dict[str, Any]]:
    """Why the service's recently stopped tasks stopped (newest first): stop code, reason, container exits."""
    cluster = ctx.config.ecs_cluster
    listed = ctx.aws.ecs.list_tasks(cluster=cluster, serviceName=service, desiredStatus="STOPPED", maxResults=100)
    arns = list(listed.get("taskArns", []))
    if not arns:
        return []
    tasks = ctx.aws.ecs.describe_tasks(cluster=cluster, tasks=arns[:100]).get("tasks", [])
    return summarise_stopped_tasks(tasks, service, limit=limit)


def summarise_stopped_tasks(tasks: Iterable[Mapping[str, Any]], service: str, *,
                            limit: int = STOPPED_TASKS_KEPT) -> list[dict[str, Any]]:
    """The evidence form of DescribeTasks output, keeping only this service's tasks (group ``service:<name>``)."""
    own = [t for t in tasks if t.get("group") in (None, f"service:{service}")]
    own.sort(key=lambda t: _as_datetime(t.get("stoppedAt")) or datetime.min.replace(tzinfo=UTC), reverse=True)
    summary = []
    for task in own[:limit]:
        stopped_at = _as_datetime(task.get("stoppedAt"))
        summary.append({
            "task": str(task.get("taskArn", "")).rsplit("/", 1)[-1],
            "stoppedAt": stopped_at.isoformat() if stopped_at else None,
            "stopCode": task.get("stopCode"),
            "stoppedReason": str(task.get("stoppedReason", ""))[:300],
            "containers": [{"name": c.get("name"), "exitCode": c.get("exitCode"),
                            "reason": str(c.get("reason", ""))[:200] or None}
                           for c in task.get("containers", []) or []],
        })
    return summary


def failed_stops(stopped: Iterable[Mapping[str, Any]], *, since: datetime) -> list[Mapping[str, Any]]:
    """Stopped tasks (``summarise_stopped_tasks`` form) that broke (not scale-in) at or after ``since``."""
    broken = []
    for task in stopped:
        at = _as_datetime(task.get("stoppedAt"))
        if task.get("stopCode") in FAILURE_STOP_CODES and at is not None and at >= since:
            broken.append(task)
    return broken


def target_group_name(arn: str) -> str:
    """``arn:...:targetgroup/<name>/<id>`` -> name (readable evidence)."""
    parts = arn.split(":", 5)[-1].split("/")
    return parts[1] if len(parts) >= 3 and parts[0] == "targetgroup" else arn


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _opt_str(value: Any) -> str | None:
    return str(value) if value is not None else None


def _round(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def _fmt_age(age: float | None) -> str:
    return f"{age:.0f} s" if age is not None else "an unknown time"
