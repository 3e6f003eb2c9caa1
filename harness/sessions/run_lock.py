"""The run lock: a conditional put of a prefixed lock item in the sessions table (DESIGN §7 overlap guard).

Reserved concurrency keeps one Lambda from overlapping itself, but a console run and the schedule (or a laptop)
can still overlap and create two sessions. The lock item is synthetic like everything else the canary writes
(its user attribute starts with the test prefix), carries ``canary_run_id`` and an expiry (``ttl``, so the
table's TTL reaps it), and a lock past its expiry is stale: the next run takes it over. The loser's journeys
end SKIPPED with reason ``overlap``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from harness.config import CanaryConfig
from harness.core.deadline import Deadline
from harness.core.errors import CanaryError, CheckSkipped, Verdict
from harness.core.model import Reason
from harness.net.aws import AwsClients
from harness.sessions.synthetic import (
    CANARY_USER_MARK,
    EXPIRES_ATTRIBUTE,
    LOCK_ATTRIBUTE,
    RUN_ID_ATTRIBUTE,
    USER_ATTRIBUTE,
    SyntheticStore,
    WriteOutcome,
    attribute_text,
    plain,
    typed,
)

LOCK_NAME = CANARY_USER_MARK + "lock"  # the lock's key value is <prefix>canary-lock
DEFAULT_LEASE_MARGIN_S = 60.0


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


class DynamoRunLock:
    """``harness.core.runner.RunLock`` on the sessions table; one instance may serve many runs."""

    def __init__(self, config: CanaryConfig, aws: AwsClients, *, lease_margin_s: float = DEFAULT_LEASE_MARGIN_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.aws = aws
        self.lease_margin_s = lease_margin_s
        self._clock = clock

    @property
    def lock_value(self) -> str:
        return self.config.test_prefix + LOCK_NAME

    def _store(self, deadline: Deadline) -> SyntheticStore:
        table = self.config.sessions_table
        if not table:
            raise CanaryError(Reason.CONFIG_INVALID, "the run lock needs SESSIONS_TABLE")
        return SyntheticStore.discover(self.aws.bound(deadline).dynamodb, table, self.config.test_prefix)

    def _key_values(self, store: SyntheticStore) -> dict[str, str]:
        values = {attr: self.lock_value for attr in store.schema.attributes}
        values[USER_ATTRIBUTE] = self.lock_value
        return values

    def acquire(self, run_id: str, deadline: Deadline) -> Verdict | None:
        """None if ``run_id`` now holds the lock (new, re-entered, or taken over from a stale holder)."""
        if not self.config.sessions_table:
            return None  # journeys skip as not_configured anyway
        store = self._store(deadline)
        now = self._clock()
        expires = int(now + deadline.remaining() + self.lease_margin_s) + 1
        item = typed({
            **self._key_values(store),
            RUN_ID_ATTRIBUTE: run_id,
            LOCK_ATTRIBUTE: True,
            EXPIRES_ATTRIBUTE: expires,
            "created_at": _iso(now),
            "clientId": self.config.test_client_id,
        })
        outcome = store.put(item, replace_condition="#exp < :now OR #run = :run",
                            extra_names={"#exp": EXPIRES_ATTRIBUTE, "#run": RUN_ID_ATTRIBUTE},
                            extra_values={":now": {"N": str(int(now))}, ":run": {"S": run_id}})
        if outcome is WriteOutcome.DONE:
            return None
        if outcome is WriteOutcome.REFUSED:  # our own item failed the guard: the prefix is broken
            raise CanaryError(Reason.CANARY_BUG, "run lock item is not synthetic; refusing to write it")
        holder = self._current(store)
        holder_run = attribute_text(holder.get(RUN_ID_ATTRIBUTE)) if holder else None
        until = plain(holder).get(EXPIRES_ATTRIBUTE) if holder else None
        evidence = {"lock_holder": holder_run, "lock_expires_at": _iso(float(until)) if until else None}
        return CheckSkipped(Reason.OVERLAP, f"another canary run ({holder_run or 'unknown'}) holds the journey lock"
                            + (f" until {evidence['lock_expires_at']}" if until else ""), evidence)

    def release(self, run_id: str, deadline: Deadline) -> None:
        """Delete the lock item if ``run_id`` holds it (conditionally: a takeover in between is left alone)."""
        if not self.config.sessions_table:
            return
        store = self._store(deadline)
        holder = self._current(store)
        if holder is None or attribute_text(holder.get(RUN_ID_ATTRIBUTE)) != run_id:
            return
        store.delete(holder, extra_condition="#run = :run", extra_names={"#run": RUN_ID_ATTRIBUTE},
                     extra_values={":run": {"S": run_id}})

    def holder(self, deadline: Deadline) -> str | None:
        """The run id holding the lock now (expired or not), for operators and tests."""
        if not self.config.sessions_table:
            return None
        current = self._current(self._store(deadline))
        return attribute_text(current.get(RUN_ID_ATTRIBUTE)) if current else None

    def _current(self, store: SyntheticStore) -> dict[str, object] | None:
        key = store.schema.key_from(self._key_values(store))
        if key is None:
            return None
        found = store.ddb.get_item(TableName=store.table, Key=key, ConsistentRead=True).get("Item")
        return dict(found) if found else None
