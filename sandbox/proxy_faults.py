"""Canary-side faults as the proxy applies them: which AWS error, if any, answers a request.

``credentials_expired`` answers every call, ``access_denied`` the calls to one service, ``throttled`` and ``aws_5xx``
the matching calls of service= (and operation=), all of them or a sample (``first=N``, ``fraction=`` with ``seed=``).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

from sandbox.aws_protocol import SIGNING_ALIASES, FaultError
from sandbox.faults import Faults

# Throttling codes the ``throttled`` fault may answer with (code=); each as (json/rest-json code, query code).
THROTTLE_CODES: dict[str, tuple[str, str]] = {
    "ThrottlingException": ("ThrottlingException", "Throttling"),
    "Throttling": ("ThrottlingException", "Throttling"),
    "ProvisionedThroughputExceededException": ("ProvisionedThroughputExceededException",
                                               "ProvisionedThroughputExceededException"),
    "TooManyRequestsException": ("TooManyRequestsException", "TooManyRequestsException"),
    "RequestLimitExceeded": ("RequestLimitExceeded", "RequestLimitExceeded"),
}
# AWS's common server errors (status -> JSON code, query/XML code, message).
SERVER_ERRORS: dict[int, tuple[str, str, str]] = {
    500: ("InternalFailure", "InternalFailure",
          "The request processing has failed because of an unknown error, exception or failure."),
    503: ("ServiceUnavailable", "ServiceUnavailable",
          "The request has failed due to a temporary failure of the server."),
}


class Sampler:
    """Which matching calls a rate fault answers: every one, the first ``first=N``, or a ``fraction=`` of them
    (seeded by ``seed=``, so a test is repeatable). Counting restarts when the fault is switched off or its
    parameters change."""

    def __init__(self, faults: Faults | None = None) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, tuple[tuple[tuple[str, str], ...], int, random.Random]] = {}
        if faults is not None:
            faults.on_change(self._forget)

    def _forget(self, snapshot: dict[str, dict[str, str]]) -> None:
        with self._lock:
            for name in [n for n, (params, _, _) in self._state.items()
                         if tuple(sorted(snapshot.get(n, {}).items())) != params or n not in snapshot]:
                del self._state[name]

    def hit(self, faults: Faults, name: str) -> bool:
        params = tuple(sorted(faults.snapshot().get(name, {}).items()))
        values = dict(params)
        with self._lock:
            key, seen, rng = self._state.get(name, ((), 0, random.Random()))
            if key != params or name not in self._state:
                seen, rng = 0, random.Random(int(values.get("seed", "0") or 0))
            seen += 1
            self._state[name] = (params, seen, rng)
            if "first" in values:
                return seen <= int(values["first"])
            if "fraction" in values:
                return rng.random() < float(values["fraction"])
            return True


def _rate_fault_matches(faults: Faults, name: str, default_service: str, service: str,
                        action: Callable[[], str]) -> bool:
    if not faults.active(name) or not _service_matches(faults.param(name, "service", default_service), service):
        return False
    operation = faults.param(name, "operation", "").strip()
    return not operation or action().rsplit(":", 1)[-1].lower() == operation.lower()


def _rate_error(faults: Faults, sampler: Sampler, service: str, action: Callable[[], str]) -> FaultError | None:
    """``throttled`` and ``aws_5xx``: the matching calls of service= (and operation=), all or sampled."""
    if _rate_fault_matches(faults, "throttled", "dynamodb", service, action) and sampler.hit(faults, "throttled"):
        wanted = faults.param("throttled", "code", "")
        if service == "s3" and not wanted:
            return FaultError("throttled", "SlowDown", "SlowDown", "Please reduce your request rate.", 503, 503)
        json_code, query_code = THROTTLE_CODES.get(wanted, THROTTLE_CODES["ThrottlingException"])
        message = ("The level of configured provisioned throughput for the table was exceeded."
                   if json_code == "ProvisionedThroughputExceededException" else "Rate exceeded")
        return FaultError("throttled", json_code, query_code, message, 400, 400)
    if _rate_fault_matches(faults, "aws_5xx", "efs", service, action) and sampler.hit(faults, "aws_5xx"):
        status = int(faults.param("aws_5xx", "status", "503"))
        json_code, query_code, message = SERVER_ERRORS.get(status, SERVER_ERRORS[500])
        if service == "s3":
            json_code = query_code = "InternalError" if status == 500 else "ServiceUnavailable"
        return FaultError("aws_5xx", json_code, query_code, message, status, status, "Receiver")
    return None


def error_for(faults: Faults, service: str, action: Callable[[], str], account_id: str,
               sampler: Sampler | None = None) -> FaultError | None:
    """Which canary-side fault, if any, answers this request (``action`` is only worked out when needed)."""
    if faults.active("credentials_expired"):
        return FaultError("credentials_expired", "ExpiredTokenException", "ExpiredToken",
                           "The security token included in the request is expired", 400, 400)
    if faults.active("access_denied") and _service_matches(faults.param("access_denied", "service", "ecs"), service):
        name = action()
        message = (f"User: arn:aws:sts::{account_id}:assumed-role/webordinary-canary/canary is not authorized "
                   f"to perform: {name} because no identity-based policy allows the {name} action")
        return FaultError("access_denied", "AccessDeniedException", "AccessDenied", message, 400, 403)
    return _rate_error(faults, sampler or Sampler(), service, action)


def _service_matches(wanted: str, service: str) -> bool:
    wanted = wanted.strip().lower()
    return wanted in ("*", "all") or SIGNING_ALIASES.get(wanted, wanted) == service
