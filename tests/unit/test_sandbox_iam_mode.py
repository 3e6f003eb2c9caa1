"""The sandbox's IAM mode, offline parts: the intrinsic resolver, the role lookup and the policy moto can enforce."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.iam_mode import IamMode, IamTemplateError, Resolver, as_moto_evaluates, role_policies

ACCOUNT = "123456789012"
REGION = "us-west-2"


def template(**extra_resources: Any) -> dict[str, Any]:
    """A minimal canary stack: the probe function, its role, its default policy and a DLQ."""
    resources: dict[str, Any] = {
        "Dlq": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "ProbeRole": {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
            "ManagedPolicyArns": [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/Basic"}]}},
        "ProbeFunction": {"Type": "AWS::Lambda::Function", "Properties": {
            "FunctionName": "webordinary-canary-sandbox-probe", "Role": {"Fn::GetAtt": ["ProbeRole", "Arn"]}}},
        "ProbePolicy": {"Type": "AWS::IAM::Policy", "Properties": {"Roles": [{"Ref": "ProbeRole"}], "PolicyDocument": {
            "Version": "2012-10-17", "Statement": [
                {"Sid": "Describe", "Effect": "Allow", "Action": "ecs:DescribeClusters", "Resource": {"Fn::Join": [
                    "", ["arn:", {"Ref": "AWS::Partition"}, ":ecs:", {"Ref": "AWS::Region"}, ":",
                         {"Ref": "AWS::AccountId"}, ":cluster/c"]]}},
                {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["Dlq", "Arn"]}},
                {"Sid": "Metrics", "Effect": "Allow", "Action": ["cloudwatch:PutMetricData"], "Resource": "*",
                 "Condition": {"StringEquals": {"cloudwatch:namespace": "Webordinary/Canary"}}},
            ]}}},
        **extra_resources,
    }
    return {"Resources": resources}


def test_the_role_of_a_function_kind_with_every_intrinsic_resolved() -> None:
    role = role_policies(template(), "probe", account=ACCOUNT, region=REGION)
    assert role.function_name == "webordinary-canary-sandbox-probe"
    describe, send, metrics = role.statements()
    assert describe["Resource"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/c"
    assert send["Resource"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:Dlq"
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Webordinary/Canary"}}
    assert role.managed == ("arn:aws:iam::aws:policy/service-role/Basic",)
    assert role.trust_policy["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}


def test_fn_sub_resolves_pseudo_parameters_attributes_and_its_own_variables() -> None:
    resolver = Resolver(template()["Resources"], ACCOUNT, REGION)
    assert resolver.resolve({"Fn::Sub": "arn:${AWS::Partition}:x:${AWS::Region}:${AWS::AccountId}:${Dlq.Arn}"}) == \
        f"arn:aws:x:{REGION}:{ACCOUNT}:arn:aws:sqs:{REGION}:{ACCOUNT}:Dlq"
    assert resolver.resolve({"Fn::Sub": ["${Name}-${!Literal}", {"Name": {"Ref": "AWS::Region"}}]}) == \
        f"{REGION}-${{Literal}}"


@pytest.mark.parametrize(("value", "named"), [
    ({"Fn::If": ["IsProd", "a", "b"]}, "Fn::If"),
    ({"Fn::ImportValue": "shared-arn"}, "Fn::ImportValue"),
    ({"Ref": "Nowhere"}, "'Nowhere'"),
    ({"Fn::GetAtt": ["ProbeRole", "RoleId"]}, "ProbeRole.RoleId"),
])
def test_an_unsupported_intrinsic_is_a_clear_error_naming_it(value: Any, named: str) -> None:
    resolver = Resolver(template()["Resources"], ACCOUNT, REGION)
    with pytest.raises(IamTemplateError, match=r"cannot be resolved|not supported|neither") as caught:
        resolver.resolve({"Resource": value}, "ProbePolicy")
    assert named in str(caught.value) and "ProbePolicy" in str(caught.value)


def test_a_function_kind_the_template_lacks_names_what_to_fix() -> None:
    with pytest.raises(IamTemplateError, match=r"no function webordinary-canary-<environment>-journey"):
        role_policies(template(), "journey", account=ACCOUNT, region=REGION)
    with pytest.raises(IamTemplateError, match="not one of probe, journey, destructive, sweeper"):
        role_policies(template(), "lambda", account=ACCOUNT, region=REGION)


def test_a_missing_or_foreign_file_is_refused_at_construction(tmp_path: Path) -> None:
    with pytest.raises(IamTemplateError, match="SANDBOX_IAM_TEMPLATE: cannot read"):
        IamMode(tmp_path / "absent.json")
    (tmp_path / "notes.json").write_text('{"hello": 1}', encoding="utf-8")
    with pytest.raises(IamTemplateError, match="not a CloudFormation template"):
        IamMode(tmp_path / "notes.json")
    (tmp_path / "t.json").write_text(json.dumps(template()), encoding="utf-8")
    assert IamMode.from_env({"SANDBOX_IAM_TEMPLATE": str(tmp_path / "t.json")}) is not None
    assert IamMode.from_env({}) is None


def test_the_moto_copy_widens_what_moto_matches_against_star_and_adds_its_action_names() -> None:
    document = {"Statement": [
        {"Effect": "Allow", "Action": "elasticfilesystem:DescribeFileSystems",
         "Resource": "arn:aws:elasticfilesystem:r:a:file-system/fs-1"},
        {"Effect": "Allow", "Action": "sqs:GetQueueAttributes", "Resource": "arn:aws:sqs:r:a:q"},
        {"Effect": "Allow", "Action": "dynamodb:Query", "Resource": ["arn:aws:dynamodb:r:a:table/t/index/*"]},
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::b/index.html"},
        {"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
         "Condition": {"StringEquals": {"cloudwatch:namespace": "N"}}},
    ]}
    efs, sqs, dynamodb, s3, metrics = as_moto_evaluates(document)["Statement"]
    assert efs["Resource"] == "*"  # moto authorizes EFS against "*": a named ARN would never match
    assert dynamodb["Resource"] == ["arn:aws:dynamodb:r:a:table/t/index/*"]  # the sandbox names DynamoDB's resource
    assert sqs["Resource"] == "arn:aws:sqs:r:a:q" and s3["Resource"] == "arn:aws:s3:::b/index.html"
    assert s3["Action"] == ["s3:GetObject", "s3:HeadObject"]
    assert metrics["Action"] == ["cloudwatch:PutMetricData", "monitoring:PutMetricData"]
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "N"}}  # kept; moto passes it
