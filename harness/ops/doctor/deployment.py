"""The canary's own deployment: its stack, its roles' permissions, its alert path and the account's Lambda limits.

With the stack deployed (found by name; its outputs name the functions, the alert topic and the self-test alarm,
its resources the alarms) the doctor checks what makes the canary page nobody or stay blind: a role that lacks an
action a check makes (``iam:SimulatePrincipalPolicy`` over ``harness.iam_actions``, the table the grants are built
from), an alert topic CloudWatch may not publish to or that nobody confirmed a subscription to, alarms that are
missing or have their actions off. Without a stack (before ``cdk deploy``) it checks what the deploy will need: the
Powertools layer version in the region, and unreserved concurrency for the functions' reserved concurrency.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.config import CanaryConfig, config_to_dict
from harness.contract import NAMESPACE, alarm_prefix
from harness.iam_actions import ACTIONS, FUNCTION_KINDS, statements_for
from harness.ops.doctor.findings import Collector
from harness.platform.topic_policy import SERVICE_PRINCIPAL, publish_denial
from harness.spec import SPECS, IamStatement

ClientFor = Callable[[str], Any]
POWERTOOLS_ACCOUNT = "017000801446"
POWERTOOLS_LAYER = "AWSLambdaPowertoolsPythonV3-python312-arm64"
POWERTOOLS_SSM = "/aws/service/powertools/python/arm64/python3.12/{}"
# Lambda refuses a reservation that leaves fewer unreserved executions than this (PutFunctionConcurrency); accounts
# whose concurrency quota is lower have a lower minimum and little or nothing to reserve.
MIN_UNRESERVED = 100


def stack_name_for(environment: str, region: str) -> str:
    """The canary stack's name as infra.config.EnvironmentConfig.stack_name derives it."""
    return f"WebordinaryCanary-{environment}-{region}"


def kinds_for_tiers(tiers: Iterable[str]) -> list[str]:
    """Function kinds a deploy of these tiers creates (the sweeper comes with sessions)."""
    kinds = [t for t in ("probe", "journey", "destructive") if t in set(tiers)]
    return kinds + (["sweeper"] if {"journey", "destructive"} & set(tiers) else [])


@dataclass
class Deployed:
    """What the stack says about itself."""

    name: str
    status: str
    outputs: dict[str, str]
    resources: list[dict[str, Any]] = field(default_factory=list)

    def functions(self) -> dict[str, str]:
        return {kind: self.outputs[f"{kind.capitalize()}FunctionName"] for kind in FUNCTION_KINDS
                if f"{kind.capitalize()}FunctionName" in self.outputs}

    def of_type(self, *types: str) -> list[str]:
        return [r["PhysicalResourceId"] for r in self.resources
                if r.get("ResourceType") in types and r.get("PhysicalResourceId")]


@dataclass(frozen=True)
class Account:
    account: str
    region: str
    partition: str


def find_stack(out: Collector, client: ClientFor, name: str, *, explicit: bool) -> Deployed | None:
    cfn = client("cloudformation")
    found: list[Deployed] = []

    def missing(_message: str) -> None:
        if explicit:
            out.fail("stack.deployed", f"stack {name} not found",
                     "the checks that need the deployed canary (IAM, alert path, alarms) cannot run",
                     "deploy it (`make deploy`) or pass the right --stack-name")
        else:
            out.skip("stack.deployed", f"stack {name} not deployed: checking what `cdk deploy` will need")

    with out.guard("stack.deployed", f"stack {name}", on_missing=missing):
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        resources: list[dict[str, Any]] = []
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=name):
            resources.extend(page.get("StackResourceSummaries", []))
        status = stack["StackStatus"]
        deployed = Deployed(name, status, outputs, resources)
        if status.endswith("_COMPLETE") and "ROLLBACK" not in status and "DELETE" not in status:
            out.ok("stack.deployed", f"stack {name} is {status} ({len(deployed.functions())} functions)")
        else:
            out.fail("stack.deployed", f"stack {name} is {status}",
                     "a stack that did not finish deploying may lack functions, alarms or the alert topic",
                     "read the stack events, fix the cause and deploy again", status=status)
        found.append(deployed)
    return found[0] if found else None


# -- IAM ---------------------------------------------------------------------------------------------------------

