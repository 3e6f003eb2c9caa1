"""Seeding: the healthy session platform created in moto over its API, as the platform's stacks deploy it.

Also the canary stack's alert-path self-test alarm and its topic, and the resets a test run needs between cases.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from harness.contract import NAMESPACE as CANARY_NAMESPACE
from harness.contract import selftest_alarm_name
from sandbox import alarm_actions
from sandbox.control import SeededResources
from sandbox.moto_backends import MotoBackends
from sandbox.platform_layout import (
    ALB_NAME,
    CANARY_ENVIRONMENT,
    CERTIFICATE_DOMAIN,
    CLUSTER,
    EDIT_SERVICE,
    EFS_ACCESS_POINT_PATH,
    EFS_NAME,
    HERMES_SERVICE,
    METRIC_ENVIRONMENT,
    PLATFORM_SESSION,
    PLATFORM_STACK,
    SELFTEST_TOPIC,
    SERVICES,
    SESSIONS_STATUS_INDEX,
    SESSIONS_TABLE,
    TARGET_GROUP_HEALTH_PATHS,
    TARGET_GROUP_PORTS,
)


def seed_platform(client: Callable[[str], Any], backends: MotoBackends) -> SeededResources:
    """Create the healthy platform in moto over its API (the metric, the self-test alarm and the stack too)."""
    account_id = client("sts").get_caller_identity()["Account"]
    backends.account_id = account_id
    ec2, elbv2, ecs = client("ec2"), client("elbv2"), client("ecs")
    efs, ddb = client("efs"), client("dynamodb")

    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})  # Fargate ENIs need it
    subnet_ids = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{backends.region}{az}")[
            "Subnet"]["SubnetId"]
        for i, az in ((1, "a"), (2, "b"))
    ]
    sg_id = ec2.create_security_group(
        GroupName="webordinary-edit-sg", Description="ALB and Fargate tasks", VpcId=vpc_id
    )["GroupId"]

    acm = client("acm")
    cert_arn = acm.request_certificate(DomainName=CERTIFICATE_DOMAIN)["CertificateArn"]
    for cert in backends.get("acm")._certificates.values():
        cert.status = "ISSUED"
    alb = elbv2.create_load_balancer(
        Name=ALB_NAME, Subnets=subnet_ids, SecurityGroups=[sg_id], Scheme="internet-facing",
        Type="application",
    )["LoadBalancers"][0]
    lb_arn = alb["LoadBalancerArn"]
    listener_arn = elbv2.create_listener(
        LoadBalancerArn=lb_arn, Protocol="HTTPS", Port=443, Certificates=[{"CertificateArn": cert_arn}],
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {
            "StatusCode": "200", "ContentType": "text/plain", "MessageBody": "healthy"}}],
    )["Listeners"][0]["ListenerArn"]
    http_listener_arn = elbv2.create_listener(
        LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "redirect", "RedirectConfig": {
            "Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}],
    )["Listeners"][0]["ListenerArn"]
    target_groups = {
        name: elbv2.create_target_group(
            Name=name, Protocol="HTTP", Port=port, VpcId=vpc_id, TargetType="ip",
            HealthCheckPath=TARGET_GROUP_HEALTH_PATHS[name],
        )["TargetGroups"][0]["TargetGroupArn"]
        for name, port in TARGET_GROUP_PORTS.items()
    }

    ecs.create_cluster(
        clusterName=CLUSTER, capacityProviders=["FARGATE", "FARGATE_SPOT"],
        settings=[{"name": "containerInsights", "value": "enabled"}],
    )
    task_definitions: dict[str, str] = {}
    for spec in SERVICES.values():
        task_definitions[spec.name] = ecs.register_task_definition(
            family=spec.family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
            cpu=spec.cpu, memory=spec.memory,
            containerDefinitions=[{
                "name": spec.container, "image": spec.image, "memory": int(spec.memory), "essential": True,
                "portMappings": [{"containerPort": p, "protocol": "tcp"} for p in spec.ports],
            }],
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(
            cluster=CLUSTER, serviceName=spec.name, taskDefinition=spec.family,
            desiredCount=spec.seed_desired, launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {
                "subnets": subnet_ids, "securityGroups": [sg_id], "assignPublicIp": "DISABLED"}},
            loadBalancers=[
                {"targetGroupArn": target_groups[tg], "containerName": spec.container,
                 "containerPort": TARGET_GROUP_PORTS[tg]}
                for tg in spec.target_groups
            ],
        )

    ddb.create_table(
        TableName=SESSIONS_TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"}
                              for name in ("sessionId", "userId", "status", "clientId")],
        KeySchema=[{"AttributeName": "sessionId", "KeyType": "HASH"},
                   {"AttributeName": "userId", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{
            "IndexName": SESSIONS_STATUS_INDEX,
            "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"},
                          {"AttributeName": "clientId", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
    )
    ddb.update_time_to_live(
        TableName=SESSIONS_TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
    )
    ddb.update_continuous_backups(
        TableName=SESSIONS_TABLE, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    put_platform_session(ddb)

    fs_id = efs.create_file_system(
        CreationToken=EFS_NAME, PerformanceMode="generalPurpose", Encrypted=True,
        Tags=[{"Key": "Name", "Value": EFS_NAME}],
    )["FileSystemId"]
    efs.create_mount_target(FileSystemId=fs_id, SubnetId=subnet_ids[0], SecurityGroups=[sg_id])
    access_point_id = efs.create_access_point(
        FileSystemId=fs_id, RootDirectory={"Path": EFS_ACCESS_POINT_PATH},
        Tags=[{"Key": "Name", "Value": "webordinary-clients"}],
    )["AccessPointId"]

    resources = SeededResources(
        region=backends.region, account_id=account_id, cluster=CLUSTER, hermes_service=HERMES_SERVICE,
        edit_service=EDIT_SERVICE, sessions_table=SESSIONS_TABLE, load_balancer_arn=lb_arn,
        listener_arn=listener_arn, target_groups=target_groups, efs_id=fs_id,
        metric_environment=METRIC_ENVIRONMENT,
        extra={
            "vpc_id": vpc_id, "subnet_ids": subnet_ids, "security_group_id": sg_id,
            "alb_dns_name": alb["DNSName"], "http_listener_arn": http_listener_arn,
            "certificate_arn": cert_arn, "efs_access_point_id": access_point_id,
            "task_definitions": task_definitions,
            "platform_session_key": {k: PLATFORM_SESSION[k] for k in ("sessionId", "userId")},
        },
    )
    resources.extra["selftest_topic_arn"] = _seed_selftest_alarm(client, account_id)
    resources.extra["platform_stack_name"] = _seed_platform_stack(client)
    return resources


def _seed_selftest_alarm(client: Callable[[str], Any], account_id: str) -> str:
    """The canary stack's alert-path self-test alarm and its SNS topic, as the CDK app deploys them."""
    topic_arn = client("sns").create_topic(Name=SELFTEST_TOPIC)["TopicArn"]
    client("sns").set_topic_attributes(TopicArn=topic_arn, AttributeName="Policy", AttributeValue=json.dumps(
        alert_topic_policy(topic_arn, account_id)))
    client("cloudwatch").put_metric_alarm(
        AlarmName=selftest_alarm_name(CANARY_ENVIRONMENT), Namespace=CANARY_NAMESPACE,
        MetricName="AlertPathSelfTest", Statistic="Maximum", Period=60, EvaluationPeriods=1, Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching",
        ActionsEnabled=True, AlarmActions=[topic_arn], OKActions=[topic_arn],
        AlarmDescription="Driven only by `canary selftest` (SetAlarmState) to prove alarm -> SNS -> email.",
    )
    return str(topic_arn)


