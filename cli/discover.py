"""``canary discover``: print the target configuration found in the account as one JSON object.

stdout is the JSON object (keys of harness/config.py, usable as ``CANARY_CONFIG`` and as CDK context); how each
value was found, what was not found and what is ambiguous go to stderr. Exit 0 when nothing is ambiguous, 1 when a
setting needs a human choice (its value is ``{"ambiguous": [...]}``), 2 when AWS cannot be reached at all.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO

EXIT_OK, EXIT_AMBIGUOUS, EXIT_CANNOT_RUN = 0, 1, 2


class DiscoverUsageError(Exception):
    """Bad discover arguments (exit 64)."""


def add_parser(sub: Any) -> None:
    discover = sub.add_parser("discover", help="find the platform's resources and print the target config (JSON)")
    discover.add_argument("--profile", choices=("session-platform", "queue-platform"))
    discover.add_argument("--environment", default=None,
                          help="environment whose resources to find (default CANARY_ENVIRONMENT or production)")
    discover.add_argument("--cdk", action="store_true",
                          help="print it as one entry of the CDK context's environments list (name, region, targets)")
    discover.add_argument("--sandbox", action="store_true", help="boot the offline replica and discover in it")
    discover.add_argument("--decoys", action="store_true",
                          help="with --sandbox: also seed look-alike resources of other environments")


@contextmanager
def _sandbox(enabled: bool, profile: str | None, decoys: bool) -> Iterator[dict[str, str] | None]:
    if not enabled:
        yield None
        return
    from sandbox.faults import Faults
    from sandbox.runtime import Sandbox

    print("booting the sandbox (moto + local ALB on 127.0.0.1)…", file=sys.stderr)
    sandbox = Sandbox(Faults(), profile=profile or "session-platform")
    sandbox.start()
    try:
        if decoys:
            from sandbox.decoys import seed_decoys

            seed_decoys(sandbox)
        yield {**os.environ, **sandbox.environment()}
    finally:
        sandbox.stop()


def cmd_discover(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from cli.doctor import _clients
    from harness.ops.discover import PRODUCTION, as_cdk_environment, discover
    from harness.settings import DEFAULTS, env_of

    if args.decoys and not args.sandbox:
        raise DiscoverUsageError("--decoys needs --sandbox")
    with _sandbox(args.sandbox, args.profile, args.decoys) as sandboxed:
        environ: Mapping[str, str] = sandboxed if sandboxed is not None else os.environ
        profile = args.profile or environ.get(env_of("profile")) or DEFAULTS["profile"]
        if profile not in ("session-platform", "queue-platform"):
            raise DiscoverUsageError(f"CANARY_PROFILE: {profile!r} is not session-platform or queue-platform")
        # The sandbox replicates the production platform under the canary environment name "sandbox".
        environment = args.environment or (PRODUCTION if args.sandbox else
                                           environ.get(env_of("environment")) or PRODUCTION)
        clients, region = _clients(environ, 10.0)
        if not region:
            print("canary discover: no AWS region: set AWS_REGION", file=err)
            return EXIT_CANNOT_RUN
        try:
            clients.client("sts").get_caller_identity()
        except Exception as exc:  # any failure here means AWS cannot be used at all
            print(f"canary discover: cannot call AWS: {exc}", file=err)
            return EXIT_CANNOT_RUN
        found = discover(clients.client, environment=environment, profile=profile,
                         queue_name_prefix=environ.get(env_of("queue_name_prefix")) or DEFAULTS["queue_name_prefix"],
                         canary_environment=environ.get(env_of("environment")) or environment)
        shown = as_cdk_environment(found, region) if args.cdk else found.config
        print(json.dumps(shown, indent=2, sort_keys=False), file=out)
        for key, source in found.sources.items():
            if key not in ("environment", "profile"):
                print(f"  {key}: {source}", file=err)
        for note in found.notes:
            print(f"  note: {note}", file=err)
        if found.ambiguous:
            print(f"canary discover: ambiguous: {', '.join(found.ambiguous)} — choose one value each before "
                  "using this as CANARY_CONFIG", file=err)
            return EXIT_AMBIGUOUS
        return EXIT_OK
