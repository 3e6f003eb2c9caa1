"""The sandbox's AWS side, seen the way the canary sees it: real boto3 over HTTP through the fault proxy."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import create_parser

from sandbox.aws_side import AwsSandbox
from sandbox.control import PlatformControl, SeededResources
from sandbox.faults import Faults
from sandbox.platform_layout import (
    EDIT_API_TG,
    EDIT_ASTRO_TG,
    EDIT_WS_TG,
    HERMES_TG,
    METRIC_NAME,
    METRIC_NAMESPACE,
)

REGION = "us-west-2"
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
}
EDIT_TGS = (EDIT_API_TG, EDIT_ASTRO_TG, EDIT_WS_TG)
Aws = Callable[[str], Any]  # service name -> boto3 client through the fault proxy


@pytest.fixture(scope="module")
def faults() -> Faults:
    return Faults()


@pytest.fixture(scope="module")
def sandbox(faults: Faults, exclusive_moto: None) -> Iterator[AwsSandbox]:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in ENV.items():
            mp.setenv(key, value)
        mp.delenv("AWS_ENDPOINT_URL", raising=False)
        mp.delenv("AWS_PROFILE", raising=False)
        box = AwsSandbox(faults, region=REGION, publish_interval_s=0)
        box.start()
        try:
            yield box
        finally:
            box.stop()


@pytest.fixture(autouse=True)
def healthy(sandbox: AwsSandbox) -> Iterator[None]:
    sandbox.reset()
    yield


@pytest.fixture(scope="module")
def res(sandbox: AwsSandbox) -> SeededResources:
    return sandbox.resources


@pytest.fixture(scope="module")
def aws(sandbox: AwsSandbox) -> Aws:
    """boto3 clients the way the canary builds them: endpoint = the proxy, no retries (errors surface once)."""
    cache: dict[str, Any] = {}

    def make(service: str) -> Any:
        if service not in cache:
            cache[service] = boto3.session.Session(
                aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
            ).client(service, endpoint_url=sandbox.endpoint_url,
                     config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
        return cache[service]

    return make


def _service(aws: Aws, res: SeededResources, name: str) -> dict[str, Any]:
    (svc,) = aws("ecs").describe_services(cluster=res.cluster, services=[name])["services"]
    return dict(svc)


def _health(aws: Aws, res: SeededResources, tg: str) -> list[dict[str, Any]]:
    return list(aws("elbv2").describe_target_health(TargetGroupArn=res.target_groups[tg])["TargetHealthDescriptions"])


def _rules(aws: Aws, res: SeededResources) -> dict[str, tuple[list[str], str]]:
    out = {}
    for rule in aws("elbv2").describe_rules(ListenerArn=res.listener_arn)["Rules"]:
        if rule["IsDefault"]:
            continue
        (cond,) = rule["Conditions"]
        (action,) = rule["Actions"]
        out[rule["Priority"]] = (cond["PathPatternConfig"]["Values"], action["TargetGroupArn"])
    return out


def _datapoints(aws: Aws, hours: float = 1.0) -> list[dict[str, Any]]:
    now = dt.datetime.now(dt.UTC)
    return list(aws("cloudwatch").get_metric_statistics(
        Namespace=METRIC_NAMESPACE, MetricName=METRIC_NAME,
        Dimensions=[{"Name": "Environment", "Value": "production"}],
        StartTime=now - dt.timedelta(hours=hours), EndTime=now + dt.timedelta(minutes=1),
        Period=60, Statistics=["Maximum"],
    )["Datapoints"])


def _task_ips(aws: Aws, res: SeededResources, service: str) -> list[str]:
    arns = aws("ecs").list_tasks(cluster=res.cluster, serviceName=service)["taskArns"]
    if not arns:
        return []
    ips = []
    for task in aws("ecs").describe_tasks(cluster=res.cluster, tasks=arns)["tasks"]:
        assert task["lastStatus"] == "RUNNING"
        details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
        ips.append(details["privateIPv4Address"])
    return sorted(ips)


# -- the healthy seed ---------------------------------------------------------------------------------


def test_sandbox_implements_the_platform_control_seam(sandbox: AwsSandbox) -> None:
    control: PlatformControl = sandbox
    assert control.resources.cluster == "webordinary-edit-cluster"
    assert control.service_counts("webordinary-hermes-service") == (1, 1)
    assert control.service_counts("webordinary-edit-service") == (0, 0)


def test_cluster_and_services_report_a_steady_platform(aws: Aws, res: SeededResources) -> None:
    (cluster,) = aws("ecs").describe_clusters(clusters=[res.cluster], include=["SETTINGS"])["clusters"]
    assert cluster["status"] == "ACTIVE"
    assert cluster["runningTasksCount"] == 1
    assert {"name": "containerInsights", "value": "enabled"} in cluster["settings"]

    hermes = _service(aws, res, res.hermes_service)
    assert (hermes["status"], hermes["desiredCount"], hermes["runningCount"]) == ("ACTIVE", 1, 1)
    (deployment,) = hermes["deployments"]
    assert (deployment["status"], deployment["rolloutState"], deployment["failedTasks"]) == ("PRIMARY", "COMPLETED", 0)
    assert hermes["events"][0]["message"].endswith("has reached a steady state.")

    edit = _service(aws, res, res.edit_service)  # idle is the platform's normal state
    assert (edit["status"], edit["desiredCount"], edit["runningCount"]) == ("ACTIVE", 0, 0)
    assert [d["rolloutState"] for d in edit["deployments"]] == ["COMPLETED"]


def test_service_tasks_exist_and_stay_running(aws: Aws, res: SeededResources) -> None:
    ecs = aws("ecs")
    (arn,) = ecs.list_tasks(cluster=res.cluster, serviceName=res.hermes_service)["taskArns"]
    assert ecs.list_tasks(cluster=res.cluster, serviceName=res.edit_service)["taskArns"] == []
    for _ in range(3):  # moto would walk a task to STOPPED one describe at a time
        (task,) = ecs.describe_tasks(cluster=res.cluster, tasks=[arn])["tasks"]
        assert task["lastStatus"] == "RUNNING"
    assert task["group"] == f"service:{res.hermes_service}"


def test_task_definitions_are_fargate_awsvpc_with_container_memory(
    aws: Aws, res: SeededResources
) -> None:
    for family, ports in (("webordinary-hermes", [3000]), ("webordinary-edit", [8080, 4321, 4322])):
        td = aws("ecs").describe_task_definition(taskDefinition=family)["taskDefinition"]
        assert td["networkMode"] == "awsvpc" and td["requiresCompatibilities"] == ["FARGATE"]
        (container,) = td["containerDefinitions"]
        assert container["memory"] > 0
        assert [p["containerPort"] for p in container["portMappings"]] == ports


def test_sessions_table_has_the_real_key_gsi_and_ttl(aws: Aws, res: SeededResources) -> None:
    ddb = aws("dynamodb")
    table = ddb.describe_table(TableName=res.sessions_table)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["KeySchema"] == [{"AttributeName": "sessionId", "KeyType": "HASH"},
                                  {"AttributeName": "userId", "KeyType": "RANGE"}]
    (gsi,) = table["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "StatusIndex"
    assert gsi["KeySchema"] == [{"AttributeName": "status", "KeyType": "HASH"},
                                {"AttributeName": "clientId", "KeyType": "RANGE"}]
    assert ddb.describe_time_to_live(TableName=res.sessions_table)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}
    # One platform-owned (not TEST_) session, so cleanup code is proven to leave it alone.
    items = ddb.scan(TableName=res.sessions_table)["Items"]
    assert [i["sessionId"]["S"] for i in items] == [res.extra["platform_session_key"]["sessionId"]]
    assert not items[0]["userId"]["S"].startswith("TEST_")


def test_alb_listener_default_action_rules_and_target_groups(aws: Aws, res: SeededResources) -> None:
    elbv2 = aws("elbv2")
    (lb,) = elbv2.describe_load_balancers(Names=["webordinary-edit-alb"])["LoadBalancers"]
    assert lb["LoadBalancerArn"] == res.load_balancer_arn
    listeners = {ln["Port"]: ln for ln in elbv2.describe_listeners(LoadBalancerArn=res.load_balancer_arn)["Listeners"]}
    https = listeners[443]
    assert https["Protocol"] == "HTTPS" and https["Certificates"]
    (default,) = https["DefaultActions"]
    assert default["Type"] == "fixed-response"
    assert default["FixedResponseConfig"]["StatusCode"] == "200"
    assert default["FixedResponseConfig"]["MessageBody"] == "healthy"
    assert listeners[80]["DefaultActions"][0]["Type"] == "redirect"

    tgs = {tg["TargetGroupName"]: tg for tg in elbv2.describe_target_groups()["TargetGroups"]}
    assert {n: (tg["Port"], tg["TargetType"]) for n, tg in tgs.items()} == {
        HERMES_TG: (3000, "ip"), EDIT_API_TG: (8080, "ip"), EDIT_ASTRO_TG: (4321, "ip"), EDIT_WS_TG: (4322, "ip")}

    tg = res.target_groups
    assert _rules(aws, res) == {
        "5": (["/hermes/*"], tg[HERMES_TG]),
        "10": (["/api/*"], tg[EDIT_API_TG]),
        "15": (["/session/*"], tg[EDIT_ASTRO_TG]),
        "20": (["/preview/*", "/_astro/*"], tg[EDIT_ASTRO_TG]),
        "30": (["/ws/*"], tg[EDIT_WS_TG]),
    }


@pytest.mark.parametrize(("path", "target_group"), [
    ("/hermes/health", HERMES_TG),
    ("/hermes/api/sessions/activate?x=1", HERMES_TG),
    ("/api/health", EDIT_API_TG),
    ("/session/abc/health", EDIT_ASTRO_TG),
    ("/preview/index.html", EDIT_ASTRO_TG),
    ("/_astro/client.js", EDIT_ASTRO_TG),
    ("/ws/hmr", EDIT_WS_TG),
    ("/health", None),
    ("/API/health", None),  # ALB path patterns are case-sensitive
    ("/apiary", None),
])
def test_route_for_path_follows_the_listener_rules(sandbox: AwsSandbox, path: str, target_group: str | None) -> None:
    assert sandbox.route_for_path(path) == target_group


def test_targets_track_running_tasks(sandbox: AwsSandbox, aws: Aws, res: SeededResources) -> None:
    (hermes_target,) = _health(aws, res, HERMES_TG)
    assert hermes_target["TargetHealth"]["State"] == "healthy"
    assert [hermes_target["Target"]["Id"]] == _task_ips(aws, res, res.hermes_service)
    assert all(_health(aws, res, tg) == [] for tg in EDIT_TGS)
    assert sandbox.healthy_target_count(EDIT_API_TG) == 0

    sandbox.set_service_counts(res.edit_service, desired=2, running=2)
    ips = _task_ips(aws, res, res.edit_service)
    assert len(ips) == 2 and sandbox.task_ips(res.edit_service) != []
    assert sorted(sandbox.task_ips(res.edit_service)) == ips
    for tg in EDIT_TGS:
        assert sorted(t["Target"]["Id"] for t in _health(aws, res, tg)) == ips
        assert sandbox.healthy_target_count(tg) == 2
    edit = _service(aws, res, res.edit_service)
    assert (edit["desiredCount"], edit["runningCount"], edit["deployments"][0]["rolloutState"]) == (2, 2, "COMPLETED")
    assert "has started 2 tasks" in edit["events"][1]["message"]
    assert edit["events"][0]["message"].endswith("has reached a steady state.")

    sandbox.set_service_counts(res.edit_service, desired=0, running=0)
    assert _task_ips(aws, res, res.edit_service) == []
    assert all(_health(aws, res, tg) == [] for tg in EDIT_TGS)
    assert "has stopped 2 running tasks" in _service(aws, res, res.edit_service)["events"][1]["message"]


def test_a_scale_out_is_pending_tasks_not_a_rollout(sandbox: AwsSandbox, aws: Aws, res: SeededResources) -> None:
    sandbox.set_service_counts(res.edit_service, desired=1, running=0, pending=1)
    edit = _service(aws, res, res.edit_service)
    assert (edit["desiredCount"], edit["runningCount"], edit["pendingCount"]) == (1, 0, 1)
    # as on ECS: a desired-count change leaves the primary deployment's rollout COMPLETED
    assert edit["deployments"][0]["rolloutState"] == "COMPLETED"
    assert sandbox.service_counts(res.edit_service) == (1, 0)
    assert sandbox.healthy_target_count(EDIT_API_TG) == 0


def test_update_service_through_the_api_moves_tasks_and_targets(
    sandbox: AwsSandbox, aws: Aws, res: SeededResources
) -> None:
    aws("ecs").update_service(cluster=res.cluster, service=res.edit_service, desiredCount=1)
    edit = _service(aws, res, res.edit_service)
    assert (edit["desiredCount"], edit["runningCount"]) == (1, 1)
    assert all(sandbox.healthy_target_count(tg) == 1 for tg in EDIT_TGS)
    assert len(_task_ips(aws, res, res.edit_service)) == 1


def test_efs_is_available_with_a_mount_target_and_clients_access_point(
    aws: Aws, res: SeededResources
) -> None:
    efs = aws("efs")
    (fs,) = efs.describe_file_systems(FileSystemId=res.efs_id)["FileSystems"]
    assert fs["LifeCycleState"] == "available"
    assert {"Key": "Name", "Value": "webordinary-workspaces"} in fs["Tags"]
    (mount,) = efs.describe_mount_targets(FileSystemId=res.efs_id)["MountTargets"]
    assert mount["LifeCycleState"] == "available"
    (ap,) = efs.describe_access_points(FileSystemId=res.efs_id)["AccessPoints"]
    assert ap["RootDirectory"]["Path"] == "/clients"


def test_active_session_count_is_fresh_with_its_real_dimension(
    sandbox: AwsSandbox, aws: Aws
) -> None:
    (metric,) = aws("cloudwatch").list_metrics(Namespace=METRIC_NAMESPACE, MetricName=METRIC_NAME)["Metrics"]
    assert metric["Dimensions"] == [{"Name": "Environment", "Value": "production"}]
    assert [p["Maximum"] for p in _datapoints(aws, hours=0.2)] == [0.0]
    assert sandbox.publish_active_sessions(3) is True
    assert max(p["Maximum"] for p in _datapoints(aws, hours=0.2)) == 3.0


# -- state faults -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["targets_unhealthy", "hermes_down"])
def test_hermes_targets_fail_health_checks(
    fault: str, sandbox: AwsSandbox, faults: Faults, aws: Aws, res: SeededResources
) -> None:
    sandbox.set_service_counts(res.edit_service, desired=1, running=1)
    faults.enable(fault)
    (target,) = _health(aws, res, HERMES_TG)
    assert target["TargetHealth"]["State"] == "unhealthy"
    assert target["TargetHealth"]["Reason"] == "Target.FailedHealthChecks"
    assert sandbox.healthy_target_count(HERMES_TG) == 0
    assert [t["TargetHealth"]["State"] for t in _health(aws, res, EDIT_API_TG)] == ["healthy"]
    assert sandbox.healthy_target_count(EDIT_API_TG) == 1

    faults.disable(fault)
    assert [t["TargetHealth"]["State"] for t in _health(aws, res, HERMES_TG)] == ["healthy"]
    assert sandbox.healthy_target_count(HERMES_TG) == 1


def test_service_mismatch(sandbox: AwsSandbox, faults: Faults, aws: Aws, res: SeededResources) -> None:
    faults.enable("service_mismatch")
    hermes = _service(aws, res, res.hermes_service)
    assert (hermes["desiredCount"], hermes["runningCount"], hermes["pendingCount"]) == (1, 0, 0)
    (deployment,) = hermes["deployments"]
    assert (deployment["status"], deployment["rolloutState"]) == ("PRIMARY", "COMPLETED")
    assert sandbox.service_counts(res.hermes_service) == (1, 0)
    assert _health(aws, res, HERMES_TG) == [] and _task_ips(aws, res, res.hermes_service) == []

    faults.disable("service_mismatch")
    hermes = _service(aws, res, res.hermes_service)
    assert (hermes["desiredCount"], hermes["runningCount"]) == (1, 1)
    assert sandbox.healthy_target_count(HERMES_TG) == 1


def test_deployment_failed(sandbox: AwsSandbox, faults: Faults, aws: Aws, res: SeededResources) -> None:
    faults.enable("deployment_failed")
    hermes = _service(aws, res, res.hermes_service)
    primary, old = hermes["deployments"]
    assert (primary["status"], primary["rolloutState"]) == ("PRIMARY", "IN_PROGRESS")
    assert primary["failedTasks"] > 0
    assert (old["status"], old["runningCount"]) == ("ACTIVE", 1)
    assert (hermes["desiredCount"], hermes["runningCount"]) == (1, 1)  # the old deployment still serves
    assert "failed ELB health checks" in hermes["events"][0]["message"]
    assert hermes["events"][0]["message"].startswith("(service webordinary-hermes-service) has stopped 1 running")
    assert sandbox.healthy_target_count(HERMES_TG) == 1

    faults.disable("deployment_failed")
    hermes = _service(aws, res, res.hermes_service)
    assert [(d["status"], d["rolloutState"], d["failedTasks"]) for d in hermes["deployments"]] == [
        ("PRIMARY", "COMPLETED", 0)]
    assert not any("failed" in e["message"] for e in hermes["events"])


def test_route_missing(sandbox: AwsSandbox, faults: Faults, aws: Aws, res: SeededResources) -> None:
    faults.enable("route_missing")
    rules = _rules(aws, res)
    assert "10" not in rules and not any("/api/*" in patterns for patterns, _tg in rules.values())
    assert len(rules) == 4
    assert sandbox.route_for_path("/api/health") is None  # falls through to the "healthy" default action

    faults.disable("route_missing")
    assert _rules(aws, res)["10"] == (["/api/*"], res.target_groups[EDIT_API_TG])
    assert sandbox.route_for_path("/api/health") == EDIT_API_TG


def test_metric_missing(sandbox: AwsSandbox, faults: Faults, aws: Aws) -> None:
    faults.enable("metric_missing")
    assert aws("cloudwatch").list_metrics(Namespace=METRIC_NAMESPACE)["Metrics"] == []
    assert _datapoints(aws, hours=1) == []
    assert sandbox.publish_active_sessions(2) is False  # Hermes is not publishing

    faults.disable("metric_missing")
    assert [p["Maximum"] for p in _datapoints(aws, hours=0.2)] == [2.0]


def test_metric_missing_stale_mode_keeps_an_old_datapoint(faults: Faults, aws: Aws) -> None:
    faults.enable("metric_missing", mode="stale")
    (metric,) = aws("cloudwatch").list_metrics(Namespace=METRIC_NAMESPACE)["Metrics"]
    assert metric["MetricName"] == METRIC_NAME
    assert _datapoints(aws, hours=1) == []
    assert len(_datapoints(aws, hours=3)) == 1


def test_ttl_disabled(faults: Faults, aws: Aws, res: SeededResources) -> None:
    ddb = aws("dynamodb")
    faults.enable("ttl_disabled")
    assert ddb.describe_time_to_live(TableName=res.sessions_table)["TimeToLiveDescription"][
        "TimeToLiveStatus"] == "DISABLED"
    faults.disable("ttl_disabled")
    assert ddb.describe_time_to_live(TableName=res.sessions_table)["TimeToLiveDescription"][
        "TimeToLiveStatus"] == "ENABLED"


def test_efs_unavailable(faults: Faults, aws: Aws, res: SeededResources) -> None:
    efs = aws("efs")
    faults.enable("efs_unavailable")
    assert efs.describe_mount_targets(FileSystemId=res.efs_id)["MountTargets"] == []
    assert efs.describe_file_systems(FileSystemId=res.efs_id)["FileSystems"][0]["NumberOfMountTargets"] == 0
    faults.disable("efs_unavailable")
    assert len(efs.describe_mount_targets(FileSystemId=res.efs_id)["MountTargets"]) == 1


def test_reset_is_fast_and_restores_the_healthy_seed(
    sandbox: AwsSandbox, faults: Faults, aws: Aws, res: SeededResources
) -> None:
    for fault in ("targets_unhealthy", "service_mismatch", "deployment_failed", "route_missing", "metric_missing",
                  "ttl_disabled", "efs_unavailable", "credentials_expired"):
        faults.enable(fault)
    sandbox.set_service_counts(res.edit_service, desired=3, running=2, pending=1)
    sandbox.client("dynamodb").put_item(TableName=res.sessions_table, Item={
        "sessionId": {"S": "session-canary-1"}, "userId": {"S": "TEST_canary"}, "status": {"S": "active"},
        "clientId": {"S": "integration-test-client"}})

    started = time.perf_counter()
    sandbox.reset()
    elapsed = time.perf_counter() - started

    assert elapsed < 0.5, f"reset took {elapsed:.3f} s"
    assert faults.snapshot() == {}
    hermes = _service(aws, res, res.hermes_service)
    assert (hermes["desiredCount"], hermes["runningCount"]) == (1, 1)
    assert [(d["status"], d["rolloutState"]) for d in hermes["deployments"]] == [("PRIMARY", "COMPLETED")]
    assert sandbox.healthy_target_count(HERMES_TG) == 1
    assert sandbox.service_counts(res.edit_service) == (0, 0)
    assert all(sandbox.healthy_target_count(tg) == 0 for tg in EDIT_TGS)
    assert _task_ips(aws, res, res.edit_service) == []
    assert len(_rules(aws, res)) == 5
    assert aws("dynamodb").describe_time_to_live(TableName=res.sessions_table)["TimeToLiveDescription"][
        "TimeToLiveStatus"] == "ENABLED"
    assert len(aws("efs").describe_mount_targets(FileSystemId=res.efs_id)["MountTargets"]) == 1
    assert [p["Maximum"] for p in _datapoints(aws, hours=0.2)] == [0.0]
    items = aws("dynamodb").scan(TableName=res.sessions_table)["Items"]
    assert [i["userId"]["S"] for i in items] == [res.extra["platform_session_key"]["userId"]]


def test_only_one_sandbox_per_process(sandbox: AwsSandbox) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        AwsSandbox(Faults()).start()
    assert sandbox.service_counts("webordinary-hermes-service") == (1, 1)  # the running one is untouched


# -- canary-side faults in the proxy -------------------------------------------------------------------

CALLS: dict[str, Callable[[Any, SeededResources], Any]] = {
    "ecs": lambda c, r: c.describe_services(cluster=r.cluster, services=[r.hermes_service]),
    "dynamodb": lambda c, r: c.describe_table(TableName=r.sessions_table),
    "sts": lambda c, r: c.get_caller_identity(),
    "elbv2": lambda c, r: c.describe_target_health(TargetGroupArn=r.target_groups[HERMES_TG]),
    "efs": lambda c, r: c.describe_file_systems(FileSystemId=r.efs_id),
    "cloudwatch": lambda c, r: c.list_metrics(Namespace=METRIC_NAMESPACE),
    "s3": lambda c, r: c.list_buckets(),
}


def _error(aws: Aws, res: SeededResources, service: str) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        CALLS[service](aws(service), res)
    err = info.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"].get("Message", "")


@pytest.mark.parametrize(("service", "code"), [
    ("ecs", "ExpiredTokenException"), ("dynamodb", "ExpiredTokenException"), ("sts", "ExpiredToken"),
    ("elbv2", "ExpiredToken"), ("efs", "ExpiredTokenException"), ("cloudwatch", "ExpiredToken"),
    ("s3", "ExpiredToken"),
])
def test_credentials_expired_answers_every_service(
    service: str, code: str, sandbox: AwsSandbox, faults: Faults, aws: Aws, res: SeededResources
) -> None:
    faults.enable("credentials_expired")
    assert _error(aws, res, service) == (code, 400, "The security token included in the request is expired")
    assert sandbox.injected_errors()["credentials_expired"] >= 1
    faults.disable("credentials_expired")
    CALLS[service](aws(service), res)


@pytest.mark.parametrize(("service", "code", "status"), [
    ("ecs", "AccessDeniedException", 400), ("dynamodb", "AccessDeniedException", 400), ("sts", "AccessDenied", 403),
    ("elbv2", "AccessDenied", 403), ("efs", "AccessDeniedException", 403), ("cloudwatch", "AccessDenied", 403),
    ("s3", "AccessDenied", 403),
])
def test_access_denied_answers_only_the_named_service(
    service: str, code: str, status: int, faults: Faults, aws: Aws, res: SeededResources
) -> None:
    faults.enable("access_denied", service=service)
    got_code, got_status, message = _error(aws, res, service)
    assert (got_code, got_status) == (code, status)
    assert "is not authorized to perform" in message
    other = "sts" if service != "sts" else "ecs"
    CALLS[other](aws(other), res)


def test_access_denied_defaults_to_ecs_and_names_the_action(
    faults: Faults, aws: Aws, res: SeededResources
) -> None:
    faults.enable("access_denied")
    code, _status, message = _error(aws, res, "ecs")
    assert code == "AccessDeniedException" and "ecs:DescribeServices" in message
    CALLS["dynamodb"](aws("dynamodb"), res)


@pytest.mark.parametrize(("service", "code", "status"), [
    ("ecs", "ThrottlingException", 400), ("dynamodb", "ThrottlingException", 400), ("sts", "Throttling", 400),
    ("elbv2", "Throttling", 400), ("efs", "ThrottlingException", 400), ("cloudwatch", "Throttling", 400),
    ("s3", "SlowDown", 503),
])
def test_throttled_answers_the_named_service(
    service: str, code: str, status: int, faults: Faults, aws: Aws, res: SeededResources
) -> None:
    faults.enable("throttled", service=service)
    assert _error(aws, res, service)[:2] == (code, status)


def test_throttled_defaults_to_dynamodb(faults: Faults, aws: Aws, res: SeededResources) -> None:
    faults.enable("throttled")
    assert _error(aws, res, "dynamodb")[0] == "ThrottlingException"
    CALLS["ecs"](aws("ecs"), res)


def test_throttled_first_n_calls_of_one_operation_then_recovers(
    sandbox: AwsSandbox, faults: Faults, aws: Aws, res: SeededResources
) -> None:
    # GIVEN DynamoDB throttling only DescribeTable, only its first 2 calls, with DynamoDB's own code
    before = sandbox.injected_errors().get("throttled", 0)
    faults.enable("throttled", service="dynamodb", operation="DescribeTable", first="2",
                  code="ProvisionedThroughputExceededException")
    # THEN other operations of the service are served, DescribeTable fails twice and then is served
    aws("dynamodb").describe_time_to_live(TableName=res.sessions_table)
    assert _error(aws, res, "dynamodb")[:2] == ("ProvisionedThroughputExceededException", 400)
    assert _error(aws, res, "dynamodb")[0] == "ProvisionedThroughputExceededException"
    CALLS["dynamodb"](aws("dynamodb"), res)
    assert sandbox.injected_errors()["throttled"] - before == 2
    # AND switching the fault on again starts the count again
    faults.enable("throttled", service="dynamodb", operation="DescribeTable", first="1")
    assert _error(aws, res, "dynamodb")[0] == "ThrottlingException"
    CALLS["dynamodb"](aws("dynamodb"), res)


def test_throttled_fraction_is_seeded_and_repeatable(faults: Faults, aws: Aws, res: SeededResources) -> None:
    def pattern() -> list[bool]:
        out = []
        for _ in range(20):
            try:
                CALLS["ecs"](aws("ecs"), res)
                out.append(False)
            except ClientError:
                out.append(True)
        return out

    faults.enable("throttled", service="ecs", fraction="0.5", seed="7")
    first = pattern()
    faults.disable("throttled")
    faults.enable("throttled", service="ecs", fraction="0.5", seed="7")
    assert pattern() == first and 3 <= sum(first) <= 17  # some throttled, some served, the same ones each time


@pytest.mark.parametrize(("service", "status", "code"), [
    ("efs", 503, "ServiceUnavailable"), ("ecs", 500, "InternalFailure"), ("elbv2", 503, "ServiceUnavailable"),
    ("sts", 500, "InternalFailure"), ("s3", 500, "InternalError"), ("cloudwatch", 503, "ServiceUnavailable"),
])
def test_aws_5xx_answers_a_server_error_in_the_services_protocol(
    service: str, status: int, code: str, faults: Faults, aws: Aws, res: SeededResources
) -> None:
    faults.enable("aws_5xx", service=service, status=str(status))
    assert _error(aws, res, service)[:2] == (code, status)
    other = "sts" if service != "sts" else "ecs"
    CALLS[other](aws(other), res)


@pytest.mark.parametrize(("service", "headers", "body", "content_type"), [
    ("ecs", {"X-Amz-Target": "AmazonEC2ContainerServiceV20141113.DescribeClusters",
             "Content-Type": "application/x-amz-json-1.1"}, b"{}", "application/x-amz-json-1.1"),
    ("dynamodb", {"X-Amz-Target": "DynamoDB_20120810.ListTables",
                  "Content-Type": "application/x-amz-json-1.0"}, b"{}", "application/x-amz-json-1.0"),
    ("sts", {"Content-Type": "application/x-www-form-urlencoded"}, b"Action=GetCallerIdentity&Version=2011-06-15",
     "text/xml"),
])
def test_a_5xx_body_is_in_the_requests_own_protocol_version(
    service: str, headers: dict[str, str], body: bytes, content_type: str, sandbox: AwsSandbox, faults: Faults
) -> None:
    faults.enable("aws_5xx", service=service)
    url = urllib.parse.urlsplit(sandbox.endpoint_url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    auth = (f"AWS4-HMAC-SHA256 Credential=testing/20261125/us-west-2/{service}/aws4_request, "
            "SignedHeaders=host, Signature=0")
    conn.request("POST", "/", body=body, headers={**headers, "Authorization": auth})
    response = conn.getresponse()
    payload = response.read().decode()
    conn.close()
    assert response.status == 503 and response.getheader("Content-Type") == content_type
    if content_type == "text/xml":  # query protocol: the server is at fault
        assert "<Type>Receiver</Type><Code>ServiceUnavailable</Code>" in payload
    else:
        assert json.loads(payload)["__type"].endswith("#ServiceUnavailable")


def test_the_platform_side_client_is_never_fault_injected(
    sandbox: AwsSandbox, faults: Faults, res: SeededResources
) -> None:
    faults.enable("credentials_expired")
    assert sandbox.client("ecs").describe_clusters(clusters=[res.cluster])["clusters"][0]["status"] == "ACTIVE"


def _raw_cbor_request(sandbox: AwsSandbox, *, query_mode: bool) -> tuple[int, dict[str, str], bytes]:
    """A CloudWatch rpc-v2-cbor request as a newer SDK would send it (botocore 1.44 still prefers json)."""
    url = urllib.parse.urlsplit(sandbox.endpoint_url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    headers = {
        "smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor", "Accept": "application/cbor",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261125/us-west-2/monitoring/aws4_request, "
                         "SignedHeaders=host, Signature=0",
    }
    if query_mode:
        headers["x-amzn-query-mode"] = "true"
    conn.request("POST", "/service/GraniteServiceVersion20100801/operation/ListMetrics", body=b"\xa0",
                 headers=headers)
    response = conn.getresponse()
    out = (response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    conn.close()
    return out


@pytest.mark.parametrize(("query_mode", "code"), [(False, "ExpiredTokenException"), (True, "ExpiredToken")])
def test_cbor_errors_parse_with_botocores_rpc_v2_cbor_parser(
    sandbox: AwsSandbox, faults: Faults, query_mode: bool, code: str
) -> None:
    faults.enable("credentials_expired")
    status, headers, body = _raw_cbor_request(sandbox, query_mode=query_mode)
    assert headers["smithy-protocol"] == "rpc-v2-cbor"
    output_shape = botocore.session.get_session().get_service_model("cloudwatch") \
        .operation_model("ListMetrics").output_shape
    parsed = create_parser("smithy-rpc-v2-cbor").parse(
        {"status_code": status, "headers": headers, "body": body}, output_shape)
    assert parsed["Error"]["Code"] == code
    assert parsed["Error"]["Message"] == "The security token included in the request is expired"


def test_proxy_streams_bodies_and_keeps_connections_alive(
    sandbox: AwsSandbox, aws: Aws
) -> None:
    s3 = aws("s3")
    s3.create_bucket(Bucket="edit.amelia.webordinary.com", CreateBucketConfiguration={"LocationConstraint": REGION})
    body = os.urandom(300_000)
    s3.put_object(Bucket="edit.amelia.webordinary.com", Key="index.html", Body=body)
    assert s3.head_object(Bucket="edit.amelia.webordinary.com", Key="index.html")["ContentLength"] == len(body)
    assert s3.get_object(Bucket="edit.amelia.webordinary.com", Key="index.html")["Body"].read() == body

    # Several requests on one keep-alive connection, each answered in full and promptly.
    url = urllib.parse.urlsplit(sandbox.endpoint_url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=5)
    for _ in range(3):
        conn.request("POST", "/", body=b"{}", headers={
            "X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261125/us-west-2/dynamodb/aws4_request, "
                             "SignedHeaders=host, Signature=0"})
        response = conn.getresponse()
        assert response.status == 200
        assert b"webordinary-edit-sessions" in response.read()
        assert response.getheader("Connection") != "close"
    conn.close()


BOOT_SCRIPT = """
import datetime as dt, time
from sandbox.aws_side import AwsSandbox
from sandbox.platform_layout import HERMES_TG, METRIC_NAME, METRIC_NAMESPACE
from sandbox.faults import Faults

