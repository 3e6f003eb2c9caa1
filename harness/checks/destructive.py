"""The destructive tier: checks that restart or scale the edit service (test environments only).

The runner refuses this tier (SKIPPED ``not_allowed``) unless ``CANARY_ALLOW_DESTRUCTIVE=true``. The checks
take turns on the edit service with each other and with ``session.lifecycle`` (``hold_edit_service``). Each check
records the edit service's desired count before it starts and restores it in cleanup: never below what it
was, and never scaling in while a user's (non-synthetic) session is live. A restart is a StopTask of one task
(ECS replaces it); desired counts are never set by these checks except by that restore.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness.core.check import CheckContext, check
from harness.core.deadline import Deadline, poll_until
from harness.core.errors import CanaryError, CheckSkipped
from harness.core.model import Reason
from harness.platform.ecs_state import ServiceState
from harness.sessions.journey import LIVE_STATUSES, Fingerprint, Journey, JourneySession, hold_edit_service
from harness.sessions.synthetic import SESSION_ATTRIBUTE, SyntheticStore, attribute_text
from harness.spec import CONCURRENT_SESSIONS

RESTART_REASON = "webordinary-canary session.persistence: restart to prove the session's workspace persists"
_PERSISTED = ("userId", "clientId", "threadId", "editBranch", "createdAt")


def live_user_sessions(store: SyntheticStore) -> list[str]:
    """Session ids of live sessions that are NOT synthetic (paginated Scan; ids only, no personal data)."""
    kwargs: dict[str, Any] = {
        "TableName": store.table, "ConsistentRead": True, "FilterExpression": "#s IN (:a, :b)",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":a": {"S": LIVE_STATUSES[0]}, ":b": {"S": LIVE_STATUSES[1]}},
    }
    found: list[str] = []
    while True:
        page = store.ddb.scan(**kwargs)
        found.extend(attribute_text(item.get(SESSION_ATTRIBUTE)) or "?" for item in page.get("Items", [])
                     if not store.is_synthetic(item))
        if not page.get("LastEvaluatedKey"):
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class Capacity:
    """The edit service's desired count before a destructive check, restored in cleanup."""

    def __init__(self, ctx: CheckContext, journey: Journey, before: ServiceState) -> None:
        self.ctx = ctx
        self.journey = journey
        self.before = before

    @classmethod
    def remember(cls, ctx: CheckContext, journey: Journey) -> Capacity:
        with ctx.step("capacity.before"):
            before = journey.edit_service()
        if before is None:
            raise CanaryError(Reason.CONFIG_INVALID, "destructive checks need ECS_CLUSTER and EDIT_SERVICE")
        capacity = cls(ctx, journey, before)
        ctx.evidence["edit_before"] = {"desired": before.desired, "running": before.running}
        ctx.add_cleanup("restore-capacity", capacity.restore)  # registered first: runs after the sessions' undos
        return capacity

    def restore(self, deadline: Deadline) -> None:
        cfg = self.ctx.config
        aws = self.ctx.aws_for(deadline)
        now = aws.ecs.describe_services(cluster=cfg.ecs_cluster, services=[cfg.edit_service])["services"][0]
        current, previous = int(now["desiredCount"]), self.before.desired
        if current == previous:
            return
        if current > previous:
            live = live_user_sessions(self.journey.store(deadline))
            if live:  # scaling in now would take a user's container away: leave it to the platform
                self.ctx.evidence["capacity_left"] = {"desired": current, "was": previous, "live_user_sessions": live}
                self.ctx.note(f"edit service left at desired {current} (was {previous}): {len(live)} user "
                              "session(s) live")
                return
        aws.ecs.update_service(cluster=cfg.ecs_cluster, service=cfg.edit_service, desiredCount=previous)
        self.ctx.evidence["capacity_restored"] = {"from": current, "to": previous}


def _running_tasks(ctx: CheckContext) -> list[str]:
    cfg = ctx.config
    return list(ctx.aws.ecs.list_tasks(cluster=cfg.ecs_cluster, serviceName=cfg.edit_service,
                                       desiredStatus="RUNNING").get("taskArns", []))


def _compare(before: Fingerprint, after: Fingerprint) -> list[str]:
    changed = [f"record.{k}" for k in _PERSISTED if before.record.get(k) != after.record.get(k)]
    if before.preview_title != after.preview_title:
        changed.append("preview title")
    if before.preview_names_session and not after.preview_names_session:
        changed.append("preview no longer shows the session")
    return changed


