"""The platform's SQS queues: dead-letter queues must be empty; work must not wait (too long, or for nobody).

Never ReceiveMessage (DESIGN §1): depth comes from GetQueueAttributes (past ``DIRECT_DEPTH_LIMIT`` queues, only
for those CloudWatch's AWS/SQS depth metrics do not show empty: ``queue_platform.queue_depths``), age from
CloudWatch's ``ApproximateAgeOfOldestMessage``.
"""

from __future__ import annotations

from typing import Any

from harness.core.check import CheckContext, check
from harness.core.errors import DeadlineExceeded, Verdict
from harness.core.model import Reason
from harness.platform import queue_platform as qp

EVIDENCE_QUEUES = 10  # queues named in evidence (the rest are counted)
_CONTAINER_KINDS = ("unclaimed", "input")  # work only an edit container consumes


@check("sqs.dlq_empty", timeout_s=30)
def sqs_dlq_empty(ctx: CheckContext) -> None:
    with ctx.step("find_dlqs"):
        dlqs, source = qp.dead_letter_queues(ctx)
    ctx.evidence["dlq_source"] = source
    if not dlqs:
        raise ctx.fail(Reason.RESOURCE_MISSING, f"no dead-letter queue found ({source}); the platform has at least "
                                                "webordinary-intake-lambda-dlq: set DLQ_URLS or QUEUE_NAME_PREFIX")
    with ctx.step("get_queue_attributes"):
        depths = qp.queue_depths(ctx, dlqs)
    full = [(q, d) for q, d in depths.items() if d.total > 0]
    ctx.evidence["dlqs_checked"] = len(dlqs)
    if not full:
        ctx.note(f"{len(dlqs)} dead-letter queue(s) empty")
        return
    full.sort(key=lambda item: item[1].total, reverse=True)
    evidence: dict[str, Any] = {q.name: d.evidence() for q, d in full[:EVIDENCE_QUEUES]}
    try:
        with ctx.step("dead_letter_sources"):
            for q, _depth in full[:3]:
                sources = ctx.aws.sqs.list_dead_letter_source_queues(QueueUrl=q.url).get("queueUrls", []) or []
                evidence[q.name]["sources"] = [qp.queue_name(u) for u in sources[:5]]
    except DeadlineExceeded:
        raise
    except Verdict as exc:  # evidence only: a missing permission must not turn the outage into a canary ERROR
        evidence["sources_unavailable"] = exc.reason.value
    ctx.evidence["dlq_not_empty"] = evidence
    named = ", ".join(f"{q.name} ({d.total})" for q, d in full[:EVIDENCE_QUEUES])
    more = f" and {len(full) - EVIDENCE_QUEUES} more" if len(full) > EVIDENCE_QUEUES else ""
    total = sum(d.total for _q, d in full)
    raise ctx.fail(Reason.DLQ_NOT_EMPTY, f"{total} message(s) in {len(full)} dead-letter queue(s): {named}{more}")


@check("sqs.queue_age", timeout_s=30)
def sqs_queue_age(ctx: CheckContext) -> None:
    limit = ctx.config.queue_age_limit_s
    with ctx.step("find_queues"):
        queues, source = qp.work_queues(ctx)
    ctx.evidence["queue_source"] = source
    if not queues:
        raise ctx.fail(Reason.RESOURCE_MISSING, f"no work queue found ({source}): expected "
                                                f"{ctx.config.queue_name_prefix}unclaimed and the per-project "
                                                "input/interrupt queues; set QUEUE_URLS or QUEUE_NAME_PREFIX")
    with ctx.step("get_queue_attributes"):
        depths = qp.queue_depths(ctx, queues)
    with ctx.step("oldest_message_age"):
        ages = qp.oldest_message_ages(ctx, [q.name for q in queues])
    busy = [q for q in queues if depths[q].total > 0]
    ctx.evidence["queues_checked"] = len(queues)
    ctx.evidence["queues"] = {q.name: {**depths[q].evidence(), "kind": q.kind, "oldest_age_s": ages[q.name]}
                              for q in busy[:EVIDENCE_QUEUES]}
    stale = [q for q in busy if depths[q].visible > 0 and (ages[q.name] or 0.0) > limit]
    if stale:
        worst = max(stale, key=lambda q: ages[q.name] or 0.0)
        raise ctx.fail(Reason.QUEUE_STALE,
                       f"{len(stale)} queue(s) hold messages nobody takes: {worst.name} has "
                       f"{depths[worst].visible} visible, the oldest {qp.human_duration(ages[worst.name] or 0.0)} "
                       f"old (limit {qp.human_duration(limit)})")
    waiting = [q for q in busy if q.kind in _CONTAINER_KINDS and depths[q].visible > 0]
    if waiting and ctx.config.ecs_cluster and ctx.config.edit_service:
        with ctx.step("edit_service"):
            service = qp.edit_service(ctx)
        ctx.evidence["edit_service"] = {"desired": service.desired, "running": service.running,
                                        "pending": service.pending}
        grace = ctx.config.container_ready_timeout_s
        overdue = [q for q in waiting if ages[q.name] is not None and (ages[q.name] or 0.0) >= grace]
        if service.running + service.pending == 0 and overdue:
            first = overdue[0]
            raise ctx.fail(Reason.QUEUE_STALE,
                           f"no containers while messages wait: {first.name} has {depths[first].visible} visible "
                           f"message(s), the oldest {qp.human_duration(ages[first.name] or 0.0)} old, and "
                           f"{service.name} runs 0 tasks")
    unknown = [q.name for q in busy if ages[q.name] is None]
    if unknown:
        ctx.note(f"oldest-message age unknown for {', '.join(unknown[:3])} (no CloudWatch datapoint in "
                 f"{qp.human_duration(qp.AGE_LOOKBACK_S)})")
    in_flight = sum(depths[q].in_flight for q in busy)
    visible = sum(depths[q].visible for q in busy)
    ctx.note(f"{len(queues)} queue(s): {visible} waiting, {in_flight} in flight")
