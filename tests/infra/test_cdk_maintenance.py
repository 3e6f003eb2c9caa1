"""Maintenance windows end to end through the contract: CDK context -> function environment -> harness config ->
the datapoints a run emits -> the synthesized alarms that read them (DESIGN §6, issue 7).

For every canary function of every stack, a worst-case run (every check FAILED) is turned into datapoints by
``harness.reporting.metrics.report_datapoints`` and each alarm on the canary's namespace is evaluated against them
the way
CloudWatch would: the metric present (with its statistic and threshold) or missing (its treat-missing-data).
Inside a maintenance window no per-check alarm may breach while the heartbeat still sees its run; outside one,
the same outage breaches the per-check alarms (so the window, not a blind evaluator, is what keeps them quiet).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from harness.checks import CATALOGUE
from harness.config import load_config
from harness.contract import CHECK_FAILED, CHECK_IDS_BY_PROFILE, NAMESPACE, NON_PROBE_TIERS, RUN_PASSED
from harness.core.model import CheckResult, Outcome, Profile, Reason, RunReport
from harness.reporting.metrics import Datapoint, report_datapoints
from tests.infra.conftest import PRODUCTION, QUEUE, STAGING, Synthesized
from tests.infra.template_tools import by_property, dimensions, resources

TIER_OF = {c.id: c.tier for c in CATALOGUE}
_STATISTICS: dict[str, Callable[[list[float]], float]] = {
    "Sum": sum, "Maximum": max, "Minimum": min, "SampleCount": len,
    "Average": lambda values: sum(values) / len(values),
}
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t, "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t, "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


def canary_functions(template: dict[str, Any]) -> list[dict[str, str]]:
    """The plain-string environment of every function that runs checks (the sweeper runs none)."""
    envs = []
    for function in resources(template, "AWS::Lambda::Function").values():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        if "CANARY_TIERS" in variables:
            envs.append({k: v for k, v in variables.items() if isinstance(v, str)})
    return envs


def outage(env: Mapping[str, str], *, maintenance: bool) -> RunReport:
    """A run of this function in which every check it runs FAILED (the worst a window has to keep quiet)."""
    config = load_config(environ=env)
    ids = [c for c in CHECK_IDS_BY_PROFILE[config.profile] if NON_PROBE_TIERS.get(c, "probe") in config.tiers]
    checks = tuple(CheckResult(id=i, tier=TIER_OF[i], profile=Profile(config.profile), outcome=Outcome.FAILED,
                               reason=Reason.HTTP_5XX, message="down", duration_ms=120) for i in ids)
    return RunReport(run_id="run-maintenance", environment=config.environment, profile=Profile(config.profile),
                     started_at="2026-12-24T23:00:00Z", duration_ms=4000, checks=checks, estimated_cost_usd=0.0001,
                     canary_version="test", maintenance=maintenance)


def healthy_run(env: Mapping[str, str]) -> RunReport:
    """The same run with every check PASSED, outside any window."""
    report = outage(env, maintenance=False)
    checks = tuple(replace(c, outcome=Outcome.PASSED, reason=None, message="ok") for c in report.checks)
    return replace(report, checks=checks)


def breaches(alarm: dict[str, Any], points: list[Datapoint]) -> bool:
    """Would this period's datapoints put the alarm's metric over its threshold (missing data as configured)?"""
    values = [p.value for p in points if p.name == alarm["MetricName"] and dict(p.dimensions) == dimensions(alarm)]
    if not values:
        return bool(alarm["TreatMissingData"] == "breaching")
    value = _STATISTICS[alarm["Statistic"]](values)
    return bool(_COMPARE[alarm["ComparisonOperator"]](value, alarm["Threshold"]))


@pytest.mark.parametrize("stack", [PRODUCTION, STAGING, QUEUE])
def test_an_outage_inside_a_window_breaches_no_check_alarm_and_keeps_the_heartbeat(synthesized: Synthesized,
                                                                                   stack: str) -> None:
    template = synthesized.json(stack)
    custom = [a for a in by_property(template, "AWS::CloudWatch::Alarm", "AlarmName").values()
              if a.get("Namespace") == NAMESPACE and "MetricName" in a]
    check_alarms = [a for a in custom if a["MetricName"] == CHECK_FAILED]
    (heartbeat,) = [a for a in custom if a["MetricName"] == RUN_PASSED]
    assert check_alarms and heartbeat["TreatMissingData"] == "breaching"
    for env in canary_functions(template):
        environment = env["CANARY_ENVIRONMENT"]
        mine = [a for a in check_alarms if dimensions(a).get("Check") and dimensions(a)["Environment"] == environment
                and dimensions(a)["Check"] in {c.id for c in outage(env, maintenance=False).checks}]
        during = report_datapoints(outage(env, maintenance=True))
        outside = report_datapoints(outage(env, maintenance=False))
        # inside the window: no CheckFailed at all, every per-check alarm treats that as not breaching ...
        assert not [p for p in during if p.name == CHECK_FAILED]
        assert not [a["AlarmName"] for a in mine if breaches(a, during)]
        # ... while RunPassed still arrives, so the heartbeat knows the canary runs (and pages when it does not)
        assert not breaches(heartbeat, during) and breaches(heartbeat, [])
        # outside it, the same outage emits CheckFailed and breaches every one of this function's per-check alarms
        assert mine and all(breaches(a, outside) for a in mine), environment
        # and a healthy run outside the window emits no per-check outcome at all (contract v2: sparse), which the
        # per-check alarms read as not breaching
        healthy = report_datapoints(healthy_run(env))
        assert not [p for p in healthy if p.name == CHECK_FAILED]
        assert not [a["AlarmName"] for a in mine if breaches(a, healthy)] and not breaches(heartbeat, healthy)


def test_the_window_from_cdk_context_reaches_every_canary_function_and_parses_in_the_harness(
        synthesized: Synthesized) -> None:
    envs = canary_functions(synthesized.json(PRODUCTION))
    assert envs
    for env in envs:
        config = load_config(environ=env)
        (window,) = config.maintenance_windows  # conftest: 2026-12-24T22:00Z .. 2026-12-25T06:00Z
        assert config.in_maintenance(window.start + timedelta(hours=1))
        assert not config.in_maintenance(window.end) and not config.in_maintenance(window.start - timedelta(seconds=1))
    # environments without a window in their context get none (and so never suppress anything)
    for stack in (STAGING, QUEUE):
        for env in canary_functions(synthesized.json(stack)):
            assert "CANARY_MAINTENANCE_WINDOWS" not in env
            assert load_config(environ=env).maintenance_windows == ()
