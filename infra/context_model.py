"""The shape of one environment's CDK context, validated by pydantic; every error names the context key.

``cdk -c key=value`` passes strings, so numbers, booleans and lists are also accepted in their string forms ("15",
"true", "a,b" or a JSON list). The target keys (and whether each is a list, a number or a string) come from
``harness.settings``; what depends on several keys (tiers against the profile, M of N) is checked by
``infra.config``. Only synth imports pydantic: the harness and the Lambda handlers never do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    create_model,
    model_validator,
)

from harness.settings import SETTINGS, Setting, parse_moment
from infra.lambda_environment import refusal as env_refusal


class InfraConfigError(ValueError):
    """A context value is missing or invalid; the message names the context key."""


# CloudWatch accepts these retention periods only.
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653)
# A schedule longer than half a day would need alarm windows beyond CloudWatch's one-day evaluation limit.
MAX_SCHEDULE_MINUTES = 720
# A target budget in seconds: at most Lambda's 15-minute maximum function timeout.
MAX_TARGET_SECONDS = 900
_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SG_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_MAX_SHOWN = 120  # characters of an offending value quoted in an error
_LAYER = re.compile(r"^(latest|\d+|\d+\.\d+\.\d+)$")


def _whole(value: Any) -> Any:
    """A bool is not a number here (``True`` would otherwise be 1); strings are stripped."""
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got {value!r}")
    return value.strip() if isinstance(value, str) else value


def _optional_whole(value: Any) -> Any:
    return None if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")) \
        else _whole(value)


def _bool_text(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _split(value: Any) -> Any:
    """A list, a JSON list in a string, or a comma-separated string."""
    if value is None:
        return ()
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith("["):
            return tuple(text.split(","))
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a valid JSON list: {exc}") from exc
        except RecursionError:
            raise ValueError("nested too deeply") from None
    return value


def _json(value: Any) -> Any:
    """A JSON value given as a string (``-c key='{"a": 1}'``); empty means unset."""
    if isinstance(value, str):
        try:
            return json.loads(value) if value.strip() else None
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc}") from exc
        except RecursionError:
            raise ValueError("nested too deeply") from None
    return value


def _stripped(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(v.strip() for v in values if v.strip())


def _blank_is_none(value: str | None) -> str | None:
    return (value.strip() or None) if value is not None else None


def _matching(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(values: Any) -> Any:
        for value in values if isinstance(values, tuple) else (values,):
            if value is not None and not pattern.match(value):
                raise ValueError(f"{value!r} is not {what}")
        return values
    return AfterValidator(check)


def _retention(days: int) -> int:
    if days not in RETENTION_DAYS:
        raise ValueError(f"{days} is not a CloudWatch retention ({', '.join(map(str, RETENTION_DAYS))})")
    return days


def _kms_arn(value: str | None) -> str | None:
    if value is not None and not value.startswith("arn:"):
        raise ValueError(f"{value!r} is not a KMS key ARN")
    return value


def _environment(value: dict[str, str]) -> dict[str, str]:
    for key in sorted(value):
        if (why := env_refusal(key)) is not None:
            raise ValueError(f"{key!r} may not be set: {why}")
    bad = [key for key in value if not _ENV_NAME.match(key)]
    if bad:
        raise ValueError(f"{', '.join(map(repr, bad))}: expected {{\"UPPER_CASE_NAME\": \"string\", ...}}")
    return value


WholeNumber = Annotated[int, BeforeValidator(_whole)]
Minutes = Annotated[WholeNumber, Field(ge=1, le=MAX_SCHEDULE_MINUTES)]
Periods = Annotated[WholeNumber, Field(ge=1, le=10)]
Positive = Annotated[WholeNumber, Field(ge=1)]
RetentionDays = Annotated[WholeNumber, Field(ge=1, le=3653), AfterValidator(_retention)]
# Unset, null, "" or "none" reserve nothing; Lambda refuses a reservation that leaves the account's unreserved
# concurrency below its minimum (100 by default), so large values fail at deploy time anyway.
Concurrency = Annotated[Annotated[int, Field(ge=1, le=1000)] | None, BeforeValidator(_optional_whole)]
TargetSeconds = Annotated[Annotated[int, Field(ge=1, le=MAX_TARGET_SECONDS)] | None, BeforeValidator(_optional_whole)]
Text = Annotated[str | None, AfterValidator(_blank_is_none)]
Flag = Annotated[bool, BeforeValidator(_bool_text)]
TextList = Annotated[tuple[str, ...], BeforeValidator(_split), AfterValidator(_stripped)]


class WindowContext(BaseModel):
    """One ``maintenance_windows`` entry, the harness's CANARY_MAINTENANCE_WINDOWS syntax; the text is kept as
    written (it becomes that variable)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: Annotated[str, AfterValidator(lambda v: parse_moment(v) and v)]
    end: Annotated[str, AfterValidator(lambda v: parse_moment(v) and v)]

    @model_validator(mode="after")
    def _ordered(self) -> WindowContext:
        if parse_moment(self.end) <= parse_moment(self.start):
            raise ValueError(f"{self.start} .. {self.end} ends before it starts")
        return self


