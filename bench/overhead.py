"""Harness overhead: what the runner and the HTTP layer add on top of the time the target itself takes.

1. *Suite vs slowest check.* The probe suite runs against the offline sandbox with the same known latency
   injected at every endpoint (each HTTP request through the local ALB and each AWS call, ``DELAY_MS``), so every
   check's duration is dominated by that latency. Checks run concurrently, so the suite should take barely longer
   than its slowest check. Target: wall time / slowest check <= 1.1x. Also printed: wall time / critical path
   (the slowest chain of ``depends_on``), i.e. what dependency-driven scheduling could reach.
2. *One HTTP step.* ``with ctx.step(...)`` + ``ctx.get`` (HttpClient: capped streamed read, deadline-bound
   timeouts, phase timings) against a raw ``requests.Session().get`` of the same local endpoint over the same kind
   of keep-alive connection, interleaved, many iterations, medians. Target <= 1.2x. ``requests.get`` (a new
   connection per call) is printed for reference.
3. *Sandbox round trip* (informational): an AWS call through the sandbox's fault proxy vs straight to moto.
   ~40 ms per request on loopback is the Nagle / delayed-ACK stall of a Python ``http.server`` that writes headers
   and body separately; the fix is TCP_NODELAY (``disable_nagle_algorithm``) in that server.

Latency is injected without touching the sandbox's code: the ALB instance's ``dispatch`` is wrapped (server side)
and a botocore ``before-send`` hook delays each AWS request (client side).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench import (
    OFFLINE_AWS_ENV,
    BenchmarkUnavailable,
    Figure,
    format_samples,
    interleave,
    median,
    print_figures,
    ratio,
)

DELAY_MS = 50.0
SUITE_RUNS = 3
SUITE_TARGET = 1.1
HTTP_TARGET = 1.2
HTTP_ITERATIONS = 300
HTTP_BUDGET_S = 20.0
SANDBOX_CALLS = 15
NAGLE_SUSPECT_S = 0.030  # a loopback request this slow is almost certainly a delayed-ACK stall
RUN_TIMEOUT_S = 120.0


# -- pure helpers (unit-tested) -------------------------------------------------------------------------------


def critical_path(durations: Mapping[str, float],
                  depends_on: Mapping[str, Sequence[str]]) -> tuple[float, list[str]]:
    """The longest chain of ``depends_on`` among the checks that ran, and that chain (first check first): the
    best wall time any scheduler could reach with unlimited workers. Dependencies that did not run count as zero."""
    best: dict[str, tuple[float, list[str]]] = {}

    def chain_of(check_id: str, trail: tuple[str, ...] = ()) -> tuple[float, list[str]]:
        if check_id in best:
            return best[check_id]
        if check_id not in durations or check_id in trail:
            return 0.0, []
        before = max((chain_of(dep, (*trail, check_id)) for dep in depends_on.get(check_id, ())),
                     default=(0.0, []), key=lambda found: found[0])
        best[check_id] = (before[0] + durations[check_id], [*before[1], check_id])
        return best[check_id]

    return max((chain_of(c) for c in durations), default=(0.0, []), key=lambda found: found[0])


def nagle_note(median_s: float) -> str:
    if median_s >= NAGLE_SUSPECT_S:
        return (f"{median_s * 1000:.0f} ms per loopback request: Nagle/delayed-ACK stall; set TCP_NODELAY "
                "(disable_nagle_algorithm = True) or send headers and body in one write")
    return ""


# -- latency injection ----------------------------------------------------------------------------------------


def delay_alb(alb: Any, delay_s: float) -> Callable[[], None]:
    """Make the sandbox ALB answer every non-admin request ``delay_s`` later; returns the undo."""
    original = alb.dispatch

    def delayed(request: Any) -> Any:
        if not request.path.startswith("/__sandbox/"):
            time.sleep(delay_s)
        return original(request)

    alb.dispatch = delayed

    def undo() -> None:
        alb.dispatch = original

    return undo


def delay_aws(session: Any, delay_s: float) -> None:
    """Every AWS request sent by clients of this boto3 session waits ``delay_s`` first."""

    def before_send(**_kwargs: Any) -> None:
        time.sleep(delay_s)

    session.events.register("before-send", before_send)


# -- the suite ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SuiteSample:
    wall_s: float
    slowest_s: float
    slowest_id: str
    critical_s: float
    chain: tuple[str, ...]
    durations: dict[str, float]
    outcomes: dict[str, str]


def _canary(sandbox: Any, delay_s: float) -> Any:
    import boto3

    from harness.config import load_config
    from harness.wiring import build_app

    env = sandbox.environment()
    config = load_config({"tiers": "probe"}, environ=env)
    session = boto3.Session(aws_access_key_id=env.get("AWS_ACCESS_KEY_ID", "testing"),
                            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", "testing"),
                            region_name=env.get("AWS_REGION", "us-west-2"))
    if delay_s:
        delay_aws(session, delay_s)
    return build_app(config, boto_session=session, endpoint_url=env["AWS_ENDPOINT_URL"], with_lock=False)


def run_suite(app: Any) -> SuiteSample:
    from harness.core.deadline import Deadline
    from harness.core.model import Outcome

    started = time.perf_counter()
    report = app.runner.run(deadline=Deadline.after(RUN_TIMEOUT_S), tiers=["probe"])
    wall = time.perf_counter() - started
    ran = {c.id: c.duration_ms / 1000 for c in report.checks if c.outcome is not Outcome.SKIPPED}
    if not ran:
        raise BenchmarkUnavailable("the probe suite ran no check against the sandbox")
    slowest_id = max(ran, key=lambda k: ran[k])
    deps = {c.id: c.depends_on for c in app.runner.catalogue}
    critical, chain = critical_path(ran, deps)
    return SuiteSample(wall, ran[slowest_id], slowest_id, critical, tuple(chain), ran,
                       {c.id: c.outcome.value for c in report.checks})


def suite_figures(sandbox: Any, runs: int, delay_ms: float) -> list[Figure]:
    undo = delay_alb(sandbox.http.alb, delay_ms / 1000)
    try:
        app = _canary(sandbox, delay_ms / 1000)
        run_suite(app)  # warm-up: boto3 clients are created on first use (a warm Lambda has them)
        samples = [run_suite(app) for _ in range(runs)]
    finally:
        undo()
    ratios = [s.wall_s / s.slowest_s for s in samples]
    crit = [s.wall_s / s.critical_s for s in samples]
    last = samples[-1]
    not_passed = {k: v for k, v in last.outcomes.items() if v not in ("PASSED", "DEGRADED")}
    note = f"not passed: {not_passed}" if not_passed else f"{len(last.outcomes)} probes passed"
    return [
        Figure("overhead: probe suite wall / slowest check", median(ratios), "x", SUITE_TARGET,
               raw=f"{delay_ms:g} ms per request; wall {format_samples([s.wall_s for s in samples])}, slowest "
                   f"{format_samples([s.slowest_s for s in samples])} ({last.slowest_id})",
               note=note),
        Figure("overhead: probe suite wall / critical path", median(crit), "x",
               raw=f"critical path {format_samples([s.critical_s for s in samples])}: "
                   + " -> ".join(f"{c} {last.durations[c] * 1000:.0f} ms" for c in last.chain),
               note="longest depends_on chain: the floor for any scheduler"),
    ]


# -- one HTTP step --------------------------------------------------------------------------------------------

# The endpoint for the HTTP step: a minimal keep-alive server in its own process (an in-process server would
# share the GIL with the client and add its CPU to the client's), answering like the ALB's default action.
_ENDPOINT_SERVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        body = b"healthy"
        self.wfile.write(b"HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: 7\\r\\n\\r\\n" + body)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def _bench_context(http: Any) -> Any:
    from harness.config import CanaryConfig
    from harness.core.check import CheckContext, check
    from harness.core.deadline import Deadline
    from harness.net.aws import AwsClients
    from harness.spec import CheckSpec

    def _noop(_ctx: CheckContext) -> None:
        return None

    spec = CheckSpec("bench.http_step", module="", summary="bench", why="bench", hint="")
    probe = check(spec, depends_on=())(_noop)
    return CheckContext(check=probe, config=CanaryConfig(), aws=AwsClients(), http=http,
                        deadline=Deadline.after(3600), run_id="bench")


def _paired(fn: Callable[[], object], cpu: list[float]) -> Callable[[], float]:
    """A sample of wall time; the client's CPU time for the same call goes to ``cpu``."""

    def once() -> float:
        cpu_started, started = time.process_time(), time.perf_counter()
        fn()
        elapsed = time.perf_counter() - started
        cpu.append(time.process_time() - cpu_started)
        return elapsed

    return once


