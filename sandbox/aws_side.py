"""The sandbox's AWS side: moto seeded as the Webordinary session platform, behind a fault-injecting proxy.

moto alone cannot look like the platform: it starts no service tasks, leaves every deployment IN_PROGRESS,
reports every target healthy and keeps metric data forever (reference/feasibility.md §6). ``AwsSandbox``
therefore seeds moto over its API and then drives moto's in-process backends so that describe calls answer
what a healthy (or, with a fault switched on, a broken) platform would answer.

Two URLs come out of it: ``direct_url`` is moto itself, for the simulators (the platform is never
fault-injected by canary-side faults); ``endpoint_url`` is the proxy the canary talks to
(``AWS_ENDPOINT_URL``), which turns ``credentials_expired``, ``access_denied`` and ``throttled`` into the
error responses botocore parses for each wire protocol.

moto keeps its state in process-global backends, so only one sandbox can run per process.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import logging
import random
import re
import struct
import threading
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from xml.sax.saxutils import escape

import boto3
from botocore.config import Config

from harness.contract import NAMESPACE as CANARY_NAMESPACE
from harness.contract import selftest_alarm_name
from sandbox import alarm_actions
from sandbox.control import SeededResources
from sandbox.faults import Faults

# -- seed-era names (reference/target-surface.md §1-§2)
CLUSTER = "webordinary-edit-cluster"
HERMES_SERVICE = "webordinary-hermes-service"
EDIT_SERVICE = "webordinary-edit-service"
SESSIONS_TABLE = "webordinary-edit-sessions"
SESSIONS_STATUS_INDEX = "StatusIndex"
ALB_NAME = "webordinary-edit-alb"
EFS_NAME = "webordinary-workspaces"
EFS_ACCESS_POINT_PATH = "/clients"
METRIC_NAMESPACE = "Webordinary/EditSessions"
METRIC_NAME = "ActiveSessionCount"
METRIC_ENVIRONMENT = "production"
# The canary's own environment name in the sandbox (its metric dimension and alarm names).
CANARY_ENVIRONMENT = "sandbox"
SELFTEST_TOPIC = "webordinary-canary-sandbox-alarms"
# The platform's CloudFormation stack (PLATFORM_STACK_NAME): its status is driven by ``set_stack_status``.
PLATFORM_STACK = "webordinary-edit-platform"
CERTIFICATE_DOMAIN = "*.webordinary.com"

HERMES_TG = "hermes-api-tg"
EDIT_API_TG = "edit-api-tg"
EDIT_ASTRO_TG = "edit-astro-tg"
EDIT_WS_TG = "edit-ws-tg"
TARGET_GROUP_PORTS: dict[str, int] = {HERMES_TG: 3000, EDIT_API_TG: 8080, EDIT_ASTRO_TG: 4321, EDIT_WS_TG: 4322}
TARGET_GROUP_HEALTH_PATHS: dict[str, str] = {
    HERMES_TG: "/hermes/health", EDIT_API_TG: "/health", EDIT_ASTRO_TG: "/", EDIT_WS_TG: "/health",
}
# (priority, path patterns, target group) of the 443 listener (target-surface §2.3).
LISTENER_RULES: tuple[tuple[int, tuple[str, ...], str], ...] = (
    (5, ("/hermes/*",), HERMES_TG),
    (10, ("/api/*",), EDIT_API_TG),
    (15, ("/session/*",), EDIT_ASTRO_TG),
    (20, ("/preview/*", "/_astro/*"), EDIT_ASTRO_TG),
    (30, ("/ws/*",), EDIT_WS_TG),
)
API_RULE_PRIORITY = 10
# route_shadowed: a sloppy higher-priority rule (as the sprint-3 preview rule or sprint-5 router were) that captures
# /hermes/* and forwards it to the Astro target group.
SHADOW_RULE: tuple[int, tuple[str, ...], str] = (1, ("/hermes*",), EDIT_ASTRO_TG)

# A platform-owned session (not TEST_-prefixed) so cleanup and the sweeper are proven to leave it alone.
PLATFORM_SESSION = {
    "sessionId": "session-7f3c2a9e-platform",
    "userId": "scott@ameliastamps.com",
    "clientId": "ameliastamps",
    "threadId": "thread-5d1e8b40",
    "status": "expired",
    "editBranch": "thread-5d1e8b40",
    "createdAt": "2025-08-07T18:02:11.000Z",
    "lastActivity": 1754589731000,
    "ttl": 1754591531,
}

FAKE_ACCESS_KEY = "testing"
FAKE_SECRET_KEY = "testing"

_STEADY = "has reached a steady state."


@dataclass(frozen=True)
class _ServiceSpec:
    name: str
    family: str
    container: str
    image: str
    ports: tuple[int, ...]
    target_groups: tuple[str, ...]
    cpu: str
    memory: str
    seed_desired: int


_SERVICES: dict[str, _ServiceSpec] = {
    HERMES_SERVICE: _ServiceSpec(
        HERMES_SERVICE, "webordinary-hermes", "hermes", "942734823970.dkr.ecr.us-west-2.amazonaws.com/hermes:latest",
        (3000,), (HERMES_TG,), "512", "1024", seed_desired=1,
    ),
    EDIT_SERVICE: _ServiceSpec(
        EDIT_SERVICE, "webordinary-edit", "claude-code-astro",
        "942734823970.dkr.ecr.us-west-2.amazonaws.com/webordinary/claude-code-astro:latest",
        (8080, 4321, 4322), (EDIT_API_TG, EDIT_ASTRO_TG, EDIT_WS_TG), "2048", "4096", seed_desired=0,
    ),
}


@dataclass
class _Counts:
    desired: int
    running: int
    pending: int = 0


_log = logging.getLogger(__name__)
_lock_active = threading.Lock()
_active_sandbox: AwsSandbox | None = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AwsSandbox:
    """moto seeded as the session platform, with state faults applied to its backends (implements
    ``sandbox.control.PlatformControl``)."""

    def __init__(
        self, faults: Faults, *, region: str = "us-west-2", host: str = "127.0.0.1",
        publish_interval_s: float = 60.0,
    ) -> None:
        self._faults = faults
        self.region = region
        self.host = host
        self._publish_interval_s = publish_interval_s
        self._lock = threading.RLock()
        self._server: Any = None
        self._proxy: FaultProxy | None = None
        self._direct_url: str | None = None
        self._resources: SeededResources | None = None
        self._session = boto3.session.Session(
            aws_access_key_id=FAKE_ACCESS_KEY, aws_secret_access_key=FAKE_SECRET_KEY, region_name=region
        )
        self._clients: dict[str, Any] = {}
        self._account_id = "123456789012"  # moto's default; read back from STS when seeding
        self._running = False
        self._listening = False
        self._ignore_fault_events = False
        # Sandbox-side model of the platform; rendered into moto's backends by _reconcile().
        self._counts: dict[str, _Counts] = {}
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._deployment_ids: dict[str, str] = {}
        self._deployment_created: dict[str, dt.datetime] = {}
        self._tasks: dict[str, list[str]] = {name: [] for name in _SERVICES}
        self._failed_deployment: dict[str, Any] | None = None
        self._rollout: dict[str, Any] | None = None
        self._metric_suppressed = False
        self._active_sessions = 0
        self._publisher_stop = threading.Event()
        self._publisher: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> SeededResources:
        """Boot moto and the proxy, seed the healthy platform, apply the faults already switched on."""
        global _active_sandbox
        with _lock_active:
            if _active_sandbox is not None:
                raise RuntimeError("an AwsSandbox is already running in this process (moto state is global)")
            _active_sandbox = self
        try:
            self._tasks = {name: [] for name in _SERVICES}  # a restarted sandbox starts from a fresh seed
            self._failed_deployment = None
            self._rollout = None
            self._metric_suppressed = False
            self._active_sessions = 0
            from moto.server import ThreadedMotoServer

            werkzeug_log = logging.getLogger("werkzeug")
            if werkzeug_log.level == logging.NOTSET:  # one access-log line per AWS call drowns the CLI output
                werkzeug_log.setLevel(logging.WARNING)
            self._server = ThreadedMotoServer(ip_address=self.host, port=0, verbose=False)
            self._server.start()
            host, port = self._server.get_host_and_port()
            self._direct_url = f"http://{host}:{port}"
            self._moto_reset()  # a previous sandbox (or mock_aws) in this process may have left state
            self._resources = self._seed()
            self._install_backend_hooks()
            self._proxy = FaultProxy(self._direct_url, self._faults, host=self.host, account_id=self._account_id)
            self._proxy.start()
            self._running = True
            if not self._listening:  # Faults has no remove_listener; a stopped sandbox ignores its events
                self._faults.on_change(self._on_faults)
                self._listening = True
            self._reconcile()
            if self._publish_interval_s > 0:
                self._publisher_stop.clear()
                self._publisher = threading.Thread(target=self._publish_loop, name="sandbox-metrics", daemon=True)
                self._publisher.start()
        except BaseException:
            self.stop()
            raise
        return self._resources

    def stop(self) -> None:
        """Stop the proxy and moto and wipe moto's state, so another sandbox can start in this process."""
        global _active_sandbox
        self._running = False
        self._publisher_stop.set()
        if self._publisher is not None:
            self._publisher.join(timeout=5)
            self._publisher = None
        if self._proxy is not None:
            self._proxy.stop()
            self._proxy = None
        if self._server is not None:
            try:
                self._moto_reset()
            finally:
                self._server.stop()
                self._server = None
        self._clients.clear()
        with _lock_active:
            if _active_sandbox is self:
                _active_sandbox = None

    def __enter__(self) -> AwsSandbox:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def reset(self) -> None:
        """Back to the healthy seed: every fault cleared, seed counts, seed table items, a fresh metric."""
        with self._lock:
            self._ignore_fault_events = True
            try:
                self._faults.clear()
            finally:
                self._ignore_fault_events = False
            for spec in _SERVICES.values():
                self._counts[spec.name] = _Counts(spec.seed_desired, spec.seed_desired)
                self._events[spec.name] = [self._event(spec.name, _STEADY)]
            self._failed_deployment = None
            self._rollout = None
            self._reset_sessions_table()
            self._purge_metric()
            self._metric_suppressed = False
            self._active_sessions = 0
            self._reconcile()
            self._publish(0)
            self._reset_selftest_alarm()
            self.set_stack_status("CREATE_COMPLETE")

    # -- URLs, clients ---------------------------------------------------------------------------------

    @property
    def direct_url(self) -> str:
        """moto itself (no faults)."""
        if self._direct_url is None:
            raise RuntimeError("AwsSandbox not started")
        return self._direct_url

    @property
    def endpoint_url(self) -> str:
        """The fault-injecting proxy: what the canary gets as ``AWS_ENDPOINT_URL``."""
        if self._proxy is None:
            raise RuntimeError("AwsSandbox not started")
        return self._proxy.url

    @property
    def resources(self) -> SeededResources:
        if self._resources is None:
            raise RuntimeError("AwsSandbox not started")
        return self._resources

    def canary_env(self) -> dict[str, str]:
        """Environment for a canary process pointed at the sandbox (through the proxy, fake credentials)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self, service: str) -> Any:
        """A boto3 client straight to moto (never fault-injected: faults target the canary, not the platform)."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._session.client(
                    service,  # type: ignore[call-overload]
                    endpoint_url=self.direct_url,
                    config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
                )
            return self._clients[service]

    def injected_errors(self) -> dict[str, int]:
        """How many error responses the proxy has injected, per fault name."""
        return self._proxy.injected() if self._proxy is not None else {}

    @property
    def proxy(self) -> FaultProxy:
        """The proxy in front of moto (``sandbox.canary_stack`` adds answerers for APIs moto lacks)."""
        if self._proxy is None:
            raise RuntimeError("AwsSandbox not started")
        return self._proxy

    def recording(self) -> CallRecording:
        """``with aws.recording() as calls:`` collects every AWS call the canary sends through the proxy
        (answered by moto or by an injected fault) as ``AwsCall``s; the platform's own calls are not seen."""
        if self._proxy is None:
            raise RuntimeError("AwsSandbox not started")
        return CallRecording(self._proxy)

    # -- PlatformControl -------------------------------------------------------------------------------

    def set_service_counts(self, service: str, *, desired: int, running: int, pending: int = 0) -> None:
        """Set an ECS service's desired/running/pending counts and (de)register its targets to match."""
        spec = self._spec(service)
        if min(desired, running, pending) < 0:
            raise ValueError(f"counts must be >= 0, got desired={desired} running={running} pending={pending}")
        with self._lock:
            self._counts[spec.name] = _Counts(desired, running, pending)
            self._render_service(spec, record_events=True)
            self._render_cluster_counts()

    def set_stack_status(self, status: str, *, age_s: float = 60.0) -> None:
        """Put the platform stack in ``status`` (e.g. UPDATE_IN_PROGRESS), its last update ``age_s`` ago (moto
        finishes every stack operation at once, so a stack mid-update is rendered on its backend)."""
        backend = self._backend("cloudformation")
        (stack,) = [st for st in backend.stacks.values() if st.name == PLATFORM_STACK]
        stack.status = status
        stack.last_updated_time = None if status == "CREATE_COMPLETE" else _now() - dt.timedelta(seconds=age_s)

    def service_counts(self, service: str) -> tuple[int, int]:
        """(desired, running) of an ECS service, as DescribeServices reports it (faults included)."""
        svc = self._backend_service(self._spec(service).name)
        return int(svc.desired_count), int(svc.running_count)

    def healthy_target_count(self, target_group_name: str) -> int:
        """Targets the ALB would route to (registered and healthy), exactly as DescribeTargetHealth says."""
        arn = self.resources.target_groups[target_group_name]
        statuses = self._elbv2().describe_target_health(arn, [])
        return sum(1 for status in statuses if status.status == "healthy")

    def route_for_path(self, path: str) -> str | None:
        """Target group name of the listener rule that matches ``path`` (by priority); None = default action."""
        path = path.split("?", 1)[0]
        arn_to_name = {arn: name for name, arn in self.resources.target_groups.items()}
        for _priority, patterns, tg_arn in self._listener_rules():
            if any(_path_matches(pattern, path) for pattern in patterns):
                return arn_to_name.get(tg_arn or "")
        return None

    # -- extra controls for the HTTP side ----------------------------------------------------------------

    def task_ips(self, service: str) -> list[str]:
        """Private IPs of the service's running tasks (what Hermes records as containerIp)."""
        spec = self._spec(service)
        with self._lock:
            return [self._task_ip(arn) for arn in self._tasks[spec.name]]

    def publish_active_sessions(self, count: int) -> bool:
        """Publish ActiveSessionCount (Environment=production) as Hermes does; False while metric_missing."""
        with self._lock:
            self._active_sessions = count
            if self._metric_suppressed:
                return False
            self._publish(count)
            return True

    # -- fault application -----------------------------------------------------------------------------

    def _on_faults(self, _snapshot: dict[str, dict[str, str]]) -> None:
        if self._running and not self._ignore_fault_events:
            self._reconcile()

    def _reconcile(self) -> None:
        """Converge moto onto "seed + active faults"; idempotent, cheap when nothing changed."""
        with self._lock:
            if self._resources is None:
                return
            for spec in _SERVICES.values():
                self._render_service(spec)
            self._render_cluster_counts()
            self._render_target_health()
            self._render_rules()
            self._render_ttl()
            self._render_efs()
            self._render_metric()

    def _render_service(self, spec: _ServiceSpec, record_events: bool = False) -> None:
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
        svc = self._backend_service(spec.name)
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

    def _failed_deployment_for(self, spec: _ServiceSpec, desired: int) -> dict[str, Any]:
        """The rollout that keeps failing ELB health checks (stable while the fault stays on)."""
        if self._failed_deployment is None:
            dep_id = f"ecs-svc/{uuid.uuid4().int % 10**19:019d}"
            tg_arn = self.resources.target_groups[HERMES_TG]
            task_a, task_b = uuid.uuid4().hex, uuid.uuid4().hex
            created = _now()
            deployment = {
                "id": dep_id, "status": "PRIMARY", "taskDefinition": self._task_definition_arn(spec),
                "desiredCount": desired, "pendingCount": 0, "runningCount": 0, "failedTasks": 2,
                "createdAt": created, "updatedAt": created, "launchType": "FARGATE", "platformVersion": "1.4.0",
                "platformFamily": "Linux",
                "networkConfiguration": self._backend_service(spec.name).network_configuration,
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

    def _rollout_for(self, spec: _ServiceSpec, desired: int, running: int) -> dict[str, Any]:
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
                "networkConfiguration": self._backend_service(spec.name).network_configuration,
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
        spec = _SERVICES[service]
        reason = (f"ECS deployment {dep_id} completed." if rollout == "COMPLETED"
                  else f"ECS deployment {dep_id} in progress.")
        return {
            "id": dep_id, "status": status, "taskDefinition": self._task_definition_arn(spec),
            "desiredCount": desired, "pendingCount": pending, "runningCount": running, "failedTasks": 0,
            "createdAt": self._deployment_created[service], "updatedAt": _now(), "launchType": "FARGATE",
            "platformVersion": "1.4.0", "platformFamily": "Linux",
            "networkConfiguration": self._backend_service(service).network_configuration,
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
            new.append(self._event(service, _STEADY))
        self._events[service] = (list(reversed(new)) + self._events[service])[:100]

    def _event(self, service: str, message: str) -> dict[str, Any]:
        return {"id": str(uuid.uuid4()), "createdAt": _now(), "message": f"(service {service}) {message}"}

    def _sync_tasks(self, spec: _ServiceSpec, running: int) -> tuple[list[str], list[str]]:
        """Start/stop real moto tasks so list_tasks/describe_tasks and the target groups match ``running``."""
        ecs, elbv2 = self._ecs(), self._elbv2()
        tasks = self._tasks[spec.name]
        started: list[str] = []
        stopped: list[str] = []
        while len(tasks) < running:
            svc = self._backend_service(spec.name)
            (task,) = ecs.run_task(
                CLUSTER, spec.family, 1, None, self._deployment_ids[spec.name], None, "FARGATE",
                networking_configuration=svc.network_configuration, group=f"service:{spec.name}",
                platform_version="1.4.0",
            )
            task._transitions = [("RUNNING", "RUNNING")]  # moto would walk it to STOPPED on describe
            task.health_status = "HEALTHY"
            tasks.append(task.task_arn)
            started.append(task.task_arn)
            ip = self._task_ip(task.task_arn)
            for tg in spec.target_groups:
                elbv2.register_targets(self.resources.target_groups[tg], [{"Id": ip, "Port": TARGET_GROUP_PORTS[tg]}])
        while len(tasks) > running:
            arn = tasks.pop()
            ip = self._task_ip(arn)
            for tg in spec.target_groups:
                tg_arn = self.resources.target_groups[tg]
                if ip in elbv2.target_groups[tg_arn].targets:
                    elbv2.deregister_targets(tg_arn, [{"Id": ip}])
            ecs.stop_task(CLUSTER, arn, "Scaling activity initiated by (deployment "
                          f"{self._deployment_ids[spec.name]})")
            stopped.append(arn)
        return started, stopped

    def _render_cluster_counts(self) -> None:
        cluster = self._ecs().clusters[CLUSTER]
        services = [self._backend_service(name) for name in _SERVICES]
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
        tg = self._elbv2().target_groups[self.resources.target_groups[HERMES_TG]]
        if vars(tg).get("_sandbox_health_mode") == mode:
            return
        if "health_for" in vars(tg):
            del tg.health_for
        tg._sandbox_health_mode = mode
        if mode is not None:
            tg.health_for = _patched_health_for(tg.health_for, mode, tg)

    def _render_rules(self) -> None:
        """Every seed rule present, except /api/* while route_missing is on; the shadowing rule while
        route_shadowed is."""
        elbv2 = self.client("elbv2")
        listener = self.resources.listener_arn
        present = {priority: arn for priority, _patterns, _tg, arn in self._listener_rules(with_arn=True)}
        for priority, patterns, tg in (*LISTENER_RULES, SHADOW_RULE):
            wanted = not (priority == API_RULE_PRIORITY and self._faults.active("route_missing"))
            if (priority, patterns, tg) == SHADOW_RULE:
                wanted = self._faults.active("route_shadowed")
            if wanted and priority not in present:
                elbv2.create_rule(
                    ListenerArn=listener, Priority=priority,
                    Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": list(patterns)}}],
                    Actions=[{"Type": "forward", "TargetGroupArn": self.resources.target_groups[tg]}],
                )
            elif not wanted and priority in present:
                elbv2.delete_rule(RuleArn=present[priority])

    def _render_ttl(self) -> None:
        ddb = self.client("dynamodb")
        wanted = not self._faults.active("ttl_disabled")
        current = ddb.describe_time_to_live(TableName=SESSIONS_TABLE)["TimeToLiveDescription"]
        if (current.get("TimeToLiveStatus") == "ENABLED") != wanted:
            ddb.update_time_to_live(
                TableName=SESSIONS_TABLE, TimeToLiveSpecification={"Enabled": wanted, "AttributeName": "ttl"}
            )

    def _render_efs(self) -> None:
        efs = self.client("efs")
        fs_id = self.resources.efs_id
        mounts = efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]
        if self._faults.active("efs_unavailable"):
            for mount in mounts:
                efs.delete_mount_target(MountTargetId=mount["MountTargetId"])
        elif not mounts:
            extra = self.resources.extra
            efs.create_mount_target(
                FileSystemId=fs_id, SubnetId=extra["subnet_ids"][0], SecurityGroups=[extra["security_group_id"]]
            )

    def _render_metric(self) -> None:
        """metric_missing: Hermes stopped publishing. ``mode=stale`` keeps a 2 h old datapoint (ListMetrics
        still finds the metric, only fresh data is missing); the default leaves nothing at all."""
        missing = self._faults.active("metric_missing")
        if missing and not self._metric_suppressed:
            self._metric_suppressed = True
            self._purge_metric()
            if self._faults.param("metric_missing", "mode", "absent") == "stale":
                self._publish(self._active_sessions, at=_now() - dt.timedelta(hours=2))
        elif not missing and self._metric_suppressed:
            self._metric_suppressed = False
            self._publish(self._active_sessions)

    # -- metric publishing -----------------------------------------------------------------------------

    def _publish(self, count: int, at: dt.datetime | None = None) -> None:
        self.client("cloudwatch").put_metric_data(
            Namespace=METRIC_NAMESPACE,
            MetricData=[{
                "MetricName": METRIC_NAME, "Value": float(count), "Unit": "Count", "Timestamp": at or _now(),
                "Dimensions": [{"Name": "Environment", "Value": METRIC_ENVIRONMENT}],
            }],
        )

    def _purge_metric(self) -> None:
        """moto keeps metric data forever; forget ActiveSessionCount so reads answer nothing."""
        backend = self._backend("cloudwatch")
        backend.metric_data = [
            datum for datum in backend.metric_data
            if not (datum.namespace == METRIC_NAMESPACE and datum.name == METRIC_NAME)
        ]

    def _publish_loop(self) -> None:
        while not self._publisher_stop.wait(self._publish_interval_s):
            if self._running:
                try:
                    self.publish_active_sessions(self._active_sessions)
                except Exception:
                    if self._running:  # a sandbox being torn down may lose the race; anything else is a bug
                        _log.exception("sandbox: publishing %s failed", METRIC_NAME)

    # -- seeding ---------------------------------------------------------------------------------------

    def _seed(self) -> SeededResources:
        account_id = self.client("sts").get_caller_identity()["Account"]
        self._account_id = account_id
        ec2, elbv2, ecs = self.client("ec2"), self.client("elbv2"), self.client("ecs")
        efs, ddb = self.client("efs"), self.client("dynamodb")

        vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})  # Fargate ENIs need it
        subnet_ids = [
            ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{self.region}{az}")[
                "Subnet"]["SubnetId"]
            for i, az in ((1, "a"), (2, "b"))
        ]
        sg_id = ec2.create_security_group(
            GroupName="webordinary-edit-sg", Description="ALB and Fargate tasks", VpcId=vpc_id
        )["GroupId"]

        acm = self.client("acm")
        cert_arn = acm.request_certificate(DomainName=CERTIFICATE_DOMAIN)["CertificateArn"]
        for cert in self._backend("acm")._certificates.values():
            cert.status = "ISSUED"
        alb = elbv2.create_load_balancer(
            Name=ALB_NAME, Subnets=subnet_ids, SecurityGroups=[sg_id], Scheme="internet-facing",
            Type="application",
        )["LoadBalancers"][0]
        lb_arn = alb["LoadBalancerArn"]
        listener_arn = elbv2.create_listener(
            LoadBalancerArn=lb_arn, Protocol="HTTPS", Port=443, Certificates=[{"CertificateArn": cert_arn}],
            DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {
                "StatusCode": "200", "ContentType": "text/plain", "MessageBody": "healthy"}}],
        )["Listeners"][0]["ListenerArn"]
        http_listener_arn = elbv2.create_listener(
            LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
            DefaultActions=[{"Type": "redirect", "RedirectConfig": {
                "Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}],
        )["Listeners"][0]["ListenerArn"]
        target_groups = {
            name: elbv2.create_target_group(
                Name=name, Protocol="HTTP", Port=port, VpcId=vpc_id, TargetType="ip",
                HealthCheckPath=TARGET_GROUP_HEALTH_PATHS[name],
            )["TargetGroups"][0]["TargetGroupArn"]
            for name, port in TARGET_GROUP_PORTS.items()
        }

        ecs.create_cluster(
            clusterName=CLUSTER, capacityProviders=["FARGATE", "FARGATE_SPOT"],
            settings=[{"name": "containerInsights", "value": "enabled"}],
        )
        task_definitions: dict[str, str] = {}
        for spec in _SERVICES.values():
            task_definitions[spec.name] = ecs.register_task_definition(
                family=spec.family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
                cpu=spec.cpu, memory=spec.memory,
                containerDefinitions=[{
                    "name": spec.container, "image": spec.image, "memory": int(spec.memory), "essential": True,
                    "portMappings": [{"containerPort": p, "protocol": "tcp"} for p in spec.ports],
                }],
            )["taskDefinition"]["taskDefinitionArn"]
            ecs.create_service(
                cluster=CLUSTER, serviceName=spec.name, taskDefinition=spec.family,
                desiredCount=spec.seed_desired, launchType="FARGATE",
                networkConfiguration={"awsvpcConfiguration": {
                    "subnets": subnet_ids, "securityGroups": [sg_id], "assignPublicIp": "DISABLED"}},
                loadBalancers=[
                    {"targetGroupArn": target_groups[tg], "containerName": spec.container,
                     "containerPort": TARGET_GROUP_PORTS[tg]}
                    for tg in spec.target_groups
                ],
            )
            svc = self._backend_service(spec.name)
            self._deployment_ids[spec.name] = svc.deployments[0]["id"]
            self._deployment_created[spec.name] = _now()
            self._counts[spec.name] = _Counts(spec.seed_desired, spec.seed_desired)
            self._events[spec.name] = [self._event(spec.name, _STEADY)]

        ddb.create_table(
            TableName=SESSIONS_TABLE, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"}
                                  for name in ("sessionId", "userId", "status", "clientId")],
            KeySchema=[{"AttributeName": "sessionId", "KeyType": "HASH"},
                       {"AttributeName": "userId", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[{
                "IndexName": SESSIONS_STATUS_INDEX,
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"},
                              {"AttributeName": "clientId", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }],
        )
        ddb.update_time_to_live(
            TableName=SESSIONS_TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
        )
        ddb.update_continuous_backups(
            TableName=SESSIONS_TABLE, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
        self._put_platform_session()

        fs_id = efs.create_file_system(
            CreationToken=EFS_NAME, PerformanceMode="generalPurpose", Encrypted=True,
            Tags=[{"Key": "Name", "Value": EFS_NAME}],
        )["FileSystemId"]
        efs.create_mount_target(FileSystemId=fs_id, SubnetId=subnet_ids[0], SecurityGroups=[sg_id])
        access_point_id = efs.create_access_point(
            FileSystemId=fs_id, RootDirectory={"Path": EFS_ACCESS_POINT_PATH},
            Tags=[{"Key": "Name", "Value": "webordinary-clients"}],
        )["AccessPointId"]

        self._resources = SeededResources(
            region=self.region, account_id=account_id, cluster=CLUSTER, hermes_service=HERMES_SERVICE,
            edit_service=EDIT_SERVICE, sessions_table=SESSIONS_TABLE, load_balancer_arn=lb_arn,
            listener_arn=listener_arn, target_groups=target_groups, efs_id=fs_id,
            metric_environment=METRIC_ENVIRONMENT,
            extra={
                "vpc_id": vpc_id, "subnet_ids": subnet_ids, "security_group_id": sg_id,
                "alb_dns_name": alb["DNSName"], "http_listener_arn": http_listener_arn,
                "certificate_arn": cert_arn, "efs_access_point_id": access_point_id,
                "task_definitions": task_definitions,
                "platform_session_key": {k: PLATFORM_SESSION[k] for k in ("sessionId", "userId")},
            },
        )
        self._publish(0)
        self._seed_selftest_alarm()
        self._seed_platform_stack()
        return self._resources

    def _seed_selftest_alarm(self) -> None:
        """The canary stack's alert-path self-test alarm and its SNS topic, as the CDK app deploys them."""
        topic_arn = self.client("sns").create_topic(Name=SELFTEST_TOPIC)["TopicArn"]
        self.client("sns").set_topic_attributes(TopicArn=topic_arn, AttributeName="Policy", AttributeValue=json.dumps(
            alert_topic_policy(topic_arn, self._account_id)))
        self.client("cloudwatch").put_metric_alarm(
            AlarmName=selftest_alarm_name(CANARY_ENVIRONMENT), Namespace=CANARY_NAMESPACE,
            MetricName="AlertPathSelfTest", Statistic="Maximum", Period=60, EvaluationPeriods=1, Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching",
            ActionsEnabled=True, AlarmActions=[topic_arn], OKActions=[topic_arn],
            AlarmDescription="Driven only by `canary selftest` (SetAlarmState) to prove alarm -> SNS -> email.",
        )
        self.resources.extra["selftest_topic_arn"] = topic_arn

    def _seed_platform_stack(self) -> None:
        """The platform's CloudFormation stack (one harmless resource: moto only needs a valid template)."""
        template = {"Resources": {"Version": {"Type": "AWS::SSM::Parameter", "Properties": {
            "Name": "/webordinary/platform/version", "Type": "String", "Value": "1"}}}}
        self.client("cloudformation").create_stack(StackName=PLATFORM_STACK, TemplateBody=json.dumps(template))
        self.resources.extra["platform_stack_name"] = PLATFORM_STACK

    def _reset_selftest_alarm(self) -> None:
        topic_arn = self.resources.extra["selftest_topic_arn"]
        self.client("sns").set_topic_attributes(TopicArn=topic_arn, AttributeName="Policy", AttributeValue=json.dumps(
            alert_topic_policy(topic_arn, self._account_id)))
        self.client("cloudwatch").set_alarm_state(AlarmName=selftest_alarm_name(CANARY_ENVIRONMENT),
                                                  StateValue="OK", StateReason="sandbox reset")
        alarm = self._backend("cloudwatch").alarms.get(selftest_alarm_name(CANARY_ENVIRONMENT))
        if alarm is not None:
            alarm_actions.history_of(alarm).clear()

    def _put_platform_session(self) -> None:
        ddb = self.client("dynamodb")
        item: dict[str, Any] = {
            k: ({"N": str(v)} if isinstance(v, int) else {"S": v}) for k, v in PLATFORM_SESSION.items()
        }
        ddb.put_item(TableName=SESSIONS_TABLE, Item=item)

    def _reset_sessions_table(self) -> None:
        ddb = self.client("dynamodb")
        keys: list[dict[str, Any]] = []
        for page in ddb.get_paginator("scan").paginate(
            TableName=SESSIONS_TABLE, ProjectionExpression="sessionId, userId"
        ):
            keys.extend(page["Items"])
        for key in keys:
            ddb.delete_item(TableName=SESSIONS_TABLE, Key=key)
        self._put_platform_session()

    # -- moto internals --------------------------------------------------------------------------------

    def _install_backend_hooks(self) -> None:
        """Route UpdateService on the platform's services (e.g. a destructive check scaling the edit service)
        through set_service_counts, so tasks, targets and deployments follow as on ECS; execute alarm actions
        and record them in the alarm history as CloudWatch does (sandbox.alarm_actions)."""
        alarm_actions.install(self._backend("cloudwatch"), lambda: self._backend("sns"), self._account_id)
        ecs = self._ecs()
        original = ecs.update_service

        def update_service(service_properties: dict[str, Any]) -> Any:
            name = str(service_properties.get("service", "")).split("/")[-1]
            desired = service_properties.get("desired_count")
            result = original(service_properties)
            if name in _SERVICES and desired is not None and self._running:
                self.set_service_counts(name, desired=int(desired), running=int(desired))
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

    def _moto_reset(self) -> None:
        if self._direct_url is None:
            return
        request = urllib.request.Request(f"{self._direct_url}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def _backend(self, service: str) -> Any:
        from moto.backends import get_backend

        return get_backend(service)[self._account_id][self.region]  # type: ignore[call-overload]

    def _ecs(self) -> Any:
        return self._backend("ecs")

    def _elbv2(self) -> Any:
        return self._backend("elbv2")

    def _backend_service(self, name: str) -> Any:
        return self._ecs().services[f"{CLUSTER}:{name}"]

    def _task_ip(self, task_arn: str) -> str:
        task = self._ecs().tasks[CLUSTER][task_arn]
        for attachment in task.attachments:
            for detail in attachment["details"]:
                if detail["name"] == "privateIPv4Address":
                    return str(detail["value"])
        raise RuntimeError(f"task {task_arn} has no private IP")

    def _task_definition_arn(self, spec: _ServiceSpec) -> str:
        return str(self.resources.extra["task_definitions"][spec.name])

    def _listener_rules(self, with_arn: bool = False) -> list[Any]:
        """(priority, path patterns, forward target group ARN[, rule ARN]) of the 443 listener, by priority."""
        rules = self._elbv2().describe_rules(self.resources.listener_arn, None)
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

    @staticmethod
    def _spec(service: str) -> _ServiceSpec:
        name = service.split("/")[-1]
        if name not in _SERVICES:
            raise KeyError(f"unknown service {service!r}; the sandbox runs {sorted(_SERVICES)}")
        return _SERVICES[name]


def alert_topic_policy(topic_arn: str, account_id: str) -> dict[str, Any]:
    """The alert topic's access policy as the canary stack deploys it: CloudWatch alarms of this account may
    publish, and nothing may publish without TLS (a topic policy replaces SNS's default one)."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "AllowCloudWatchAlarmsToPublish", "Effect": "Allow",
         "Principal": {"Service": alarm_actions.SERVICE_PRINCIPAL}, "Action": "sns:Publish", "Resource": topic_arn,
         "Condition": {"StringEquals": {"aws:SourceAccount": account_id}}},
        {"Sid": "AllowPublishThroughSSLOnly", "Effect": "Deny", "Principal": "*", "Action": "sns:Publish",
         "Resource": topic_arn, "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    ]}


_HEALTH_MODES = {
    "unhealthy": ("unhealthy", "Target.FailedHealthChecks", "Health checks failed"),
    "initial": ("initial", "Elb.InitialHealthChecking", "Initial health checks in progress"),
}


def _patched_health_for(original: Callable[..., Any], mode: str, group: Any = None) -> Callable[..., Any]:
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


def _path_matches(pattern: str, path: str) -> bool:
    """ALB path-pattern semantics: case-sensitive, ``*`` any run of characters, ``?`` exactly one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, path, flags=re.DOTALL) is not None


# ======================================================================================================
# The fault-injecting proxy (canary-side faults: the canary's own credentials, permissions, rate limits)
# ======================================================================================================

_SIGNING_ALIASES = {
    "elbv2": "elasticloadbalancing", "elb": "elasticloadbalancing", "efs": "elasticfilesystem",
    "cloudwatch": "monitoring", "stepfunctions": "states", "sfn": "states",
}
_IAM_PREFIX = {"monitoring": "cloudwatch"}
_HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
    "transfer-encoding", "upgrade", "expect", "content-length",
}
_CREDENTIAL_RE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")


RECORDED_BODY_BYTES = 4096


@dataclass(frozen=True)
class AwsCall:
    """One AWS request the canary sent through the proxy: ``action`` is the IAM-style name (``ecs:UpdateService``;
    REST services without an action name give the HTTP method, e.g. ``s3:GET``)."""

    service: str
    action: str
    method: str
    path: str
    injected: str | None  # the fault that answered it instead of moto, if any
    body: bytes = b""  # the request body, cut at RECORDED_BODY_BYTES (enough for an ECS or SQS request)


class CallRecording:
    """Context manager collecting the proxy's calls while it is open (see ``AwsSandbox.recording``)."""

    def __init__(self, proxy: FaultProxy) -> None:
        self._proxy = proxy
        self.calls: list[AwsCall] = []

    def __enter__(self) -> list[AwsCall]:
        self._proxy.add_recorder(self.calls)
        return self.calls

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._proxy.remove_recorder(self.calls)


@dataclass(frozen=True)
class _FaultError:
    fault: str
    json_code: str  # json / rest-json / smithy-rpc-v2-cbor
    query_code: str  # query / rest-xml / query-compatible json and cbor
    message: str
    json_status: int  # json and cbor RPC
    query_status: int  # query, rest-json, rest-xml, query-compatible
    sender: str = "Sender"  # who is at fault in a query error body: Sender (4xx) or Receiver (5xx)


# Throttling codes the ``throttled`` fault may answer with (code=); each as (json/rest-json code, query code).
THROTTLE_CODES: dict[str, tuple[str, str]] = {
    "ThrottlingException": ("ThrottlingException", "Throttling"),
    "Throttling": ("ThrottlingException", "Throttling"),
    "ProvisionedThroughputExceededException": ("ProvisionedThroughputExceededException",
                                               "ProvisionedThroughputExceededException"),
    "TooManyRequestsException": ("TooManyRequestsException", "TooManyRequestsException"),
    "RequestLimitExceeded": ("RequestLimitExceeded", "RequestLimitExceeded"),
}
# AWS's common server errors (status -> JSON code, query/XML code, message).
SERVER_ERRORS: dict[int, tuple[str, str, str]] = {
    500: ("InternalFailure", "InternalFailure",
          "The request processing has failed because of an unknown error, exception or failure."),
    503: ("ServiceUnavailable", "ServiceUnavailable",
          "The request has failed due to a temporary failure of the server."),
}


class _Sampler:
    """Which matching calls a rate fault answers: every one, the first ``first=N``, or a ``fraction=`` of them
    (seeded by ``seed=``, so a test is repeatable). Counting restarts when the fault is switched off or its
    parameters change."""

    def __init__(self, faults: Faults | None = None) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, tuple[tuple[tuple[str, str], ...], int, random.Random]] = {}
        if faults is not None:
            faults.on_change(self._forget)

    def _forget(self, snapshot: dict[str, dict[str, str]]) -> None:
        with self._lock:
            for name in [n for n, (params, _, _) in self._state.items()
                         if tuple(sorted(snapshot.get(n, {}).items())) != params or n not in snapshot]:
                del self._state[name]

    def hit(self, faults: Faults, name: str) -> bool:
        params = tuple(sorted(faults.snapshot().get(name, {}).items()))
        values = dict(params)
        with self._lock:
            key, seen, rng = self._state.get(name, ((), 0, random.Random()))
            if key != params or name not in self._state:
                seen, rng = 0, random.Random(int(values.get("seed", "0") or 0))
            seen += 1
            self._state[name] = (params, seen, rng)
            if "first" in values:
                return seen <= int(values["first"])
            if "fraction" in values:
                return rng.random() < float(values["fraction"])
            return True


def _rate_fault_matches(faults: Faults, name: str, default_service: str, service: str,
                        action: Callable[[], str]) -> bool:
    if not faults.active(name) or not _service_matches(faults.param(name, "service", default_service), service):
        return False
    operation = faults.param(name, "operation", "").strip()
    return not operation or action().rsplit(":", 1)[-1].lower() == operation.lower()


def _rate_error(faults: Faults, sampler: _Sampler, service: str, action: Callable[[], str]) -> _FaultError | None:
    """``throttled`` and ``aws_5xx``: the matching calls of service= (and operation=), all or sampled."""
    if _rate_fault_matches(faults, "throttled", "dynamodb", service, action) and sampler.hit(faults, "throttled"):
        wanted = faults.param("throttled", "code", "")
        if service == "s3" and not wanted:
            return _FaultError("throttled", "SlowDown", "SlowDown", "Please reduce your request rate.", 503, 503)
        json_code, query_code = THROTTLE_CODES.get(wanted, THROTTLE_CODES["ThrottlingException"])
        message = ("The level of configured provisioned throughput for the table was exceeded."
                   if json_code == "ProvisionedThroughputExceededException" else "Rate exceeded")
        return _FaultError("throttled", json_code, query_code, message, 400, 400)
    if _rate_fault_matches(faults, "aws_5xx", "efs", service, action) and sampler.hit(faults, "aws_5xx"):
        status = int(faults.param("aws_5xx", "status", "503"))
        json_code, query_code, message = SERVER_ERRORS.get(status, SERVER_ERRORS[500])
        if service == "s3":
            json_code = query_code = "InternalError" if status == 500 else "ServiceUnavailable"
        return _FaultError("aws_5xx", json_code, query_code, message, status, status, "Receiver")
    return None


def _error_for(faults: Faults, service: str, action: Callable[[], str], account_id: str,
               sampler: _Sampler | None = None) -> _FaultError | None:
    """Which canary-side fault, if any, answers this request (``action`` is only worked out when needed)."""
    if faults.active("credentials_expired"):
        return _FaultError("credentials_expired", "ExpiredTokenException", "ExpiredToken",
                           "The security token included in the request is expired", 400, 400)
    if faults.active("access_denied") and _service_matches(faults.param("access_denied", "service", "ecs"), service):
        name = action()
        message = (f"User: arn:aws:sts::{account_id}:assumed-role/webordinary-canary/canary is not authorized "
                   f"to perform: {name} because no identity-based policy allows the {name} action")
        return _FaultError("access_denied", "AccessDeniedException", "AccessDenied", message, 400, 403)
    return _rate_error(faults, sampler or _Sampler(), service, action)


def _service_matches(wanted: str, service: str) -> bool:
    wanted = wanted.strip().lower()
    return wanted in ("*", "all") or _SIGNING_ALIASES.get(wanted, wanted) == service


def _cbor_head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    if length < 0x100:
        return bytes([major << 5 | 24, length])
    if length < 0x10000:
        return bytes([major << 5 | 25]) + struct.pack(">H", length)
    return bytes([major << 5 | 26]) + struct.pack(">I", length)


def cbor_text_map(values: dict[str, str]) -> bytes:
    """The one CBOR shape an rpc-v2-cbor error body needs: a map of text strings."""
    out = bytearray(_cbor_head(5, len(values)))
    for key, value in values.items():
        for text in (key, value):
            raw = text.encode()
            out += _cbor_head(3, len(raw)) + raw
    return bytes(out)


def error_response(error: _FaultError, protocol: str, query_compatible: bool,
                   request_id: str, content_type: str = "") -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) in the wire format botocore parses for ``protocol`` (a JSON-protocol error answers
    in the request's own version, ``application/x-amz-json-1.0`` or ``-1.1``)."""
    headers = {"x-amzn-RequestId": request_id}
    if protocol in ("query", "rest-xml"):
        status = error.query_status
        code, message = escape(error.query_code), escape(error.message)
        if protocol == "rest-xml":  # S3
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}'
                    f"</Message><RequestId>{request_id}</RequestId></Error>")
        else:
            body = (f"<ErrorResponse><Error><Type>{error.sender}</Type><Code>{code}</Code><Message>{message}</Message>"
                    f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>")
        headers["Content-Type"] = "text/xml"
        return status, headers, body.encode()
    rpc = protocol in ("json", "smithy-rpc-v2-cbor") and not query_compatible
    status = error.json_status if rpc else error.query_status  # RPC services answer 400 where REST says 403
    type_ = f"com.amazon.coral.service#{error.json_code}"
    if query_compatible:
        headers["x-amzn-query-error"] = f"{error.query_code};{error.sender}"
    if protocol == "smithy-rpc-v2-cbor":
        headers["smithy-protocol"] = "rpc-v2-cbor"
        headers["Content-Type"] = "application/cbor"
        return status, headers, cbor_text_map({"__type": type_, "message": error.message})
    headers["x-amzn-ErrorType"] = error.json_code
    json_version = (content_type if content_type.startswith("application/x-amz-json-1.")
                    else "application/x-amz-json-1.0")
    headers["Content-Type"] = json_version if protocol == "json" else "application/json"
    return status, headers, json.dumps({"__type": type_, "message": error.message}).encode()


def request_protocol(headers: Any, service: str) -> str:
    """The wire protocol of a request, from what botocore put on it."""
    if str(headers.get("smithy-protocol", "")).lower() == "rpc-v2-cbor":
        return "smithy-rpc-v2-cbor"
    if headers.get("X-Amz-Target"):
        return "json"
    if str(headers.get("Content-Type", "")).startswith("application/x-www-form-urlencoded"):
        return "query"
    if service == "s3":
        return "rest-xml"
    return "rest-json"


def signing_service(headers: Any, path: str) -> str | None:
    """The SigV4 signing name (``ecs``, ``monitoring``, ``elasticloadbalancing``...), from the credential scope."""
    match = _CREDENTIAL_RE.search(str(headers.get("Authorization", "")))
    if match:
        return match.group(1)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    credential = (query.get("X-Amz-Credential") or [""])[0].split("/")
    return credential[3] if len(credential) == 5 else None


class FaultProxy:
    """Forwards every request to moto, except those a canary-side fault answers with an AWS error."""

    def __init__(self, upstream: str, faults: Faults, *, host: str = "127.0.0.1", account_id: str = "123456789012"):
        parsed = urllib.parse.urlsplit(upstream)
        self._upstream = (parsed.hostname or host, parsed.port or 80)
        self._faults = faults
        self._account_id = account_id
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._sampler = _Sampler(faults)
        self._recorders: list[list[AwsCall]] = []
        # Emulations of APIs moto lacks (sandbox.canary_stack): (service, action, path, body) -> reply or None.
        self.answerers: list[Callable[[str, str, str, bytes], tuple[int, list[tuple[str, str]], bytes] | None]] = []
        # Rewrites of moto's replies (sandbox.iam_mode: moto's XML AccessDenied in the request's own protocol):
        # (request headers, service, status, reply headers, body) -> reply or None to keep moto's.
        self.reply_filters: list[Callable[[Any, str, int, list[tuple[str, str]], bytes],
                                          tuple[int, list[tuple[str, str]], bytes] | None]] = []
        self._server = ThreadingHTTPServer((host, 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="sandbox-aws-proxy", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def injected(self) -> dict[str, int]:
        with self._counts_lock:
            return dict(self._counts)

    def _count(self, fault: str) -> None:
        with self._counts_lock:
            self._counts[fault] += 1

    def add_recorder(self, calls: list[AwsCall]) -> None:
        with self._counts_lock:
            self._recorders.append(calls)

    def remove_recorder(self, calls: list[AwsCall]) -> None:
        with self._counts_lock:
            self._recorders = [r for r in self._recorders if r is not calls]

    def _record(self, make: Callable[[], AwsCall]) -> None:
        with self._counts_lock:
            if not self._recorders:
                return
            call = make()
            for recorder in self._recorders:
                recorder.append(call)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 120  # idle keep-alive connections end instead of pinning a thread forever
            # Headers and body go out as separate small writes: without TCP_NODELAY every reply on a reused
            # connection waits ~40 ms for the client's delayed ACK (measured by bench/overhead.py: 48 -> 4 ms/call).
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                self._handle()

            do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _read_body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return bytes(chunks)
                        chunks += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _handle(self) -> None:
                body = self._read_body()
                service = signing_service(self.headers, self.path)
                error = None
                if service is not None:
                    error = _error_for(proxy._faults, service, lambda: self._action(service, body),
                                       proxy._account_id, proxy._sampler)
                proxy._record(lambda: AwsCall(service or "?", self._action(service or "?", body), self.command,
                                              self.path, error.fault if error is not None else None,
                                              body[:RECORDED_BODY_BYTES]))
                if service is not None and error is not None:
                    proxy._count(error.fault)
                    protocol = request_protocol(self.headers, service)
                    query_compatible = self.headers.get("x-amzn-query-mode", "").lower() == "true"
                    status, headers, payload = error_response(error, protocol, query_compatible, str(uuid.uuid4()),
                                                              self.headers.get("Content-Type", ""))
                    self._reply(status, list(headers.items()), payload)
                    return
                for answer in list(proxy.answerers):
                    reply = answer(service or "?", self._action(service or "?", body), self.path, body)
                    if reply is not None:
                        self._reply(*reply)
                        return
                self._forward(body)

            def _action(self, service: str, body: bytes) -> str:
                prefix = _IAM_PREFIX.get(service, service)
                target = self.headers.get("X-Amz-Target")
                if target:
                    return f"{prefix}:{target.rsplit('.', 1)[-1]}"
                form: dict[str, list[str]] = {}
                if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
                form.update(urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query))
                if form.get("Action"):
                    return f"{prefix}:{form['Action'][0]}"
                return f"{prefix}:{self.command}"

            def _forward(self, body: bytes) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                if body or self.command in ("POST", "PUT", "PATCH"):
                    headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(*proxy._upstream, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    response = conn.getresponse()
                    payload = response.read()
                    upstream_headers = response.getheaders()
                    status = response.status
                except OSError as exc:
                    message = f"sandbox AWS proxy: moto unreachable: {exc}".encode()
                    self._reply(502, [("Content-Type", "text/plain")], message)
                    return
                finally:
                    conn.close()
                if self.command == "HEAD":
                    # No body; keep the upstream Content-Length (it describes the object, e.g. S3 HeadObject).
                    kept = [(k, v) for k, v in upstream_headers if k.lower() not in _HOP_BY_HOP - {"content-length"}]
                    self._reply(status, kept, b"", set_length=False)
                    return
                kept = [(k, v) for k, v in upstream_headers if k.lower() not in _HOP_BY_HOP]
                for rewrite in list(proxy.reply_filters):
                    rewritten = rewrite(self.headers, signing_service(self.headers, self.path) or "?", status, kept,
                                        payload)
                    if rewritten is not None:
                        status, kept, payload = rewritten
                        break
                self._reply(status, kept, payload)

            def _reply(self, status: int, headers: list[tuple[str, str]], payload: bytes,
                       set_length: bool = True) -> None:
                self.log_request(status)
                self.send_response_only(status)  # moto's own Server/Date headers are forwarded
                names = {key.lower() for key, _ in headers}
                if "date" not in names:
                    self.send_header("Date", self.date_time_string())
                for key, value in headers:
                    self.send_header(key, value)
                if set_length and status not in (204, 304) and not 100 <= status < 200:
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if payload and self.command != "HEAD":
                    self.wfile.write(payload)

        return Handler

