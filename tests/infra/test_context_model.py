"""infra.context_model: each CDK context key typed by pydantic, string forms from `cdk -c` accepted, every error
naming its key; the target keys and their types come from harness.settings."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.settings import SETTINGS, TARGET_ENV
from infra.context_model import (
    DEPLOY_KEYS,
    KNOWN_KEYS,
    MAX_TARGET_SECONDS,
    InfraConfigError,
    environment_entries,
    parse_context,
    text,
)

TARGETS = [s for s in SETTINGS if s.deployable]


def refused(context: dict[str, Any]) -> str:
    with pytest.raises(InfraConfigError) as raised:
        parse_context(context)
    return str(raised.value)


def test_the_known_keys_are_the_deploy_keys_and_the_settings_targets() -> None:
    assert set(KNOWN_KEYS) == DEPLOY_KEYS | set(TARGET_ENV)
    assert not DEPLOY_KEYS & set(TARGET_ENV)


@pytest.mark.parametrize("setting", TARGETS, ids=lambda s: s.key)
def test_each_target_takes_the_type_its_setting_declares(setting: Any) -> None:
    if setting.is_list:
        assert getattr(parse_context({setting.key: " a, b ,,"}), setting.key) == ("a", "b")
        assert getattr(parse_context({setting.key: '["a", " "]'}), setting.key) == ("a",)
        assert f"context '{setting.key}'[0]" in refused({setting.key: [1]})
    elif setting.is_number:
        assert getattr(parse_context({setting.key: " 60 "}), setting.key) == 60
        assert getattr(parse_context({setting.key: ""}), setting.key) is None
        for bad in (0, MAX_TARGET_SECONDS + 1, "soon", True, 1.5):
            assert f"context '{setting.key}'" in refused({setting.key: bad})
    else:
        assert getattr(parse_context({setting.key: "  x  "}), setting.key) == "x"
        assert getattr(parse_context({setting.key: "  "}), setting.key) is None
        assert f"context '{setting.key}'" in refused({setting.key: 5})


@pytest.mark.parametrize(("given", "expected"), [(True, True), ("true", True), (" YES ", True), ("on", True),
                                                 ("1", True), (False, False), ("off", False), ("0", False)])
def test_booleans_in_their_string_forms(given: Any, expected: bool) -> None:
    assert parse_context({"allow_destructive": given}).allow_destructive is expected


def test_numbers_lists_and_json_in_their_string_forms() -> None:
    context = parse_context({
        "probe_every_minutes": "5", "alarm_email": "a@example.com, b@example.com", "tiers": '["probe"]',
        "reserved_concurrency": "none", "vpc": json.dumps({"vpc_id": "vpc-0123456789abcdef0",
                                                           "subnet_ids": "subnet-0123456789abcdef0"}),
        "extra_environment": '{"TZ": "UTC"}', "powertools_layer_version": 27,
        "maintenance_windows": '[{"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T02:00:00+00:00"}]',
    })
    assert (context.probe_every_minutes, context.tiers, context.reserved_concurrency) == (5, ("probe",), None)
    assert context.alarm_email == ("a@example.com", "b@example.com")
    assert context.vpc is not None and context.vpc.subnet_ids == ("subnet-0123456789abcdef0",)
    assert context.extra_environment == {"TZ": "UTC"} and context.powertools_layer_version == "27"
    (window,) = context.maintenance_windows
    assert (window.start, window.end) == ("2026-01-01T00:00:00Z", "2026-01-01T02:00:00+00:00")  # kept as written


def test_defaults_when_unset() -> None:
    context = parse_context({})
    assert context.name == "production" and context.region is None and context.tiers == ()
    assert (context.probe_every_minutes, context.journey_every_minutes, context.sweeper_every_minutes,
            context.destructive_every_minutes) == (15, 60, 60, 720)
    assert (context.alarm_datapoints, context.alarm_evaluation_periods) == (2, 3)
    assert (context.critical_alarm_datapoints, context.critical_alarm_evaluation_periods) == (1, 1)
    assert (context.log_retention_days, context.powertools_layer_version) == (30, "27")
    assert context.vpc is None and context.extra_environment == {} and context.reserved_concurrency is None


def test_every_problem_is_reported_at_once_each_naming_its_key() -> None:
    message = refused({"probe_every_minutes": "often", "allow_destructive": "maybe", "log_retention_days": 10,
                       "vpc": {"vpc_id": "vpc-1", "subnets": []},
                       "maintenance_windows": [{"start": "2026-01-01T00:00:00", "end": "2026-01-02T00:00:00Z"}]})
    for where in ("context 'probe_every_minutes': ", "context 'allow_destructive': ",
                  "context 'log_retention_days': 10 is not a CloudWatch retention",
                  "context 'vpc.vpc_id': 'vpc-1' is not a VPC id", "context 'vpc.subnet_ids': required",
                  "context 'vpc': unknown key 'subnets'",
                  "context 'maintenance_windows'[0].start: '2026-01-01T00:00:00' has no time zone"):
        assert where in message, (where, message)
    assert "'often'" in message and "'maybe'" in message  # the offending value is quoted


def test_a_bad_json_string_names_the_key() -> None:
    assert "context 'tiers': not a valid JSON list" in refused({"tiers": "[probe"})
    assert "context 'vpc': not valid JSON" in refused({"vpc": "{vpc"})
    assert "ends before it starts" in refused(
        {"maintenance_windows": [{"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}]})


def test_environments_and_target_config_outside_an_entry() -> None:
    assert environment_entries(None) == [{}] and environment_entries("") == [{}] and environment_entries([]) == [{}]
    assert environment_entries('[{"name": "a"}]') == [{"name": "a"}]
    with pytest.raises(InfraConfigError, match=r"context 'environments'\[0\]"):
        environment_entries(["production"])
    assert text("target_config", " file.json ") == "file.json" and text("target_config", None) is None
    with pytest.raises(InfraConfigError, match="context 'target_config'"):
        text("target_config", 3)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@given(key=st.sampled_from(sorted(KNOWN_KEYS)), value=JSON_VALUES | st.text(max_size=40))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_value_of_any_key_is_typed_or_refused_naming_that_key(key: str, value: Any) -> None:
    try:
        parse_context({key: value})
    except InfraConfigError as exc:
        assert f"context '{key}" in str(exc) and len(str(exc)) < 2000, str(exc)


def test_an_absurdly_nested_or_huge_value_is_a_short_error() -> None:
    assert "nested too deeply" in refused({"tiers": "[" * 100_000})
    assert "nested too deeply" in refused({"vpc": "[" * 100_000})
    message = refused({"probe_every_minutes": "x" * 100_000})
    assert "context 'probe_every_minutes'" in message and len(message) < 400


@given(key=st.sampled_from(sorted(KNOWN_KEYS)), value=JSON_VALUES | st.text(max_size=40))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_value_in_an_environment_gives_a_config_or_an_infra_config_error(key: str, value: Any) -> None:
    from infra.config import environment_config

    try:
        environment_config({}, {"region": "us-west-2", "disabled_checks": [], key: value})
    except InfraConfigError as exc:
        assert str(exc).startswith(("context ", "environment ")), str(exc)


def test_the_readme_context_table_lists_every_known_key() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| key | default | meaning |"):]
    table = table[:table.index("\n\n")]
    listed: set[str] = set()
    for row in table.splitlines()[2:]:
        for token in re.findall(r"`([a-z_/]+)`", row.split("|")[1]):
            *heads, last = token.split("/")  # probe/journey/..._every_minutes
            suffix = last[last.index("_"):] if heads else ""
            listed |= {head + suffix for head in heads} | {last}
    assert sorted(KNOWN_KEYS - listed) == []
