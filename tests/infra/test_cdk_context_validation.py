"""Issue 11.7 and 11.9: context values that would fail the deploy or silently misdirect production are refused at
synth, naming the key; the Powertools layer comes from the publisher account of the stack's partition."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import KNOWN_KEYS, EnvironmentConfig, InfraConfigError, environment_config
from infra.lambda_environment import refusal
from infra.powertools_layer import layer_arn, partition_of
from tests.infra.conftest import TEST_CONTEXT

DEFAULTS = {k: v for k, v in TEST_CONTEXT.items() if k in KNOWN_KEYS}
(QUEUE_ENTRY,) = [e for e in TEST_CONTEXT["environments"] if e["name"] == "queue"]


def config(**overrides: Any) -> EnvironmentConfig:
    return environment_config(DEFAULTS, {**QUEUE_ENTRY, **overrides})


# -- reserved concurrency (11.7) -------------------------------------------------------------------------------

def test_reserved_concurrency_is_unset_by_default() -> None:
    assert config().reserved_concurrency is None
    assert config(reserved_concurrency=None).reserved_concurrency is None
    assert config(reserved_concurrency="").reserved_concurrency is None


@pytest.mark.parametrize(("value", "expected"), [(1, 1), (5, 5), ("3", 3)])
def test_reserved_concurrency_takes_a_positive_whole_number(value: Any, expected: int) -> None:
    assert config(reserved_concurrency=value).reserved_concurrency == expected


@pytest.mark.parametrize("value", [0, -1, "two", 1.5, True, 100_000])
def test_reserved_concurrency_refuses_anything_else_naming_the_key(value: Any) -> None:
    with pytest.raises(InfraConfigError, match="'reserved_concurrency'"):
        config(reserved_concurrency=value)


# -- extra_environment (11.9) ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    # Lambda's reserved runtime keys (CreateFunction fails)...
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_EXEC_WRAPPER", "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
    # ...and the SDK's endpoint, credential, profile and CA variables (silently redirect production calls).
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_STS", "AWS_PROFILE", "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE", "AWS_CA_BUNDLE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_USE_FIPS_ENDPOINT",
])
def test_extra_environment_refuses_reserved_and_redirecting_keys_naming_them(name: str) -> None:
    with pytest.raises(InfraConfigError, match=rf"context 'extra_environment': '{name}' may not be set"):
        config(extra_environment={"CANARY_LATENCY_SAMPLES": "3", name: "x"})


@pytest.mark.parametrize("name", ["CANARY_LATENCY_SAMPLES", "TZ", "LANG", "AWS_XRAY_CONTEXT_MISSING",
                                  "POWERTOOLS_LOG_LEVEL"])
def test_extra_environment_keeps_what_lambda_and_the_sdk_leave_to_the_function(name: str) -> None:
    assert refusal(name) is None
    assert config(extra_environment={name: "1"}).extra_environment == {name: "1"}


# -- Powertools layer per partition (11.9) -----------------------------------------------------------------------

@pytest.mark.parametrize(("region", "arn"), [
    ("us-west-2", "arn:aws:lambda:us-west-2:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-arm64:27"),
    ("eu-central-1",
     "arn:aws:lambda:eu-central-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-arm64:27"),
    ("cn-north-1",
     "arn:aws-cn:lambda:cn-north-1:498634801083:layer:AWSLambdaPowertoolsPythonV3-python312-arm64:27"),
    ("us-gov-east-1",
     "arn:aws-us-gov:lambda:us-gov-east-1:165087284144:layer:AWSLambdaPowertoolsPythonV3-python312-arm64:27"),
    ("us-gov-west-1",
     "arn:aws-us-gov:lambda:us-gov-west-1:165093116878:layer:AWSLambdaPowertoolsPythonV3-python312-arm64:27"),
])
def test_layer_arn_uses_the_publisher_account_of_the_partition(region: str, arn: str) -> None:
    assert layer_arn(region, "27") == arn


def test_a_region_without_a_public_layer_fails_synth_clearly() -> None:
    assert partition_of("cn-northwest-1") == "aws-cn"
    with pytest.raises(InfraConfigError, match=r"context 'region': .*no public layer in cn-northwest-1.*cn-north-1"):
        layer_arn("cn-northwest-1", "27")


def _synth(tmp_path: Any, entry: dict[str, Any]) -> Any:
    from aws_cdk.assertions import Template

    from infra.stacks import build_app, canary_stacks

    context = {**TEST_CONTEXT, "environments": [{**QUEUE_ENTRY, **entry}]}
    app = build_app(context, outdir=str(tmp_path))
    (stack,) = canary_stacks(app)
    return Template.from_stack(stack)


def test_a_china_stack_takes_the_china_layer_and_its_alarms_can_still_notify(tmp_path: Any) -> None:
    from tests.infra.alert_path import check_alert_path

    account = QUEUE_ENTRY["account"]
    template = _synth(tmp_path, {"region": "cn-north-1", "powertools_layer_version": "27",
                                 "state_machine_arn": f"arn:aws-cn:states:cn-north-1:{account}:stateMachine:p",
                                 "queue_urls": [f"https://sqs.cn-north-1.amazonaws.com.cn/{account}/q"],
                                 "dlq_urls": [f"https://sqs.cn-north-1.amazonaws.com.cn/{account}/d"]})
    layers = {str(f["Properties"]["Layers"][0]) for f in template.find_resources("AWS::Lambda::Function").values()
              if "Layers" in f["Properties"]}
    assert layers == {"arn:aws-cn:lambda:cn-north-1:498634801083:layer:"
                      "AWSLambdaPowertoolsPythonV3-python312-arm64:27"}
    assert check_alert_path(template, region="cn-north-1", account=account).problems == []


def test_a_release_or_latest_cannot_resolve_outside_the_commercial_partition(tmp_path: Any) -> None:
    with pytest.raises(InfraConfigError, match=r"'powertools_layer_version': 'latest'.*commercial regions"):
        _synth(tmp_path, {"region": "us-gov-west-1", "powertools_layer_version": "latest"})
