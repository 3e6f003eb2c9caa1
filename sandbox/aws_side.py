"""The sandbox's AWS side: moto seeded as the Webordinary session platform, behind a fault-injecting proxy.

moto alone cannot look like the platform (reference/feasibility.md §6), so ``AwsSandbox`` composes the parts that
make it: ``sandbox.seeding`` creates the healthy platform over moto's API, ``sandbox.platform_state`` renders
"seed + active state faults" into moto's backends (``sandbox.moto_backends``), ``sandbox.session_metric``
publishes Hermes's metric, and ``sandbox.fault_proxy`` answers the canary's calls with canary-side faults.

Two URLs come out of it: ``direct_url`` is moto itself, for the simulators (the platform is never
fault-injected by canary-side faults); ``endpoint_url`` is the proxy the canary talks to (``AWS_ENDPOINT_URL``).

moto keeps its state in process-global backends, so only one sandbox can run per process.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from types import TracebackType
from typing import Any

import boto3
from botocore.config import Config

from sandbox.call_recording import CallRecording
from sandbox.control import SeededResources
from sandbox.fault_proxy import FaultProxy
from sandbox.faults import Faults
from sandbox.moto_backends import MotoBackends, install_hooks, path_matches
from sandbox.platform_layout import PLATFORM_STACK, SERVICES, service_spec
from sandbox.platform_state import PlatformState
from sandbox.seeding import reset_selftest_alarm, reset_sessions_table, seed_platform
from sandbox.session_metric import SessionMetric

FAKE_ACCESS_KEY = "testing"
FAKE_SECRET_KEY = "testing"

_lock_active = threading.Lock()
_active_sandbox: AwsSandbox | None = None


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
        self.lock = threading.RLock()  # hold it to read ``platform.tasks`` consistently
        self._server: Any = None
        self._proxy: FaultProxy | None = None
        self._backends: MotoBackends | None = None
        self._platform: PlatformState | None = None
        self._resources: SeededResources | None = None
        self._session = boto3.session.Session(
            aws_access_key_id=FAKE_ACCESS_KEY, aws_secret_access_key=FAKE_SECRET_KEY, region_name=region
        )
        self._clients: dict[str, Any] = {}
        self._running = False
        self._listening = False
        self._ignore_fault_events = False
        self._metric = SessionMetric(self.client, lambda: self.backends.get("cloudwatch"), self.lock)

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> SeededResources:
        """Boot moto and the proxy, seed the healthy platform, apply the faults already switched on."""
        global _active_sandbox
        with _lock_active:
            if _active_sandbox is not None:
                raise RuntimeError("an AwsSandbox is already running in this process (moto state is global)")
            _active_sandbox = self
        try:
            self._platform = None  # a restarted sandbox starts from a fresh seed
            self._metric.suppressed = False
            self._metric.active_sessions = 0
            from moto.server import ThreadedMotoServer

            werkzeug_log = logging.getLogger("werkzeug")
            if werkzeug_log.level == logging.NOTSET:  # one access-log line per AWS call drowns the CLI output
                werkzeug_log.setLevel(logging.WARNING)
            self._server = ThreadedMotoServer(ip_address=self.host, port=0, verbose=False)
            self._server.start()
            host, port = self._server.get_host_and_port()
            self._backends = MotoBackends(f"http://{host}:{port}", self.region)
            self._backends.reset()  # a previous sandbox (or mock_aws) in this process may have left state
            self._resources = seed_platform(self.client, self._backends)
            self._metric.publish(0)
            self._platform = PlatformState(self._backends, self.client, self._faults, self._resources,
                                           self._metric, self.lock)
            install_hooks(self._backends, self._on_scaled)
            self._proxy = FaultProxy(self._backends.direct_url, self._faults, host=self.host,
                                     account_id=self._backends.account_id)
            self._proxy.start()
            self._running = True
            if not self._listening:  # Faults has no remove_listener; a stopped sandbox ignores its events
                self._faults.on_change(self._on_faults)
                self._listening = True
            self._platform.reconcile()
            if self._publish_interval_s > 0:
                self._metric.start_publisher(self._publish_interval_s, lambda: self._running)
        except BaseException:
            self.stop()
            raise
        return self._resources

    def stop(self) -> None:
        """Stop the proxy and moto and wipe moto's state, so another sandbox can start in this process."""
        global _active_sandbox
        self._running = False
        self._metric.stop_publisher()
        if self._proxy is not None:
            self._proxy.stop()
            self._proxy = None
        if self._server is not None:
            try:
                if self._backends is not None:
                    self._backends.reset()
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
        with self.lock:
            self._ignore_fault_events = True
            try:
                self._faults.clear()
            finally:
                self._ignore_fault_events = False
            self.platform.reset()
            reset_sessions_table(self.client)
            self._metric.reset()
            self.platform.reconcile()
            self._metric.publish(0)
            reset_selftest_alarm(self.client, self.backends, self.resources)
            self.set_stack_status("CREATE_COMPLETE")

    # -- URLs, clients, parts --------------------------------------------------------------------------

    @property
    def direct_url(self) -> str:
        """moto itself (no faults)."""
        return self.backends.direct_url

    @property
    def endpoint_url(self) -> str:
        """The fault-injecting proxy: what the canary gets as ``AWS_ENDPOINT_URL``."""
        return self.proxy.url

    @property
    def resources(self) -> SeededResources:
        if self._resources is None:
            raise RuntimeError("AwsSandbox not started")
        return self._resources

    @property
    def backends(self) -> MotoBackends:
        """moto's in-process backends (for sandbox parts that patch what moto's API cannot express)."""
        if self._backends is None:
            raise RuntimeError("AwsSandbox not started")
        return self._backends

    @property
    def platform(self) -> PlatformState:
        """The sandbox's model of the platform's services, rendered into moto."""
        if self._platform is None:
            raise RuntimeError("AwsSandbox not started")
        return self._platform

    @property
    def proxy(self) -> FaultProxy:
        """The proxy in front of moto (``sandbox.canary_stack`` adds answerers for APIs moto lacks)."""
        if self._proxy is None:
            raise RuntimeError("AwsSandbox not started")
        return self._proxy

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
        with self.lock:
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

    def recording(self) -> CallRecording:
        """``with aws.recording() as calls:`` collects every AWS call the canary sends through the proxy
        (answered by moto or by an injected fault) as ``AwsCall``s; the platform's own calls are not seen."""
        return CallRecording(self.proxy.recorders)

    # -- PlatformControl -------------------------------------------------------------------------------

    def set_service_counts(self, service: str, *, desired: int, running: int, pending: int = 0) -> None:
        """Set an ECS service's desired/running/pending counts and (de)register its targets to match."""
        spec = service_spec(service)
        if min(desired, running, pending) < 0:
            raise ValueError(f"counts must be >= 0, got desired={desired} running={running} pending={pending}")
        self.platform.set_counts(spec, desired, running, pending)

    def set_stack_status(self, status: str, *, age_s: float = 60.0) -> None:
        """Put the platform stack in ``status`` (e.g. UPDATE_IN_PROGRESS), its last update ``age_s`` ago (moto
        finishes every stack operation at once, so a stack mid-update is rendered on its backend)."""
        backend = self.backends.get("cloudformation")
        (stack,) = [st for st in backend.stacks.values() if st.name == PLATFORM_STACK]
        stack.status = status
        stack.last_updated_time = (None if status == "CREATE_COMPLETE"
                                   else dt.datetime.now(dt.UTC) - dt.timedelta(seconds=age_s))

    def service_counts(self, service: str) -> tuple[int, int]:
        """(desired, running) of an ECS service, as DescribeServices reports it (faults included)."""
        svc = self.backends.service(service_spec(service).name)
        return int(svc.desired_count), int(svc.running_count)

    def healthy_target_count(self, target_group_name: str) -> int:
        """Targets the ALB would route to (registered and healthy), exactly as DescribeTargetHealth says."""
        arn = self.resources.target_groups[target_group_name]
        statuses = self.backends.elbv2().describe_target_health(arn, [])
        return sum(1 for status in statuses if status.status == "healthy")

    def route_for_path(self, path: str) -> str | None:
        """Target group name of the listener rule that matches ``path`` (by priority); None = default action."""
        path = path.split("?", 1)[0]
        arn_to_name = {arn: name for name, arn in self.resources.target_groups.items()}
        for _priority, patterns, tg_arn in self.backends.listener_rules(self.resources.listener_arn):
            if any(path_matches(pattern, path) for pattern in patterns):
                return arn_to_name.get(tg_arn or "")
        return None

    # -- extra controls for the HTTP side ----------------------------------------------------------------

    def task_ips(self, service: str) -> list[str]:
        """Private IPs of the service's running tasks (what Hermes records as containerIp)."""
        return self.platform.task_ips(service_spec(service))

    def publish_active_sessions(self, count: int) -> bool:
        """Publish ActiveSessionCount (Environment=production) as Hermes does; False while metric_missing."""
        return self._metric.publish_active_sessions(count)

    # -- reacting to faults and to the canary's scaling ------------------------------------------------------

    def _on_faults(self, _snapshot: dict[str, dict[str, str]]) -> None:
        if self._running and not self._ignore_fault_events and self._platform is not None:
            self._platform.reconcile()

    def _on_scaled(self, service: str, desired: int) -> None:
        """UpdateService on a platform service: tasks, targets and deployments follow, as on ECS."""
        if service in SERVICES and self._running:
            self.set_service_counts(service, desired=desired, running=desired)
