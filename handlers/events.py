"""The Lambda event model: what a scheduled or console invoke may ask for, validated before anything runs.

Unknown keys, wrong types, unknown tiers, profiles or check ids are rejected with details naming the field
(never echoing the value); the handler then returns ``{"error": "validation", ...}`` and runs nothing. An
EventBridge scheduled-event envelope is accepted too (validated with Powertools' ``EventBridgeModel``: every
field EventBridge sends is required): its ``detail`` (``{}`` for a plain schedule) is the request.

What an error says is bounded whatever the event holds (a 5 MB check id, 200,000 unknown ids): a rejected value
is described by kind and length, at most ``MAX_LISTED`` of them are listed and at most ``MAX_DETAILS`` details
returned, so the response and its log line stay a few kilobytes (Lambda caps a log event at 256 KB).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from handlers.scheduled import is_scheduled_envelope  # one definition, in the module the fast path imports

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

# Kept equal to harness.contract.TIERS / PROFILES (a unit test compares them).
TierName = Literal["probe", "journey", "destructive"]
ProfileName = Literal["session-platform", "queue-platform"]
MAX_DETAILS = 20  # error details returned (and logged) for one event; the rest are counted
MAX_LISTED = 5  # rejected values described in one detail; the rest are counted
MAX_ITEMS = 1000  # entries in "tiers" or "checks" (there are a few dozen checks; more is junk)
_MAX_MESSAGE = 1000


def describe(value: Any) -> str:
    """A value as an error may show it: its kind and size, never its content."""
    if isinstance(value, str):
        return f"string, {len(value)} chars"
    if isinstance(value, bool) or value is None:
        return "boolean" if value is not None else "null"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, Mapping):
        return f"object, {len(value)} keys"
    if isinstance(value, list | tuple):
        return f"list, {len(value)} items"
    return type(value).__name__


def _unknown_check(value: str, known: Collection[str]) -> str:
    """``unknown check id (string, 18 chars; did you mean 'http.hermes_health'?)``: only the known id is echoed."""
    hint = difflib.get_close_matches(value, list(known), n=1) if len(value) <= 64 else []
    return f"unknown check id ({describe(value)}" + (f"; did you mean {hint[0]!r}?)" if hint else ")")


class EventInvalid(ValueError):
    """The event is not a valid request; ``details`` name each offending field."""

    def __init__(self, details: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{d['field']}: {d['message']}" for d in details))
        self.details = details


class CanaryRequest(BaseModel):
    """A run request. Every key is optional: ``{}`` runs the configured default selection; ``{"selftest": true}``
    (alone) runs no check but drives the alert-path self-test alarm to ALARM and back."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    tiers: list[TierName] | None = Field(default=None, min_length=1, max_length=MAX_ITEMS)
    checks: list[str] | None = Field(default=None, min_length=1, max_length=MAX_ITEMS)
    profile: ProfileName | None = None
    dry_run: bool = False
    selftest: bool = False

    @field_validator("checks")
    @classmethod
    def _known_checks(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        known: Collection[str] | None = (info.context or {}).get("known_checks")
        if value is None or known is None:
            return value
        unknown = [c for c in value if c not in known]
        if unknown:
            # An unknown id is event content (a pasted token, a megabyte of junk): described, never echoed.
            listed = "; ".join(_unknown_check(c, known) for c in unknown[:MAX_LISTED])
            more = f"; and {len(unknown) - MAX_LISTED} more" if len(unknown) > MAX_LISTED else ""
            raise ValueError(f"{len(unknown)} unknown check id(s): {listed}{more}; known: {', '.join(known)}")
        return list(dict.fromkeys(value))

    @field_validator("tiers")
    @classmethod
    def _distinct_tiers(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else list(dict.fromkeys(value))


class SweepRequest(BaseModel):
    """A sweep request: ``{"dry_run": bool, "older_than_minutes": number}``, both optional."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    dry_run: bool = False
    older_than_minutes: float | None = Field(default=None, gt=0, le=7 * 24 * 60)

    @field_validator("older_than_minutes", mode="before")
    @classmethod
    def _number_not_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("expected a number of minutes")
        if isinstance(value, int):
            return float(value)
        return value


@cache
def _scheduled_event_model() -> type[EventBridgeModel]:
    """Powertools' EventBridge event model narrowed to a schedule's event (``detail`` is the request).

    Imported on first use: only a raw envelope needs it, and the schedules send constant input, so neither the
    sweeper's cold start (it imports this module) nor any other invoke pays for it. Powertools'
    ``EventBridgeEnvelope`` is not used: it cannot pass the validation context (the known check ids) to the
    request model, and importing it loads every Powertools envelope (about 80 ms).
    """
    from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

    class ScheduledEvent(EventBridgeModel):
        source: Literal["aws.events"]
        detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")
        detail: dict[str, Any]

    return ScheduledEvent


_SHOWABLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,23}$")


def _field_name(part: object) -> str:
    """A location part as shown to the caller: unknown keys are event *content*, so a long or odd one (a pasted
    token used as a key) is described, not echoed."""
    text = str(part)
    if isinstance(part, int) or _SHOWABLE_KEY.match(text):
        return text
    return f"<key of {len(text)} characters>"


def _details(exc: ValidationError, prefix: str = "") -> list[dict[str, Any]]:
    details: list[dict[str, Any]] = []
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    for err in errors[:MAX_DETAILS]:
        field = ".".join(_field_name(p) for p in err["loc"]) or "event"
        message = str(err["msg"]).removeprefix("Value error, ")[:_MAX_MESSAGE]
        # The offending value is not echoed: a pasted secret must not come back in the response or the log.
        details.append({"field": f"{prefix}{field}", "message": message})
    if len(errors) > MAX_DETAILS:
        details.append({"field": prefix.rstrip(".") or "event",
                        "message": f"{len(errors) - MAX_DETAILS} more problem(s) not listed"})
    return details


def _unwrap(event: Any) -> tuple[Any, str]:
    """The request body and the prefix its field names get in error details."""
    if event is None:
        return {}, ""
    if is_scheduled_envelope(event):
        try:
            envelope = _scheduled_event_model().model_validate(event)
        except ValidationError as exc:
            raise EventInvalid(_details(exc)) from exc
        return envelope.detail, "detail."
    if not isinstance(event, Mapping):
        raise EventInvalid([{"field": "event", "message": f"expected a JSON object, got {type(event).__name__}"}])
    return event, ""


def parse_canary_event(event: Any, *, known_checks: Collection[str]) -> CanaryRequest:
    """Validate a canary invoke (plain or scheduled envelope); raises EventInvalid naming the fields."""
    body, prefix = _unwrap(event)
    try:
        request = CanaryRequest.model_validate(dict(body), context={"known_checks": tuple(known_checks)})
    except ValidationError as exc:
        raise EventInvalid(_details(exc, prefix)) from exc
    if request.selftest and (request.tiers is not None or request.checks is not None or request.profile is not None
                             or request.dry_run):
        raise EventInvalid([{"field": f"{prefix}selftest", "message": "a self-test runs no checks: send "
                             "{\"selftest\": true} alone (no tiers, checks, profile or dry_run)"}])
    if request.tiers is not None and request.checks is not None:
        raise EventInvalid([{"field": f"{prefix}checks", "message": "give either 'tiers' or 'checks', not both "
                             "(named checks run whatever their tier)"}])
    return request


def parse_sweep_event(event: Any) -> SweepRequest:
    """Validate a sweeper invoke (plain or scheduled envelope); raises EventInvalid naming the fields."""
    body, prefix = _unwrap(event)
    try:
        return SweepRequest.model_validate(dict(body))
    except ValidationError as exc:
        raise EventInvalid(_details(exc, prefix)) from exc
