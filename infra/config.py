"""Deployment settings read from CDK context, validated up front (DESIGN §7).

One ``EnvironmentConfig`` per (environment, region) stack. Top-level context keys are the defaults; each entry of
the ``environments`` list overrides them. Target keys are the harness's own config keys (snake_case of the DESIGN §4
environment variables), so a setting means the same thing in ``cdk.json``, a config file and the Lambda
environment. Every error names the context key to fix, and nothing is synthesized.

Values passed with ``cdk -c key=value`` arrive as strings, so numbers, booleans and lists are also accepted in
their string forms ("15", "true", "a,b" or a JSON list).

Nothing about the target has a default (issue 11): ``cdk.json`` names no endpoint, account or resource, so a deploy
cannot silently point at a platform that no longer exists. The targets come from explicit context, usually a JSON
file named by ``target_config`` (start from ``examples/<profile>.json``); every check the stack alarms on must have
its resources configured, or be listed in ``disabled_checks``, or synth fails naming the missing keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.contract import CHECK_IDS_BY_PROFILE, PROFILES, QUEUE_PLATFORM, alarm_prefix
from harness.settings import BY_KEY as SETTINGS
from harness.settings import TARGET_ENV as SETTINGS_TARGET_ENV
from infra.catalogue import checks_for, missing_context, tier_of, tiers_with_checks
from infra.lambda_environment import refusal as env_refusal


class InfraConfigError(ValueError):
    """A context value is missing or invalid; the message names the context key."""


# Context key -> Lambda environment variable (DESIGN §4), declared once in harness.settings. Absent or empty values
# are not set, so the harness SKIPs the checks that need them with reason ``not_configured``.
TARGET_ENV: dict[str, str] = dict(SETTINGS_TARGET_ENV)

# Keys that only shape the deployment (not passed through as target settings).
DEPLOY_KEYS: frozenset[str] = frozenset(
    {
        "name",
        "region",
        "account",
        "profile",
        "tiers",
        "allow_destructive",
        "probe_every_minutes",
        "journey_every_minutes",
        "sweeper_every_minutes",
        "destructive_every_minutes",
        "alarm_datapoints",
        "alarm_evaluation_periods",
        "critical_alarm_datapoints",
        "critical_alarm_evaluation_periods",
        "alarm_email",
        "log_retention_days",
        "powertools_layer_version",
        "maintenance_windows",
        "vpc",
        "hermes_api_token_kms_key_arn",
        "extra_environment",
        "disabled_checks",
        "reserved_concurrency",
    }
)
# Names a JSON file of context (an edited copy of examples/<profile>.json). Top level only; context given to the
# app (cdk.json, ``-c``) overrides the file's values.
TARGET_CONFIG_KEY = "target_config"
# The profile deployed when the context names none: the platform's current architecture (the queue flow).
DEFAULT_PROFILE = QUEUE_PLATFORM
_PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Marks a value the operator must replace in an example file, e.g. <ACCOUNT_ID>.
_PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*>")
# A file key starting with "//" is a comment (JSON has none).
_COMMENT_PREFIX = "//"


def example_file(profile: str) -> str:
    """The shipped example context for a profile, relative to the project root."""
    return f"examples/{profile}.json"


def _how_to_configure(profile: str) -> str:
    return (f"start from {example_file(profile)} (replace every <PLACEHOLDER> value) and pass it with "
            f"`-c {TARGET_CONFIG_KEY}=<your copy>`")
KNOWN_KEYS: frozenset[str] = DEPLOY_KEYS | frozenset(TARGET_ENV)

# CloudWatch accepts these retention periods only.
_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                   3288, 3653)
# A schedule longer than half a day would need alarm windows beyond CloudWatch's one-day evaluation limit.
MAX_SCHEDULE_MINUTES = 720
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,23}$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_ACCOUNT = re.compile(r"^\d{12}$")
_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,31}$")
_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SG_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_LAYER = re.compile(r"^(latest|\d+|\d+\.\d+\.\d+)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class VpcPlacement:
    """Where the functions run when the targets are private: ids from context, never looked up."""

    vpc_id: str
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...] = ()
    availability_zones: tuple[str, ...] = ()


@dataclass(frozen=True)
class EnvironmentConfig:
    """Everything one (environment, region) stack needs."""

    name: str
    region: str
    account: str | None
    profile: str
    tiers: tuple[str, ...]
    allow_destructive: bool
    schedule_minutes: Mapping[str, int]
    alarm_datapoints: int
    alarm_evaluation_periods: int
    # Critical checks page on one confirmed datapoint by default: the runner re-probes a failure inside the
    # run, so one FAILED datapoint is already two observations, and detection stays within one period.
    critical_alarm_datapoints: int
    critical_alarm_evaluation_periods: int
    alarm_emails: tuple[str, ...]
    log_retention_days: int
    powertools_layer_version: str
    maintenance_windows: tuple[Mapping[str, str], ...]
    vpc: VpcPlacement | None
    targets: Mapping[str, Any]
    hermes_api_token_kms_key_arn: str | None = None
    extra_environment: Mapping[str, str] = field(default_factory=dict)
    # Checks the operator chose not to deploy: no alarm, no scheduled run, listed on the dashboard.
    disabled_checks: tuple[str, ...] = ()
    # Lambda reserved concurrency per function; None reserves nothing (the run lock guards overlap).
    reserved_concurrency: int | None = None

    @property
    def stack_name(self) -> str:
        return f"WebordinaryCanary-{self.name}-{self.region}"

    @property
    def prefix(self) -> str:
        """Prefix of every physical name (functions, rules, alarms); regional names need no region."""
        return alarm_prefix(self.name)

    @property
    def creates_sessions(self) -> bool:
        """Journeys and destructive checks create synthetic sessions, so the sweeper must run too."""
        return bool({"journey", "destructive"} & set(self.tiers))

    @property
    def alarmed_checks(self) -> tuple[str, ...]:
        """The checks this stack schedules and alarms on: its tiers' checks minus the disabled ones."""
        return tuple(c for c in checks_for(self.profile, self.tiers) if c not in self.disabled_checks)

    def checks_of(self, tier: str) -> tuple[str, ...]:
        """The alarmed checks one tier's function runs (its CANARY_REQUIRED_CHECKS)."""
        return tuple(c for c in self.alarmed_checks if tier_of(c) == tier)

    def scheduled_event(self, tier: str, default: Mapping[str, Any]) -> dict[str, Any]:
        """The schedule's constant input: the tier's default, or its enabled checks by id when some are disabled."""
        if any(tier_of(c) == tier for c in self.disabled_checks):
            return {"checks": list(self.checks_of(tier))}
        return dict(default)

    def target(self, key: str) -> Any:
        return self.targets.get(key)

    def target_list(self, key: str) -> tuple[str, ...]:
        value = self.targets.get(key)
        return tuple(value) if value else ()


