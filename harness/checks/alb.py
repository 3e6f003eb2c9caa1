"""ALB checks: target health per target group (with reason codes) and the listener rules for each route.

Read-only (DescribeTargetHealth, DescribeListeners, DescribeRules, DescribeTargetGroups). Target health is
judged against the owning ECS service (found through the services' ``loadBalancers``): an empty edit target
group while the edit service sleeps at desired 0 is idle, not down; the same while it should serve is an outage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness import platform
from harness.check import CheckContext, check
from harness.errors import CanaryError, CheckFailed, CheckSkipped
from harness.model import Reason

REQUIRED_ROUTES = ("/hermes/*", "/api/*", "/session/*", "/ws/*")
_BAD_STATES = frozenset({"unhealthy", "unavailable", "unused"})
_TRANSITIONAL_STATES = frozenset({"initial", "draining", "unhealthy.draining"})


# -- alb.targets ---------------------------------------------------------------------------------------------
@dataclass
class _Owners:
    """Lazily read ECS view: which watched service owns a target group (None = unknown: ECS unreadable)."""

    ctx: CheckContext
    states: platform.ServiceStates | None = None
    error: str | None = None
    read: bool = False

    def lookup(self, tg_arn: str) -> tuple[bool, platform.ServiceState | None]:
        """(known, owner): known is False when the ECS state could not be read at all."""
        if not self.read:
            self.read = True
            try:
                self.states = platform.service_states(self.ctx)
            except (CanaryError, CheckFailed, CheckSkipped) as exc:
                self.error = f"{exc.reason.value}: {exc.message}"
                self.ctx.evidence["ecs_state"] = f"unreadable ({self.error})"
        if self.states is None:
            return False, None
        return True, self.states.owner_of(tg_arn)

    def stack(self) -> platform.StackUpdate | None:
        """The platform stack's young update, noted in the evidence when it excuses a target group."""
        update = platform.stack_excuse(self.ctx)
        if update is not None:
            self.ctx.evidence["stack_update"] = update.evidence()
        return update