class VpcContext(BaseModel):
    """``vpc``: ids only, never looked up."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vpc_id: Annotated[str, AfterValidator(str.strip), _matching(_VPC_ID, "a VPC id (vpc-...)")]
    subnet_ids: Annotated[TextList, Field(min_length=1), _matching(_SUBNET_ID, "a subnet id (subnet-...)")]
    security_group_ids: Annotated[TextList, _matching(_SG_ID, "a security group id (sg-...)")] = ()
    availability_zones: TextList = ()


class DeployContext(BaseModel):
    """The keys that shape the deployment itself (not passed to the functions as targets)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Text = "production"
    region: Text = None
    account: Text = None
    profile: Text = None
    tiers: TextList = ()
    allow_destructive: Flag = False
    probe_every_minutes: Minutes = 15
    journey_every_minutes: Minutes = 60
    sweeper_every_minutes: Minutes = 60
    destructive_every_minutes: Minutes = 720
    alarm_datapoints: Positive = 2  # <= alarm_evaluation_periods (checked by infra.config)
    alarm_evaluation_periods: Periods = 3
    critical_alarm_datapoints: Positive = 1
    critical_alarm_evaluation_periods: Periods = 1
    alarm_email: TextList = ()
    log_retention_days: RetentionDays = 30
    powertools_layer_version: Annotated[str, BeforeValidator(lambda v: str(v).strip()),
                                        _matching(_LAYER, "a layer version number, a release (3.23.0) or 'latest'")
                                        ] = "27"
    maintenance_windows: Annotated[tuple[WindowContext, ...], BeforeValidator(lambda v: _json(v) or ())] = ()
    vpc: Annotated[VpcContext | None, BeforeValidator(lambda v: _json(v) or None)] = None
    hermes_api_token_kms_key_arn: Annotated[Text, AfterValidator(_kms_arn)] = None
    extra_environment: Annotated[dict[str, str], BeforeValidator(lambda v: _json(v) or {}),
                                 AfterValidator(_environment)] = Field(default_factory=dict)
    disabled_checks: TextList = ()
    reserved_concurrency: Concurrency = None


def _target_type(setting: Setting) -> Any:
    """A deployable setting's context type and default: lists, budgets in whole seconds (the ``*_timeout_s``
    settings), or strings; the harness validates the rest of each value when the function starts."""
    if setting.is_list:
        return (TextList, ())
    if setting.is_number:
        return (TargetSeconds, None)
    return (Text, None)


# One environment's context: the deploy keys plus every deployable target of harness.settings under its own key.
EnvironmentContext = create_model(
    "EnvironmentContext",
    __base__=DeployContext,
    **{s.key: _target_type(s) for s in SETTINGS if s.deployable},
)
DEPLOY_KEYS: frozenset[str] = frozenset(DeployContext.model_fields)
TARGET_KEYS: tuple[str, ...] = tuple(s.key for s in SETTINGS if s.deployable)
KNOWN_KEYS: frozenset[str] = frozenset(EnvironmentContext.model_fields)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else f"{text[:_MAX_SHOWN]}... ({len(text)} characters)"


def _where(loc: tuple[int | str, ...]) -> str:
    """``context 'vpc.subnet_ids'``, ``context 'maintenance_windows'[0].start``: the key as written, quoted."""
    first = next((i for i, part in enumerate(loc) if isinstance(part, int)), len(loc))
    rest = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc[first:])
    return f"context {'.'.join(map(str, loc[:first]))!r}{rest}"


def describe(error: ValidationError, key: str | None = None) -> str:
    """Every problem pydantic found, each naming its context key (``vpc.subnet_ids``), joined by '; '."""
    messages = []
    for problem in error.errors(include_url=False):
        loc = ((key,) if key else ()) + tuple(problem["loc"])
        if problem["type"] == "extra_forbidden":
            messages.append(f"{_where(loc[:-1])}: unknown key {loc[-1]!r}")
        elif problem["type"] == "missing":
            messages.append(f"{_where(loc)}: required")
        elif problem["type"] == "value_error":
            messages.append(f"{_where(loc)}: {problem['ctx']['error']}")
        else:
            messages.append(f"{_where(loc)}: {problem['msg']}, got {_shown(problem['input'])}")
    return "; ".join(dict.fromkeys(messages))


def parse_context(merged: Mapping[str, Any]) -> DeployContext:
    """One environment's merged context, typed; InfraConfigError names each key that is wrong."""
    try:
        return EnvironmentContext.model_validate(dict(merged))
    except ValidationError as exc:
        raise InfraConfigError(describe(exc)) from None


_TEXT: TypeAdapter[str | None] = TypeAdapter(Text)  # type: ignore[arg-type, unused-ignore]  # needed only on an incremental run
# ``environments``: one object per stack; unset or empty is one stack from the top-level keys.
_ENTRIES: TypeAdapter[list[dict[str, Any]]] = TypeAdapter(
    Annotated[list[dict[str, Any]], BeforeValidator(lambda v: _json(v) or [{}])])  # type: ignore[arg-type, unused-ignore]  # needed only on an incremental run


def text(key: str, value: Any) -> str | None:
    """One string-valued context key outside an environment (``target_config``); blank is None."""
    try:
        return _TEXT.validate_python(value)
    except ValidationError as exc:
        raise InfraConfigError(describe(exc, key)) from None


def environment_entries(value: Any) -> list[dict[str, Any]]:
    """The ``environments`` list (a JSON string from ``-c`` too)."""
    try:
        return _ENTRIES.validate_python(value)
    except ValidationError as exc:
        raise InfraConfigError(describe(exc, "environments")) from None