def http_figures(iterations: int, budget_s: float) -> list[Figure]:
    """The harness's HTTP step against ``requests.Session.get`` on the same session (same pooled connection:
    connection-specific effects cancel out), interleaved; wall medians judged, client CPU shown."""
    import requests

    from harness.net.http import HttpClient

    server = subprocess.Popen([sys.executable, "-c", _ENDPOINT_SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}/"
        session = requests.Session()
        ctx = _bench_context(HttpClient(session=session))

        def harness_step() -> None:
            with ctx.step("GET /") as timer:
                response = ctx.get(url, timer=timer)
            ctx.steps.clear()
            if response.status != 200 or response.body != b"healthy":
                raise BenchmarkUnavailable(f"{url} answered {response.status}")

        def raw_session() -> None:
            if session.get(url, timeout=10).content != b"healthy":
                raise BenchmarkUnavailable(f"{url} answered something else")

        def raw_get() -> None:
            _ = requests.get(url, timeout=10).content  # the body is read, as a probe would

        cpu: dict[str, list[float]] = {"harness": [], "session": [], "get": []}
        runs = {"harness": _paired(harness_step, cpu["harness"]), "session": _paired(raw_session, cpu["session"]),
                "get": _paired(raw_get, cpu["get"])}
        for fn in runs.values():  # open the keep-alive connection
            fn()
        samples: dict[str, list[float]] = {name: [] for name in runs}
        stop_at = time.perf_counter() + budget_s
        done = 0
        while done < iterations and time.perf_counter() < stop_at:
            for name, values in interleave(runs, 2).items():
                samples[name].extend(values)
            done += 2
    finally:
        server.kill()
        server.wait(timeout=10)
    h, s, g = median(samples["harness"]), median(samples["session"]), median(samples["get"])
    hc, sc = median(cpu["harness"][1:]), median(cpu["session"][1:])
    return [
        Figure("overhead: harness HTTP step / Session.get", ratio(h, s), "x", HTTP_TARGET,
               raw=f"{done} interleaved pairs, same connection; wall medians {h * 1000:.2f} vs {s * 1000:.2f} ms",
               note=nagle_note(s)),
        Figure("overhead: harness HTTP step / Session.get (CPU)", ratio(hc, sc), "x",
               raw=f"client CPU medians {hc * 1000:.2f} vs {sc * 1000:.2f} ms per request",
               note="immune to the server waiting for a core"),
        Figure("overhead: harness HTTP step / requests.get", ratio(h, g), "x",
               raw=f"requests.get {g * 1000:.2f} ms (new connection per call)"),
    ]


def sandbox_figures(sandbox: Any, calls: int) -> list[Figure]:
    """Round trips to the sandbox itself: a stall here inflates every figure measured through it."""
    import boto3
    import requests

    session = boto3.Session(region_name=sandbox.resources.region)
    via = session.client("sts", endpoint_url=sandbox.aws_endpoint_url)
    direct = session.client("sts", endpoint_url=sandbox.aws.direct_url)

    def timed(client: Any) -> Callable[[], float]:
        def once() -> float:
            started = time.perf_counter()
            client.get_caller_identity()
            return time.perf_counter() - started

        return once

    timed(via)()
    timed(direct)()
    samples = interleave({"via": timed(via), "direct": timed(direct)}, calls)
    v, d = median(samples["via"]), median(samples["direct"])
    alb = requests.Session()
    url = sandbox.base_url + "/"

    def alb_get() -> float:
        started = time.perf_counter()
        # The sandbox ALB speaks HTTPS with its own CA. Per request: requests lets REQUESTS_CA_BUNDLE in the
        # environment override a session's ``verify``.
        _ = alb.get(url, timeout=10, verify=sandbox.ca_bundle).content
        return time.perf_counter() - started

    alb_get()
    a = median(interleave({"alb": alb_get}, calls)["alb"])
    return [Figure("sandbox: AWS call via fault proxy / direct", ratio(v, d), "x",
                   raw=f"medians {v * 1000:.1f} vs {d * 1000:.1f} ms", note=nagle_note(v)),
            Figure("sandbox: ALB GET / round trip", a * 1000, "ms", raw=f"median over {calls} keep-alive requests",
                   note=nagle_note(a))]


def run(runs: int = SUITE_RUNS, delay_ms: float = DELAY_MS, iterations: int = HTTP_ITERATIONS,
        budget_s: float = HTTP_BUDGET_S) -> list[Figure]:
    os.environ.update(OFFLINE_AWS_ENV)
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "CANARY_CONFIG"):
        os.environ.pop(var, None)
    from sandbox.runtime import Sandbox

    figures = http_figures(iterations, budget_s)  # before the sandbox's threads exist
    sandbox = Sandbox()
    sandbox.start()
    try:
        figures = suite_figures(sandbox, runs, delay_ms) + figures
        figures += sandbox_figures(sandbox, SANDBOX_CALLS)
    finally:
        sandbox.stop()
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.overhead", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=SUITE_RUNS, help="measured suite runs (after one warm-up)")
    parser.add_argument("--delay-ms", type=float, default=DELAY_MS, help="latency injected per request")
    parser.add_argument("--iterations", type=int, default=HTTP_ITERATIONS)
    args = parser.parse_args(argv)
    print_figures(run(args.runs, args.delay_ms, args.iterations))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
