"""The canary's own deployed stack in the sandbox, and the AWS APIs ``canary doctor`` reads that moto lacks.

moto's CloudFormation cannot create alarms, it implements neither ``iam:SimulatePrincipalPolicy`` nor Lambda's
``GetAccountSettings`` and ``GetLayerVersionByArn``, and it confirms every SNS subscription at once. So this module
creates what ``cdk deploy`` would (roles whose inline policies come from ``harness.iam_actions``, functions with
reserved concurrency, the alert topic with its policy and an e-mail subscription, the alarms, and the stack with its
outputs) over moto's API, and answers the missing calls in the fault proxy:

- ``SimulatePrincipalPolicy`` evaluates the role's inline policies by action and resource (wildcards as IAM
  matches them); it does **not** evaluate conditions, managed policies, boundaries or SCPs;
- ``GetAccountSettings`` reports the account limit minus the functions' reserved concurrency (the stack reserves
  none, as the CDK app's default);
- ``GetLayerVersionByArn`` knows the public Powertools layer versions of the sandbox region;
- ``ListStackResources`` of the canary stack lists the alarms, functions, roles and topic.

``SETUPS`` breaks one thing each, so every doctor finding has a sandbox setup that provokes it.
"""

from __future__ import annotations

import fnmatch
import io
import json
import threading
import urllib.parse
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from harness.config import config_to_dict, load_config
from harness.contract import alarm_prefix, selftest_alarm_name
from harness.iam_actions import ACTIONS, statements_for
from sandbox.runtime import Sandbox

POWERTOOLS_ACCOUNT = "017000801446"
POWERTOOLS_LAYER = "AWSLambdaPowertoolsPythonV3-python312-arm64"
LATEST_LAYER_VERSION = 30
ACCOUNT_CONCURRENCY = 1000
KINDS = ("probe", "journey", "sweeper")
ALARMED_CHECKS = ("http.hermes_health", "http.routing", "ecs.services", "alb.targets", "dynamodb.sessions_table")
ONCALL = "oncall@example.com"
Reply = tuple[int, list[tuple[str, str]], bytes]


def stack_name(environment: str, region: str) -> str:
    return f"WebordinaryCanary-{environment}-{region}"


