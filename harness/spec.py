"""Every check described once (stdlib only): what the harness, the CDK app, the doctor and the README read about it.

The descriptions live in ``check_specs.toml`` beside this module (data, not code: one ``[[check]]`` table per
check, in report order), loaded into ``CheckSpec`` values: id (a metric dimension), tier, profiles, whether it
pages, whether its duration is a latency SLI, the config keys it needs, the texts operators read and the IAM
statements it makes. ``harness.contract`` derives its lists from ``SPECS`` (``CHECK_IDS_BY_PROFILE``,
``CRITICAL_CHECKS``...), ``@check`` binds a function to its spec by id, ``infra.catalogue`` derives the hints and
required context, ``harness.iam_actions`` the statements a check brings, and ``harness.reporting.check_table``
the README
table. It imports nothing of the project, so ``infra`` (which may not import boto3) can read it.
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SESSION_PLATFORM = "session-platform"
QUEUE_PLATFORM = "queue-platform"
PROFILES = (SESSION_PLATFORM, QUEUE_PLATFORM)
TIERS = ("probe", "journey", "destructive")
SESSION = (SESSION_PLATFORM,)

# Parallel sessions session.concurrency activates (its summary says how many: {concurrent_sessions}).
CONCURRENT_SESSIONS = 3

# A requirement of the deployed stack: one context key, or a tuple meaning "any one of these".
Requirement = str | tuple[str, ...]


@dataclass(frozen=True)
class IamStatement:
    """A policy statement a check brings that no other check makes (shared ones are named by sid, see ``iam``).

    ``resource`` is ``"*"`` (then ``why`` says why: it becomes the cdk-nag acknowledgment) or an ARN resource of
    ``service`` in the stack's account and region, e.g. ``"file-system/{efs_file_system_id}"``: each ``{key}``
    names a target config key, and the statement is granted only when every such key is set.
    """

    sid: str
    actions: tuple[str, ...]
    service: str = ""
    resource: str = "*"
    why: str | None = None

    def config_keys(self) -> tuple[str, ...]:
        """The config keys the resource names (``{key}`` placeholders), in order."""
        return tuple(part.split("}", 1)[0] for part in self.resource.split("{")[1:])

    def resources_for(self, values: Mapping[str, Any]) -> tuple[str, ...]:
        """The ARN resource parts with the placeholders filled, one per combination of list values (a key holding
        several buckets names each); nothing when a key is unset."""
        keys = self.config_keys()
        choices = [[v] if isinstance(v, str) else list(v or ()) for v in (values.get(k) for k in keys)]
        return tuple(self.resource.format(**dict(zip(keys, combo, strict=True)))
                     for combo in itertools.product(*choices))


@dataclass(frozen=True)
class CheckSpec:
    """One check as the rest of the project sees it. ``id`` is a metric dimension: never rename one."""

    id: str
    module: str  # harness.checks.<module> holds the function, named like the id ("efs.filesystem" -> efs_filesystem)
    summary: str  # what it asserts (``canary list``, README)
    why: str  # why it matters (README)
    hint: str  # the first things an operator checks when its alarm fires (alarm description: keep it short)
    tier: str = "probe"
    profiles: tuple[str, ...] = SESSION
    critical: bool = False  # its failure pages through platform-unhealthy; otherwise a warning
    latency_sli: bool = False  # emits CheckDuration on every run (one always-on metric)
    error_only: bool = False  # only ever ends ERROR (the canary's own footing): no per-check alarm
    requires: tuple[str, ...] = ()  # config keys; unset -> SKIPPED not_configured
    # What a deployed stack must set so the check does not skip: defaults to ``requires``; a superset where the
    # check resolves a setting itself (Hermes from base_url or hermes_url).
    context: tuple[Requirement, ...] | None = None
    iam: tuple[str | IamStatement, ...] = ()  # statement sids of harness.iam_actions.ACTIONS, or its own statements

    @property
    def attribute(self) -> str:
        return self.id.replace(".", "_")

    @property
    def required_context(self) -> tuple[Requirement, ...]:
        return self.requires if self.context is None else self.context

    @property
    def own_statements(self) -> tuple[IamStatement, ...]:
        return tuple(s for s in self.iam if isinstance(s, IamStatement))

    @property
    def statement_ids(self) -> tuple[str, ...]:
        return tuple(s.sid if isinstance(s, IamStatement) else s for s in self.iam)


SPEC_FILE = Path(__file__).with_name("check_specs.toml")
_TEXT_PARAMETERS = {"concurrent_sessions": CONCURRENT_SESSIONS}
_FIELDS = {"id", "module", "tier", "profiles", "critical", "latency_sli", "error_only", "requires", "context", "iam",
           "summary", "why", "hint", "statement"}
_STATEMENT_FIELDS = {"sid", "actions", "service", "resource", "why"}


class SpecError(ValueError):
    """The check descriptions are malformed; the message names the file, the check and the key to fix."""


def _strings(where: str, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SpecError(f"{where}: {key!r} must be a list of non-empty strings")
    return tuple(value)


def _statement(where: str, entry: Any) -> IamStatement:
    if not isinstance(entry, dict) or not {"sid", "actions"} <= set(entry) or set(entry) - _STATEMENT_FIELDS:
        raise SpecError(f"{where}: each [[check.statement]] has sid and actions, and at most "
                        f"{', '.join(sorted(_STATEMENT_FIELDS))}")
    statement = IamStatement(str(entry["sid"]), _strings(where, "actions", entry["actions"]),
                             str(entry.get("service", "")), str(entry.get("resource", "*")), entry.get("why"))
    if not statement.sid.isascii() or not statement.sid.isalnum():
        raise SpecError(f"{where}: statement sid {statement.sid!r} may hold only A-Z, a-z and 0-9 (IAM's Sid)")
    if "*" in statement.resource and not statement.why:
        raise SpecError(f"{where}: statement {statement.sid} has a wildcard resource but no why (it becomes the "
                        "cdk-nag acknowledgment)")
    if statement.resource != "*" and not statement.service:
        raise SpecError(f"{where}: statement {statement.sid} names a resource but no service")
    return statement


def _spec(where: str, entry: dict[str, Any]) -> CheckSpec:
    unknown = set(entry) - _FIELDS
    missing = {"id", "module", "summary", "why", "hint"} - set(entry)
    if unknown or missing:
        raise SpecError(f"{where}: unknown key(s) {sorted(unknown)}, missing key(s) {sorted(missing)}")
    where = f"{where} ({entry['id']})"
    context = entry.get("context")
    try:
        texts = {key: str(entry[key]).format_map(_TEXT_PARAMETERS) for key in ("summary", "why", "hint")}
    except (KeyError, ValueError, IndexError) as exc:
        raise SpecError(f"{where}: summary, why and hint may name only {{{'}, {'.join(_TEXT_PARAMETERS)}}} in braces "
                        f"({exc!r})") from exc
    return CheckSpec(
        id=str(entry["id"]), module=str(entry["module"]), tier=str(entry.get("tier", "probe")),
        profiles=_strings(where, "profiles", entry.get("profiles", list(SESSION))),
        critical=entry.get("critical") is True, latency_sli=entry.get("latency_sli") is True,
        error_only=entry.get("error_only") is True, requires=_strings(where, "requires", entry.get("requires", [])),
        context=None if context is None else tuple(
            _strings(where, "context", r) if isinstance(r, list) else _strings(where, "context", [r])[0]
            for r in context),
        iam=(*_strings(where, "iam", entry.get("iam", [])),
             *(_statement(where, st) for st in entry.get("statement", []))),
        **texts,
    )


def load_specs(path: Path = SPEC_FILE) -> tuple[CheckSpec, ...]:
    """The ``[[check]]`` tables of a spec file, in order, validated (``by_id``); errors name the file and key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"{path}: {exc}") from exc
    entries = data.get("check")
    if not isinstance(entries, list) or set(data) != {"check"}:
        raise SpecError(f"{path}: expected only [[check]] tables")
    specs = tuple(_spec(f"{path.name} check #{n}", entry) for n, entry in enumerate(entries, 1))
    by_id(specs)
    return specs


