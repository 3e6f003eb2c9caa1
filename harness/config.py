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
from typing import Any
from urllib.parse import urlsplit

from harness.contract import PROFILES, TIERS, all_check_ids
from harness.core.errors import ConfigError
from harness.net.redact import mask_userinfo
from harness.settings import BY_KEY as _SETTINGS
from harness.settings import CA_BUNDLE_ENVS, CONFIG_FILE_ENV, CanaryConfig, MaintenanceWindow, parse_moment
from harness.settings import PREFIX_PATTERN as _PREFIX

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
_MAX_CA_BYTES = 16 * 1024 * 1024
_MAX_SHOWN = 120
_EFS = re.compile(r"^fs-[0-9a-f]{8,17}$")


def env_var_for(field_name: str) -> str | None:
    """The environment variable that sets a config field (for error messages and docs)."""
    spec = _SETTINGS.get(field_name)
    return spec.env if spec else None


def field_names() -> tuple[str, ...]:
    return tuple(_SETTINGS)


def _where(name: str, source: str) -> str:
    env = _SETTINGS[name].env
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


def _parse_windows(value: Any) -> tuple[MaintenanceWindow, ...]:
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else []
    if not isinstance(value, list):
        raise TypeError("expected a JSON list of {\"start\": ISO, \"end\": ISO}")
    windows = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"start", "end"}:
            raise TypeError("each window must be {\"start\": ISO-8601, \"end\": ISO-8601}")
        start, end = parse_moment(str(item["start"])), parse_moment(str(item["end"]))
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
        unknown = sorted(set(given) - set(_SETTINGS))
        if unknown:
            hint = f"; known keys: {', '.join(_SETTINGS)}" if source_name == "file" else ""
            raise ConfigError(f"unknown config key(s) {', '.join(map(repr, unknown))} in {source_name}{hint}",
                              field=unknown[0])
    values: dict[str, Any] = {}
    source: str
    for name, spec in _SETTINGS.items():
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
    urls = _SETTINGS["site_urls"].env
    for name, what in (("site_buckets", "bucket"), ("site_projects", "project")):
        values = getattr(config, name)
        if values and len(values) != len(config.site_urls):
            env = _SETTINGS[name].env
            raise ConfigError(f"{env} must list one {what} per {urls} entry, in the same order", field=name,
                              env_var=env)
    if config.latency_failed_ms < config.latency_degraded_ms:
        env = _SETTINGS["latency_failed_ms"].env
        raise ConfigError(f"{env} must be >= {_SETTINGS['latency_degraded_ms'].env}", field="latency_failed_ms",
                          env_var=env)


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
                problems.append((str(_SETTINGS[name].env), problem))
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

