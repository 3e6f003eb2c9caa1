"""`canary discover` against the sandbox seeded with decoys: the platform's own resources, nothing else.

The decoys (sandbox.decoys) are another environment's copies (webordinary-staging-*), near-miss names, the canary's
own stack and queue, a network load balancer and 105 unrelated tables that push the platform's onto the second
page of ListTables. Discover must return exactly what the sandbox configures the canary with, mark a second
fitting cluster as ambiguous, and only read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from harness.config import load_config
from harness.core.errors import ConfigError
from harness.net.aws import AwsClients
from harness.ops.discover import Discovery, discover, environment_of
from sandbox.decoys import seed_ambiguity, seed_decoys
from sandbox.runtime import Sandbox

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def seeded(exclusive_moto: None) -> Iterator[tuple[Sandbox, dict[str, list[str]]]]:
    sandbox = Sandbox(profile="queue-platform")
    sandbox.start()
    try:
        yield sandbox, seed_decoys(sandbox)
    finally:
        sandbox.stop()


def run(sandbox: Sandbox, **kwargs: Any) -> Discovery:
    clients = AwsClients(boto3.Session(region_name="us-west-2"), endpoint_url=sandbox.environment()["AWS_ENDPOINT_URL"])
    return discover(clients.client, **kwargs)


def as_config(found: Discovery, tmp_path: Path) -> Any:
    path = tmp_path / "canary.json"
    path.write_text(json.dumps(found.config), encoding="utf-8")
    return load_config(environ={}, config_file=str(path))


def _path(url: str) -> str:
    return url.split("/", 3)[-1]


def _csv(value: str) -> list[str]:
    return sorted(v for v in value.split(",") if v)


def test_session_platform_is_found_among_decoys_and_is_the_sandbox_config(
        seeded: tuple[Sandbox, dict[str, list[str]]], tmp_path: Path) -> None:
    sandbox, decoys = seeded
    env = sandbox.environment()
    # WHEN discover runs for production (what the sandbox replicates), recording its AWS calls
    with sandbox.control.recording() as calls:
        found = run(sandbox, profile="session-platform", canary_environment="sandbox")
    # THEN every setting is the one the sandbox configures the canary with, and nothing is ambiguous
    assert found.ambiguous == []
    config = found.config
    assert config["ecs_cluster"] == env["ECS_CLUSTER"]
    assert config["hermes_service"] == env["HERMES_SERVICE"]
    assert config["edit_service"] == env["EDIT_SERVICE"]
    assert config["sessions_table"] == env["SESSIONS_TABLE"]
    assert config["load_balancer_arn"] == env["LOAD_BALANCER_ARN"]
    assert config["target_group_arns"] == _csv(env["TARGET_GROUP_ARNS"])
    assert config["efs_file_system_id"] == env["EFS_FILE_SYSTEM_ID"]
    assert config["platform_stack_name"] == env["PLATFORM_STACK_NAME"]
    assert "base_url" not in config  # never guessed (the staging export and the canary's own are not production's)
    # AND no decoy leaked into any value
    text = json.dumps(config)
    assert not any(name in text for names in decoys.values() for name in names), text
    # AND it loads as CANARY_CONFIG (same keys, valid values)
    loaded = as_config(found, tmp_path)
    assert loaded.ecs_cluster == env["ECS_CLUSTER"] and loaded.environment == "sandbox"
    # AND it only read, through paginators
    actions = {c.action.split(":", 1)[1] for c in calls}
    assert all(a.startswith(("List", "Describe", "Get")) or a in ("GET", "HEAD") for a in actions), actions


def test_pagination_finds_a_table_on_the_second_page(seeded: tuple[Sandbox, dict[str, list[str]]]) -> None:
    sandbox, _ = seeded
    ddb = sandbox.control.client("dynamodb")
    # GIVEN a qa sessions table created after the 105 filler tables (moto lists tables in creation order)
    ddb.create_table(TableName="webordinary-qa-edit-sessions", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "sessionId", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "sessionId", "KeyType": "HASH"}])
    try:
        first_page = ddb.list_tables()["TableNames"]
        assert len(first_page) == 100 and "webordinary-qa-edit-sessions" not in first_page
        # THEN discover still finds it
        assert run(sandbox, environment="qa").config["sessions_table"] == "webordinary-qa-edit-sessions"
    finally:
        ddb.delete_table(TableName="webordinary-qa-edit-sessions")


def test_queue_platform_is_found_among_decoys(seeded: tuple[Sandbox, dict[str, list[str]]], tmp_path: Path) -> None:
    sandbox, decoys = seeded
    env = sandbox.environment()
    found = run(sandbox, profile="queue-platform")
    assert found.ambiguous == []
    config = found.config
    assert config["state_machine_arn"] == env["STATE_MACHINE_ARN"]
    # (moto puts its own endpoint in queue URLs: the sandbox's config has moto's, discover sees the proxy's)
    assert [_path(u) for u in config["queue_urls"]] == sorted(_path(u) for u in _csv(env["QUEUE_URLS"]))
    assert [_path(u) for u in config["dlq_urls"]] == sorted(_path(u) for u in _csv(env["DLQ_URLS"]))
    assert config["site_buckets"] == [env["SITE_BUCKETS"]]
    assert config["site_urls"] == [f"https://{env['SITE_BUCKETS']}"]
    assert config["ownership_table"] == env["OWNERSHIP_TABLE"]
    assert config["ecs_cluster"] == env["ECS_CLUSTER"] and config["edit_service"] == env["EDIT_SERVICE"]
    text = json.dumps(config)
    assert not any(name in text for names in decoys.values() for name in names), text
    assert as_config(found, tmp_path).profile == "queue-platform"


def test_another_environment_finds_only_its_own_copies(seeded: tuple[Sandbox, dict[str, list[str]]]) -> None:
    sandbox, _ = seeded
    found = run(sandbox, environment="staging")
    assert found.config["ecs_cluster"] == "webordinary-staging-edit-cluster"
    assert found.config["hermes_service"] == "webordinary-staging-hermes-service"
    assert found.config["sessions_table"] == "webordinary-staging-edit-sessions"
    assert found.config["load_balancer_arn"].split("/")[-2] == "webordinary-staging-edit-alb"
    assert [a.split("/")[-2] for a in found.config["target_group_arns"]] == ["staging-hermes-api-tg"]
    assert found.config["platform_stack_name"] == "webordinary-staging-edit-platform"
    assert found.config["base_url"] == "https://edit.staging.webordinary.com"  # its CloudFormation export
    assert "edit_service" not in found.config and any(n.startswith("edit_service") for n in found.notes)


def test_no_conventional_name_but_similar_ones_is_ambiguous_not_a_guess(
        seeded: tuple[Sandbox, dict[str, list[str]]], tmp_path: Path) -> None:
    sandbox, _ = seeded
    found = run(sandbox, environment="qa")
    assert found.config["ecs_cluster"] == {"ambiguous": ["webordinary-edit-cluster-old"]}
    assert "similar" in found.sources["ecs_cluster"]
    with pytest.raises(ConfigError, match="ecs_cluster"):
        as_config(found, tmp_path)


def test_two_fitting_clusters_are_marked_ambiguous(seeded: tuple[Sandbox, dict[str, list[str]]],
                                                   tmp_path: Path) -> None:
    sandbox, _ = seeded
    extra = seed_ambiguity(sandbox)
    try:
        found = run(sandbox)
        # THEN neither is picked: the value lists both, and the services (which need a cluster) are not guessed
        assert found.config["ecs_cluster"] == {"ambiguous": sorted(["webordinary-edit-cluster", extra])}
        assert found.ambiguous == ["ecs_cluster"]
        assert "hermes_service" not in found.config
        with pytest.raises(ConfigError, match="ecs_cluster"):
            as_config(found, tmp_path)
    finally:
        sandbox.control.client("ecs").delete_cluster(cluster=extra)
    # AND once deleted (ListClusters still lists it, INACTIVE) it no longer counts
    assert run(sandbox).config["ecs_cluster"] == "webordinary-edit-cluster"


@pytest.mark.parametrize(("name", "base", "env"), [
    ("webordinary-edit-cluster", "webordinary-edit-cluster", "production"),
    ("webordinary-prod-edit-cluster", "webordinary-edit-cluster", "production"),
    ("webordinary-staging-edit-cluster", "webordinary-edit-cluster", "staging"),
    ("email-processor-dev", "email-processor", "dev"),
    ("webordinary-edit-cluster-old", "webordinary-edit-cluster", None),
    ("webordinary-edit", "webordinary-edit-cluster", None),
    ("webordinary-edit-cluster-staging-old", "webordinary-edit-cluster", None),
])
def test_environment_tokens(name: str, base: str, env: str | None) -> None:
    assert environment_of(name, base) == env


@pytest.mark.slow
def test_cli_discover_sandbox_prints_one_json_object_usable_as_canary_config(exclusive_moto: None,
                                                                             tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "cli.main", "discover", "--sandbox", "--decoys"], cwd=ROOT,
                          env=dict(os.environ), capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    config = json.loads(proc.stdout)  # the whole of stdout is one JSON object
    assert config["ecs_cluster"] == "webordinary-edit-cluster" and config["environment"] == "sandbox"
    path = tmp_path / "c.json"
    path.write_text(proc.stdout, encoding="utf-8")
    assert load_config(environ={}, config_file=str(path)).sessions_table == "webordinary-edit-sessions"
    assert "ecs_cluster: ECS cluster" in proc.stderr


def test_the_cluster_stack_tag_names_the_platform_stack(seeded: tuple[Sandbox, dict[str, list[str]]]) -> None:
    sandbox, _ = seeded
    ecs = sandbox.control.client("ecs")
    arn = ecs.describe_clusters(clusters=["webordinary-edit-cluster"])["clusters"][0]["clusterArn"]
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "aws:cloudformation:stack-name", "value": "WebordinaryEdit"}])
    try:
        found = run(sandbox)
        assert found.config["platform_stack_name"] == "WebordinaryEdit"
        assert "stack-name tag" in found.sources["platform_stack_name"]
    finally:
        ecs.untag_resource(resourceArn=arn, tagKeys=["aws:cloudformation:stack-name"])
