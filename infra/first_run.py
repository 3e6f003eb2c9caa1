"""Quiet first deploy: CDK triggers run every scheduled function once, before its alarms are created.

A ``rate()`` rule first fires one period after it is created, while the heartbeat and ``*-not-invoked`` alarms
treat missing data as breaching (that is how they see a canary that stopped). Without a run at deploy time,
``canary-broken`` would page after every first deploy, for up to two periods. A trigger invokes the function with
an empty event (= a run of its configured tiers, as the schedule's constant input), so RunPassed and the Lambda
``Invocations`` metric have a datapoint before the alarms exist.

Invocation: synchronous (``RequestResponse``) when the run fits in the trigger provider's 15-minute Lambda, so the
run is over before the alarms are created; a crash or timeout then fails the deploy, which rolls back a canary that
cannot run. A longer function (the 900-s destructive tier) is invoked asynchronously, and its version gets the same
async settings as the function (no retries, the schedule's event age, the on-failure queue). Each trigger re-runs
when its function changes (a post-deploy smoke run).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import triggers
from constructs import Construct

from infra.canary_function import CanaryFunction

# The trigger provider is a CDK custom-resource Lambda with a 15-minute timeout; keep a margin for its own work.
_SYNC_LIMIT_S = 14 * 60
_INVOKE_MARGIN_S = 30


def invocation_type(fn: CanaryFunction) -> triggers.InvocationType:
    """Synchronous when the whole run fits in the provider's budget, asynchronous otherwise."""
    if fn.timeout_s + _INVOKE_MARGIN_S <= _SYNC_LIMIT_S:
        return triggers.InvocationType.REQUEST_RESPONSE
    return triggers.InvocationType.EVENT


class FirstRuns(Construct):
    """One trigger per function, each executed after its function and before ``before`` (the alarms)."""

    def __init__(self, scope: Construct, construct_id: str, *, functions: Mapping[str, CanaryFunction],
                 before: Sequence[Construct]) -> None:
        super().__init__(scope, construct_id)
        self.triggers: dict[str, triggers.Trigger] = {}
        for kind, fn in functions.items():
            kind_of_call = invocation_type(fn)
            if kind_of_call == triggers.InvocationType.EVENT:
                fn.configure_version_async_invoke()
            self.triggers[kind] = triggers.Trigger(
                self,
                kind.capitalize(),
                handler=fn.function,
                invocation_type=kind_of_call,
                timeout=cdk.Duration.seconds(min(fn.timeout_s + _INVOKE_MARGIN_S, _SYNC_LIMIT_S)),
                execute_after=[fn],
                execute_before=list(before),
            )
