"""The ``canary`` command: the composition root for local runs (live stack or the offline sandbox).

Exit codes (DESIGN §9): 0 PASSED/DEGRADED, 1 FAILED, 2 ERROR, 3 INCOMPLETE, 64 usage or config error
(nothing was run). A crash of the CLI itself exits 2 (never 1, which means FAILED). SIGTERM and SIGINT during
``canary run`` cancel the run: the waits end, the undos run (within the cleanup reserve) and the exit code is
the report's (3 INCOMPLETE, 2 if a cleanup failed).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

from harness.config import CanaryConfig, load_config
from harness.core.deadline import Cancellation
from harness.core.errors import ConfigError
from harness.core.model import EXIT_CODES, EXIT_USAGE, CheckResult, Outcome, RunReport

DEFAULT_TIMEOUT_S = 240.0
MAX_TIMEOUT_S = 86_400.0  # a run deadline longer than a day is a typo (and inf/1e300 overflow the waits)


class UsageError(Exception):
    """Bad command-line input (exit 64)."""


class CanaryFault(Exception):
    """The canary cannot start (e.g. cannot read its own secret): exit 2, like an ERROR outcome."""


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _seconds(text: str, *, allow_zero: bool = False, limit: float = MAX_TIMEOUT_S) -> float:
    """A finite, positive (or zero) number up to ``limit``; argparse names the flag in its error (exit 64)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero) or value > limit:
        low = ">= 0" if allow_zero else "> 0"
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number {low} and at most {limit:g}")
    return value


def _timeout_s(text: str) -> float:
    return _seconds(text)


def _minutes(text: str) -> float:
    return _seconds(text, allow_zero=True, limit=MAX_TIMEOUT_S / 60 * 365)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="canary", description="Synthetic monitoring for the Webordinary platform.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run checks and report (exit 0 only if nothing FAILED or ERRORed)")
    run.add_argument("--tiers", type=_csv, help="comma list of tiers to run: probe,journey,destructive")
    run.add_argument("--checks", type=_csv, help="comma list of check ids (see `canary list`)")
    run.add_argument("--profile", choices=("session-platform", "queue-platform"))
    run.add_argument("--sandbox", action="store_true", help="boot the offline replica and run against it")
    run.add_argument("--faults", default="", help="with --sandbox: faults to inject, e.g. hermes_5xx,ws_refused")
    run.add_argument("--json", nargs="?", const="-", metavar="FILE",
                     help="JSON report to FILE (or stdout); its JSON Schema: `canary schema`")
    run.add_argument("--junit", metavar="FILE", help="JUnit XML report")
    run.add_argument("--html", metavar="FILE", help="self-contained HTML report")
    run.add_argument("--timeout", type=_timeout_s, default=None, metavar="S",
                     help=f"run deadline in seconds (> 0, at most {MAX_TIMEOUT_S:g})")
    run.add_argument("--config", metavar="FILE", help="JSON config file (same keys as CANARY_CONFIG)")
    run.add_argument("--publish", action="store_true", help="send the metrics to CloudWatch (PutMetricData)")
    run.add_argument("--no-color", action="store_true")

    lst = sub.add_parser("list", help="list the checks: id, tier, profile, what it asserts")
    lst.add_argument("--profile", choices=("session-platform", "queue-platform"))
    lst.add_argument("--json", action="store_true")
    lst.add_argument("--markdown", action="store_true", help="the README's check table, rendered from harness.spec")

    sweep = sub.add_parser("sweep", help="remove synthetic sessions left by crashed runs")
    sweep.add_argument("--dry-run", action="store_true", help="report what would be removed, change nothing")
    sweep.add_argument("--older-than", type=_minutes, default=None, metavar="MIN", help="age limit in minutes")
    sweep.add_argument("--sandbox", action="store_true")
    sweep.add_argument("--config", metavar="FILE")
    sweep.add_argument("--json", action="store_true")

    cost = sub.add_parser("cost", help="monthly cost of the configured deployment and time to detect")
    cost.add_argument("--json", action="store_true")

    sbx = sub.add_parser("sandbox", help="serve the offline replica and print the environment to use it")
    sbx.add_argument("--faults", default="")
    sbx.add_argument("--profile", choices=("session-platform", "queue-platform"), default="session-platform")
    sbx.add_argument("--port", type=int, default=0, help="loopback port of the local ALB (default: a free one)")

    from cli import discover, doctor

    doctor.add_parser(sub)
    discover.add_parser(sub)

    sub.add_parser("schema", help="print the JSON Schema of the `canary run --json` report (for your tools)")

    selftest = sub.add_parser("selftest", help="drive the alert-path self-test alarm to ALARM and back")
    selftest.add_argument("--alarm-name", default=None)
    selftest.add_argument("--sandbox", action="store_true")
    return parser


