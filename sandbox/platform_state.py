"""The platform's ECS, ALB, DynamoDB and EFS state, rendered into moto as "seed + active state faults".

moto leaves every deployment IN_PROGRESS, starts no tasks and reports every target healthy, so the sandbox keeps
its own model of each service (desired/running/pending counts, events, running tasks, the deployment a fault
adds) and writes it into moto's backends; describe calls then answer what a healthy (or, with a fault switched
on, a broken) platform would answer. ``reconcile`` is idempotent and cheap when nothing changed.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.control import SeededResources
from sandbox.faults import Faults
from sandbox.moto_backends import MotoBackends, patched_health_for
from sandbox.platform_layout import (
    API_RULE_PRIORITY,
    CLUSTER,
    HERMES_SERVICE,
    HERMES_TG,
    LISTENER_RULES,
    SERVICES,
    SESSIONS_TABLE,
    SHADOW_RULE,
    STEADY,
    TARGET_GROUP_PORTS,
    ServiceSpec,
)
from sandbox.session_metric import SessionMetric


@dataclass
class _Counts:
    desired: int
    running: int
    pending: int = 0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class PlatformState:
    """The sandbox-side model of the platform's services and its rendering into moto (``lock`` is the sandbox's:
    hold it to read ``tasks`` consistently)."""

    def __init__(self, backends: MotoBackends, client: Callable[[str], Any], faults: Faults,
                 resources: SeededResources, metric: SessionMetric, lock: threading.RLock) -> None:
        self._backends = backends
        self._client = client
        self._faults = faults
        self._resources = resources
        self._metric = metric
        self._lock = lock
        self._counts: dict[str, _Counts] = {}
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._deployment_ids: dict[str, str] = {}
        self._deployment_created: dict[str, dt.datetime] = {}
        self.tasks: dict[str, list[str]] = {name: [] for name in SERVICES}  # running task ARNs per service
        self._failed_deployment: dict[str, Any] | None = None
        self._rollout: dict[str, Any] | None = None
        for spec in SERVICES.values():
            self._deployment_ids[spec.name] = self._backends.service(spec.name).deployments[0]["id"]
            self._deployment_created[spec.name] = _now()
        self.reset()

    def reset(self) -> None:
        """Every service back to its seed counts, one steady-state event, no fault's deployment."""
        with self._lock:
            for spec in SERVICES.values():
                self._counts[spec.name] = _Counts(spec.seed_desired, spec.seed_desired)
                self._events[spec.name] = [self._event(spec.name, STEADY)]
            self._failed_deployment = None
            self._rollout = None

    def set_counts(self, spec: ServiceSpec, desired: int, running: int, pending: int) -> None:
        """Set a service's counts and render them (tasks started or stopped, targets (de)registered, events)."""
        with self._lock:
            self._counts[spec.name] = _Counts(desired, running, pending)
            self._render_service(spec, record_events=True)
            self._render_cluster_counts()

    def task_ips(self, spec: ServiceSpec) -> list[str]:
        with self._lock:
            return [self._backends.task_ip(arn) for arn in self.tasks[spec.name]]

    def reconcile(self) -> None:
        """Converge moto onto "seed + active faults"."""
        with self._lock:
            for spec in SERVICES.values():
                self._render_service(spec)
            self._render_cluster_counts()
            self._render_target_health()
            self._render_rules()
            self._render_ttl()
            self._render_efs()
            self._metric.render(self._faults)

    def _task_definition_arn(self, spec: ServiceSpec) -> str:
        return str(self._resources.extra["task_definitions"][spec.name])

    def _render_service(self, spec: ServiceSpec, record_events: bool = False) -> None:
        counts = self._counts[spec.name]
        desired, running, pending = counts.desired, counts.running, counts.pending
        is_hermes = spec.name == HERMES_SERVICE
        if is_hermes and self._faults.active("service_mismatch"):
            desired, running, pending = max(desired, 1), 0, 0
        elif is_hermes and self._faults.active("targets_partly_unhealthy"):
            desired, running, pending = max(desired, 2), max(running, 2), 0  # one task to lose, one to serve
        started, stopped = self._sync_tasks(spec, running)
        if record_events:
            self._note_scaling(spec.name, started, stopped, counts)
        svc = self._backends.service(spec.name)
        svc.status = "ACTIVE"
        svc.desired_count, svc.running_count, svc.pending_count = desired, running, pending
        # A desired-count change is not a deployment: on ECS the primary rollout stays COMPLETED while tasks
        # start (pending), so a long-running sandbox never shows a normal scale-out as a stuck rollout.
        rollout = "COMPLETED"
        primary = self._deployment(spec.name, "PRIMARY", desired, running, pending, rollout)
        events = self._events[spec.name]
        if is_hermes and self._faults.active("deployment_failed"):
            failed = self._failed_deployment_for(spec, desired)
            old = dict(primary, status="ACTIVE", desiredCount=running, pendingCount=0, rolloutState="COMPLETED",
                       rolloutStateReason=f"ECS deployment {primary['id']} completed.")
            svc.deployments = [failed["deployment"], old]
            svc.events = failed["events"] + events
        elif is_hermes and self._faults.active("deploying"):
            young = self._rollout_for(spec, desired, running)
            old = dict(primary, status="ACTIVE", desiredCount=0, runningCount=0, pendingCount=0,
                       rolloutState="COMPLETED", rolloutStateReason=f"ECS deployment {primary['id']} completed.")
            svc.deployments = [young["deployment"], old]
            svc.events = young["events"] + events
        else:
            if is_hermes:
                self._failed_deployment = None
                self._rollout = None
            svc.deployments = [primary]
            svc.events = list(events)

    def _failed_deployment_for(self, spec: ServiceSpec, desired: int) -> dict[str, Any]:
        """The rollout that keeps failing ELB health checks (stable while the fault stays on)."""
        if self._failed_deployment is None:
            dep_id = f"ecs-svc/{uuid.uuid4().int % 10**19:019d}"
            tg_arn = self._resources.target_groups[HERMES_TG]
            task_a, task_b = uuid.uuid4().hex, uuid.uuid4().hex
            created = _now()
            deployment = {
                "id": dep_id, "status": "PRIMARY", "taskDefinition": self._task_definition_arn(spec),
                "desiredCount": desired, "pendingCount": 0, "runningCount": 0, "failedTasks": 2,
                "createdAt": created, "updatedAt": created, "launchType": "FARGATE", "platformVersion": "1.4.0",
                "platformFamily": "Linux",
                "networkConfiguration": self._backends.service(spec.name).network_configuration,
                "rolloutState": "IN_PROGRESS", "rolloutStateReason": f"ECS deployment {dep_id} in progress.",
            }
            name = spec.name
            events = [
                self._event(name, f"has stopped 1 running tasks: (task {task_b}). Reason: Task failed ELB health "
                                  f"checks in (target-group {tg_arn})"),
                self._event(name, f"has started 1 tasks: (task {task_b})."),
                self._event(name, f"(port 3000) is unhealthy in (target-group {tg_arn}) due to (reason Health "
                                  "checks failed)."),
                self._event(name, f"has stopped 1 running tasks: (task {task_a}). Reason: Task failed ELB health "
                                  f"checks in (target-group {tg_arn})"),
                self._event(name, f"has started 1 tasks: (task {task_a})."),
            ]
            self._failed_deployment = {"deployment": deployment, "events": events}
        return self._failed_deployment

    def _rollout_for(self, spec: ServiceSpec, desired: int, running: int) -> dict[str, Any]:
        """The ``deploying`` fault: a rollout started ``age_s`` ago whose new task is in its first health checks
        (stable while the fault and its parameters stay the same)."""
        age_s = float(self._faults.param("deploying", "age_s", "60"))
        failed_tasks = int(self._faults.param("deploying", "failed_tasks", "0"))
        if self._rollout is None or self._rollout["params"] != (age_s, failed_tasks):
            dep_id = f"ecs-svc/{uuid.uuid4().int % 10**19:019d}"
            created = _now() - dt.timedelta(seconds=age_s)
            deployment = {
                "id": dep_id, "status": "PRIMARY", "taskDefinition": self._task_definition_arn(spec),
                "desiredCount": desired, "pendingCount": 0, "runningCount": running, "failedTasks": failed_tasks,
                "createdAt": created, "updatedAt": created, "launchType": "FARGATE", "platformVersion": "1.4.0",
                "platformFamily": "Linux",
                "networkConfiguration": self._backends.service(spec.name).network_configuration,
                "rolloutState": "IN_PROGRESS", "rolloutStateReason": f"ECS deployment {dep_id} in progress.",
            }
            task = uuid.uuid4().hex
            events = [
                self._event(spec.name, f"has started 1 tasks: (task {task})."),
                self._event(spec.name, f"has begun draining connections on 1 tasks (deployment {dep_id})."),
            ]
            self._rollout = {"params": (age_s, failed_tasks), "deployment": deployment, "events": events}
        return self._rollout

    def _deployment(self, service: str, status: str, desired: int, running: int, pending: int,
                    rollout: str) -> dict[str, Any]:
        dep_id = self._deployment_ids[service]
        spec = SERVICES[service]
        reason = (f"ECS deployment {dep_id} completed." if rollout == "COMPLETED"
                  else f"ECS deployment {dep_id} in progress.")
        return {
            "id": dep_id, "status": status, "taskDefinition": self._task_definition_arn(spec),
            "desiredCount": desired, "pendingCount": pending, "runningCount": running, "failedTasks": 0,
            "createdAt": self._deployment_created[service], "updatedAt": _now(), "launchType": "FARGATE",
            "platformVersion": "1.4.0", "platformFamily": "Linux",
            "networkConfiguration": self._backends.service(service).network_configuration,
            "rolloutState": rollout, "rolloutStateReason": reason,
        }

    def _note_scaling(self, service: str, started: list[str], stopped: list[str], counts: _Counts) -> None:
        """Service events the way ECS writes them, newest first."""
        new: list[dict[str, Any]] = []
        if started:
            tasks = " ".join(f"(task {arn.rsplit('/', 1)[-1]})" for arn in started)
            new.append(self._event(service, f"has started {len(started)} tasks: {tasks}."))
        if stopped:
            tasks = " ".join(f"(task {arn.rsplit('/', 1)[-1]})" for arn in stopped)
            new.append(self._event(service, f"has stopped {len(stopped)} running tasks: {tasks}."))
        if (started or stopped) and counts.running == counts.desired and counts.pending == 0:
            new.append(self._event(service, STEADY))
        self._events[service] = (list(reversed(new)) + self._events[service])[:100]

    def _event(self, service: str, message: str) -> dict[str, Any]:
        return {"id": str(uuid.uuid4()), "createdAt": _now(), "message": f"(service {service}) {message}"}

    def _sync_tasks(self, spec: ServiceSpec, running: int) -> tuple[list[str], list[str]]:
        """Start/stop real moto tasks so list_tasks/describe_tasks and the target groups match ``running``."""
        ecs, elbv2 = self._backends.ecs(), self._backends.elbv2()
        tasks = self.tasks[spec.name]
        started: list[str] = []
        stopped: list[str] = []
        while len(tasks) < running:
            svc = self._backends.service(spec.name)
            (task,) = ecs.run_task(
                CLUSTER, spec.family, 1, None, self._deployment_ids[spec.name], None, "FARGATE",
                networking_configuration=svc.network_configuration, group=f"service:{spec.name}",
                platform_version="1.4.0",
            )
            task._transitions = [("RUNNING", "RUNNING")]  # moto would walk it to STOPPED on describe
            task.health_status = "HEALTHY"
            tasks.append(task.task_arn)
            started.append(task.task_arn)
            ip = self._backends.task_ip(task.task_arn)
            for tg in spec.target_groups:
                elbv2.register_targets(self._resources.target_groups[tg], [{"Id": ip, "Port": TARGET_GROUP_PORTS[tg]}])
        while len(tasks) > running:
            arn = tasks.pop()
            ip = self._backends.task_ip(arn)
            for tg in spec.target_groups:
                tg_arn = self._resources.target_groups[tg]
                if ip in elbv2.target_groups[tg_arn].targets:
                    elbv2.deregister_targets(tg_arn, [{"Id": ip}])
            ecs.stop_task(CLUSTER, arn, "Scaling activity initiated by (deployment "
                          f"{self._deployment_ids[spec.name]})")
            stopped.append(arn)
        return started, stopped

    def _render_cluster_counts(self) -> None:
        cluster = self._backends.ecs().clusters[CLUSTER]
        services = [self._backends.service(name) for name in SERVICES]
        cluster.running_tasks_count = sum(int(s.running_count) for s in services)
        cluster.pending_tasks_count = sum(int(s.pending_count) for s in services)
        cluster.active_services_count = sum(1 for s in services if s.status == "ACTIVE")

    def _render_target_health(self) -> None:
        """Hermes targets fail their health checks while targets_unhealthy or hermes_down is on, are still in
        their initial health checks while deploying is, and all but one fail while targets_partly_unhealthy is."""
        mode: str | None = None
        if self._faults.active("targets_unhealthy") or self._faults.active("hermes_down"):
            mode = "unhealthy"
        elif self._faults.active("deploying"):
            mode = "initial"
        elif self._faults.active("targets_partly_unhealthy"):
            mode = "partly_unhealthy"
        tg = self._backends.elbv2().target_groups[self._resources.target_groups[HERMES_TG]]
        if vars(tg).get("_sandbox_health_mode") == mode:
            return
        if "health_for" in vars(tg):
            del tg.health_for
        tg._sandbox_health_mode = mode
        if mode is not None:
            tg.health_for = patched_health_for(tg.health_for, mode, tg)

    def _render_rules(self) -> None:
        """Every seed rule present, except /api/* while route_missing is on; the shadowing rule while
        route_shadowed is."""
        elbv2 = self._client("elbv2")
        listener = self._resources.listener_arn
        rules = self._backends.listener_rules(self._resources.listener_arn, with_arn=True)
        present = {priority: arn for priority, _patterns, _tg, arn in rules}
        for priority, patterns, tg in (*LISTENER_RULES, SHADOW_RULE):
            wanted = not (priority == API_RULE_PRIORITY and self._faults.active("route_missing"))
            if (priority, patterns, tg) == SHADOW_RULE:
                wanted = self._faults.active("route_shadowed")
            if wanted and priority not in present:
                elbv2.create_rule(
                    ListenerArn=listener, Priority=priority,
                    Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": list(patterns)}}],
                    Actions=[{"Type": "forward", "TargetGroupArn": self._resources.target_groups[tg]}],
                )
            elif not wanted and priority in present:
                elbv2.delete_rule(RuleArn=present[priority])

    def _render_ttl(self) -> None:
        ddb = self._client("dynamodb")
        wanted = not self._faults.active("ttl_disabled")
        current = ddb.describe_time_to_live(TableName=SESSIONS_TABLE)["TimeToLiveDescription"]
        if (current.get("TimeToLiveStatus") == "ENABLED") != wanted:
            ddb.update_time_to_live(
                TableName=SESSIONS_TABLE, TimeToLiveSpecification={"Enabled": wanted, "AttributeName": "ttl"}
            )

    def _render_efs(self) -> None:
        efs = self._client("efs")
        fs_id = self._resources.efs_id
        mounts = efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]
        if self._faults.active("efs_unavailable"):
            for mount in mounts:
                efs.delete_mount_target(MountTargetId=mount["MountTargetId"])
        elif not mounts:
            extra = self._resources.extra
            efs.create_mount_target(
                FileSystemId=fs_id, SubnetId=extra["subnet_ids"][0], SecurityGroups=[extra["security_group_id"]]
            )

