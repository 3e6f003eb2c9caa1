"""Static half of "doctor and discover only read": every AWS operation their modules name is a read.

An AST scan of harness/ops/doctor/, harness/ops/discover.py and their CLI modules for attribute names that are
operations
of the AWS services they use (from botocore's own service models); each must be Describe/Get/List/Head or the
IAM simulator (paginated operations count by their name). The integration tests record the calls on the wire
as well (test_doctor, test_discover).
"""

from __future__ import annotations

import ast
from pathlib import Path

import botocore.session
from botocore import xform_name

ROOT = Path(__file__).resolve().parents[2]
MODULES = [*sorted((ROOT / "harness" / "ops" / "doctor").glob("*.py")), ROOT / "harness" / "ops" / "discover.py",
           ROOT / "cli" / "doctor.py", ROOT / "cli" / "discover.py"]
SERVICES = ("sts", "ecs", "dynamodb", "elbv2", "efs", "cloudformation", "secretsmanager", "stepfunctions", "sqs",
            "s3", "iam", "lambda", "sns", "cloudwatch", "ssm")
READS = ("describe_", "get_", "list_", "head_", "simulate_")


def operations() -> set[str]:
    session = botocore.session.get_session()
    return {xform_name(op) for service in SERVICES
            for op in session.get_service_model(service).operation_names}


def test_doctor_and_discover_name_only_read_operations() -> None:
    known = operations()
    named: dict[str, list[str]] = {}
    for path in MODULES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            name = node.attr if isinstance(node, ast.Attribute) else (
                node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None)
            if name in known:  # a call, or a paginator's operation name
                named.setdefault(str(name), []).append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}")
    writes = {op: where for op, where in named.items() if not op.startswith(READS)}
    assert writes == {}
    # (not blind: it sees the doctor's own reads)
    assert {"describe_clusters", "simulate_principal_policy", "get_account_settings",
            "list_subscriptions_by_topic", "list_tables"} <= set(named)
