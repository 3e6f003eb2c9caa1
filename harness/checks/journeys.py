"""The session journey (``session.lifecycle``): what an editor does, end to end, once an hour.

The driver (activation and its undo, readiness, preview, WebSocket, deactivation) is ``harness.sessions.journey``; this
module only orders its steps and labels the start cold or warm.
"""

from __future__ import annotations

from harness.core.check import CheckContext, check
from harness.sessions.journey import Journey, hold_edit_service


@check("session.lifecycle", timeout_s=600)
def session_lifecycle(ctx: CheckContext) -> None:
    hold_edit_service(ctx)
    with Journey(ctx) as journey:
        with ctx.step("edit.running_count"):
            edit = journey.edit_service()
        if edit is not None:
            ctx.start_type = "cold" if edit.running == 0 else "warm"
            ctx.evidence["edit_before"] = {"desired": edit.desired, "running": edit.running}
        session = journey.activate(key_latency=True)
        journey.check_record(session)
        journey.status(session)
        journey.wait_ready(session, key_latency=True)
        journey.preview(session, key_latency=True)
        journey.websocket(session, key_latency=True)
        journey.deactivate(session)
        ended = journey.wait_drained(session)
        ctx.note(f"{ctx.start_type or 'unlabelled'} start; session {session.session_id} "
                 f"{'gone' if ended is None else ended} after deactivate")


CHECKS = (session_lifecycle,)
