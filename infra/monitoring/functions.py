"""The canary's Lambda functions: errors, throttles and not-invoked feed canary-broken; duration near the timeout
warns directly.

AWS/Lambda metrics by the function's literal name. ``*-not-invoked`` is an absence alarm (no ``Invocations``
datapoint for twice the schedule is a schedule that stopped); the deploy-time first run (``infra.first_run``)
gives it a datapoint before it exists.
"""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cw

from infra.alarm_factory import AlarmFactory, Runbook, absence_minutes
from infra.canary_function import CanaryFunction
from infra.metrics import CanaryMetrics

DURATION_WARN_FRACTION = 0.8


def duration_warn_ms(fn: CanaryFunction) -> float:
    """Where a run's duration starts to warn: a fraction of the function's timeout (the dashboard draws it too)."""
    return fn.timeout_s * 1000 * DURATION_WARN_FRACTION


def _runbooks(fn: CanaryFunction, silent_minutes: int) -> dict[str, Runbook]:
    name = fn.function_name
    return {
        "errors": Runbook(
            what=f"{name} crashed or timed out (the handler never raises on its own, so this is a bug, an import "
            "error or a timeout)",
            first=f"Logs Insights on {fn.log_group_name} for 'Task timed out' or a traceback; the Powertools layer "
            "version; the last deploy.",
        ),
        "throttles": Runbook(
            what=f"{name} was throttled in several periods: runs overlap (its reserved concurrency, if set) or the "
            "account is out of concurrency, so scheduled runs are delayed or dropped",
            first="run duration vs schedule; manual console runs during scheduled ones; the account's unreserved "
            "concurrency.",
        ),
        "not-invoked": Runbook(
            what=f"{name} was not invoked for {silent_minutes} min (twice its {fn.every_minutes}-min schedule)",
            first=f"is the rule {name}-schedule enabled; the schedule DLQ; the function's resource policy.",
        ),
        "duration-near-timeout": Runbook(
            what=f"{name} runs take over {int(DURATION_WARN_FRACTION * 100)}% of its {fn.timeout_s}-s timeout: soon "
            "runs end INCOMPLETE or time out",
            first="which check is slow (CheckDuration on the dashboard); target latency; slow AWS calls in the X-Ray "
            "traces.",
        ),
    }


def function_alarms(factory: AlarmFactory, kind: str, fn: CanaryFunction) -> tuple[list[cw.Alarm], cw.Alarm]:
    """([errors, throttles, not-invoked] for canary-broken, the duration alarm) of one function."""
    every = fn.every_minutes
    window = factory.window(every)
    silent = absence_minutes(every)
    runbook = _runbooks(fn, silent)
    prefix = "".join(p.capitalize() for p in kind.split("-"))

    def lambda_metric(metric: str, statistic: str, minutes: int) -> cw.Metric:
        return CanaryMetrics.function(fn.function_name, metric, statistic, minutes)

    # Errors and Throttles: both a count that is 0 on a healthy run, M of N on the function's own schedule.
    broken = [factory.occurred(f"{prefix}{metric}", name=f"{kind}-{metric.lower()}", window=window, notify=False,
                               metric=lambda_metric(metric, "Sum", every), runbook=runbook[metric.lower()])
              for metric in ("Errors", "Throttles")]
    broken.append(factory.absent(f"{prefix}NotInvoked", name=f"{kind}-not-invoked", runbook=runbook["not-invoked"],
                                 metric=lambda_metric("Invocations", "Sum", silent)))
    duration = factory.exceeded(f"{prefix}DurationNearTimeout", name=f"{kind}-duration-near-timeout",
                                metric=lambda_metric("Duration", "Maximum", every), window=window, notify=True,
                                threshold=round(duration_warn_ms(fn)), runbook=runbook["duration-near-timeout"])
    return broken, duration
