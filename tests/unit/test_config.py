"""Configuration: resolution order, and every invalid operator input refused with the field / env var named.

The canary runs against production unattended: a typo in an env var must stop it up front with a message that
says what to fix, never start a run with a half-understood config or crash with a stray exception.
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime, timedelta
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
from harness.core.errors import ConfigError

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


# --- issue 14.7: URL credentials are refused, never echoed -----------------------------------------------------

URL_ENVS = ("WEBORDINARY_BASE_URL", "HERMES_URL", "QUEUE_URLS", "DLQ_URLS", "SITE_URLS")


@pytest.mark.parametrize("env_var", URL_ENVS)
@pytest.mark.parametrize("url", ["https://user:hunter2-pw@alb.example.com", "https://hunter2-pw@alb.example.com/x",
                                 "http://user:hunter2-pw@127.0.0.1:8080/hermes", "https://u:p@hunter2-pw@h.example"])
def test_a_url_with_credentials_is_refused_naming_the_variable_without_the_password(env_var: str, url: str) -> None:
    error = config_error(environ={env_var: f"https://ok.example.com,{url}" if env_var.endswith("URLS") else url})
    assert error.env_var == env_var and str(error).startswith(f"{env_var}:")
    assert "credentials" in str(error)
    assert "hunter2" not in str(error)


def test_a_malformed_url_is_quoted_without_its_credentials() -> None:
    error = config_error(environ={"WEBORDINARY_BASE_URL": "https://user:hunter2-pw@alb example.com"})
    assert error.env_var == "WEBORDINARY_BASE_URL" and "hunter2" not in str(error)


def test_an_at_sign_in_the_path_or_query_is_not_a_credential() -> None:
    cfg = load_config(environ={"WEBORDINARY_BASE_URL": "https://alb.example.com/a@b?c=d@e"})
    assert cfg.base_url == "https://alb.example.com/a@b?c=d@e"


# --- issue 14.11: ARN resource types ------------------------------------------------------------------------------

PARTITIONS = (("aws", "us-west-2"), ("aws-cn", "cn-north-1"), ("aws-us-gov", "us-gov-west-1"))


def _arn(partition: str, region: str, service: str, resource: str) -> str:
    return f"arn:{partition}:{service}:{region}:123456789012:{resource}"


@pytest.mark.parametrize(("partition", "region"), PARTITIONS)
def test_each_arn_of_the_right_type_is_accepted_in_every_partition(partition: str, region: str) -> None:
    tg = _arn(partition, region, "elasticloadbalancing", "targetgroup/hermes-tg/0123456789abcdef")
    lb = _arn(partition, region, "elasticloadbalancing", "loadbalancer/app/webordinary/0123456789abcdef")
    for machine in ("stateMachine:build", "stateMachine:build:7", "stateMachine:build:PROD"):
        sfn = _arn(partition, region, "states", machine)
        cfg = load_config(environ={"TARGET_GROUP_ARNS": f"{tg},{tg}", "LOAD_BALANCER_ARN": lb,
                                   "STATE_MACHINE_ARN": sfn})
        assert (cfg.target_group_arns, cfg.load_balancer_arn, cfg.state_machine_arn) == ((tg, tg), lb, sfn)


WRONG_TYPES = [
    ("TARGET_GROUP_ARNS", "elasticloadbalancing", "loadbalancer/app/webordinary/0123456789abcdef", "loadbalancer"),
    ("TARGET_GROUP_ARNS", "elasticloadbalancing", "listener/app/webordinary/0123456789abcdef/fedcba", "listener"),
    ("TARGET_GROUP_ARNS", "vpc-lattice", "targetgroup/tg-0123456789abcdef", "targetgroup"),
    ("LOAD_BALANCER_ARN", "elasticloadbalancing", "targetgroup/hermes-tg/0123456789abcdef", "targetgroup"),
    ("LOAD_BALANCER_ARN", "elasticloadbalancing", "loadbalancer/net/webordinary/0123456789abcdef", "loadbalancer"),
    ("LOAD_BALANCER_ARN", "elasticloadbalancing", "loadbalancer/webordinary-classic", "loadbalancer"),
    ("STATE_MACHINE_ARN", "states", "execution:build:2b3c4d5e-0000-4000-8000-000000000001", "execution"),
    ("STATE_MACHINE_ARN", "states", "express:build:2b3c:4d5e", "express"),
    ("STATE_MACHINE_ARN", "states", "activity:approve", "activity"),
]


@pytest.mark.parametrize(("partition", "region"), PARTITIONS)
@pytest.mark.parametrize(("env_var", "service", "resource", "found"), WRONG_TYPES)
def test_an_arn_of_another_resource_type_is_refused_naming_the_variable_and_the_type(
        partition: str, region: str, env_var: str, service: str, resource: str, found: str) -> None:
    arn = _arn(partition, region, service, resource)
    value = f"{_arn(partition, region, 'elasticloadbalancing', 'targetgroup/ok/1')},{arn}" \
        if env_var == "TARGET_GROUP_ARNS" else arn
    error = config_error(environ={env_var: value})
    assert error.env_var == env_var and str(error).startswith(f"{env_var}:")
    assert repr(found) in str(error) and arn in str(error)


def test_config_valid_reports_a_wrong_arn_type_in_a_config_built_without_the_loader() -> None:
    from harness.checks import CATALOGUE
    from harness.core.deadline import Deadline
    from harness.core.model import Outcome, Reason
    from harness.core.runner import Runner
    from harness.net.aws import AwsClients
    from harness.net.http import HttpClient

    execution = "arn:aws:states:us-west-2:123456789012:execution:build:run-1"
    config = CanaryConfig(profile="queue-platform", state_machine_arn=execution, target_group_arns=(LB_ARN,),
                          confirm_failures=False)
    runner = Runner(CATALOGUE, config=config, aws=AwsClients(factory=lambda service: None), http=HttpClient())
    report = runner.run(deadline=Deadline.after(10), check_ids=["config.valid"])
    (result,) = report.checks
    assert (result.outcome, result.reason) == (Outcome.ERROR, Reason.CONFIG_INVALID)
    assert result.message.startswith("TARGET_GROUP_ARNS:") and "'loadbalancer'" in result.message
    assert any(p.startswith("STATE_MACHINE_ARN:") and "'execution'" in p for p in result.evidence["problems"])
    good = Runner(CATALOGUE, config=CanaryConfig(target_group_arns=(TG_ARN,), load_balancer_arn=LB_ARN),
                  aws=AwsClients(factory=lambda service: None), http=HttpClient())
    assert good.run(deadline=Deadline.after(10), check_ids=["config.valid"]).checks[0].outcome is Outcome.PASSED


# --- issue 14.10: CA bundles are checked up front --------------------------------------------------------------

CA_ENVS = ("CANARY_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")


@pytest.fixture(scope="module")
def pem_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real self-signed CA certificate in PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "config test CA")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.mark.parametrize("env_var", CA_ENVS)
def test_a_missing_ca_bundle_is_a_config_error_naming_the_variable(env_var: str, tmp_path: Path) -> None:
    error = config_error(environ={env_var: str(tmp_path / "missing.pem")})
    assert error.env_var == env_var and str(error).startswith(f"{env_var}:") and "does not exist" in str(error)


@pytest.mark.parametrize("env_var", CA_ENVS)
@pytest.mark.parametrize("content", [b"", b"not a certificate\n", b"\x00\x01binary",
                                     b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
                                     b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"])
def test_a_ca_bundle_without_a_pem_certificate_is_a_config_error(env_var: str, content: bytes,
                                                                  tmp_path: Path) -> None:
    path = tmp_path / "bundle.pem"
    path.write_bytes(content)
    error = config_error(environ={env_var: str(path)})
    assert error.env_var == env_var and str(error).startswith(f"{env_var}:") and "certificate" in str(error)


def test_a_directory_is_a_bundle_only_for_requests_and_only_with_a_certificate_in_it(pem_ca: Path,
                                                                                      tmp_path: Path) -> None:
    assert config_error(environ={"CANARY_CA_BUNDLE": str(tmp_path)}).env_var == "CANARY_CA_BUNDLE"
    assert config_error(environ={"REQUESTS_CA_BUNDLE": str(tmp_path)}).env_var == "REQUESTS_CA_BUNDLE"
    (tmp_path / "ca.pem").write_bytes(pem_ca.read_bytes())
    load_config(environ={"REQUESTS_CA_BUNDLE": str(tmp_path)})


def test_a_pem_ca_bundle_is_accepted_and_empty_standard_variables_are_unset(pem_ca: Path) -> None:
    cfg = load_config(environ={"CANARY_CA_BUNDLE": str(pem_ca), "REQUESTS_CA_BUNDLE": str(pem_ca),
                               "SSL_CERT_FILE": str(pem_ca)})
    assert cfg.ca_bundle == str(pem_ca)
    assert load_config(environ={"REQUESTS_CA_BUNDLE": "", "SSL_CERT_FILE": " "}).ca_bundle is None


def test_the_cli_refuses_a_broken_ca_bundle_with_exit_64_before_anything_runs(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from cli.main import main

    bundle = tmp_path / "bundle.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n", encoding="utf-8")
    for name in CA_ENVS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CANARY_CA_BUNDLE", str(bundle))
    out, err = io.StringIO(), io.StringIO()
    assert main(["run", "--checks", "config.valid", "--json"], out=out, err=err) == 64
    assert "CANARY_CA_BUNDLE" in err.getvalue() and out.getvalue() == ""


# --- issue 14.4: the Hermes token from Secrets Manager ---------------------------------------------------------


@pytest.mark.parametrize(("stored", "token"), [
    ("tok-4f9a2c7e1b\n", "tok-4f9a2c7e1b"), ("\ttok-4f9a2c7e1b \r\n", "tok-4f9a2c7e1b"),
    (b"tok-4f9a2c7e1b\n", "tok-4f9a2c7e1b"), ("Basic dXNlcjpwYXNz", "Basic dXNlcjpwYXNz"),
    ("tok-4f9a2c7e1b\u00a0", "tok-4f9a2c7e1b"),
])
def test_the_hermes_token_is_stripped_of_surrounding_whitespace(stored: str | bytes, token: str) -> None:
    from harness.net.hermes_token import hermes_token

    assert hermes_token(stored, "canary/hermes") == token


@pytest.mark.parametrize("stored", [None, "", " \n", b"", b"\xff\xfe-tok-4f9a2c7e1b", "tok-4f9a2c7e1b\nX-Evil: 1",
                                    "tok-4f9a2c7e1b\x00", "tok-4f9a2c7e1b\x7f", "tök-4f9a2c7e1b",
                                    "tok\u2028-4f9a2c7e1b"])
def test_an_empty_or_header_unsafe_token_is_a_config_error_naming_the_secret_not_the_value(
        stored: str | bytes | None) -> None:
    from harness.net.hermes_token import hermes_token

    with pytest.raises(ConfigError) as caught:
        hermes_token(stored, "canary/hermes")
    assert caught.value.env_var == "HERMES_API_TOKEN_SECRET" and caught.value.field == "hermes_api_token_secret"
    assert str(caught.value).startswith("HERMES_API_TOKEN_SECRET: secret 'canary/hermes' ")
    assert "4f9a2c7e1b" not in str(caught.value)


@pytest.mark.parametrize("env_var", ["WEBORDINARY_BASE_URL", "HERMES_URL", "SITE_URLS"])
def test_the_cli_refuses_url_credentials_with_exit_64_and_prints_no_password(
        env_var: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from cli.main import main

    monkeypatch.setenv(env_var, "https://canary:s3cr3t-Pa55word@alb.example.com")
    out, err = io.StringIO(), io.StringIO()
    assert main(["run", "--checks", "config.valid", "--json"], out=out, err=err) == 64
    assert env_var in err.getvalue() and "s3cr3t-Pa55word" not in out.getvalue() + err.getvalue()