@dataclass
class CanaryStack:
    """What was 'deployed', and the state of the emulated APIs (changed by ``SETUPS``)."""

    sandbox: Sandbox
    environment: str
    name: str
    topic_arn: str = ""
    functions: dict[str, str] = field(default_factory=dict)  # kind -> function name
    roles: dict[str, str] = field(default_factory=dict)  # kind -> role ARN
    alarms: list[str] = field(default_factory=list)
    layer_versions: set[int] = field(default_factory=lambda: set(range(1, LATEST_LAYER_VERSION + 1)))
    account_concurrency: int = ACCOUNT_CONCURRENCY
    emulate: set[str] = field(default_factory=lambda: {"simulate", "account_settings", "layer", "stack_resources"})
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- the emulated calls -------------------------------------------------------------------------------------

    def answer(self, service: str, action: str, path: str, body: bytes) -> Reply | None:
        if action == "iam:SimulatePrincipalPolicy" and "simulate" in self.emulate:
            return self._simulate(_form(body))
        if service == "lambda" and "account-settings" in path and "account_settings" in self.emulate:
            return self._account_settings()
        if service == "lambda" and "find=LayerVersion" in path and "layer" in self.emulate:
            return self._layer(urllib.parse.parse_qs(urllib.parse.urlsplit(path).query).get("Arn", [""])[0])
        if action == "cloudformation:ListStackResources" and "stack_resources" in self.emulate:
            form = _form(body)
            if form.get("StackName") == self.name:
                return self._stack_resources()
        return None

    def _simulate(self, form: dict[str, str]) -> Reply:
        role = form.get("PolicySourceArn", "").rsplit("/", 1)[-1]
        iam = self.sandbox.control.client("iam")
        statements: list[dict[str, Any]] = []
        for policy in iam.list_role_policies(RoleName=role).get("PolicyNames", []):
            document = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
            document = json.loads(document) if isinstance(document, str) else document
            found = document.get("Statement", [])
            statements.extend(found if isinstance(found, list) else [found])
        actions = _members(form, "ActionNames")
        resources = _members(form, "ResourceArns") or ["*"]
        results = "".join(
            f"<member><EvalActionName>{escape(a)}</EvalActionName><EvalResourceName>{escape(r)}</EvalResourceName>"
            f"<EvalDecision>{_decide(statements, a, r)}</EvalDecision><MatchedStatements/><MissingContextValues/>"
            "</member>"
            for a in actions for r in resources)
        xml = ('<SimulatePrincipalPolicyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
               f"<SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated><EvaluationResults>{results}"
               "</EvaluationResults></SimulatePrincipalPolicyResult>"
               f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
               "</SimulatePrincipalPolicyResponse>")
        return 200, [("Content-Type", "text/xml")], xml.encode()

    def _account_settings(self) -> Reply:
        lam = self.sandbox.control.client("lambda")
        reserved = 0
        for page in lam.get_paginator("list_functions").paginate():
            for fn in page["Functions"]:
                reserved += int(lam.get_function_concurrency(FunctionName=fn["FunctionName"])
                                .get("ReservedConcurrentExecutions") or 0)
        body = {"AccountLimit": {"TotalCodeSize": 80530636800, "CodeSizeUnzipped": 262144000,
                                 "CodeSizeZipped": 52428800, "ConcurrentExecutions": self.account_concurrency,
                                 "UnreservedConcurrentExecutions": self.account_concurrency - reserved},
                "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": len(self.functions)}}
        return 200, [("Content-Type", "application/json")], json.dumps(body).encode()

    def _layer(self, arn: str) -> Reply:
        region = self.sandbox.resources.region
        prefix = f"arn:aws:lambda:{region}:{POWERTOOLS_ACCOUNT}:layer:{POWERTOOLS_LAYER}:"
        version = arn.removeprefix(prefix)
        if arn.startswith(prefix) and version.isdigit() and int(version) in self.layer_versions:
            body = {"LayerArn": prefix.rstrip(":"), "LayerVersionArn": arn, "Version": int(version),
                    "CompatibleRuntimes": ["python3.12"], "CompatibleArchitectures": ["arm64"],
                    "Description": "Powertools for AWS Lambda (Python) V3",
                    "CreatedDate": "2026-11-02T10:00:00.000+0000",
                    "Content": {"CodeSha256": "sandbox", "CodeSize": 1}}
            return 200, [("Content-Type", "application/json")], json.dumps(body).encode()
        error = {"Type": "User", "message": f"The resource you requested does not exist. ({arn})"}
        return 404, [("Content-Type", "application/json"), ("x-amzn-ErrorType", "ResourceNotFoundException")], \
            json.dumps(error).encode()

    def _stack_resources(self) -> Reply:
        rows = [("Alerts", self.topic_arn, "AWS::SNS::Topic")]
        rows += [(f"{k.capitalize()}Function", n, "AWS::Lambda::Function") for k, n in self.functions.items()]
        rows += [(f"{k.capitalize()}Role", r.rsplit("/", 1)[-1], "AWS::IAM::Role") for k, r in self.roles.items()]
        rows += [(f"Alarm{i}", name, "AWS::CloudWatch::Alarm") for i, name in enumerate(self.alarms)]
        members = "".join(
            f"<member><LogicalResourceId>{escape(lid)}</LogicalResourceId><PhysicalResourceId>{escape(pid)}"
            f"</PhysicalResourceId><ResourceType>{rtype}</ResourceType><LastUpdatedTimestamp>"
            "2026-12-01T09:00:00.000Z</LastUpdatedTimestamp><ResourceStatus>CREATE_COMPLETE</ResourceStatus>"
            "</member>" for lid, pid, rtype in rows)
        xml = ('<ListStackResourcesResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">'
               f"<ListStackResourcesResult><StackResourceSummaries>{members}</StackResourceSummaries>"
               f"</ListStackResourcesResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
               "</ResponseMetadata></ListStackResourcesResponse>")
        return 200, [("Content-Type", "text/xml")], xml.encode()


