"""ALB checks: target health per target group (with reason codes) and the listener rules for each route.

Read-only (DescribeTargetHealth, DescribeListeners, DescribeRules, DescribeTargetGroups). Target health is
judged against the owning ECS service (found through the services' ``loadBalancers``): an empty edit target
group while the edit service sleeps at desired 0 is idle, not down; the same while it should serve is an outage.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from harness.core.check import CheckContext, check
from harness.core.errors import CanaryError, CheckFailed, CheckSkipped
from harness.core.model import Reason
from harness.platform import ecs_state
from harness.platform.listener_rules import Request, Rule, first_match, in_priority_order

REQUIRED_ROUTES = ("/hermes/*", "/api/*", "/session/*", "/ws/*")
_BAD_STATES = frozenset({"unhealthy", "unavailable", "unused"})
_TRANSITIONAL_STATES = frozenset({"initial", "draining", "unhealthy.draining"})


# -- alb.targets ---------------------------------------------------------------------------------------------
@dataclass
class _Owners:
    """Lazily read ECS view: which watched service owns a target group (None = unknown: ECS unreadable)."""

    ctx: CheckContext
    states: ecs_state.ServiceStates | None = None
    error: str | None = None
    read: bool = False

    def lookup(self, tg_arn: str) -> tuple[bool, ecs_state.ServiceState | None]:
        """(known, owner): known is False when the ECS state could not be read at all."""
        if not self.read:
            self.read = True
            try:
                self.states = ecs_state.service_states(self.ctx)
            except (CanaryError, CheckFailed, CheckSkipped) as exc:
                self.error = f"{exc.reason.value}: {exc.message}"
                self.ctx.evidence["ecs_state"] = f"unreadable ({self.error})"
        if self.states is None:
            return False, None
        return True, self.states.owner_of(tg_arn)

    def stack(self) -> ecs_state.StackUpdate | None:
        """The platform stack's young update, noted in the evidence when it excuses a target group."""
        update = ecs_state.stack_excuse(self.ctx)
        if update is not None:
            self.ctx.evidence["stack_update"] = update.evidence()
        return update