def _as_int(key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise InfraConfigError(f"context {key!r}: expected a whole number, got {value!r}")
    try:
        number = int(str(value).strip()) if isinstance(value, str) else int(value)
    except (TypeError, ValueError) as exc:
        raise InfraConfigError(f"context {key!r}: expected a whole number, got {value!r}") from exc
    if isinstance(value, float) and value != number:
        raise InfraConfigError(f"context {key!r}: expected a whole number, got {value!r}")
    if not low <= number <= high:
        raise InfraConfigError(f"context {key!r}: {number} is outside {low}..{high}")
    return number


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InfraConfigError(f"context {key!r}: expected true or false, got {value!r}")


def _as_list(key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InfraConfigError(f"context {key!r}: not a valid JSON list: {exc}") from exc
        else:
            return tuple(part.strip() for part in text.split(",") if part.strip())
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InfraConfigError(f"context {key!r}: expected a list of strings, got {value!r}")
    return tuple(v.strip() for v in value if v.strip())


def _as_str(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InfraConfigError(f"context {key!r}: expected a string, got {value!r}")
    return value.strip() or None


def _as_json(key: str, value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value) if value.strip() else None
        except json.JSONDecodeError as exc:
            raise InfraConfigError(f"context {key!r}: not valid JSON: {exc}") from exc
    return value


def _windows(value: Any) -> tuple[Mapping[str, str], ...]:
    """Same shape the harness accepts (CANARY_MAINTENANCE_WINDOWS): [{"start": ISO, "end": ISO}, ...] in UTC."""
    value = _as_json("maintenance_windows", value)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InfraConfigError('context \'maintenance_windows\': expected a list of {"start": ISO, "end": ISO}')
    windows = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"start", "end"}:
            raise InfraConfigError(
                f"context 'maintenance_windows': {item!r} must be {{\"start\": ISO-8601, \"end\": ISO-8601}}"
            )
        try:
            start, end = (datetime.fromisoformat(str(item[k]).replace("Z", "+00:00")) for k in ("start", "end"))
        except ValueError as exc:
            raise InfraConfigError(f"context 'maintenance_windows': {exc}") from exc
        if start.tzinfo is None or end.tzinfo is None:
            raise InfraConfigError(f"context 'maintenance_windows': {item!r} needs a time zone (Z or +00:00)")
        if end <= start:
            raise InfraConfigError(f"context 'maintenance_windows': {item!r} ends before it starts")
        windows.append({"start": str(item["start"]), "end": str(item["end"])})
    return tuple(windows)


def _vpc(value: Any) -> VpcPlacement | None:
    value = _as_json("vpc", value)
    if not value:
        return None
    if not isinstance(value, dict):
        raise InfraConfigError("context 'vpc': expected {\"vpc_id\": ..., \"subnet_ids\": [...]}")
    unknown = sorted(set(value) - {"vpc_id", "subnet_ids", "security_group_ids", "availability_zones"})
    if unknown:
        raise InfraConfigError(f"context 'vpc': unknown key(s) {', '.join(unknown)}")
    vpc_id = _as_str("vpc.vpc_id", value.get("vpc_id"))
    subnets = _as_list("vpc.subnet_ids", value.get("subnet_ids"))
    if not vpc_id or not _VPC_ID.match(vpc_id):
        raise InfraConfigError(f"context 'vpc.vpc_id': {vpc_id!r} is not a VPC id (vpc-...)")
    if not subnets or not all(_SUBNET_ID.match(s) for s in subnets):
        raise InfraConfigError(f"context 'vpc.subnet_ids': {subnets!r} must list subnet ids (subnet-...)")
    groups = _as_list("vpc.security_group_ids", value.get("security_group_ids"))
    if not all(_SG_ID.match(g) for g in groups):
        raise InfraConfigError(f"context 'vpc.security_group_ids': {groups!r} must list security group ids")
    return VpcPlacement(vpc_id, subnets, groups, _as_list("vpc.availability_zones", value.get("availability_zones")))


def _targets(merged: Mapping[str, Any]) -> dict[str, Any]:
    targets: dict[str, Any] = {}
    for key in TARGET_ENV:
        raw = merged.get(key)
        if SETTINGS[key].is_list:
            value: Any = _as_list(key, raw)
        elif SETTINGS[key].is_number:
            value = None if raw in (None, "") else _as_int(key, raw, 1, 900)
        else:
            value = _as_str(key, raw)
        if value not in (None, ()):
            targets[key] = value
    prefix = targets.get("test_prefix", "TEST_")
    if not _PREFIX.match(prefix):
        raise InfraConfigError(f"context 'test_prefix': {prefix!r} must be 2-32 letters, digits, '_', '-' or '.'")
    targets["test_prefix"] = prefix
    buckets, sites = targets.get("site_buckets", ()), targets.get("site_urls", ())
    if buckets and len(buckets) != len(sites):
        raise InfraConfigError("context 'site_buckets' must list one bucket per 'site_urls' entry, same order")
    return targets


def _disabled(merged: Mapping[str, Any], profile: str) -> tuple[str, ...]:
    disabled = _as_list("disabled_checks", merged.get("disabled_checks"))
    unknown = [c for c in disabled if c not in CHECK_IDS_BY_PROFILE[profile]]
    if unknown:
        raise InfraConfigError(
            f"context 'disabled_checks': {', '.join(map(repr, unknown))} not in profile {profile!r} "
            f"({', '.join(CHECK_IDS_BY_PROFILE[profile])})"
        )
    return tuple(dict.fromkeys(disabled))


def _tiers(merged: Mapping[str, Any], profile: str, allow_destructive: bool,
           disabled: tuple[str, ...] = ()) -> tuple[str, ...]:
    available = tiers_with_checks(profile)
    enabled = tuple(t for t in available if any(c not in disabled for c in checks_for(profile, (t,))))
    if merged.get("tiers") in (None, "", []):
        # Default: every non-destructive tier that has enabled checks in this profile.
        tiers = tuple(t for t in enabled if t != "destructive")
        if not tiers:
            raise InfraConfigError("context 'disabled_checks' disables every check of the default tiers: "
                                   "nothing would run")
        return tiers
    tiers = _as_list("tiers", merged["tiers"])
    for tier in tiers:
        if tier not in available:
            raise InfraConfigError(
                f"context 'tiers': {tier!r} has no checks in profile {profile!r} (choose from {', '.join(available)})"
            )
        if tier not in enabled:
            raise InfraConfigError(
                f"context 'tiers' schedules {tier!r} but 'disabled_checks' disables every check in it"
            )
    if "destructive" in tiers and not allow_destructive:
        raise InfraConfigError(
            "context 'tiers' lists 'destructive' but 'allow_destructive' is not true: the destructive tier changes "
            "capacity and is meant for test environments; set both to schedule it"
        )
    if not tiers:
        raise InfraConfigError("context 'tiers': schedule at least one tier")
    return tuple(dict.fromkeys(tiers))


def _placeholders(key: str, value: Any) -> list[str]:
    """Every example placeholder (``<ACCOUNT_ID>``) left in a context value, as 'key: <PLACEHOLDER>'."""
    if isinstance(value, str):
        return [f"{key}: {m}" for m in _PLACEHOLDER.findall(value)]
    if isinstance(value, Mapping):
        return [found for k, v in value.items() for found in _placeholders(f"{key}.{k}", v)]
    if isinstance(value, list | tuple):
        return [found for v in value for found in _placeholders(key, v)]
    return []


def _check_required(name: str, profile: str, checks: tuple[str, ...], targets: Mapping[str, Any]) -> None:
    """Every alarmed check has its resources configured, or synth fails naming each missing key (issue 11)."""
    needed_by: dict[str, list[str]] = {}
    for check_id in checks:
        for missing in missing_context(check_id, lambda key: key in targets):
            needed_by.setdefault(missing, []).append(check_id)
    if needed_by:
        keys = "; ".join(f"{key} (for {', '.join(ids)})" for key, ids in needed_by.items())
        raise InfraConfigError(
            f"environment {name!r} ({profile}) alarms on checks whose resources the context does not name: {keys}. "
            f"Set these context keys: {_how_to_configure(profile)}; or list the checks in 'disabled_checks' to "
            "deploy without them (no alarm, no scheduled run)"
        )


def environment_config(defaults: Mapping[str, Any], entry: Mapping[str, Any]) -> EnvironmentConfig:
    """Validate one environment entry over the top-level defaults."""
    unknown = sorted(set(entry) - KNOWN_KEYS)
    if unknown:
        raise InfraConfigError(f"environment entry has unknown key(s) {', '.join(map(repr, unknown))}")
    merged = {**{k: v for k, v in defaults.items() if k in KNOWN_KEYS}, **entry}
    left = dict.fromkeys(found for key in sorted(merged) for found in _placeholders(key, merged[key]))
    if left:
        raise InfraConfigError(f"context still holds example placeholders, replace them with your values: "
                               f"{', '.join(left)}")
    name = _as_str("name", merged.get("name", "production"))
    if not name or not _NAME.match(name):
        raise InfraConfigError(f"context 'name': {name!r} must be 1-24 lower-case letters, digits or '-'")
    profile = _as_str("profile", merged.get("profile")) or DEFAULT_PROFILE
    if profile not in PROFILES:
        raise InfraConfigError(f"context 'profile': {profile!r} is not one of {', '.join(PROFILES)}")
    region = _as_str("region", merged.get("region"))
    if not region:
        raise InfraConfigError(f"context 'region' of environment {name!r} is not set: {_how_to_configure(profile)}")
    if not _REGION.match(region):
        raise InfraConfigError(f"context 'region' of environment {name!r}: {region!r} is not an AWS region")
    account = _as_str("account", merged.get("account"))
    if account is not None and not _ACCOUNT.match(account):
        raise InfraConfigError(f"context 'account' of environment {name!r}: {account!r} is not a 12-digit id")
    allow_destructive = _as_bool("allow_destructive", merged.get("allow_destructive", False))
    disabled = _disabled(merged, profile)
    tiers = _tiers(merged, profile, allow_destructive, disabled)
    targets = _targets(merged)
    _check_required(name, profile, tuple(c for c in checks_for(profile, tiers) if c not in disabled), targets)
    defaults_minutes = {"probe": 15, "journey": 60, "sweeper": 60, "destructive": 720}
    schedule = {
        kind: _as_int(f"{kind}_every_minutes", merged.get(f"{kind}_every_minutes", default), 1,
                      MAX_SCHEDULE_MINUTES)
        for kind, default in defaults_minutes.items()
    }
    evaluation = _as_int("alarm_evaluation_periods", merged.get("alarm_evaluation_periods", 3), 1, 10)
    datapoints = _as_int("alarm_datapoints", merged.get("alarm_datapoints", 2), 1, evaluation)
    critical_evaluation = _as_int("critical_alarm_evaluation_periods",
                                  merged.get("critical_alarm_evaluation_periods", 1), 1, 10)
    critical_datapoints = _as_int("critical_alarm_datapoints", merged.get("critical_alarm_datapoints", 1), 1,
                                  critical_evaluation)
    emails = _as_list("alarm_email", merged.get("alarm_email"))
    for email in emails:
        if not _EMAIL.match(email):
            raise InfraConfigError(f"context 'alarm_email': {email!r} is not an e-mail address")
    retention = _as_int("log_retention_days", merged.get("log_retention_days", 30), 1, 3653)
    if retention not in _RETENTION_DAYS:
        raise InfraConfigError(
            f"context 'log_retention_days': {retention} is not a CloudWatch retention "
            f"({', '.join(map(str, _RETENTION_DAYS))})"
        )
    layer = str(merged.get("powertools_layer_version", "27")).strip()
    if not _LAYER.match(layer):
        raise InfraConfigError(
            f"context 'powertools_layer_version': {layer!r} must be a layer version number, a release (3.23.0) "
            "or 'latest'"
        )
    extra = _as_json("extra_environment", merged.get("extra_environment")) or {}
    for key in sorted(k for k in (extra if isinstance(extra, dict) else {}) if isinstance(k, str)):
        if (why := env_refusal(key)) is not None:
            raise InfraConfigError(f"context 'extra_environment': {key!r} may not be set: {why}")
    if not isinstance(extra, dict) or not all(
        isinstance(k, str) and _ENV_NAME.match(k) and isinstance(v, str) for k, v in extra.items()
    ):
        raise InfraConfigError("context 'extra_environment': expected {\"UPPER_CASE_NAME\": \"string\", ...}")
    kms = _as_str("hermes_api_token_kms_key_arn", merged.get("hermes_api_token_kms_key_arn"))
    if kms is not None and not kms.startswith("arn:"):
        raise InfraConfigError(f"context 'hermes_api_token_kms_key_arn': {kms!r} is not a KMS key ARN")
    return EnvironmentConfig(
        name=name,
        region=region,
        account=account,
        profile=profile,
        tiers=tiers,
        allow_destructive=allow_destructive,
        schedule_minutes=schedule,
        alarm_datapoints=datapoints,
        alarm_evaluation_periods=evaluation,
        critical_alarm_datapoints=critical_datapoints,
        critical_alarm_evaluation_periods=critical_evaluation,
        alarm_emails=emails,
        log_retention_days=retention,
        powertools_layer_version=layer,
        maintenance_windows=_windows(merged.get("maintenance_windows")),
        vpc=_vpc(merged.get("vpc")),
        targets=targets,
        hermes_api_token_kms_key_arn=kms,
        extra_environment=dict(extra),
        disabled_checks=disabled,
        reserved_concurrency=_reserved_concurrency(merged.get("reserved_concurrency")),
    )


def _reserved_concurrency(value: Any) -> int | None:
    """Unset, null or "" reserves nothing; otherwise a positive whole number (Lambda keeps the account's
    unreserved concurrency at its minimum, 100 by default, so large reservations fail at deploy time)."""
    if value in (None, "", "none"):
        return None
    return _as_int("reserved_concurrency", value, 1, 1000)


def target_file_context(value: Any) -> dict[str, Any]:
    """The context object of the JSON file named by ``target_config`` (relative to the working directory or the
    project root); keys starting with "//" are comments."""
    name = _as_str(TARGET_CONFIG_KEY, value)
    if name is None:
        return {}
    path = Path(name).expanduser()
    if not path.is_absolute() and not path.is_file():
        path = _PROJECT_ROOT / path
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InfraConfigError(f"context {TARGET_CONFIG_KEY!r}: cannot read {name!r} ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise InfraConfigError(f"context {TARGET_CONFIG_KEY!r}: {name!r} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InfraConfigError(f"context {TARGET_CONFIG_KEY!r}: {name!r} must hold one JSON object of context keys")
    data = {k: v for k, v in data.items() if not str(k).startswith(_COMMENT_PREFIX)}
    unknown = sorted(set(data) - KNOWN_KEYS - {"environments"})
    if unknown:
        raise InfraConfigError(f"context {TARGET_CONFIG_KEY!r}: {name!r} has unknown key(s) "
                               f"{', '.join(map(repr, unknown))}")
    return data


def environments_from_context(get: Callable[[str], Any]) -> tuple[EnvironmentConfig, ...]:
    """All stacks to build: the ``environments`` list, or one environment from the top-level keys.

    Values from the ``target_config`` file come first; context given to the app overrides them.
    """
    from_file = target_file_context(get(TARGET_CONFIG_KEY))

    def lookup(key: str) -> Any:
        value = get(key)
        return from_file.get(key) if value is None else value

    defaults = {key: lookup(key) for key in KNOWN_KEYS if lookup(key) is not None}
    entries = _as_json("environments", lookup("environments"))
    if entries in (None, []):
        entries = [{}]
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InfraConfigError("context 'environments': expected a list of objects ({\"name\": ..., \"region\": ...})")
    configs = tuple(environment_config(defaults, entry) for entry in entries)
    seen: set[str] = set()
    for cfg in configs:
        if cfg.stack_name in seen:
            raise InfraConfigError(f"context 'environments': {cfg.name!r} in {cfg.region} is listed twice")
        seen.add(cfg.stack_name)
    return configs

