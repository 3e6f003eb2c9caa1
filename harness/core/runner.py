"""The runner: selects checks, runs independent ones concurrently, guarantees cleanup, never raises.

Checks run in waves ordered by ``depends_on`` (credentials and config first), each wave on a thread pool.
Every check gets ``min(check timeout, run deadline)``; journeys and destructive checks keep a cleanup reserve
so their undo always has time. Checks still running at the deadline are reported INCOMPLETE and the run
returns on time; its workers are daemon threads (``harness.core.workers``), so abandoned work never holds up the
process's exit. A cancellation on the run's deadline (SIGTERM, Ctrl-C) ends the work at once and still runs
every undo, within ``cleanup_reserve_s`` of the signal.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from harness import __version__
from harness.config import CanaryConfig, MaintenanceWindow
from harness.core.check import Check, CheckContext, RunFacts
from harness.core.deadline import Deadline
from harness.core.errors import (
    CanaryError,
    CheckSkipped,
    DeadlineExceeded,
    TransientCanaryError,
    TransientFailure,
    Verdict,
)
from harness.core.model import CheckResult, Outcome, Profile, Reason, RunReport, StepResult, Tier
from harness.core.required import enforce_required
from harness.core.workers import DaemonPool
from harness.net.aws import AwsClients, classify_aws_error
from harness.net.http import HttpClient
from harness.net.redact import Redactor
from harness.reporting.cost import CostModel

ResultListener = Callable[[CheckResult], None]


class RunLock(Protocol):
    """Keeps two overlapping runs (schedule + console) from both creating sessions."""

    def acquire(self, run_id: str, deadline: Deadline) -> Verdict | None:
        """None if this run holds the lock; else the verdict (SKIPPED ``overlap``) for its journeys."""

    def release(self, run_id: str, deadline: Deadline) -> None:
        """Give the lock back (only if this run holds it)."""
_TRANSIENT = (TransientFailure, TransientCanaryError)
_WRITING_TIERS = (Tier.JOURNEY, Tier.DESTRUCTIVE)
_CANCEL_POLL_S = 0.2  # how soon the run loop turns a signal's request into a fired cancellation
# How long a run that abandoned checks waits for their workers (the watchdog shuts their sockets at the deadline,
# so they end within moments); short, because the Lambda's flush reserve starts at the deadline too.
_JOIN_GRACE_S = 0.2


class UnknownCheckError(ValueError):
    """A requested check id or tier that the catalogue does not have (usage error, nothing runs)."""


@dataclass(frozen=True)
class Selection:
    """Which checks run and which are reported SKIPPED up front."""

    to_run: tuple[Check, ...]
    skipped: tuple[CheckResult, ...]


def new_run_id(clock: Callable[[], datetime] | None = None) -> str:
    now = (clock or (lambda: datetime.now(UTC)))()
    return f"run-{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"


class Runner:
    """Runs a catalogue of checks against one configuration."""

    def __init__(self, catalogue: Sequence[Check], *, config: CanaryConfig, aws: AwsClients, http: HttpClient,
                 redactor: Redactor | None = None, cost_model: CostModel | None = None,
                 max_workers: int = 8, on_result: ResultListener | None = None,
                 now: Callable[[], datetime] | None = None) -> None:
        self.catalogue = tuple(catalogue)
        self.config = config
        self.aws = aws
        self.http = http
        self.redactor = redactor or Redactor()
        self.cost_model = cost_model or CostModel()
        self.max_workers = max_workers
        self.on_result = on_result
        self._now = now or (lambda: datetime.now(UTC))
        self._by_id = {c.id: c for c in self.catalogue}

    # -- selection ---------------------------------------------------------------------------------------------
    def select(self, *, tiers: Iterable[str] | None = None, check_ids: Iterable[str] | None = None,
               profile: str | None = None) -> Selection:
        """Checks of the profile whose tier is requested (or whose id is named); refusals become SKIPPED."""
        profile_value = Profile(profile or self.config.profile)
        requested_tiers = set(tiers) if tiers is not None else set(self.config.tiers)
        unknown_tiers = requested_tiers - {t.value for t in Tier}
        if unknown_tiers:
            raise UnknownCheckError(f"unknown tier(s): {', '.join(sorted(unknown_tiers))}")
        ids = list(check_ids) if check_ids else []
        unknown = [i for i in ids if i not in self._by_id]
        if unknown:
            raise UnknownCheckError(f"unknown check id(s): {', '.join(unknown)}; see `canary list`")
        to_run: list[Check] = []
        skipped: list[CheckResult] = []
        for chk in self.catalogue:
            if profile_value not in chk.profiles:
                continue
            if ids:
                if chk.id not in ids:
                    continue
            elif chk.tier.value not in requested_tiers:
                continue
            refusal = self._refusal(chk)
            if refusal is not None:
                skipped.append(self._skipped(chk, profile_value, refusal))
            else:
                to_run.append(chk)
        return Selection(tuple(to_run), tuple(skipped))

    def _refusal(self, chk: Check) -> Verdict | None:
        if chk.tier is Tier.DESTRUCTIVE and not self.config.allow_destructive:
            return CheckSkipped(Reason.NOT_ALLOWED, "destructive tier refused: set CANARY_ALLOW_DESTRUCTIVE=true "
                                                    "(test environments only)")
        if chk.tier.value not in self.config.tiers:
            return CheckSkipped(Reason.NOT_ALLOWED, f"tier {chk.tier.value!r} is not in CANARY_TIERS "
                                                    f"({','.join(self.config.tiers)})")
        missing = [name for name in chk.requires if not getattr(self.config, name)]
        if missing:
            from harness.config import env_var_for

            names = ", ".join(env_var_for(m) or m for m in missing)
            return CheckSkipped(Reason.NOT_CONFIGURED, f"not configured: set {names}")
        return None

    @staticmethod
    def _skipped(chk: Check, profile: Profile, verdict: Verdict) -> CheckResult:
        # verdict.outcome, not SKIPPED: a broken run lock (e.g. AccessDenied) refuses journeys with an ERROR.
        return CheckResult(id=chk.id, tier=chk.tier, profile=profile, outcome=verdict.outcome,
                           reason=verdict.reason, message=verdict.message, duration_ms=0, evidence=verdict.evidence)

    # -- running -----------------------------------------------------------------------------------------------
    def run(self, *, deadline: Deadline, tiers: Iterable[str] | None = None, check_ids: Iterable[str] | None = None,
            profile: str | None = None, run_id: str | None = None,
            lock: RunLock | None = None) -> RunReport:
        """Run the selection; always returns a report (never raises for a check's sake)."""
        started_wall = self._now()
        started = time.perf_counter()
        run_id = run_id or new_run_id(self._now)
        selection = self.select(tiers=tiers, check_ids=check_ids, profile=profile)
        profile_value = Profile(profile or self.config.profile)
        window = self.config.maintenance_window(started_wall)
        results: dict[str, CheckResult] = {}

        def record(result: CheckResult) -> None:
            noted = _in_maintenance(enforce_required(result, self.config.required_checks), window)
            results[noted.id] = noted
            self._emit(noted)

        for r in selection.skipped:
            record(r)
        facts = RunFacts()
        journey_refusal: Verdict | None = None
        holds_lock = False
        if lock is not None and any(c.tier in _WRITING_TIERS for c in selection.to_run):
            try:
                journey_refusal = lock.acquire(run_id, deadline)
            except Verdict as exc:
                journey_refusal = exc
            except Exception as exc:  # the lock is the canary's own machinery: its failure is an ERROR
                journey_refusal = _classify_unexpected(exc)
            holds_lock = journey_refusal is None
        pool = DaemonPool(self.max_workers, name="check")
        try:
            self._schedule(pool, selection.to_run, profile_value, deadline, run_id, facts, journey_refusal,
                           results, record, started)
        finally:
            pool.shutdown(cancel_futures=True)
            pool.join(_JOIN_GRACE_S)
            if holds_lock and lock is not None:
                reserve = self.config.cleanup_reserve_s
                with contextlib.suppress(Exception):  # the lock item expires by itself
                    lock.release(run_id, deadline.shrink(-reserve).for_cleanup(reserve + self.config.aws_timeout_s))
        ordered = tuple(results[c.id] for c in self.catalogue if c.id in results)
        duration_s = time.perf_counter() - started
        cost = sum(r.cost_usd for r in ordered) + self.cost_model.run_cost(duration_s)
        return RunReport(run_id=run_id, environment=self.config.environment, profile=profile_value,
                         started_at=started_wall.isoformat().replace("+00:00", "Z"),
                         duration_ms=int(duration_s * 1000), checks=ordered, estimated_cost_usd=cost,
                         canary_version=__version__, maintenance=window is not None)

    def _schedule(self, pool: DaemonPool, checks: Sequence[Check], profile: Profile, deadline: Deadline,
                  run_id: str, facts: RunFacts, journey_refusal: Verdict | None, results: dict[str, CheckResult],
                  record: Callable[[CheckResult], None], started: float) -> None:
        """Start each check as soon as it may run; record results as soon as they are final.

        Read-only probes start at once, without waiting for the checks they depend on (speculatively): their
        result is held until those are done and becomes SKIPPED ``dependency_failed`` if one failed. Writing
        checks (journeys, destructive) wait for their dependencies before doing anything.
        """
        selected = {c.id for c in checks}
        waiting = list(checks)
        running: dict[cf.Future[CheckResult], Check] = {}
        held: dict[str, CheckResult] = {}

        def deps_done(chk: Check) -> bool:
            return all(d in results or d not in selected for d in chk.depends_on)

        def settle() -> None:
            """Start what may start, finalise held results whose dependencies are now known."""
            progress = True
            while progress:
                progress = False
                for chk in list(waiting):
                    speculative = chk.tier is Tier.PROBE
                    if not speculative and not deps_done(chk):
                        continue
                    waiting.remove(chk)
                    progress = True
                    blocked = self._blocked_by(chk, results) if deps_done(chk) else None
                    if blocked is None and journey_refusal is not None and chk.tier in _WRITING_TIERS:
                        blocked = journey_refusal
                    if blocked is not None:
                        record(self._skipped(chk, profile, blocked))
                    else:
                        running[pool.submit(self._run_one, chk, profile, deadline, run_id, facts)] = chk
                for check_id, result in list(held.items()):
                    chk = self._by_id[check_id]
                    if deps_done(chk):
                        del held[check_id]
                        progress = True
                        blocked = self._blocked_by(chk, results)
                        record(self._skipped(chk, profile, blocked) if blocked is not None else result)

        settle()
        cancellation = deadline.cancellation
        until = deadline.for_cleanup(self.config.cleanup_reserve_s)  # a cancelled run still waits for its undos
        while running:
            wait_s = min(until.remaining() + 0.05, 3600.0)  # (a huge deadline would overflow the wait)
            if cancellation is not None:
                cancellation.fire()  # a signal only requested it: wake the waits and the watchdog from here
                if not cancellation.requested:
                    wait_s = min(wait_s, _CANCEL_POLL_S)
            done, _ = cf.wait(running, timeout=wait_s, return_when=cf.FIRST_COMPLETED)
            if not done:
                if until.expired:
                    break
                continue
            for future in done:
                chk = running.pop(future)
                result = future.result()  # _run_one never raises
                if deps_done(chk):
                    blocked = self._blocked_by(chk, results)
                    record(self._skipped(chk, profile, blocked) if blocked is not None else result)
                else:
                    held[chk.id] = result
            settle()
        for future, chk in running.items():
            future.cancel()
            record(CheckResult(id=chk.id, tier=chk.tier, profile=profile, outcome=Outcome.INCOMPLETE,
                               reason=Reason.DEADLINE, message=deadline.exceeded("the check finished").message,
                               duration_ms=int((time.perf_counter() - started) * 1000)))
        for result in held.values():  # finished, but a dependency never did: its verdict cannot be trusted
            waited = ", ".join(d for d in self._by_id[result.id].depends_on if d not in results)
            record(replace(result, outcome=Outcome.INCOMPLETE, reason=Reason.DEADLINE,
                           message=f"finished, but {waited} did not before the run deadline"))
        for chk in checks:
            if chk.id not in results:
                record(CheckResult(id=chk.id, tier=chk.tier, profile=profile, outcome=Outcome.INCOMPLETE,
                                   reason=Reason.DEADLINE, message="not started: run deadline reached",
                                   duration_ms=0))

    def _emit(self, result: CheckResult) -> None:
        if self.on_result is not None:
            with contextlib.suppress(Exception):  # a progress printer must never break a run
                self.on_result(result)

    def _blocked_by(self, chk: Check, results: dict[str, CheckResult]) -> Verdict | None:
        for dep in chk.depends_on:
            dep_result = results.get(dep)
            if dep_result is not None and not dep_result.outcome.passed and dep_result.outcome is not Outcome.SKIPPED:
                return CheckSkipped(Reason.DEPENDENCY_FAILED, f"skipped: {dep} ended {dep_result.outcome.value}",
                                    {"dependency": dep, "dependency_reason": dep_result.reason})
        return None

    def _run_one(self, chk: Check, profile: Profile, run_deadline: Deadline, run_id: str,
                 facts: RunFacts) -> CheckResult:
        first = self._attempt(chk, profile, run_deadline, run_id, facts, retries=0)
        if first.evidence.get("_transient") and not run_deadline.expired:
            # Transient network error: one retry, reported (retries=1, CheckRetried), never hidden.
            return self._attempt(chk, profile, run_deadline, run_id, RunFacts(), retries=1)
        first = _strip_internal(first)
        if first.outcome is Outcome.FAILED and chk.tier is Tier.PROBE and self.config.confirm_failures:
            return self._confirm(chk, profile, run_deadline, run_id, first)
        return first

    def _confirm(self, chk: Check, profile: Profile, run_deadline: Deadline, run_id: str,
                 first: CheckResult) -> CheckResult:
        """Re-probe a FAILED probe once after a short pause, so one datapoint can page without false alarms.

        Failed twice: FAILED, confirmed. Passed the second time: DEGRADED with the first failure's reason
        (a flap is shown, not hidden, and does not page). No time left: the first result, unconfirmed.
        """
        pause = self.config.confirm_pause_s
        if run_deadline.remaining() < pause + min(chk.timeout_s, 5.0):
            return replace(first, evidence={**first.evidence, "confirmed": False})
        run_deadline.sleep(pause)
        second = _strip_internal(self._attempt(chk, profile, run_deadline, run_id, RunFacts(), retries=1))
        if second.outcome is Outcome.FAILED:
            return replace(second, evidence={**second.evidence, "confirmed": True,
                                             "first_attempt": {"reason": first.reason, "message": first.message}})
        if second.outcome.passed:
            return replace(second, outcome=Outcome.DEGRADED, reason=first.reason,
                           message=f"flapping: failed ({first.message}), passed on re-probe",
                           evidence={**first.evidence, "confirmed": False, "flapping": True})
        return replace(first, evidence={**first.evidence, "confirmed": False})

    def _attempt(self, chk: Check, profile: Profile, run_deadline: Deadline, run_id: str, facts: RunFacts,
                 retries: int) -> CheckResult:
        reserve = self.config.cleanup_reserve_s if chk.tier in _WRITING_TIERS else 0.0
        own_limit = run_deadline.shrink(reserve)
        work_deadline = own_limit.child(chk.timeout_s)
        limited_by_check = work_deadline.expires_at < own_limit.expires_at
        ctx = CheckContext(check=chk, config=self.config, aws=self.aws, http=self.http, deadline=work_deadline,
                           run_id=run_id, facts=facts)
        started = time.perf_counter()
        verdict: Verdict | None = None
        transient = False
        try:
            if work_deadline.expired:
                raise (work_deadline.exceeded("starting the check") if work_deadline.cancelled else
                       DeadlineExceeded("no time left to start the check (cleanup reserve kept)"))
            chk.fn(ctx)
        except _TRANSIENT as exc:
            verdict, transient = exc, True
        except Verdict as exc:
            verdict = exc
        except BaseException as exc:  # never escapes, not even SystemExit from a library (no ^C in workers)
            verdict = _classify_unexpected(exc)
        finally:
            # Undos keep the run deadline; a cancelled run gives them cleanup_reserve_s from the signal.
            cleanup_failure = self._cleanup(ctx, run_deadline.for_cleanup(self.config.cleanup_reserve_s))
        duration_ms = int((time.perf_counter() - started) * 1000)
        if cleanup_failure is not None and (verdict is None or isinstance(verdict, DeadlineExceeded)):
            verdict = cleanup_failure  # an interrupted run that leaves something behind is an ERROR, not silence
        outcome, reason, message = self._judge(chk, ctx, verdict, duration_ms)
        if isinstance(verdict, DeadlineExceeded) and limited_by_check and not own_limit.expired:
            # The check's own timeout ran out, not the run's: the target was too slow.
            outcome, reason = Outcome.FAILED, Reason.HTTP_TIMEOUT
            message = f"check timed out after {chk.timeout_s:g} s: {message}"
        evidence = {**ctx.evidence, **(verdict.evidence if verdict else {})}
        if transient and retries == 0:
            evidence["_transient"] = True
        if ctx.aws.retries.total:  # botocore's own retries (throttling, 5xx) are reported, never hidden
            evidence["aws_retries"] = ctx.aws.retries.by_operation()
        result = CheckResult(id=chk.id, tier=chk.tier, profile=profile, outcome=outcome, reason=reason,
                             message=message, duration_ms=duration_ms, retries=retries + ctx.aws.retries.total,
                             start_type=ctx.start_type,
                             steps=tuple(ctx.steps), evidence=evidence, latencies_ms=dict(ctx.latencies_ms),
                             cost_usd=ctx.cost_usd)
        return self._redacted(result)

    def _judge(self, chk: Check, ctx: CheckContext, verdict: Verdict | None,
               duration_ms: int) -> tuple[Outcome, Reason | None, str]:
        if verdict is not None:
            return verdict.outcome, verdict.reason, verdict.message
        if chk.failed_ms is not None and duration_ms > chk.failed_ms:
            return Outcome.FAILED, Reason.LATENCY_SLOW, f"took {duration_ms} ms (limit {chk.failed_ms:g} ms)"
        if ctx.degradation is not None:
            return Outcome.DEGRADED, ctx.degradation.reason, ctx.degradation.message
        if chk.degraded_ms is not None and duration_ms > chk.degraded_ms:
            return Outcome.DEGRADED, Reason.LATENCY_SLOW, f"took {duration_ms} ms (degraded above {chk.degraded_ms:g})"
        return Outcome.PASSED, None, "; ".join(ctx.notes) or "ok"

    def _cleanup(self, ctx: CheckContext, run_deadline: Deadline) -> Verdict | None:
        """Run undos LIFO within the run deadline (which includes the reserve); record each as a step."""
        failure: Verdict | None = None
        while ctx.cleanups:
            name, undo = ctx.cleanups.pop()
            step_started = time.perf_counter()
            try:
                undo(run_deadline)
            except BaseException as exc:  # one failed undo must not stop the others
                verdict = exc if isinstance(exc, Verdict) else _classify_unexpected(exc)
                ctx.steps.append(StepResult(f"cleanup:{name}", Outcome.ERROR,
                                            int((time.perf_counter() - step_started) * 1000), Reason.CLEANUP_FAILED,
                                            verdict.message[:200]))
                failure = failure or CanaryError(Reason.CLEANUP_FAILED, f"cleanup {name!r} failed: {verdict.message}",
                                                 {"cleanup": name})
            else:
                ctx.steps.append(StepResult(f"cleanup:{name}", Outcome.PASSED,
                                            int((time.perf_counter() - step_started) * 1000)))
        return failure

    def _redacted(self, result: CheckResult) -> CheckResult:
        r = self.redactor
        return replace(result, message=r.text(result.message), evidence=r.data(dict(result.evidence)),
                       steps=tuple(replace(s, name=r.text(s.name), message=r.text(s.message)) for s in result.steps))


def _in_maintenance(result: CheckResult, window: MaintenanceWindow | None) -> CheckResult:
    """Inside a maintenance window every result says so (message and evidence): it is reported, not paged."""
    if window is None:
        return result
    until = window.end.isoformat().replace("+00:00", "Z")
    note = f"maintenance window until {until}: not paging"
    return replace(result, message=f"{result.message} [{note}]" if result.message else note,
                   evidence={**result.evidence, "maintenance_window": {
                       "start": window.start.isoformat().replace("+00:00", "Z"), "end": until}})


def _strip_internal(result: CheckResult) -> CheckResult:
    if "_transient" not in result.evidence:
        return result
    return replace(result, evidence={k: v for k, v in result.evidence.items() if k != "_transient"})


def _classify_unexpected(exc: BaseException) -> Verdict:
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError | BotoCoreError):
        return classify_aws_error(exc)
    tb = traceback.extract_tb(exc.__traceback__)
    where = f"{tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else "?"
    return CanaryError(Reason.CANARY_BUG, f"canary bug: {type(exc).__name__} at {where}: {exc}"[:300],
                       {"exception": type(exc).__name__, "where": where})