def _resource_for(sid: str, cfg: CanaryConfig, acct: Account) -> tuple[list[str], list[dict[str, Any]]]:
    """A concrete resource ARN (and the condition keys the grant tests) for simulating one statement."""
    p, r, a = acct.partition, acct.region, acct.account

    def arn(service: str, resource: str) -> str:
        return f"arn:{p}:{service}:{r}:{a}:{resource}"

    def ctx(key: str, values: list[str], kind: str = "string") -> dict[str, Any]:
        return {"ContextKeyName": key, "ContextKeyValues": values, "ContextKeyType": kind}

    cluster = arn("ecs", f"cluster/{cfg.ecs_cluster}")
    secret = cfg.hermes_api_token_secret or ""
    table = arn("dynamodb", f"table/{cfg.sessions_table}")
    resources: dict[str, tuple[list[str], list[dict[str, Any]]]] = {
        "PutCanaryMetrics": (["*"], [ctx("cloudwatch:namespace", [NAMESPACE])]),
        "EcsDescribeCluster": ([cluster], []),
        "EcsListInCluster": (["*"], [ctx("ecs:cluster", [cluster])]),
        "EcsDescribeTasks": ([arn("ecs", f"task/{cfg.ecs_cluster}/0123456789abcdef")], [ctx("ecs:cluster", [cluster])]),
        "EcsDescribeServices": ([arn("ecs", f"service/{cfg.ecs_cluster}/{s}")
                                 for s in (cfg.hermes_service, cfg.edit_service) if s], []),
        "ReadSessionsTable": ([table, f"{table}/index/StatusIndex"], []),
        "ReadOwnershipTable": ([arn("dynamodb", f"table/{cfg.ownership_table}"),
                                arn("dynamodb", f"table/{cfg.ownership_table}/index/doctor")], []),
        "PutOwnPrefixedItems": ([table], [ctx("dynamodb:LeadingKeys", [f"{cfg.test_prefix}canary-lock"],
                                              "stringList")]),
        "DeleteSyntheticRecords": ([table], []),
        "ReadHermesToken": ([secret if secret.startswith("arn:")
                             else arn("secretsmanager", f"secret:{secret}-AbCdEf")], []),
        "AlbDescribe": (["*"], []),
        "ReadMetrics": (["*"], []),
        "EfsDescribe": ([arn("elasticfilesystem", f"file-system/{cfg.efs_file_system_id}")], []),
        "DescribePlatformStack": ([arn("cloudformation", f"stack/{cfg.platform_stack_name}/0a1b2c3d")], []),
        "StepFunctionsRead": ([cfg.state_machine_arn or ""], []),
        "StepFunctionsDescribeExecutions": (
            [(cfg.state_machine_arn or "").replace(":stateMachine:", ":execution:") + ":doctor"], []),
        "SqsAttributes": ([_queue_arn(u, p) for u in (*cfg.queue_urls, *cfg.dlq_urls)]
                          or [arn("sqs", f"{cfg.queue_name_prefix}doctor")], []),
        "SqsDiscover": (["*"], []),
        "SiteIndexRead": ([f"arn:{p}:s3:::{b}/index.html" for b in cfg.site_buckets], []),
        "SiteBucketList": ([f"arn:{p}:s3:::{b}" for b in cfg.site_buckets], []),
        "ScaleEditServiceInTestEnvironment": ([arn("ecs", f"service/{cfg.ecs_cluster}/{cfg.edit_service}")], []),
        "RestartEditTaskInTestEnvironment": ([arn("ecs", f"task/{cfg.ecs_cluster}/0123456789abcdef")],
                                             [ctx("ecs:cluster", [cluster])]),
        "DriveSelfTestAlarm": ([arn("cloudwatch", f"alarm:{alarm_prefix(cfg.environment)}-alert-path-selftest")],
                               []),
    }
    own = _own_statements().get(sid)
    if own is not None:  # a check's own statement (its spec): the resources its grant names, "*" as one id
        values = config_to_dict(cfg)
        return (["*"] if own.resource == "*" else
                [arn(own.service, r.replace("*", "doctor")) for r in own.resources_for(values)]), []
    if sid not in resources:
        raise KeyError(f"no resource to simulate statement {sid} on: add it to _resource_for")
    return resources[sid]


def _own_statements() -> dict[str, IamStatement]:
    return {s.sid: s for spec in SPECS for s in spec.own_statements}


