"""AWS clients for the harness (one boto3 Session, injected) and the one place AWS errors are classified.

boto3 honours ``AWS_ENDPOINT_URL`` itself, which is how the sandbox's moto server is reached. Clients are
created once per process (Lambda cold start) with short timeouts and botocore's standard retry mode (throttling
and 5xx are retried with capped exponential backoff), never past the calling check's deadline: one throttled
Describe call must not page ``canary-broken``, and a throttle that outlasts the budget is ERROR ``throttled``.
Every retry is counted per check (``BoundAws.retries``) and reported, never hidden.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from harness.core.deadline import Deadline
from harness.core.errors import CanaryError, CheckFailed, TransientCanaryError, Verdict
from harness.core.model import Reason

_EXPIRED = {
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
}
# "403": S3 answers a denied HEAD (HeadObject, HeadBucket) with no body, so botocore's code is the bare status.
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError",
           "NotAuthorized", "Forbidden", "403"}
_THROTTLED = {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded",
              "ProvisionedThroughputExceededException", "RequestThrottled", "SlowDown"}
_MISSING = {"ResourceNotFoundException", "ClusterNotFoundException", "ServiceNotFoundException",
            "TargetGroupNotFound", "LoadBalancerNotFound", "ListenerNotFound", "FileSystemNotFound",
            "StateMachineDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist",
            "NoSuchBucket", "NoSuchKey", "NotFound", "404", "ResourceNotFound"}


# botocore's standard mode backs off at most min(2 ** (attempt - 1), 20) s before the next attempt (throttling base
# scale 1 s); a retry is allowed only when that worst case plus a short call still fits in the deadline.
_MAX_BACKOFF_S = 20.0
_MIN_CALL_S = 0.5
DEFAULT_MAX_ATTEMPTS = 4
_call_deadline = threading.local()


def _retry_budget(**kwargs: Any) -> None:
    """``needs-retry`` hook registered before botocore's own: when the calling check's deadline cannot afford the
    next backoff, end the retries now by raising what botocore would raise after its last attempt."""
    deadline: Deadline | None = getattr(_call_deadline, "deadline", None)
    attempts = int(kwargs.get("attempts") or 1)
    caught, response = kwargs.get("caught_exception"), kwargs.get("response")
    if deadline is None:
        return
    if deadline.remaining() > min(2.0 ** (attempts - 1), _MAX_BACKOFF_S) + _MIN_CALL_S:
        return
    if caught is not None:
        raise caught
    if response is None:
        return
    http, parsed = response
    if getattr(http, "status_code", 200) < 300 and "Error" not in parsed:
        return
    parsed.setdefault("ResponseMetadata", {})["RetryAttempts"] = attempts - 1
    operation = kwargs.get("operation")
    raise ClientError(parsed, getattr(operation, "name", "unknown"))


def retry_attempts(payload: Any) -> int:
    """Retries botocore made for one response or error response (``ResponseMetadata.RetryAttempts``)."""
    meta = payload.get("ResponseMetadata", {}) if isinstance(payload, dict) else {}
    return int(meta.get("RetryAttempts") or 0)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def classify_aws_error(exc: BaseException, *, operation: str = "") -> Verdict:
    """Turn a botocore exception into a verdict: canary-side faults are ERROR, missing resources FAILED."""
    where = f" ({operation})" if operation else ""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = str(exc.response.get("Error", {}).get("Message", ""))[:300]
        evidence: dict[str, Any] = {"aws_error_code": code, "operation": operation or exc.operation_name}
        retried = retry_attempts(exc.response)
        if retried:
            evidence["retry_attempts"] = retried
        if code in _EXPIRED:
            return CanaryError(Reason.CREDENTIALS_EXPIRED, f"AWS credentials rejected: {code}{where}", evidence)
        if code in _DENIED:
            return CanaryError(Reason.ACCESS_DENIED, f"the canary's role may not call this: {code}{where}", evidence)
        if code in _THROTTLED:
            after = f" after {retried} retries" if retried else ""
            return CanaryError(Reason.THROTTLED, f"the canary's own AWS calls are throttled: {code}{where}{after}",
                               evidence)
        if code in _MISSING:
            return CheckFailed(Reason.RESOURCE_MISSING, f"resource not found{where}: {message or code}", evidence)
        return CanaryError(Reason.AWS_ERROR, f"AWS error {code}{where}: {message}", evidence)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return CanaryError(Reason.CREDENTIALS_MISSING, f"no AWS credentials found{where}")
    if isinstance(exc, NoRegionError):
        return CanaryError(Reason.CONFIG_INVALID, "no AWS region: set AWS_REGION")
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        return TransientCanaryError(Reason.AWS_ERROR, f"AWS endpoint unreachable{where}: {exc}")
    if isinstance(exc, BotoCoreError):
        return CanaryError(Reason.AWS_ERROR, f"AWS SDK error{where}: {exc}")
    return CanaryError(Reason.CANARY_BUG, f"unexpected {type(exc).__name__}{where}: {exc}")


class AwsClients:
    """Lazily created, shared boto3 clients (thread-safe: boto3 clients are, their creation is not)."""

    def __init__(self, session: boto3.Session | None = None, *, timeout_s: float = 10.0,
                 endpoint_url: str | None = None, factory: Callable[[str], Any] | None = None,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> None:
        self._session = session or boto3.Session()
        # ``endpoint_url`` is for composition roots that resolve the environment themselves (the CLI with
        # --sandbox); otherwise boto3 reads AWS_ENDPOINT_URL from the process environment.
        self._endpoint_url = endpoint_url
        self._config = Config(connect_timeout=min(3.0, timeout_s), read_timeout=timeout_s,
                              retries={"total_max_attempts": max(1, max_attempts), "mode": "standard"},
                              user_agent_extra="webordinary-canary")
        self._factory = factory
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def region(self) -> str | None:
        return self._session.region_name

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                if self._factory is not None:
                    self._clients[service] = self._factory(service)
                else:
                    client = self._session.client(  # type: ignore[call-overload]
                        service, config=self._config, endpoint_url=self._endpoint_url)
                    event = f"needs-retry.{client.meta.service_model.service_id.hyphenize()}"
                    client.meta.events.register_first(event, _retry_budget)  # before botocore's own handler
                    self._clients[service] = client
            return self._clients[service]

    def bound(self, deadline: Deadline) -> BoundAws:
        return BoundAws(self, deadline)


class RetryCount:
    """Retries botocore made for one check, per operation (thread-safe: a check may fan out)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_operation: Counter[str] = Counter()

    def add(self, operation: str, retries: int) -> None:
        if retries > 0:
            with self._lock:
                self._by_operation[operation] += retries

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._by_operation.values())

    def by_operation(self) -> dict[str, int]:
        with self._lock:
            return dict(self._by_operation)


