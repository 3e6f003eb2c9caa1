"""AWS error attribution: the canary's own problems are ERROR, a missing platform resource is FAILED.

This split drives two different alarms ("platform unhealthy" vs "canary broken"), so it is tested on real
botocore exception objects and, end to end, on real calls to moto's server over HTTP.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import boto3
import pytest
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

from harness.config import CanaryConfig
from harness.core.check import CheckContext, check
from harness.core.deadline import Deadline
from harness.core.errors import CanaryError, CheckFailed, DeadlineExceeded, TransientCanaryError
from harness.core.model import Outcome, Reason
from harness.core.runner import Runner
from harness.net.aws import AwsClients, classify_aws_error, error_code
from harness.net.http import HttpClient

OFFLINE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_REGION": "us-west-2",
    "AWS_DEFAULT_REGION": "us-west-2",
}
for _k, _v in OFFLINE_AWS.items():
    os.environ.setdefault(_k, _v)


def client_error(code: str, operation: str = "DescribeTable", message: str = "it said no") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}},
                       operation)


# --- classification of real botocore exception objects ---------------------------------------------------------


@pytest.mark.parametrize(("code", "verdict_type", "reason"), [
    ("ExpiredToken", CanaryError, Reason.CREDENTIALS_EXPIRED),
    ("ExpiredTokenException", CanaryError, Reason.CREDENTIALS_EXPIRED),
    ("InvalidClientTokenId", CanaryError, Reason.CREDENTIALS_EXPIRED),
    ("UnrecognizedClientException", CanaryError, Reason.CREDENTIALS_EXPIRED),
    ("AccessDenied", CanaryError, Reason.ACCESS_DENIED),
    ("AccessDeniedException", CanaryError, Reason.ACCESS_DENIED),
    ("UnauthorizedOperation", CanaryError, Reason.ACCESS_DENIED),
    ("Throttling", CanaryError, Reason.THROTTLED),
    ("ThrottlingException", CanaryError, Reason.THROTTLED),
    ("ProvisionedThroughputExceededException", CanaryError, Reason.THROTTLED),
    ("ResourceNotFoundException", CheckFailed, Reason.RESOURCE_MISSING),
    ("ClusterNotFoundException", CheckFailed, Reason.RESOURCE_MISSING),
    ("ServiceNotFoundException", CheckFailed, Reason.RESOURCE_MISSING),
    ("TargetGroupNotFound", CheckFailed, Reason.RESOURCE_MISSING),
    ("LoadBalancerNotFound", CheckFailed, Reason.RESOURCE_MISSING),
    ("FileSystemNotFound", CheckFailed, Reason.RESOURCE_MISSING),
    ("StateMachineDoesNotExist", CheckFailed, Reason.RESOURCE_MISSING),
    ("AWS.SimpleQueueService.NonExistentQueue", CheckFailed, Reason.RESOURCE_MISSING),
    ("NoSuchBucket", CheckFailed, Reason.RESOURCE_MISSING),
    ("404", CheckFailed, Reason.RESOURCE_MISSING),
    ("403", CanaryError, Reason.ACCESS_DENIED),  # a denied S3 HEAD has no body: the code is the status
    ("ValidationException", CanaryError, Reason.AWS_ERROR),
    ("InternalFailure", CanaryError, Reason.AWS_ERROR),
])
def test_client_error_codes(code: str, verdict_type: type, reason: Reason) -> None:
    verdict = classify_aws_error(client_error(code), operation="dynamodb.describe_table")
    assert type(verdict) is verdict_type
    assert verdict.reason is reason
    assert verdict.evidence == {"aws_error_code": code, "operation": "dynamodb.describe_table"}
    assert "dynamodb.describe_table" in verdict.message


def test_missing_resource_message_carries_the_aws_message() -> None:
    verdict = classify_aws_error(client_error("ResourceNotFoundException", message="Requested resource not found"))
    assert "Requested resource not found" in verdict.message
    assert verdict.evidence["operation"] == "DescribeTable"  # the botocore operation name when none is given


def test_a_client_error_without_a_code_is_an_aws_error() -> None:
    exc = ClientError({}, "GetItem")
    assert error_code(exc) == "Unknown"
    assert classify_aws_error(exc).reason is Reason.AWS_ERROR


@pytest.mark.parametrize(("exc", "verdict_type", "reason"), [
    (NoCredentialsError(), CanaryError, Reason.CREDENTIALS_MISSING),
    (PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"), CanaryError,
     Reason.CREDENTIALS_MISSING),
    (NoRegionError(), CanaryError, Reason.CONFIG_INVALID),
    (EndpointConnectionError(endpoint_url="https://ecs.us-west-2.amazonaws.com/"), TransientCanaryError,
     Reason.AWS_ERROR),
    (ConnectTimeoutError(endpoint_url="https://ecs.us-west-2.amazonaws.com/"), TransientCanaryError,
     Reason.AWS_ERROR),
    (ReadTimeoutError(endpoint_url="https://ecs.us-west-2.amazonaws.com/"), TransientCanaryError, Reason.AWS_ERROR),
    (BotoCoreError(), CanaryError, Reason.AWS_ERROR),
    (KeyError("x"), CanaryError, Reason.CANARY_BUG),
], ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else None)
def test_sdk_errors(exc: BaseException, verdict_type: type, reason: Reason) -> None:
    verdict = classify_aws_error(exc, operation="ecs.describe_services")
    assert type(verdict) is verdict_type
    assert verdict.reason is reason
    assert verdict.outcome is Outcome.ERROR  # none of these blames the platform


# --- through moto's server -------------------------------------------------------------------------------------



@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> AwsClients:
    """AwsClients exactly as the app builds them; boto3 finds moto through AWS_ENDPOINT_URL."""
    for key, value in OFFLINE_AWS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return AwsClients(boto3.Session(), timeout_s=5)


def test_aws_clients_reach_moto_through_aws_endpoint_url(aws: AwsClients) -> None:
    identity = aws.bound(Deadline.after(10)).sts.get_caller_identity()
    assert identity["Account"] == "123456789012"


def test_a_missing_table_is_failed_resource_missing(aws: AwsClients) -> None:
    with pytest.raises(CheckFailed) as info:
        aws.bound(Deadline.after(10)).dynamodb.describe_table(TableName="webordinary-edit-sessions-gone")
    assert info.value.reason is Reason.RESOURCE_MISSING
    assert info.value.evidence == {"aws_error_code": "ResourceNotFoundException",
                                   "operation": "dynamodb.describe_table"}
    assert isinstance(info.value.__cause__, ClientError)


@pytest.mark.parametrize(("service", "call", "kwargs"), [
    ("sqs", "get_queue_url", {"QueueName": "webordinary-missing"}),
    ("s3", "head_bucket", {"Bucket": "webordinary-missing-site"}),
    ("stepfunctions", "describe_state_machine",
     {"stateMachineArn": "arn:aws:states:us-west-2:123456789012:stateMachine:missing"}),
])
def test_other_missing_resources_are_failed_resource_missing(aws: AwsClients, service: str, call: str,
                                                             kwargs: dict[str, str]) -> None:
    with pytest.raises(CheckFailed) as info:
        getattr(aws.bound(Deadline.after(10)).client(service), call)(**kwargs)
    assert info.value.reason is Reason.RESOURCE_MISSING


def test_a_paginated_call_on_a_missing_table_is_classified_too(aws: AwsClients) -> None:
    pages = aws.bound(Deadline.after(10)).dynamodb.get_paginator("scan").paginate(TableName="gone")
    with pytest.raises(CheckFailed) as info:
        list(pages)
    assert info.value.reason is Reason.RESOURCE_MISSING


def test_an_expired_deadline_stops_the_call_before_it_is_made(aws: AwsClients) -> None:
    deadline = Deadline.after(0)
    with pytest.raises(DeadlineExceeded, match=r"dynamodb\.describe_table"):
        aws.bound(deadline).dynamodb.describe_table(TableName="anything")


def test_the_runner_reports_a_missing_table_as_failed_resource_missing(aws: AwsClients) -> None:
    @check("dynamodb.sessions_table", depends_on=())
    def sessions_table(ctx: CheckContext) -> None:
        ctx.aws.dynamodb.describe_table(TableName=ctx.config.sessions_table)

    config = CanaryConfig(sessions_table="not-there", confirm_failures=False)
    report = Runner([sessions_table], config=config, aws=aws, http=HttpClient()).run(deadline=Deadline.after(10))
    result = report.checks[0]
    assert (result.outcome, result.reason) == (Outcome.FAILED, Reason.RESOURCE_MISSING)
    assert result.evidence["aws_error_code"] == "ResourceNotFoundException"
    assert report.exit_code == 1


def test_no_credentials_on_a_real_call_is_error_credentials_missing(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path, moto_endpoint: str) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    aws = AwsClients(boto3.Session(region_name="us-west-2"), timeout_s=2)
    with pytest.raises(CanaryError) as info:
        aws.bound(Deadline.after(60)).sts.get_caller_identity()  # generous: first client build is slow under load
    assert info.value.reason is Reason.CREDENTIALS_MISSING


def test_an_unreachable_aws_endpoint_is_a_transient_canary_error_retried_once(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port that was just free: nothing listens there
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    for key, value in OFFLINE_AWS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port}")
    aws = AwsClients(boto3.Session(), timeout_s=2)
    calls: list[int] = []

    @check("aws.credentials", depends_on=())
    def credentials(ctx: CheckContext) -> None:
        calls.append(1)
        ctx.aws.sts.get_caller_identity()

    result = Runner([credentials], config=CanaryConfig(), aws=aws, http=HttpClient()).run(
        deadline=Deadline.after(10)).checks[0]
    assert len(calls) == 2
    assert (result.outcome, result.reason, result.retries) == (Outcome.ERROR, Reason.AWS_ERROR, 1)
    assert "unreachable" in result.message


# --- retries: botocore's standard mode, bounded by the deadline ------------------------------------------------


def test_exhausted_throttling_names_the_retries_and_stays_an_error() -> None:
    exc = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"},
                       "ResponseMetadata": {"RetryAttempts": 3}}, "DescribeTable")
    verdict = classify_aws_error(exc, operation="dynamodb.describe_table")
    assert (type(verdict), verdict.reason) == (CanaryError, Reason.THROTTLED)
    assert verdict.message.endswith("(dynamodb.describe_table) after 3 retries")
    assert verdict.evidence["retry_attempts"] == 3


def test_clients_use_the_standard_retry_mode_with_more_than_one_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in OFFLINE_AWS.items():
        monkeypatch.setenv(key, value)
    client = AwsClients(boto3.Session(), timeout_s=2).client("dynamodb")
    retries = client.meta.config.retries
    assert retries["mode"] == "standard" and retries["total_max_attempts"] == 4
