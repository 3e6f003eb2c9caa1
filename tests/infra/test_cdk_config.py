"""CDK context -> EnvironmentConfig: defaults, string forms from `cdk -c`, and errors that name the key."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.contract import CHECK_IDS_BY_PROFILE, CRITICAL_CHECKS, NON_PROBE_TIERS, all_check_ids
from infra.application import cdk_json_context
from infra.catalogue import CHECK_HINTS, CHECK_TIER, checks_for, tiers_with_checks
from infra.config import (
    KNOWN_KEYS,
    TARGET_ENV,
    InfraConfigError,
    environment_config,
    environments_from_context,
)

BASE: dict[str, Any] = {"name": "production", "region": "us-west-2"}


def cfg(**overrides: Any) -> Any:
    return environment_config({}, {**BASE, **overrides})


def test_cdk_json_defaults_build_the_seed_era_production_stack() -> None:
    # GIVEN only cdk.json's context, as `python app.py` sees it
    context = cdk_json_context()
    # WHEN the environments are resolved
    (env,) = environments_from_context(context.get)
    # THEN one production stack in us-west-2 with the seed-era names and the probe + journey tiers
    assert env.stack_name == "WebordinaryCanary-production-us-west-2"
    assert env.account is None  # account-agnostic unless context gives one: no lookups, no credentials
    assert env.tiers == ("probe", "journey")
    assert env.schedule_minutes == {"probe": 15, "journey": 60, "sweeper": 60, "destructive": 720}
    assert env.target("ecs_cluster") == "webordinary-edit-cluster"
    assert env.target("hermes_service") == "webordinary-hermes-service"
    assert env.target("edit_service") == "webordinary-edit-service"
    assert env.target("sessions_table") == "webordinary-edit-sessions"
    assert env.target("ownership_table") == "webordinary-container-ownership"
    assert env.target("test_prefix") == "TEST_"
    assert (env.alarm_datapoints, env.alarm_evaluation_periods) == (2, 3)
    assert env.creates_sessions and not env.allow_destructive


def test_cdk_json_keys_are_all_known() -> None:
    # Feature flags and aws:cdk:* keys aside, every canary key in cdk.json is one the config reads.
    context = cdk_json_context()
    canary_keys = {k for k in context if not k.startswith("@") and not k.startswith("aws:")}
    assert canary_keys - KNOWN_KEYS == {"environments", "cdk_nag"}


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
    context = {"profile": "session-platform", "probe_every_minutes": 10, "environments": [
        {"name": "production", "region": "us-west-2"},
        {"name": "production", "region": "eu-west-1", "probe_every_minutes": 30},
    ]}
    west, europe = environments_from_context(context.get)
    assert (west.schedule_minutes["probe"], europe.schedule_minutes["probe"]) == (10, 30)
    assert west.stack_name != europe.stack_name and west.prefix == europe.prefix
    context["environments"].append({"name": "production", "region": "us-west-2"})  # type: ignore[attr-defined]
    with pytest.raises(InfraConfigError, match="listed twice"):
        environments_from_context(context.get)


def test_default_tiers_follow_the_profile() -> None:
    # The queue platform has only probes; scheduling an empty journey tier would be a silent no-op.
    assert cfg().tiers == ("probe", "journey")
    queue = cfg(profile="queue-platform")
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
