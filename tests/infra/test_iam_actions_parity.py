"""The doctor's action list and the deployed grants come from one table (harness.iam_actions): prove they agree.

``canary doctor`` simulates ``statements_for(kind, …)`` against the deployed role; ``infra.permissions`` builds the
role from the same table. If a grant is added, removed or re-scoped in one place only, this test fails.
"""

from __future__ import annotations

import itertools
from typing import Any

import aws_cdk as cdk
import pytest

from harness.contract import CHECK_IDS_BY_PROFILE
from harness.iam_actions import ACTIONS, FUNCTION_KINDS, actions_for
from infra.catalogue import checks_for, missing_context
from infra.config import environment_config
from infra.permissions import Arns, grants_for

ACCOUNT = "123456789012"
FULL_SESSION: dict[str, Any] = {
    "hermes_api_token_secret": "webordinary/hermes-api-token",
    "target_group_arns": [f"arn:aws:elasticloadbalancing:us-west-2:{ACCOUNT}:targetgroup/hermes-api-tg/0123456789ab"],
    "load_balancer_arn": f"arn:aws:elasticloadbalancing:us-west-2:{ACCOUNT}:loadbalancer/app/webordinary-edit-alb/01",
    "efs_file_system_id": "fs-0ab7a5e03c0dc5bfd",
    "platform_stack_name": "webordinary-edit-platform",
}
FULL_QUEUE: dict[str, Any] = {
    "profile": "queue-platform",
    "state_machine_arn": f"arn:aws:states:us-west-2:{ACCOUNT}:stateMachine:email-processor",
    "queue_urls": [f"https://sqs.us-west-2.amazonaws.com/{ACCOUNT}/webordinary-unclaimed"],
    "dlq_urls": [f"https://sqs.us-west-2.amazonaws.com/{ACCOUNT}/webordinary-email-dlq"],
    "site_urls": ["https://edit.amelia.webordinary.com"],
    "site_buckets": ["edit.amelia.webordinary.com"],
}
# Targets the harness defaults but an operator may blank out (an empty context value = not configured).
BLANKABLE = ("ecs_cluster", "hermes_service", "edit_service", "sessions_table", "ownership_table")


def _cases() -> list[tuple[str, dict[str, Any], bool]]:
    cases = []
    for base, blank, kms in itertools.product((FULL_SESSION, FULL_QUEUE, {}), (None, *BLANKABLE), (False, True)):
        entry = {**base, **({blank: ""} if blank else {})}
        if kms:
            entry["hermes_api_token_kms_key_arn"] = f"arn:aws:kms:us-west-2:{ACCOUNT}:key/1234abcd"
        cases.append((f"{base.get('profile', 'session')}-{blank or 'all'}-{'kms' if kms else 'plain'}", entry, kms))
    return cases


@pytest.mark.parametrize(("name", "entry", "kms"), _cases(), ids=[c[0] for c in _cases()])
def test_every_function_kind_is_granted_exactly_the_actions_the_doctor_simulates(
    name: str, entry: dict[str, Any], kms: bool
) -> None:
    defaults = {"ecs_cluster": "webordinary-edit-cluster", "hermes_service": "webordinary-hermes-service",
                "edit_service": "webordinary-edit-service", "sessions_table": "webordinary-edit-sessions",
                "ownership_table": "webordinary-container-ownership", "test_prefix": "TEST_"}
    profile = entry.get("profile", "session-platform")
    # Synth refuses an alarmed check whose resources are unset (issue 11.5): disable those, as an operator must.
    merged = {**defaults, **entry}
    disabled = [c for c in CHECK_IDS_BY_PROFILE[profile] if missing_context(c, lambda key: bool(merged.get(key)))]
    # grants_for takes the function kind itself; tiers only have to be valid for the profile.
    tiers = [t for t in ("probe", "journey", "destructive")
             if any(c not in disabled for c in checks_for(profile, (t,)))]
    cfg = environment_config(defaults, {"name": "parity", "region": "us-west-2", "account": ACCOUNT,
                                        "profile": profile, "tiers": tiers, "allow_destructive": True,
                                        "disabled_checks": disabled, **entry})
    arns = Arns(cdk.Stack(cdk.App(), "Parity", env=cdk.Environment(account=ACCOUNT, region="us-west-2")), cfg)
    targets = dict(cfg.targets)
    for kind, selftest in itertools.product(FUNCTION_KINDS, (False, True)):
        alarm = arns.alarm("webordinary-canary-parity-alert-path-selftest") if selftest else None
        granted = {g.sid: g.actions for g in grants_for(kind, cfg, arns, selftest_alarm_arn=alarm)}
        needed = actions_for(kind, cfg.profile, targets, kms_key=kms, selftest=selftest)
        assert list(granted) == list(needed), (kind, selftest)
        assert granted == needed, (kind, selftest)


def test_the_table_names_only_real_looking_actions() -> None:
    for sid, actions in ACTIONS.items():
        assert actions, sid
        for action in actions:
            service, _, name = action.partition(":")
            assert service and name[:1].isupper(), (sid, action)

