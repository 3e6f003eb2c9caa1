"""Does every configured target resource exist, and is it the kind its check expects?

A name that points nowhere makes its check FAIL ``resource_missing`` on every run (a page that says nothing about
the platform); an unset resource makes its check SKIP ``not_configured`` forever (a silent green). Both are
findings here, before the first scheduled run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.checks.alb import REQUIRED_ROUTES
from harness.config import CanaryConfig, env_var_for
from harness.ops.doctor.findings import Collector

ClientFor = Callable[[str], Any]


def _setting(key: str) -> str:
    env = env_var_for(key)
    return f"{key} (env {env})" if env else key


def _missing(out: Collector, finding_id: str, what: str, key: str, checks: str) -> Callable[[str], None]:
    def report(message: str) -> None:
        out.fail(finding_id, f"{what} not found: {message}",
                 f"{checks} will FAIL resource_missing on every run",
                 f"correct {_setting(key)}, or run `canary discover` to find the real name", setting=key)
    return report


def _not_configured(out: Collector, finding_id: str, key: str, checks: str) -> None:
    out.warn(finding_id, f"{_setting(key)} is not set",
             f"{checks} will SKIP not_configured on every run and never alarm (a silent green)",
             f"set {_setting(key)} (see `canary discover`)", setting=key)


def check_ecs(out: Collector, client: ClientFor, config: CanaryConfig, services: tuple[str, ...]) -> None:
    cluster = config.ecs_cluster
    if not cluster:
        _not_configured(out, "resource.ecs_cluster", "ecs_cluster", "the ECS checks")
        return
    ecs = client("ecs")
    with out.guard("resource.ecs_cluster", f"ECS cluster {cluster}"):
        found = ecs.describe_clusters(clusters=[cluster]).get("clusters", [])
        active = [c for c in found if c.get("status") == "ACTIVE"]
        if not active:
            status = found[0].get("status") if found else "missing"
            out.fail("resource.ecs_cluster", f"ECS cluster {cluster} is {status}",
                     "ecs.cluster and every service check will FAIL resource_missing",
                     f"correct {_setting('ecs_cluster')}, or run `canary discover`", status=status)
            return
        out.ok("resource.ecs_cluster", f"ECS cluster {cluster} is ACTIVE")
    names = [(key, getattr(config, key)) for key in services]
    for key, name in names:
        finding_id = f"resource.{key}"
        if not name:
            _not_configured(out, finding_id, key, "ecs.services")
            continue
        with out.guard(finding_id, f"ECS service {name}"):
            answer = ecs.describe_services(cluster=cluster, services=[name])
            live = [s for s in answer.get("services", []) if s.get("status") == "ACTIVE"]
            if not live:
                out.fail(finding_id, f"ECS service {name} is not an ACTIVE service of {cluster}",
                         "ecs.services will FAIL resource_missing on every run",
                         f"correct {_setting(key)}, or run `canary discover`",
                         failures=answer.get("failures", []))
                continue
            svc = live[0]
            out.ok(finding_id, f"ECS service {name} is ACTIVE (desired {svc.get('desiredCount')}, "
                               f"running {svc.get('runningCount')})")


def check_table(out: Collector, client: ClientFor, key: str, table: str | None, *, needs_ttl: bool,
                checks: str) -> None:
    finding_id = f"resource.{key}"
    if not table:
        _not_configured(out, finding_id, key, checks)
        return
    ddb = client("dynamodb")
    with out.guard(finding_id, f"DynamoDB table {table}",
                   on_missing=_missing(out, finding_id, f"DynamoDB table {table}", key, checks)):
        status = ddb.describe_table(TableName=table)["Table"].get("TableStatus")
        if status != "ACTIVE":
            out.fail(finding_id, f"DynamoDB table {table} is {status}", f"{checks} cannot read it",
                     "wait for the table to become ACTIVE, or correct the name", status=status)
            return
        if not needs_ttl:
            out.ok(finding_id, f"DynamoDB table {table} is ACTIVE")
            return
        ttl = ddb.describe_time_to_live(TableName=table).get("TimeToLiveDescription", {})
        if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            out.fail(finding_id, f"DynamoDB table {table} has TTL {ttl.get('TimeToLiveStatus', 'DISABLED')}",
                     "sessions never expire: dynamodb.sessions_table FAILs schema_mismatch and synthetic records "
                     "outlive their runs", f"enable TTL on {table} (attribute ttl)", ttl=ttl)
            return
        out.ok(finding_id, f"DynamoDB table {table} is ACTIVE with TTL on {ttl.get('AttributeName')}")


def check_target_groups(out: Collector, client: ClientFor, config: CanaryConfig) -> None:
    if not config.target_group_arns:
        _not_configured(out, "resource.target_groups", "target_group_arns", "alb.targets (critical)")
        return
    elb = client("elbv2")
    for arn in config.target_group_arns:
        name = arn.split("/")[-2] if arn.count("/") >= 2 else arn
        finding_id = f"resource.target_group[{name}]"
        with out.guard(finding_id, f"target group {name}",
                       on_missing=_missing(out, finding_id, f"target group {arn}", "target_group_arns",
                                           "alb.targets")):
            group = elb.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
            out.ok(finding_id, f"target group {group['TargetGroupName']} exists ({group.get('Protocol')}:"
                               f"{group.get('Port')}, {group.get('TargetType')} targets)")


def check_load_balancer(out: Collector, client: ClientFor, config: CanaryConfig) -> None:
    arn = config.load_balancer_arn
    if not arn:
        _not_configured(out, "resource.load_balancer", "load_balancer_arn", "alb.rules")
        return
    elb = client("elbv2")
    with out.guard("resource.load_balancer", "the load balancer",
                   on_missing=_missing(out, "resource.load_balancer", f"load balancer {arn}", "load_balancer_arn",
                                       "alb.rules")):
        lb = elb.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
        if lb.get("Type") != "application":
            out.fail("resource.load_balancer", f"{lb['LoadBalancerName']} is a {lb.get('Type')} load balancer",
                     "alb.rules reads listener path rules, which only application load balancers have",
                     "point load_balancer_arn at the platform's application load balancer")
            return
        out.ok("resource.load_balancer", f"application load balancer {lb['LoadBalancerName']} exists "
                                         f"({lb.get('State', {}).get('Code', '?')})")
        patterns: set[str] = set()
        paginator = elb.get_paginator("describe_listeners")
        for page in paginator.paginate(LoadBalancerArn=arn):
            for listener in page["Listeners"]:
                for rule in elb.describe_rules(ListenerArn=listener["ListenerArn"]).get("Rules", []):
                    for condition in rule.get("Conditions", []):
                        values = condition.get("PathPatternConfig", {}).get("Values") or (
                            condition.get("Values") if condition.get("Field") == "path-pattern" else [])
                        patterns.update(values or [])
        missing = [route for route in REQUIRED_ROUTES if route not in patterns]
        if missing:
            out.fail("resource.listener_rules", f"no listener rule for {', '.join(missing)}",
                     "alb.rules will FAIL route_missing and the routes answer the ALB's default action",
                     "add the path rules to the load balancer's listener (target-surface §2.3)", missing=missing)
        else:
            out.ok("resource.listener_rules", f"listener rules exist for {', '.join(REQUIRED_ROUTES)}")


def check_efs(out: Collector, client: ClientFor, config: CanaryConfig) -> None:
    fs_id = config.efs_file_system_id
    if not fs_id:
        _not_configured(out, "resource.efs_file_system", "efs_file_system_id", "efs.filesystem")
        return
    efs = client("efs")
    with out.guard("resource.efs_file_system", f"file system {fs_id}",
                   on_missing=_missing(out, "resource.efs_file_system", f"file system {fs_id}",
                                       "efs_file_system_id", "efs.filesystem")):
        fs = efs.describe_file_systems(FileSystemId=fs_id)["FileSystems"][0]
        mounts = efs.describe_mount_targets(FileSystemId=fs_id).get("MountTargets", [])
        if fs.get("LifeCycleState") != "available" or not mounts:
            out.fail("resource.efs_file_system",
                     f"file system {fs_id} is {fs.get('LifeCycleState')} with {len(mounts)} mount target(s)",
                     "edit tasks cannot mount /workspace: efs.filesystem FAILs resource_unavailable",
                     "create a mount target in each subnet the edit service uses", mount_targets=len(mounts))
            return
        out.ok("resource.efs_file_system", f"file system {fs_id} is available with {len(mounts)} mount target(s)")


def check_platform_stack(out: Collector, client: ClientFor, config: CanaryConfig) -> None:
    name = config.platform_stack_name
    if not name:
        out.skip("resource.platform_stack", "platform_stack_name not set: deploy-awareness reads ECS rollouts only")
        return
    with out.guard("resource.platform_stack", f"CloudFormation stack {name}",
                   on_missing=_missing(out, "resource.platform_stack", f"platform stack {name}",
                                       "platform_stack_name", "deploy-awareness (a platform update pages)")):
        stack = client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
        out.ok("resource.platform_stack", f"platform stack {name} is {stack['StackStatus']}")


def check_secret(out: Collector, client: ClientFor, config: CanaryConfig) -> None:
    secret = config.hermes_api_token_secret
    if not secret:
        return
    with out.guard("resource.hermes_token_secret", f"secret {secret}",
                   on_missing=_missing(out, "resource.hermes_token_secret", f"secret {secret}",
                                       "hermes_api_token_secret", "every run (the canary cannot start)")):
        described = client("secretsmanager").describe_secret(SecretId=secret)
        out.ok("resource.hermes_token_secret", f"secret {described.get('Name', secret)} exists")


def check_state_machine(out: Collector, client: ClientFor, config: CanaryConfig) -> None:
    arn = config.state_machine_arn
    if not arn:
        _not_configured(out, "resource.state_machine", "state_machine_arn", "stepfunctions.executions (critical)")
        return
    with out.guard("resource.state_machine", "the state machine",
                   on_missing=_missing(out, "resource.state_machine", f"state machine {arn}", "state_machine_arn",
                                       "stepfunctions.executions")):
        machine = client("stepfunctions").describe_state_machine(stateMachineArn=arn)
        out.ok("resource.state_machine", f"state machine {machine['name']} exists ({machine.get('status', '?')})")


def check_queues(out: Collector, client: ClientFor, key: str, urls: tuple[str, ...], checks: str) -> None:
    if not urls:
        out.skip(f"resource.{key}", f"{_setting(key)} not set: queues are discovered by name prefix at run time")
        return
    sqs = client("sqs")
    for url in urls:
        name = url.rstrip("/").rsplit("/", 1)[-1]
        finding_id = f"resource.{key}[{name}]"
        with out.guard(finding_id, f"queue {name}",
                       on_missing=_missing(out, finding_id, f"queue {url}", key, checks)):
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            out.ok(finding_id, f"queue {name} exists")


def check_buckets(out: Collector, client: ClientFor, config: CanaryConfig) -> None:
    if not config.site_buckets:
        if config.site_urls:
            out.warn("resource.site_buckets", "site_buckets (env SITE_BUCKETS) is not set",
                     "s3.site checks only that each site answers, not that index.html is fresh",
                     "set SITE_BUCKETS, one bucket per SITE_URLS entry")
        return
    s3 = client("s3")
    for bucket in config.site_buckets:
        finding_id = f"resource.site_bucket[{bucket}]"
        with out.guard(finding_id, f"bucket {bucket}",
                       on_missing=_missing(out, finding_id, f"bucket {bucket}", "site_buckets", "s3.site")):
            s3.head_bucket(Bucket=bucket)
            out.ok(finding_id, f"bucket {bucket} exists")


def check_resources(out: Collector, client: ClientFor, config: CanaryConfig) -> None:
    """Every resource the selected profile's checks read."""
    if config.profile == "queue-platform":
        check_state_machine(out, client, config)
        check_queues(out, client, "queue_urls", config.queue_urls, "sqs.queue_age")
        check_queues(out, client, "dlq_urls", config.dlq_urls, "sqs.dlq_empty (critical)")
        check_buckets(out, client, config)
        if not config.site_urls:
            _not_configured(out, "resource.site_urls", "site_urls", "s3.site (critical)")
        check_table(out, client, "ownership_table", config.ownership_table, needs_ttl=False,
                    checks="ownership.claims")
        check_ecs(out, client, config, ("edit_service",))
        return
    check_ecs(out, client, config, ("hermes_service", "edit_service"))
    check_table(out, client, "sessions_table", config.sessions_table, needs_ttl=True,
                checks="dynamodb.sessions_table and the journeys")
    check_target_groups(out, client, config)
    check_load_balancer(out, client, config)
    check_efs(out, client, config)
    check_platform_stack(out, client, config)
    check_secret(out, client, config)
    if not config.base_url:
        _not_configured(out, "resource.base_url", "base_url", "http.hermes_health, http.routing (critical)")
