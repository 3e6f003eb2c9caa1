"""AWS clients for the harness (one boto3 Session, injected) and the one place AWS errors are classified.

boto3 honours ``AWS_ENDPOINT_URL`` itself, which is how the sandbox's moto server is reached. Clients are
created once per process (Lambda cold start) with short timeouts and no botocore retries: a retry is a
harness decision, made at most once and reported.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
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

from harness.deadline import Deadline
from harness.errors import CanaryError, CheckFailed, TransientCanaryError, Verdict
from harness.model import Reason

_EXPIRED = {
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError",
           "NotAuthorized", "Forbidden"}
_THROTTLED = {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded",
              "ProvisionedThroughputExceededException", "RequestThrottled", "SlowDown"}
_MISSING = {"ResourceNotFoundException", "ClusterNotFoundException", "ServiceNotFoundException",
            "TargetGroupNotFound", "LoadBalancerNotFound", "ListenerNotFound", "FileSystemNotFound",
            "StateMachineDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist",
            "NoSuchBucket", "NoSuchKey", "NotFound", "404", "ResourceNotFound"}


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def classify_aws_error(exc: BaseException, *, operation: str = "") -> Verdict:
    """Turn a botocore exception into a verdict: canary-side faults are ERROR, missing resources FAILED."""
    where = f" ({operation})" if operation else ""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = str(exc.response.get("Error", {}).get("Message", ""))[:300]
        evidence = {"aws_error_code": code, "operation": operation or exc.operation_name}
        if code in _EXPIRED:
            return CanaryError(Reason.CREDENTIALS_EXPIRED, f"AWS credentials rejected: {code}{where}", evidence)
        if code in _DENIED:
            return CanaryError(Reason.ACCESS_DENIED, f"the canary's role may not call this: {code}{where}", evidence)
        if code in _THROTTLED:
            return CanaryError(Reason.THROTTLED, f"the canary's own AWS calls are throttled: {code}{where}", evidence)
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
                 endpoint_url: str | None = None, factory: Callable[[str], Any] | None = None) -> None:
        self._session = session or boto3.Session()
        # ``endpoint_url`` is for composition roots that resolve the environment themselves (the CLI with
        # --sandbox); otherwise boto3 reads AWS_ENDPOINT_URL from the process environment.
        self._endpoint_url = endpoint_url
        self._config = Config(connect_timeout=min(3.0, timeout_s), read_timeout=timeout_s,
                              retries={"total_max_attempts": 1, "mode": "standard"},
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
                    self._clients[service] = self._session.client(  # type: ignore[call-overload]
                        service, config=self._config, endpoint_url=self._endpoint_url)
            return self._clients[service]

    def bound(self, deadline: Deadline) -> BoundAws:
        return BoundAws(self, deadline)


class _BoundClient:
    """A client whose every call first checks the deadline and classifies AWS errors."""

    def __init__(self, client: Any, deadline: Deadline, service: str) -> None:
        self._client = client
        self._deadline = deadline
        self._service = service

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr) or name.startswith("_") or name in ("get_paginator", "can_paginate", "get_waiter"):
            if name == "get_paginator":
                return lambda op: _BoundPaginator(self._client.get_paginator(op), self._deadline,
                                                  f"{self._service}.{op}")
            return attr
        operation = f"{self._service}.{name}"

        def call(*args: Any, **kwargs: Any) -> Any:
            self._deadline.check(operation)
            try:
                return attr(*args, **kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise classify_aws_error(exc, operation=operation) from exc

        return call


class _BoundPaginator:
    def __init__(self, paginator: Any, deadline: Deadline, operation: str) -> None:
        self._paginator = paginator
        self._deadline = deadline
        self._operation = operation

    def paginate(self, **kwargs: Any) -> Any:
        try:
            for page in self._paginator.paginate(**kwargs):
                yield page
                self._deadline.check(self._operation)
        except (ClientError, BotoCoreError) as exc:
            raise classify_aws_error(exc, operation=self._operation) from exc


class BoundAws:
    """Per-check view of the shared clients: ``ctx.aws.ecs.describe_services(...)``."""

    def __init__(self, clients: AwsClients, deadline: Deadline) -> None:
        self._clients = clients
        self._deadline = deadline

    def client(self, service: str) -> Any:
        return _BoundClient(self._clients.client(service), self._deadline, service)

    def __getattr__(self, service: str) -> Any:
        if service.startswith("_"):
            raise AttributeError(service)
        return self.client(service)