@contextmanager
def _sandbox_env(enabled: bool, faults: str, profile: str | None) -> Iterator[dict[str, str]]:
    """Boot the sandbox when asked and yield the environment the canary should see."""
    if not enabled:
        yield dict(os.environ)
        return
    from sandbox.faults import Faults, UnknownFault, parse_fault_spec
    from sandbox.runtime import Sandbox

    try:
        initial = parse_fault_spec(faults or os.environ.get("SANDBOX_FAULTS", ""))
    except UnknownFault as exc:
        raise UsageError(str(exc)) from exc
    print("booting the sandbox (moto + local ALB on 127.0.0.1)…", file=sys.stderr)
    from sandbox.iam_mode import IamTemplateError

    try:
        sandbox = Sandbox(Faults(initial), profile=profile or "session-platform")
    except IamTemplateError as exc:  # SANDBOX_IAM_TEMPLATE/SANDBOX_IAM_FUNCTION (sandbox.iam_mode)
        raise UsageError(str(exc)) from exc
    sandbox.start()
    try:
        # The sandbox's values win over the caller's environment: a run against the replica must never reach
        # a live AWS account by accident.
        yield {**os.environ, **sandbox.environment()}
    finally:
        sandbox.stop()


def _load(args: argparse.Namespace, environ: Mapping[str, str], **explicit: Any) -> CanaryConfig:
    return load_config({k: v for k, v in explicit.items() if v is not None}, environ=environ,
                       config_file=getattr(args, "config", None))


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


