"""Deadlines and the one retry loop (``poll_until``).

Every wait and every network call is bounded by ``min(step timeout, deadline - cleanup reserve)``, so a run
never overruns the Lambda's remaining time or the CLI's ``--timeout``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from harness.errors import CheckFailed, DeadlineExceeded
from harness.model import Reason

T = TypeVar("T")

Clock = Callable[[], float]


class LambdaContextLike(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


class Deadline:
    """An absolute point on a monotonic clock after which work must stop."""

    def __init__(self, expires_at: float, *, clock: Clock = time.monotonic) -> None:
        self.expires_at = expires_at
        self._clock = clock

    @classmethod
    def after(cls, seconds: float, *, clock: Clock = time.monotonic) -> Deadline:
        return cls(clock() + seconds, clock=clock)

    @classmethod
    def from_lambda_context(
        cls, context: LambdaContextLike, *, reserve_s: float, clock: Clock = time.monotonic
    ) -> Deadline:
        """The Lambda's remaining time minus a reserve for cleanup and metric flush."""
        remaining = context.get_remaining_time_in_millis() / 1000.0
        return cls(clock() + max(0.0, remaining - reserve_s), clock=clock)

    def remaining(self) -> float:
        return max(0.0, self.expires_at - self._clock())

    @property
    def expired(self) -> bool:
        return self._clock() >= self.expires_at

    def check(self, what: str = "") -> None:
        """Raise DeadlineExceeded if no time is left."""
        if self.expired:
            raise DeadlineExceeded(f"deadline reached{' before ' + what if what else ''}")

    def child(self, timeout_s: float) -> Deadline:
        """A tighter deadline: ``min(now + timeout_s, self)``."""
        return Deadline(min(self._clock() + timeout_s, self.expires_at), clock=self._clock)

    def shrink(self, reserve_s: float) -> Deadline:
        """This deadline minus a reserve (e.g. kept for cleanup)."""
        return Deadline(self.expires_at - reserve_s, clock=self._clock)

    def bound(self, timeout_s: float, what: str = "") -> tuple[float, bool]:
        """Seconds a call may take and whether the run deadline (not ``timeout_s``) is what limits it."""
        remaining = self.remaining()
        if remaining <= 0:
            raise DeadlineExceeded(f"deadline reached{' before ' + what if what else ''}")
        return (min(timeout_s, remaining), remaining < timeout_s)

    def now(self) -> float:
        return self._clock()


def poll_until(
    probe: Callable[[], T],
    *,
    until: Callable[[T], bool],
    deadline: Deadline,
    timeout_s: float,
    what: str,
    reason: Reason = Reason.NOT_READY,
    interval_s: float = 1.0,
    max_interval_s: float = 5.0,
    backoff: float = 1.5,
    jitter: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """Call ``probe`` until ``until(value)`` holds; the only retry loop in the harness.

    Backs off exponentially with jitter. Raises CheckFailed(``reason``) when ``timeout_s`` runs out (the target
    is too slow), DeadlineExceeded when the run's deadline runs out first (the run is incomplete).
    Exceptions from ``probe`` propagate: a probe that wants "not yet" must return a value.
    """
    rand = rng or random.Random()
    own = deadline.child(timeout_s)
    limited_by_run = deadline.expires_at <= own.expires_at
    delay = interval_s
    attempts = 0
    last: T | None = None
    while True:
        attempts += 1
        last = probe()
        if until(last):
            return last
        if own.remaining() <= 0:
            break
        pause = min(delay * (1 + rand.uniform(-jitter, jitter)), own.remaining())
        sleep(max(0.0, pause))
        delay = min(delay * backoff, max_interval_s)
        if own.expired:
            # One last look at the edge of the budget, so a slow-but-in-time target is not failed.
            attempts += 1
            last = probe()
            if until(last):
                return last
            break
    evidence = {"attempts": attempts, "last": repr(last)[:500], "timeout_s": timeout_s}
    if limited_by_run:
        raise DeadlineExceeded(f"deadline reached while waiting for {what}", evidence)
    raise CheckFailed(reason, f"{what} not reached within {timeout_s:g} s", evidence)
