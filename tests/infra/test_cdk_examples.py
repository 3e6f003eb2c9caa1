"""Issue 11's done-when, certified on the template a new operator gets: synthesize with only an edited copy of
``examples/<profile>.json`` (placeholders replaced, nothing else) and read the result as AWS would.

For each profile: every alarm can notify someone (its own actions reach the topic through its policy, or it is a
child of a composite that does); no function sets a key Lambda reserves or one that redirects the SDK; no alarmed
check, critical ones above all, lacks the resources that would stop it from ending SKIPPED not_configured; and
every per-check alarm watches ``CheckFailed`` with exactly ``contract.check_dimensions`` (namespace, name and
dimensions, service included), so it reads the metric a failing run emits.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from harness.checks import CATALOGUE
from harness.config import load_config
from harness.contract import (
    CHECK_FAILED,
    CHECK_IDS_BY_PROFILE,
    CRITICAL_CHECKS,
    ERROR_ONLY_CHECKS,
    NAMESPACE,
    PROFILES,
    check_dimensions,
)
from infra.lambda_environment import refusal
from tests.infra.alert_path import check_alert_path
from tests.infra.example_values import TEST_VALUES, write_filled_example
from tests.infra.template_tools import by_property, dimensions, render, resources

ACCOUNT = TEST_VALUES["<ACCOUNT_ID>"]
REQUIRES = {c.id: c.requires for c in CATALOGUE}


@dataclass
class Deployed:
    profile: str
    environment: str
    region: str
    template: dict[str, Any]
    assertions: Any


@pytest.fixture(scope="module", params=PROFILES)
def deployed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    from aws_cdk.assertions import Template

    from infra.stacks import build_app, canary_stacks

    profile = str(request.param)
    work = tmp_path_factory.mktemp(f"example-{profile}")
    copy = write_filled_example(profile, work)
    # Only the operator's file (plus the test-speed switches the other infra tests use).
    app = build_app({"target_config": str(copy), "aws:cdk:bundling-stacks": [],
                     "@aws-cdk/core:validateAgainstDefaultRules": False}, outdir=str(work / "cdk.out"))
    app.synth()
    (stack,) = canary_stacks(app)
    template = Template.from_stack(stack)
    yield Deployed(profile, stack.cfg.name, stack.cfg.region, dict(template.to_json()), template)


def function_envs(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {props["FunctionName"]: props.get("Environment", {}).get("Variables", {})
            for props in by_property(template, "AWS::Lambda::Function", "FunctionName").values()}


def test_every_alarm_can_notify_someone(deployed: Deployed) -> None:
    # Its own actions publish (walker: alarm -> topic -> topic policy), or a notifying composite watches it.
    report = check_alert_path(deployed.assertions, region=deployed.region, account=ACCOUNT)
    assert report.problems == []
    alarms = {k: v["Properties"] for k, v in resources(deployed.template, "AWS::CloudWatch::Alarm").items()}
    composites = [v["Properties"] for v in resources(deployed.template, "AWS::CloudWatch::CompositeAlarm").values()]
    assert report.alarms_checked >= len(alarms) + len(composites) > 0
    notifying_rules = [render(c["AlarmRule"]) for c in composites if c.get("AlarmActions")]
    assert len(notifying_rules) == len(composites)
    for logical, props in alarms.items():
        watched = any("${" + logical + ".Arn}" in rule for rule in notifying_rules)
        assert props.get("AlarmActions") or watched, props["AlarmName"]


def test_no_function_sets_a_reserved_or_redirecting_environment_key(deployed: Deployed) -> None:
    envs = function_envs(deployed.template)
    assert envs
    for name, env in envs.items():
        assert {key: refusal(key) for key in env if refusal(key)} == {}, name


def test_no_alarmed_check_is_left_unconfigured(deployed: Deployed) -> None:
    envs = function_envs(deployed.template)
    alarmed = {dimensions(a)["Check"]
               for a in by_property(deployed.template, "AWS::CloudWatch::Alarm", "AlarmName").values()
               if a.get("MetricName") == CHECK_FAILED}
    # the example alarms on every scheduled check of its profile, critical ones included
    assert alarmed and CRITICAL_CHECKS & set(CHECK_IDS_BY_PROFILE[deployed.profile]) <= alarmed
    required: set[str] = set()
    for name, env in envs.items():
        if "CANARY_TIERS" not in env:
            continue  # the sweeper runs no check
        plain = {k: v for k, v in env.items() if isinstance(v, str)}
        config = load_config(environ=plain)
        mine = set(plain.get("CANARY_REQUIRED_CHECKS", "").split(",")) - {""}
        required |= mine
        for check_id in mine:
            # the harness would run it (not SKIPPED not_configured): every field it requires is set
            assert all(getattr(config, field) for field in REQUIRES[check_id]), (name, check_id)
    # every alarmed check is a required check of the function that runs it; the rest are the ERROR-only checks
    # (no per-check alarm: their ERROR counts in CanaryErrors)
    assert alarmed <= required and required - alarmed <= ERROR_ONLY_CHECKS


def test_every_per_check_alarm_watches_check_failed_with_the_contract_dimensions(deployed: Deployed) -> None:
    alarms = [a for a in by_property(deployed.template, "AWS::CloudWatch::Alarm", "AlarmName").values()
              if "-check-" in a["AlarmName"]]
    assert alarms
    for alarm in alarms:
        check_id = alarm["AlarmName"].split("-check-", 1)[1]
        assert (alarm["Namespace"], alarm["MetricName"]) == (NAMESPACE, CHECK_FAILED), alarm["AlarmName"]
        assert dimensions(alarm) == check_dimensions(deployed.environment, check_id), alarm["AlarmName"]
        assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
            "Sum", 1, "GreaterThanOrEqualToThreshold")
        assert alarm["TreatMissingData"] == "notBreaching"


def test_the_alert_topic_and_its_e_mail_come_from_the_example(deployed: Deployed) -> None:
    (topic,) = resources(deployed.template, "AWS::SNS::Topic").values()
    assert topic["Properties"]["TopicName"] == f"webordinary-canary-{deployed.environment}-alerts"
    subscriptions = [s["Properties"]["Endpoint"] for s in resources(deployed.template, "AWS::SNS::Subscription")
                     .values()]
    assert subscriptions == [TEST_VALUES["<ONCALL_EMAIL>"]]


def test_canary_cost_counts_the_alarms_the_stack_deploys(deployed: Deployed) -> None:
    # harness.reporting.cost_report mirrors infra's alarm set (it may not import infra): the bill must match the
    # template.
    from harness.reporting.cost_report import default_deployment

    probe = function_envs(deployed.template)[f"webordinary-canary-{deployed.environment}-probe"]
    config = load_config(environ={k: v for k, v in probe.items() if isinstance(v, str)})
    alarms = resources(deployed.template, "AWS::CloudWatch::Alarm")
    composites = resources(deployed.template, "AWS::CloudWatch::CompositeAlarm")
    estimate = default_deployment(config)
    assert (estimate.alarms, estimate.composite_alarms) == (len(alarms), len(composites))
