"""The Lambda handler with CANARY_PROFILE=queue-platform against the queue flow on the sandbox's moto."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.canary import CanaryHandler
from handlers.composition import build_app
from harness import contract
from sandbox.queue_side import QueueSide
from tests.lambda_support import LambdaContext, emf


@pytest.fixture(autouse=True)
def _clean_powertools(fresh_powertools: None) -> None:
    """Every test starts with clean Powertools state."""




@pytest.fixture
def handler(sandbox: Any, queue: QueueSide, monkeypatch: pytest.MonkeyPatch) -> CanaryHandler:
    queue.reset()
    env = {**sandbox.aws.canary_env(), **queue.environment(), "CANARY_ENVIRONMENT": "sandbox",
           "CANARY_CONFIRM_PAUSE_S": "0"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)  # boto3 reads AWS_ENDPOINT_URL from the process
    app = build_app(env)
    return CanaryHandler(lambda: app)


def test_the_scheduled_probe_run_of_the_queue_profile_passes_and_emits_its_checks(
        handler: CanaryHandler, capsys: pytest.CaptureFixture[str]) -> None:
    response = handler({"tiers": ["probe"]}, LambdaContext())
    outcomes = {c["id"]: c["outcome"] for c in response["checks"]}
    assert response["profile"] == "queue-platform"
    assert set(outcomes) == set(contract.CHECK_IDS_BY_PROFILE[contract.QUEUE_PLATFORM])
    assert set(outcomes.values()) == {"PASSED"}, response["checks"]
    # Contract v2: a healthy run sends no outcome per check, only the latency SLIs' durations, and the heartbeat
    views = emf(capsys.readouterr().out)
    per_check = {d["Check"]: v for d, v in views if "Check" in d}
    assert set(per_check) == set(outcomes) & contract.LATENCY_SLI_CHECKS == {"s3.site", "stepfunctions.executions"}
    assert all(set(v) == {"CheckDuration"} for v in per_check.values())
    assert views[-1] == (contract.run_dimensions("sandbox"), {**views[-1][1], "RunPassed": ("Count", 1.0)})
    assert not {"ChecksFailed", "CanaryErrors"} & set(views[-1][1])


def test_a_message_in_a_dead_letter_queue_fails_its_check_and_the_run(
        handler: CanaryHandler, sandbox: Any, capsys: pytest.CaptureFixture[str]) -> None:
    sandbox.faults.enable("dlq_message")
    response = handler({}, LambdaContext())
    checks = {c["id"]: c for c in response["checks"]}
    assert (checks["sqs.dlq_empty"]["outcome"], checks["sqs.dlq_empty"]["reason"]) == ("FAILED", "dlq_not_empty")
    assert response["outcome"] == "FAILED"
    views = emf(capsys.readouterr().out)
    by_check = {d["Check"]: v for d, v in views if "Check" in d}
    assert by_check["sqs.dlq_empty"]["CheckFailed"] == ("Count", 1.0)
    assert "CheckDuration" not in by_check["sqs.dlq_empty"]  # not a latency SLI
    assert next(d for d, v in views if d.get("Check") == "sqs.dlq_empty") == contract.check_dimensions(
        "sandbox", "sqs.dlq_empty")
    assert views[-1][1]["ChecksFailed"] == ("Count", 1.0)
