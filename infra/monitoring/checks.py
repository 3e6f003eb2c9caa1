"""Per-check alarms on the sparse ``CheckFailed``, and the composite that pages for the critical ones.

``CheckFailed`` is emitted, as 1, only when a check ends FAILED (contract v2): a check that passed, or ended
ERROR, SKIPPED or INCOMPLETE, or ran in a maintenance window, emits nothing, and none of that is an outage.
Critical checks notify only through platform-unhealthy (one problem, one message) with their own M of N (default
1 of 1: failures are confirmed inside the run); warning checks notify directly. ERROR-only checks get no alarm:
they never FAIL, their ERROR reaches canary-errors.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import aws_cloudwatch as cw

from harness.contract import CHECK_FAILED, ERROR_ONLY_CHECKS
from infra.alarm_factory import AlarmFactory, Runbook
from infra.catalogue import CHECK_HINTS, is_critical, tier_of
from infra.metrics import CanaryMetrics
from infra.monitoring.monitored import Monitored


def check_construct_id(check_id: str) -> str:
    """``alb.targets`` -> ``CheckAlbTargets`` (stable: it is the alarm's logical id)."""
    return "Check" + "".join(part.capitalize() for part in check_id.replace("_", ".").split("."))


def check_alarms(factory: AlarmFactory, metrics: CanaryMetrics, monitored: Monitored) -> dict[str, cw.Alarm]:
    """One alarm per alarmed check that can FAIL, keyed by check id, in the context's order."""
    alarms: dict[str, cw.Alarm] = {}
    for check_id in monitored.cfg.alarmed_checks:
        if check_id in ERROR_ONLY_CHECKS:
            continue
        every = monitored.every_minutes(check_id)
        critical = is_critical(check_id)
        level = "critical (pages through platform-unhealthy)" if critical else "warning"
        alarms[check_id] = factory.occurred(
            check_construct_id(check_id),
            name=f"check-{check_id}",
            metric=metrics.check(CHECK_FAILED, check_id, "Sum", every),
            window=factory.window(every, critical=critical),
            runbook=Runbook(what=f"check {check_id} ({tier_of(check_id)} tier, {level}) FAILED",
                            first=f"{CHECK_HINTS[check_id]} Reproduce: `canary run --check {check_id}`."),
            notify=not critical,
        )
    return alarms


def platform_unhealthy(factory: AlarmFactory, alarms: Mapping[str, cw.Alarm]) -> cw.CompositeAlarm | None:
    """The page for users likely affected: any critical check's alarm; None when no critical check is alarmed."""
    critical = [check_id for check_id in alarms if is_critical(check_id)]
    if not critical:
        return None
    cfg = factory.cfg
    how_often = ("in the latest run" if cfg.critical_alarm_evaluation_periods == 1 else
                 f"in {cfg.critical_alarm_datapoints} of the last {cfg.critical_alarm_evaluation_periods} runs")
    return factory.any_of(
        "PlatformUnhealthy",
        name="platform-unhealthy",
        children=[alarms[c] for c in critical],
        runbook=Runbook(
            what=f"a critical check failed (confirmed by an in-run re-probe) {how_often}: users are likely affected "
            f"({', '.join(critical)})",
            first="open the child alarm in ALARM and its runbook; the dashboard's latest-failures widget names the "
            "step and reason; check for a deployment in progress.",
        ),
    )
