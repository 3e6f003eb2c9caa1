"""One typed configuration, resolved explicit argument > JSON file > environment > default (DESIGN §4).

Validation happens up front; every error names the field and the environment variable to fix, and nothing
runs. An unset resource is not an error: its checks SKIP with reason ``not_configured``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from harness.contract import PROFILES, TIERS, all_check_ids
from harness.errors import ConfigError
from harness.redact import mask_userinfo


@dataclass(frozen=True)
class MaintenanceWindow:
    """A UTC interval during which runs report ``maintenance`` and do not page."""

    start: datetime
    end: datetime

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True)
class CanaryConfig:
    """Everything a run needs to know about its target. Field names are the JSON config keys."""

    environment: str = "production"
    profile: str = "session-platform"
    base_url: str | None = None
    hermes_url: str | None = None
    hermes_api_token_secret: str | None = None
    ecs_cluster: str | None = "webordinary-edit-cluster"
    hermes_service: str | None = "webordinary-hermes-service"
    edit_service: str | None = "webordinary-edit-service"
    sessions_table: str | None = "webordinary-edit-sessions"
    target_group_arns: tuple[str, ...] = ()
    load_balancer_arn: str | None = None
    efs_file_system_id: str | None = None
    state_machine_arn: str | None = None
    queue_urls: tuple[str, ...] = ()
    dlq_urls: tuple[str, ...] = ()
    site_urls: tuple[str, ...] = ()
    site_buckets: tuple[str, ...] = ()
    site_projects: tuple[str, ...] = ()  # the project each site belongs to (default: from its bucket name)
    ownership_table: str | None = "webordinary-container-ownership"
    queue_name_prefix: str = "webordinary-"
    test_prefix: str = "TEST_"
    test_client_id: str = "integration-test-client"
    container_ready_timeout_s: float = 60.0
    session_expiry_timeout_s: float = 70.0
    edit_max_tasks: int = 3  # the edit service's autoscaling maximum (target-surface §2.5)
    tiers: tuple[str, ...] = ("probe",)
    allow_destructive: bool = False
    # Budgets and thresholds (not in the seed; sensible production defaults).
    run_timeout_s: float = 240.0
    cleanup_reserve_s: float = 20.0
    http_timeout_s: float = 10.0
    aws_timeout_s: float = 10.0
    max_body_bytes: int = 1_048_576
    latency_samples: int = 5
    latency_degraded_ms: float = 1000.0
    latency_failed_ms: float = 3000.0
    metric_freshness_s: float = 900.0
    deploy_grace_s: float = 1200.0
    sweep_age_s: float = 3600.0
    execution_window_s: float = 3600.0
    site_tolerance_s: float = 900.0
    queue_age_limit_s: float = 900.0
    claim_ttl_s: float = 3600.0
    idle_threshold_s: float = 1800.0
    maintenance_windows: tuple[MaintenanceWindow, ...] = ()
    ca_bundle: str | None = None
    confirm_failures: bool = True
    confirm_pause_s: float = 3.0
    metric_namespace_platform: str = "Webordinary/EditSessions"
    # The platform's CloudFormation stack: while it updates, readiness/routing failures are ``deploying``.
    platform_stack_name: str | None = None
    # Checks the deployed stack alarms on: SKIPPED not_configured is then ERROR config_invalid (harness.required).
    required_checks: tuple[str, ...] = ()

    @property
    def hermes_base(self) -> str | None:
        """Hermes base URL: ``HERMES_URL``, else ``<base>/hermes``."""
        if self.hermes_url:
            return self.hermes_url.rstrip("/")
        if self.base_url:
            return self.base_url.rstrip("/") + "/hermes"
        return None

    def maintenance_window(self, moment: datetime) -> MaintenanceWindow | None:
        """The configured window ``moment`` falls in, if any."""
        return next((w for w in self.maintenance_windows if w.contains(moment)), None)

    def in_maintenance(self, moment: datetime) -> bool:
        return self.maintenance_window(moment) is not None


@dataclass(frozen=True)
class _Spec:
    env: str | None
    kind: str  # str | name (non-empty str) | int | float | bool | list | url | tiers | profile | windows


_SPECS: dict[str, _Spec] = {
    "environment": _Spec("CANARY_ENVIRONMENT", "name"),
    "profile": _Spec("CANARY_PROFILE", "profile"),
    "base_url": _Spec("WEBORDINARY_BASE_URL", "url"),
    "hermes_url": _Spec("HERMES_URL", "url"),
    "hermes_api_token_secret": _Spec("HERMES_API_TOKEN_SECRET", "str"),
    "ecs_cluster": _Spec("ECS_CLUSTER", "str"),
    "hermes_service": _Spec("HERMES_SERVICE", "str"),
    "edit_service": _Spec("EDIT_SERVICE", "str"),
    "sessions_table": _Spec("SESSIONS_TABLE", "str"),
    "target_group_arns": _Spec("TARGET_GROUP_ARNS", "arns:targetgroup"),
    "load_balancer_arn": _Spec("LOAD_BALANCER_ARN", "arn:alb"),
    "efs_file_system_id": _Spec("EFS_FILE_SYSTEM_ID", "efs"),
    "state_machine_arn": _Spec("STATE_MACHINE_ARN", "arn:statemachine"),
    "queue_urls": _Spec("QUEUE_URLS", "urls"),
    "dlq_urls": _Spec("DLQ_URLS", "urls"),
    "site_urls": _Spec("SITE_URLS", "urls"),
    "site_buckets": _Spec("SITE_BUCKETS", "list"),
    "site_projects": _Spec("SITE_PROJECTS", "list"),
    "ownership_table": _Spec("OWNERSHIP_TABLE", "str"),
    "queue_name_prefix": _Spec("QUEUE_NAME_PREFIX", "name"),
    "test_prefix": _Spec("TEST_PREFIX", "prefix"),
    "test_client_id": _Spec("TEST_CLIENT_ID", "name"),
    "container_ready_timeout_s": _Spec("CONTAINER_READY_TIMEOUT_S", "float"),
    "session_expiry_timeout_s": _Spec("SESSION_EXPIRY_TIMEOUT_S", "float"),
    "edit_max_tasks": _Spec("EDIT_MAX_TASKS", "int"),
    "tiers": _Spec("CANARY_TIERS", "tiers"),
    "allow_destructive": _Spec("CANARY_ALLOW_DESTRUCTIVE", "bool"),
    "run_timeout_s": _Spec("CANARY_RUN_TIMEOUT_S", "float"),
    "cleanup_reserve_s": _Spec("CANARY_CLEANUP_RESERVE_S", "float0"),
    "http_timeout_s": _Spec("CANARY_HTTP_TIMEOUT_S", "float"),
    "aws_timeout_s": _Spec("CANARY_AWS_TIMEOUT_S", "float"),
    "max_body_bytes": _Spec("CANARY_MAX_BODY_BYTES", "int"),
    "latency_samples": _Spec("CANARY_LATENCY_SAMPLES", "int"),
    "latency_degraded_ms": _Spec("CANARY_LATENCY_DEGRADED_MS", "float"),
    "latency_failed_ms": _Spec("CANARY_LATENCY_FAILED_MS", "float"),
    "metric_freshness_s": _Spec("CANARY_METRIC_FRESHNESS_S", "float"),
    "deploy_grace_s": _Spec("CANARY_DEPLOY_GRACE_S", "float0"),
    "sweep_age_s": _Spec("CANARY_SWEEP_AGE_S", "float0"),
    "execution_window_s": _Spec("CANARY_EXECUTION_WINDOW_S", "float"),
    "site_tolerance_s": _Spec("CANARY_SITE_TOLERANCE_S", "float0"),
    "queue_age_limit_s": _Spec("CANARY_QUEUE_AGE_LIMIT_S", "float"),
    "claim_ttl_s": _Spec("CANARY_CLAIM_TTL_S", "float"),
    "idle_threshold_s": _Spec("CANARY_IDLE_THRESHOLD_S", "float"),
    "maintenance_windows": _Spec("CANARY_MAINTENANCE_WINDOWS", "windows"),
    "ca_bundle": _Spec("CANARY_CA_BUNDLE", "str"),
    "confirm_failures": _Spec("CANARY_CONFIRM_FAILURES", "bool"),
    "confirm_pause_s": _Spec("CANARY_CONFIRM_PAUSE_S", "float0"),
    "metric_namespace_platform": _Spec("PLATFORM_METRIC_NAMESPACE", "name"),
    "platform_stack_name": _Spec("PLATFORM_STACK_NAME", "str"),
    "required_checks": _Spec("CANARY_REQUIRED_CHECKS", "checks"),
}

CONFIG_FILE_ENV = "CANARY_CONFIG"
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}
_ARN = re.compile(r"^arn:aws(?:-[a-z]+)*:(?P<service>[a-z0-9-]+):[a-z0-9-]*:\d{12}:(?P<resource>.+)$")


@dataclass(frozen=True)
class _ArnType:
    service: str
    resource: re.Pattern[str]
    what: str


# The resource part of each ARN the config names (AWS docs: a target group is ``targetgroup/<name>/<id>``, an
# Application Load Balancer ``loadbalancer/app/<name>/<id>``, a state machine ``stateMachine:<name>`` with an
# optional ``:<version or alias>``; an execution is ``execution:<machine>:<id>``). Every partition is accepted.
_ARN_TYPES = {
    "targetgroup": _ArnType("elasticloadbalancing", re.compile(r"targetgroup/[^/\s]+/[^/\s]+"),
                            "a target group ARN (arn:<partition>:elasticloadbalancing:<region>:<account>:"
                            "targetgroup/<name>/<id>)"),
    "alb": _ArnType("elasticloadbalancing", re.compile(r"loadbalancer/app/[^/\s]+/[^/\s]+"),
                    "an Application Load Balancer ARN (arn:<partition>:elasticloadbalancing:<region>:<account>:"
                    "loadbalancer/app/<name>/<id>)"),
    "statemachine": _ArnType("states", re.compile(r"stateMachine:[^:\s/]+(?::[^:\s/]+)?"),
                             "a Step Functions state machine ARN (arn:<partition>:states:<region>:<account>:"
                             "stateMachine:<name>)"),
}
# CA bundle variables honoured besides CANARY_CA_BUNDLE (requests reads REQUESTS_CA_BUNDLE, OpenSSL SSL_CERT_FILE).
CA_BUNDLE_ENVS = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
_MAX_CA_BYTES = 16 * 1024 * 1024
_MAX_SHOWN = 120
_EFS = re.compile(r"^fs-[0-9a-f]{8,17}$")
_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,31}$")


def env_var_for(field_name: str) -> str | None:
    """The environment variable that sets a config field (for error messages and docs)."""
    spec = _SPECS.get(field_name)
    return spec.env if spec else None


def field_names() -> tuple[str, ...]:
    return tuple(_SPECS)


def _where(name: str, source: str) -> str:
    env = _SPECS[name].env
    if source == "env":
        return f"{env}"
    if source == "file":
        return f"config file key {name!r}"
    return f"{name!r}" + (f" (env {env})" if env else "")


def _split(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    raise TypeError("expected a comma-separated string or a list")


def _parse_datetime(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone (add Z or +00:00)")
    return moment


def _parse_windows(value: Any) -> tuple[MaintenanceWindow, ...]:
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else []
    if not isinstance(value, list):
        raise TypeError("expected a JSON list of {\"start\": ISO, \"end\": ISO}")
    windows = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"start", "end"}:
            raise TypeError("each window must be {\"start\": ISO-8601, \"end\": ISO-8601}")
        start, end = _parse_datetime(str(item["start"])), _parse_datetime(str(item["end"]))
        if end <= start:
            raise ValueError("a window's end must be after its start")
        windows.append(MaintenanceWindow(start, end))
    return tuple(windows)


def _shown(text: str) -> str:
    """An operator's value as quoted in an error: URL credentials masked, length capped."""
    text = mask_userinfo(text)
    return repr(text) if len(text) <= _MAX_SHOWN else f"{text[:_MAX_SHOWN]!r}... ({len(text)} characters)"


