"""``python -m sandbox``: serve the offline platform until Ctrl-C and print the canary's environment.

The ``export K=V`` lines go to stdout (``eval`` them, or let ``canary sandbox`` reuse ``serve``); everything
else goes to stderr. The ALB speaks HTTPS with the sandbox's own CA: ``CANARY_CA_BUNDLE`` names its certificate
(``curl --cacert "$CANARY_CA_BUNDLE" "$WEBORDINARY_BASE_URL/"``); the admin API also answers on plain HTTP.
Faults: ``SANDBOX_FAULTS=hermes_5xx,hermes_slow:delay_ms=800`` at boot, or the ALB's ``/__sandbox/faults``
endpoint at run time.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from collections.abc import Mapping
from typing import TextIO

from sandbox.faults import UnknownFault
from sandbox.runtime import Sandbox, faults_from_env

EXIT_USAGE = 64


def format_exports(env: Mapping[str, str]) -> str:
    """``export K=V`` lines, shell-quoted, in a stable order."""
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in sorted(env.items()))


def serve(sandbox: Sandbox, *, out: TextIO, err: TextIO, stop: threading.Event | None = None) -> None:
    """Start ``sandbox``, print its exports, block until ``stop`` is set, SIGINT or SIGTERM; then stop it."""
    stop = stop or threading.Event()
    sandbox.start()
    try:
        out.write(format_exports(sandbox.environment()))
        out.flush()
        active = ", ".join(sorted(sandbox.faults.snapshot())) or "none"
        err.write(
            f"sandbox: ALB {sandbox.base_url} (CA {sandbox.ca_bundle}; plain HTTP {sandbox.http_url} redirects)"
            f"  AWS {sandbox.aws_endpoint_url}  faults: {active}\n"
            f"sandbox: faults at run time: curl {sandbox.http_url}/__sandbox/faults; Ctrl-C stops\n"
        )
        err.flush()
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
    finally:
        sandbox.stop()
        err.write("sandbox: stopped\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="loopback port of the local ALB (default: a free one)")
    parser.add_argument(
        "--ready-delay", type=float, default=0.5, help="seconds an edit task takes to become ready (default 0.5)"
    )
    args = parser.parse_args(argv)
    try:
        faults = faults_from_env()
    except UnknownFault as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return EXIT_USAGE
    serve(Sandbox(faults, ready_delay_s=args.ready_delay, port=args.port), out=sys.stdout, err=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