@dataclass
class _Verdicts:
    failed: list[str] = field(default_factory=list)
    degraded: list[tuple[Reason, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@check("alb.targets", requires=("target_group_arns",), timeout_s=25,
       summary="every watched target group has healthy targets, or is empty because its service is idle",
       why="the ALB answers 502/503 when a target group has no healthy target (FAILED); unhealthy targets beside "
           "healthy ones still serve (DEGRADED); reason codes (Target.FailedHealthChecks, ...) say why")
def alb_targets(ctx: CheckContext) -> None:
    owners = _Owners(ctx)
    verdicts = _Verdicts()
    groups: dict[str, Any] = {}
    ctx.evidence["target_groups"] = groups
    grace = ctx.config.deploy_grace_s
    for arn in ctx.config.target_group_arns:
        name = platform.target_group_name(arn)
        with ctx.step(f"elbv2.describe_target_health:{name}"):
            try:
                descriptions = ctx.aws.elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
            except CheckFailed as exc:
                if exc.reason is not Reason.RESOURCE_MISSING:
                    raise
                groups[name] = {"arn": arn, "error": "target group not found"}
                verdicts.failed.append(f"{name}: target group not found")
                continue
        targets = [_target(d) for d in descriptions]
        entry: dict[str, Any] = {"targets": targets}
        groups[name] = entry
        _judge_group(name, arn, targets, entry, owners, grace, verdicts)
    if verdicts.failed:
        raise ctx.fail(Reason.UNHEALTHY_TARGETS, "; ".join(verdicts.failed))
    for reason, message in verdicts.degraded:
        ctx.degrade(reason, message)
    for note in verdicts.notes:
        ctx.note(note)


def _target(description: dict[str, Any]) -> dict[str, Any]:
    target = description.get("Target", {})
    health = description.get("TargetHealth", {})
    return {"id": target.get("Id"), "port": target.get("Port"), "state": health.get("State"),
            "reason": health.get("Reason"), "description": health.get("Description")}


def _judge_group(name: str, arn: str, targets: list[dict[str, Any]], entry: dict[str, Any], owners: _Owners,
                 grace: float, verdicts: _Verdicts) -> None:
    healthy = [t for t in targets if t["state"] == "healthy"]
    bad = [t for t in targets if t["state"] in _BAD_STATES]
    transitional = [t for t in targets if t["state"] in _TRANSITIONAL_STATES]
    if healthy and not bad:
        extra = f" ({len(transitional)} initial/draining)" if transitional else ""
        verdicts.notes.append(f"{name}: {len(healthy)} healthy{extra}")
        return
    known, owner = owners.lookup(arn)
    status = platform.deploy_status(owner, grace) if owner is not None else None
    entry["owner"] = owner.name if owner else None
    if owner is not None:
        entry["owner_state"] = {"desired": owner.desired, "running": owner.running, "deploy": status}
    if bad:
        codes = sorted({str(t["reason"] or t["state"]) for t in bad})
        entry["reason_codes"] = codes
        summary = f"{name}: {len(bad)} of {len(targets)} target(s) not serving ({', '.join(codes)})"
        if healthy and status != "deploying":
            # The ALB routes only to healthy targets: the group still serves, one replaced task must not page.
            verdicts.degraded.append((Reason.UNHEALTHY_TARGETS, f"{summary}; {len(healthy)} healthy still serve"))
            return
        stack = owners.stack() if owner is not None and status == "stable" else None
        if status == "deploying":
            verdicts.degraded.append((Reason.DEPLOYING, f"{summary} while {owner.name if owner else '?'} deploys"))
        elif stack is not None:
            verdicts.degraded.append((Reason.DEPLOYING, f"{summary} while {stack.why}"))
        else:
            verdicts.failed.append(summary)
        return
    if not known:
        verdicts.notes.append(f"{name}: no healthy target; not judged (ECS state unreadable)")
        return
    if owner is None:
        verdicts.failed.append(f"{name}: no healthy target and no watched ECS service owns it")
        return
    if status == "deploying":
        verdicts.degraded.append((Reason.DEPLOYING, f"{name}: no healthy target yet while {owner.name} deploys"))
        return
    if owner.idle:
        verdicts.notes.append(f"{name}: idle ({owner.name} at desired 0)"
                              + (" and draining" if transitional else ""))
        return
    if status == "stuck":
        assessment = platform.assess_deploy(owner, grace)
        verdicts.failed.append(f"{name}: no healthy target and {owner.name}'s rollout is stuck ({assessment.why})")
        return
    if any(t["state"] == "initial" for t in transitional):
        verdicts.degraded.append((Reason.NOT_READY, f"{name}: targets still in initial health checks "
                                                    f"({owner.name} starting)"))
        return
    state_word = "only draining targets" if transitional else "no registered targets"
    stack = owners.stack()
    if stack is not None:
        verdicts.degraded.append((Reason.DEPLOYING, f"{name}: {state_word} while {stack.why}"))
        return
    verdicts.failed.append(f"{name}: {state_word} while {owner.name} should serve "
                           f"({owner.running}/{owner.desired} running)")


# -- alb.rules -----------------------------------------------------------------------------------------------
def _rule_paths(rule: dict[str, Any]) -> list[str]:
    paths: list[str] = []
    for condition in rule.get("Conditions", []) or []:
        if condition.get("Field") != "path-pattern":
            continue
        values = (condition.get("PathPatternConfig") or {}).get("Values") or condition.get("Values") or []
        paths.extend(str(v) for v in values)
    return list(dict.fromkeys(paths))


def _forward_targets(rule: dict[str, Any]) -> list[str]:
    arns: list[str] = []
    for action in rule.get("Actions", []) or []:
        if action.get("Type") != "forward":
            continue
        if action.get("TargetGroupArn"):
            arns.append(str(action["TargetGroupArn"]))
        for tg in (action.get("ForwardConfig") or {}).get("TargetGroups", []) or []:
            if tg.get("TargetGroupArn"):
                arns.append(str(tg["TargetGroupArn"]))
    return list(dict.fromkeys(arns))


def _default_action(rule: dict[str, Any]) -> str:
    actions = rule.get("Actions", []) or []
    return ",".join(str(a.get("Type")) for a in actions) or "none"


@check("alb.rules", requires=("load_balancer_arn",), timeout_s=25,
       summary="the ALB has forward rules for /hermes/*, /api/*, /session/* and /ws/* to existing target groups",
       why="a missing rule sends the route to the listener's default action (a fixed 200 'healthy'), which "
           "looks like success to a naive probe")
def alb_rules(ctx: CheckContext) -> None:
    lb = ctx.config.load_balancer_arn
    with ctx.step("elbv2.describe_listeners"):
        listeners = [li for page in ctx.aws.elbv2.get_paginator("describe_listeners").paginate(LoadBalancerArn=lb)
                     for li in page.get("Listeners", [])]
    table: list[dict[str, Any]] = []
    forwards: dict[str, list[tuple[dict[str, Any], list[str]]]] = {}
    with ctx.step("elbv2.describe_rules"):
        for listener in listeners:
            label = f"{listener.get('Protocol')}:{listener.get('Port')}"
            rules = _describe_rules(ctx, str(listener["ListenerArn"]))
            for rule in rules:
                paths = _rule_paths(rule)
                tgs = _forward_targets(rule)
                row = {"listener": label, "priority": rule.get("Priority"), "paths": paths,
                       "target_groups": [platform.target_group_name(a) for a in tgs],
                       "action": "forward" if tgs else _default_action(rule)}
                table.append(row)
                for path in paths:
                    forwards.setdefault(path, []).append((row, tgs))
    ctx.evidence["listeners"] = [f"{li.get('Protocol')}:{li.get('Port')}" for li in listeners]
    ctx.evidence["rules"] = table
    if not listeners:
        raise ctx.fail(Reason.ROUTE_MISSING, f"load balancer {lb.rsplit('/', 2)[-2] if lb else lb} has no listeners")
    exists: dict[str, bool] = {}
    missing: list[str] = []
    with ctx.step("elbv2.describe_target_groups"):
        for path in REQUIRED_ROUTES:
            candidates = [(row, tgs) for row, tgs in forwards.get(path, []) if tgs]
            if not candidates:
                missing.append(f"{path} (no forward rule)")
                continue
            live = [row for row, tgs in candidates if all(_tg_exists(ctx, arn, exists) for arn in tgs)]
            if not live:
                names = sorted({n for row, _ in candidates for n in row["target_groups"]})
                missing.append(f"{path} (target group {', '.join(names)} does not exist)")
    if missing:
        raise ctx.fail(Reason.ROUTE_MISSING, "ALB route missing: " + "; ".join(missing))
    ctx.note(f"{len(REQUIRED_ROUTES)} routes forward to live target groups ({len(table)} rules on "
             f"{len(listeners)} listener(s))")


def _describe_rules(ctx: CheckContext, listener_arn: str) -> list[dict[str, Any]]:
    return [rule for page in ctx.aws.elbv2.get_paginator("describe_rules").paginate(ListenerArn=listener_arn)
            for rule in page.get("Rules", [])]


def _tg_exists(ctx: CheckContext, arn: str, cache: dict[str, bool]) -> bool:
    if arn not in cache:
        try:
            found = ctx.aws.elbv2.describe_target_groups(TargetGroupArns=[arn]).get("TargetGroups", [])
            cache[arn] = bool(found)
        except CheckFailed as exc:
            if exc.reason is not Reason.RESOURCE_MISSING:
                raise
            cache[arn] = False
    return cache[arn]

CHECKS = (alb_targets, alb_rules)
