"""The §9 JSON output contract: render it, and validate a parsed object against it.

Other tools parse this output, so the validator is the executable form of the contract: the tests run
every rendered report through it, and consumers can use it to reject a report they do not understand.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from harness.model import Outcome, Profile, Reason, RunReport, Tier

_OUTCOMES = frozenset(o.value for o in Outcome)
_RUN_OUTCOMES = _OUTCOMES - {Outcome.SKIPPED.value}  # run_outcome never yields SKIPPED (§9)
_TIERS = frozenset(t.value for t in Tier)
_PROFILES = frozenset(p.value for p in Profile)
_REASONS = frozenset(r.value for r in Reason)
_START_TYPES = frozenset({"cold", "warm"})


def json_default(value: object) -> Any:
    """Encode what boto3 and DynamoDB put in evidence (datetime, Decimal, sets, bytes) instead of crashing.

    A report that cannot be serialised would lose the whole run at the last moment; evidence is for
    people, so an unknown object is shown by its ``repr``.
    """
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if isinstance(value, bytes | bytearray):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    return repr(value)


def render_json(report: RunReport) -> str:
    """The run report as the §9 JSON document (ASCII-only, keys in contract order)."""
    return json.dumps(report.to_dict(), indent=2, sort_keys=False, default=json_default)


def dumps_evidence(evidence: Mapping[str, Any]) -> str:
    """Pretty, human-oriented JSON of a check's evidence (unicode kept, keys sorted)."""
    return json.dumps(dict(evidence), indent=2, sort_keys=True, ensure_ascii=False, default=json_default)


# --- validation --------------------------------------------------------------------------------------

# A field check returns None when the value is fine, else what is wrong with it.
_FieldCheck = Callable[[object], str | None]


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _is_str(value: object) -> str | None:
    return None if isinstance(value, str) else f"expected a string, got {_type_name(value)}"


def _is_nonempty_str(value: object) -> str | None:
    if not isinstance(value, str):
        return _is_str(value)
    return None if value.strip() else "must not be empty"


def _is_count(value: object) -> str | None:
    # bool is an int subclass; True is not a duration.
    if not isinstance(value, int) or isinstance(value, bool):
        return f"expected an integer, got {_type_name(value)}"
    return None if value >= 0 else f"must be >= 0, got {value}"


def _is_amount(value: object) -> str | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return f"expected a number, got {_type_name(value)}"
    if not math.isfinite(value) or value < 0:
        return f"must be a finite number >= 0, got {value}"
    return None


def _is_bool(value: object) -> str | None:
    return None if isinstance(value, bool) else f"expected a boolean, got {_type_name(value)}"


def _is_object(value: object) -> str | None:
    return None if isinstance(value, dict) else f"expected an object, got {_type_name(value)}"