# Faults switched on before boot (SANDBOX_FAULTS) are in force as soon as start() returns.
with AwsSandbox(Faults({"route_missing": {}, "targets_unhealthy": {}}), publish_interval_s=0) as box:
    assert box.route_for_path("/api/health") is None
    assert box.healthy_target_count(HERMES_TG) == 0

# stop() wiped moto's process-global state: a second sandbox seeds cleanly, and Hermes keeps publishing.
with AwsSandbox(Faults(), publish_interval_s=0.1) as box:
    assert box.route_for_path("/api/health") == "edit-api-tg"
    assert box.healthy_target_count(HERMES_TG) == 1
    assert len(box.client("ecs").list_clusters()["clusterArns"]) == 1
    time.sleep(0.5)
    now = dt.datetime.now(dt.UTC)
    points = box.client("cloudwatch").get_metric_statistics(
        Namespace=METRIC_NAMESPACE, MetricName=METRIC_NAME,
        Dimensions=[{"Name": "Environment", "Value": "production"}], StartTime=now - dt.timedelta(minutes=5),
        EndTime=now + dt.timedelta(minutes=1), Period=60, Statistics=["SampleCount"])["Datapoints"]
    assert sum(p["SampleCount"] for p in points) >= 3, points
print("ok")
"""


def test_boot_applies_faults_already_on_and_a_stopped_sandbox_can_be_replaced() -> None:
    """In a child process: this module's sandbox owns moto's global state here."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | ENV
    done = subprocess.run([sys.executable, "-c", BOOT_SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


# -- alarm actions and history (moto records none) ------------------------------------------------------------


def test_alarm_history_records_state_updates_and_executed_actions(sandbox: AwsSandbox, aws: Aws) -> None:
    from harness.contract import selftest_alarm_name

    cloudwatch, name = aws("cloudwatch"), selftest_alarm_name("sandbox")
    topic = sandbox.resources.extra["selftest_topic_arn"]
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="no change: no action")
    states = cloudwatch.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert [i["HistorySummary"] for i in states] == ["Alarm updated from OK to ALARM"]
    (action,) = cloudwatch.describe_alarm_history(AlarmName=name, HistoryItemType="Action")["AlarmHistoryItems"]
    assert action["HistorySummary"] == f"Successfully executed action {topic}"
    assert json.loads(action["HistoryData"])["actionState"] == "Succeeded"
    # a start date after the change filters it out
    later = action["Timestamp"] + dt.timedelta(seconds=1)
    assert cloudwatch.describe_alarm_history(AlarmName=name, StartDate=later)["AlarmHistoryItems"] == []