def _queue_arn(url: str, partition: str) -> str:
    parts = [p for p in url.split("/") if p]
    host = parts[1] if len(parts) > 1 else ""
    region = host.split(".")[1] if host.startswith("sqs.") else host.split(".")[0]
    return f"arn:{partition}:sqs:{region}:{parts[-2]}:{parts[-1]}"


def simulatable_sids() -> frozenset[str]:
    """Statements the doctor knows a concrete resource for (DecryptHermesToken needs the key ARN from context)."""
    return frozenset(_own_statements()) | frozenset({
        "PutCanaryMetrics", "EcsDescribeCluster", "EcsListInCluster", "EcsDescribeTasks",
        "EcsDescribeServices", "ReadSessionsTable", "ReadOwnershipTable", "PutOwnPrefixedItems",
        "DeleteSyntheticRecords", "ReadHermesToken", "AlbDescribe", "ReadMetrics", "EfsDescribe",
        "DescribePlatformStack", "StepFunctionsRead", "StepFunctionsDescribeExecutions",
        "SqsAttributes", "SqsDiscover", "SiteIndexRead", "SiteBucketList",
        "ScaleEditServiceInTestEnvironment", "RestartEditTaskInTestEnvironment", "DriveSelfTestAlarm"})


def check_iam(out: Collector, client: ClientFor, cfg: CanaryConfig, acct: Account, deployed: Deployed) -> None:
    functions = deployed.functions()
    if not functions:
        out.fail("iam.functions", f"stack {deployed.name} has no canary function outputs",
                 "nothing runs the checks", "deploy the stack from this repository (`make deploy`)")
        return
    lam, iam = client("lambda"), client("iam")
    targets = {k: v for k, v in config_to_dict(cfg).items() if v not in (None, "", [], ())}
    for kind, function in functions.items():
        finding_id = f"iam.{kind}"
        with out.guard(finding_id, f"the {kind} function's role"):
            role = lam.get_function_configuration(FunctionName=function)["Role"]
            sids = statements_for(kind, cfg.profile, targets, selftest=kind == "probe" and "SelfTestAlarmName"
                                  in deployed.outputs)
            denied: list[dict[str, str]] = []
            checked = 0
            for sid in (s for s in sids if s in simulatable_sids()):
                resources, context = _resource_for(sid, cfg, acct)
                kwargs: dict[str, Any] = {"PolicySourceArn": role, "ActionNames": list(ACTIONS[sid]),
                                          "ResourceArns": resources}
                if context:
                    kwargs["ContextEntries"] = context
                for page in iam.get_paginator("simulate_principal_policy").paginate(**kwargs):
                    for result in page.get("EvaluationResults", []):
                        checked += 1
                        if result.get("EvalDecision") != "allowed":
                            denied.append({"statement": sid, "action": result["EvalActionName"],
                                           "resource": result.get("EvalResourceName", "*"),
                                           "decision": result.get("EvalDecision", "?")})
            if denied:
                actions = sorted({d["action"] for d in denied})
                out.fail(finding_id, f"the {kind} role ({role.rsplit('/', 1)[-1]}) may not call "
                                     f"{', '.join(actions)}",
                         "the checks that make these calls end ERROR access_denied and page canary-broken",
                         "redeploy the stack from this repository (the grants come from harness/iam_actions.py); "
                         "check for a permissions boundary or SCP that denies them", denied=denied)
            else:
                out.ok(finding_id, f"the {kind} role allows all {checked} action/resource pairs its checks need",
                       role=role)


# -- alert path ---------------------------------------------------------------------------------------------------

