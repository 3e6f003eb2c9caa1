"""Reads a synthesized template as SNS, KMS and CloudWatch would: may each alarm action really publish?

Walk: every alarm (metric and composite) -> each AlarmActions/OKActions/InsufficientDataActions ARN -> the SNS
topic it names -> the AWS::SNS::TopicPolicy resources of that topic (a topic policy replaces SNS's owner-only
default, so only its statements count) -> an Allow for the service principal cloudwatch.amazonaws.com on
sns:Publish whose conditions hold for this alarm's ARN and account, and no Deny that applies to that request
(CloudWatch calls SNS over TLS, so a Deny on ``aws:SecureTransport: false`` does not) -> if the topic is
encrypted, the KMS key policy must let CloudWatch use the key (kms:Decrypt and kms:GenerateDataKey*).

Returns the problems as sentences; an empty list means every action of every alarm can publish.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aws_cdk.assertions import Template

ALARM_TYPES = ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")
ACTION_KEYS = ("AlarmActions", "OKActions", "InsufficientDataActions")
CLOUDWATCH = "cloudwatch.amazonaws.com"


@dataclass(frozen=True)
class Request:
    """What CloudWatch's call looks like to a resource policy: who, which action, which request context."""

    action: str
    context: dict[str, str]


@dataclass
class AlertPathReport:
    alarms_checked: int = 0
    actions_checked: int = 0
    problems: list[str] = field(default_factory=list)


def _partition(region: str) -> str:
    return "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"


