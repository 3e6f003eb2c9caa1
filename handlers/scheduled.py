"""The schedule's own events, read without pydantic (cold start, issue 13).

The CDK schedules send constant inputs: ``{"tiers": [<tier>]}``, or ``{"checks": [<ids>]}`` when some checks are
disabled (``infra.config.EnvironmentConfig.scheduled_event``), and a raw EventBridge envelope carries ``{}`` as
its ``detail``. Those few shapes are recognised here in plain Python and give the request ``handlers.events``
would give; anything else (console events, mistakes, hostile input) returns ``None`` and goes to the pydantic
model, which validates it and explains what is wrong. So the scheduled invoke never imports pydantic.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Protocol

from harness import contract

_MAX_ITEMS = 1000  # as handlers.events.MAX_ITEMS: a longer list goes to the model, which refuses it
# What EventBridge puts in every event (Powertools' EventBridgeModel requires them): an envelope lacking one goes to
# the model, which names what is missing.
_ENVELOPE_KEYS = frozenset({"version", "id", "detail-type", "source", "account", "time", "region", "resources",
                            "detail"})
# The time as EventBridge writes it (e.g. 2026-11-25T18:00:00Z); any other spelling goes to the model.
_EVENT_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")


class RunRequest(Protocol):
    """What the canary handler reads from a request (``handlers.events.CanaryRequest`` or ``PlainRequest``)."""

    @property
    def tiers(self) -> Sequence[str] | None: ...
    @property
    def checks(self) -> Sequence[str] | None: ...
    @property
    def profile(self) -> str | None: ...
    @property
    def dry_run(self) -> bool: ...
    @property
    def selftest(self) -> bool: ...
    def model_dump(self, *, exclude_defaults: bool = ...) -> dict[str, Any]: ...


@dataclass(frozen=True)
class PlainRequest:
    """A request read by the fast path: the same fields and defaults as ``CanaryRequest``."""

    tiers: list[str] | None = None
    checks: list[str] | None = None
    profile: str | None = None
    dry_run: bool = False
    selftest: bool = False

    def model_dump(self, *, exclude_defaults: bool = False) -> dict[str, Any]:
        """The fields as a dict (for the log line), like pydantic's ``model_dump``."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if not exclude_defaults or getattr(self, f.name) != f.default}


def is_scheduled_envelope(event: Any) -> bool:
    """An EventBridge scheduled-event envelope (its ``detail`` is the request)."""
    return isinstance(event, Mapping) and ("detail-type" in event or event.get("source") == "aws.events")


def _plain_envelope(event: Mapping[str, Any]) -> bool:
    """Every field EventBridge sends, with the type the model requires (so the fast path never accepts what the
    model would refuse)."""
    if not event.keys() >= _ENVELOPE_KEYS or type(event.get("replay-name", "")) not in (str, type(None)):
        return False
    resources = event["resources"]
    return (all(type(event[k]) is str for k in ("version", "id", "account", "region"))
            and type(resources) is list and all(type(r) is str for r in resources)
            and type(event["time"]) is str and _EVENT_TIME.fullmatch(event["time"]) is not None
            and _is_datetime(event["time"]))


def _is_datetime(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def scheduled_request(event: Any, known_checks: Collection[str]) -> PlainRequest | None:
    """The request for one of the schedule's own shapes, or ``None`` when the event needs the full model."""
    body = event
    if is_scheduled_envelope(event):
        detail = event.get("detail", {})
        if event.get("source") != "aws.events" or event.get("detail-type") != "Scheduled Event" or (
                type(detail) is not dict) or not _plain_envelope(event):
            return None
        body = detail
    if body is None or (type(body) is dict and not body):
        return PlainRequest()
    if type(body) is not dict or len(body) != 1:
        return None
    ((key, value),) = body.items()
    if type(value) is not list or not 0 < len(value) <= _MAX_ITEMS or any(type(v) is not str for v in value):
        return None
    if key == "tiers" and all(v in contract.TIERS for v in value):
        return PlainRequest(tiers=list(dict.fromkeys(value)))
    if key == "checks" and all(v in known_checks for v in value):
        return PlainRequest(checks=list(dict.fromkeys(value)))
    return None
