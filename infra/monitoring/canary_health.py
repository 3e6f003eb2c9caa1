"""Is the canary itself trustworthy: its errors, its heartbeat, the sessions it leaked, and the alert-path self-test.

The heartbeat is an absence alarm: the handler emits ``RunPassed`` on every run, maintenance included, so no
sample in a window twice the schedule means the canary is not running. canary-errors and the heartbeat feed
canary-broken (no actions of their own); leaked sessions and the self-test notify directly.
"""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cw

from harness.contract import CANARY_ERRORS, LEAKED_SESSIONS, RUN_PASSED, selftest_alarm_name
from infra.alarm_factory import AlarmFactory, Runbook, absence_minutes
from infra.metrics import CanaryMetrics
from infra.monitoring.monitored import Monitored

_ERRORS = Runbook(
    what="checks ended ERROR: the canary is at fault (config, credentials, AccessDenied, its own throttling, a bug), "
    "not the platform",
    first="Logs Insights on {log_groups} for outcome ERROR and the reason code; recent IAM or context changes; "
    "`canary run` locally with the same config.",
)
_LEAKED = Runbook(
    what="the sweeper found synthetic sessions older than the sweep age: a journey's cleanup did not finish (each "
    "leaked session may hold an edit container, which costs money)",
    first="journey logs for cleanup errors; `canary sweep --dry-run`; the edit service's running count; deactivate "
    "leftovers through Hermes.",
)
_SELFTEST = Runbook(
    what="a self-test, not an incident: an operator drove this alarm with SetAlarmState to prove the alarm -> SNS -> "
    "e-mail path; it returns to OK by itself within minutes",
    first="nothing to fix if you expected it; if the OK message never arrives, check the SNS subscription.",
)


def canary_errors(factory: AlarmFactory, metrics: CanaryMetrics, monitored: Monitored) -> cw.Alarm:
    """Checks that ended ERROR (or INCOMPLETE outside maintenance), M of N on the fastest schedule."""
    every = monitored.fastest_minutes
    log_groups = ", ".join(monitored.canary_log_groups)
    return factory.occurred("CanaryErrors", name="canary-errors", metric=metrics.run(CANARY_ERRORS, "Sum", every),
                            window=factory.window(every), notify=False,
                            runbook=Runbook(_ERRORS.what, _ERRORS.first.format(log_groups=log_groups)))


def canary_errors_slower(factory: AlarmFactory, metrics: CanaryMetrics, monitored: Monitored) -> list[cw.Alarm]:
    """The same errors, M of N on each slower schedule: an hourly journey that ends ERROR or INCOMPLETE fills one
    fast period in four, so canary-errors alone never sees it twice in a row; ``canary-errors-60min`` does."""
    log_groups = ", ".join(monitored.canary_log_groups)
    slower = sorted({fn.every_minutes for fn in monitored.canary_functions} - {monitored.fastest_minutes})
    return [factory.occurred(f"CanaryErrors{every}min", name=f"canary-errors-{every}min", window=factory.window(every),
                             metric=metrics.run(CANARY_ERRORS, "Sum", every), notify=False,
                             runbook=Runbook(f"{_ERRORS.what}; here in consecutive {every}-min periods (the slower "
                                             "schedules: e.g. a journey that keeps ending ERROR or INCOMPLETE)",
                                             _ERRORS.first.format(log_groups=log_groups)))
            for every in slower]


def heartbeat(factory: AlarmFactory, metrics: CanaryMetrics, monitored: Monitored) -> cw.Alarm:
    """No RunPassed sample for twice the fastest schedule: the canary is not running."""
    every = monitored.fastest_minutes
    minutes = absence_minutes(every)
    return factory.absent(
        "Heartbeat",
        name="heartbeat",
        metric=metrics.run(RUN_PASSED, "SampleCount", minutes),
        runbook=Runbook(
            what=f"no run reported RunPassed for {minutes} min (twice the {every}-min schedule): the canary is not "
            "running or its metrics do not arrive (maintenance windows still emit RunPassed)",
            first="is the schedule rule enabled; Lambda Errors/Throttles; the schedule DLQ; the function's "
            "POWERTOOLS_SERVICE_NAME and CANARY_ENVIRONMENT (they are metric dimensions).",
        ),
    )


def leaked_sessions(factory: AlarmFactory, metrics: CanaryMetrics, sweep_every_minutes: int) -> cw.Alarm:
    """The sweeper found synthetic sessions older than the sweep age (any, in its latest sweep)."""
    return factory.exceeded("LeakedSessions", name="leaked-sessions", threshold=0, window=(1, 1), notify=True,
                            metric=metrics.run(LEAKED_SESSIONS, "Maximum", sweep_every_minutes), runbook=_LEAKED)


def selftest(factory: AlarmFactory, metrics: CanaryMetrics) -> cw.Alarm:
    """The alarm `canary selftest` drives with SetAlarmState to prove alarm -> SNS -> e-mail."""
    name = selftest_alarm_name(factory.cfg.name).removeprefix(f"{factory.cfg.prefix}-")
    return factory.occurred("AlertPathSelfTest", name=name, metric=metrics.selftest(), window=(1, 1), notify=True,
                            runbook=_SELFTEST)
