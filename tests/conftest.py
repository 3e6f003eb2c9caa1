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
    JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
)

from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def sandbox_session() -> Iterator[object]:
    """One sandbox per test worker (moto + local ALB on loopback ports chosen by the OS)."""
    from sandbox.runtime import Sandbox

    box = Sandbox()
    box.start()
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture
def sandbox(sandbox_session: object) -> Iterator[object]:
    """The shared sandbox, reset to the healthy platform before each test."""
    sandbox_session.reset()  # type: ignore[attr-defined]
    yield sandbox_session
    sandbox_session.reset()  # type: ignore[attr-defined]
