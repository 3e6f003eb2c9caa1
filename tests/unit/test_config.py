"""Configuration: resolution order, and every invalid operator input refused with the field / env var named.

The canary runs against production unattended: a typo in an env var must stop it up front with a message that
says what to fix, never start a run with a half-understood config or crash with a stray exception.
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.config import (
    CONFIG_FILE_ENV,
    CanaryConfig,
    MaintenanceWindow,
    config_to_dict,
    env_var_for,
    field_names,
    load_config,
)
from harness.errors import ConfigError

TG_ARN = "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/hermes-api-tg/0123456789abcdef"
LB_ARN = "arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/webordinary/0123456789abcdef"
SFN_ARN = "arn:aws:states:us-west-2:123456789012:stateMachine:webordinary-build"
ENV_VARS = tuple(v for v in (env_var_for(name) for name in field_names()) if v)


def write_json(tmp_path: Path, data: Any, name: str = "canary.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def config_error(**kwargs: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(**kwargs)
    return info.value


# --- resolution order ------------------------------------------------------------------------------------------


def test_defaults_are_the_seed_era_values_and_read_only() -> None:
    cfg = load_config(environ={})
    assert cfg == CanaryConfig()
    assert cfg.environment == "production"
    assert cfg.ecs_cluster == "webordinary-edit-cluster"
    assert cfg.sessions_table == "webordinary-edit-sessions"
    assert cfg.tiers == ("probe",)
    assert cfg.allow_destructive is False
    assert cfg.base_url is None and cfg.hermes_base is None


def test_environment_overrides_default() -> None:
    cfg = load_config(environ={"ECS_CLUSTER": "env-cluster", "CANARY_TIERS": "probe, journey",
                               "CANARY_ALLOW_DESTRUCTIVE": "TRUE", "CANARY_HTTP_TIMEOUT_S": "2.5"})
    assert cfg.ecs_cluster == "env-cluster"
    assert cfg.tiers == ("probe", "journey")
    assert cfg.allow_destructive is True
    assert cfg.http_timeout_s == 2.5


def test_file_overrides_environment_and_explicit_overrides_file(tmp_path: Path) -> None:
    path = write_json(tmp_path, {"ecs_cluster": "file-cluster", "hermes_service": "file-hermes"})
    environ = {"ECS_CLUSTER": "env-cluster", "HERMES_SERVICE": "env-hermes", "EDIT_SERVICE": "env-edit",
               CONFIG_FILE_ENV: path}
    cfg = load_config({"ecs_cluster": "explicit-cluster"}, environ=environ)
    assert cfg.ecs_cluster == "explicit-cluster"  # explicit > file > env
    assert cfg.hermes_service == "file-hermes"  # file > env
    assert cfg.edit_service == "env-edit"  # env > default
    assert cfg.sessions_table == "webordinary-edit-sessions"  # default


def test_config_file_argument_beats_the_env_var_path(tmp_path: Path) -> None:
    chosen = write_json(tmp_path, {"environment": "chosen"}, "a.json")
    other = write_json(tmp_path, {"environment": "other"}, "b.json")
    assert load_config(environ={CONFIG_FILE_ENV: other}, config_file=chosen).environment == "chosen"


def test_explicit_none_falls_through_to_lower_sources() -> None:
    cfg = load_config({"ecs_cluster": None}, environ={"ECS_CLUSTER": "env-cluster"})
    assert cfg.ecs_cluster == "env-cluster"


def test_lists_hermes_base_and_round_trip(tmp_path: Path) -> None:
    environ = {"WEBORDINARY_BASE_URL": "https://alb.example.com/", "TARGET_GROUP_ARNS": f" {TG_ARN} ,, {TG_ARN}",
               "CANARY_MAINTENANCE_WINDOWS": '[{"start": "2030-01-01T00:00:00Z", "end": "2030-01-01T01:00:00Z"}]'}
    cfg = load_config(environ=environ)
    assert cfg.base_url == "https://alb.example.com"
    assert cfg.hermes_base == "https://alb.example.com/hermes"
    assert cfg.target_group_arns == (TG_ARN, TG_ARN)
    assert cfg.in_maintenance(datetime(2030, 1, 1, 0, 30, tzinfo=UTC))
    assert not cfg.in_maintenance(datetime(2030, 1, 1, 1, 0, tzinfo=UTC))  # end is exclusive
    # config_to_dict is the config-file form: loading it back gives the same config.
    path = write_json(tmp_path, config_to_dict(cfg))
    assert load_config(environ={}, config_file=path) == cfg


def test_hermes_url_wins_over_base() -> None:
    cfg = load_config(environ={"WEBORDINARY_BASE_URL": "http://alb", "HERMES_URL": "http://hermes:3000/"})
    assert cfg.hermes_base == "http://hermes:3000"


def test_empty_optional_values_mean_unset() -> None:
    cfg = load_config(environ={"WEBORDINARY_BASE_URL": " ", "LOAD_BALANCER_ARN": "", "ECS_CLUSTER": "  ",
                               "EFS_FILE_SYSTEM_ID": "", "QUEUE_URLS": " , "})
    assert cfg.base_url is None
    assert cfg.load_balancer_arn is None
    assert cfg.ecs_cluster is None
    assert cfg.efs_file_system_id is None
    assert cfg.queue_urls == ()


# --- invalid input: each error names what to fix -------------------------------------------------------------

BAD_ENV = [
    ("WEBORDINARY_BASE_URL", "ftp://alb.example.com"),
    ("WEBORDINARY_BASE_URL", "alb.example.com"),
    ("WEBORDINARY_BASE_URL", "http://"),
    ("WEBORDINARY_BASE_URL", "http://alb.example .com"),
    ("WEBORDINARY_BASE_URL", "http://alb.example.com/path with space"),
    ("HERMES_URL", "http://hermes\nevil"),
    ("QUEUE_URLS", "https://sqs.us-west-2.amazonaws.com/1/q,not-a-url"),
    ("CANARY_TIERS", "probe,chaos"),
    ("CANARY_TIERS", ","),
    ("CANARY_PROFILE", "everything"),
    ("CANARY_ALLOW_DESTRUCTIVE", "maybe"),
    ("CANARY_ALLOW_DESTRUCTIVE", "2"),
    ("CANARY_HTTP_TIMEOUT_S", "-1"),
    ("CANARY_HTTP_TIMEOUT_S", "0"),
    ("CANARY_HTTP_TIMEOUT_S", "nan"),
    ("CANARY_HTTP_TIMEOUT_S", "NaN"),
    ("CANARY_HTTP_TIMEOUT_S", "inf"),
    ("CANARY_HTTP_TIMEOUT_S", "1e400"),
    ("CANARY_HTTP_TIMEOUT_S", "ten"),
    ("CONTAINER_READY_TIMEOUT_S", "-60"),
    ("CANARY_CLEANUP_RESERVE_S", "-0.5"),
    ("CANARY_MAX_BODY_BYTES", "1.5"),
    ("CANARY_MAX_BODY_BYTES", "-1"),
    ("CANARY_LATENCY_SAMPLES", "0"),
    ("LOAD_BALANCER_ARN", "arn:aws:states:us-west-2:123456789012:stateMachine:x"),
    ("LOAD_BALANCER_ARN", "not-an-arn"),
    ("TARGET_GROUP_ARNS", f"{TG_ARN},arn:aws:elasticloadbalancing:us-west-2:12345:targetgroup/x/1"),
    ("STATE_MACHINE_ARN", LB_ARN),
    ("EFS_FILE_SYSTEM_ID", "fs-XYZ"),
    ("EFS_FILE_SYSTEM_ID", "efs-0123abcd"),
    ("TEST_PREFIX", ""),
    ("TEST_PREFIX", "_LEADING"),
    ("TEST_PREFIX", "X"),
    ("TEST_PREFIX", "has space"),
    ("CANARY_MAINTENANCE_WINDOWS", "not json"),
    ("CANARY_MAINTENANCE_WINDOWS", '{"start": "2030-01-01T00:00:00Z", "end": "2030-01-01T01:00:00Z"}'),
    ("CANARY_MAINTENANCE_WINDOWS", '[{"start": "2030-01-01T00:00:00Z"}]'),
    ("CANARY_MAINTENANCE_WINDOWS", '[{"start": "2030-01-01T00:00:00", "end": "2030-01-01T01:00:00"}]'),
    ("CANARY_MAINTENANCE_WINDOWS", '[{"start": "2030-01-01T01:00:00Z", "end": "2030-01-01T00:00:00Z"}]'),
    ("CANARY_MAINTENANCE_WINDOWS", '[{"start": "yesterday", "end": "tomorrow"}]'),
    ("CANARY_MAINTENANCE_WINDOWS", '[["2030-01-01T00:00:00Z", "2030-01-01T01:00:00Z"]]'),
    ("CANARY_MAINTENANCE_WINDOWS", "[" * 100_000),
    ("CANARY_ENVIRONMENT", ""),
    ("CANARY_ENVIRONMENT", "   "),
    ("TEST_CLIENT_ID", ""),
    ("PLATFORM_METRIC_NAMESPACE", " "),
]


@pytest.mark.parametrize(("env_var", "value"), BAD_ENV, ids=[f"{k}={v[:30]!r}" for k, v in BAD_ENV])
def test_invalid_env_value_is_refused_naming_the_variable(env_var: str, value: str) -> None:
    error = config_error(environ={env_var: value})
    assert env_var in str(error)
    assert error.env_var == env_var
    assert error.field is not None and env_var_for(error.field) == env_var


def test_unknown_tier_message_lists_the_valid_ones() -> None:
    message = str(config_error(environ={"CANARY_TIERS": "probe,chaos"}))
    assert "chaos" in message
    assert all(t in message for t in ("probe", "journey", "destructive"))


def test_site_buckets_must_match_site_urls_one_to_one() -> None:
    error = config_error(environ={"SITE_URLS": "https://a.example.com,https://b.example.com",
                                  "SITE_BUCKETS": "bucket-a"})
    assert "SITE_BUCKETS" in str(error) and "SITE_URLS" in str(error)
    assert error.field == "site_buckets"
    ok = load_config(environ={"SITE_URLS": "https://a.example.com,https://b.example.com",
                              "SITE_BUCKETS": "bucket-a,bucket-b"})
    assert ok.site_buckets == ("bucket-a", "bucket-b")


def test_latency_thresholds_must_be_ordered() -> None:
    error = config_error(environ={"CANARY_LATENCY_DEGRADED_MS": "5000"})
    assert "CANARY_LATENCY_DEGRADED_MS" in str(error) and "CANARY_LATENCY_FAILED_MS" in str(error)


def test_unknown_key_in_file_is_named_with_the_known_keys(tmp_path: Path) -> None:
    path = write_json(tmp_path, {"ecs_cluster": "x", "ecs_clustr": "typo"})
    error = config_error(environ={}, config_file=path)
    assert "'ecs_clustr'" in str(error)
    assert "ecs_cluster" in str(error)  # the hint lists the known keys
    assert error.field == "ecs_clustr"


def test_unknown_explicit_key_is_named() -> None:
    error = config_error(explicit={"allow_destructiv": True}, environ={})
    assert "'allow_destructiv'" in str(error)


@pytest.mark.parametrize("content", ["[1, 2]", '"a string"', "null", "42"])
def test_config_file_must_hold_an_object(tmp_path: Path, content: str) -> None:
    path = tmp_path / "canary.json"
    path.write_text(content, encoding="utf-8")
    error = config_error(environ={CONFIG_FILE_ENV: str(path)})
    assert CONFIG_FILE_ENV in str(error) and "object" in str(error)
    assert error.env_var == CONFIG_FILE_ENV


@pytest.mark.parametrize("content", [b"{not json", b'{"a": ', b"\xff\xfe\x00garbage", b""])
def test_config_file_that_is_not_json(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "canary.json"
    path.write_bytes(content)
    error = config_error(environ={CONFIG_FILE_ENV: str(path)})
    assert CONFIG_FILE_ENV in str(error) and "not valid JSON" in str(error)


def test_unreadable_config_files(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.json")
    assert CONFIG_FILE_ENV in str(config_error(environ={CONFIG_FILE_ENV: missing}))
    assert missing in str(config_error(environ={CONFIG_FILE_ENV: missing}))
    assert CONFIG_FILE_ENV in str(config_error(environ={CONFIG_FILE_ENV: str(tmp_path)}))  # a directory
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.json"
        locked.write_text("{}", encoding="utf-8")
        locked.chmod(0)
        assert CONFIG_FILE_ENV in str(config_error(environ={CONFIG_FILE_ENV: str(locked)}))


def test_config_file_path_with_a_nul_byte_is_a_config_error() -> None:
    assert CONFIG_FILE_ENV in str(config_error(environ={CONFIG_FILE_ENV: "canary\x00.json"}))


def test_absurdly_nested_config_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "canary.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    assert CONFIG_FILE_ENV in str(config_error(environ={CONFIG_FILE_ENV: str(path)}))


def test_null_in_the_file_unsets_an_optional_resource_but_not_a_required_value(tmp_path: Path) -> None:
    cfg = load_config(environ={"ECS_CLUSTER": "env-cluster"},
                      config_file=write_json(tmp_path, {"ecs_cluster": None, "base_url": None}))
    assert cfg.ecs_cluster is None and cfg.base_url is None
    error = config_error(environ={}, config_file=write_json(tmp_path, {"http_timeout_s": None}))
    assert "'http_timeout_s'" in str(error)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("http_timeout_s", "fast"),
        ("http_timeout_s", True),
        ("http_timeout_s", 10**400),
        ("max_body_bytes", [1]),
        ("allow_destructive", "sometimes"),
        ("tiers", ["probe", 7]),
        ("tiers", {"probe": True}),
        ("environment", 12),
        ("ecs_cluster", ["a"]),
        ("base_url", ["http://x"]),
        ("maintenance_windows", [{"start": 1, "end": 2}]),
        ("maintenance_windows", "[{]"),
        ("target_group_arns", 5),
    ],
)
def test_invalid_file_value_is_refused_naming_the_key(tmp_path: Path, key: str, value: Any) -> None:
    path = tmp_path / "canary.json"
    path.write_text(json.dumps({key: value}), encoding="utf-8")
    error = config_error(environ={}, config_file=str(path))
    assert f"config file key {key!r}" in str(error)
    assert error.field == key


def test_every_config_field_has_a_spec_and_a_unique_env_var() -> None:
    names = set(field_names())
    assert names == {f.name for f in dataclasses.fields(CanaryConfig)}
    assert len(set(ENV_VARS)) == len(ENV_VARS)


def test_maintenance_window_contains_is_half_open() -> None:
    window = MaintenanceWindow(datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 1, 2, tzinfo=UTC))
    assert window.contains(datetime(2030, 1, 1, tzinfo=UTC))
    assert not window.contains(datetime(2030, 1, 2, tzinfo=UTC))


# --- property: arbitrary operator text never crashes the loader -------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(env_var=st.sampled_from((*ENV_VARS, CONFIG_FILE_ENV)), value=st.text(max_size=80))
def test_arbitrary_env_text_gives_a_config_or_a_named_config_error(env_var: str, value: str) -> None:
    """For any text in any variable: a CanaryConfig, or a ConfigError that names that variable; nothing else."""
    try:
        cfg = load_config(environ={env_var: value})
    except ConfigError as error:
        assert env_var in str(error), f"{error} does not name {env_var}"
    else:
        assert isinstance(cfg, CanaryConfig)


@settings(max_examples=200, deadline=None)
@given(env_var=st.sampled_from(ENV_VARS),
       value=st.one_of(st.floats(), st.integers(), st.booleans(), st.none(), st.lists(st.text(max_size=5)),
                       st.dictionaries(st.text(max_size=5), st.text(max_size=5))))
def test_arbitrary_json_values_give_a_config_or_a_config_error(env_var: str, value: Any) -> None:
    """The same for explicit values of any JSON type (what a config file can hold)."""
    name = next(n for n in field_names() if env_var_for(n) == env_var)
    try:
        load_config({name: value}, environ={})
    except ConfigError as error:
        # A bad value names the key; a relation between two fields (latency thresholds) names both env vars.
        assert repr(name) in str(error) or env_var in str(error)
