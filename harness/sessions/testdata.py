"""Synthetic data for journeys: the seed's TestDataManager, made safe (target-surface §1.4).

Every user id carries the test prefix and the run id (``TEST_canary-<run id>[+<tag>]@canary.webordinary.invalid``;
``.invalid`` can never receive mail), so cleanup, the sweeper and ``harness.sessions.synthetic`` recognise the data
and can tell which run made it. Instructions never touch anything but canary-owned paths on the session's own
branch. Tracking, statistics and the cost estimate are in memory; nothing here calls the network.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.core.runner import new_run_id
from harness.reporting.cost import FARGATE_GB_HOUR_USD, FARGATE_VCPU_HOUR_USD, CostModel
from harness.sessions.synthetic import CANARY_USER_MARK

__all__ = ["EDIT_TASK_SIZE", "HERMES_TASK_SIZE", "INSTRUCTION_KINDS", "FargateSize", "Statistics",
           "SyntheticData", "TrackedSession", "new_run_id", "percentile"]

USER_DOMAIN = "canary.webordinary.invalid"
INSTRUCTION_KINDS = ("simple", "complex", "file-creation", "component")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")

# Five canned instructions per kind, like the seed; {token} is unique per run. None of them changes anything
# outside canary-owned files, and "simple" (what the hourly journey sends) changes nothing at all.
_INSTRUCTIONS: dict[str, tuple[str, ...]] = {
    "simple": (
        "Canary check {token}: reply OK. Do not change any file.",
        "Canary check {token}: report the current git branch. Do not change any file.",
        "Canary check {token}: list the top-level folders of the project. Do not change any file.",
        "Canary check {token}: confirm the Astro dev server is running. Do not change any file.",
        "Canary check {token}: print the project name from package.json. Do not change any file.",
    ),
    "complex": (
        "Canary check {token}: read src/pages/index.astro, summarise its sections in three bullet points and "
        "name the layout it uses. Do not change any file.",
        "Canary check {token}: list every page under src/pages with its title, then say which one links to the "
        "most others. Do not change any file.",
        "Canary check {token}: explain how the site's base layout includes its stylesheet and which components it "
        "imports, in under 100 words. Do not change any file.",
        "Canary check {token}: compare astro.config.mjs with package.json and report any dependency the config "
        "uses that is not declared. Do not change any file.",
        "Canary check {token}: describe the build output Astro would produce for this project and where it would "
        "be written. Do not change any file.",
    ),
    "file-creation": tuple(
        f"Canary check {{token}}: create the file canary/{{token}}-{n}.md containing the single line "
        f"'canary {{token}} {n}'. Change nothing else."
        for n in range(1, 6)
    ),
    "component": tuple(
        f"Canary check {{token}}: create src/components/canary/Canary{{token_camel}}{n}.astro rendering "
        f"<p>canary {{token}} {n}</p>. Do not import it anywhere and change nothing else."
        for n in range(1, 6)
    ),
}


@dataclass(frozen=True)
class FargateSize:
    """A Fargate task size; the hourly price follows the list prices in ``harness.reporting.cost``."""

    vcpu: float
    memory_gb: float

    def hourly_usd(self) -> float:
        return self.vcpu * FARGATE_VCPU_HOUR_USD + self.memory_gb * FARGATE_GB_HOUR_USD


EDIT_TASK_SIZE = FargateSize(vcpu=2.0, memory_gb=4.0)  # target-surface §2.2
HERMES_TASK_SIZE = FargateSize(vcpu=0.5, memory_gb=1.0)  # target-surface §2.1


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (p95 of 20 samples is the 19th smallest); None for no samples."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass
class TrackedSession:
    """One synthetic session's timeline (monotonic seconds; latencies in ms)."""

    session_id: str
    user_id: str
    kind: str
    start_type: str | None
    started_at: float
    created_ms: float | None = None  # activate round trip
    ready_ms: float | None = None  # activate start -> container ready
    ended_at: float | None = None  # deactivated (or given up)
    succeeded: bool | None = None

    def task_seconds(self, now: float) -> float:
        """Edit-container time this session kept up: from activation to its end (or now)."""
        return max(0.0, (self.ended_at if self.ended_at is not None else now) - self.started_at)


