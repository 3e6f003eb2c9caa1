"""Deadlines, cancellation and the one retry loop (``poll_until``).

Every wait and every network call is bounded by ``min(step timeout, deadline - cleanup reserve)``, so a run
never overruns the Lambda's remaining time or the CLI's ``--timeout``. A ``Cancellation`` (SIGTERM, Ctrl-C)
makes every work deadline that shares it expire at once, while cleanup deadlines (``for_cleanup``) keep a
short grace so the run's undos still happen.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from harness.core.errors import CheckFailed, DeadlineExceeded
from harness.core.model import Reason

T = TypeVar("T")

Clock = Callable[[], float]


class LambdaContextLike(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


class Cancellation:
    """A request to stop the run now (a signal), shared by every deadline derived from the run's.

    ``request`` only sets attributes, so it is safe inside a signal handler (taking a lock there can deadlock
    against the interrupted main thread). ``fire`` (called by the runner's loop, outside the handler) wakes the
    waits and runs the callbacks, e.g. the HTTP watchdog closing sockets.
    """

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self.reason: str | None = None
        self.at: float | None = None
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._next = 0

    @property
    def requested(self) -> bool:
        return self.at is not None

    def request(self, reason: str) -> None:
        """Ask the run to stop (signal-handler safe: no locks, no I/O). The first reason wins."""
        if self.at is None:
            self.reason = reason
            self.at = self._clock()

    def fire(self) -> None:
        """Wake every wait and run the callbacks once the stop was requested (idempotent; not in a handler)."""
        if self.at is None or self._event.is_set():
            return
        with self._lock:
            callbacks = list(self._callbacks.values())
            self._event.set()
        for callback in callbacks:
            with contextlib.suppress(Exception):  # one failing callback must not keep the others from running
                callback()

    def cancel(self, reason: str) -> None:
        """``request`` and ``fire`` at once (outside signal handlers)."""
        self.request(reason)
        self.fire()

    def on_fire(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run ``callback`` when the cancellation fires (at once if it already has); returns an unsubscribe."""
        with self._lock:
            if not self._event.is_set():
                key = self._next
                self._next += 1
                self._callbacks[key] = callback
                return lambda: self._unsubscribe(key)
        callback()
        return lambda: None

    def _unsubscribe(self, key: int) -> None:
        with self._lock:
            self._callbacks.pop(key, None)

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking early when the cancellation fires; True if it has."""
        return self._event.wait(max(0.0, seconds))


class Deadline:
    """An absolute point on a monotonic clock after which work must stop.

    With a ``cancellation``, a requested stop expires the deadline at once; with a ``grace_s`` as well (a cleanup
    deadline), it expires ``grace_s`` after the stop instead, never later than ``expires_at``.
    """

    def __init__(self, expires_at: float, *, clock: Clock = time.monotonic, cancellation: Cancellation | None = None,
                 grace_s: float | None = None) -> None:
        self.expires_at = expires_at
        self._clock = clock
        self.cancellation = cancellation
        self.grace_s = grace_s

    @classmethod
    def after(cls, seconds: float, *, clock: Clock = time.monotonic,
              cancellation: Cancellation | None = None) -> Deadline:
        return cls(clock() + seconds, clock=clock, cancellation=cancellation)

    def _derived(self, expires_at: float, grace_s: float | None) -> Deadline:
        return Deadline(expires_at, clock=self._clock, cancellation=self.cancellation, grace_s=grace_s)

    def effective_expiry(self) -> float:
        """``expires_at``, brought forward by a requested cancellation."""
        cancel = self.cancellation
        if cancel is None or cancel.at is None:
            return self.expires_at
        return min(self.expires_at, cancel.at + (self.grace_s or 0.0))

    @property
    def cancelled(self) -> bool:
        """Whether the run was asked to stop (a signal): the stop, not the target, ends the work."""
        return self.cancellation is not None and self.cancellation.requested

    def sleep(self, seconds: float) -> None:
        """Pause up to ``seconds``, cut short by a cancellation (so a signal never waits out a backoff)."""
        if self.cancellation is None:
            time.sleep(max(0.0, seconds))
        elif not self.cancellation.requested:
            self.cancellation.wait(seconds)

    def exceeded(self, what: str = "", *, when: str = "before") -> DeadlineExceeded:
        """The DeadlineExceeded to raise, saying whether a signal or the clock ended the work."""
        where = f" {when} {what}" if what else ""
        if self.cancelled and self.cancellation is not None:
            return DeadlineExceeded(f"run cancelled ({self.cancellation.reason}){where}")
        return DeadlineExceeded(f"deadline reached{where}")

    @classmethod
    def from_lambda_context(
        cls, context: LambdaContextLike, *, reserve_s: float, clock: Clock = time.monotonic
    ) -> Deadline:
        """The Lambda's remaining time minus a reserve for cleanup and metric flush."""
        remaining = context.get_remaining_time_in_millis() / 1000.0
        return cls(clock() + max(0.0, remaining - reserve_s), clock=clock)

    def remaining(self) -> float:
        return max(0.0, self.effective_expiry() - self._clock())

    @property
    def expired(self) -> bool:
        return self._clock() >= self.effective_expiry()

    def check(self, what: str = "") -> None:
        """Raise DeadlineExceeded if no time is left."""
        if self.expired:
            raise self.exceeded(what)

    def child(self, timeout_s: float) -> Deadline:
        """A tighter deadline: ``min(now + timeout_s, self)``."""
        return self._derived(min(self._clock() + timeout_s, self.expires_at), self.grace_s)

    def shrink(self, reserve_s: float) -> Deadline:
        """This deadline minus a reserve (e.g. kept for cleanup)."""
        return self._derived(self.expires_at - reserve_s, self.grace_s)

    def for_cleanup(self, grace_s: float) -> Deadline:
        """The same deadline for undo work: a cancellation leaves it ``grace_s`` more (never past ``expires_at``)."""
        return self._derived(self.expires_at, max(0.0, grace_s))

    def bound(self, timeout_s: float, what: str = "") -> tuple[float, bool]:
        """Seconds a call may take and whether the run deadline (not ``timeout_s``) is what limits it."""
        remaining = self.remaining()
        if remaining <= 0:
            raise self.exceeded(what)
        return (min(timeout_s, remaining), remaining < timeout_s or self.cancelled)

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
    sleep: Callable[[float], None] | None = None,
    rng: random.Random | None = None,
) -> T:
    """Call ``probe`` until ``until(value)`` holds; the only retry loop in the harness.

    Backs off exponentially with jitter. Raises CheckFailed(``reason``) when ``timeout_s`` runs out (the target
    is too slow), DeadlineExceeded when the run's deadline runs out first or the run is cancelled (the run is
    incomplete). The pauses end early on a cancellation. Exceptions from ``probe`` propagate: a probe that
    wants "not yet" must return a value.
    """
    rand = rng or random.Random()
    pause_for = sleep or deadline.sleep
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
        pause_for(max(0.0, pause))
        delay = min(delay * backoff, max_interval_s)
        if own.cancelled:
            break
        if own.expired:
            # One last look at the edge of the budget, so a slow-but-in-time target is not failed.
            attempts += 1
            last = probe()
            if until(last):
                return last
            break
    evidence = {"attempts": attempts, "last": repr(last)[:500], "timeout_s": timeout_s}
    if limited_by_run or own.cancelled:
        exceeded = own.exceeded(what, when="while waiting for")
        raise DeadlineExceeded(exceeded.message, evidence)
    raise CheckFailed(reason, f"{what} not reached within {timeout_s:g} s", evidence)
