"""Required checks: a check the deployed stack alarms on may not quietly skip for want of configuration.

A SKIPPED check emits no ``CheckFailed``, so its alarm stays OK forever: green while blind. When the stack lists
the check in ``CANARY_REQUIRED_CHECKS`` (the CDK app sets it from the checks it alarms on), SKIPPED
``not_configured`` becomes ERROR ``config_invalid`` naming the missing setting, which ``canary-broken`` pages.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from harness.core.model import CheckResult, Outcome, Reason


def enforce_required(result: CheckResult, required: Collection[str]) -> CheckResult:
    """The result as the run reports it: unchanged unless a required check was skipped as not configured."""
    if result.id not in required or result.outcome is not Outcome.SKIPPED or result.reason is not Reason.NOT_CONFIGURED:
        return result
    return replace(result, outcome=Outcome.ERROR, reason=Reason.CONFIG_INVALID,
                   message=f"required check {result.id} is {result.message} (it is in CANARY_REQUIRED_CHECKS: the "
                           "stack alarms on it; configure it, or disable the check in the stack)",
                   evidence={**result.evidence, "required": True})
