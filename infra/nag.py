"""cdk-nag 3 acknowledgments (CDK's Validations API; ``NagSuppressions`` no longer exists).

Every acknowledgment carries its reason at the call site. cdk-nag matches ids exactly, including the finding in
brackets (``AwsSolutions-IAM5[Resource::...]``), so a new wildcard is a new finding that needs its own reason.
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import IConstruct

NAG_CONTEXT_KEY = "cdk_nag"


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Accept one finding on ``scope`` and everything below it, for a stated reason."""
    if not reason.strip():
        raise ValueError(f"acknowledging {rule_id} needs a reason")
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule_id, reason=reason))


def nag_enabled(scope: IConstruct) -> bool:
    """Context ``cdk_nag`` (default true) turns the AwsSolutions checks on for a synth."""
    value = scope.node.try_get_context(NAG_CONTEXT_KEY)
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() not in ("false", "0", "no", "off")