def _form(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}


def _members(form: dict[str, str], name: str) -> list[str]:
    keys = sorted((k for k in form if k.startswith(f"{name}.member.")), key=lambda k: int(k.rsplit(".", 1)[-1]))
    return [form[k] for k in keys]


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _decide(statements: list[dict[str, Any]], action: str, resource: str) -> str:
    """IAM's decision for one action on one resource from identity statements, conditions not evaluated."""
    def matches(st: dict[str, Any]) -> bool:
        acts = _listed(st.get("Action"))
        res = _listed(st.get("Resource"))
        return (any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in acts)
                and any(fnmatch.fnmatchcase(resource, r) for r in res))
    if any(st.get("Effect") == "Deny" and matches(st) for st in statements):
        return "explicitDeny"
    return "allowed" if any(st.get("Effect") == "Allow" and matches(st) for st in statements) else "implicitDeny"


def _policy_for(kind: str, environ: dict[str, str], selftest_arn: str) -> dict[str, Any]:
    """The role policy ``cdk deploy`` would attach, from the table infra builds it from (resources widened to
    ``*`` except the self-test alarm: the sandbox evaluator does not model conditions)."""
    config = load_config(environ=environ)
    targets = {k: v for k, v in config_to_dict(config).items() if v not in (None, "", [], ())}
    statements = [{"Sid": sid, "Effect": "Allow", "Action": list(ACTIONS[sid]),
                   "Resource": selftest_arn if sid == "DriveSelfTestAlarm" else "*"}
                  for sid in statements_for(kind, config.profile, targets, selftest=kind == "probe")]
    return {"Version": "2012-10-17", "Statement": statements}


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handlers/canary.py", "def lambda_handler(event, context):\n    return {}\n")
    return buffer.getvalue()


