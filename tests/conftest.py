"""Test-wide set-up: offline AWS settings before boto3 is imported, and the shared sandbox fixture."""

from __future__ import annotations

import os

# No real AWS account, no instance metadata probes, no profile from the developer's machine.
for _var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL", "CANARY_CONFIG"):
    os.environ.pop(_var, None)
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_REGION="us-west-2",
    AWS_DEFAULT_REGION="us-west-2",
    AWS_EC2_METADATA_DISABLED="true",
    POWERTOOLS_SERVICE_NAME="webordinary-canary",
    POWERTOOLS_METRICS_NAMESPACE="Webordinary/Canary",
    POWERTOOLS_TRACE_DISABLED="true",
)

from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402

pytest_plugins = ["tests.lambda_support"]  # LambdaContext-based handler tests share its fixtures


class _SharedSandbox:
    """The one sandbox of a test worker: moto's state is process-global, so there can be only one at a time.

    Started on first use; a module that needs moto to itself (``exclusive_moto``) stops it, and the next
    user starts it again from a fresh seed.
    """

    def __init__(self) -> None:
        self.box: object | None = None

    def get(self) -> object:
        from sandbox.runtime import Sandbox

        if self.box is None:
            self.box = Sandbox()
        if getattr(self.box, "_http", None) is None:
            self.box.start()  # type: ignore[attr-defined]
        return self.box

    def suspend(self) -> None:
        if self.box is not None:
            self.box.stop()  # type: ignore[attr-defined]


_SHARED = _SharedSandbox()


@pytest.fixture(scope="session", autouse=True)
def _stop_shared_sandbox() -> Iterator[None]:
    yield
    _SHARED.suspend()


@pytest.fixture(scope="module")
def exclusive_moto() -> None:
    """For modules that start their own moto-backed sandbox: stop the shared one first."""
    _SHARED.suspend()


@pytest.fixture(scope="module")
def moto_endpoint(exclusive_moto: None) -> Iterator[str]:
    """A bare moto server (no seeding) for modules that test against raw AWS APIs; moto to themselves."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def sandbox_session() -> object:
    """The worker's shared sandbox (moto + local ALB on loopback ports chosen by the OS), running."""
    return _SHARED.get()


@pytest.fixture
def sandbox(sandbox_session: object) -> Iterator[object]:
    """The shared sandbox, reset to the healthy platform before and after each test."""
    sandbox_session.reset()  # type: ignore[attr-defined]
    yield sandbox_session
    sandbox_session.reset()  # type: ignore[attr-defined]


@pytest.fixture
def support(sandbox: object) -> Iterator[object]:
    """The sandbox's journey support (task restarts, scale-in), installed once, reset around the test."""
    from sandbox.journey_support import JourneySupport

    installed = getattr(sandbox, "journeys", None)
    if installed is None:
        installed = JourneySupport(sandbox).install()  # type: ignore[arg-type]
        sandbox.journeys = installed  # type: ignore[attr-defined]
    installed.reset()
    yield installed
    installed.reset()


@pytest.fixture(scope="module")
def queue(sandbox_session: object) -> Iterator[object]:
    """The queue platform attached to the worker's sandbox for one module, detached (and the sandbox reset) after."""
    from sandbox.queue_side import QueueSide

    side = QueueSide(sandbox_session.aws, sandbox_session.faults, refresh_interval_s=0)  # type: ignore[attr-defined]
    side.start()
    try:
        yield side
    finally:
        side.stop()
        sandbox_session.reset()  # type: ignore[attr-defined]
