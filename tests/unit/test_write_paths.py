"""Static half of "no code path changes capacity unless the destructive tier is allowed" (DESIGN §1).

An AST scan of everything that runs as the canary (harness/, handlers/, cli/) for calls to AWS operations that
change capacity or consume the platform's work: UpdateService and StopTask may appear only in
harness/checks/destructive.py, whose checks are all destructive-tier (refused by the runner unless
``allow_destructive``) and whose module nothing but the catalogue imports; every other such operation appears
nowhere. The integration half (tests/integration/test_safety.py) watches the calls on the wire.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from harness.checks import CATALOGUE, destructive
from harness.core.model import Tier

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("harness", "handlers", "cli")
DESTRUCTIVE_MODULE = Path("harness/checks/destructive.py")
# boto3 method name -> API operation. Allowed only in the destructive module:
DESTRUCTIVE_ONLY = {"update_service": "UpdateService", "stop_task": "StopTask"}
# Never called by the canary at all (capacity, routing, scaling, or taking the platform's queued work):
NEVER = {
    "run_task": "RunTask", "start_task": "StartTask", "create_service": "CreateService",
    "delete_service": "DeleteService", "update_service_primary_task_set": "UpdateServicePrimaryTaskSet",
    "create_task_set": "CreateTaskSet", "update_task_set": "UpdateTaskSet", "delete_task_set": "DeleteTaskSet",
    "put_cluster_capacity_providers": "PutClusterCapacityProviders", "delete_cluster": "DeleteCluster",
    "update_table": "UpdateTable", "delete_table": "DeleteTable", "update_time_to_live": "UpdateTimeToLive",
    "register_scalable_target": "RegisterScalableTarget", "put_scaling_policy": "PutScalingPolicy",
    "delete_scaling_policy": "DeleteScalingPolicy", "set_desired_capacity": "SetDesiredCapacity",
    "update_auto_scaling_group": "UpdateAutoScalingGroup", "put_function_concurrency": "PutFunctionConcurrency",
    "register_targets": "RegisterTargets", "deregister_targets": "DeregisterTargets",
    "modify_target_group": "ModifyTargetGroup", "modify_rule": "ModifyRule", "delete_rule": "DeleteRule",
    "modify_listener": "ModifyListener", "delete_mount_target": "DeleteMountTarget",
    "stop_execution": "StopExecution", "purge_queue": "PurgeQueue", "receive_message": "ReceiveMessage",
    "delete_message": "DeleteMessage", "delete_message_batch": "DeleteMessageBatch",
}
WATCHED = {**DESTRUCTIVE_ONLY, **NEVER}


def sources() -> Iterator[tuple[Path, ast.Module]]:
    for package in SCANNED:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path.relative_to(ROOT), ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def mentions(tree: ast.Module) -> Iterator[tuple[str, int]]:
    """(boto3 method name, line) of every watched operation: ``x.update_service(...)``, ``getattr(x,
    "update_service")``, or the operation's API name in a string (``_make_api_call("UpdateService", ...)``)."""
    api_names = {api: method for method, api in WATCHED.items()}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in WATCHED:
            yield node.attr, node.lineno
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.strip()
            if text in WATCHED:
                yield text, node.lineno
            elif text in api_names:
                yield api_names[text], node.lineno


def test_capacity_calls_exist_only_in_the_destructive_checks() -> None:
    found: dict[str, set[str]] = {}
    for path, tree in sources():
        for method, line in mentions(tree):
            found.setdefault(method, set()).add(f"{path}:{line}")
    outside = {m: sorted(w for w in where if not w.startswith(f"{DESTRUCTIVE_MODULE}:")) for m, where in found.items()}
    # UpdateService / StopTask: only in the destructive module; everything else: nowhere
    assert {m: w for m, w in outside.items() if w} == {}
    assert not set(found) - set(DESTRUCTIVE_ONLY), found
    # (the scan is not blind: it does find the destructive tier's own restart and restore)
    assert set(found) == set(DESTRUCTIVE_ONLY), found


def test_every_check_of_the_destructive_module_is_destructive_tier() -> None:
    assert destructive.CHECKS and all(c.tier is Tier.DESTRUCTIVE for c in destructive.CHECKS)
    in_module = [c for c in CATALOGUE if c.fn.__module__ == destructive.__name__]
    assert {c.id for c in in_module} == {c.id for c in destructive.CHECKS}


def test_only_the_catalogue_imports_the_destructive_module() -> None:
    def imports_it(node: ast.AST) -> bool:
        if isinstance(node, ast.ImportFrom):
            return node.module == destructive.__name__ or (
                node.module == "harness.checks" and any(a.name == "destructive" for a in node.names))
        return isinstance(node, ast.Import) and any(a.name == destructive.__name__ for a in node.names)

    importers = [str(path) for path, tree in sources() for node in ast.walk(tree) if imports_it(node)]
    # The catalogue is lazy (cold start): it names the module and imports it only when a run selects its checks.
    assert importers == []
    loaded_by_catalogue = [c.id for c in CATALOGUE if c.fn.__module__ == destructive.__name__]
    assert sorted(loaded_by_catalogue) == sorted(c.id for c in CATALOGUE if c.tier is Tier.DESTRUCTIVE)


def test_the_scan_sees_every_spelling_of_a_call() -> None:
    snippet = ast.parse("ecs.update_table(TableName=t)\n"
                        "getattr(client, 'stop_task')(task=t)\n"
                        "client._make_api_call('RunTask', {})\n"
                        "f = sqs.receive_message\n")
    assert sorted(m for m, _line in mentions(snippet)) == ["receive_message", "run_task", "stop_task", "update_table"]
