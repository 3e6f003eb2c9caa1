"""What the journeys need from the sandbox beyond the base replica: task restarts, and a fault per journey step.

- **Restart with a persisted workspace.** A ``StopTask`` of one of the edit service's tasks (what
  ``session.persistence`` does) behaves as on ECS: the task stops, its targets leave the target groups, the
  service is short of one task until the scheduler starts a replacement ``ready_delay_s`` later. Sessions live in
  DynamoDB and the preview is rendered from them, so a session survives the restart, as a workspace on EFS would.
  moto alone marks the task STOPPED and nothing else happens.
- **Step faults** for the journey steps the base switchboard has no fault for (``sandbox.faults.STEP_FAULTS``, declared
  in the one fault catalogue), switched with ``support.faults.enable(name)``; they wrap the Hermes and Astro
  listeners behind the local ALB.
- **Counting** activations that Hermes accepted, so tests can prove two overlapping runs created one session.

``sandbox.runtime.Sandbox`` installs it on start (``sandbox.journeys``) and resets it with the sandbox.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any, Protocol

from sandbox.alb import HttpRequest, HttpResponse, LocalAlb, WebSocketAccept, json_response
from sandbox.aws_side import AwsSandbox
from sandbox.edit_container import EXPRESS_HEADERS, EditContainer
from sandbox.faults import STEP_FAULTS
from sandbox.hermes import HermesSimulator, SessionTable
from sandbox.platform_layout import EDIT_ASTRO_TG, HERMES_TG


class _HttpParts(Protocol):
    @property
    def alb(self) -> LocalAlb: ...
    @property
    def hermes(self) -> HermesSimulator: ...
    @property
    def container(self) -> EditContainer: ...
    @property
    def sessions(self) -> SessionTable: ...


class JourneyHost(Protocol):
    """What the journey support needs of a started sandbox (``sandbox.runtime.Sandbox`` provides it; typed here so
    this module need not import the composition that installs it)."""

    @property
    def aws(self) -> AwsSandbox: ...
    @property
    def http(self) -> _HttpParts: ...
    @property
    def ready_delay_s(self) -> float: ...

_SESSION_ACTION = re.compile(r"^/hermes/api/sessions/([^/]+)/(status|deactivate)/?$")
_PREVIEW = re.compile(r"^/session/([^/]+)/?$")


class StepFaults:
    """Thread-safe set of active step faults; unknown names are rejected (a typo must not test nothing)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: set[str] = set()

    def enable(self, name: str) -> None:
        if name not in STEP_FAULTS:
            raise ValueError(f"unknown step fault {name!r}; known: {', '.join(sorted(STEP_FAULTS))}")
        with self._lock:
            self._active.add(name)

    def disable(self, name: str) -> None:
        with self._lock:
            self._active.discard(name)

    def clear(self) -> None:
        with self._lock:
            self._active.clear()

    def active(self, name: str) -> bool:
        with self._lock:
            return name in self._active

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._active)


class _HermesFaults:
    """Hermes behind the ALB, with the step faults for status and deactivate, counting accepted activations."""

    def __init__(self, inner: Any, support: JourneySupport) -> None:
        self._inner = inner
        self._support = support

    def listening(self) -> bool:
        return bool(self._inner.listening())

    def handle(self, request: HttpRequest) -> HttpResponse | WebSocketAccept:
        faults = self._support.faults
        match = _SESSION_ACTION.match(request.path)
        if match and match.group(2) == "deactivate" and request.method == "POST":
            if faults.active("deactivate_5xx"):
                return json_response(500, {"statusCode": 500, "message": "Internal server error"},
                                     headers=EXPRESS_HEADERS)
            if faults.active("session_not_drained"):
                return json_response(200, {"status": "draining", "message": "Session is being deactivated"},
                                     headers=EXPRESS_HEADERS)
        response: HttpResponse | WebSocketAccept = self._inner.handle(request)
        if (match and match.group(2) == "status" and request.method == "GET" and faults.active("status_mismatch")
                and isinstance(response, HttpResponse) and response.status == 200):
            body = json.loads(response.body)
            body["status"] = "expired"
            return json_response(200, body, headers=EXPRESS_HEADERS)
        if (request.path.rstrip("/") == "/hermes/api/sessions/activate" and request.method == "POST"
                and isinstance(response, HttpResponse) and 200 <= response.status < 300):
            self._support.count_activation()
        return response


class _AstroFaults:
    """Astro behind the ALB, with preview_5xx and the previews a restart without persistence would lose."""

    def __init__(self, inner: Any, support: JourneySupport) -> None:
        self._inner = inner
        self._support = support

    def listening(self) -> bool:
        return bool(self._inner.listening())

    def handle(self, request: HttpRequest) -> HttpResponse | WebSocketAccept:
        match = _PREVIEW.match(request.path)
        if match:
            if self._support.faults.active("preview_5xx"):
                return HttpResponse(500, b"<!DOCTYPE html><title>500</title><h1>Internal Error</h1>",
                                    "text/html; charset=utf-8")
            if match.group(1) in self._support.lost_sessions():
                return HttpResponse(404, b"<!DOCTYPE html><title>404: Not found</title>", "text/html; charset=utf-8")
        result: HttpResponse | WebSocketAccept = self._inner.handle(request)
        return result