@dataclass
class _Verdicts:
    failed: list[str] = field(default_factory=list)
    degraded: list[tuple[Reason, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@check("alb.targets", timeout_s=25)
def alb_targets(ctx: CheckContext) -> None:
    owners = _Owners(ctx)
    verdicts = _Verdicts()
    groups: dict[str, Any] = {}
    ctx.evidence["target_groups"] = groups
    grace = ctx.config.deploy_grace_s
    for arn in ctx.config.target_group_arns:
        name = ecs_state.target_group_name(arn)
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
    status = ecs_state.deploy_status(owner, grace) if owner is not None else None
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
        assessment = ecs_state.assess_deploy(owner, grace)
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
# The request each route is judged with: the path http.routing probes, on the configured base URL's host.
ROUTE_PROBES: dict[str, str] = {"/hermes/*": "/hermes/health", "/api/*": "/api/health",
                                "/session/*": "/session/canary-route-probe", "/ws/*": "/ws/hmr"}


def _row(label: str, rule: Rule) -> dict[str, Any]:
    tgs = rule.forward_targets()
    row: dict[str, Any] = {"listener": label, "priority": rule.priority, "paths": rule.paths(),
                           "target_groups": [ecs_state.target_group_name(a) for a in tgs],
                           "action": "forward" if tgs else rule.action_type()}
    if rule.hosts():
        row["hosts"] = rule.hosts()
    return row


def _dedicated(rules: list[Rule], route: str, request: Request) -> Rule | None:
    """The rule written for ``route``: it forwards and names the route's pattern exactly (host permitting).
    When several do, the one evaluated last: any earlier one that sends the route elsewhere shadows it."""
    own = [r for r in in_priority_order(rules)
           if route in r.paths() and r.forward_targets() and r.matches(request) is not False]
    return own[-1] if own else None


def _describe(rule: Rule | None) -> str:
    if rule is None:
        return "no rule"
    what = f"rule {rule.priority}" if not rule.is_default else "the default rule"
    conditions = ", ".join([f"path {'|'.join(rule.paths())}"] * bool(rule.paths())
                           + [f"host {'|'.join(rule.hosts())}"] * bool(rule.hosts()))
    tgs = [ecs_state.target_group_name(a) for a in rule.forward_targets()]
    action = f"forwards to {', '.join(tgs)}" if tgs else f"answers with {rule.action_type()}"
    return f"{what}{f' ({conditions})' if conditions else ''}, which {action}"


@check("alb.rules", timeout_s=25)
def alb_rules(ctx: CheckContext) -> None:
    lb = ctx.config.load_balancer_arn
    with ctx.step("elbv2.describe_listeners"):
        listeners = [li for page in ctx.aws.elbv2.get_paginator("describe_listeners").paginate(LoadBalancerArn=lb)
                     for li in page.get("Listeners", [])]
    table: list[dict[str, Any]] = []
    by_listener: list[tuple[str, list[Rule]]] = []
    with ctx.step("elbv2.describe_rules"):
        for listener in listeners:
            label = f"{listener.get('Protocol')}:{listener.get('Port')}"
            rules = [Rule.from_description(r) for r in _describe_rules(ctx, str(listener["ListenerArn"]))]
            by_listener.append((label, rules))
            table.extend(_row(label, rule) for rule in in_priority_order(rules) if not rule.is_default)
    ctx.evidence["listeners"] = [label for label, _ in by_listener]
    ctx.evidence["rules"] = table
    if not listeners:
        raise ctx.fail(Reason.ROUTE_MISSING, f"load balancer {lb.rsplit('/', 2)[-2] if lb else lb} has no listeners")
    host = urllib.parse.urlsplit(ctx.config.base_url).hostname if ctx.config.base_url else None
    exists: dict[str, bool] = {}
    missing: list[str] = []
    shadowed: list[dict[str, Any]] = []
    unjudged: set[str] = set()
    with ctx.step("elbv2.describe_target_groups"):
        for route in REQUIRED_ROUTES:
            request = Request(ROUTE_PROBES[route], host)
            own = [(label, rules, rule) for label, rules in by_listener
                   if (rule := _dedicated(rules, route, request)) is not None]
            if not own:
                missing.append(f"{route} (no forward rule)")
                continue
            for label, rules, dedicated in own:
                answer = first_match(rules, request)
                unjudged.update(f"{label} rule {r.priority}" for r in answer.not_evaluated)
                first = answer.rule
                if first is not dedicated and (first is None or set(first.forward_targets())
                                               != set(dedicated.forward_targets())):
                    shadowed.append({"route": route, "request": f"GET {request.path}", "host": host,
                                     "listener": label, "rule": _row(label, first) if first else None,
                                     "route_rule": _row(label, dedicated)})
                    missing.append(f"{route} on {label}: GET {request.path} is taken by {_describe(first)}, "
                                   f"before rule {dedicated.priority} for {route}")
                    continue
                tgs = dedicated.forward_targets()
                if not all(_tg_exists(ctx, arn, exists) for arn in tgs):
                    names = ", ".join(ecs_state.target_group_name(a) for a in tgs)
                    missing.append(f"{route} (target group {names} does not exist)")
    if unjudged:
        ctx.evidence["rules_not_evaluated"] = sorted(unjudged)
    if shadowed:
        ctx.evidence["shadowed"] = shadowed
        raise ctx.fail(Reason.ROUTE_MISSING, "ALB route shadowed: " + "; ".join(missing))
    if missing:
        raise ctx.fail(Reason.ROUTE_MISSING, "ALB route missing: " + "; ".join(missing))
    ctx.note(f"{len(REQUIRED_ROUTES)} routes reach their own forward rules and live target groups "
             f"({len(table)} rules on {len(listeners)} listener(s), evaluated for host {host or '(unknown)'})")


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