def arn_problem(text: str, kind: str) -> str | None:
    """Why ``text`` is not an ARN of resource type ``kind`` (a key of ``_ARN_TYPES``), or None if it is."""
    expected = _ARN_TYPES[kind]
    match = _ARN.match(text)
    if not match:
        return f"{_shown(text)} is not an ARN; expected {expected.what}"
    if match.group("service") == expected.service and expected.resource.fullmatch(match.group("resource")):
        return None
    found = re.split(r"[/:]", match.group("resource"), maxsplit=1)[0]
    return f"{_shown(text)} names a {match.group('service')} resource of type {found!r}, not {expected.what}"


def _check_arn(text: str, kind: str) -> str:
    problem = arn_problem(text, kind)
    if problem:
        raise ValueError(problem)
    return text


def _check_url(text: str) -> str:
    if not re.fullmatch(r"https?://[^\s/?#]+(?:[/?#]\S*)?", text):
        raise ValueError(f"{_shown(text)} is not an http(s) URL")
    if "@" in urlsplit(text).netloc:
        # Never echoed: the part before "@" is a user name and usually a password.
        raise ValueError("the URL has credentials in it (user:password@host); remove them: they would be printed "
                         "in every report, and the canary does not send URL credentials")
    return text.rstrip("/")


def _convert(kind: str, value: Any) -> Any:
    if value is None and (kind in ("str", "url", "efs") or kind.startswith("arn:")):
        return None  # JSON null for an optional resource: unset (what config_to_dict writes)
    if kind == "str":
        if not isinstance(value, str):
            raise TypeError("expected a string")
        return value.strip() or None
    if kind == "name":
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be a non-empty string")
        return value.strip()
    if kind == "url":
        return _check_url(str(value).strip()) if str(value).strip() else None
    if kind == "urls":
        return tuple(_check_url(v) for v in _split(value))
    if kind == "list":
        return tuple(_split(value))
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"{value!r} is not true/false")
    if kind in ("int", "float", "float0"):
        if isinstance(value, bool):
            raise TypeError("expected a number")
        number = int(value) if kind == "int" else float(value)
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError("expected a finite number")
        if number < 0 or (number == 0 and kind != "float0"):
            raise ValueError(f"{value!r} must be {'>= 0' if kind == 'float0' else '> 0'}")
        return number
    if kind == "profile":
        text = str(value).strip()
        if text not in PROFILES:
            raise ValueError(f"{text!r} is not one of {', '.join(PROFILES)}")
        return text
    if kind == "tiers":
        tiers = tuple(_split(value))
        unknown = [t for t in tiers if t not in TIERS]
        if unknown or not tiers:
            raise ValueError(f"{unknown or value!r}: tiers must be a non-empty list of {', '.join(TIERS)}")
        return tiers
    if kind == "prefix":
        text = str(value).strip()
        if not _PREFIX.match(text):
            raise ValueError(f"{text!r} must be 2-32 letters, digits, '_', '-' or '.', starting alphanumeric")
        return text
    if kind == "efs":
        text = str(value).strip()
        if text and not _EFS.match(text):
            raise ValueError(f"{text!r} is not an EFS file system id (fs-…)")
        return text or None
    if kind.startswith("arns:"):
        return tuple(_check_arn(v, kind.split(":", 1)[1]) for v in _split(value))
    if kind.startswith("arn:"):
        text = str(value).strip()
        return _check_arn(text, kind.split(":", 1)[1]) if text else None
    if kind == "windows":
        return _parse_windows(value)
    if kind == "checks":
        ids = tuple(dict.fromkeys(_split(value)))
        unknown = [i for i in ids if i not in all_check_ids()]
        if unknown:
            raise ValueError(f"unknown check id(s) {', '.join(map(_shown, unknown))}; see `canary list`")
        return ids
    raise AssertionError(f"unknown kind {kind}")


