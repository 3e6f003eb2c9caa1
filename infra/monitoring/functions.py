"""The canary's Lambda functions: errors, throttles and not-invoked feed canary-broken; duration near the timeout
warns directly.

AWS/Lambda metrics by the function's literal name. ``*-not-invoked`` treats missing data as breaching (no
``Invocations`` datapoint for twice the schedule is a schedule that stopped); the deploy-time first run
(``infra.first_run``) gives it a datapoint before it exists.
"""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cw

from infra.alarm_factory import ABOVE, AT_LEAST, BELOW, AlarmFactory, Runbook, absence_minutes
from infra.canary_function import CanaryFunction
from infra.metrics import CanaryMetrics

DURATION_WARN_FRACTION = 0.8


def duration_warn_ms(fn: CanaryFunction) -> float:
    """Where a run's duration starts to warn: a fraction of the function's timeout (the dashboard draws it too)."""
    return fn.timeout_s * 1000 * DURATION_WARN_FRACTION


def function_alarms(factory: AlarmFactory, kind: str, fn: CanaryFunction) -> tuple[list[cw.Alarm], cw.Alarm]:
    """([errors, throttles, not-invoked] for canary-broken, the duration alarm) of one function."""
    every = fn.every_minutes
    name = fn.function_name
    window = factory.window(every)
    prefix = "".join(p.capitalize() for p in kind.split("-"))
    errors = factory.alarm(
        f"{prefix}Errors",
        name=f"{kind}-errors",
        metric=CanaryMetrics.function(name, "Errors", "Sum", every),
        threshold=1,
        comparison=AT_LEAST,
        window=window,
        missing=cw.TreatMissingData.NOT_BREACHING,
        runbook=Runbook(
            what=f"{name} crashed or timed out (the handler never raises on its own, so this is a bug, an import "
            "error or a timeout)",
            first=f"Logs Insights on {fn.log_group_name} for 'Task timed out' or a traceback; the Powertools layer "
            "version; the last deploy.",
        ),
        notify=False,
    )
    throttles = factory.alarm(
        f"{prefix}Throttles",
        name=f"{kind}-throttles",
        metric=CanaryMetrics.function(name, "Throttles", "Sum", every),
        threshold=1,
        comparison=AT_LEAST,
        window=window,
        missing=cw.TreatMissingData.NOT_BREACHING,
        runbook=Runbook(
            what=f"{name} was throttled in several periods: runs overlap (its reserved concurrency, if set) or the "
            "account is out of concurrency, so scheduled runs are delayed or dropped",
            first="run duration vs schedule; manual console runs during scheduled ones; the account's unreserved "
            "concurrency.",
        ),
        notify=False,
    )
    silent = absence_minutes(every)
    not_invoked = factory.alarm(
        f"{prefix}NotInvoked",
        name=f"{kind}-not-invoked",
        metric=CanaryMetrics.function(name, "Invocations", "Sum", silent),
        threshold=1,
        comparison=BELOW,
        window=(1, 1),
        missing=cw.TreatMissingData.BREACHING,
        runbook=Runbook(
            what=f"{name} was not invoked for {silent} min (twice its {every}-min schedule)",
            first=f"is the rule {name}-schedule enabled; the schedule DLQ; the function's resource policy.",
        ),
        notify=False,
    )
    duration = factory.alarm(
        f"{prefix}DurationNearTimeout",
        name=f"{kind}-duration-near-timeout",
        metric=CanaryMetrics.function(name, "Duration", "Maximum", every),
        threshold=round(duration_warn_ms(fn)),
        comparison=ABOVE,
        window=window,
        missing=cw.TreatMissingData.NOT_BREACHING,
        runbook=Runbook(
            what=f"{name} runs take over {int(DURATION_WARN_FRACTION * 100)}% of its {fn.timeout_s}-s timeout: "
            "soon runs end INCOMPLETE or time out",
            first="which check is slow (CheckDuration on the dashboard); target latency; slow AWS calls in the "
            "X-Ray traces.",
        ),
        notify=True,
    )
    return [errors, throttles, not_invoked], duration
