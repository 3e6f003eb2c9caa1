"""Least privilege: reads on named resources, scoped writes, conditions where resources cannot be named."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.conftest import ACCOUNT, PRODUCTION, QUEUE, STAGING, Synthesized
from tests.infra.template_tools import as_list, iter_statements, render, role_of, statements_by_role

P = "webordinary-canary-production"
S = "webordinary-canary-staging"
Q = "webordinary-canary-queue"
WRITE_VERBS = ("Put", "Update", "Delete", "Create", "Set", "Send", "Start", "Stop", "Run", "Invoke", "Tag",
               "Purge", "Receive", "Change", "Modify", "Register", "Deregister", "Attach", "Detach", "Pass")


def statements(synthesized: Synthesized, stack: str, function_name: str) -> dict[str, dict[str, Any]]:
    """A function role's statements by Sid (those CDK adds have none: keyed by service, 'xray' or 'sqs')."""
    template = synthesized.json(stack)
    out = {}
    for statement in statements_by_role(template)[role_of(template, function_name)]:
        out[statement.get("Sid") or sorted(actions(statement))[0].split(":")[0]] = statement
    return out


def actions(statement: dict[str, Any]) -> set[str]:
    return set(as_list(statement["Action"]))


def resources_of(statement: dict[str, Any]) -> list[str]:
    return [render(r) for r in as_list(statement["Resource"])]


def is_write(action: str) -> bool:
    return action.split(":", 1)[1].startswith(WRITE_VERBS)


@pytest.mark.parametrize("stack", [PRODUCTION, STAGING, QUEUE])
def test_no_wildcard_actions_and_never_receive_from_platform_queues(synthesized: Synthesized, stack: str) -> None:
    for _, statement in iter_statements(synthesized.json(stack)):
        assert statement["Effect"] == "Allow"
        for action in actions(statement):
            assert "*" not in action, statement
            # ReceiveMessage would raise receive counts and push real work into dead-letter queues (DESIGN §1).
            assert action not in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:PurgeQueue"), statement


@pytest.mark.parametrize("stack", [PRODUCTION, STAGING, QUEUE])
def test_write_actions_on_wildcard_resources_are_only_the_unscopable_ones(synthesized: Synthesized,
                                                                         stack: str) -> None:
    template = synthesized.json(stack)
    destructive_role = next((role_of(template, n) for n in ("webordinary-canary-staging-destructive",)
                             if stack == STAGING), None)
    for role, statement in iter_statements(template):
        writes = {a for a in actions(statement) if is_write(a)}
        wildcard = [r for r in resources_of(statement) if "*" in r]
        if not (writes and wildcard):
            continue
        if writes == {"cloudwatch:PutMetricData"}:
            assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Webordinary/Canary"}}
        elif writes == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}:
            assert resources_of(statement) == ["*"]
        elif writes == {"ecs:StopTask"} and role == destructive_role:
            # Restarting an edit task (ids known only at run time) in a test environment: one cluster only.
            assert set(statement["Condition"]["ArnEquals"]) == {"ecs:cluster"}
        elif writes == {"logs:CreateLogStream", "logs:PutLogEvents"}:
            # Streams are named by Lambda; the group is the function's own.
            (group,) = resources_of(statement)
            assert group.startswith("arn:aws:logs:") and ":log-group:/aws/lambda/webordinary-canary-" in group
            assert group.endswith(":*")
        else:
            pytest.fail(f"write on a wildcard resource: {statement}")