class _ScaleInGate:
    """The control seam Hermes scales through, refusing the idle scale-in while ``no_scale_in`` is on."""

    def __init__(self, inner: AwsSandbox, support: JourneySupport) -> None:
        self._inner = inner
        self._support = support

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def set_service_counts(self, service: str, *, desired: int, running: int, pending: int = 0) -> None:
        if (desired == 0 and service.split("/")[-1] == self._inner.resources.edit_service
                and self._support.faults.active("no_scale_in")):
            return
        self._inner.set_service_counts(service, desired=desired, running=running, pending=pending)


class JourneySupport:
    """Installs the restart behaviour and the step faults on a started ``Sandbox``."""

    def __init__(self, sandbox: JourneyHost) -> None:
        self.sandbox = sandbox
        self.faults = StepFaults()
        self._lock = threading.Lock()
        self._activations = 0
        self._restarts: list[str] = []
        self._lost: set[str] = set()
        self._timers: set[threading.Timer] = set()
        self._generation = 0

    # -- installation --------------------------------------------------------------------------------------
    def install(self) -> JourneySupport:
        http = self.sandbox.http
        http.alb.mount(HERMES_TG, _HermesFaults(http.hermes, self))
        http.alb.mount(EDIT_ASTRO_TG, _AstroFaults(http.container.astro, self))
        # Hermes's scaling goes through this gate (the simulator keeps its control seam in ``_control``).
        http.hermes._control = _ScaleInGate(self.sandbox.aws, self)
        self._hook_stop_task()
        http.alb.add_state("journeys", self.state)
        return self

    def _hook_stop_task(self) -> None:
        aws = self.sandbox.aws
        ecs = aws.backends.ecs()
        original = ecs.stop_task

        def stop_task(cluster_str: str, task_str: str, reason: str) -> Any:
            task = original(cluster_str, task_str, reason)
            self._on_stopped(str(task.task_arn))
            return task

        ecs.stop_task = stop_task

    # -- ECS: a stopped service task is replaced ------------------------------------------------------------
    def _on_stopped(self, task_arn: str) -> None:
        """Called for every StopTask; the sandbox's own scale-in has already forgotten the task, a caller's has not."""
        aws = self.sandbox.aws
        service = aws.resources.edit_service
        with aws.lock:
            tasks = aws.platform.tasks[service]
            if task_arn not in tasks:
                return  # the sandbox scaling in (it pops the task before stopping it)
            ip = aws.backends.task_ip(task_arn)
            tasks.remove(task_arn)
            elbv2 = aws.backends.elbv2()
            for tg_name, tg_arn in aws.resources.target_groups.items():
                if tg_name != HERMES_TG and ip in elbv2.target_groups[tg_arn].targets:
                    elbv2.deregister_targets(tg_arn, [{"Id": ip}])
            desired, _running = aws.service_counts(service)
            aws.set_service_counts(service, desired=desired, running=len(tasks), pending=max(0, desired - len(tasks)))
        with self._lock:
            self._restarts.append(task_arn)
            if self.faults.active("workspace_lost_on_restart"):
                self._lost.update(r["sessionId"] for r in self.sandbox.http.sessions.scan())
        self._schedule(self.sandbox.ready_delay_s, self._replace)

    def _replace(self) -> None:
        aws = self.sandbox.aws
        service = aws.resources.edit_service
        desired, running = aws.service_counts(service)
        if desired > running:
            aws.set_service_counts(service, desired=desired, running=desired)

    def _schedule(self, delay_s: float, action: Any) -> None:
        generation = self._generation

        def run() -> None:
            with self._lock:
                self._timers.discard(timer)
                if generation != self._generation:
                    return
            action()

        timer = threading.Timer(delay_s, run)
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    # -- bookkeeping ----------------------------------------------------------------------------------------
    def count_activation(self) -> None:
        with self._lock:
            self._activations += 1

    @property
    def activations(self) -> int:
        with self._lock:
            return self._activations

    @property
    def restarts(self) -> list[str]:
        with self._lock:
            return list(self._restarts)

    def lost_sessions(self) -> set[str]:
        with self._lock:
            return set(self._lost)

    def reset(self) -> None:
        """Clear step faults, counters and pending replacements (call before the sandbox's own reset)."""
        with self._lock:
            self._generation += 1
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
            self._activations = 0
            self._restarts.clear()
            self._lost.clear()
        self.faults.clear()

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {"step_faults": self.faults.names(), "activations": self._activations,
                    "restarts": len(self._restarts), "pending_replacements": len(self._timers)}
