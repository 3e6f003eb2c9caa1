"""Deadline arithmetic and ``poll_until``, the harness's only wait loop, on a fake clock (no real sleeping).

What matters to an operator: a target that is slow FAILS with the check's reason, a run that is out of time is
INCOMPLETE (not blamed on the target), and the loop never hammers the target (backoff grows, capped, jittered).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.core.deadline import Deadline, poll_until
from harness.core.errors import CheckFailed, DeadlineExceeded
from harness.core.model import Reason


@dataclass
class FakeClock:
    """A monotonic clock that only moves when someone sleeps; records every sleep."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class LambdaContext:
    """The part of the Lambda context object the harness reads (like Powertools' test fixture)."""

    remaining_ms: int
    function_name: str = "webordinary-canary"
    memory_limit_in_mb: int = 256

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class Counter:
    """A probe that reports how often it was called; ready from call ``ready_at`` on."""

    def __init__(self, ready_at: int | None = None) -> None:
        self.calls = 0
        self.ready_at = ready_at

    def __call__(self) -> int:
        self.calls += 1
        return self.calls

    def ready(self, value: int) -> bool:
        return self.ready_at is not None and value >= self.ready_at


# --- Deadline --------------------------------------------------------------------------------------------------


def test_deadline_remaining_expired_and_check() -> None:
    clock = FakeClock()
    deadline = Deadline.after(10, clock=clock)
    assert deadline.remaining() == 10
    assert not deadline.expired
    deadline.check("anything")
    clock.sleep(10)
    assert deadline.remaining() == 0 and deadline.expired
    with pytest.raises(DeadlineExceeded, match="before describe_services") as info:
        deadline.check("describe_services")
    assert info.value.reason is Reason.DEADLINE
    clock.sleep(5)
    assert deadline.remaining() == 0  # never negative


def test_child_is_never_later_than_its_parent_and_shrink_keeps_a_reserve() -> None:
    clock = FakeClock()
    parent = Deadline.after(10, clock=clock)
    assert parent.child(3).remaining() == 3
    assert parent.child(60).remaining() == 10
    assert parent.shrink(4).remaining() == 6
    assert parent.shrink(-2).remaining() == 12  # the runner lends the cleanup reserve back this way


def test_bound_says_whether_the_run_deadline_limits_the_call() -> None:
    clock = FakeClock()
    deadline = Deadline.after(5, clock=clock)
    assert deadline.bound(2) == (2, False)  # the call's own timeout limits it
    assert deadline.bound(30) == (5, True)  # the run deadline limits it
    clock.sleep(5)
    with pytest.raises(DeadlineExceeded, match="before GET /x"):
        deadline.bound(2, "GET /x")


def test_from_lambda_context_keeps_the_reserve() -> None:
    clock = FakeClock()
    deadline = Deadline.from_lambda_context(LambdaContext(remaining_ms=30_000), reserve_s=5, clock=clock)
    assert deadline.remaining() == pytest.approx(25)
    clock.sleep(24.9)
    assert not deadline.expired
    clock.sleep(0.2)
    assert deadline.expired


def test_from_lambda_context_with_less_time_than_the_reserve_is_already_expired() -> None:
    clock = FakeClock()
    deadline = Deadline.from_lambda_context(LambdaContext(remaining_ms=2_000), reserve_s=5, clock=clock)
    assert deadline.expired and deadline.remaining() == 0


# --- poll_until ------------------------------------------------------------------------------------------------


def test_poll_returns_as_soon_as_the_condition_holds() -> None:
    clock = FakeClock()
    probe = Counter(ready_at=3)
    value = poll_until(probe, until=probe.ready, deadline=Deadline.after(60, clock=clock), timeout_s=30,
                       what="service stable", interval_s=1, jitter=0, sleep=clock.sleep)
    assert value == 3
    assert probe.calls == 3
    assert len(clock.sleeps) == 2  # no sleep after the successful probe


def test_poll_ready_on_first_call_never_sleeps() -> None:
    clock = FakeClock()
    assert poll_until(lambda: "ok", until=lambda v: v == "ok", deadline=Deadline.after(5, clock=clock),
                      timeout_s=5, what="x", sleep=clock.sleep) == "ok"
    assert clock.sleeps == []


