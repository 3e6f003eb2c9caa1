"""White-box evidence for a failed journey: what ECS, the ALB and DynamoDB said when it failed (DESIGN §3).

Built on ``harness.platform.ecs_state`` (service states, stopped-task reasons). Collection is best effort: it
never raises,
never outlives the check's deadline, and each part that could not be read says why, so a FAILED result
is never turned into an ERROR by the evidence gathering itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from harness.core.check import CheckContext
from harness.core.errors import Verdict
from harness.platform import ecs_state
from harness.sessions.synthetic import plain

MIN_SECONDS_LEFT = 1.0
UNHEALTHY_KEPT = 5


def _part(compute: Callable[[], Any]) -> Any:
    try:
        return compute()
    except Verdict as exc:
        return {"unavailable": f"{exc.reason.value}: {exc.message}"[:300]}
    except Exception as exc:  # evidence must never turn a FAILED into an ERROR
        return {"unavailable": f"{type(exc).__name__}: {exc}"[:300]}


def target_health(ctx: CheckContext) -> dict[str, Any]:
    """Per configured target group: target counts by state and the reasons of those not healthy."""
    out: dict[str, Any] = {}
    for arn in ctx.config.target_group_arns:
        descriptions = ctx.aws.elbv2.describe_target_health(TargetGroupArn=arn).get("TargetHealthDescriptions", [])
        states: dict[str, int] = {}
        unhealthy: list[dict[str, Any]] = []
        for d in descriptions:
            health = d.get("TargetHealth", {})
            state = str(health.get("State", "unknown"))
            states[state] = states.get(state, 0) + 1
            if state != "healthy" and len(unhealthy) < UNHEALTHY_KEPT:
                unhealthy.append({"id": d.get("Target", {}).get("Id"), "port": d.get("Target", {}).get("Port"),
                                  "state": state, "reason": health.get("Reason"),
                                  "description": health.get("Description")})
        out[ecs_state.target_group_name(arn)] = {"states": states, "unhealthy": unhealthy}
    return out


def white_box(ctx: CheckContext, *, session_record: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """ECS service events and counts, the edit service's stopped-task reasons, target health, the record."""
    if ctx.deadline.remaining() < MIN_SECONDS_LEFT:
        return {"white_box": "skipped: no time left before the deadline"}
    evidence: dict[str, Any] = {}
    if ctx.config.ecs_cluster and ecs_state.watched_services(ctx):
        evidence["ecs_services"] = _part(lambda: {name: state.evidence() for name, state
                                                  in ecs_state.read_service_states(ctx).found.items()})
        if ctx.config.edit_service:
            edit = ctx.config.edit_service
            evidence["stopped_tasks"] = _part(lambda: ecs_state.stopped_task_reasons(ctx, edit))
    if ctx.config.target_group_arns:
        evidence["target_health"] = _part(lambda: target_health(ctx))
    if session_record is not None:
        evidence["session_record"] = plain(session_record) if session_record else None
    return evidence