def resolve(value: Any, pseudo: dict[str, str], resources: dict[str, Any]) -> str:
    """A CloudFormation string with pseudo parameters and Ref/GetAtt of known resources spelled out."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (fn, arg), = value.items()
        if fn == "Fn::Join":
            return str(arg[0]).join(resolve(v, pseudo, resources) for v in arg[1])
        if fn == "Ref":
            if arg in pseudo:
                return pseudo[arg]
            return f"<Ref:{arg}>"
        if fn == "Fn::GetAtt":
            return f"<GetAtt:{arg[0]}.{arg[1]}>"
        if fn == "Fn::Sub" and isinstance(arg, str):
            for key, val in pseudo.items():
                arg = arg.replace("${" + key + "}", val)
            return arg
    raise AssertionError(f"cannot resolve {value!r}")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal_services(statement: dict[str, Any]) -> set[str]:
    principal = statement.get("Principal")
    if principal == "*" or (isinstance(principal, dict) and principal.get("AWS") == "*"):
        return {"*"}
    if isinstance(principal, dict):
        return {str(s) for s in _as_list(principal.get("Service", []))}
    return set()


def _matches_action(statement: dict[str, Any], action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), str(a).lower()) for a in _as_list(statement.get("Action", [])))


def _conditions_hold(statement: dict[str, Any], request: Request, pseudo: dict[str, str],
                     resources: dict[str, Any]) -> bool:
    """True only if every condition is one we can evaluate and it holds for the request (unknown = False)."""
    for operator, clauses in statement.get("Condition", {}).items():
        for key, expected in clauses.items():
            actual = request.context.get(key.lower())
            values = [resolve(v, pseudo, resources) for v in _as_list(expected)]
            if operator in ("StringEquals", "ArnEquals"):
                ok = actual is not None and actual in values
            elif operator in ("StringLike", "ArnLike"):
                ok = actual is not None and any(fnmatch.fnmatchcase(actual, v) for v in values)
            elif operator == "Bool":
                ok = actual is not None and actual in [v.lower() for v in values]
            else:
                return False
            if not ok:
                return False
    return True


def _references(value: Any, logical_id: str) -> bool:
    return value in ({"Ref": logical_id}, {"Fn::GetAtt": [logical_id, "Arn"]}) or value == "*"


def _policy_allows(statements: list[dict[str, Any]], principal: str, request: Request, target: str,
                   pseudo: dict[str, str], resources: dict[str, Any]) -> tuple[bool, list[str]]:
    """(allowed, reasons): an Allow for the principal whose conditions hold, and no applicable Deny."""
    allowed, reasons = False, []
    for statement in statements:
        services = _principal_services(statement)
        if not (services & {principal, "*"}) or not _matches_action(statement, request.action):
            continue
        if not any(_references(r, target) for r in _as_list(statement.get("Resource", "*"))):
            continue
        if not _conditions_hold(statement, request, pseudo, resources):
            if statement.get("Effect") == "Allow" and principal in services:
                reasons.append(f"the Allow {statement.get('Sid', '')!r} has conditions that do not hold")
            continue
        if statement.get("Effect") == "Deny":
            return False, [f"the Deny {statement.get('Sid', '')!r} applies"]
        if statement.get("Effect") == "Allow" and principal in services:
            allowed = True
    return allowed, reasons


def _topic_id(arn: Any, topics: dict[str, Any]) -> str | None:
    if isinstance(arn, dict) and "Ref" in arn and arn["Ref"] in topics:
        return str(arn["Ref"])
    return None


def _alarms(template: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    for resource_type in ALARM_TYPES:
        for logical_id, resource in template.find_resources(resource_type).items():
            yield logical_id, resource.get("Properties", {})


def check_alert_path(template: Template, *, region: str, account: str) -> AlertPathReport:
    """Every action of every alarm in ``template`` traced to a publish SNS (and KMS) would allow."""
    resources: dict[str, Any] = template.to_json()["Resources"]
    pseudo = {"AWS::Partition": _partition(region), "AWS::Region": region, "AWS::AccountId": account,
              "AWS::URLSuffix": "amazonaws.com"}
    topics = template.find_resources("AWS::SNS::Topic")
    topic_policies = template.find_resources("AWS::SNS::TopicPolicy")
    keys = template.find_resources("AWS::KMS::Key")
    report = AlertPathReport()
    for logical_id, props in _alarms(template):
        report.alarms_checked += 1
        name = props.get("AlarmName")
        if not isinstance(name, str):
            report.problems.append(f"{logical_id}: no literal AlarmName, so no policy can be shown to match it")
            continue
        alarm_arn = f"arn:{pseudo['AWS::Partition']}:cloudwatch:{region}:{account}:alarm:{name}"
        request = Request("sns:Publish", {"aws:sourcearn": alarm_arn, "aws:sourceaccount": account,
                                          "aws:securetransport": "true"})
        for key in ACTION_KEYS:
            for action in props.get(key, []):
                report.actions_checked += 1
                where = f"{name} {key}"
                topic = _topic_id(action, topics)
                if topic is None:
                    report.problems.append(f"{where}: {action!r} is not an SNS topic of this template")
                    continue
                statements = [s for p in topic_policies.values()
                              if {"Ref": topic} in p["Properties"]["Topics"]
                              for s in p["Properties"]["PolicyDocument"]["Statement"]]
                if not statements:
                    # No topic policy at all: SNS's default policy lets only the owner account publish.
                    report.problems.append(f"{where}: topic {topic} has no policy allowing CloudWatch")
                    continue
                allowed, reasons = _policy_allows(statements, CLOUDWATCH, request, topic, pseudo, resources)
                if not allowed:
                    report.problems.append(f"{where}: topic {topic} does not allow CloudWatch to publish "
                                           f"({'; '.join(reasons) or 'no Allow for ' + CLOUDWATCH})")
                    continue
                report.problems += [f"{where}: {p}" for p in _key_problems(
                    topics[topic]["Properties"].get("KmsMasterKeyId"), keys, alarm_arn, account, pseudo, resources)]
    return report


def _key_problems(key_ref: Any, keys: dict[str, Any], alarm_arn: str, account: str, pseudo: dict[str, str],
                  resources: dict[str, Any]) -> list[str]:
    """An encrypted topic: its key's policy must let CloudWatch generate data keys and decrypt."""
    if key_ref is None:
        return []
    key_id = None
    if isinstance(key_ref, dict):
        key_id = key_ref.get("Ref") or (key_ref.get("Fn::GetAtt") or [None])[0]
    if key_id not in keys:
        return [f"topic encrypted with {key_ref!r}, a key whose policy this template does not hold (the AWS-managed "
                "SNS key cannot be used by CloudWatch)"]
    statements = keys[key_id]["Properties"]["KeyPolicy"]["Statement"]
    problems = []
    for action in ("kms:Decrypt", "kms:GenerateDataKey"):
        request = Request(action, {"aws:sourcearn": alarm_arn, "aws:sourceaccount": account,
                                   "aws:securetransport": "true"})
        allowed, reasons = _policy_allows(statements, CLOUDWATCH, request, key_id, pseudo, resources)
        if not allowed:
            problems.append(f"key {key_id} does not let CloudWatch {action} ({'; '.join(reasons) or 'no Allow'})")
    return problems