def test_probe_is_read_only_apart_from_metrics_and_the_selftest_alarm(synthesized: Synthesized) -> None:
    probe = statements(synthesized, PRODUCTION, f"{P}-probe")
    writes = {a for s in probe.values() for a in actions(s) if is_write(a)}
    assert writes == {"cloudwatch:PutMetricData", "cloudwatch:SetAlarmState", "logs:CreateLogStream",
                      "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords", "sqs:SendMessage"}
    # The one SQS write: Lambda's on-failure record of its own failed async invocation, to the stack's DLQ.
    assert resources_of(probe["sqs"]) == ["${ScheduleDlqBC80447A.Arn}"]
    selftest = probe["DriveSelfTestAlarm"]
    assert resources_of(selftest) == [
        f"arn:aws:cloudwatch:us-west-2:{ACCOUNT}:alarm:{P}-alert-path-selftest"]
    assert actions(selftest) == {"cloudwatch:SetAlarmState", "cloudwatch:DescribeAlarms",
                                 "cloudwatch:DescribeAlarmHistory"}


def test_describe_and_get_are_scoped_to_the_named_resources(synthesized: Synthesized) -> None:
    probe = statements(synthesized, PRODUCTION, f"{P}-probe")
    cluster = f"arn:aws:ecs:us-west-2:{ACCOUNT}:cluster/webordinary-edit-cluster"
    assert resources_of(probe["EcsDescribeCluster"]) == [cluster]
    assert sorted(resources_of(probe["EcsDescribeServices"])) == [
        f"arn:aws:ecs:us-west-2:{ACCOUNT}:service/webordinary-edit-cluster/webordinary-edit-service",
        f"arn:aws:ecs:us-west-2:{ACCOUNT}:service/webordinary-edit-cluster/webordinary-hermes-service",
    ]
    # ListServices/ListTasks have no resource-level permissions: the cluster condition scopes them.
    assert probe["EcsListInCluster"]["Condition"] == {"ArnEquals": {"ecs:cluster": cluster}}
    assert probe["EcsDescribeTasks"]["Condition"] == {"ArnEquals": {"ecs:cluster": cluster}}
    table = f"arn:aws:dynamodb:us-west-2:{ACCOUNT}:table/webordinary-edit-sessions"
    assert resources_of(probe["ReadSessionsTable"]) == [table, f"{table}/index/*"]
    assert resources_of(probe["EfsDescribe"]) == [
        f"arn:aws:elasticfilesystem:us-west-2:{ACCOUNT}:file-system/fs-0123456789abcdef0"]
    # ELB Describe* and CloudWatch reads have no resource-level permissions; all are read-only.
    assert all(a.split(":")[1].startswith("Describe") for a in actions(probe["AlbDescribe"]))
    assert actions(probe["ReadMetrics"]) == {"cloudwatch:GetMetricData", "cloudwatch:GetMetricStatistics",
                                             "cloudwatch:ListMetrics"}


