"""Sweeper at scale (issue 13): wall time to retire 100, 1,000 and 3,000 leaked synthetic sessions.

The sandbox is the real protocol path: every leftover is deactivated through the local ALB and Hermes and deleted
from moto's DynamoDB over HTTP, after a paginated Scan (items are padded so 3,000 of them span pages of 1 MB).
Judged: the 3,000 sweep fits one sweeper invocation (300 s), and the per-session cost at 3,000 is at least 10x
below the sequential sweeper's ~5 s (a drain wait per session). The per-session cost is printed for each N so
its fall with N is visible.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench import Figure, offline_env

SIZES = (100, 1000, 3000)
SEQUENTIAL_PER_SESSION_S = 5.0  # the sweeper before batching: deactivate, a drain wait of up to 5 s, delete
SWEEPER_TIMEOUT_S = 300.0
PAD = "x" * 400  # realistic record size (metadata, preview URL, branch): 3,000 items > 1 MB


def _seed(sandbox: Any, count: int) -> None:
    old = datetime.fromtimestamp(time.time() - 7200, UTC).isoformat().replace("+00:00", "Z")
    ddb = sandbox.aws.client("dynamodb")
    table = sandbox.resources.sessions_table
    for start in range(0, count, 25):
        requests = [{"PutRequest": {"Item": {
            "sessionId": {"S": f"session-leak-{n:05d}"},
            "userId": {"S": f"TEST_canary-run-bench{n:05d}@canary.webordinary.invalid"},
            "clientId": {"S": "integration-test-client"}, "status": {"S": "active"},
            "createdAt": {"S": old}, "metadata": {"S": PAD}}}} for n in range(start, min(start + 25, count))]
        ddb.batch_write_item(RequestItems={table: requests})


def measure(sizes: tuple[int, ...] = SIZES) -> dict[int, float]:
    """Seconds to sweep each N leftovers, in one sandbox (reset between sizes)."""
    os.environ.update(offline_env())
    from harness.config import load_config
    from harness.core.deadline import Deadline
    from harness.net.aws import AwsClients
    from harness.net.http import HttpClient
    from harness.sessions.sweeper import sweep
    from sandbox.runtime import Sandbox

    sandbox = Sandbox().start()
    timings: dict[int, float] = {}
    try:
        for count in sizes:
            sandbox.reset()
            env = sandbox.environment()
            os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
            config = load_config({}, environ=env)
            _seed(sandbox, count)
            began = time.perf_counter()
            report = sweep(config, AwsClients(), HttpClient(), Deadline.after(SWEEPER_TIMEOUT_S), dry_run=False,
                           older_than_s=3600)
            timings[count] = time.perf_counter() - began
            if report.remaining or len(report.deleted) != count:
                raise RuntimeError(f"sweep of {count} left {len(report.remaining)} remaining, "
                                   f"deleted {len(report.deleted)}: {report.errors[:3]}")
            print(f"#   sweep {count:>5}: {timings[count]:6.1f} s, {timings[count] / count * 1000:6.1f} ms/session",
                  file=sys.stderr, flush=True)
    finally:
        sandbox.stop()
    return timings


def run() -> list[Figure]:
    timings = measure()
    largest = max(timings)
    per_session = {n: t / n for n, t in timings.items()}
    raw = ", ".join(f"{n}: {t:.1f} s ({per_session[n] * 1000:.0f} ms/session)" for n, t in timings.items())
    return [
        Figure(f"Sweep of {largest} leaked sessions (wall)", timings[largest], "s", target=SWEEPER_TIMEOUT_S, raw=raw),
        Figure(f"Per-session sweep cost at {largest}, vs sequential ~5 s", SEQUENTIAL_PER_SESSION_S /
               per_session[largest], "x", target=10.0, higher_is_better=True,
               note="falls with N: " + " > ".join(f"{per_session[n] * 1000:.0f}" for n in timings) + " ms"),
    ]


if __name__ == "__main__":
    for figure in run():
        print(figure.line())
