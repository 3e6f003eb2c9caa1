"""`canary discover --cdk` prints an `environments` entry that the CDK app's own validation accepts as it is."""

from __future__ import annotations

from harness.ops.discover import Discovery, as_cdk_environment
from infra.config import environment_config

ACCOUNT = "123456789012"
TARGET_GROUPS = [f"arn:aws:elasticloadbalancing:us-west-2:{ACCOUNT}:targetgroup/hermes-api-tg/0123456789ab"]
LOAD_BALANCER = f"arn:aws:elasticloadbalancing:us-west-2:{ACCOUNT}:loadbalancer/app/webordinary-edit-alb/01"


def test_discover_cdk_entry_is_valid_cdk_context() -> None:
    found = Discovery("production", "session-platform")
    for key, value in {"environment": "production", "profile": "session-platform",
                       "ecs_cluster": "webordinary-edit-cluster", "sessions_table": "webordinary-edit-sessions",
                       "hermes_service": "webordinary-hermes-service", "edit_service": "webordinary-edit-service",
                       "base_url": "https://edit.webordinary.com",
                       "target_group_arns": TARGET_GROUPS,
                       "load_balancer_arn": LOAD_BALANCER,
                       "efs_file_system_id": "fs-0ab7a5e03c0dc5bfd"}.items():
        found.set(key, value, "test")
    cfg = environment_config({}, as_cdk_environment(found, "us-west-2"))
    assert (cfg.name, cfg.region, cfg.profile) == ("production", "us-west-2", "session-platform")
    assert cfg.target("load_balancer_arn") == LOAD_BALANCER
    assert cfg.target_list("target_group_arns") == tuple(TARGET_GROUPS)
