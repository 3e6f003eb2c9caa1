"""Look-alike resources for ``canary discover`` to ignore: another environment's copies, near-miss names, the
canary's own resources, and enough unrelated tables to push the platform's onto a second page of ListTables.

``seed_decoys`` adds them to a started sandbox; ``seed_ambiguity`` adds a second cluster that fits production
(``webordinary-production-edit-cluster`` beside ``webordinary-edit-cluster``), which discover must mark, not pick.
"""

from __future__ import annotations

import json
from typing import Any

from sandbox.runtime import Sandbox

OTHER_ENV = "staging"
FILLER_TABLES = 105  # DynamoDB ListTables returns at most 100 names a page


def _table(ddb: Any, name: str) -> None:
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])


def seed_decoys(sandbox: Sandbox) -> dict[str, list[str]]:
    """Seed the decoys; returns what was added, by kind (for the tests' messages)."""
    aws = sandbox.control
    res = sandbox.resources
    ecs, ddb, elbv2, efs = aws.client("ecs"), aws.client("dynamodb"), aws.client("elbv2"), aws.client("efs")
    added: dict[str, list[str]] = {}
    clusters = [f"webordinary-{OTHER_ENV}-edit-cluster", "webordinary-edit-cluster-old"]
    for cluster in clusters:
        ecs.create_cluster(clusterName=cluster)
    added["clusters"] = clusters
    family = next(iter(res.extra.get("task_definitions", {}).values()), None)
    if family:
        ecs.create_service(cluster=clusters[0], serviceName=f"webordinary-{OTHER_ENV}-hermes-service",
                           taskDefinition=family, desiredCount=0)
        ecs.create_service(cluster=res.cluster, serviceName="webordinary-hermes-service-canary-test",
                           taskDefinition=family, desiredCount=0)
    tables = [f"webordinary-{OTHER_ENV}-edit-sessions", "webordinary-edit-sessions-backup",
              f"webordinary-{OTHER_ENV}-container-ownership"]
    tables += [f"analytics-team-table-{i:03d}" for i in range(FILLER_TABLES)]
    for table in tables:
        _table(ddb, table)
    added["tables"] = tables
    subnets = list(res.extra["subnet_ids"])
    lb = elbv2.create_load_balancer(Name=f"webordinary-{OTHER_ENV}-edit-alb", Subnets=subnets,
                                    SecurityGroups=[res.extra["security_group_id"]], Type="application")
    lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
    group = elbv2.create_target_group(Name=f"{OTHER_ENV}-hermes-api-tg", Protocol="HTTP", Port=3000,
                                      VpcId=res.extra["vpc_id"], TargetType="ip")["TargetGroups"][0]
    elbv2.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80, DefaultActions=[
        {"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}])
    elbv2.create_load_balancer(Name="webordinary-edit-nlb", Subnets=subnets, Type="network")
    added["load_balancers"] = [f"webordinary-{OTHER_ENV}-edit-alb", "webordinary-edit-nlb"]
    efs.create_file_system(CreationToken="decoy-workspaces", Tags=[
        {"Key": "Name", "Value": f"webordinary-{OTHER_ENV}-workspaces"}])
    cfn = aws.client("cloudformation")
    stacks = [f"webordinary-{OTHER_ENV}-edit-platform", "WebordinaryCanary-sandbox-us-west-2"]
    for stack in stacks:
        parameter = {"Name": f"/decoy/{stack}", "Type": "String", "Value": "1"}
        # Exports: the staging platform's https URL (discover --environment staging takes it), and the canary's own.
        exported = {"Url": {"Value": f"https://edit.{OTHER_ENV}.webordinary.com",
                            "Export": {"Name": f"webordinary-{OTHER_ENV}-edit-base-url"}}} if "webordinary-" in stack \
            else {"Url": {"Value": "https://canary.example.com", "Export": {"Name": "WebordinaryCanary-sandbox-url"}}}
        cfn.create_stack(StackName=stack, TemplateBody=json.dumps(
            {"Resources": {"P": {"Type": "AWS::SSM::Parameter", "Properties": parameter}}, "Outputs": exported}))
    added["stacks"] = stacks
    sqs, s3, sfn = aws.client("sqs"), aws.client("s3"), aws.client("stepfunctions")
    queues = [f"webordinary-{OTHER_ENV}-unclaimed", f"webordinary-{OTHER_ENV}-email-dlq",
              "webordinary-canary-sandbox-schedule-dlq", "other-team-dlq"]
    for queue in queues:
        sqs.create_queue(QueueName=queue)
    added["queues"] = queues
    region = res.region
    buckets = [f"edit.{OTHER_ENV}.webordinary.com", "media-source.amelia.webordinary.com"]
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_bucket_website(Bucket=buckets[0], WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
    added["buckets"] = buckets
    role = f"arn:aws:iam::{res.account_id}:role/decoy-states"
    definition = '{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}'
    machines = [f"email-processor-{OTHER_ENV}", "email-processor-v2-draft"]
    for machine in machines:
        sfn.create_state_machine(name=machine, definition=definition, roleArn=role)
    added["state_machines"] = machines
    return added


def seed_ambiguity(sandbox: Sandbox) -> str:
    """A second cluster that fits production's naming: discover must mark ecs_cluster ambiguous."""
    name = "webordinary-production-edit-cluster"
    sandbox.control.client("ecs").create_cluster(clusterName=name)
    return name