def test_poll_fails_with_its_reason_when_its_own_timeout_runs_out() -> None:
    clock = FakeClock()
    probe = Counter()
    with pytest.raises(CheckFailed) as info:
        poll_until(probe, until=probe.ready, deadline=Deadline.after(300, clock=clock), timeout_s=10,
                   what="targets healthy", reason=Reason.UNHEALTHY_TARGETS, interval_s=1, jitter=0,
                   sleep=clock.sleep)
    error = info.value
    assert type(error) is CheckFailed  # not a DeadlineExceeded: the target was too slow
    assert error.reason is Reason.UNHEALTHY_TARGETS
    assert "targets healthy" in error.message and "10 s" in error.message
    assert error.evidence["attempts"] == probe.calls
    assert error.evidence["last"] == repr(probe.calls)
    assert clock.now - 1000.0 == pytest.approx(10)  # waited exactly its budget, not longer
    assert sum(clock.sleeps) == pytest.approx(10)


def test_poll_raises_deadline_exceeded_when_the_run_deadline_runs_out_first() -> None:
    clock = FakeClock()
    probe = Counter()
    with pytest.raises(DeadlineExceeded) as info:
        poll_until(probe, until=probe.ready, deadline=Deadline.after(4, clock=clock), timeout_s=60,
                   what="container ready", interval_s=1, jitter=0, sleep=clock.sleep)
    assert info.value.reason is Reason.DEADLINE
    assert "container ready" in info.value.message
    assert clock.now - 1000.0 == pytest.approx(4)


def test_poll_gives_a_target_that_becomes_ready_at_the_edge_of_the_budget_its_pass() -> None:
    clock = FakeClock()
    ready_after = 1000.0 + 5.0

    def probe() -> float:
        return clock.now

    value = poll_until(probe, until=lambda now: now >= ready_after, deadline=Deadline.after(60, clock=clock),
                       timeout_s=5, what="x", interval_s=2, backoff=1, jitter=0, sleep=clock.sleep)
    assert value == pytest.approx(ready_after)


def test_poll_backoff_grows_geometrically_and_is_capped() -> None:
    clock = FakeClock()
    probe = Counter()
    with pytest.raises(CheckFailed):
        poll_until(probe, until=probe.ready, deadline=Deadline.after(1000, clock=clock), timeout_s=100,
                   what="x", interval_s=1, max_interval_s=8, backoff=2, jitter=0, sleep=clock.sleep)
    assert clock.sleeps[:5] == [1, 2, 4, 8, 8]
    assert max(clock.sleeps) == 8
    assert all(b >= a for a, b in zip(clock.sleeps[:4], clock.sleeps[1:5], strict=True))


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), jitter=st.floats(0, 0.5), interval=st.floats(0.05, 5),
       backoff=st.floats(1, 3), cap=st.floats(0.05, 20))
def test_poll_jitter_stays_within_its_bound(seed: int, jitter: float, interval: float, backoff: float,
                                            cap: float) -> None:
    """Each pause is the nominal backoff delay +/- jitter, and never beyond the remaining budget."""
    clock = FakeClock()
    probe = Counter()
    timeout = 60.0
    with pytest.raises(CheckFailed):
        poll_until(probe, until=probe.ready, deadline=Deadline.after(1000, clock=clock), timeout_s=timeout,
                   what="x", interval_s=interval, max_interval_s=cap, backoff=backoff, jitter=jitter,
                   sleep=clock.sleep, rng=random.Random(seed))
    nominal = interval
    elapsed = 0.0
    for pause in clock.sleeps:
        remaining = timeout - elapsed
        low, high = nominal * (1 - jitter), nominal * (1 + jitter)
        assert pause <= min(high, remaining) + 1e-9
        assert pause >= min(low, remaining) - 1e-9
        elapsed += pause
        nominal = min(nominal * backoff, cap)
    assert elapsed == pytest.approx(timeout)


def test_poll_jitter_actually_varies_the_pauses() -> None:
    clock = FakeClock()
    probe = Counter()
    with pytest.raises(CheckFailed):
        poll_until(probe, until=probe.ready, deadline=Deadline.after(1000, clock=clock), timeout_s=30,
                   what="x", interval_s=1, max_interval_s=1, backoff=1, jitter=0.2, sleep=clock.sleep,
                   rng=random.Random(7))
    pauses = clock.sleeps[:-1]  # the last pause is cut to the budget
    assert len(set(pauses)) > 1
    assert all(0.8 <= p <= 1.2 for p in pauses)


