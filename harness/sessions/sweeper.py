"""The sweeper: finds synthetic sessions a run left behind (killed Lambda, lost cleanup) and retires them.

Retiring a session means what cleanup does: deactivate it through Hermes first (so the platform releases the
container and scales in as it would for a user), give the platform a moment to drain it, then delete
whatever record is left — every write through ``harness.sessions.synthetic.SyntheticStore``, so only items with the
test prefix are ever touched. The read is a paginated Scan filtered on the prefix (the seed read one page).
``leaked`` (synthetic sessions older than the limit) is the ``LeakedSessions`` metric.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from harness.config import CanaryConfig
from harness.core.deadline import Deadline, poll_until
from harness.core.errors import CanaryError, Verdict
from harness.core.model import Reason
from harness.net.aws import AwsClients
from harness.net.hermes import HermesRoutes, ImplausibleSessionId, plausible_session_id
from harness.net.http import HttpClient
from harness.sessions.synthetic import (
    EXPIRES_ATTRIBUTE,
    RUN_ID_ATTRIBUTE,
    SESSION_ATTRIBUTE,
    USER_ATTRIBUTE,
    SyntheticStore,
    WriteOutcome,
    attribute_text,
    is_lock,
    item_age_s,
    plain,
    run_id_of,
)

DEFAULT_DRAIN_WAIT_S = 5.0


@dataclass
class RetireResult:
    """What retiring one session did."""

    session_id: str
    deactivated: bool = False  # Hermes accepted the deactivate
    already_gone: bool = False  # Hermes did not know it (404)
    deleted: int = 0  # leftover records deleted by the canary
    refused: int = 0  # records the guard would not touch
    implausible: bool = False  # the id is not a plausible session id: never sent to Hermes
    remaining: int = 0  # records still there afterwards
    errors: list[str] = field(default_factory=list)


def deactivate_via_hermes(http: HttpClient, hermes_base: str, session_id: str, deadline: Deadline,
                          timeout_s: float) -> tuple[bool, bool, str | None]:
    """POST …/{id}/deactivate -> (deactivated, already_gone, error message or None); never raises a verdict.

    The id is one encoded path segment (``harness.net.hermes``); an implausible id is refused and nothing is sent.
    """
    try:
        url = HermesRoutes(hermes_base).deactivate(session_id)
    except ImplausibleSessionId as exc:
        return False, False, str(exc)
    try:
        response = http.post(url, deadline=deadline, timeout_s=timeout_s, json_body={})
    except Verdict as exc:
        return False, False, f"deactivate {session_id}: {exc.message}"
    if response.status == 404:
        return False, True, None
    if 200 <= response.status < 300:
        return True, False, None
    return False, False, f"deactivate {session_id}: HTTP {response.status}"


def _leftovers(store: SyntheticStore, session_id: str, user_id: str | None) -> list[dict[str, Any]]:
    return store.records_for_session(session_id, user_id)


def retire_session(store: SyntheticStore, http: HttpClient, hermes_base: str | None, session_id: str,
                   user_id: str | None, deadline: Deadline, *, timeout_s: float,
                   deactivate: bool = True, deactivated_earlier: bool = False,
                   drain_wait_s: float = DEFAULT_DRAIN_WAIT_S) -> RetireResult:
    """Deactivate a synthetic session through Hermes, wait briefly for the platform to drain it, delete leftovers.

    Refuses outright (nothing sent) unless ``user_id`` is synthetic and no platform record shares the id.
    ``deactivated_earlier`` (the journey already did it): no second deactivate, but still the drain wait.
    """
    result = RetireResult(session_id)
    if user_id is not None and not store.is_synthetic({USER_ATTRIBUTE: user_id}):
        result.refused += 1
        result.errors.append(f"refused: {session_id} does not belong to a synthetic user")
        return result
    records = _leftovers(store, session_id, user_id)
    if any(not store.is_synthetic(r) for r in records):
        result.refused += sum(1 for r in records if not store.is_synthetic(r))
        result.errors.append(f"refused: a non-synthetic record shares session id {session_id}")
        records = [r for r in records if store.is_synthetic(r)]
        deactivate = False  # Hermes finds sessions by id alone: it could land on the platform's record
    if not plausible_session_id(session_id):
        # Its record (found by exact key, prefix-guarded) may still be deleted; the id never becomes an address.
        result.implausible = True
        result.errors.append(str(ImplausibleSessionId(session_id)))
        deactivate = deactivated_earlier = False
    draining = deactivated_earlier
    if deactivate and not deactivated_earlier and hermes_base and (records or user_id is not None) \
            and store.only_synthetic_under(session_id):
        ok, gone, error = deactivate_via_hermes(http, hermes_base, session_id, deadline, timeout_s)
        result.deactivated, result.already_gone = ok, gone
        draining = ok
        if error:
            result.errors.append(error)
    if draining and records and drain_wait_s > 0 and not deadline.expired:
        with contextlib.suppress(Verdict):  # not drained in time: the leftovers are deleted below
            poll_until(lambda: _leftovers(store, session_id, user_id), until=lambda found: not found,
                       deadline=deadline, timeout_s=min(drain_wait_s, deadline.remaining()),
                       what=f"platform to drain {session_id}", interval_s=0.2, max_interval_s=1.0)
    for record in _leftovers(store, session_id, user_id):
        outcome = store.delete(record)
        if outcome is WriteOutcome.DONE:
            result.deleted += 1
        elif outcome is WriteOutcome.REFUSED:
            result.refused += 1
    result.remaining = sum(1 for r in _leftovers(store, session_id, user_id) if store.is_synthetic(r))
    return result


@dataclass
class SweepReport:
    """What one sweep found and did; ``leaked`` is the LeakedSessions metric value."""

    table: str
    dry_run: bool
    older_than_s: float
    synthetic_seen: int = 0
    leaked: int = 0
    stale_locks: int = 0
    found: list[dict[str, Any]] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    implausible: list[str] = field(default_factory=list)  # ids never sent to Hermes (escaped, shortened)
    remaining: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table, "dry_run": self.dry_run, "older_than_s": self.older_than_s,
            "synthetic_seen": self.synthetic_seen, "leaked": self.leaked, "stale_locks": self.stale_locks,
            "found": list(self.found), "deactivated": list(self.deactivated), "deleted": list(self.deleted),
            "refused": list(self.refused), "implausible": list(self.implausible),
            "remaining": list(self.remaining), "errors": list(self.errors),
        }


def summarise_item(item: Mapping[str, Any], prefix: str, age_s: float) -> dict[str, Any]:
    data = plain(item)
    return {
        "session_id": data.get(SESSION_ATTRIBUTE), "user_id": data.get(USER_ATTRIBUTE),
        "status": data.get("status"), "run_id": run_id_of(item, prefix), "lock": is_lock(item),
        "age_s": None if age_s == float("inf") else round(age_s, 1),
    }


def find_leftovers(store: SyntheticStore, *, older_than_s: float,
                   now_epoch: float) -> tuple[int, list[tuple[dict[str, Any], float]]]:
    """(synthetic items seen, [(item, age)] of leftover sessions and stale locks).

    A session is a leftover when it is older than the limit, or at once when the run that made it held a lock
    that is now stale (past its expiry: the holder died without cleaning up — a SIGKILL or a crash). A lock still
    inside its lease is kept unless it is older than the limit too (``--older-than 0`` means: everything
    synthetic, now — an operator's explicit choice).
    """
    items = list(store.scan_synthetic())
    stale_runs: set[str] = set()
    picked: list[tuple[dict[str, Any], float]] = []
    for item in items:
        if not is_lock(item):
            continue
        age = item_age_s(item, now_epoch)
        expires = plain(item).get(EXPIRES_ATTRIBUTE)
        stale = isinstance(expires, int | float) and expires < now_epoch
        if stale:
            stale_runs.add(run_id_of(item, store.prefix) or "")
        if stale or age >= older_than_s:
            picked.append((item, age))
    stale_runs.discard("")
    for item in items:
        if is_lock(item):
            continue
        age = item_age_s(item, now_epoch)
        if age >= older_than_s or run_id_of(item, store.prefix) in stale_runs:
            picked.append((item, age))
    return len(items), picked


SWEEP_WORKERS = 16  # concurrent Hermes deactivations / DynamoDB deletes (a bounded pool)
SWEEP_BATCH = 200  # sessions per batch: one shared drain wait each; the deadline is checked between batches


@dataclass
class _Retiring:
    """One leftover session on its way out of a batch (what phase 1 learnt, what phase 3 deletes)."""

    session_id: str
    user_id: str | None
    item: dict[str, Any]
    result: RetireResult
    records: list[dict[str, Any]] = field(default_factory=list)


def sweep(config: CanaryConfig, aws: AwsClients, http: HttpClient, deadline: Deadline, *, dry_run: bool,
          older_than_s: float, drain_wait_s: float = DEFAULT_DRAIN_WAIT_S,
          clock: Callable[[], float] = time.time, workers: int = SWEEP_WORKERS,
          batch_size: int = SWEEP_BATCH) -> SweepReport:
    """Retire leftover synthetic sessions (and stale run locks); ``dry_run`` writes nothing.

    Sessions are retired in batches over a bounded pool: deactivations in parallel, one shared drain wait per
    batch, then conditional deletes in parallel (each still guarded by the test prefix, here and on the server).
    A batch starts only if the deadline leaves room for it; what is left is reported as ``remaining`` and the
    next sweep resumes it — no session is left half-retired by the deadline. Raises a verdict only when the
    table cannot be read at all (credentials, access, missing table).
    """
    table = config.sessions_table
    if not table:
        raise CanaryError(Reason.CONFIG_INVALID, "the sweeper needs SESSIONS_TABLE")
    store = SyntheticStore.discover(aws.bound(deadline).dynamodb, table, config.test_prefix)
    report = SweepReport(table=table, dry_run=dry_run, older_than_s=older_than_s)
    report.synthetic_seen, picked = find_leftovers(store, older_than_s=older_than_s, now_epoch=clock())
    sessions = [item for item, _age in picked if not is_lock(item)]
    locks = [item for item, _age in picked if is_lock(item)]
    report.leaked, report.stale_locks = len(sessions), len(locks)
    report.found = [summarise_item(item, config.test_prefix, age) for item, age in picked]
    if dry_run:
        return report
    retiring: list[_Retiring] = []
    for item in sessions:
        session_id = attribute_text(item.get(SESSION_ATTRIBUTE))
        if session_id is None:  # a synthetic item that is not a session: delete it as it is
            _delete_one(store, item, report, label=str(plain(store.schema.key_of(item))))
            continue
        retiring.append(_Retiring(session_id, attribute_text(item.get(USER_ATTRIBUTE)), item,
                                  RetireResult(session_id)))
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="sweep") as pool:
        batch_s = 0.0  # how long the last batch took: the next one needs at least as long
        for start in range(0, len(retiring), batch_size):
            batch = retiring[start:start + batch_size]
            needed = max(batch_s, drain_wait_s + 2 * config.http_timeout_s)
            if deadline.remaining() < needed:
                report.remaining.extend(r.session_id for r in retiring[start:])
                report.errors.append(f"deadline: {len(retiring) - start} session(s) left for the next sweep")
                break
            began = time.monotonic()
            _retire_batch(store, http, config.hermes_base, batch, deadline, pool, timeout_s=config.http_timeout_s,
                          drain_wait_s=drain_wait_s)
            batch_s = time.monotonic() - began
            for retired in batch:
                _book(report, retired)
    for item in locks:
        run = attribute_text(item.get(RUN_ID_ATTRIBUTE)) or ""
        _delete_one(store, item, report, label=f"lock:{run}", extra_condition="#run = :run",
                    extra_names={"#run": RUN_ID_ATTRIBUTE}, extra_values={":run": {"S": run}})
    return report


def _retire_batch(store: SyntheticStore, http: HttpClient, hermes_base: str | None, batch: list[_Retiring],
                  deadline: Deadline, pool: ThreadPoolExecutor, *, timeout_s: float, drain_wait_s: float) -> None:
    """Phase 1 guard + deactivate (parallel), phase 2 one shared drain wait, phase 3 guarded deletes (parallel)."""

    def deactivate(retiring: _Retiring) -> None:
        result, session_id = retiring.result, retiring.session_id
        if not plausible_session_id(session_id):
            result.implausible = True
            result.errors.append(str(ImplausibleSessionId(session_id)))
            retiring.records = [retiring.item]
            return
        # Only the scanned item is ours to delete; the Query only asks whether a platform record shares its id.
        records = store.records_for_session(session_id) if store.schema.sort else [retiring.item]
        foreign = [r for r in records if not store.is_synthetic(r)]
        retiring.records = [retiring.item]
        if foreign:  # Hermes finds sessions by id alone: a deactivate could land on the platform's record
            result.refused += len(foreign)
            result.errors.append(f"refused: a non-synthetic record shares session id {session_id}")
            return
        if hermes_base and retiring.records:
            ok, gone, error = deactivate_via_hermes(http, hermes_base, session_id, deadline, timeout_s)
            result.deactivated, result.already_gone = ok, gone
            if error:
                result.errors.append(error)

    def delete(retiring: _Retiring) -> None:
        for record in retiring.records:
            outcome = store.delete(record)
            if outcome is WriteOutcome.DONE:
                retiring.result.deleted += 1
            elif outcome is WriteOutcome.REFUSED:
                retiring.result.refused += 1

    def guarded(work: Callable[[_Retiring], None]) -> Callable[[_Retiring], None]:
        def run(retiring: _Retiring) -> None:
            try:
                work(retiring)
            except Verdict as exc:
                retiring.result.errors.append(f"{retiring.session_id}: {exc.message}")
                retiring.result.remaining = max(1, retiring.result.remaining)
        return run

    list(pool.map(guarded(deactivate), batch))
    drained = [r for r in batch if r.result.deactivated]
    if drained and drain_wait_s > 0 and not deadline.expired:
        # One wait for the whole batch: the platform drains in the order it was asked; the last few tell.
        watch = drained[-4:]
        with contextlib.suppress(Verdict):  # not drained in time: the leftovers are deleted below
            poll_until(lambda: [r for r in watch if _leftovers(store, r.session_id, r.user_id)],
                       until=lambda left: not left, deadline=deadline,
                       timeout_s=min(drain_wait_s, deadline.remaining()), what="platform to drain the batch",
                       interval_s=0.2, max_interval_s=1.0)
    list(pool.map(guarded(delete), [r for r in batch if not r.result.remaining]))


def _book(report: SweepReport, retiring: _Retiring) -> None:
    result, session_id = retiring.result, retiring.session_id
    if result.implausible:
        report.implausible.append(session_id[:40].encode("unicode_escape").decode("ascii"))
    if result.deactivated:
        report.deactivated.append(session_id)
    if result.remaining:
        report.remaining.append(session_id)
    elif result.deleted or not result.refused:
        report.deleted.append(session_id)
    if result.refused:
        report.refused.append(session_id)
    report.errors.extend(result.errors)


def _delete_one(store: SyntheticStore, item: Mapping[str, Any], report: SweepReport, *, label: str,
                extra_condition: str = "", extra_names: Mapping[str, str] | None = None,
                extra_values: Mapping[str, Any] | None = None) -> None:
    try:
        outcome = store.delete(item, extra_condition=extra_condition, extra_names=extra_names,
                               extra_values=extra_values)
    except Verdict as exc:
        report.errors.append(f"{label}: {exc.message}")
        report.remaining.append(label)
        return
    if outcome is WriteOutcome.DONE:
        report.deleted.append(label)
    elif outcome is WriteOutcome.REFUSED:
        report.refused.append(label)
