"""The email processor's state machine: executions that failed, timed out or were aborted inside the window.

An old failure outside the window is history, not an outage: only executions that *ended* inside
``CANARY_EXECUTION_WINDOW_S`` count. ``PREEMPTED`` (the container was interrupted by a newer email and reported
SendTaskFailure on purpose) is the platform working as designed: counted separately, never a failure.
``ProcessingTimeout`` is counted separately too, and is a failure.
"""

from __future__ import annotations

import math
from typing import Any

from harness.core.check import CheckContext, check
from harness.core.errors import DeadlineExceeded, Verdict
from harness.core.model import Reason
from harness.platform import queue_platform as qp

PREEMPTED = "PREEMPTED"
PROCESSING_TIMEOUT = "ProcessingTimeout"
# DescribeExecution (for error/cause) is called for at most this many failures, newest first.
DESCRIBE_LIMIT = 20


def p95(values: list[float]) -> float | None:
    """Nearest-rank 95th percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@check("stepfunctions.executions", timeout_s=30)
def stepfunctions_executions(ctx: CheckContext) -> None:
    window = ctx.config.execution_window_s
    with ctx.step("list_executions"):
        ended = {status: qp.ended_in_window(ctx, status) for status in qp.ENDED_STATUSES}
    failures = sorted((e for s in qp.FAILURE_STATUSES for e in ended[s]),
                      key=lambda e: e.stop or e.start, reverse=True)
    details: dict[str, dict[str, Any]] = {}
    if failures:
        try:
            with ctx.step("describe_failures"):
                for execution in failures[:DESCRIBE_LIMIT]:
                    raw = ctx.aws.stepfunctions.describe_execution(executionArn=execution.arn)
                    details[execution.arn] = {"error": raw.get("error"),
                                              "cause": str(raw.get("cause") or "")[:300]}
        except DeadlineExceeded:
            raise
        except Verdict as exc:  # error/cause are evidence: without them every failure counts (none is PREEMPTED)
            ctx.evidence["describe_unavailable"] = exc.reason.value
    preempted = [e for e in failures if details.get(e.arn, {}).get("error") == PREEMPTED]
    real = [e for e in failures if e not in preempted]
    timeouts = [e for e in real if details.get(e.arn, {}).get("error") == PROCESSING_TIMEOUT]
    succeeded = ended["SUCCEEDED"]
    durations = [d for d in (e.duration_s for e in succeeded) if d is not None]
    p95_s = p95(durations)
    counts = {status: sum(1 for e in real if e.status == status) for status in qp.FAILURE_STATUSES}
    ctx.evidence.update({
        "window_s": window,
        "succeeded": len(succeeded),
        "failed": counts["FAILED"], "timed_out": counts["TIMED_OUT"], "aborted": counts["ABORTED"],
        "processing_timeout": len(timeouts), "preempted": len(preempted),
        "p95_duration_s": round(p95_s, 1) if p95_s is not None else None,
    })
    if len(failures) > DESCRIBE_LIMIT:
        ctx.evidence["undescribed_failures"] = len(failures) - DESCRIBE_LIMIT  # their error is unknown: counted
    last = qp.last_success(ctx)
    ctx.evidence["last_success"] = qp.iso(last.stop) if last else None
    if real:
        latest = real[0]
        info = details.get(latest.arn, {})
        ctx.evidence["latest_failure"] = {"name": latest.name, "arn": latest.arn, "status": latest.status,
                                          "ended": qp.iso(latest.stop or latest.start), **info}
        breakdown = ", ".join(f"{status} {n}" for status, n in counts.items() if n)
        if timeouts:
            breakdown += f"; {PROCESSING_TIMEOUT} {len(timeouts)}"
        why = f"{info.get('error') or latest.status}" + (f": {info['cause'][:120]}" if info.get("cause") else "")
        raise ctx.fail(Reason.EXECUTIONS_FAILED,
                       f"{len(real)} email-processor execution(s) ended unsuccessfully in the last "
                       f"{qp.human_duration(window)} ({breakdown}); latest {latest.name}: {why}")
    if succeeded:
        ctx.note(f"{len(succeeded)} succeeded in the last {qp.human_duration(window)}, p95 "
                 f"{qp.human_duration(p95_s or 0.0)}")
    else:
        ctx.note(f"no execution ended in the last {qp.human_duration(window)}")
    if preempted:
        ctx.note(f"{len(preempted)} preempted by a newer email (by design)")
