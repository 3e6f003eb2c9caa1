"""``canary doctor``: the preflight's composition root (live account, or ``--sandbox`` with problems injected).

Exit codes (DESIGN §9): 0 nothing would page or blind the canary, 1 at least one such finding, 2 the doctor itself
could not run (credentials, region, AWS unreachable) or could check nothing past the credentials, 64 bad config
or usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from infra.config import TARGET_CONFIG_KEY, InfraConfigError, target_file_context

DEFAULT_LAYER_VERSION = "27"


class DoctorUsageError(Exception):
    """Bad doctor arguments (exit 64)."""


def add_parser(sub: Any) -> None:
    doctor = sub.add_parser("doctor", help="read-only preflight of the account, target and deployed canary")
    doctor.add_argument("--profile", choices=("session-platform", "queue-platform"))
    doctor.add_argument("--config", metavar="FILE", help="JSON config file (same keys as CANARY_CONFIG)")
    doctor.add_argument("--target-config", metavar="FILE",
                        help="the CDK target file the stack is deployed from (default: cdk.json's target_config)")
    doctor.add_argument("--stack-name", help="the deployed canary stack (default WebordinaryCanary-<env>-<region>)")
    doctor.add_argument("--layer-version", default=None,
                        help="Powertools layer version to expect (default: cdk.json's powertools_layer_version)")
    doctor.add_argument("--reserved-concurrency", default=None,
                        help="reserved concurrency per function the deploy asks for (default: cdk.json's context)")
    doctor.add_argument("--json", action="store_true", help="one JSON object instead of one line per finding")
    doctor.add_argument("--sandbox", action="store_true", help="boot the offline replica (with its canary stack)")
    doctor.add_argument("--undeployed", action="store_true", help="with --sandbox: no canary stack (before deploy)")
    doctor.add_argument("--faults", default="",
                        help="with --sandbox: platform faults and doctor setups to inject, e.g. ttl_disabled,"
                             "topic_policy_missing")


def deploy_context(path: Path, environment: str, target_config: str | None = None) -> dict[str, Any]:
    """The CDK context the deploy of ``environment`` will use, read as the CDK app reads it: the ``target_config``
    file (``--target-config``, else cdk.json's key), then cdk.json's top-level keys, overridden by the
    ``environments`` entry of that name (empty when there is nothing readable)."""
    try:
        context = json.loads(path.read_text(encoding="utf-8")).get("context", {})
    except (OSError, ValueError, AttributeError):
        context = {}
    if not isinstance(context, dict):
        context = {}
    named = target_config or context.get(TARGET_CONFIG_KEY)
    if named:
        try:
            context = {**target_file_context(named), **context}
        except InfraConfigError as exc:
            raise DoctorUsageError(str(exc)) from exc
    listed = context.get("environments")
    entries: list[Any] = listed if isinstance(listed, list) else []
    entry = next((e for e in entries if isinstance(e, dict) and e.get("name") == environment), {})
    return {**context, **entry}


def _reserved(value: Any) -> int | None:
    if value in (None, "", 0):
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise DoctorUsageError(f"reserved concurrency {value!r} is not a whole number") from exc


@contextmanager
def sandbox_for_doctor(enabled: bool, faults: str, profile: str | None, *, deployed: bool
                       ) -> Iterator[dict[str, str] | None]:
    """Boot the sandbox with the canary's stack deployed (unless ``deployed`` is False) and the named problems."""
    if not enabled:
        yield None
        return
    from sandbox.canary_stack import SETUPS, deploy, undeployed
    from sandbox.faults import Faults, UnknownFault, parse_fault_spec
    from sandbox.runtime import Sandbox

    names = [n.strip() for n in faults.split(",") if n.strip()]
    setups = [n for n in names if n in SETUPS]
    try:
        switchboard = parse_fault_spec(",".join(n for n in names if n not in SETUPS))
    except UnknownFault as exc:
        raise DoctorUsageError(f"{exc}; doctor setups: {', '.join(sorted(SETUPS))}") from exc
    print("booting the sandbox (moto + local ALB on 127.0.0.1)…", file=sys.stderr)
    sandbox = Sandbox(Faults(switchboard), profile=profile or "session-platform")
    sandbox.start()
    try:
        stack = deploy(sandbox) if deployed else undeployed(sandbox)
        for name in setups:
            SETUPS[name][0](stack)
        yield {**os.environ, **sandbox.environment()}
    finally:
        sandbox.stop()


def _clients(environ: Mapping[str, str], timeout_s: float) -> tuple[Any, str | None]:

    from harness.net.aws import AwsClients, session_from_environ

    session = session_from_environ(environ)
    clients = AwsClients(session, timeout_s=timeout_s, endpoint_url=environ.get("AWS_ENDPOINT_URL") or None,
                         max_attempts=2)
    return clients, session.region_name


def cmd_doctor(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from harness.config import CA_BUNDLE_ENVS, load_config
    from harness.ops.doctor import DoctorCannotRun, DoctorOptions, run_doctor
    from harness.ops.doctor.findings import EXIT_CANNOT_RUN

    if args.undeployed and not args.sandbox:
        raise DoctorUsageError("--undeployed needs --sandbox (a live account's stack is found by name)")
    if args.faults and not args.sandbox:
        raise DoctorUsageError("--faults needs --sandbox")
    with sandbox_for_doctor(args.sandbox, args.faults, args.profile, deployed=not args.undeployed) as sandboxed:
        environ: Mapping[str, str] = sandboxed if sandboxed is not None else os.environ
        explicit = {"profile": args.profile} if args.profile else {}
        config = load_config(explicit, environ=environ, config_file=args.config)
        clients, region = _clients(environ, config.aws_timeout_s)
        if not region:
            print("canary doctor: no AWS region: set AWS_REGION", file=err)
            return EXIT_CANNOT_RUN
        ca_files = [p for p in (config.ca_bundle, *(environ.get(name) for name in CA_BUNDLE_ENVS)) if p]
        context = deploy_context(Path("cdk.json"), config.environment, args.target_config)
        options = DoctorOptions(
            region=region, stack_name=args.stack_name,
            powertools_layer_version=str(args.layer_version or context.get("powertools_layer_version")
                                         or DEFAULT_LAYER_VERSION).strip(),
            reserved_concurrency=_reserved(args.reserved_concurrency if args.reserved_concurrency is not None
                                           else context.get("reserved_concurrency")),
            ca_files=tuple(dict.fromkeys(ca_files)), plain_http_ok=args.sandbox)
        try:
            report = run_doctor(config, clients.client, options)
        except DoctorCannotRun as exc:
            print(f"canary doctor: {exc}", file=err)
            return EXIT_CANNOT_RUN
        print(report.render_json() if args.json else report.render_text(), file=out)
        return report.exit_code
