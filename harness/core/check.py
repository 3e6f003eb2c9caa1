"""What a check is (``Check``, declared with ``@check``) and what it gets to work with (``CheckContext``).

A check is a function ``fn(ctx) -> None``: it records steps with ``ctx.step(name)``, raises a verdict
(``CheckFailed``, ``CanaryError``, ``CheckSkipped``) to end early, may ``ctx.degrade(...)``, and registers an
undo for every side effect with ``ctx.add_cleanup``. Returning normally means PASSED.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from harness.config import CanaryConfig
from harness.core.deadline import Deadline
from harness.core.errors import CheckFailed, Verdict
from harness.core.model import Outcome, Profile, Reason, StepResult, Tier
from harness.net.aws import AwsClients, BoundAws
from harness.net.http import HttpClient, HttpResponse
from harness.spec import CheckSpec, spec_for

T = TypeVar("T")
CheckFn = Callable[["CheckContext"], None]
CleanupFn = Callable[[Deadline], None]

@dataclass(frozen=True)
class Check:
    """A check's function bound to its ``CheckSpec``. ``id`` is a metric dimension: stable, dotted, lower case.

    ``tier``, ``profiles``, ``summary``, ``why`` and ``requires`` come from the spec (``harness.spec``); the rest
    is how it runs.
    """

    id: str
    tier: Tier
    profiles: tuple[Profile, ...]
    fn: CheckFn
    summary: str  # what it asserts (``canary list``, README)
    why: str  # why it matters
    requires: tuple[str, ...] = ()  # config fields; unset -> SKIPPED not_configured
    depends_on: tuple[str, ...] = ()  # check ids; not passed -> SKIPPED dependency_failed
    timeout_s: float = 30.0
    degraded_ms: float | None = None
    failed_ms: float | None = None
    tags: tuple[str, ...] = ()


def check(
    spec: str | CheckSpec,
    *,
    depends_on: tuple[str, ...] = ("aws.credentials",),
    timeout_s: float = 30.0,
    degraded_ms: float | None = None,
    failed_ms: float | None = None,
    tags: tuple[str, ...] = (),
) -> Callable[[CheckFn], Check]:
    """Bind a function to its spec: ``@check("ecs.cluster", timeout_s=20)`` (the id's ``[[check]]`` in
    ``harness/check_specs.toml``), or ``@check(CheckSpec(...))`` for a check outside the catalogue."""
    declared = spec_for(spec) if isinstance(spec, str) else spec

    def wrap(fn: CheckFn) -> Check:
        return Check(id=declared.id, tier=Tier(declared.tier), profiles=tuple(Profile(p) for p in declared.profiles),
                     fn=fn, summary=declared.summary, why=declared.why, requires=declared.requires,
                     depends_on=tuple(d for d in depends_on if d != declared.id), timeout_s=timeout_s,
                     degraded_ms=degraded_ms, failed_ms=failed_ms, tags=tags)

    return wrap


@dataclass
class StepTimer:
    """Handed to the body of ``ctx.step``: lets it attach HTTP phase timings."""

    phases_ms: dict[str, float] = field(default_factory=dict)

    def record(self, response: HttpResponse) -> HttpResponse:
        self.phases_ms.update(response.phases_ms)
        return response


class RunFacts:
    """Facts shared by the checks of one run, computed once (e.g. ECS service states, the table's key schema)."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def once(self, key: str, compute: Callable[[], T]) -> T:
        """The value for ``key``, computing it on first use; concurrent callers wait for the first one.

        A compute that raises caches nothing, so the next caller (another check) tries again and gets its own
        verdict.
        """
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._values:
                self._values[key] = compute()
            return self._values[key]

    def get(self, key: str) -> Any:
        with self._guard:
            return self._values.get(key)


class CheckContext:
    """Everything one check may use, bound to its deadline."""

    def __init__(self, *, check: Check, config: CanaryConfig, aws: AwsClients, http: HttpClient,
                 deadline: Deadline, run_id: str, facts: RunFacts | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.check = check
        self.config = config
        self.deadline = deadline
        self.run_id = run_id
        self.facts = facts or RunFacts()
        self._aws_clients = aws
        self.aws: BoundAws = aws.bound(deadline)
        self.http = http
        self._clock = clock
        self.steps: list[StepResult] = []
        self.evidence: dict[str, Any] = {}
        self.notes: list[str] = []
        self.latencies_ms: dict[str, float] = {}
        self.start_type: str | None = None
        self.cost_usd = 0.0
        self.degradation: Verdict | None = None
        self.cleanups: list[tuple[str, CleanupFn]] = []

    # -- steps -------------------------------------------------------------------------------------------------
    @contextmanager
    def step(self, name: str) -> Iterator[StepTimer]:
        """Time a step and record its outcome; verdicts raised inside propagate after being recorded."""
        timer = StepTimer()
        started = self._clock()
        try:
            yield timer
        except Verdict as verdict:
            self.steps.append(StepResult(name, verdict.outcome, self._ms(started), verdict.reason,
                                         verdict.message[:200], dict(timer.phases_ms)))
            raise
        except BaseException:
            self.steps.append(StepResult(name, Outcome.ERROR, self._ms(started), Reason.CANARY_BUG,
                                         "unexpected error", dict(timer.phases_ms)))
            raise
        self.steps.append(StepResult(name, Outcome.PASSED, self._ms(started), None, "", dict(timer.phases_ms)))

    def _ms(self, started: float) -> int:
        return int((self._clock() - started) * 1000)

    # -- verdict helpers ---------------------------------------------------------------------------------------
    def degrade(self, reason: Reason, message: str, evidence: Mapping[str, Any] | None = None) -> None:
        """Passed, but not well: the check ends DEGRADED (the first degradation's reason is reported)."""
        if self.degradation is None:
            self.degradation = Verdict(reason, message, evidence)
        if evidence:
            self.evidence.update(evidence)

    def note(self, message: str) -> None:
        """A line for the PASSED message (e.g. 'edit service idle: 503 expected')."""
        self.notes.append(message)

    def fail(self, reason: Reason, message: str, evidence: Mapping[str, Any] | None = None) -> CheckFailed:
        """Build a FAILED verdict carrying the evidence gathered so far: ``raise ctx.fail(...)``."""
        return CheckFailed(reason, message, {**self.evidence, **(evidence or {})})

    # -- side effects ------------------------------------------------------------------------------------------
    def add_cleanup(self, name: str, undo: CleanupFn) -> None:
        """Register the undo of a side effect; the runner runs undos LIFO in ``finally`` (within the reserve)."""
        self.cleanups.append((name, undo))

    def aws_for(self, deadline: Deadline) -> BoundAws:
        """The shared AWS clients bound to another deadline (an undo runs on the cleanup deadline)."""
        return self._aws_clients.bound(deadline)

    def record_latency(self, metric: str, ms: float) -> None:
        self.latencies_ms[metric] = round(ms, 1)

    def add_cost(self, usd: float) -> None:
        self.cost_usd += usd

    # -- HTTP convenience --------------------------------------------------------------------------------------
    def get(self, url: str, *, timeout_s: float | None = None, headers: Mapping[str, str] | None = None,
            timer: StepTimer | None = None) -> HttpResponse:
        response = self.http.get(url, deadline=self.deadline, timeout_s=timeout_s or self.config.http_timeout_s,
                                 headers=headers)
        return timer.record(response) if timer else response

    def post(self, url: str, *, json_body: Any = None, timeout_s: float | None = None,
             headers: Mapping[str, str] | None = None, timer: StepTimer | None = None) -> HttpResponse:
        response = self.http.post(url, deadline=self.deadline, timeout_s=timeout_s or self.config.http_timeout_s,
                                  json_body=json_body, headers=headers)
        return timer.record(response) if timer else response
