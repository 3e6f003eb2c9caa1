"""Every statement of harness.iam_actions has a concrete resource for the doctor's simulation (none is skipped
silently), and the resources are ARNs of the configured targets in the caller's account, region and partition."""

from __future__ import annotations

from harness.config import load_config
from harness.iam_actions import ACTIONS
from harness.ops.doctor.deployment import Account, _resource_for, simulatable_sids

ACCOUNT = Account("942734823970", "us-west-2", "aws")
FULL = {
    "WEBORDINARY_BASE_URL": "https://edit.webordinary.com", "HERMES_API_TOKEN_SECRET": "webordinary/hermes-token",
    "EFS_FILE_SYSTEM_ID": "fs-0ab7a5e03c0dc5bfd", "PLATFORM_STACK_NAME": "webordinary-edit-platform",
    "STATE_MACHINE_ARN": "arn:aws:states:us-west-2:942734823970:stateMachine:email-processor",
    "QUEUE_URLS": "https://sqs.us-west-2.amazonaws.com/942734823970/webordinary-unclaimed",
    "SITE_URLS": "https://edit.amelia.webordinary.com", "SITE_BUCKETS": "edit.amelia.webordinary.com",
}


def test_every_statement_but_the_kms_one_is_simulated() -> None:
    # DecryptHermesToken needs the key ARN, which only the CDK context knows
    assert simulatable_sids() == set(ACTIONS) - {"DecryptHermesToken"}


def test_resources_are_the_configured_targets_in_the_callers_account() -> None:
    cfg = load_config(environ=FULL)
    for sid in simulatable_sids():
        resources, context = _resource_for(sid, cfg, ACCOUNT)
        assert resources and all(r == "*" or r.startswith("arn:aws:") for r in resources), (sid, resources)
        assert all(":942734823970:" in r or r == "*" or r.startswith("arn:aws:s3:::") or ":states:" in r
                   for r in resources), (sid, resources)
        if "*" in resources and sid not in ("AlbDescribe", "ReadMetrics", "SqsDiscover"):
            assert context, f"{sid}: a wildcard grant is scoped by a condition the simulation must supply"
    assert _resource_for("ReadHermesToken", cfg, ACCOUNT)[0] == [
        "arn:aws:secretsmanager:us-west-2:942734823970:secret:webordinary/hermes-token-AbCdEf"]
    assert _resource_for("SqsAttributes", cfg, ACCOUNT)[0] == [
        "arn:aws:sqs:us-west-2:942734823970:webordinary-unclaimed"]
