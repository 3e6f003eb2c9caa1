"""Functions, schedules and their inputs, overlap guard, retries, DLQ, logs, layer and environment."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.contract import CHECK_IDS_BY_PROFILE, NAMESPACE, NON_PROBE_TIERS, SERVICE_NAME
from tests.infra.conftest import ACCOUNT, PRODUCTION, QUEUE, STAGING, Synthesized
from tests.infra.template_tools import by_property, function_by_name, logical_id, render, resources

P = "webordinary-canary-production"
S = "webordinary-canary-staging"
Q = "webordinary-canary-queue"

# function name -> (handler, memory MB, timeout s, schedule, constant input, max event age s)
EXPECTED_FUNCTIONS: dict[str, dict[str, tuple[str, int, int, str, dict[str, Any], int]]] = {
    PRODUCTION: {
        f"{P}-probe": ("handlers.canary.lambda_handler", 512, 300, "rate(15 minutes)", {"tiers": ["probe"]}, 900),
        f"{P}-journey": ("handlers.canary.lambda_handler", 512, 600, "rate(1 hour)", {"tiers": ["journey"]}, 3600),
        f"{P}-sweeper": ("handlers.sweeper.lambda_handler", 256, 300, "rate(1 hour)", {}, 3600),
    },
    STAGING: {
        # staging disables alb.targets and alb.rules: its probe schedule names the enabled probe checks instead
        f"{S}-probe": ("handlers.canary.lambda_handler", 512, 300, "rate(15 minutes)", {"checks": [
            c for c in CHECK_IDS_BY_PROFILE["session-platform"]
            if NON_PROBE_TIERS.get(c, "probe") == "probe" and c not in ("alb.targets", "alb.rules")]}, 900),
        f"{S}-journey": ("handlers.canary.lambda_handler", 512, 600, "rate(1 hour)", {"tiers": ["journey"]}, 3600),
        f"{S}-destructive": ("handlers.canary.lambda_handler", 512, 900, "rate(12 hours)",
                             {"tiers": ["destructive"]}, 21600),
        f"{S}-sweeper": ("handlers.sweeper.lambda_handler", 256, 300, "rate(1 hour)", {}, 3600),
    },
    QUEUE: {
        f"{Q}-probe": ("handlers.canary.lambda_handler", 512, 300, "rate(15 minutes)", {"tiers": ["probe"]}, 900),
    },
}
CASES = [(stack, name, spec) for stack, functions in EXPECTED_FUNCTIONS.items() for name, spec in functions.items()]


@pytest.mark.parametrize("stack", list(EXPECTED_FUNCTIONS))
def test_one_function_per_scheduled_tier_plus_the_sweeper(synthesized: Synthesized, stack: str) -> None:
    # Destructive only where the context enables it; no sweeper where nothing creates sessions (queue profile).
    functions = by_property(synthesized.json(stack), "AWS::Lambda::Function", "FunctionName")
    assert set(functions) == set(EXPECTED_FUNCTIONS[stack])


@pytest.mark.parametrize(("stack", "name", "spec"), CASES, ids=[c[1] for c in CASES])
def test_function_runtime_sizing_and_overlap_guard(synthesized: Synthesized, stack: str, name: str,
                                                   spec: tuple[str, int, int, str, dict[str, Any], int]) -> None:
    handler, memory, timeout, _, _, _ = spec
    fn = function_by_name(synthesized.json(stack), name)
    assert fn["Runtime"] == "python3.12"
    assert fn["Architectures"] == ["arm64"]
    assert fn["Handler"] == handler
    assert fn["MemorySize"] == memory
    assert fn["Timeout"] == timeout
    assert "ReservedConcurrentExecutions" not in fn  # the run lock guards overlap (issue 11.7)
    assert fn["TracingConfig"] == {"Mode": "Active"}


@pytest.mark.parametrize(("stack", "name", "spec"), CASES, ids=[c[1] for c in CASES])
def test_schedule_passes_a_constant_input_with_no_retries_and_a_dlq(
        synthesized: Synthesized, stack: str, name: str, spec: tuple[str, int, int, str, dict[str, Any], int]) -> None:
    _, _, _, schedule, event, _ = spec
    template = synthesized.json(stack)
    rule = by_property(template, "AWS::Events::Rule", "Name")[f"{name}-schedule"]
    assert rule["ScheduleExpression"] == schedule
    assert rule["State"] == "ENABLED"
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [logical_id(template, "AWS::Lambda::Function", "FunctionName", name),
                                            "Arn"]}
    assert json.loads(target["Input"]) == event
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 0}
    dlq = logical_id(template, "AWS::SQS::Queue", "QueueName", f"{name.rsplit('-', 1)[0]}-schedule-dlq")
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq, "Arn"]}}


@pytest.mark.parametrize(("stack", "name", "spec"), CASES, ids=[c[1] for c in CASES])
def test_async_invocations_are_never_retried(synthesized: Synthesized, stack: str, name: str,
                                             spec: tuple[str, int, int, str, dict[str, Any], int]) -> None:
    template = synthesized.json(stack)
    fn_id = logical_id(template, "AWS::Lambda::Function", "FunctionName", name)
    (config,) = [r["Properties"] for r in resources(template, "AWS::Lambda::EventInvokeConfig").values()
                 if r["Properties"]["FunctionName"] == {"Ref": fn_id} and r["Properties"]["Qualifier"] == "$LATEST"]
    assert config["MaximumRetryAttempts"] == 0
    assert config["MaximumEventAgeInSeconds"] == spec[5]


@pytest.mark.parametrize(("stack", "name", "spec"), CASES, ids=[c[1] for c in CASES])
def test_explicit_log_group_with_retention(synthesized: Synthesized, stack: str, name: str,
                                           spec: tuple[str, int, int, str, dict[str, Any], int]) -> None:
    template = synthesized.json(stack)
    group_id = logical_id(template, "AWS::Logs::LogGroup", "LogGroupName", f"/aws/lambda/{name}")
    group = template["Resources"][group_id]
    assert group["Properties"]["RetentionInDays"] == 30
    assert group["DeletionPolicy"] == "Delete"
    assert function_by_name(template, name)["LoggingConfig"] == {"LogGroup": {"Ref": group_id}}


def test_schedule_dlq_is_encrypted_tls_only_and_writable_by_the_rules_only(synthesized: Synthesized) -> None:
    template = synthesized.json(PRODUCTION)
    queue_id = logical_id(template, "AWS::SQS::Queue", "QueueName", f"{P}-schedule-dlq")
    queue = template["Resources"][queue_id]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600
    (policy,) = resources(template, "AWS::SQS::QueuePolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and deny["Action"] == "sqs:*"
    allows = [s for s in statements if s["Effect"] == "Allow"]
    rules = {k for k in resources(template, "AWS::Events::Rule")}
    assert {s["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::GetAtt"][0] for s in allows} == rules
    assert all(s["Principal"] == {"Service": "events.amazonaws.com"} and s["Action"] == "sqs:SendMessage"
               for s in allows)


def test_alert_topic_requires_tls_and_subscribes_the_configured_email(synthesized: Synthesized) -> None:
    template = synthesized.json(PRODUCTION)
    topic_id = logical_id(template, "AWS::SNS::Topic", "TopicName", f"{P}-alerts")
    (policy,) = resources(template, "AWS::SNS::TopicPolicy").values()
    (deny,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    (subscription,) = [r["Properties"] for r in resources(template, "AWS::SNS::Subscription").values()]
    assert subscription == {"Endpoint": "oncall@example.com", "Protocol": "email", "TopicArn": {"Ref": topic_id}}
    assert not resources(synthesized.json(QUEUE), "AWS::SNS::Subscription")  # e-mail is optional


def test_probe_environment_follows_design_section_4(synthesized: Synthesized) -> None:
    env = function_by_name(synthesized.json(PRODUCTION), f"{P}-probe")["Environment"]["Variables"]
    assert env == {
        "CANARY_ENVIRONMENT": "production",
        "CANARY_PROFILE": "session-platform",
        "CANARY_TIERS": "probe",
        "CANARY_ALLOW_DESTRUCTIVE": "false",
        "CANARY_RUN_TIMEOUT_S": "270",
        "CANARY_MAINTENANCE_WINDOWS": '[{"start":"2026-12-24T22:00:00Z","end":"2026-12-25T06:00:00Z"}]',
        "CANARY_SELFTEST_ALARM": f"{P}-alert-path-selftest",
        "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,
        "CANARY_REQUIRED_CHECKS": "aws.credentials,config.valid,ecs.cluster,ecs.services,dynamodb.sessions_table,"
                                  "alb.targets,alb.rules,efs.filesystem,http.hermes_health,http.routing,"
                                  "cloudwatch.platform_metrics,latency.baseline,cleanup.orphans",
        "WEBORDINARY_BASE_URL": "https://edit.webordinary.com",
        "HERMES_API_TOKEN_SECRET": "webordinary/hermes-api-token",
        "ECS_CLUSTER": "webordinary-edit-cluster",
        "HERMES_SERVICE": "webordinary-hermes-service",
        "EDIT_SERVICE": "webordinary-edit-service",
        "SESSIONS_TABLE": "webordinary-edit-sessions",
        "TARGET_GROUP_ARNS": (
            f"arn:aws:elasticloadbalancing:us-west-2:{ACCOUNT}:targetgroup/hermes-api-tg/0123456789abcdef,"
            f"arn:aws:elasticloadbalancing:us-west-2:{ACCOUNT}:targetgroup/edit-api-tg/fedcba9876543210"
        ),
        "LOAD_BALANCER_ARN": (
            f"arn:aws:elasticloadbalancing:us-west-2:{ACCOUNT}:loadbalancer/app/webordinary-edit-alb/0123456789abcdef"
        ),
        "EFS_FILE_SYSTEM_ID": "fs-0123456789abcdef0",
        "OWNERSHIP_TABLE": "webordinary-container-ownership",
        "QUEUE_NAME_PREFIX": "webordinary-",
        "TEST_PREFIX": "TEST_",
    }


def test_only_the_destructive_function_may_run_destructive_checks(synthesized: Synthesized) -> None:
    template = synthesized.json(STAGING)
    for name in EXPECTED_FUNCTIONS[STAGING]:
        env = function_by_name(template, name)["Environment"]["Variables"]
        assert env["CANARY_ALLOW_DESTRUCTIVE"] == ("true" if name.endswith("-destructive") else "false")
        assert env.get("CANARY_TIERS") == (None if name.endswith("-sweeper") else name.rsplit("-", 1)[1])
        assert env["CANARY_LATENCY_SAMPLES"] == "3"  # extra_environment passes through


def test_queue_profile_stack_configures_the_queue_checks(synthesized: Synthesized) -> None:
    env = function_by_name(synthesized.json(QUEUE), f"{Q}-probe")["Environment"]["Variables"]
    assert env["CANARY_PROFILE"] == "queue-platform"
    assert env["STATE_MACHINE_ARN"] == f"arn:aws:states:us-west-2:{ACCOUNT}:stateMachine:email-processor"
    assert env["QUEUE_URLS"] == f"https://sqs.us-west-2.amazonaws.com/{ACCOUNT}/webordinary-unclaimed"
    assert env["DLQ_URLS"] == f"https://sqs.us-west-2.amazonaws.com/{ACCOUNT}/webordinary-email-dlq"
    assert env["SITE_URLS"] == "https://edit.amelia.webordinary.com/"
    assert env["SITE_BUCKETS"] == "edit.amelia.webordinary.com"


def test_powertools_layer_is_pinned_or_resolved_from_public_ssm(synthesized: Synthesized) -> None:
    # Production pins layer version 27; staging asks for "latest", resolved at deploy time from SSM.
    probe = function_by_name(synthesized.json(PRODUCTION), f"{P}-probe")
    assert probe["Layers"] == [
        "arn:aws:lambda:us-west-2:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-arm64:27"]
    staging = synthesized.json(STAGING)
    (layer,) = function_by_name(staging, f"{S}-probe")["Layers"]
    parameter = staging["Parameters"][layer["Ref"]]
    assert parameter == {"Type": "AWS::SSM::Parameter::Value<String>",
                         "Default": "/aws/service/powertools/python/arm64/python3.12/latest"}


def test_vpc_placement_from_context_ids(synthesized: Synthesized) -> None:
    staging = synthesized.json(STAGING)
    for name in EXPECTED_FUNCTIONS[STAGING]:
        assert function_by_name(staging, name)["VpcConfig"] == {
            "SecurityGroupIds": ["sg-0a1b2c3d4e5f60718"],
            "SubnetIds": ["subnet-0a1b2c3d4e5f60718", "subnet-18f6e5d4c3b2a1f0e"],
        }
        role = staging["Resources"][function_by_name(staging, name)["Role"]["Fn::GetAtt"][0]]["Properties"]
        assert [render(a) for a in role["ManagedPolicyArns"]] == [
            "arn:${Ref:AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"]
    production = synthesized.json(PRODUCTION)
    for name in EXPECTED_FUNCTIONS[PRODUCTION]:
        assert "VpcConfig" not in function_by_name(production, name)
        role = production["Resources"][function_by_name(production, name)["Role"]["Fn::GetAtt"][0]]["Properties"]
        assert "ManagedPolicyArns" not in role  # no AWSLambdaBasicExecutionRole: logs go to its own group only


def test_code_is_one_shared_asset(synthesized: Synthesized) -> None:
    keys = {fn["Code"]["S3Key"] for fn in by_property(synthesized.json(PRODUCTION), "AWS::Lambda::Function",
                                                       "FunctionName").values()}
    assert len(keys) == 1 and next(iter(keys)).endswith(".zip")


def test_invalid_context_fails_before_anything_is_synthesized(tmp_path: Any) -> None:
    from infra.config import InfraConfigError
    from infra.stacks import build_app

    with pytest.raises(InfraConfigError, match="'name'"):
        build_app({"environments": [{"name": "Bad Name", "region": "us-west-2"}]}, outdir=str(tmp_path))
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("value", "enabled"), [(None, True), (True, True), ("true", True), (False, False),
                                                ("false", False), ("0", False)])
def test_cdk_nag_is_on_unless_the_context_turns_it_off(value: Any, enabled: bool) -> None:
    import aws_cdk as cdk

    from infra.nag import nag_enabled

    app = cdk.App(context={} if value is None else {"cdk_nag": value})
    assert nag_enabled(app) is enabled