@contextmanager
def _cancel_on_signals() -> Iterator[Cancellation]:
    """SIGTERM and SIGINT request the run's cancellation (the run loop fires it), instead of killing the process
    mid-journey (SIGTERM left a session and the run lock) or raising KeyboardInterrupt (a traceback, exit -2)."""
    cancellation = Cancellation()
    if threading.current_thread() is not threading.main_thread():  # signals are only delivered to the main thread
        yield cancellation
        return

    def request(signum: int, _frame: object) -> None:
        cancellation.request(signal.Signals(signum).name)  # no lock, no I/O: safe in a handler

    previous = {sig: signal.signal(sig, request) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield cancellation
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with _cancel_on_signals() as cancellation:
        return _run(args, out, err, cancellation)


def _run(args: argparse.Namespace, out: TextIO, err: TextIO, cancellation: Cancellation) -> int:
    from harness.core.deadline import Deadline
    from harness.reporting import progress_line, render_table

    with _sandbox_env(args.sandbox, args.faults, args.profile) as environ:
        tiers = args.tiers
        config = _load(args, environ, tiers=",".join(tiers) if tiers else None, profile=args.profile)
        timeout = args.timeout if args.timeout is not None else config.run_timeout_s
        if not 0 < timeout <= MAX_TIMEOUT_S:
            raise UsageError(f"CANARY_RUN_TIMEOUT_S must be > 0 and at most {MAX_TIMEOUT_S:g} (got {timeout:g})")
        app = _build_app(config, environ)
        human = err if args.json == "-" else out
        color = not args.no_color and human.isatty()

        def progress(result: CheckResult) -> None:
            print(progress_line(result), file=human, flush=True)

        app.runner.on_result = progress
        from harness.core.runner import UnknownCheckError

        try:
            report = app.runner.run(deadline=Deadline.after(timeout, cancellation=cancellation), tiers=tiers,
                                    check_ids=args.checks, profile=args.profile, lock=app.lock)
        except UnknownCheckError as exc:
            raise UsageError(str(exc)) from exc
        print(render_table(report, color=color), file=human)
        _emit_reports(args, report, out)
        if cancellation.requested:
            print(f"canary: {cancellation.reason} received: run cancelled after its cleanup"
                  f"{'; metrics not published' if args.publish else ''}", file=err)
        elif args.publish:
            from harness.reporting.metrics import publish, report_datapoints

            sent = publish(app.aws.client("cloudwatch"), report_datapoints(report))
            print(f"published {sent} datapoints to CloudWatch", file=human)
        return report.exit_code


def _emit_reports(args: argparse.Namespace, report: RunReport, out: TextIO) -> None:
    from harness.reporting import render_html, render_json, render_junit

    if args.json == "-":
        print(render_json(report), file=out)
    elif args.json:
        _write(args.json, render_json(report))
    if args.junit:
        _write(args.junit, render_junit(report))
    if args.html:
        _write(args.html, render_html(report))


def _build_app(config: CanaryConfig, environ: Mapping[str, str]) -> Any:
    """Wire the app with a boto3 session built from ``environ`` (the sandbox's, when --sandbox)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from harness.net.aws import classify_aws_error, session_from_environ
    from harness.wiring import AwsClients, build_app, read_secret

    session = session_from_environ(environ)
    endpoint = environ.get("AWS_ENDPOINT_URL") or None
    token = None
    if config.hermes_api_token_secret:
        try:
            token = read_secret(AwsClients(session, timeout_s=config.aws_timeout_s, endpoint_url=endpoint),
                                config.hermes_api_token_secret)
        except (ClientError, BotoCoreError) as exc:
            raise CanaryFault(classify_aws_error(exc, operation="secretsmanager.get_secret_value").message) from exc
    return build_app(config, boto_session=session, endpoint_url=endpoint, hermes_token=token)


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    from harness.checks import CATALOGUE

    if args.markdown:
        from harness.reporting.check_table import markdown_table
        from harness.spec import SPECS

        print(markdown_table(tuple(s for s in SPECS if args.profile is None or args.profile in s.profiles)),
              end="", file=out)
        return 0
    rows = [c for c in CATALOGUE if args.profile is None or args.profile in c.profiles]
    if args.json:
        print(json.dumps([{"id": c.id, "tier": c.tier.value, "profiles": [p.value for p in c.profiles],
                           "summary": c.summary, "why": c.why, "requires": list(c.requires)} for c in rows],
                         indent=2), file=out)
        return 0
    width = max((len(c.id) for c in rows), default=10)
    for c in rows:
        profiles = ",".join(p.value for p in c.profiles)
        print(f"{c.id:<{width}}  {c.tier.value:<11}  {profiles:<33}  {c.summary}", file=out)
    return 0


def cmd_sweep(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Exit 0 when the sweep finished, 3 when the deadline left sessions for the next sweep, and the §9 code of
    the verdict (ERROR 2: credentials, AccessDenied; FAILED 1: the table is missing) when it could not read."""
    from harness.core.deadline import Deadline
    from harness.core.errors import Verdict
    from harness.sessions.sweeper import sweep

    with _sandbox_env(args.sandbox, "", None) as environ:
        config = _load(args, environ)
        app = _build_app(config, environ)
        older = args.older_than * 60 if args.older_than is not None else config.sweep_age_s
        try:
            report = sweep(config, app.aws, app.http, Deadline.after(config.run_timeout_s), dry_run=args.dry_run,
                           older_than_s=older)
        except Verdict as exc:
            print(f"canary sweep: {exc.outcome.value} {exc.reason.value}: {exc.message}", file=err)
            return EXIT_CODES[exc.outcome]
        data = report.to_dict()
        if args.json:
            print(json.dumps(data, indent=2), file=out)
        else:
            verb = "would remove" if args.dry_run else "removed"
            print(f"sweep: {report.leaked} synthetic session(s) older than {older / 60:g} min found; "
                  f"{verb} {len(report.deleted)}"
                  + (f"; {len(report.remaining)} left for the next sweep" if report.remaining else ""), file=out)
        return EXIT_CODES[Outcome.INCOMPLETE] if report.remaining else 0


def cmd_cost(args: argparse.Namespace, out: TextIO) -> int:
    from harness.reporting.cost_report import estimate_deployment, render_estimate

    estimate = estimate_deployment(load_config(environ=os.environ))
    print(json.dumps(estimate.to_dict(), indent=2) if args.json else render_estimate(estimate), file=out)
    return 0


def cmd_sandbox(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Serve the replica until Ctrl-C; the ``export`` lines on stdout point ``canary run`` at it."""
    from sandbox.__main__ import serve
    from sandbox.faults import Faults, UnknownFault, parse_fault_spec
    from sandbox.runtime import Sandbox

    try:
        faults = Faults(parse_fault_spec(args.faults or os.environ.get("SANDBOX_FAULTS", "")))
    except UnknownFault as exc:
        raise UsageError(str(exc)) from exc
    serve(Sandbox(faults, profile=args.profile, port=args.port), out=out, err=err)
    return 0


def cmd_selftest(args: argparse.Namespace, out: TextIO) -> int:
    from harness.ops.selftest import run_selftest

    with _sandbox_env(args.sandbox, "", None) as environ:
        config = _load(args, environ)
        app = _build_app(config, environ)
        result = run_selftest(app.aws.client("cloudwatch"), config, alarm_name=args.alarm_name)
        print(json.dumps(result, indent=2), file=out)
        return 0 if result.get("ok") else 1


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage; the contract says 64
        return 0 if exc.code == 0 else EXIT_USAGE
    try:
        if args.command == "run":
            return cmd_run(args, out, err)
        if args.command == "list":
            return cmd_list(args, out)
        if args.command == "sweep":
            return cmd_sweep(args, out, err)
        if args.command == "cost":
            return cmd_cost(args, out)
        if args.command == "sandbox":
            return cmd_sandbox(args, out, err)
        if args.command == "selftest":
            return cmd_selftest(args, out)
        if args.command == "schema":
            from harness.reporting import report_schema_text

            out.write(report_schema_text())
            return 0
        if args.command in ("doctor", "discover"):
            from cli import discover, doctor

            try:
                if args.command == "doctor":
                    return doctor.cmd_doctor(args, out, err)
                return discover.cmd_discover(args, out, err)
            except (doctor.DoctorUsageError, discover.DiscoverUsageError) as exc:
                raise UsageError(str(exc)) from exc
    except ConfigError as exc:
        print(f"canary: configuration error: {exc}", file=err)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"canary: {exc}", file=err)
        return EXIT_USAGE
    except CanaryFault as exc:
        print(f"canary: {exc}", file=err)
        return EXIT_CODES[Outcome.ERROR]
    except KeyboardInterrupt:  # Ctrl-C outside a run (a run turns it into a cancellation): nothing finished
        print("canary: interrupted", file=err)
        return EXIT_CODES[Outcome.INCOMPLETE]
    except Exception as exc:  # a crash of the CLI itself is an ERROR (2); exit 1 would claim the platform FAILED
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
        print(f"canary: internal error{where}: {type(exc).__name__}: {str(exc)[:300]}", file=err)
        return EXIT_CODES[Outcome.ERROR]
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
