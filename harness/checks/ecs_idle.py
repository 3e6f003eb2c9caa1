"""Edit tasks that run with nothing to do: a cost leak (the platform has had no auto-sleep since sprint 10).

A task is idle since the later of its ``startedAt`` and the end of the state machine's last execution; it is a
leak when no work is queued (unclaimed, input, interrupt queues empty) or in flight (no RUNNING execution) and
it has been idle longer than ``CANARY_IDLE_THRESHOLD_S``. Zero tasks is the cheap resting state: PASSED.
"""

from __future__ import annotations

from datetime import datetime

from harness.core.check import CheckContext, check
from harness.core.errors import CheckFailed
from harness.core.model import Reason
from harness.platform import queue_platform as qp
from harness.reporting.cost import EDIT_TASK_HOUR_USD

EVIDENCE_TASKS = 10


@check("ecs.edit_idle", timeout_s=30)
def ecs_edit_idle(ctx: CheckContext) -> None:
    threshold = ctx.config.idle_threshold_s
    with ctx.step("edit_tasks"):
        tasks = qp.running_edit_tasks(ctx)
    ctx.evidence["running_tasks"] = len(tasks)
    if not tasks:
        ctx.note(f"{ctx.config.edit_service} runs 0 tasks (idle at no cost)")
        return
    with ctx.step("queued_work"):
        queues, _source = qp.work_queues(ctx)
        queued = {q.name: depth.total for q, depth in qp.queue_depths(ctx, queues).items()}
    waiting = {name: n for name, n in queued.items() if n}
    if waiting:
        ctx.evidence["queued"] = dict(list(waiting.items())[:EVIDENCE_TASKS])
        ctx.note(f"{len(tasks)} task(s) busy: {sum(waiting.values())} message(s) queued or in flight")
        return
    last_activity: datetime | None = None
    if ctx.config.state_machine_arn:
        running: tuple[qp.Execution, ...] = ()
        try:
            with ctx.step("executions"):
                running = qp.running_executions(ctx)
                last_activity = None if running else qp.last_activity(ctx)
        except CheckFailed as exc:  # stepfunctions.executions reports it; here it only limits the judgement
            ctx.note(f"executions unknown ({exc.reason.value}): idle time counted from task start")
        if running:
            ctx.evidence["running_executions"] = len(running)
            ctx.note(f"{len(tasks)} task(s) busy: {len(running)} execution(s) running")
            return
    else:
        ctx.note("last execution unknown (STATE_MACHINE_ARN unset): idle time counted from task start")
    now = qp.now_utc()
    idle: list[tuple[qp.TaskState, float]] = []
    for task in tasks:
        since = max((m for m in (task.started_at, last_activity) if m is not None), default=None)
        idle.append((task, (now - since).total_seconds() if since else 0.0))
    idle.sort(key=lambda item: item[1], reverse=True)
    ctx.evidence["last_activity"] = qp.iso(last_activity)
    ctx.evidence["tasks"] = [{"task": t.id, "started_at": qp.iso(t.started_at), "idle_s": round(s, 1)}
                             for t, s in idle[:EVIDENCE_TASKS]]
    leaking = [(t, s) for t, s in idle if s > threshold]
    if leaking:
        hourly = len(leaking) * EDIT_TASK_HOUR_USD
        ctx.evidence["idle_cost_usd_per_hour"] = round(hourly, 3)
        raise ctx.fail(Reason.IDLE_COST,
                       f"{len(leaking)} edit task(s) running with no queued or in-flight work for "
                       f"{qp.human_duration(leaking[0][1])} (limit {qp.human_duration(threshold)}): about "
                       f"${hourly:.2f}/h for nothing")
    ctx.note(f"{len(tasks)} task(s) idle for {qp.human_duration(idle[0][1])} (limit {qp.human_duration(threshold)})")