def test_secrets_are_read_by_arn(synthesized: Synthesized) -> None:
    probe = statements(synthesized, PRODUCTION, f"{P}-probe")
    # A secret named in context: its ARN with the 6-character suffix Secrets Manager appends.
    assert resources_of(probe["ReadHermesToken"]) == [
        f"arn:aws:secretsmanager:us-west-2:{ACCOUNT}:secret:webordinary/hermes-api-token-??????"]
    staging = statements(synthesized, STAGING, f"{S}-journey")
    assert resources_of(staging["ReadHermesToken"]) == [
        f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:hermes-token-AbCdEf"]
    assert staging["DecryptHermesToken"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}
    queue = statements(synthesized, QUEUE, f"{Q}-probe")
    assert not [a for s in queue.values() for a in actions(s) if a.startswith("secretsmanager:")]


def test_journey_puts_only_prefixed_items_and_deletes_only_in_the_sessions_table(synthesized: Synthesized) -> None:
    journey = statements(synthesized, PRODUCTION, f"{P}-journey")
    table = f"arn:aws:dynamodb:us-west-2:{ACCOUNT}:table/webordinary-edit-sessions"
    dynamodb_writes = {sid for sid, s in journey.items()
                       if any(a.startswith("dynamodb:") and is_write(a) for a in actions(s))}
    assert dynamodb_writes == {"PutOwnPrefixedItems", "DeleteSyntheticRecords"}
    put = journey["PutOwnPrefixedItems"]  # the run lock: every key attribute is <prefix>canary-lock
    assert actions(put) == {"dynamodb:PutItem"} and resources_of(put) == [table]
    assert put["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["TEST_*"]},
                                "Null": {"dynamodb:LeadingKeys": "false"}}
    delete = journey["DeleteSyntheticRecords"]
    # Hermes assigns the sessionId partition key, so LeadingKeys cannot apply to leftover session records; the
    # harness deletes with a server-side begins_with(<user key>, prefix) condition instead.
    assert actions(delete) == {"dynamodb:DeleteItem"} and resources_of(delete) == [table]
    assert not [a for s in journey.values() for a in actions(s) if a.startswith("ecs:") and is_write(a)]


def test_sweeper_only_reads_and_deletes_in_the_sessions_table(synthesized: Synthesized) -> None:
    sweeper = statements(synthesized, PRODUCTION, f"{P}-sweeper")
    table = f"arn:aws:dynamodb:us-west-2:{ACCOUNT}:table/webordinary-edit-sessions"
    dynamodb = {a for s in sweeper.values() for a in actions(s) if a.startswith("dynamodb:")}
    assert dynamodb == {"dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive", "dynamodb:GetItem",
                        "dynamodb:Query", "dynamodb:Scan", "dynamodb:DeleteItem"}
    assert resources_of(sweeper["DeleteSyntheticRecords"]) == [table]
    services = {a.split(":")[0] for s in sweeper.values() for a in actions(s)}
    # The Hermes token: the sweeper deactivates leftovers through Hermes before it deletes records.
    assert services == {"logs", "cloudwatch", "dynamodb", "secretsmanager", "xray", "sqs"}
    assert resources_of(sweeper["sqs"]) == ["${ScheduleDlqBC80447A.Arn}"]  # on-failure records only
    assert "PutOwnPrefixedItems" not in sweeper  # it takes no run lock


def test_only_the_destructive_function_may_change_capacity_and_only_of_the_edit_service(
        synthesized: Synthesized) -> None:
    for stack, prefix, kinds in ((PRODUCTION, P, ("probe", "journey", "sweeper")),
                                 (STAGING, S, ("probe", "journey", "sweeper"))):
        for kind in kinds:
            assert "ecs:UpdateService" not in {a for s in statements(synthesized, stack, f"{prefix}-{kind}").values()
                                               for a in actions(s)}
    destructive = statements(synthesized, STAGING, f"{S}-destructive")
    scale = destructive["ScaleEditServiceInTestEnvironment"]
    assert actions(scale) == {"ecs:UpdateService"}
    assert resources_of(scale) == [
        f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/webordinary-edit-cluster/webordinary-edit-service"]
    restart = destructive["RestartEditTaskInTestEnvironment"]
    assert actions(restart) == {"ecs:StopTask"}
    assert resources_of(restart) == [f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/webordinary-edit-cluster/*"]
    assert restart["Condition"] == {
        "ArnEquals": {"ecs:cluster": f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/webordinary-edit-cluster"}}


def test_queue_profile_reads_its_resources_by_name(synthesized: Synthesized) -> None:
    probe = statements(synthesized, QUEUE, f"{Q}-probe")
    machine = f"arn:aws:states:us-west-2:{ACCOUNT}:stateMachine:email-processor"
    assert resources_of(probe["StepFunctionsRead"]) == [machine]
    assert resources_of(probe["StepFunctionsDescribeExecutions"]) == [
        f"arn:aws:states:us-west-2:{ACCOUNT}:execution:email-processor:*"]
    assert set(resources_of(probe["SqsAttributes"])) == {
        f"arn:aws:sqs:us-west-2:{ACCOUNT}:webordinary-unclaimed",
        f"arn:aws:sqs:us-west-2:{ACCOUNT}:webordinary-email-dlq",
        f"arn:aws:sqs:us-west-2:{ACCOUNT}:webordinary-*",  # discovery by name prefix (QUEUE_NAME_PREFIX)
    }
    assert actions(probe["SqsAttributes"]) == {"sqs:GetQueueAttributes", "sqs:GetQueueUrl",
                                               "sqs:ListDeadLetterSourceQueues"}
    assert resources_of(probe["SiteIndexRead"]) == ["arn:aws:s3:::edit.amelia.webordinary.com/index.html"]
    assert resources_of(probe["SiteBucketList"]) == ["arn:aws:s3:::edit.amelia.webordinary.com"]
    ownership = f"arn:aws:dynamodb:us-west-2:{ACCOUNT}:table/webordinary-container-ownership"
    assert resources_of(probe["ReadOwnershipTable"]) == [ownership, f"{ownership}/index/*"]
    # The queue profile never touches the session platform's table.
    assert not any("webordinary-edit-sessions" in r for s in probe.values() for r in resources_of(s))


@pytest.mark.parametrize(("resolved", "finding"), [
    ("*", "*"),
    ("arn:${AWS::Partition}:logs:x", "arn:<AWS::Partition>:logs:x"),
    ({"Fn::Join": ["", ["arn:aws:dynamodb:eu-west-1:", {"Ref": "AWS::AccountId"}, ":table/t/index/*"]]},
     "arn:aws:dynamodb:eu-west-1:<AWS::AccountId>:table/t/index/*"),
    ({"Fn::GetAtt": ["Queue1234", "Arn"]}, "<Queue1234.Arn>"),
])
def test_wildcard_findings_are_rendered_as_cdk_nag_names_them(resolved: Any, finding: str) -> None:
    # Acknowledgment ids must match cdk-nag's own rendering exactly (its flattenCfnReference), or they do nothing.
    from infra.permissions import flatten_reference

    assert flatten_reference(resolved) == finding


def test_a_configured_platform_stack_is_described_by_name_for_deploy_awareness(synthesized: Synthesized) -> None:
    staging = statements(synthesized, STAGING, f"{S}-probe")
    assert actions(staging["DescribePlatformStack"]) == {"cloudformation:DescribeStacks"}
    assert resources_of(staging["DescribePlatformStack"]) == [
        f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/WebordinaryEditStack/*"]
    production = statements(synthesized, PRODUCTION, f"{P}-probe")
    assert "DescribePlatformStack" not in production  # not configured there: no grant


# -- what moto does not evaluate (sandbox/iam_mode.py): pinned on the template instead ------------------------------
# moto's IAM enforcement (tests/integration/test_iam_as_deployed.py) checks actions, and resources only for S3 and
# SQS; it passes every condition of an identity policy and evaluates no resource policy. So each condition and each
# resource policy the stacks hold is asserted here; a new one fails these tests until it is pinned too.

def expected_conditions(stack: str) -> dict[str, dict[str, Any]]:
    """Sid -> the one Condition that statement may carry, per stack (region, cluster, test prefix)."""
    region = "us-east-1" if stack == STAGING else "us-west-2"
    cluster = f"arn:aws:ecs:{region}:{ACCOUNT}:cluster/webordinary-edit-cluster"
    from harness.contract import NAMESPACE

    return {
        "PutCanaryMetrics": {"StringEquals": {"cloudwatch:namespace": NAMESPACE}},
        "EcsListInCluster": {"ArnEquals": {"ecs:cluster": cluster}},
        "EcsDescribeTasks": {"ArnEquals": {"ecs:cluster": cluster}},
        "RestartEditTaskInTestEnvironment": {"ArnEquals": {"ecs:cluster": cluster}},
        # ForAllValues passes when the key is absent from the request: the Null test requires it.
        "PutOwnPrefixedItems": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["TEST_*"]},
                                "Null": {"dynamodb:LeadingKeys": "false"}},
        "DecryptHermesToken": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
    }


@pytest.mark.parametrize("stack", [PRODUCTION, STAGING, QUEUE])
def test_every_condition_moto_ignores_is_pinned(synthesized: Synthesized, stack: str) -> None:
    expected = expected_conditions(stack)
    seen = set()
    for _, statement in iter_statements(synthesized.json(stack)):
        sid = statement.get("Sid")
        if "Condition" not in statement:
            assert sid not in expected, f"{sid} lost its condition: {statement}"
            continue
        assert sid in expected, f"a condition moto does not evaluate and no test pins: {statement}"
        assert statement["Condition"] == expected[sid], statement
        seen.add(sid)
    # Every conditioned grant the stack needs is there (the staging stack has them all but none is optional).
    assert {"PutCanaryMetrics"} <= seen
    if stack == STAGING:
        assert seen == set(expected)


@pytest.mark.parametrize("stack", [PRODUCTION, STAGING, QUEUE])
def test_item_writes_are_the_lock_put_with_leading_keys_and_the_table_scoped_delete(synthesized: Synthesized,
                                                                                   stack: str) -> None:
    template = synthesized.json(stack)
    for _, statement in iter_statements(template):
        writes = {a for a in actions(statement) if a.startswith("dynamodb:") and is_write(a)}
        if not writes:
            continue
        (table,) = resources_of(statement)  # the table itself: never an index, never a wildcard
        assert table.endswith(":table/webordinary-edit-sessions") and "*" not in table, statement
        if writes == {"dynamodb:PutItem"}:
            assert statement["Sid"] == "PutOwnPrefixedItems" and actions(statement) == writes
            assert statement["Condition"] == expected_conditions(stack)["PutOwnPrefixedItems"]
        else:
            assert writes == {"dynamodb:DeleteItem"} and actions(statement) == writes, statement
            assert statement["Sid"] == "DeleteSyntheticRecords" and "Condition" not in statement


def test_iam_cannot_require_a_condition_on_delete_item_so_every_harness_delete_carries_one() -> None:
    # DeleteSyntheticRecords has no IAM condition (Hermes assigns the partition key, so LeadingKeys cannot apply):
    # the guard is the server-side ConditionExpression on every DeleteItem the harness sends.
    import ast
    from pathlib import Path

    calls = []
    for path in sorted(Path(__file__).resolve().parents[2].joinpath("harness").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "delete_item":
                calls.append((path.name, node.lineno, {k.arg for k in node.keywords}))
    assert calls, "no DeleteItem call found: the scan is broken"
    for name, line, keywords in calls:
        assert "ConditionExpression" in keywords, f"harness/{name}:{line} deletes without a ConditionExpression"


RESOURCE_POLICY_TYPES = {"AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy", "AWS::Lambda::Permission"}


@pytest.mark.parametrize("stack", [PRODUCTION, STAGING, QUEUE])
def test_resource_policies_moto_does_not_evaluate_are_the_pinned_kinds(synthesized: Synthesized, stack: str) -> None:
    template = synthesized.json(stack)
    kinds = {r["Type"] for r in template["Resources"].values()
             if r["Type"].endswith(("Policy", "::Permission")) and r["Type"] != "AWS::IAM::Policy"}
    # The topic policy is pinned in test_cdk_alert_path, the DLQ's in test_cdk_stack; a new kind needs its own test.
    assert kinds == RESOURCE_POLICY_TYPES, kinds - RESOURCE_POLICY_TYPES
    rules = {k for k, r in template["Resources"].items() if r["Type"] == "AWS::Events::Rule"}
    functions = {k for k, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}
    for permission in synthesized.resources(stack, "AWS::Lambda::Permission").values():
        props = permission["Properties"]
        # Only EventBridge may invoke, and only from this stack's own schedule rules (aws:SourceArn).
        assert props["Action"] == "lambda:InvokeFunction" and props["Principal"] == "events.amazonaws.com"
        assert props["SourceArn"]["Fn::GetAtt"][0] in rules and props["FunctionName"]["Fn::GetAtt"][0] in functions
