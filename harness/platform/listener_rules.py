"""ALB listener-rule evaluation, as the load balancer does it: which rule answers a given request.

Documented ALB semantics (Elastic Load Balancing, "Listener rules for your Application Load Balancer" and the
RuleCondition / HostHeaderConditionConfig API reference): rules are evaluated in priority order, lowest value
first, the default rule last; a rule applies when all of its conditions match; a condition with several values
matches when one of them does; path patterns are case-sensitive, host names case-insensitive, and both take the
wildcards ``*`` (0 or more characters) and ``?`` (exactly one). The path pattern sees the path only, not the query.

A condition this module cannot judge for the canary's representative request (``source-ip``, or a host
condition when no host is known) does not match, and is reported as not evaluated instead of guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Request:
    """The request a route is judged with (e.g. ``GET /hermes/health`` on the configured base URL's host)."""

    path: str
    host: str | None = None
    method: str = "GET"


def wildcard_matches(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    """ALB wildcard semantics: ``*`` any run of characters (also none), ``?`` exactly one, the rest literal."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = re.DOTALL | (0 if case_sensitive else re.IGNORECASE)
    return re.fullmatch(regex, value, flags=flags) is not None


def _values(condition: Mapping[str, Any], config_key: str) -> tuple[list[str], list[str]]:
    config = condition.get(config_key) or {}
    values = [str(v) for v in (config.get("Values") or condition.get("Values") or [])]
    return values, [str(v) for v in (config.get("RegexValues") or [])]


def _regex_any(patterns: Iterable[str], value: str, flags: int = 0) -> bool:
    for pattern in patterns:
        try:
            if re.search(pattern, value, flags):
                return True
        except re.error:
            continue
    return False


def condition_matches(condition: Mapping[str, Any], request: Request) -> bool | None:
    """True/False for the request; None when it cannot be judged (then the rule is not taken to match)."""
    kind = condition.get("Field")
    if kind == "path-pattern":
        values, regexes = _values(condition, "PathPatternConfig")
        path = request.path.split("?", 1)[0]
        return any(wildcard_matches(v, path) for v in values) or _regex_any(regexes, path)
    if kind == "host-header":
        if request.host is None:
            return None
        values, regexes = _values(condition, "HostHeaderConfig")
        host = request.host.split(":", 1)[0]
        return (any(wildcard_matches(v, host, case_sensitive=False) for v in values)
                or _regex_any(regexes, host, re.IGNORECASE))
    if kind == "http-request-method":
        values, _ = _values(condition, "HttpRequestMethodConfig")
        return request.method in values
    if kind in ("query-string", "http-header"):
        return False  # the canary's probes send no query string and no custom header
    return None


@dataclass(frozen=True)
class Rule:
    """One listener rule as DescribeRules returns it."""

    priority: str
    conditions: tuple[Mapping[str, Any], ...] = ()
    actions: tuple[Mapping[str, Any], ...] = ()
    arn: str = ""
    is_default: bool = False

    @classmethod
    def from_description(cls, raw: Mapping[str, Any]) -> Rule:
        return cls(priority=str(raw.get("Priority", "default")), conditions=tuple(raw.get("Conditions") or ()),
                   actions=tuple(raw.get("Actions") or ()), arn=str(raw.get("RuleArn", "")),
                   is_default=bool(raw.get("IsDefault")) or str(raw.get("Priority")) == "default")

    @property
    def order(self) -> tuple[int, int]:
        return (1, 0) if self.is_default or not self.priority.isdigit() else (0, int(self.priority))

    def paths(self) -> list[str]:
        return [p for c in self.conditions if c.get("Field") == "path-pattern"
                for p in _values(c, "PathPatternConfig")[0]]

    def hosts(self) -> list[str]:
        return [h for c in self.conditions if c.get("Field") == "host-header"
                for h in _values(c, "HostHeaderConfig")[0]]

    def forward_targets(self) -> list[str]:
        arns: list[str] = []
        for action in self.actions:
            if action.get("Type") != "forward":
                continue
            if action.get("TargetGroupArn"):
                arns.append(str(action["TargetGroupArn"]))
            for tg in (action.get("ForwardConfig") or {}).get("TargetGroups", []) or []:
                if tg.get("TargetGroupArn"):
                    arns.append(str(tg["TargetGroupArn"]))
        return list(dict.fromkeys(arns))

    def action_type(self) -> str:
        """The terminal action (forward, redirect, fixed-response); authenticate-* come before it."""
        kinds = [str(a.get("Type")) for a in self.actions]
        terminal = [k for k in kinds if not k.startswith("authenticate")]
        return terminal[-1] if terminal else (kinds[-1] if kinds else "none")

    def matches(self, request: Request) -> bool | None:
        """All conditions match (True), one does not (False), or one could not be judged (None)."""
        if self.is_default:
            return True
        verdicts = [condition_matches(c, request) for c in self.conditions]
        if any(v is False for v in verdicts):
            return False
        return None if any(v is None for v in verdicts) else True


@dataclass(frozen=True)
class Evaluation:
    """Which rule answers the request, and the rules before it that could not be judged."""

    rule: Rule | None
    not_evaluated: tuple[Rule, ...] = field(default_factory=tuple)


def in_priority_order(rules: Iterable[Rule]) -> list[Rule]:
    return sorted(rules, key=lambda r: r.order)


def first_match(rules: Iterable[Rule], request: Request) -> Evaluation:
    """The rule the ALB applies to ``request``: the first whose conditions all match, else the default."""
    unknown: list[Rule] = []
    for rule in in_priority_order(rules):
        verdict = rule.matches(request)
        if verdict is True:
            return Evaluation(rule, tuple(unknown))
        if verdict is None:
            unknown.append(rule)
    return Evaluation(None, tuple(unknown))
