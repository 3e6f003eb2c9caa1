"""Issue 11.1: every alarm action can really publish (alarm -> action -> topic -> topic policy -> KMS key policy)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from tests.infra.alert_path import check_alert_path
from tests.infra.conftest import ACCOUNT, PRODUCTION, QUEUE, STAGING, Synthesized

REGIONS = {PRODUCTION: "us-west-2", STAGING: "us-east-1", QUEUE: "us-west-2"}


@pytest.mark.parametrize("stack", list(REGIONS))
def test_every_alarm_action_can_publish_to_its_topic(synthesized: Synthesized, stack: str) -> None:
    report = check_alert_path(synthesized.templates[stack], region=REGIONS[stack], account=ACCOUNT)
    assert report.problems == []
    # Non-vacuous: the walk saw the stack's alarms, composites included, and their SNS actions.
    assert report.alarms_checked >= 10
    assert report.actions_checked >= 4


def test_the_topic_policy_scopes_cloudwatch_to_this_accounts_alarms_of_this_stack(synthesized: Synthesized) -> None:
    synthesized.templates[PRODUCTION].has_resource_properties("AWS::SNS::TopicPolicy", {
        "PolicyDocument": {"Statement": Match.array_with([
            Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
            Match.object_like({
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": ACCOUNT},
                    "ArnLike": {"aws:SourceArn":
                                f"arn:aws:cloudwatch:us-west-2:{ACCOUNT}:alarm:webordinary-canary-production-*"},
                },
            }),
        ])},
    })


def _production(synthesized: Synthesized) -> dict[str, Any]:
    return copy.deepcopy(synthesized.json(PRODUCTION))


def _topic_policy(template: dict[str, Any]) -> dict[str, Any]:
    (policy,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::SNS::TopicPolicy"]
    return policy


def test_a_topic_policy_with_only_the_tls_deny_fails_the_walk(synthesized: Synthesized) -> None:
    # Today's defect: enforce_ssl alone writes a policy that replaces SNS's default and allows no one.
    template = _production(synthesized)
    statements = _topic_policy(template)["Properties"]["PolicyDocument"]["Statement"]
    statements[:] = [s for s in statements if s["Effect"] == "Deny"]
    report = check_alert_path(Template.from_json(template), region="us-west-2", account=ACCOUNT)
    assert report.actions_checked >= 4
    assert len(report.problems) == report.actions_checked
    assert all("does not allow CloudWatch to publish" in p for p in report.problems)


def test_an_allow_scoped_to_other_alarms_or_another_account_fails_the_walk(synthesized: Synthesized) -> None:
    for key, value in (("ArnLike", {"aws:SourceArn": f"arn:aws:cloudwatch:us-west-2:{ACCOUNT}:alarm:other-*"}),
                       ("StringEquals", {"aws:SourceAccount": "210987654321"})):
        template = _production(synthesized)
        (allow,) = [s for s in _topic_policy(template)["Properties"]["PolicyDocument"]["Statement"]
                    if s["Effect"] == "Allow"]
        allow["Condition"][key] = value
        report = check_alert_path(Template.from_json(template), region="us-west-2", account=ACCOUNT)
        assert report.problems and all("conditions that do not hold" in p for p in report.problems), key


def test_a_deny_that_matches_cloudwatch_fails_the_walk(synthesized: Synthesized) -> None:
    template = _production(synthesized)
    statements = _topic_policy(template)["Properties"]["PolicyDocument"]["Statement"]
    statements.append({"Effect": "Deny", "Principal": "*", "Action": "sns:*", "Resource": "*", "Sid": "Lockdown"})
    report = check_alert_path(Template.from_json(template), region="us-west-2", account=ACCOUNT)
    assert report.problems and all("the Deny 'Lockdown' applies" in p for p in report.problems)


def _encrypt(template: dict[str, Any], key_statements: list[dict[str, Any]]) -> dict[str, Any]:
    resources = template["Resources"]
    (topic,) = [r for r in resources.values() if r["Type"] == "AWS::SNS::Topic"]
    topic["Properties"]["KmsMasterKeyId"] = {"Fn::GetAtt": ["AlertsKey", "Arn"]}
    resources["AlertsKey"] = {"Type": "AWS::KMS::Key", "Properties": {
        "KeyPolicy": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*",
             "Resource": "*"},
            *key_statements,
        ]}}}
    return template


def test_an_encrypted_topic_needs_a_key_policy_that_lets_cloudwatch_use_the_key(synthesized: Synthesized) -> None:
    without = _encrypt(_production(synthesized), [])
    report = check_alert_path(Template.from_json(without), region="us-west-2", account=ACCOUNT)
    assert report.problems and all("does not let CloudWatch" in p for p in report.problems)

    with_grant = _encrypt(_production(synthesized), [{
        "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
    }])
    assert check_alert_path(Template.from_json(with_grant), region="us-west-2", account=ACCOUNT).problems == []

    managed = _production(synthesized)
    (topic,) = [r for r in managed["Resources"].values() if r["Type"] == "AWS::SNS::Topic"]
    topic["Properties"]["KmsMasterKeyId"] = "alias/aws/sns"
    report = check_alert_path(Template.from_json(managed), region="us-west-2", account=ACCOUNT)
    assert report.problems and all("AWS-managed SNS key" in p for p in report.problems)