def _read_file(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise ConfigError(f"{CONFIG_FILE_ENV}: cannot read config file {path!r}: {exc.strerror}",
                          env_var=CONFIG_FILE_ENV) from exc
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ConfigError(f"{CONFIG_FILE_ENV}: config file {path!r} is not valid JSON: {exc}",
                          env_var=CONFIG_FILE_ENV) from exc
    except ValueError as exc:  # open() refuses a path with a NUL byte
        raise ConfigError(f"{CONFIG_FILE_ENV}: {path!r} is not a usable path: {exc}", env_var=CONFIG_FILE_ENV) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{CONFIG_FILE_ENV}: config file {path!r} must hold a JSON object", env_var=CONFIG_FILE_ENV)
    return data


def load_config(
    explicit: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: str | None = None,
) -> CanaryConfig:
    """Resolve and validate the configuration; raises ConfigError naming what to fix."""
    env = os.environ if environ is None else environ
    explicit = dict(explicit or {})
    path = config_file or env.get(CONFIG_FILE_ENV)
    from_file = _read_file(path) if path else {}
    for source_name, given in (("argument", explicit), ("file", from_file)):
        unknown = sorted(set(given) - set(_SPECS))
        if unknown:
            hint = f"; known keys: {', '.join(_SPECS)}" if source_name == "file" else ""
            raise ConfigError(f"unknown config key(s) {', '.join(map(repr, unknown))} in {source_name}{hint}",
                              field=unknown[0])
    values: dict[str, Any] = {}
    source: str
    for name, spec in _SPECS.items():
        if name in explicit and explicit[name] is not None:
            raw, source = explicit[name], "argument"
        elif name in from_file:
            raw, source = from_file[name], "file"
        elif spec.env and spec.env in env:
            raw, source = env[spec.env], "env"
        else:
            continue
        try:
            values[name] = _convert(spec.kind, raw)
        except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: float() of a huge JSON integer
            raise ConfigError(f"{_where(name, source)}: {exc}", field=name, env_var=spec.env) from exc
        except RecursionError as exc:  # json.loads of absurdly nested maintenance windows
            raise ConfigError(f"{_where(name, source)}: nested too deeply", field=name, env_var=spec.env) from exc
    config = CanaryConfig(**{k: v for k, v in values.items()})
    _validate_relations(config)
    _validate_ca_bundles(config, env)
    return config


def _validate_relations(config: CanaryConfig) -> None:
    if config.site_buckets and len(config.site_buckets) != len(config.site_urls):
        raise ConfigError("SITE_BUCKETS must list one bucket per SITE_URLS entry, in the same order",
                          field="site_buckets", env_var="SITE_BUCKETS")
    if config.site_projects and len(config.site_projects) != len(config.site_urls):
        raise ConfigError("SITE_PROJECTS must list one project per SITE_URLS entry, in the same order",
                          field="site_projects", env_var="SITE_PROJECTS")
    if config.latency_failed_ms < config.latency_degraded_ms:
        raise ConfigError("CANARY_LATENCY_FAILED_MS must be >= CANARY_LATENCY_DEGRADED_MS",
                          field="latency_failed_ms", env_var="CANARY_LATENCY_FAILED_MS")


def arn_problems(config: CanaryConfig) -> list[tuple[str, str]]:
    """(env var, problem) for each configured ARN of the wrong resource type (``config.valid`` reports these for a
    config built without ``load_config``)."""
    problems: list[tuple[str, str]] = []
    for name, kind in (("target_group_arns", "targetgroup"), ("load_balancer_arn", "alb"),
                       ("state_machine_arn", "statemachine")):
        value = getattr(config, name)
        for arn in (value if isinstance(value, tuple) else (value,) if value else ()):
            problem = arn_problem(str(arn), kind)
            if problem:
                problems.append((str(_SPECS[name].env), problem))
    return problems


def _validate_ca_bundles(config: CanaryConfig, env: Mapping[str, str]) -> None:
    """Every CA bundle setting names a readable file holding PEM certificates (verification is never turned off:
    a broken bundle is the canary's configuration error, not a ``tls_error`` blamed on the platform)."""
    given: list[tuple[str, str | None, str | None]] = [("CANARY_CA_BUNDLE", config.ca_bundle, "ca_bundle")]
    given += [(name, (env.get(name) or "").strip() or None, None) for name in CA_BUNDLE_ENVS]
    for env_var, path, field in given:
        if path is None:
            continue
        problem = ca_bundle_problem(path, allow_directory=env_var == "REQUESTS_CA_BUNDLE")
        if problem:
            raise ConfigError(f"{env_var}: {_shown(path)} {problem}", field=field, env_var=env_var)


def ca_bundle_problem(path: str, *, allow_directory: bool = False) -> str | None:
    """Why ``path`` cannot serve as a CA bundle, or None. ``allow_directory``: requests also takes a directory of
    certificates (``REQUESTS_CA_BUNDLE``); it must hold at least one."""
    try:
        if allow_directory and os.path.isdir(path):
            names = sorted(os.listdir(path))[:500]
            files = [os.path.join(path, n) for n in names if os.path.isfile(os.path.join(path, n))]
            if any(ca_bundle_problem(f) is None for f in files):
                return None
            return "is a directory with no PEM certificate file in it"
        if not os.path.exists(path):
            return "does not exist"
        if not os.path.isfile(path):
            return "is not a file"
        if os.path.getsize(path) > _MAX_CA_BYTES:
            return f"is larger than {_MAX_CA_BYTES // (1024 * 1024)} MiB: not a CA bundle"
        with open(path, "rb") as handle:
            content = handle.read(_MAX_CA_BYTES)
        if b"-----BEGIN CERTIFICATE-----" not in content:
            return "holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ssl.create_default_context(cafile=path)
    except ssl.SSLError as exc:
        return f"holds no usable PEM certificate ({exc.reason or type(exc).__name__})"
    except (OSError, ValueError) as exc:
        return f"cannot be read ({getattr(exc, 'strerror', None) or type(exc).__name__})"
    return None


def config_to_dict(config: CanaryConfig) -> dict[str, Any]:
    """JSON-serialisable form (same keys as the config file)."""
    data: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name == "maintenance_windows":
            value = [{"start": w.start.isoformat(), "end": w.end.isoformat()} for w in value]
        elif isinstance(value, tuple):
            value = list(value)
        data[f.name] = value
    return data