def by_id(specs: tuple[CheckSpec, ...] | None = None) -> dict[str, CheckSpec]:
    """Specs (default ``SPECS``) keyed by check id, in report order; a duplicate id is refused (ids are metric
    dimensions), and so is a tier or profile outside the contract's."""
    found: dict[str, CheckSpec] = {}
    statements: dict[str, IamStatement] = {}
    for spec in SPECS if specs is None else specs:
        for statement in spec.own_statements:
            if statements.setdefault(statement.sid, statement) != statement:
                raise SpecError(f"check {spec.id!r}: statement {statement.sid} is declared again, differently")
        if spec.id in found:
            raise SpecError(f"check id {spec.id!r} is declared twice")
        if spec.tier not in TIERS or not spec.profiles or set(spec.profiles) - set(PROFILES):
            raise SpecError(f"check {spec.id!r}: tier must be one of {TIERS} and profiles a non-empty subset of "
                             f"{PROFILES}")
        covered = {key for r in spec.required_context for key in ((r,) if isinstance(r, str) else r)}
        uncovered = set(spec.requires) - covered
        if uncovered:
            raise SpecError(f"check {spec.id!r}: context must include every required key (missing {sorted(uncovered)})")
        found[spec.id] = spec
    return found


SPECS: tuple[CheckSpec, ...] = load_specs()


def spec_for(check_id: str) -> CheckSpec:
    """The spec of a check id, or a clear error naming where to declare it."""
    spec = by_id().get(check_id)
    if spec is None:
        raise KeyError(f"check {check_id!r} has no spec: describe it in harness/{SPEC_FILE.name}")
    return spec
