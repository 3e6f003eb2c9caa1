"""Composition of the offline sandbox: the AWS side (moto) plus the HTTP side (ALB, Hermes, edit container).

``Sandbox`` is what the CLI (``canary run --sandbox``, ``canary sandbox``) and the integration tests boot;
``HttpSide`` is the HTTP half on its own, for any ``PlatformControl``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING

from sandbox.alb import LocalAlb
from sandbox.aws_side import FAKE_ACCESS_KEY, FAKE_SECRET_KEY, AwsSandbox
from sandbox.control import PlatformControl, SeededResources
from sandbox.edit_container import EditContainer
from sandbox.faults import Faults, parse_fault_spec
from sandbox.hermes import HermesSimulator, SessionTable
from sandbox.iam_mode import IamMode
from sandbox.platform_layout import EDIT_API_TG, EDIT_ASTRO_TG, EDIT_WS_TG, HERMES_TG
from sandbox.queue_side import QUEUE_PLATFORM, QueueSide

if TYPE_CHECKING:
    from sandbox.journey_support import JourneySupport

SANDBOX_ENVIRONMENT = "sandbox"
SESSION_PLATFORM = "session-platform"
SUPPORTED_PROFILES = (SESSION_PLATFORM, QUEUE_PLATFORM)


class HttpSide:
    """The local ALB with Hermes and the edit container mounted behind their target groups."""

    def __init__(
        self,
        control: PlatformControl,
        faults: Faults,
        *,
        ready_delay_s: float = 0.5,
        drain_delay_s: float | None = None,
        port: int = 0,
        task_ips: Callable[[str], list[str]] | None = None,
        publish_active_sessions: Callable[[int], object] | None = None,
    ) -> None:
        self.control = control
        self.faults = faults
        self.alb = LocalAlb(control, faults, host="127.0.0.1", port=port)
        self.sessions = SessionTable(control)
        edit_service = control.resources.edit_service
        self.container = EditContainer(
            control,
            faults,
            session_exists=self.sessions.exists,
            task_ips=(lambda: task_ips(edit_service)) if task_ips is not None else None,
        )
        self.hermes = HermesSimulator(
            control,
            faults,
            container=self.container,
            sessions=self.sessions,
            base_url=self.alb.base_url,
            ready_delay_s=ready_delay_s,
            drain_delay_s=ready_delay_s if drain_delay_s is None else drain_delay_s,
            publish_active_sessions=publish_active_sessions,
        )
        self.alb.mount(HERMES_TG, self.hermes)
        self.alb.mount(EDIT_API_TG, self.container.api)
        self.alb.mount(EDIT_ASTRO_TG, self.container.astro)
        self.alb.mount(EDIT_WS_TG, self.container.hmr)
        self.alb.add_state("edit_container", self.container.state)
        self.alb.add_state("hermes", self.hermes.state)

    @property
    def base_url(self) -> str:
        return self.alb.base_url

    @property
    def ca_bundle(self) -> str:
        return self.alb.ca_bundle

    def start(self) -> None:
        self.alb.start()

    def stop(self) -> None:
        self.hermes.close()
        self.alb.stop()

    def reset(self) -> None:
        """Drop pending platform actions and open WebSockets (records and counts belong to the AWS side)."""
        self.hermes.reset()
        self.alb.close_websockets()


def faults_from_env(environ: Mapping[str, str] | None = None) -> Faults:
    """Faults named by ``SANDBOX_FAULTS`` (e.g. ``"hermes_5xx,hermes_slow:delay_ms=800"``); unknown names raise."""
    env = os.environ if environ is None else environ
    return Faults(parse_fault_spec(env.get("SANDBOX_FAULTS", "")))


class Sandbox:
    """The whole offline platform: moto seeded as the session platform plus the local ALB in front of the
    simulated services. One per process (moto's state is process-global).

    Args:
        faults: the switchboard to use; defaults to the faults named in ``SANDBOX_FAULTS``.
        ready_delay_s: how long a started edit task takes to become ready (and a drained session to go).
        port: the ALB's loopback port; 0 picks a free one.
        profile: the platform to replicate (``CANARY_PROFILE``); ``queue-platform`` adds the queue flow
            (``sandbox.queue_side.QueueSide``) on the same moto.
        iam: run the canary as a role of a synthesized template with moto enforcing IAM; defaults to the one
            named by ``SANDBOX_IAM_TEMPLATE``/``SANDBOX_IAM_FUNCTION`` (``sandbox.iam_mode``), none when unset.
    """

    def __init__(
        self,
        faults: Faults | None = None,
        *,
        ready_delay_s: float = 0.5,
        port: int = 0,
        profile: str = SESSION_PLATFORM,
        iam: IamMode | None = None,
    ) -> None:
        if profile not in SUPPORTED_PROFILES:
            raise ValueError(
                f"the sandbox cannot replicate profile {profile!r} yet; supported: {', '.join(SUPPORTED_PROFILES)}"
            )
        self.profile = profile
        self.faults = faults if faults is not None else faults_from_env()
        self.iam = iam if iam is not None else IamMode.from_env(os.environ)
        self.ready_delay_s = ready_delay_s
        self._port = port
        self.aws = AwsSandbox(self.faults)
        self._http: HttpSide | None = None
        self.queue: QueueSide | None = None
        self.journeys: JourneySupport | None = None  # StopTask restarts and step faults (sandbox.journey_support)

    # -- lifecycle

    def start(self) -> Sandbox:
        if self._http is not None:
            return self
        self.aws.start()
        try:
            http = HttpSide(
                self.aws,
                self.faults,
                ready_delay_s=self.ready_delay_s,
                port=self._port,
                task_ips=self.aws.task_ips,
                publish_active_sessions=self.aws.publish_active_sessions,
            )
            http.alb.on_reset(self.reset)
            http.start()
        except BaseException:
            self.aws.stop()
            raise
        self._http = http
        from sandbox.journey_support import JourneySupport

        self.journeys = JourneySupport(self).install()
        if self.profile == QUEUE_PLATFORM:
            try:
                self.queue = QueueSide(self.aws, self.faults).start()
            except BaseException:
                self.stop()
                raise
        if self.iam is not None:
            try:  # last: seeding above ran before moto checked anything
                self.iam.enable(self.aws, admin_key=FAKE_ACCESS_KEY, admin_secret=FAKE_SECRET_KEY)
            except BaseException:
                self.stop()
                raise
        return self

    def stop(self) -> None:
        if self.journeys is not None:
            self.journeys.reset()
            self.journeys = None
        if self.queue is not None:
            self.queue.stop()
            self.queue = None
        if self._http is not None:
            self._http.stop()
            self._http = None
        if self.iam is not None:
            self.iam.disable()
        self.aws.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def reset(self) -> None:
        """Back to the healthy seed: faults cleared, seed counts and table, no pending actions or WebSockets."""
        http = self.http
        if self.journeys is not None:
            self.journeys.reset()
        http.hermes.reset()  # first, so no scheduled platform action writes into the fresh state
        self.aws.reset()
        if self.queue is not None:
            self.queue.reset()  # after the AWS side, which scales the edit service back to its seed
        http.reset()

    # -- what callers need

    @property
    def http(self) -> HttpSide:
        if self._http is None:
            raise RuntimeError("Sandbox not started")
        return self._http

    @property
    def control(self) -> AwsSandbox:
        """The AWS side as ``PlatformControl`` (boto3 clients straight to moto, no canary-side faults)."""
        return self.aws

    @property
    def resources(self) -> SeededResources:
        return self.aws.resources

    @property
    def base_url(self) -> str:
        """The local ALB's HTTPS listener: ``WEBORDINARY_BASE_URL``."""
        return self.http.base_url

    @property
    def http_url(self) -> str:
        """The local ALB's plain-HTTP listener (301 to ``base_url``; the admin API answers here too)."""
        return self.http.alb.http_url

    @property
    def ca_bundle(self) -> str:
        """The sandbox CA's certificate (PEM file): ``CANARY_CA_BUNDLE``, so verification stays on."""
        return self.http.ca_bundle

    @property
    def aws_endpoint_url(self) -> str:
        """moto behind the fault proxy: ``AWS_ENDPOINT_URL`` for the canary."""
        return self.aws.endpoint_url

    def environment(self) -> dict[str, str]:
        """The canary's environment (DESIGN §4) for a run against this sandbox; fake credentials only."""
        res = self.resources
        env = dict(self.aws.canary_env())
        env.update(
            {
                "CANARY_ENVIRONMENT": SANDBOX_ENVIRONMENT,
                "CANARY_PROFILE": self.profile,
                "WEBORDINARY_BASE_URL": self.base_url,
                "CANARY_CA_BUNDLE": self.ca_bundle,
                "AWS_ENDPOINT_URL": self.aws_endpoint_url,
                "AWS_REGION": res.region,
                "AWS_DEFAULT_REGION": res.region,
                "AWS_EC2_METADATA_DISABLED": "true",
                "ECS_CLUSTER": res.cluster,
                "HERMES_SERVICE": res.hermes_service,
                "EDIT_SERVICE": res.edit_service,
                "SESSIONS_TABLE": res.sessions_table,
                "TARGET_GROUP_ARNS": ",".join(res.target_groups.values()),
                "LOAD_BALANCER_ARN": res.load_balancer_arn,
                "EFS_FILE_SYSTEM_ID": res.efs_id,
                "PLATFORM_STACK_NAME": str(res.extra["platform_stack_name"]),
            }
        )
        if self.queue is not None:
            env.update(self.queue.environment())
        if self.iam is not None:
            env.update(self.iam.credentials())  # the role's, not the sandbox's own (admin) key
        return env
