"""Deployment settings read from CDK context, validated up front (DESIGN §7).

One ``EnvironmentConfig`` per (environment, region) stack. Top-level context keys are the defaults; each entry of
the ``environments`` list overrides them. Target keys are the harness's own config keys (snake_case of the DESIGN §4
environment variables), so a setting means the same thing in ``cdk.json``, a config file and the Lambda
environment. Every error names the context key to fix, and nothing is synthesized.

Values passed with ``cdk -c key=value`` arrive as strings, so numbers, booleans and lists are also accepted in
their string forms ("15", "true", "a,b" or a JSON list): ``infra.context_model`` types every key with pydantic, and
this module checks what depends on several keys or on the catalogue.

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
from pathlib import Path
from typing import Any

from harness.contract import CHECK_IDS_BY_PROFILE, PROFILES, QUEUE_PLATFORM, alarm_prefix
from harness.settings import BY_KEY, PREFIX_PATTERN
from harness.settings import TARGET_ENV as SETTINGS_TARGET_ENV
from infra.catalogue import checks_for, missing_context, tier_of, tiers_with_checks
from infra.context_model import (
    DEPLOY_KEYS,
    KNOWN_KEYS,
    MAX_SCHEDULE_MINUTES,
    DeployContext,
    InfraConfigError,
    VpcContext,
    environment_entries,
    parse_context,
    text,
)

__all__ = ["DEPLOY_KEYS", "KNOWN_KEYS", "MAX_SCHEDULE_MINUTES", "TARGET_ENV", "EnvironmentConfig",
           "InfraConfigError", "VpcPlacement", "environment_config", "environments_from_context",
           "target_file_context"]

# Context key -> Lambda environment variable (DESIGN §4), declared once in harness.settings. Absent or empty values
# are not set, so the harness SKIPs the checks that need them with reason ``not_configured``.
TARGET_ENV: dict[str, str] = dict(SETTINGS_TARGET_ENV)
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
_SCHEDULED = ("probe", "journey", "sweeper", "destructive")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,23}$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_ACCOUNT = re.compile(r"^\d{12}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def example_file(profile: str) -> str:
    """The shipped example context for a profile, relative to the project root."""
    return f"examples/{profile}.json"


def _how_to_configure(profile: str) -> str:
    return (f"start from {example_file(profile)} (replace every <PLACEHOLDER> value) and pass it with "
            f"`-c {TARGET_CONFIG_KEY}=<your copy>`")


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


def _vpc(vpc: VpcContext | None) -> VpcPlacement | None:
    if vpc is None:
        return None
    return VpcPlacement(vpc.vpc_id, vpc.subnet_ids, vpc.security_group_ids, vpc.availability_zones)


def _targets(context: DeployContext) -> dict[str, Any]:
    targets: dict[str, Any] = {}
    for key in TARGET_ENV:
        value = getattr(context, key)
        if value not in (None, ()):
            targets[key] = value
    prefix = targets.get("test_prefix", BY_KEY["test_prefix"].default)
    if not PREFIX_PATTERN.match(prefix):
        raise InfraConfigError(f"context 'test_prefix': {prefix!r} must be 2-32 letters, digits, '_', '-' or '.'")
    targets["test_prefix"] = prefix
    buckets, sites = targets.get("site_buckets", ()), targets.get("site_urls", ())
    if buckets and len(buckets) != len(sites):
        raise InfraConfigError("context 'site_buckets' must list one bucket per 'site_urls' entry, same order")
    return targets


def _disabled(disabled: tuple[str, ...], profile: str) -> tuple[str, ...]:
    unknown = [c for c in disabled if c not in CHECK_IDS_BY_PROFILE[profile]]
    if unknown:
        raise InfraConfigError(
            f"context 'disabled_checks': {', '.join(map(repr, unknown))} not in profile {profile!r} "
            f"({', '.join(CHECK_IDS_BY_PROFILE[profile])})"
        )
    return tuple(dict.fromkeys(disabled))


def _tiers(tiers: tuple[str, ...], profile: str, allow_destructive: bool,
           disabled: tuple[str, ...] = ()) -> tuple[str, ...]:
    available = tiers_with_checks(profile)
    enabled = tuple(t for t in available if any(c not in disabled for c in checks_for(profile, (t,))))
    if not tiers:
        # Default: every non-destructive tier that has enabled checks in this profile.
        tiers = tuple(t for t in enabled if t != "destructive")
        if not tiers:
            raise InfraConfigError("context 'disabled_checks' disables every check of the default tiers: "
                                   "nothing would run")
        return tiers
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
    return tuple(dict.fromkeys(tiers))


def _m_of_n(context: DeployContext, prefix: str = "") -> tuple[int, int]:
    """(datapoints, evaluation periods) of one alarm kind: M of N needs M <= N."""
    datapoints, periods = (getattr(context, f"{prefix}alarm_datapoints"),
                           getattr(context, f"{prefix}alarm_evaluation_periods"))
    if datapoints > periods:
        raise InfraConfigError(f"context '{prefix}alarm_datapoints': {datapoints} is outside 1..{periods} (at most "
                               f"'{prefix}alarm_evaluation_periods')")
    return datapoints, periods


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
    context = parse_context(merged)
    name = context.name
    if not name or not _NAME.match(name):
        raise InfraConfigError(f"context 'name': {name!r} must be 1-24 lower-case letters, digits or '-'")
    profile = context.profile or DEFAULT_PROFILE
    if profile not in PROFILES:
        raise InfraConfigError(f"context 'profile': {profile!r} is not one of {', '.join(PROFILES)}")
    region = context.region
    if not region:
        raise InfraConfigError(f"context 'region' of environment {name!r} is not set: {_how_to_configure(profile)}")
    if not _REGION.match(region):
        raise InfraConfigError(f"context 'region' of environment {name!r}: {region!r} is not an AWS region")
    account = context.account
    if account is not None and not _ACCOUNT.match(account):
        raise InfraConfigError(f"context 'account' of environment {name!r}: {account!r} is not a 12-digit id")
    disabled = _disabled(context.disabled_checks, profile)
    tiers = _tiers(context.tiers, profile, context.allow_destructive, disabled)
    targets = _targets(context)
    _check_required(name, profile, tuple(c for c in checks_for(profile, tiers) if c not in disabled), targets)
    datapoints, evaluation = _m_of_n(context)
    critical_datapoints, critical_evaluation = _m_of_n(context, "critical_")
    for email in context.alarm_email:
        if not _EMAIL.match(email):
            raise InfraConfigError(f"context 'alarm_email': {email!r} is not an e-mail address")
    return EnvironmentConfig(
        name=name,
        region=region,
        account=account,
        profile=profile,
        tiers=tiers,
        allow_destructive=context.allow_destructive,
        schedule_minutes={kind: getattr(context, f"{kind}_every_minutes") for kind in _SCHEDULED},
        alarm_datapoints=datapoints,
        alarm_evaluation_periods=evaluation,
        critical_alarm_datapoints=critical_datapoints,
        critical_alarm_evaluation_periods=critical_evaluation,
        alarm_emails=context.alarm_email,
        log_retention_days=context.log_retention_days,
        powertools_layer_version=context.powertools_layer_version,
        maintenance_windows=tuple({"start": w.start, "end": w.end} for w in context.maintenance_windows),
        vpc=_vpc(context.vpc),
        targets=targets,
        hermes_api_token_kms_key_arn=context.hermes_api_token_kms_key_arn,
        extra_environment=dict(context.extra_environment),
        disabled_checks=disabled,
        reserved_concurrency=context.reserved_concurrency,
    )


def target_file_context(value: Any) -> dict[str, Any]:
    """The context object of the JSON file named by ``target_config`` (relative to the working directory or the
    project root); keys starting with "//" are comments."""
    name = text(TARGET_CONFIG_KEY, value)
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
    entries = environment_entries(lookup("environments"))
    configs = tuple(environment_config(defaults, entry) for entry in entries)
    seen: set[str] = set()
    for cfg in configs:
        if cfg.stack_name in seen:
            raise InfraConfigError(f"context 'environments': {cfg.name!r} in {cfg.region} is listed twice")
        seen.add(cfg.stack_name)
    return configs