def _bounded(deadline: Deadline, operation: str, retries: RetryCount, call: Callable[[], Any]) -> Any:
    """Run one botocore call with the retry hook bound to ``deadline``; count its retries, classify its error."""
    previous = getattr(_call_deadline, "deadline", None)
    _call_deadline.deadline = deadline
    try:
        result = call()
    except ClientError as exc:
        retries.add(operation, retry_attempts(exc.response))
        raise classify_aws_error(exc, operation=operation) from exc
    except BotoCoreError as exc:
        raise classify_aws_error(exc, operation=operation) from exc
    finally:
        _call_deadline.deadline = previous
    retries.add(operation, retry_attempts(result))
    return result


class _BoundClient:
    """A client whose every call first checks the deadline and classifies AWS errors."""

    def __init__(self, client: Any, deadline: Deadline, service: str, retries: RetryCount | None = None) -> None:
        self._client = client
        self._deadline = deadline
        self._service = service
        self._retries = retries or RetryCount()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr) or name.startswith("_") or name in ("get_paginator", "can_paginate", "get_waiter"):
            if name == "get_paginator":
                return lambda op: _BoundPaginator(self._client.get_paginator(op), self._deadline,
                                                  f"{self._service}.{op}", self._retries)
            return attr
        operation = f"{self._service}.{name}"

        def call(*args: Any, **kwargs: Any) -> Any:
            self._deadline.check(operation)
            return _bounded(self._deadline, operation, self._retries, lambda: attr(*args, **kwargs))

        return call


class _BoundPaginator:
    def __init__(self, paginator: Any, deadline: Deadline, operation: str, retries: RetryCount) -> None:
        self._paginator = paginator
        self._deadline = deadline
        self._operation = operation
        self._retries = retries

    def paginate(self, **kwargs: Any) -> Any:
        pages = iter(self._paginator.paginate(**kwargs))
        while True:
            page = _bounded(self._deadline, self._operation, self._retries, lambda: next(pages, _DONE))
            if page is _DONE:
                return
            yield page
            self._deadline.check(self._operation)


_DONE = object()


class BoundAws:
    """Per-check view of the shared clients: ``ctx.aws.ecs.describe_services(...)``."""

    def __init__(self, clients: AwsClients, deadline: Deadline) -> None:
        self._clients = clients
        self._deadline = deadline
        self.retries = RetryCount()

    def client(self, service: str) -> Any:
        return _BoundClient(self._clients.client(service), self._deadline, service, self.retries)

    def __getattr__(self, service: str) -> Any:
        if service.startswith("_"):
            raise AttributeError(service)
        return self.client(service)


def session_from_environ(environ: Mapping[str, str]) -> boto3.Session:
    """A boto3 session from an explicit environment mapping (the CLI's, or the sandbox's), not ``os.environ``:
    boto3 reads credentials and region from the process environment only, which a composition root may not own."""
    return boto3.Session(
        aws_access_key_id=environ.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=environ.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=environ.get("AWS_SESSION_TOKEN"),
        region_name=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION"),
        profile_name=environ.get("AWS_PROFILE") if not environ.get("AWS_ACCESS_KEY_ID") else None,
    )
