"""infra's monitoring in layers (issue 12 #3): metric factory -> alarm factory -> per-concern modules -> dashboard.

The snapshots prove the layering changed nothing in the templates; these tests keep the layers honest: only the
metric factory spells a namespace or dimensions (and only the contract's names), only the alarm factory builds an
alarm (names, M of N, missing data, runbook, actions), and the factories refuse what would deploy a blind alarm.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from harness import contract
from infra.alarm_factory import AlarmFactory, Runbook, absence_minutes, evaluation_window
from infra.config import EnvironmentConfig, environment_config
from infra.metrics import CanaryMetrics

INFRA = Path(__file__).resolve().parents[2] / "infra"
QUEUE_ENV: dict[str, Any] = {
    "name": "unit",
    "region": "us-west-2",
    "profile": "queue-platform",
    "state_machine_arn": "arn:aws:states:us-west-2:123456789012:stateMachine:email-processor",
    "queue_name_prefix": "webordinary-",
    "site_urls": ["https://amelia.webordinary.com/"],
    "ownership_table": "webordinary-container-ownership",
    "ecs_cluster": "webordinary-edit-cluster",
    "edit_service": "webordinary-edit-service",
}


def _config(**overrides: Any) -> EnvironmentConfig:
    return environment_config({}, {**QUEUE_ENV, **overrides})


def _sources_outside(*owners: str) -> dict[str, str]:
    return {str(p.relative_to(INFRA)): p.read_text(encoding="utf-8") for p in sorted(INFRA.rglob("*.py"))
            if str(p.relative_to(INFRA)) not in owners}


@pytest.mark.parametrize(("owner", "pattern"), [
    ("metrics.py", r"\bcw\.Metric\(|\bnamespace=|\bdimensions_map="),
    ("alarm_factory.py", r"\bcw\.(Alarm|CompositeAlarm)\(|\bevaluation_periods=|\bdatapoints_to_alarm=|"
                         r"\btreat_missing_data=|\balarm_description=|\badd_(alarm|ok)_action\("),
])
def test_each_concern_of_an_alarm_is_spelled_in_one_layer_only(owner: str, pattern: str) -> None:
    # GIVEN every infra module but the layer that owns the concern
    others = _sources_outside(owner)
    # THEN none of them builds metrics (or alarms) by hand
    found = [f"{name}: {m.group(0)}" for name, text in others.items() for m in re.finditer(pattern, text)]
    assert found == [], f"only infra/{owner} may do this; go through its factory:\n" + "\n".join(found)
    # and the owner really does (the pattern is not vacuous)
    assert re.search(pattern, (INFRA / owner).read_text(encoding="utf-8"))


def test_the_metric_factory_takes_names_and_dimensions_from_the_contract() -> None:
    metrics = CanaryMetrics("production")
    failed = metrics.check(contract.CHECK_FAILED, "ecs.cluster", "Sum", 5)
    assert (failed.namespace, failed.metric_name) == (contract.NAMESPACE, contract.CHECK_FAILED)
    assert failed.dimensions == contract.check_dimensions("production", "ecs.cluster")
    assert metrics.run(contract.RUN_PASSED, "SampleCount", 10).dimensions == contract.run_dimensions("production")
    ready = metrics.container_ready("cold", "p50", 60)
    assert ready.dimensions == contract.container_ready_dimensions("production", "cold")


@pytest.mark.parametrize(("call", "words"), [
    (lambda m: m.run("RunPassd", "Sum", 5), "PER_RUN_METRICS"),
    (lambda m: m.run(contract.CHECK_FAILED, "Sum", 5), "PER_RUN_METRICS"),
    (lambda m: m.check(contract.RUN_PASSED, "ecs.cluster", "Sum", 5), "PER_CHECK_METRICS"),
    (lambda m: m.check(contract.CONTAINER_READY_LATENCY, "session.lifecycle", "p50", 5), "container_ready"),
])
def test_the_metric_factory_refuses_a_name_or_dimension_set_the_handler_never_emits(call: Any, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        call(CanaryMetrics("production"))


def test_windows_fit_in_one_day_and_absence_is_twice_the_schedule() -> None:
    cfg = _config(alarm_evaluation_periods=5, alarm_datapoints=3)
    assert evaluation_window(cfg, 5 * 60) == (3, 5)
    assert evaluation_window(cfg, 12 * 3600) == (2, 2)  # 5 x 12 h would exceed CloudWatch's one day
    assert evaluation_window(cfg, 24 * 3600) == (1, 1)
    assert absence_minutes(5) == 10 and absence_minutes(1440) == 1440


def test_the_alarm_factory_owns_rule_missing_data_runbook_and_actions() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Unit", env=cdk.Environment(account="123456789012", region="us-west-2"))
    cfg = _config()
    topic = sns.Topic(stack, "Topic")
    factory = AlarmFactory(stack, cfg, topic)
    metrics = CanaryMetrics(cfg.name)
    happened = factory.occurred("Happened", name="happened", metric=metrics.run(contract.CANARY_ERRORS, "Sum", 5),
                                window=(2, 3), runbook=Runbook("what", "first."), notify=True)
    stopped = factory.absent("Stopped", name="stopped", metric=metrics.run(contract.RUN_PASSED, "SampleCount", 10),
                             runbook=Runbook("nothing ran", "look."))
    assert factory.all == [happened, stopped]
    alarms = {r["Properties"]["AlarmName"]: r["Properties"]
              for r in Template.from_stack(stack).find_resources("AWS::CloudWatch::Alarm").values()}
    occurred, absent = alarms[f"{cfg.prefix}-happened"], alarms[f"{cfg.prefix}-stopped"]
    assert occurred["AlarmDescription"] == (
        "WHAT: what. RULE: CanaryErrors Sum >= 1 in 2 of 3 x 5 min; missing data is not breaching. FIRST: first. "
        f"Dashboard: {cfg.prefix}-{cfg.region}.")
    topic_ref = [{"Ref": stack.get_logical_id(topic.node.default_child)}]  # type: ignore[arg-type]
    assert occurred["AlarmActions"] == occurred["OKActions"] == topic_ref
    assert (occurred["DatapointsToAlarm"], occurred["EvaluationPeriods"]) == (2, 3)
    assert occurred["TreatMissingData"] == "notBreaching"
    # an absence alarm: missing data is the signal, and it only feeds canary-broken
    assert (absent["ComparisonOperator"], absent["Threshold"], absent["TreatMissingData"]) == (
        "LessThanThreshold", 1, "breaching")
    assert "AlarmActions" not in absent and "OKActions" not in absent
    rule = "RULE: RunPassed SampleCount < 1 in 1 of 1 x 10 min; missing data is breaching."
    assert rule in absent["AlarmDescription"]
    with pytest.raises(ValueError, match="1024"):
        factory.occurred("Long", name="long", metric=metrics.run(contract.CANARY_ERRORS, "Sum", 5), window=(1, 1),
                         runbook=Runbook("x" * 1024, "first."), notify=False)
