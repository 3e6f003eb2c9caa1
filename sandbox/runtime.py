"""Composition of the offline sandbox: the AWS side (moto) plus the HTTP side (ALB, Hermes, edit container).

``Sandbox`` is what the CLI (``canary run --sandbox``, ``canary sandbox``) and the integration tests boot;
``HttpSide`` is the HTTP half on its own, for any ``PlatformControl``.
"""

from __future__ import annotations

import os

from sandbox.alb import LocalAlb
from sandbox.control import PlatformControl
from sandbox.edit_container import EditContainer
from sandbox.faults import Faults, parse_fault_spec
from sandbox.hermes import HermesSimulator, SessionTable

HERMES_TG = "hermes-api-tg"
EDIT_API_TG = "edit-api-tg"
EDIT_ASTRO_TG = "edit-astro-tg"
EDIT_WS_TG = "edit-ws-tg"


class HttpSide:
    """The local ALB with Hermes and the edit container mounted behind their target groups."""

    def __init__(
        self,
        control: PlatformControl,
        faults: Faults,
        *,
        ready_delay_s: float = 0.5,
        drain_delay_s: float | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.control = control
        self.faults = faults
        self.alb = LocalAlb(control, faults, host=host, port=port)
        self.sessions = SessionTable(control)
        self.container = EditContainer(control, faults, session_exists=self.sessions.exists)
        self.hermes = HermesSimulator(
            control,
            faults,
            container=self.container,
            sessions=self.sessions,
            base_url=self.alb.base_url,
            ready_delay_s=ready_delay_s,
            drain_delay_s=ready_delay_s if drain_delay_s is None else drain_delay_s,
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

    def start(self) -> None:
        self.alb.start()

    def stop(self) -> None:
        self.hermes.close()
        self.alb.stop()

    def reset(self) -> None:
        """Drop pending platform actions and open WebSockets (records and counts belong to the AWS side)."""
        self.hermes.reset()
        self.alb.close_websockets()


def faults_from_env(environ: dict[str, str] | None = None) -> Faults:
    """Faults named by ``SANDBOX_FAULTS`` (e.g. ``"hermes_5xx,hermes_slow:delay_ms=800"``); unknown names raise."""
    env = os.environ if environ is None else environ
    return Faults(parse_fault_spec(env.get("SANDBOX_FAULTS", "")))


