"""Is the canary itself trustworthy: its errors, its heartbeat, the sessions it leaked, and the alert-path self-test.

The heartbeat treats missing data as breaching: the handler emits ``RunPassed`` on every run, maintenance
included, so no sample in a window twice the schedule means the canary is not running. canary-errors and the
heartbeat feed canary-broken (no actions of their own); leaked sessions and the self-test notify directly.
"""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cw

from harness.contract import CANARY_ERRORS, LEAKED_SESSIONS, RUN_PASSED, selftest_alarm_name
from infra.alarm_factory import ABOVE, AT_LEAST, BELOW, AlarmFactory, Runbook, absence_minutes
from infra.metrics import CanaryMetrics


def canary_errors(factory: AlarmFactory, metrics: CanaryMetrics, every_minutes: int,
                  log_groups: str) -> cw.Alarm:
    """Checks that ended ERROR (or INCOMPLETE outside maintenance), M of N on the fastest schedule."""
    return factory.alarm(
        "CanaryErrors",
        name="canary-errors",
        metric=metrics.run(CANARY_ERRORS, "Sum", every_minutes),
        threshold=1,
        comparison=AT_LEAST,
        window=factory.window(every_minutes),
        missing=cw.TreatMissingData.NOT_BREACHING,
        runbook=Runbook(
            what="checks ended ERROR: the canary is at fault (config, credentials, AccessDenied, its own "
            "throttling, a bug), not the platform",
            first=f"Logs Insights on {log_groups} for outcome ERROR and the reason code; recent IAM or context "
            "changes; `canary run` locally with the same config.",
        ),
        notify=False,
    )


def heartbeat(factory: AlarmFactory, metrics: CanaryMetrics, every_minutes: int) -> cw.Alarm:
    """No RunPassed sample for twice the fastest schedule: the canary is not running."""
    minutes = absence_minutes(every_minutes)
    return factory.alarm(
        "Heartbeat",
        name="heartbeat",
        metric=metrics.run(RUN_PASSED, "SampleCount", minutes),
        threshold=1,
        comparison=BELOW,
        window=(1, 1),
        missing=cw.TreatMissingData.BREACHING,
        runbook=Runbook(
            what=f"no run reported RunPassed for {minutes} min (twice the {every_minutes}-min schedule): the canary "
            "is not running or its metrics do not arrive (maintenance windows still emit RunPassed)",
            first="is the schedule rule enabled; Lambda Errors/Throttles; the schedule DLQ; the function's "
            "POWERTOOLS_SERVICE_NAME and CANARY_ENVIRONMENT (they are metric dimensions).",
        ),
        notify=False,
    )


def leaked_sessions(factory: AlarmFactory, metrics: CanaryMetrics, sweep_every_minutes: int) -> cw.Alarm:
    """The sweeper found synthetic sessions older than the sweep age."""
    return factory.alarm(
        "LeakedSessions",
        name="leaked-sessions",
        metric=metrics.run(LEAKED_SESSIONS, "Maximum", sweep_every_minutes),
        threshold=0,
        comparison=ABOVE,
        window=(1, 1),
        missing=cw.TreatMissingData.NOT_BREACHING,
        runbook=Runbook(
            what="the sweeper found synthetic sessions older than the sweep age: a journey's cleanup did not "
            "finish (each leaked session may hold an edit container, which costs money)",
            first="journey logs for cleanup errors; `canary sweep --dry-run`; the edit service's running "
            "count; deactivate leftovers through Hermes.",
        ),
        notify=True,
    )


def selftest(factory: AlarmFactory, metrics: CanaryMetrics) -> cw.Alarm:
    """The alarm `canary selftest` drives with SetAlarmState to prove alarm -> SNS -> e-mail."""
    cfg = factory.cfg
    return factory.alarm(
        "AlertPathSelfTest",
        name=selftest_alarm_name(cfg.name).removeprefix(f"{cfg.prefix}-"),
        metric=metrics.selftest(),
        threshold=1,
        comparison=AT_LEAST,
        window=(1, 1),
        missing=cw.TreatMissingData.NOT_BREACHING,
        runbook=Runbook(
            what="a self-test, not an incident: an operator drove this alarm with SetAlarmState to prove the "
            "alarm -> SNS -> e-mail path; it returns to OK by itself within minutes",
            first="nothing to fix if you expected it; if the OK message never arrives, check the SNS "
            "subscription.",
        ),
        notify=True,
    )
