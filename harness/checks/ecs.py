"""ECS checks: the cluster exists and is active; Hermes and the edit service run what they should.

Read-only (DescribeClusters, DescribeServices, ListTasks, DescribeTasks): the seed-era harness scaled these
services to zero; this canary never calls UpdateService or anything else that writes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from harness.core.check import CheckContext, check
from harness.core.errors import CheckFailed
from harness.core.model import Reason
from harness.platform import ecs_state

_ACTIVE_CLUSTER = "ACTIVE"


@check("ecs.cluster", timeout_s=20)
def ecs_cluster(ctx: CheckContext) -> None:
    name = ctx.config.ecs_cluster
    with ctx.step("ecs.describe_clusters"):
        response = ctx.aws.ecs.describe_clusters(clusters=[name], include=["SETTINGS", "STATISTICS"])
    clusters = response.get("clusters", [])
    if not clusters:
        failures = [f.get("reason") for f in response.get("failures", [])]
        why = ", ".join(map(str, failures)) or "no answer"
        raise ctx.fail(Reason.RESOURCE_MISSING, f"ECS cluster {name} not found ({why})",
                       {"cluster": name, "failures": failures})
    cluster = clusters[0]
    status = str(cluster.get("status", ""))
    settings = {str(s.get("name")): s.get("value") for s in cluster.get("settings", []) or []}
    ctx.evidence.update({
        "cluster": name, "status": status,
        "running_tasks": cluster.get("runningTasksCount"), "pending_tasks": cluster.get("pendingTasksCount"),
        "active_services": cluster.get("activeServicesCount"),
        "container_insights": settings.get("containerInsights"),
    })
    if status == "INACTIVE":
        raise ctx.fail(Reason.RESOURCE_MISSING, f"ECS cluster {name} is INACTIVE (deleted)")
    if status != _ACTIVE_CLUSTER:
        raise ctx.fail(Reason.RESOURCE_UNAVAILABLE, f"ECS cluster {name} is {status or 'in an unknown state'}, "
                                                    "not ACTIVE")
    ctx.note(f"{name} ACTIVE: {cluster.get('runningTasksCount', 0)} running, "
             f"{cluster.get('pendingTasksCount', 0)} pending tasks")


@check("ecs.services", timeout_s=25)
def ecs_services(ctx: CheckContext) -> None:
    cfg = ctx.config
    with ctx.step("ecs.describe_services"):
        states = ecs_state.service_states(ctx)
    failures: list[CheckFailed] = []
    degraded: list[tuple[Reason, str]] = []
    for name in ecs_state.watched_services(ctx):
        is_hermes = name == cfg.hermes_service
        label = "Hermes" if is_hermes else "edit"
        state = states.get(name)
        if state is None:
            ctx.evidence[name] = {"status": states.missing.get(name, "MISSING")}
            failures.append(CheckFailed(Reason.RESOURCE_MISSING,
                                        f"{label} service {name} not found in {cfg.ecs_cluster}"))
            continue
        ctx.evidence[name] = state.evidence()
        verdict = _judge_service(ctx, state, label=label, is_hermes=is_hermes)
        if isinstance(verdict, CheckFailed):
            failures.append(verdict)
        elif verdict is not None:
            degraded.append(verdict)
    if failures:
        first = failures[0]
        message = "; ".join(f.message for f in failures)
        raise ctx.fail(first.reason, message)
    for reason, message in degraded:
        ctx.degrade(reason, message)


def _judge_service(ctx: CheckContext, state: ecs_state.ServiceState, *, label: str,
                   is_hermes: bool) -> CheckFailed | tuple[Reason, str] | None:
    """FAILED verdict, (DEGRADED reason, message), or None (fine; notes added)."""
    name = state.name
    counts = f"{state.running}/{state.desired} running, {state.pending} pending"
    if state.status != "ACTIVE":
        return CheckFailed(Reason.RESOURCE_UNAVAILABLE, f"{label} service {name} is {state.status}, not ACTIVE")
    if is_hermes and state.desired == 0:
        return CheckFailed(Reason.RESOURCE_UNAVAILABLE, f"Hermes service {name} is configured with desired count 0: "
                                                        "the session API is down by configuration")
    assessment = ecs_state.assess_deploy(state, ctx.config.deploy_grace_s)
    if assessment.status == "stuck":
        _attach_stopped(ctx, state)
        return CheckFailed(Reason.DEPLOYMENT_FAILED, f"{label} service {name}: {assessment.why} ({counts})")
    if assessment.status == "deploying":
        stopped = _attach_stopped(ctx, state)
        since = state.read_at - timedelta(seconds=ctx.config.deploy_grace_s)
        broken = ecs_state.failed_stops(stopped, since=since)
        if broken:
            codes = sorted({str(t.get("stopCode")) for t in broken})
            return CheckFailed(Reason.DEPLOYMENT_FAILED,
                               f"{label} service {name}: {assessment.why}, but {len(broken)} task(s) stopped with "
                               f"{', '.join(codes)} ({counts})")
        return Reason.DEPLOYING, f"{label} service {name}: {assessment.why} ({counts})"
    if state.running < state.desired:
        _attach_stopped(ctx, state)
        stack = ecs_state.stack_excuse(ctx)
        if stack is not None:  # the platform's stack is changing it: deploying, not (yet) an outage
            ctx.evidence["stack_update"] = stack.evidence()
            return Reason.DEPLOYING, f"{label} service {name} runs {state.running} of {state.desired} while {stack.why}"
        return CheckFailed(Reason.DESIRED_RUNNING_MISMATCH,
                           f"{label} service {name} runs {state.running} of {state.desired} desired task(s) with no "
                           f"rollout under way ({state.pending} pending)")
    if state.idle and state.running == 0:
        ctx.note(f"{label} service idle (0 tasks)")
    elif state.running > state.desired:
        ctx.note(f"{label} service {counts} (scaling in)")
    else:
        ctx.note(f"{label} service {counts}")
    return None


def _attach_stopped(ctx: CheckContext, state: ecs_state.ServiceState) -> list[dict[str, Any]]:
    """Add the service's stopped-task reasons to its evidence (the first thing an SRE asks for)."""
    with ctx.step(f"ecs.stopped_tasks:{state.name}"):
        stopped = ecs_state.stopped_task_reasons(ctx, state.name)
    entry = ctx.evidence.setdefault(state.name, {})
    if isinstance(entry, dict):
        entry["stopped_tasks"] = stopped
    return stopped

CHECKS = (ecs_cluster, ecs_services)
