"""Recording the AWS calls the canary sends through the fault proxy, so a test can say which calls a check made.

The platform's own calls go straight to moto and are not seen.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

RECORDED_BODY_BYTES = 4096


@dataclass(frozen=True)
class AwsCall:
    """One AWS request the canary sent through the proxy: ``action`` is the IAM-style name (``ecs:UpdateService``;
    REST services without an action name give the HTTP method, e.g. ``s3:GET``)."""

    service: str
    action: str
    method: str
    path: str
    injected: str | None  # the fault that answered it instead of moto, if any
    body: bytes = b""  # the request body, cut at RECORDED_BODY_BYTES (enough for an ECS or SQS request)


class Recorders:
    """The call lists open right now; the proxy hands each call to all of them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._recorders: list[list[AwsCall]] = []

    def add(self, calls: list[AwsCall]) -> None:
        with self._lock:
            self._recorders.append(calls)

    def remove(self, calls: list[AwsCall]) -> None:
        with self._lock:
            self._recorders = [r for r in self._recorders if r is not calls]

    def record(self, make: Callable[[], AwsCall]) -> None:
        """Append ``make()`` to every open list (``make`` is only called when one is open)."""
        with self._lock:
            if not self._recorders:
                return
            call = make()
            for recorder in self._recorders:
                recorder.append(call)


class CallRecording:
    """Context manager collecting the proxy's calls while it is open (see ``AwsSandbox.recording``)."""

    def __init__(self, recorders: Recorders) -> None:
        self._recorders = recorders
        self.calls: list[AwsCall] = []

    def __enter__(self) -> list[AwsCall]:
        self._recorders.add(self.calls)
        return self.calls

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._recorders.remove(self.calls)