@dataclass(frozen=True)
class Statistics:
    """What the seed's calculateTestStatistics reported, with p95 instead of min/max."""

    total: int
    succeeded: int
    success_rate_pct: float | None
    creation_mean_ms: float | None
    creation_p95_ms: float | None
    ready_mean_ms: float | None
    ready_p95_ms: float | None
    task_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass
class SyntheticData:
    """Synthetic identities, instructions and session tracking for one canary run."""

    prefix: str
    client_id: str
    run_id: str = field(default_factory=new_run_id)
    edit_size: FargateSize = EDIT_TASK_SIZE
    memory_mb: int = 512
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._rng = random.Random(self.run_id)
        self._lock = threading.Lock()
        self._sessions: dict[str, TrackedSession] = {}
        self.token = _UNSAFE.sub("-", self.run_id)

    # -- identities and instructions ---------------------------------------------------------------------------
    def user_id(self, tag: str = "") -> str:
        """``<prefix>canary-<run id>[+<tag>]@canary.webordinary.invalid``: prefixed, run-marked, undeliverable."""
        suffix = f"+{_UNSAFE.sub('-', tag)}" if tag else ""
        return f"{self.prefix}{CANARY_USER_MARK}{self.token}{suffix}@{USER_DOMAIN}"

    def instruction(self, kind: str = "simple") -> str:
        """One of the five canned instructions of ``kind`` (chosen reproducibly per run)."""
        if kind not in _INSTRUCTIONS:
            raise ValueError(f"unknown instruction kind {kind!r}; one of {', '.join(INSTRUCTION_KINDS)}")
        with self._lock:
            template = self._rng.choice(_INSTRUCTIONS[kind])
        camel = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", self.token) if part)
        return template.format(token=self.token, token_camel=camel)

    def activation_body(self, *, tag: str = "", kind: str = "simple") -> dict[str, str]:
        """The body of POST /hermes/api/sessions/activate (only the fields Hermes accepts)."""
        return {"clientId": self.client_id, "userId": self.user_id(tag), "instruction": self.instruction(kind)}

    # -- tracking ----------------------------------------------------------------------------------------------
    def track(self, session_id: str, user_id: str, *, kind: str = "simple", start_type: str | None = None,
              started_at: float | None = None) -> TrackedSession:
        session = TrackedSession(session_id, user_id, kind, start_type,
                                 self.clock() if started_at is None else started_at)
        with self._lock:
            self._sessions[session_id] = session
        return session

    def record_created(self, session_id: str, ms: float) -> None:
        with self._lock:
            self._sessions[session_id].created_ms = ms

    def record_ready(self, session_id: str, ms: float) -> None:
        with self._lock:
            self._sessions[session_id].ready_ms = ms

    def finish(self, session_id: str, *, succeeded: bool) -> None:
        with self._lock:
            session = self._sessions[session_id]
            if session.ended_at is None:
                session.ended_at = self.clock()
            session.succeeded = succeeded

    @property
    def sessions(self) -> list[TrackedSession]:
        with self._lock:
            return list(self._sessions.values())

    # -- statistics and cost -----------------------------------------------------------------------------------
    def statistics(self) -> Statistics:
        sessions = self.sessions
        now = self.clock()
        created = [s.created_ms for s in sessions if s.created_ms is not None]
        ready = [s.ready_ms for s in sessions if s.ready_ms is not None]
        ok = sum(1 for s in sessions if s.succeeded)
        return Statistics(
            total=len(sessions), succeeded=ok,
            success_rate_pct=(ok / len(sessions) * 100) if sessions else None,
            creation_mean_ms=_mean(created), creation_p95_ms=percentile(created, 95),
            ready_mean_ms=_mean(ready), ready_p95_ms=percentile(ready, 95),
            task_seconds=sum(s.task_seconds(now) for s in sessions),
        )

    def cost_model(self) -> CostModel:
        return CostModel(memory_mb=self.memory_mb, edit_task_hour_usd=self.edit_size.hourly_usd())

    def platform_cost_usd(self) -> float:
        """ECS task-seconds the synthetic sessions kept the edit container up, at the edit task's size."""
        return self.cost_model().task_seconds_cost(self.statistics().task_seconds)

    def estimated_cost_usd(self, lambda_seconds: float) -> float:
        """The run's cost: the canary's own Lambda time plus the platform time its sessions consumed."""
        return self.cost_model().run_cost(lambda_seconds) + self.platform_cost_usd()