def test_poll_lets_probe_exceptions_propagate() -> None:
    clock = FakeClock()

    def probe() -> None:
        raise CheckFailed(Reason.RECORD_MISSING, "gone")

    with pytest.raises(CheckFailed) as info:
        poll_until(probe, until=lambda _: True, deadline=Deadline.after(10, clock=clock), timeout_s=5, what="x",
                   sleep=clock.sleep)
    assert info.value.reason is Reason.RECORD_MISSING
    assert clock.sleeps == []


def test_poll_on_an_already_expired_deadline_probes_once_and_reports_the_deadline() -> None:
    clock = FakeClock()
    deadline = Deadline.after(1, clock=clock)
    clock.sleep(2)
    probe = Counter()
    with pytest.raises(DeadlineExceeded):
        poll_until(probe, until=probe.ready, deadline=deadline, timeout_s=30, what="x", sleep=clock.sleep)
    assert probe.calls == 1


# --- cancellation (SIGTERM, Ctrl-C): work stops at once, cleanup keeps a short grace --------------------------------


def test_a_requested_cancellation_expires_work_deadlines_and_their_children_at_once() -> None:
    from harness.core.deadline import Cancellation

    clock = FakeClock()
    cancel = Cancellation(clock=clock)
    run = Deadline.after(100, clock=clock, cancellation=cancel)
    work = run.shrink(10).child(30)
    assert work.remaining() == 30 and not work.cancelled
    clock.now += 5
    cancel.request("SIGTERM")  # what a signal handler does: no lock, no wake-up yet
    assert work.expired and work.remaining() == 0 and run.expired and work.cancelled
    with pytest.raises(DeadlineExceeded, match=r"run cancelled \(SIGTERM\)"):
        work.bound(10, "GET /hermes/health")


def test_a_cleanup_deadline_keeps_its_grace_after_a_cancellation_but_never_passes_the_run_deadline() -> None:
    from harness.core.deadline import Cancellation

    clock = FakeClock()
    cancel = Cancellation(clock=clock)
    run = Deadline.after(100, clock=clock, cancellation=cancel)
    cleanup = run.for_cleanup(20)
    assert cleanup.remaining() == 100  # not cancelled: the run's own deadline
    clock.now += 10
    cancel.request("SIGINT")
    assert cleanup.remaining() == 20 and not cleanup.expired
    assert cleanup.child(5).remaining() == 5  # children of a cleanup deadline keep its grace
    short = Deadline.after(8, clock=clock, cancellation=cancel).for_cleanup(20)
    assert short.remaining() == 8  # the grace never extends a deadline past its own expiry
    clock.now += 20
    assert cleanup.expired


def test_a_fired_cancellation_cuts_the_poll_wait_short_and_reports_incomplete() -> None:
    from harness.core.deadline import Cancellation

    cancel = Cancellation()
    deadline = Deadline.after(60, cancellation=cancel)
    calls: list[float] = []

    def probe() -> bool:
        calls.append(time.monotonic())
        if len(calls) == 2:
            threading.Thread(target=cancel.cancel, args=("SIGTERM",), daemon=True).start()
        return False

    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match=r"run cancelled \(SIGTERM\) while waiting for the container"):
        poll_until(probe, until=bool, deadline=deadline, timeout_s=30, what="the container", interval_s=0.05,
                   max_interval_s=10, backoff=100)  # the second pause would be 5 s
    assert len(calls) == 2  # no probe after the cancellation
    assert time.monotonic() - started < 4, "the wait was not cut short by the cancellation"


def test_cancellation_callbacks_run_once_when_fired_and_at_once_after() -> None:
    from harness.core.deadline import Cancellation

    cancel = Cancellation()
    seen: list[str] = []
    unsubscribe = cancel.on_fire(lambda: seen.append("a"))
    dropped = cancel.on_fire(lambda: seen.append("dropped"))
    dropped()
    cancel.fire()  # nothing requested yet: nothing happens
    assert seen == []
    cancel.request("SIGTERM")
    cancel.request("SIGINT")  # the first reason wins
    cancel.fire()
    cancel.fire()
    assert seen == ["a"] and cancel.reason == "SIGTERM"
    cancel.on_fire(lambda: seen.append("late"))
    assert seen == ["a", "late"]
    unsubscribe()