def check_alert_topic(out: Collector, client: ClientFor, cfg: CanaryConfig, acct: Account,
                      deployed: Deployed) -> None:
    topic = deployed.outputs.get("AlertTopicArn")
    if not topic:
        out.fail("alerts.topic", f"stack {deployed.name} has no AlertTopicArn output", "alarms notify nobody",
                 "deploy the stack from this repository")
        return
    sns = client("sns")
    with out.guard("alerts.topic_policy", f"topic {topic}"):
        raw = sns.get_topic_attributes(TopicArn=topic)["Attributes"].get("Policy") or "{}"
        policy = json.loads(raw)
        names = deployed.of_type("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm") or [
            f"{alarm_prefix(cfg.environment)}-check"]
        arn = f"arn:{acct.partition}:cloudwatch:{acct.region}:{acct.account}:alarm:"
        denials = {name: publish_denial(policy, topic, arn + name, acct.account) for name in names}
        refused = {name: why for name, why in denials.items() if why}
        if not refused:
            out.ok("alerts.topic_policy", f"topic {topic.rsplit(':', 1)[-1]} lets CloudWatch publish for all "
                                          f"{len(names)} alarms")
        else:
            out.fail("alerts.topic_policy", f"topic {topic.rsplit(':', 1)[-1]} refuses CloudWatch for "
                                            f"{len(refused)} of {len(names)} alarms: {next(iter(refused.values()))}",
                     "those alarm actions fail ('Failed to execute action'): nobody is paged",
                     f"allow sns:Publish to the service principal {SERVICE_PRINCIPAL} in the topic policy, with "
                     f"aws:SourceAccount {acct.account} (and aws:SourceArn matching the alarms if you scope it)",
                     refused=sorted(refused), policy=policy)
    with out.guard("alerts.subscription", f"subscriptions of {topic}"):
        subs: list[dict[str, Any]] = []
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic):
            subs.extend(page.get("Subscriptions", []))
        # A subscription has an ARN only once confirmed; until then SNS shows "PendingConfirmation" (or, in the
        # Subscribe response, "pending confirmation"), and "Deleted" after an unsubscribe.
        confirmed = [s for s in subs if str(s.get("SubscriptionArn", "")).startswith("arn:")]
        pending = [s.get("Endpoint", "?") for s in subs
                   if str(s.get("SubscriptionArn", "")).replace(" ", "").lower() == "pendingconfirmation"]
        if confirmed:
            out.ok("alerts.subscription", f"{len(confirmed)} confirmed subscription(s) "
                                          f"({', '.join(sorted({s.get('Protocol', '?') for s in confirmed}))})")
        else:
            out.fail("alerts.subscription", f"no confirmed subscription on {topic.rsplit(':', 1)[-1]}"
                                            + (f" ({len(pending)} pending confirmation)" if pending else ""),
                     "alarms fire into a topic nobody receives",
                     "confirm the e-mail SNS sent (or subscribe the on-call endpoint: context alarm_email)",
                     pending=pending)


def check_alarms(out: Collector, client: ClientFor, cfg: CanaryConfig, deployed: Deployed) -> None:
    expected = deployed.of_type("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")
    cw = client("cloudwatch")
    prefix = alarm_prefix(cfg.environment)
    with out.guard("alarms", "the canary's alarms"):
        found: dict[str, dict[str, Any]] = {}
        for page in cw.get_paginator("describe_alarms").paginate(
                AlarmNamePrefix=prefix, AlarmTypes=["MetricAlarm", "CompositeAlarm"]):
            for alarm in (*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])):
                found[alarm["AlarmName"]] = alarm
        missing = [name for name in expected if name not in found]
        if not expected and not found:
            out.fail("alarms", f"no alarm named {prefix}-*", "failures page nobody",
                     "deploy the stack from this repository")
            return
        if missing:
            out.fail("alarms", f"{len(missing)} of the stack's alarms do not exist: {', '.join(missing[:5])}",
                     "those checks page nobody", "redeploy the stack (drift: someone deleted them)",
                     missing=missing)
        names = expected or list(found)
        disabled = [n for n in names if n in found and not found[n].get("ActionsEnabled", True)]
        if disabled:
            out.fail("alarms.actions", f"actions are disabled on {len(disabled)} alarm(s): "
                                       f"{', '.join(disabled[:5])}",
                     "they change state but notify nobody",
                     f"aws cloudwatch enable-alarm-actions --alarm-names {' '.join(disabled[:5])}", disabled=disabled)
        elif not missing:
            out.ok("alarms", f"all {len(names)} alarms exist with actions enabled")


# -- Lambda limits ------------------------------------------------------------------------------------------------

def powertools_layer_arn(acct: Account, version: str) -> str:
    return f"arn:{acct.partition}:lambda:{acct.region}:{POWERTOOLS_ACCOUNT}:layer:{POWERTOOLS_LAYER}:{version}"