def _seed_platform_stack(client: Callable[[str], Any]) -> str:
    """The platform's CloudFormation stack (one harmless resource: moto only needs a valid template)."""
    template = {"Resources": {"Version": {"Type": "AWS::SSM::Parameter", "Properties": {
        "Name": "/webordinary/platform/version", "Type": "String", "Value": "1"}}}}
    client("cloudformation").create_stack(StackName=PLATFORM_STACK, TemplateBody=json.dumps(template))
    return PLATFORM_STACK


def reset_selftest_alarm(client: Callable[[str], Any], backends: MotoBackends, resources: SeededResources) -> None:
    """The self-test alarm back to OK with no history, its topic back to the stack's policy."""
    topic_arn = resources.extra["selftest_topic_arn"]
    client("sns").set_topic_attributes(TopicArn=topic_arn, AttributeName="Policy", AttributeValue=json.dumps(
        alert_topic_policy(topic_arn, backends.account_id)))
    client("cloudwatch").set_alarm_state(AlarmName=selftest_alarm_name(CANARY_ENVIRONMENT),
                                              StateValue="OK", StateReason="sandbox reset")
    alarm = backends.get("cloudwatch").alarms.get(selftest_alarm_name(CANARY_ENVIRONMENT))
    if alarm is not None:
        alarm_actions.history_of(alarm).clear()


def put_platform_session(ddb: Any) -> None:
    item: dict[str, Any] = {
        k: ({"N": str(v)} if isinstance(v, int) else {"S": v}) for k, v in PLATFORM_SESSION.items()
    }
    ddb.put_item(TableName=SESSIONS_TABLE, Item=item)


def reset_sessions_table(client: Callable[[str], Any]) -> None:
    """Only the platform's own session left in the sessions table."""
    ddb = client("dynamodb")
    keys: list[dict[str, Any]] = []
    for page in ddb.get_paginator("scan").paginate(
        TableName=SESSIONS_TABLE, ProjectionExpression="sessionId, userId"
    ):
        keys.extend(page["Items"])
    for key in keys:
        ddb.delete_item(TableName=SESSIONS_TABLE, Key=key)
    put_platform_session(ddb)


def alert_topic_policy(topic_arn: str, account_id: str) -> dict[str, Any]:
    """The alert topic's access policy as the canary stack deploys it: CloudWatch alarms of this account may
    publish, and nothing may publish without TLS (a topic policy replaces SNS's default one)."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "AllowCloudWatchAlarmsToPublish", "Effect": "Allow",
         "Principal": {"Service": alarm_actions.SERVICE_PRINCIPAL}, "Action": "sns:Publish", "Resource": topic_arn,
         "Condition": {"StringEquals": {"aws:SourceAccount": account_id}}},
        {"Sid": "AllowPublishThroughSSLOnly", "Effect": "Deny", "Principal": "*", "Action": "sns:Publish",
         "Resource": topic_arn, "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    ]}
