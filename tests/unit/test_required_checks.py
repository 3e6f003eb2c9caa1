"""CANARY_REQUIRED_CHECKS: a check the stack alarms on that ends SKIPPED not_configured is ERROR config_invalid
(canary-broken pages) naming the missing setting; unknown ids are a config error naming the variable."""

from __future__ import annotations

import pytest

from harness import contract
from harness.config import CanaryConfig, load_config
from harness.core.check import CheckContext, check
from harness.core.deadline import Deadline
from harness.core.errors import ConfigError
from harness.core.model import Outcome, Reason, RunReport
from harness.core.runner import Runner
from harness.net.aws import AwsClients
from harness.net.http import HttpClient
from harness.reporting.metrics import report_datapoints

ran: list[str] = []


@check("alb.targets", depends_on=())  # its spec requires target_group_arns
def targets(ctx: CheckContext) -> None:
    ran.append(ctx.check.id)


@check("alb.rules", depends_on=())  # its spec requires load_balancer_arn
def rules(ctx: CheckContext) -> None:
    ran.append(ctx.check.id)


def run(config: CanaryConfig) -> RunReport:
    ran.clear()
    runner = Runner([targets, rules], config=config, aws=AwsClients(factory=lambda _service: None),
                    http=HttpClient())
    return runner.run(deadline=Deadline.after(10))


def test_a_required_check_without_its_setting_is_error_config_invalid_naming_it() -> None:
    report = run(CanaryConfig(required_checks=("alb.targets",)))
    result = {r.id: r for r in report.checks}
    # THEN the required one is the canary's error, naming the variable to set; the optional one just skips
    assert (result["alb.targets"].outcome, result["alb.targets"].reason) == (Outcome.ERROR, Reason.CONFIG_INVALID)
    assert "TARGET_GROUP_ARNS" in result["alb.targets"].message
    assert "CANARY_REQUIRED_CHECKS" in result["alb.targets"].message and result["alb.targets"].evidence["required"]
    assert (result["alb.rules"].outcome, result["alb.rules"].reason) == (Outcome.SKIPPED, Reason.NOT_CONFIGURED)
    # AND the run is ERROR (exit 2) with CanaryErrors counted: canary-broken fires
    assert report.outcome is Outcome.ERROR and report.exit_code == 2
    points = {(p.name, p.dimensions.get("Check")): p.value for p in report_datapoints(report)}
    assert points[(contract.CANARY_ERRORS, None)] >= 1.0
    assert ran == []


def test_a_required_check_that_is_configured_runs_as_usual() -> None:
    report = run(CanaryConfig(required_checks=("alb.targets",), target_group_arns=(
        "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/hermes-api-tg/0123456789abcdef",)))
    assert {r.id: r.outcome for r in report.checks}["alb.targets"] is Outcome.PASSED and ran == ["alb.targets"]


def test_without_required_checks_not_configured_stays_skipped() -> None:
    report = run(CanaryConfig())
    assert {r.outcome for r in report.checks} == {Outcome.SKIPPED}


def test_required_checks_parse_from_the_environment() -> None:
    config = load_config(environ={"CANARY_REQUIRED_CHECKS": " alb.targets, alb.rules ,alb.targets"})
    assert config.required_checks == ("alb.targets", "alb.rules")


@pytest.mark.parametrize("value", ["alb.targetz", "alb.targets,nope"])
def test_unknown_required_check_ids_are_a_config_error_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(environ={"CANARY_REQUIRED_CHECKS": value})
    assert "CANARY_REQUIRED_CHECKS" in str(caught.value) and "unknown check id" in str(caught.value)
    assert caught.value.env_var == "CANARY_REQUIRED_CHECKS"