@check("session.persistence", timeout_s=900)
def session_persistence(ctx: CheckContext) -> None:
    hold_edit_service(ctx)
    with Journey(ctx) as journey:
        Capacity.remember(ctx, journey)
        session = journey.activate(tag="persistence")
        journey.check_record(session)
        journey.wait_ready(session)
        journey.keepalive(session)
        before = journey.fingerprint(session, label="before.")
        with ctx.step("restart"):
            running = _running_tasks(ctx)
            if not running:
                raise ctx.fail(Reason.NOT_READY, "the session is ready but the edit service lists no running task")
            stopped = running[0]
            ctx.aws.ecs.stop_task(cluster=ctx.config.ecs_cluster, task=stopped, reason=RESTART_REASON)
        ctx.evidence["restarted_task"] = stopped.rsplit("/", 1)[-1]
        restarted_at = time.perf_counter()
        with ctx.step("replacement"):
            poll_until(lambda: _running_tasks(ctx), until=lambda arns: bool(arns) and stopped not in arns,
                       deadline=ctx.deadline, timeout_s=ctx.config.container_ready_timeout_s,
                       what="ECS to replace the stopped edit task", reason=Reason.NOT_READY, interval_s=0.5)
        journey.wait_ready(session, step="ready_after_restart", since=restarted_at)
        after = journey.fingerprint(session, label="after.")
        changed = _compare(before, after)
        if changed:
            raise ctx.fail(Reason.RECORD_MISMATCH, f"the session changed across the restart: {', '.join(changed)}",
                           {"before": before.__dict__, "after": after.__dict__})
        journey.deactivate(session)
        journey.wait_drained(session)
        ctx.note(f"session {session.session_id} survived a restart of task {stopped.rsplit('/', 1)[-1]}")


@check("session.concurrency", timeout_s=900)
def session_concurrency(ctx: CheckContext) -> None:
    hold_edit_service(ctx)
    with Journey(ctx) as journey:
        Capacity.remember(ctx, journey)
        with ThreadPoolExecutor(max_workers=CONCURRENT_SESSIONS, thread_name_prefix="journey") as pool:
            futures = [pool.submit(journey.activate, tag=f"c{k}", label=f"s{k}.") for k in range(CONCURRENT_SESSIONS)]
        sessions: list[JourneySession] = [f.result() for f in futures]  # every undo is registered by now
        ids = [s.session_id for s in sessions]
        if len(set(ids)) != len(ids):
            raise ctx.fail(Reason.RECORD_MISMATCH, "Hermes handed out the same session id twice", {"ids": ids})
        for k, session in enumerate(sessions):
            journey.check_record(session, label=f"s{k}.")
        journey.wait_ready(sessions[0])
        with ctx.step("within_max"):
            edit = journey.edit_service()
            limit = ctx.config.edit_max_tasks
            if edit is not None:
                ctx.evidence["edit_during"] = {"desired": edit.desired, "running": edit.running, "max": limit}
                if edit.running > limit or edit.desired > limit:
                    raise ctx.fail(Reason.DESIRED_RUNNING_MISMATCH, f"edit service runs {edit.running} task(s) "
                                   f"(desired {edit.desired}) for {len(ids)} sessions; its maximum is {limit}")
        pages = {}
        for k, session in enumerate(sessions):
            page = journey.preview(session, step=f"s{k}.preview")
            others = [other for other in ids if other != session.session_id and other in page.text]
            if others:
                raise ctx.fail(Reason.RECORD_MISMATCH, f"the preview of {session.session_id} shows another "
                               f"session ({others[0]})", {"url": page.url})
            pages[session.session_id] = page.url
        if len(set(pages.values())) != len(pages):
            raise ctx.fail(Reason.RECORD_MISMATCH, "two sessions share a preview URL", {"preview_urls": pages})
        for k, session in enumerate(sessions):
            journey.deactivate(session, label=f"s{k}.")
        for k, session in enumerate(sessions):
            journey.wait_drained(session, label=f"s{k}.")
        stats = journey.data.statistics()
        ctx.evidence["statistics"] = stats.to_dict()
        ctx.note(f"{len(ids)} isolated sessions; activation p95 {stats.creation_p95_ms or 0:.0f} ms")


@check("session.auto_shutdown", timeout_s=900)
def session_auto_shutdown(ctx: CheckContext) -> None:
    hold_edit_service(ctx)
    with Journey(ctx) as journey:
        with ctx.step("live_user_sessions"):
            live = live_user_sessions(journey.store())
        if live:
            raise CheckSkipped(Reason.NOT_ALLOWED, f"{len(live)} user session(s) are live: scale-in cannot be "
                               "observed without disturbing them", {"live_user_sessions": live[:10]})
        Capacity.remember(ctx, journey)
        session = journey.activate(tag="shutdown")
        journey.check_record(session)
        journey.wait_ready(session)
        journey.deactivate(session)
        journey.wait_drained(session)
        ended = time.perf_counter()
        with ctx.step("scale_in"):
            state = poll_until(journey.edit_service,
                               until=lambda s: s is not None and s.desired == 0 and s.running == 0,
                               deadline=ctx.deadline, timeout_s=ctx.config.session_expiry_timeout_s,
                               what="the edit service to scale in to 0 after its last session ended",
                               reason=Reason.IDLE_COST, interval_s=1.0, max_interval_s=5.0)
        ctx.evidence["edit_after"] = {"desired": state.desired, "running": state.running} if state else None
        ctx.note(f"edit service scaled in {time.perf_counter() - ended:.1f} s after the last session ended")


CHECKS = (session_persistence, session_concurrency, session_auto_shutdown)