def deploy(sandbox: Sandbox) -> CanaryStack:
    """Create the canary stack the CDK app would deploy for the sandbox environment, and install the emulations."""
    aws = sandbox.control
    res = sandbox.resources
    environ = sandbox.environment()
    env_name = environ["CANARY_ENVIRONMENT"]
    prefix = alarm_prefix(env_name)
    stack = CanaryStack(sandbox, env_name, stack_name(env_name, res.region))
    iam, lam, sns, cw = aws.client("iam"), aws.client("lambda"), aws.client("sns"), aws.client("cloudwatch")
    selftest = selftest_alarm_name(env_name)
    selftest_arn = f"arn:aws:cloudwatch:{res.region}:{res.account_id}:alarm:{selftest}"
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    # As the CDK app: the queue profile deploys only the probe function.
    for kind in KINDS if sandbox.profile != "queue-platform" else ("probe",):
        role = iam.create_role(RoleName=f"{stack.name}-{kind.capitalize()}Role",
                               AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        iam.put_role_policy(RoleName=role.rsplit("/", 1)[-1], PolicyName="CanaryPolicy",
                            PolicyDocument=json.dumps(_policy_for(kind, environ, selftest_arn)))
        function = f"{prefix}-{kind}"
        lam.create_function(FunctionName=function, Runtime="python3.12", Role=role, Architectures=["arm64"],
                            Handler="handlers.canary.lambda_handler", Code={"ZipFile": _zip()})
        stack.roles[kind], stack.functions[kind] = role, function
    stack.topic_arn = sns.create_topic(Name=f"{prefix}-alerts")["TopicArn"]
    sns.set_topic_attributes(TopicArn=stack.topic_arn, AttributeName="Policy",
                             AttributeValue=json.dumps(topic_policy(stack.topic_arn, res.account_id)))
    sns.subscribe(TopicArn=stack.topic_arn, Protocol="email", Endpoint=ONCALL)
    for check in ALARMED_CHECKS:
        stack.alarms.append(_put_check_alarm(cw, stack, check))
    stack.alarms.append(selftest)
    outputs = {"AlertTopicArn": stack.topic_arn, "DashboardName": f"{prefix}-dashboard",
               "SelfTestAlarmName": selftest,
               **{f"{k.capitalize()}FunctionName": n for k, n in stack.functions.items()}}
    template = {"Resources": {"Version": {"Type": "AWS::SSM::Parameter", "Properties": {
        "Name": f"/webordinary/canary/{env_name}/version", "Type": "String", "Value": "1"}}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()}}
    aws.client("cloudformation").create_stack(StackName=stack.name, TemplateBody=json.dumps(template))
    install_emulations(sandbox, stack)
    return stack


def install_emulations(sandbox: Sandbox, stack: CanaryStack) -> None:
    sandbox.control.proxy.answerers.append(stack.answer)


def undeployed(sandbox: Sandbox) -> CanaryStack:
    """No canary stack (before ``cdk deploy``), but the account-level emulations the doctor still reads."""
    env_name = sandbox.environment()["CANARY_ENVIRONMENT"]
    stack = CanaryStack(sandbox, env_name, stack_name(env_name, sandbox.resources.region))
    install_emulations(sandbox, stack)
    return stack


def topic_policy(topic_arn: str, account_id: str, *, cloudwatch: bool = True,
                 source_account: str | None = None) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [{
        "Sid": "AllowPublishThroughSSLOnly", "Effect": "Deny", "Principal": "*", "Action": "sns:Publish",
        "Resource": topic_arn, "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]
    if cloudwatch:
        statements.append({"Sid": "AllowCloudWatchAlarms", "Effect": "Allow",
                           "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "sns:Publish",
                           "Resource": topic_arn,
                           "Condition": {"StringEquals": {"aws:SourceAccount": source_account or account_id}}})
    return {"Version": "2012-10-17", "Statement": statements}


def heal(stack: CanaryStack) -> None:
    """Undo every setup: back to the stack as deployed (tests apply one setup at a time on one sandbox)."""
    aws = stack.sandbox.control
    res = stack.sandbox.resources
    environ = stack.sandbox.environment()
    selftest = selftest_alarm_name(stack.environment)
    selftest_arn = f"arn:aws:cloudwatch:{res.region}:{res.account_id}:alarm:{selftest}"
    for kind, role in stack.roles.items():
        aws.client("iam").put_role_policy(RoleName=role.rsplit("/", 1)[-1], PolicyName="CanaryPolicy",
                                          PolicyDocument=json.dumps(_policy_for(kind, environ, selftest_arn)))
    aws.client("sns").set_topic_attributes(TopicArn=stack.topic_arn, AttributeName="Policy", AttributeValue=json.dumps(
        topic_policy(stack.topic_arn, res.account_id)))
    backend = aws.backends.get("sns")  # moto cannot express this over its API
    for key, subscription in backend.subscriptions.items():
        if subscription.topic.arn == stack.topic_arn:
            subscription.arn = key
    for check in ALARMED_CHECKS:
        _put_check_alarm(aws.client("cloudwatch"), stack, check)
    stack.layer_versions = set(range(1, LATEST_LAYER_VERSION + 1))
    stack.account_concurrency = ACCOUNT_CONCURRENCY
    stack.emulate |= {"simulate", "account_settings", "layer", "stack_resources"}


def _put_check_alarm(cw: Any, stack: CanaryStack, check: str) -> str:
    name = f"{alarm_prefix(stack.environment)}-check-{check}"
    cw.put_metric_alarm(AlarmName=name, Namespace="Webordinary/Canary", MetricName="CheckFailed",
                        Dimensions=[{"Name": "Environment", "Value": stack.environment},
                                    {"Name": "Check", "Value": check},
                                    {"Name": "service", "Value": "webordinary-canary"}],
                        Statistic="Sum", Period=900, EvaluationPeriods=1, Threshold=1,
                        ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching",
                        ActionsEnabled=True, AlarmActions=[stack.topic_arn])
    return name


# -- setups: one broken thing each (what the doctor must name, with its fix) ------------------------------------------

def _topic_policy_missing(stack: CanaryStack) -> None:
    account = stack.sandbox.resources.account_id
    stack.sandbox.control.client("sns").set_topic_attributes(
        TopicArn=stack.topic_arn, AttributeName="Policy",
        AttributeValue=json.dumps(topic_policy(stack.topic_arn, account, cloudwatch=False)))


def _topic_policy_other_account(stack: CanaryStack) -> None:
    """CloudWatch may publish, but only for alarms of another account (a policy copied from elsewhere)."""
    stack.sandbox.control.client("sns").set_topic_attributes(
        TopicArn=stack.topic_arn, AttributeName="Policy",
        AttributeValue=json.dumps(topic_policy(stack.topic_arn, stack.sandbox.resources.account_id,
                                               source_account="210987654321")))


def _subscription_pending(stack: CanaryStack) -> None:
    """moto confirms at once; AWS lists an unconfirmed e-mail subscription as 'PendingConfirmation'."""
    backend = stack.sandbox.control.backends.get("sns")  # moto cannot express this over its API
    for subscription in list(backend.subscriptions.values()):
        if subscription.topic.arn == stack.topic_arn:
            subscription.arn = "PendingConfirmation"


def _alarm_actions_disabled(stack: CanaryStack) -> None:
    stack.sandbox.control.client("cloudwatch").disable_alarm_actions(AlarmNames=[stack.alarms[0]])


def _alarm_missing(stack: CanaryStack) -> None:
    stack.sandbox.control.client("cloudwatch").delete_alarms(AlarmNames=[stack.alarms[1]])


def _role_missing_permission(stack: CanaryStack) -> None:
    """The probe role loses ecs:DescribeServices (as if an older template or a hand edit removed it)."""
    iam = stack.sandbox.control.client("iam")
    role = stack.roles["probe"].rsplit("/", 1)[-1]
    document = iam.get_role_policy(RoleName=role, PolicyName="CanaryPolicy")["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    document["Statement"] = [st for st in document["Statement"] if st.get("Sid") != "EcsDescribeServices"]
    iam.put_role_policy(RoleName=role, PolicyName="CanaryPolicy", PolicyDocument=json.dumps(document))


def _layer_missing(stack: CanaryStack) -> None:
    stack.layer_versions.clear()


def _low_concurrency(stack: CanaryStack) -> None:
    """A new account's limit: a deploy with context reserved_concurrency cannot reserve anything."""
    stack.account_concurrency = 10


def _unmodelled_apis(stack: CanaryStack) -> None:
    """moto as it is: SimulatePrincipalPolicy, GetAccountSettings and GetLayerVersionByArn unimplemented."""
    stack.emulate -= {"simulate", "account_settings", "layer"}


SETUPS: dict[str, tuple[Callable[[CanaryStack], None], str]] = {
    "topic_policy_missing": (_topic_policy_missing, "alerts.topic_policy"),
    "topic_policy_other_account": (_topic_policy_other_account, "alerts.topic_policy"),
    "subscription_pending": (_subscription_pending, "alerts.subscription"),
    "alarm_actions_disabled": (_alarm_actions_disabled, "alarms.actions"),
    "alarm_missing": (_alarm_missing, "alarms"),
    "role_missing_permission": (_role_missing_permission, "iam.probe"),
    "layer_missing": (_layer_missing, "lambda.powertools_layer"),
    "low_concurrency": (_low_concurrency, "lambda.concurrency"),
    "unmodelled_apis": (_unmodelled_apis, "iam.probe"),
}
"""Setup name -> (how to break the deployed canary, the doctor finding id that must name it)."""