def check_layer(out: Collector, client: ClientFor, acct: Account, version: str,
                deployed: Deployed | None) -> None:
    arns: list[str] = []
    if deployed is not None:
        lam = client("lambda")
        with out.guard("lambda.powertools_layer", "the deployed functions' layers"):
            for function in deployed.functions().values():
                for layer in lam.get_function_configuration(FunctionName=function).get("Layers", []):
                    if "Powertools" in layer.get("Arn", ""):
                        arns.append(layer["Arn"])
    if not arns and acct.partition != "aws":
        out.skip("lambda.powertools_layer", f"the Powertools layer's publisher account in {acct.partition} differs by "
                                            "region: not checked before deploy")
        return
    if not arns:
        if not version.isdigit():
            name = POWERTOOLS_SSM.format(version)
            def no_release(_message: str) -> None:
                out.fail("lambda.powertools_layer", f"Powertools release {version!r} has no layer in {acct.region} "
                         f"({name})", "`cdk deploy` fails resolving the layer",
                         "set context powertools_layer_version to a published version number")

            with out.guard("lambda.powertools_layer", f"SSM parameter {name}", on_missing=no_release):
                arns.append(client("ssm").get_parameter(Name=name)["Parameter"]["Value"])
        else:
            arns.append(powertools_layer_arn(acct, version))
    lam = client("lambda")
    for arn in dict.fromkeys(arns):
        with out.guard("lambda.powertools_layer", f"layer {arn}", on_missing=_no_layer(out, arn, acct.region)):
            layer = lam.get_layer_version_by_arn(Arn=arn)
            out.ok("lambda.powertools_layer", f"Powertools layer version {layer.get('Version')} exists in "
                                              f"{acct.region}", layer=arn)


def _no_layer(out: Collector, arn: str, region: str) -> Callable[[str], None]:
    def report(_message: str) -> None:
        out.fail("lambda.powertools_layer", f"Powertools layer {arn.rsplit(':', 2)[-2]}:{arn.rsplit(':', 1)[-1]} "
                 f"does not exist in {region}",
                 "`cdk deploy` fails creating the functions (or they cannot import Powertools)",
                 "set context powertools_layer_version to a version published in this region", layer=arn)
    return report


def check_concurrency(out: Collector, client: ClientFor, cfg: CanaryConfig, deployed: Deployed | None,
                      reserved_per_function: int | None) -> None:
    """``reserved_per_function``: the deploy's context ``reserved_concurrency`` (None: nothing reserved)."""
    lam = client("lambda")
    with out.guard("lambda.concurrency", "the account's Lambda concurrency"):
        limits = lam.get_account_settings()["AccountLimit"]
        unreserved = int(limits["UnreservedConcurrentExecutions"])
        total = int(limits.get("ConcurrentExecutions", 0))
        if deployed is not None and deployed.functions():
            reserved = {kind: lam.get_function_concurrency(FunctionName=fn).get("ReservedConcurrentExecutions")
                        for kind, fn in deployed.functions().items()}
            missing = [kind for kind, value in reserved.items() if value is None]
            if reserved_per_function is not None and missing:
                out.warn("lambda.concurrency", f"context reserved_concurrency is {reserved_per_function} but "
                                               f"{', '.join(missing)} reserve nothing",
                         "the deployed stack is older than its context", "redeploy the stack",
                         functions=missing)
                return
            held = sum(v for v in reserved.values() if v)
            what = f"the functions reserve {held}" if held else "no function reserves concurrency"
            out.ok("lambda.concurrency", f"{what}; {unreserved} of {total} concurrent executions stay unreserved",
                   unreserved=unreserved, limit=total)
            return
        if reserved_per_function is None:
            out.ok("lambda.concurrency", f"no reserved concurrency configured; {unreserved} of {total} concurrent "
                                         "executions unreserved", unreserved=unreserved, limit=total)
            return
        need = reserved_per_function * len(kinds_for_tiers(cfg.tiers))
        floor = min(MIN_UNRESERVED, total) if total else MIN_UNRESERVED
        if unreserved - need < floor:
            quota = MIN_UNRESERVED + need + total - unreserved
            out.fail("lambda.concurrency", f"only {unreserved} unreserved concurrent executions (account limit "
                                           f"{total}); reserving {need} would leave {unreserved - need}",
                     f"Lambda refuses a reservation that leaves fewer than {floor} unreserved: `cdk deploy` fails "
                     "creating the functions",
                     f"drop context reserved_concurrency (the run lock guards overlap), or request a Lambda "
                     f"'Concurrent executions' quota of at least {quota} in Service Quotas",
                     unreserved=unreserved, limit=total, needed=need)
        else:
            out.ok("lambda.concurrency", f"{unreserved} unreserved concurrent executions: room to reserve {need}")