def _is_timestamp(value: object) -> str | None:
    if not isinstance(value, str):
        return _is_str(value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return f"not an ISO-8601 timestamp: {value!r}"
    # A naive timestamp is ambiguous for a consumer in another zone.
    return None if parsed.tzinfo is not None else f"timestamp has no UTC offset: {value!r}"


def _one_of(allowed: frozenset[str], *, nullable: bool = False) -> _FieldCheck:
    def check(value: object) -> str | None:
        if value is None and nullable:
            return None
        if isinstance(value, str) and value in allowed:
            return None
        return f"{value!r} is not one of {sorted(allowed)}" + (" or null" if nullable else "")

    return check


def _phases(value: object) -> str | None:
    if not isinstance(value, dict):
        return _is_object(value)
    for name, ms in value.items():
        problem = _is_amount(ms)
        if problem:
            return f"phase {name!r}: {problem}"
    return None


# name -> (required, check). Optional keys are the model's additive fields beyond the §9 listing.
_RUN_FIELDS: dict[str, tuple[bool, _FieldCheck]] = {
    "run_id": (True, _is_nonempty_str),
    "environment": (True, _is_nonempty_str),
    "started_at": (True, _is_timestamp),
    "duration_ms": (True, _is_count),
    "outcome": (True, _one_of(_RUN_OUTCOMES)),
    "estimated_cost_usd": (True, _is_amount),
    "canary_version": (True, _is_nonempty_str),
    "checks": (True, lambda v: None if isinstance(v, list) else f"expected a list, got {_type_name(v)}"),
    "profile": (False, _one_of(_PROFILES)),
    "maintenance": (False, _is_bool),
}
_CHECK_FIELDS: dict[str, tuple[bool, _FieldCheck]] = {
    "id": (True, _is_nonempty_str),
    "tier": (True, _one_of(_TIERS)),
    "profile": (True, _one_of(_PROFILES)),
    "outcome": (True, _one_of(_OUTCOMES)),
    "reason": (True, _one_of(_REASONS, nullable=True)),
    "message": (True, _is_str),
    "duration_ms": (True, _is_count),
    "retries": (True, _is_count),
    "start_type": (True, _one_of(_START_TYPES, nullable=True)),
    "steps": (True, lambda v: None if isinstance(v, list) else f"expected a list, got {_type_name(v)}"),
    "evidence": (True, _is_object),
}
_STEP_FIELDS: dict[str, tuple[bool, _FieldCheck]] = {
    "name": (True, _is_nonempty_str),
    "outcome": (True, _one_of(_OUTCOMES)),
    "duration_ms": (True, _is_count),
    "reason": (True, _one_of(_REASONS, nullable=True)),
    "message": (False, _is_str),
    "phases_ms": (False, _phases),
}


def _check_fields(
    data: dict[str, Any], fields: dict[str, tuple[bool, _FieldCheck]], path: str, allow_extra_keys: bool
) -> list[str]:
    problems: list[str] = []
    for name, (required, check) in fields.items():
        if name not in data:
            if required:
                problems.append(f"{path}.{name}: missing")
            continue
        problem = check(data[name])
        if problem:
            problems.append(f"{path}.{name}: {problem}")
    if not allow_extra_keys:
        problems.extend(f"{path}.{name}: unexpected key" for name in data if name not in fields)
    return problems


def _validate_check(check: object, path: str, allow_extra_keys: bool) -> list[str]:
    if not isinstance(check, dict):
        return [f"{path}: expected an object, got {_type_name(check)}"]
    problems = _check_fields(check, _CHECK_FIELDS, path, allow_extra_keys)
    # Every non-passing verdict must say why with a code: alarms and triage branch on it, never on text.
    if check.get("outcome") in _OUTCOMES - {Outcome.PASSED.value} and check.get("reason", "") is None:
        problems.append(f"{path}.reason: required when outcome is {check['outcome']}")
    steps = check.get("steps")
    if isinstance(steps, list):
        for index, step in enumerate(steps):
            step_path = f"{path}.steps[{index}]"
            if isinstance(step, dict):
                problems.extend(_check_fields(step, _STEP_FIELDS, step_path, allow_extra_keys))
            else:
                problems.append(f"{step_path}: expected an object, got {_type_name(step)}")
    return problems


# §9 precedence over outcome strings; a unit test pins it to model.run_outcome so they never diverge.
_RUN_PRECEDENCE = ("ERROR", "FAILED", "INCOMPLETE", "DEGRADED")


def implied_run_outcome(outcomes: list[str]) -> str:
    """The run outcome that these check outcome values imply (ERROR > FAILED > INCOMPLETE > DEGRADED)."""
    present = set(outcomes)
    return next((o for o in _RUN_PRECEDENCE if o in present), Outcome.PASSED.value)


def _expected_run_outcome(checks: list[Any]) -> str | None:
    """The outcome the checks imply, or None if some check outcome is itself invalid."""
    outcomes = [c.get("outcome") if isinstance(c, dict) else None for c in checks]
    valid = [o for o in outcomes if isinstance(o, str) and o in _OUTCOMES]
    return implied_run_outcome(valid) if len(valid) == len(outcomes) else None


def validate_report_dict(data: object, *, allow_extra_keys: bool = False) -> list[str]:
    """Problems that keep ``data`` from being a valid §9 run report; an empty list means valid.

    Each problem names its path (``$.checks[2].steps[0].outcome: ...``). Besides shape and types it
    checks what consumers rely on: closed value sets (outcomes, tiers, profiles, reason codes), unique
    check ids (they are metric dimensions), a reason on every non-passing check, and a run outcome that
    agrees with the checks. Unknown keys are problems unless ``allow_extra_keys`` (for consumers that
    accept additive changes).
    """
    if not isinstance(data, dict):
        return [f"$: expected an object, got {_type_name(data)}"]
    problems = _check_fields(data, _RUN_FIELDS, "$", allow_extra_keys)
    checks = data.get("checks")
    if not isinstance(checks, list):
        return problems
    seen: set[str] = set()
    for index, check in enumerate(checks):
        path = f"$.checks[{index}]"
        problems.extend(_validate_check(check, path, allow_extra_keys))
        check_id = check.get("id") if isinstance(check, dict) else None
        if isinstance(check_id, str):
            if check_id in seen:
                problems.append(f"{path}.id: duplicate check id {check_id!r}")
            seen.add(check_id)
    expected = _expected_run_outcome(checks)
    outcome = data.get("outcome")
    if expected is not None and outcome in _RUN_OUTCOMES and outcome != expected:
        problems.append(f"$.outcome: {outcome!r} disagrees with the checks, which imply {expected!r}")
    return problems
