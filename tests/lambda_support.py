"""Shared test doubles for the Lambda handlers: a Lambda context, Powertools state reset, EMF parsing."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest


@dataclass
class LambdaContext:
    """What the Lambda runtime passes: identity fields and a clock that runs down."""

    remaining_s: float = 120.0
    function_name: str = "webordinary-canary-sandbox-probes"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-west-2:123456789012:function:webordinary-canary-sandbox-probes"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/webordinary-canary-sandbox-probes"
    log_stream_name: str = "2026/11/25/[$LATEST]0123456789abcdef"
    _ends: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._ends = time.monotonic() + self.remaining_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - time.monotonic()) * 1000))


def reset_powertools() -> None:
    """Powertools keeps metric state on the class and a cold-start flag per process."""
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics.provider.cold_start import reset_cold_start_flag

    Metrics().clear_metrics()
    Metrics().clear_default_dimensions()
    reset_cold_start_flag()


@pytest.fixture
def fresh_powertools() -> Iterator[None]:
    """Start (and end) a test with clean Powertools metric state."""
    reset_powertools()
    yield
    reset_powertools()


EmfView = tuple[dict[str, str], dict[str, tuple[str, float]]]


def emf(out: str) -> list[EmfView]:
    """Each EMF line on stdout as (dimensions, {metric: (unit, value)}), its structure checked on the way."""
    views = []
    for line in (json.loads(raw) for raw in out.splitlines() if '"_aws"' in raw):
        (directive,) = line["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "Webordinary/Canary"
        (names,) = directive["Dimensions"]
        values = {}
        for metric in directive["Metrics"]:
            (value,) = line[metric["Name"]]
            values[metric["Name"]] = (metric["Unit"], value)
        views.append(({n: line[n] for n in names}, values))
    return views
