"""Hygiene: synthetic sessions the canary left behind (``cleanup.orphans``). Read-only; the sweeper deletes.

A leftover means a run died before its cleanup (a killed Lambda, a lost connection) or the platform never
drained a deactivated session. Either way it may keep an edit task running, so it is reported DEGRADED with
the list, and the hourly sweeper (``canary sweep``) removes it and publishes ``LeakedSessions``.
"""

from __future__ import annotations

import time

from harness.core.check import CheckContext, check
from harness.core.model import Reason
from harness.sessions.sweeper import find_leftovers, summarise_item
from harness.sessions.synthetic import SyntheticStore, is_lock

LISTED = 20


@check("cleanup.orphans", timeout_s=30)
def cleanup_orphans(ctx: CheckContext) -> None:
    cfg = ctx.config
    table = cfg.sessions_table or ""
    with ctx.step("scan"):
        store = SyntheticStore.discover(ctx.aws.dynamodb, table, cfg.test_prefix)
        seen, picked = find_leftovers(store, older_than_s=cfg.sweep_age_s, now_epoch=time.time())
    sessions = [(item, age) for item, age in picked if not is_lock(item)]
    locks = [item for item, _age in picked if is_lock(item)]
    ctx.evidence.update({"synthetic_items": seen, "leaked": len(sessions), "stale_locks": len(locks),
                         "sweep_age_s": cfg.sweep_age_s})
    if sessions or locks:
        ctx.evidence["leftovers"] = [summarise_item(item, cfg.test_prefix, age) for item, age in picked[:LISTED]]
        ctx.degrade(Reason.LEAKED_SESSIONS,
                    f"{len(sessions)} synthetic session(s) and {len(locks)} stale run lock(s) left behind (older "
                    f"than {cfg.sweep_age_s:g} s, or made by a run whose lock is stale): run `canary sweep`")
        return
    ctx.note(f"no leftovers ({seen} synthetic item(s), all younger than {cfg.sweep_age_s:g} s)")


CHECKS = (cleanup_orphans,)
