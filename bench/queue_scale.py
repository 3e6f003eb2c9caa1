"""The queue profile at platform scale (issue 13): AWS calls and wall time of one probe run vs queues and sites.

The platform makes queues per container and sites per project. In the sandbox (real boto3 over HTTP to moto, every
call counted by its proxy) one queue-profile probe run is measured with the seeded platform, then with 100 and
1,000 extra per-container queues (idle, as most are) and 10 and 50 sites. Judged: AWS calls per run grow far
slower than the queue count (the depth screen reads 500 series per GetMetricData), i.e. calls at 1,000 queues
are within 3x of calls at 100 (a per-queue read would be 10x).
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from typing import Any

from bench import Figure, offline_env

SHAPES = ((0, 1), (100, 10), (1000, 50))  # (extra queues, sites)


def _grow(sandbox: Any, queues: int, sites: int) -> dict[str, str]:
    """Add idle per-container queues and project sites; returns the env overrides that point at the sites."""
    sqs, s3 = sandbox.aws.client("sqs"), sandbox.aws.client("s3")
    for n in range(queues):
        sqs.create_queue(QueueName=f"webordinary-dlq-p{n:04d}-user")
    buckets = []
    for n in range(sites - 1):
        bucket = f"edit.p{n:03d}.webordinary.com"
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        s3.put_object(Bucket=bucket, Key="index.html", Body=b"<html>site</html>")
        buckets.append(bucket)
    env = sandbox.environment()
    return {"SITE_URLS": ",".join([env["SITE_URLS"]] * sites),
            "SITE_BUCKETS": ",".join([env["SITE_BUCKETS"], *buckets]), "DLQ_URLS": "", "QUEUE_URLS": ""}


def measure(shapes: tuple[tuple[int, int], ...] = SHAPES) -> list[tuple[int, int, int, float, Counter[str]]]:
    """[(queues, sites, AWS calls, seconds, calls by action)] for one queue-profile probe run per shape."""
    os.environ.update(offline_env())
    from harness.checks import CATALOGUE
    from harness.config import load_config
    from harness.core.deadline import Deadline
    from harness.core.runner import Runner
    from harness.net.aws import AwsClients
    from harness.net.http import HttpClient
    from sandbox.runtime import Sandbox

    rows = []
    for extra, sites in shapes:
        sandbox = Sandbox(profile="queue-platform").start()
        try:
            overrides = _grow(sandbox, extra, sites)
            env = {**sandbox.environment(), **overrides}
            os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
            config = load_config({}, environ=env)
            runner = Runner(CATALOGUE, config=config, aws=AwsClients(), http=HttpClient(ca_bundle=config.ca_bundle))
            with sandbox.aws.recording() as calls:
                began = time.perf_counter()
                report = runner.run(deadline=Deadline.after(120), profile="queue-platform")
                seconds = time.perf_counter() - began
            queues = extra + 5
            by_action = Counter(c.action for c in calls)
            rows.append((queues, sites, sum(by_action.values()), seconds, by_action))
            bad = [(c.id, c.outcome.value, c.message) for c in report.checks if c.outcome.value not in ("PASSED",)]
            print(f"#   {queues:>5} queues, {sites:>3} sites: {sum(by_action.values()):>4} AWS calls, {seconds:5.2f} s"
                  f"{'; not passed: ' + str(bad[:2]) if bad else ''}", file=sys.stderr, flush=True)
        finally:
            sandbox.stop()
    return rows


def run() -> list[Figure]:
    rows = measure()
    calls = {queues: n for queues, _sites, n, _s, _a in rows}
    small, large = sorted(calls)[1], max(calls)
    raw = "; ".join(f"{q} queues/{s} sites: {n} calls, {t:.1f} s" for q, s, n, t, _a in rows)
    return [
        Figure(f"AWS calls per run, {large} vs {small} queues", calls[large] / calls[small], "x", target=3.0, raw=raw,
               note=f"queue count x{large / small:.0f}"),
    ]


if __name__ == "__main__":
    for figure in run():
        print(figure.line())
