"""moto's in-process backends, read and patched where moto's API cannot express the platform.

moto starts no service tasks, ignores ``list_tasks(serviceName=...)``, reports every target healthy and keeps
state in process-global backends (reference/feasibility.md §6). ``MotoBackends`` reaches those backends for one
account and region; the hooks below make moto behave as ECS and the ALB do where the sandbox relies on it.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable
from typing import Any

from sandbox import alarm_actions
from sandbox.platform_layout import CLUSTER, SERVICES


class MotoBackends:
    """The backends of one moto server's account and region (``account_id`` is read back from STS on seeding)."""

    def __init__(self, direct_url: str, region: str, account_id: str = "123456789012") -> None:
        self.direct_url = direct_url
        self.region = region
        self.account_id = account_id

    def reset(self) -> None:
        """Wipe moto's state (a previous sandbox, or ``mock_aws``, in this process may have left some)."""
        request = urllib.request.Request(f"{self.direct_url}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def get(self, service: str) -> Any:
        from moto.backends import get_backend

        return get_backend(service)[self.account_id][self.region]  # type: ignore[call-overload]

    def ecs(self) -> Any:
        return self.get("ecs")

    def elbv2(self) -> Any:
        return self.get("elbv2")

    def service(self, name: str) -> Any:
        """The platform's ECS service ``name`` as moto holds it."""
        return self.ecs().services[f"{CLUSTER}:{name}"]

    def task_ip(self, task_arn: str) -> str:
        task = self.ecs().tasks[CLUSTER][task_arn]
        for attachment in task.attachments:
            for detail in attachment["details"]:
                if detail["name"] == "privateIPv4Address":
                    return str(detail["value"])
        raise RuntimeError(f"task {task_arn} has no private IP")

    def listener_rules(self, listener_arn: str, with_arn: bool = False) -> list[Any]:
        """(priority, path patterns, forward target group ARN[, rule ARN]) of a listener, by priority."""
        rules = self.elbv2().describe_rules(listener_arn, None)
        out: list[Any] = []
        for rule in rules:
            if rule.is_default:
                continue
            patterns: list[str] = []
            for cond in rule.conditions:
                if cond.get("Field") == "path-pattern":
                    patterns += cond.get("PathPatternConfig", {}).get("Values") or cond.get("Values") or []
            tg_arn = None
            for action in rule.actions:
                data = action.data
                if data.get("Type") == "forward":
                    tg_arn = data.get("TargetGroupArn") or next(
                        (t["TargetGroupArn"] for t in data.get("ForwardConfig", {}).get("TargetGroups", [])), None)
            entry = (int(rule.priority), tuple(patterns), tg_arn)
            out.append((*entry, rule.arn) if with_arn else entry)
        return sorted(out, key=lambda r: r[0])


def install_hooks(backends: MotoBackends, on_scaled: Callable[[str, int], None]) -> None:
    """Route UpdateService on the platform's services (e.g. a destructive check scaling the edit service)
    to ``on_scaled(name, desired)``, so tasks, targets and deployments follow as on ECS; filter ListTasks by
    service as ECS does; execute alarm actions and record them in the alarm history as CloudWatch does
    (sandbox.alarm_actions)."""
    alarm_actions.install(backends.get("cloudwatch"), lambda: backends.get("sns"), backends.account_id)
    ecs = backends.ecs()
    original = ecs.update_service

    def update_service(service_properties: dict[str, Any]) -> Any:
        name = str(service_properties.get("service", "")).split("/")[-1]
        desired = service_properties.get("desired_count")
        result = original(service_properties)
        if name in SERVICES and desired is not None:
            on_scaled(name, int(desired))
        return result

    ecs.update_service = update_service

    # moto ignores list_tasks(serviceName=...); ECS filters by the service's task group.
    original_list_tasks = ecs.list_tasks

    def list_tasks(cluster_str: str | None = None, container_instance: str | None = None,
                   family: str | None = None, started_by: str | None = None,
                   service_name: str | None = None, desiredStatus: str | None = None) -> list[Any]:
        tasks = original_list_tasks(cluster_str, container_instance, family, started_by, service_name,
                                    desiredStatus)
        if service_name:
            group = f"service:{service_name.split('/')[-1]}"
            tasks = [t for t in tasks if t.group == group]
        return [t for t in tasks if desiredStatus or t.desired_status == "RUNNING"]

    ecs.list_tasks = list_tasks


_HEALTH_MODES = {
    "unhealthy": ("unhealthy", "Target.FailedHealthChecks", "Health checks failed"),
    "initial": ("initial", "Elb.InitialHealthChecking", "Initial health checks in progress"),
}


def patched_health_for(original: Callable[..., Any], mode: str, group: Any = None) -> Callable[..., Any]:
    """Wrap a FakeTargetGroup.health_for so registered (healthy) targets report ``mode`` instead
    (``partly_unhealthy``: every target but the first registered one of ``group`` fails its checks)."""
    state, reason, description = _HEALTH_MODES["unhealthy" if mode == "partly_unhealthy" else mode]

    def health_for(target: dict[str, Any], ec2_backend: Any) -> Any:
        status = original(target, ec2_backend)
        if mode == "partly_unhealthy" and group is not None and target.get("Id") == next(iter(group.targets), None):
            return status
        if status.status == "healthy":
            status.status, status.reason, status.description = state, reason, description
        return status

    return health_for


def path_matches(pattern: str, path: str) -> bool:
    """ALB path-pattern semantics: case-sensitive, ``*`` any run of characters, ``?`` exactly one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, path, flags=re.DOTALL) is not None
