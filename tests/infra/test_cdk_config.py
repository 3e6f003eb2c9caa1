"""CDK context -> EnvironmentConfig: defaults, string forms from `cdk -c`, and errors that name the key."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from harness.contract import CHECK_IDS_BY_PROFILE, CRITICAL_CHECKS, NON_PROBE_TIERS, PROFILES, all_check_ids
from infra.catalogue import CHECK_HINTS, CHECK_TIER, REQUIRED_CONTEXT, checks_for, missing_context, tiers_with_checks
from infra.config import (
    TARGET_ENV,
    InfraConfigError,
    environment_config,
    environments_from_context,
)
from infra.stacks import cdk_json_context
from tests.infra.example_values import TEST_VALUES, example_path, filled_example, placeholders, write_filled_example

# A session-platform environment that names every target its default tiers alarm on.
SESSION_TARGETS: dict[str, Any] = {
    "profile": "session-platform",
    "base_url": "https://edit.webordinary.com",
    "ecs_cluster": "webordinary-edit-cluster",
    "hermes_service": "webordinary-hermes-service",
    "edit_service": "webordinary-edit-service",
    "sessions_table": "webordinary-edit-sessions",
    "target_group_arns": ["arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/hermes-api-tg/1"],
    "load_balancer_arn": "arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/alb/1",
    "efs_file_system_id": "fs-0123456789abcdef0",
}
QUEUE_TARGETS: dict[str, Any] = {
    "profile": "queue-platform",
    "state_machine_arn": "arn:aws:states:us-west-2:123456789012:stateMachine:email-processor",
    "queue_name_prefix": "webordinary-",
    "site_urls": ["https://amelia.webordinary.com/"],
    "ownership_table": "webordinary-container-ownership",
    "ecs_cluster": "webordinary-edit-cluster",
    "edit_service": "webordinary-edit-service",
}
BASE: dict[str, Any] = {"name": "production", "region": "us-west-2", **SESSION_TARGETS}


def cfg(**overrides: Any) -> Any:
    return environment_config({}, {**BASE, **overrides})


def test_cdk_json_names_no_target_and_alone_fails_pointing_at_the_examples() -> None:
    # GIVEN only cdk.json's context, as `python app.py` sees it (issue 11.3/11.4: no seed-era endpoint ships)
    context = cdk_json_context()
    canary_keys = {k for k in context if not k.startswith("@") and not k.startswith("aws:")}
    assert canary_keys == {"cdk_nag"}
    # WHEN the environments are resolved THEN synth fails, naming the key and the example of the default profile
    with pytest.raises(InfraConfigError) as raised:
        environments_from_context(context.get)
    assert "'region'" in str(raised.value) and "examples/queue-platform.json" in str(raised.value)
    assert "target_config" in str(raised.value)


def test_the_default_profile_is_the_current_architecture_and_every_missing_key_is_named() -> None:
    with pytest.raises(InfraConfigError) as raised:
        environment_config({}, {"region": "us-west-2"})
    message = str(raised.value)
    assert "(queue-platform)" in message and "examples/queue-platform.json" in message and "disabled_checks" in message
    for key, check in (("'state_machine_arn'", "stepfunctions.executions"), ("'site_urls'", "s3.site"),
                       ("'dlq_urls' or 'queue_name_prefix'", "sqs.dlq_empty"),
                       ("'ownership_table'", "ownership.claims"), ("'ecs_cluster'", "ecs.edit_idle")):
        assert f"{key} (for " in message and check in message, key


@pytest.mark.parametrize("profile", PROFILES)
def test_the_filled_example_of_each_profile_configures_every_alarmed_check(profile: str) -> None:
    env = environment_config({}, filled_example(profile))
    assert env.profile == profile and env.disabled_checks == ()
    assert set(env.alarmed_checks) == set(checks_for(profile, env.tiers))
    for check_id in env.alarmed_checks:
        assert missing_context(check_id, lambda key: key in env.targets) == (), check_id
    # TLS: every HTTPS name is one the *.webordinary.com certificate covers (one label; never the ALB's own
    # *.elb.amazonaws.com hostname, which fails TLS on every run)
    urls = [u for u in (env.target("base_url"), *env.target_list("site_urls")) if u]
    assert urls
    for url in urls:
        parts = urlsplit(url)
        assert parts.scheme == "https" and re.fullmatch(r"[a-z0-9-]+\.webordinary\.com", parts.hostname or ""), url


@pytest.mark.parametrize("profile", PROFILES)
def test_an_example_with_its_placeholders_left_fails_naming_them(profile: str) -> None:
    with pytest.raises(InfraConfigError) as raised:
        environments_from_context({"target_config": str(example_path(profile))}.get)
    assert "placeholders" in str(raised.value)
    assert placeholders(profile) and all(p in str(raised.value) for p in placeholders(profile))


def test_every_example_placeholder_has_a_test_value() -> None:
    for profile in PROFILES:
        assert placeholders(profile) <= set(TEST_VALUES), profile


def test_target_config_file_is_read_and_context_overrides_it(tmp_path: Path) -> None:
    path = write_filled_example("queue-platform", tmp_path)
    context = {"target_config": str(path), "probe_every_minutes": "5"}
    (env,) = environments_from_context(context.get)
    assert env.account == "123456789012" and env.profile == "queue-platform"
    assert env.target("state_machine_arn") == "arn:aws:states:us-west-2:123456789012:stateMachine:email-processor"
    assert env.schedule_minutes["probe"] == 5  # -c beats the file
    bad = tmp_path / "bad.json"
    for text, words in (("[1]", "one JSON object"), ("{", "not valid JSON"), ('{"regoin": "x"}', "'regoin'")):
        bad.write_text(text)
        with pytest.raises(InfraConfigError, match="target_config") as raised:
            environments_from_context({"target_config": str(bad)}.get)
        assert words in str(raised.value)
    with pytest.raises(InfraConfigError, match="cannot read"):
        environments_from_context({"target_config": str(tmp_path / "missing.json")}.get)


def test_disabled_checks_leave_the_alarms_schedule_and_required_keys() -> None:
    # No ALB: the operator disables its checks explicitly instead of leaving them silently green.
    no_alb = {k: v for k, v in BASE.items() if k not in ("target_group_arns", "load_balancer_arn")}
    with pytest.raises(InfraConfigError) as raised:
        environment_config({}, no_alb)
    assert "'target_group_arns' (for alb.targets)" in str(raised.value)
    assert "'load_balancer_arn' (for alb.rules)" in str(raised.value)
    env = environment_config({}, {**no_alb, "disabled_checks": "alb.targets,alb.rules"})
    assert env.disabled_checks == ("alb.targets", "alb.rules")
    assert "alb.targets" not in env.alarmed_checks and "http.routing" in env.alarmed_checks
    assert env.scheduled_event("probe", {"tiers": ["probe"]}) == {"checks": list(env.checks_of("probe"))}
    assert env.scheduled_event("journey", {"tiers": ["journey"]}) == {"tiers": ["journey"]}
    assert env.checks_of("journey") == ("session.lifecycle",)
    # a tier whose every check is disabled is not scheduled at all (and cannot be asked for)
    quiet = environment_config({}, {**BASE, "disabled_checks": ["session.lifecycle"]})
    assert quiet.tiers == ("probe",) and not quiet.creates_sessions
    with pytest.raises(InfraConfigError, match="'tiers' schedules 'journey'"):
        environment_config({}, {**BASE, "disabled_checks": ["session.lifecycle"], "tiers": ["probe", "journey"]})
    with pytest.raises(InfraConfigError, match="'disabled_checks'"):
        environment_config({}, {**BASE, "disabled_checks": ["sqs.dlq_empty"]})  # not a session-platform check


def test_cli_string_values_are_accepted() -> None:
    # `cdk -c key=value` passes strings: numbers, booleans, comma lists and JSON lists must all work
    env = cfg(probe_every_minutes="5", allow_destructive="true", tiers="probe,journey,destructive",
              target_group_arns='["arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/a/1"]',
              alarm_email="a@example.com,b@example.com", alarm_evaluation_periods="5", alarm_datapoints="4",
              maintenance_windows=json.dumps([{"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T02:00:00Z"}]),
              vpc=json.dumps({"vpc_id": "vpc-0123456789abcdef0",
                              "subnet_ids": "subnet-0123456789abcdef0,subnet-0123456789abcdef1"}))
    assert env.schedule_minutes["probe"] == 5
    assert env.tiers == ("probe", "journey", "destructive")
    assert env.target_list("target_group_arns") == (
        "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/a/1",)
    assert env.alarm_emails == ("a@example.com", "b@example.com")
    assert (env.alarm_datapoints, env.alarm_evaluation_periods) == (4, 5)
    assert env.maintenance_windows == ({"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T02:00:00Z"},)
    assert env.vpc is not None
    assert env.vpc.subnet_ids == ("subnet-0123456789abcdef0", "subnet-0123456789abcdef1")


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"name": "Prod_1"}, "'name'"),
        ({"region": "west"}, "'region'"),
        ({"account": "12345"}, "'account'"),
        ({"profile": "lambda"}, "'profile'"),
        ({"tiers": ["probe", "destructive"]}, "'allow_destructive'"),
        ({"tiers": ["soak"]}, "'tiers'"),
        ({"profile": "queue-platform", "tiers": ["journey"]}, "'tiers'"),
        ({"probe_every_minutes": 0}, "'probe_every_minutes'"),
        ({"journey_every_minutes": 1440}, "'journey_every_minutes'"),
        ({"probe_every_minutes": "often"}, "'probe_every_minutes'"),
        ({"alarm_datapoints": 4, "alarm_evaluation_periods": 3}, "'alarm_datapoints'"),
        ({"log_retention_days": 10}, "'log_retention_days'"),
        ({"alarm_email": "not-an-address"}, "'alarm_email'"),
        ({"powertools_layer_version": "v3"}, "'powertools_layer_version'"),
        ({"allow_destructive": "maybe"}, "'allow_destructive'"),
        ({"maintenance_windows": [{"start": "2026-01-01T00:00:00", "end": "2026-01-02T00:00:00Z"}]},
         "'maintenance_windows'"),
        ({"maintenance_windows": [{"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}]},
         "'maintenance_windows'"),
        ({"vpc": {"vpc_id": "vpc-0123456789abcdef0"}}, "'vpc.subnet_ids'"),
        ({"vpc": {"vpc_id": "vpc-1", "subnet_ids": ["subnet-0123456789abcdef0"]}}, "'vpc.vpc_id'"),
        ({"vpc": {"vpc_id": "vpc-0123456789abcdef0", "subnet_ids": ["subnet-0123456789abcdef0"],
                  "security_group_ids": ["default"]}}, "'vpc.security_group_ids'"),
        ({"vpc": {"vpc_id": "vpc-0123456789abcdef0", "subnet_ids": ["subnet-0123456789abcdef0"], "subnets": []}},
         "'vpc'"),
        ({"site_urls": ["https://a"], "site_buckets": ["a", "b"]}, "'site_buckets'"),
        ({"test_prefix": "x"}, "'test_prefix'"),
        ({"extra_environment": {"lower": "x"}}, "'extra_environment'"),
        ({"hermes_api_token_kms_key_arn": "alias/x"}, "'hermes_api_token_kms_key_arn'"),
        ({"ecs_clustr": "typo"}, "'ecs_clustr'"),
    ],
)
def test_invalid_context_names_the_key(overrides: dict[str, Any], names: str) -> None:
    with pytest.raises(InfraConfigError) as raised:
        cfg(**overrides)
    assert names in str(raised.value)


def test_environments_inherit_top_level_defaults_and_must_be_unique() -> None:
    context = {**SESSION_TARGETS, "probe_every_minutes": 10, "environments": [
        {"name": "production", "region": "us-west-2"},
        {"name": "production", "region": "eu-west-1", "probe_every_minutes": 30},
    ]}
    west, europe = environments_from_context(context.get)
    assert (west.schedule_minutes["probe"], europe.schedule_minutes["probe"]) == (10, 30)
    assert west.stack_name != europe.stack_name and west.prefix == europe.prefix
    context["environments"].append({"name": "production", "region": "us-west-2"})
    with pytest.raises(InfraConfigError, match="listed twice"):
        environments_from_context(context.get)


def test_default_tiers_follow_the_profile() -> None:
    # The queue platform has only probes; scheduling an empty journey tier would be a silent no-op.
    assert cfg().tiers == ("probe", "journey")
    queue = environment_config({}, {"name": "q", "region": "us-west-2", **QUEUE_TARGETS})
    assert queue.tiers == ("probe",) and not queue.creates_sessions


def test_context_keys_are_the_harness_config_keys_with_the_same_environment_variables() -> None:
    # A setting means the same in cdk.json, a CANARY_CONFIG file and the Lambda environment.
    from harness.config import env_var_for, field_names

    assert set(TARGET_ENV) <= set(field_names())
    assert {key: env_var_for(key) for key in TARGET_ENV} == TARGET_ENV


def test_catalogue_covers_exactly_the_contract_checks() -> None:
    assert set(CHECK_TIER) == set(all_check_ids()) == set(CHECK_HINTS)
    assert {c for c, t in CHECK_TIER.items() if t != "probe"} == set(NON_PROBE_TIERS)
    assert set(all_check_ids()) >= CRITICAL_CHECKS
    assert tiers_with_checks("queue-platform") == ("probe",)
    assert tiers_with_checks("session-platform") == ("probe", "journey", "destructive")
    assert checks_for("session-platform", ("journey",)) == ("session.lifecycle",)
    assert set(checks_for("queue-platform", ("probe",))) == set(CHECK_IDS_BY_PROFILE["queue-platform"])


def test_required_context_covers_every_check_and_every_harness_requirement() -> None:
    # infra may not import the harness catalogue, so it mirrors what checks need; this pins the mirror.
    from harness.checks import CATALOGUE

    assert set(REQUIRED_CONTEXT) == set(all_check_ids())
    for chk in CATALOGUE:
        single = {r for r in REQUIRED_CONTEXT[chk.id] if isinstance(r, str)}
        assert set(chk.requires) <= single, chk.id
        assert {k for r in REQUIRED_CONTEXT[chk.id] for k in ((r,) if isinstance(r, str) else r)} <= set(TARGET_ENV)
