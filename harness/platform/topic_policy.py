"""Does an SNS topic's access policy let CloudWatch alarms publish to it? (stdlib only)

SNS evaluates a topic policy for the service principal ``cloudwatch.amazonaws.com`` with the request context
CloudWatch brings: ``aws:SourceArn`` (the alarm), ``aws:SourceAccount``/``AWS:SourceOwner`` (its account) and TLS on.
An explicit Deny wins, then any Allow; none is "no resource-based policy allows" (a topic policy replaces SNS's
default one, so a policy holding only ``enforce_ssl``'s Deny refuses every alarm). One evaluator, two readers: the
sandbox executes alarm actions with it (sandbox/alarm_actions.py) and ``canary doctor`` checks the deployed alert
topic with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

SERVICE_PRINCIPAL = "cloudwatch.amazonaws.com"

def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _like(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=0 if case_sensitive else re.IGNORECASE) is not None


def _principal_matches(principal: Any) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    return "*" in _listed(principal.get("AWS")) or SERVICE_PRINCIPAL in _listed(principal.get("Service"))


_POSITIVE: dict[str, Callable[[str, str], bool]] = {
    "stringequals": lambda want, got: want == got,
    "stringequalsignorecase": lambda want, got: want.lower() == got.lower(),
    "stringlike": lambda want, got: _like(want, got),
    "arnequals": lambda want, got: want == got,
    "arnlike": lambda want, got: _like(want, got),
    "bool": lambda want, got: want.lower() == got.lower(),
}
_NEGATED = {"stringnotequals": "stringequals", "stringnotequalsignorecase": "stringequalsignorecase",
            "stringnotlike": "stringlike", "arnnotequals": "arnequals", "arnnotlike": "arnlike"}


def _condition_holds(conditions: Any, context: Mapping[str, str]) -> bool:
    """Every operator/key pair holds (an unknown operator does not, so an Allow is never granted by a guess)."""
    if not conditions:
        return True
    if not isinstance(conditions, Mapping):
        return False
    for raw_operator, pairs in conditions.items():
        operator = str(raw_operator).split(":")[-1].lower()
        if_exists = operator.endswith("ifexists")
        operator = operator.removesuffix("ifexists")
        negated = operator in _NEGATED
        test = _POSITIVE.get(_NEGATED.get(operator, operator))
        if test is None or not isinstance(pairs, Mapping):
            return False
        for key, wanted in pairs.items():
            got = context.get(str(key).lower())
            if got is None:
                if not (if_exists or negated):
                    return False
                continue
            hit = any(test(str(w), got) for w in _listed(wanted))
            if hit == negated:
                return False
    return True


def publish_denial(policy: Mapping[str, Any] | None, topic_arn: str, alarm_arn: str, account: str) -> str | None:
    """Why the topic's policy refuses CloudWatch's SNS:Publish for this alarm, or None if it allows it."""
    context = {"aws:sourcearn": alarm_arn, "aws:sourceaccount": account, "aws:sourceowner": account,
               "aws:securetransport": "true"}
    statements = (policy or {}).get("Statement", [])
    statements = [statements] if isinstance(statements, Mapping) else list(statements or [])
    allowed = False
    for statement in statements:
        if not isinstance(statement, Mapping) or "NotPrincipal" in statement or "NotAction" in statement:
            continue
        if not _principal_matches(statement.get("Principal")):
            continue
        if not any(_like(a, "sns:Publish", case_sensitive=False) for a in _listed(statement.get("Action"))):
            continue
        if not any(_like(r, topic_arn) for r in _listed(statement.get("Resource"))):
            continue
        if not _condition_holds(statement.get("Condition"), context):
            continue
        if statement.get("Effect") == "Deny":
            return (f"Resource: {alarm_arn} is not authorized to perform: SNS:Publish on resource: {topic_arn} "
                    "with an explicit deny in a resource-based policy")
        allowed = allowed or statement.get("Effect") == "Allow"
    if allowed:
        return None
    return (f"Resource: {alarm_arn} is not authorized to perform: SNS:Publish on resource: {topic_arn} "
            "because no resource-based policy allows the SNS:Publish action")


# -- history items ---------------------------------------------------------------------------------------------
