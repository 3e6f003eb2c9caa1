"""HTTP checks through the ALB: Hermes health, and each route answering from its own service.

Two lessons from the seed era are built in. 502/503 never pass for a service that should be serving (Hermes
always; the edit service when its desired count is above 0 and no rollout is under way). And a 200 is not
enough: the ALB's default action is a fixed 200 "healthy", so a route whose rule is gone looks healthy to a
naive probe; each route's answer must come from its own service.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.core.check import CheckContext, check
from harness.core.errors import CanaryError, CheckFailed, CheckSkipped, TransientFailure
from harness.core.model import Reason
from harness.net.hermes import HermesRoutes
from harness.net.http import HttpResponse, status_verdict
from harness.platform import ecs_state

ALB_DEFAULT_BODY = b"healthy"
ALB_SERVER = "awselb"
IDLE_STATUS = 503  # what the ALB answers for a rule whose target group is empty


def is_alb_default(response: HttpResponse) -> bool:
    """The listener's default action (fixed 200 text "healthy"), i.e. no rule matched the path."""
    return (response.status == 200 and response.body.strip() == ALB_DEFAULT_BODY
            and not _content_type(response).endswith("json"))


def _content_type(response: HttpResponse) -> str:
    for name, value in response.headers.items():
        if name.lower() == "content-type":
            return value.split(";", 1)[0].strip().lower()
    return ""


def _header(response: HttpResponse, wanted: str) -> str:
    for name, value in response.headers.items():
        if name.lower() == wanted:
            return value
    return ""


def _json_object(response: HttpResponse) -> dict[str, Any] | None:
    if "json" not in _content_type(response):
        return None
    try:
        body = response.json()
    except CheckFailed:
        return None
    return body if isinstance(body, dict) else None


# -- http.hermes_health --------------------------------------------------------------------------------------
@check("http.hermes_health", depends_on=(), timeout_s=20)
def http_hermes_health(ctx: CheckContext) -> None:
    base = ctx.config.hermes_base
    if not base:
        raise CheckSkipped(Reason.NOT_CONFIGURED, "not configured: set WEBORDINARY_BASE_URL or HERMES_URL")
    url = HermesRoutes(base).health
    with ctx.step("GET /hermes/health") as timer:
        response = ctx.get(url, timer=timer)
        ctx.evidence.update({"url": url, "status": response.status, "latency_ms": round(response.elapsed_ms, 1)})
        if is_alb_default(response):
            raise ctx.fail(Reason.ROUTE_DEFAULT, "Hermes /health was answered by the ALB default action (fixed "
                                                 "'healthy' text): no rule routes /hermes/*")
        if response.status != 200:
            verdict = status_verdict(response, "Hermes /health")
            excuse = ecs_state.deploying_excuse(ctx, ctx.config.hermes_service) if response.status >= 500 else None
            if excuse is None:
                raise verdict
            ctx.degrade(Reason.DEPLOYING, f"{verdict.message} while {excuse.state.name} deploys "
                                          f"({excuse.assessment.why})", excuse.evidence())
            return
        body = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("status"), str):
            raise ctx.fail(Reason.SCHEMA_MISMATCH, "Hermes /health JSON has no string 'status' field",
                           {"body": response.excerpt(300)})
        ctx.evidence["body_status"] = body["status"]
        if body["status"] != "healthy":
            raise ctx.fail(Reason.APPLICATION_ERROR, f"Hermes reports status {body['status']!r}, not 'healthy'",
                           {"body": response.excerpt(300)})
    ctx.note(f"healthy in {response.elapsed_ms:.0f} ms")


# -- http.routing --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    """One ALB route, the service behind it and how to recognise that service's own answer."""

    path: str
    owner: str  # "hermes" | "edit"
    answerer: str  # name used in evidence
    recognise: Callable[[HttpResponse], str | None]  # None = its own answer, else what is wrong


def _hermes_answer(response: HttpResponse) -> str | None:
    body = _json_object(response)
    if response.status == 200 and body is not None and "status" in body:
        return None
    return "not Hermes's JSON health answer"


def _edit_api_answer(response: HttpResponse) -> str | None:
    body = _json_object(response)
    if response.status == 200 and body is not None and "status" in body:
        return None
    return "not the edit API's JSON {\"status\": ...} answer"


def _astro_answer(response: HttpResponse) -> str | None:
    if response.status in (200, 404) and _content_type(response) == "text/html":
        return None
    return "not an HTML page from the Astro preview server"


def _hmr_answer(response: HttpResponse) -> str | None:
    # A plain GET to the HMR WebSocket server is refused (400/426 "upgrade required"); anything but the ALB's
    # default is the server's own answer. The upgrade itself is the journey's business.
    return None


ROUTES = (
    Route("/hermes/health", "hermes", "hermes", _hermes_answer),
    Route("/api/health", "edit", "edit-api", _edit_api_answer),
    Route("/session/canary-route-probe", "edit", "astro", _astro_answer),
    Route("/ws/hmr", "edit", "hmr", _hmr_answer),
)


@dataclass
class _RoutingVerdicts:
    failed: list[CheckFailed] = field(default_factory=list)
    degraded: list[tuple[Reason, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@check("http.routing", depends_on=(), timeout_s=40)
def http_routing(ctx: CheckContext) -> None:
    base = (ctx.config.base_url or "").rstrip("/")
    states = _read_states(ctx)
    routes: list[dict[str, Any]] = []
    ctx.evidence["routes"] = routes
    verdicts = _RoutingVerdicts()
    for route in ROUTES:
        entry: dict[str, Any] = {"path": route.path}
        routes.append(entry)
        try:
            with ctx.step(f"GET {route.path}") as timer:
                response = ctx.get(base + route.path, timer=timer)
                entry.update({"status": response.status, "latency_ms": round(response.elapsed_ms, 1)})
                _judge_route(ctx, route, response, states, entry, verdicts)
        except CheckFailed as exc:
            entry.setdefault("verdict", f"FAILED {exc.reason.value}")
            verdicts.failed.append(exc)
    if verdicts.failed:
        first = verdicts.failed[0]
        message = "; ".join(f.message for f in verdicts.failed)
        if all(isinstance(f, TransientFailure) for f in verdicts.failed):
            raise TransientFailure(first.reason, message, dict(ctx.evidence))
        raise ctx.fail(first.reason, message)
    for reason, message in verdicts.degraded:
        ctx.degrade(reason, message)
    for note in verdicts.notes:
        ctx.note(note)


def _read_states(ctx: CheckContext) -> ecs_state.ServiceStates | None:
    """The run's ECS snapshot, or None when it cannot be read: then an edit route's 5xx is noted, not judged
    (idle or down cannot be told apart, and paging on an unknown idle state would be wrong)."""
    try:
        return ecs_state.service_states(ctx)
    except (CanaryError, CheckFailed, CheckSkipped) as exc:
        ctx.evidence["ecs_state"] = f"unreadable ({exc.reason.value}: {exc.message})"[:300]
        return None


def _answered_by(route: Route, response: HttpResponse) -> str:
    if is_alb_default(response):
        return "alb-default"
    if response.status >= 500 and ALB_SERVER in _header(response, "server").lower():
        return "alb"
    if route.recognise(response) is None:
        return route.answerer
    return "unknown"


def _judge_route(ctx: CheckContext, route: Route, response: HttpResponse, states: ecs_state.ServiceStates | None,
                 entry: dict[str, Any], verdicts: _RoutingVerdicts) -> None:
    """Record the route's verdict; raise CheckFailed for a failing route (recorded on its step)."""
    entry["answered_by"] = _answered_by(route, response)
    what = f"{route.path}"
    if is_alb_default(response):
        raise CheckFailed(Reason.ROUTE_DEFAULT, f"{what} answered by the ALB default action, not {route.answerer}")
    if response.status >= 500:
        _judge_5xx(ctx, route, response, states, entry, verdicts)
        return
    problem = route.recognise(response)
    if problem is not None:
        if response.status >= 400:
            raise status_verdict(response, what)
        raise CheckFailed(Reason.SCHEMA_MISMATCH, f"{what} answered {response.status} but {problem}",
                          {"body": response.excerpt(200)})
    entry["verdict"] = "PASSED"


def _judge_5xx(ctx: CheckContext, route: Route, response: HttpResponse, states: ecs_state.ServiceStates | None,
               entry: dict[str, Any], verdicts: _RoutingVerdicts) -> None:
    what = f"{route.path} answered HTTP {response.status}"
    service = ctx.config.hermes_service if route.owner == "hermes" else ctx.config.edit_service
    state = states.get(service) if states is not None else None
    if state is None and route.owner == "edit":
        entry["verdict"] = "not judged"
        why = "ECS state unreadable" if states is None else f"service {service} not found"
        verdicts.notes.append(f"{route.path} {response.status} not judged ({why})")
        return
    if state is not None:
        entry["service"] = {"name": state.name, "desired": state.desired, "running": state.running}
        if route.owner == "edit" and state.idle:
            if response.status == IDLE_STATUS:
                entry["verdict"] = "idle"
                verdicts.notes.append(f"{route.path} 503: idle (edit service at desired 0)")
                return
            raise CheckFailed(Reason.HTTP_5XX, f"{what} while the edit service is idle (an empty target group "
                                               f"answers {IDLE_STATUS})", {"body": response.excerpt(200)})
        else:
            assessment = ecs_state.assess_deploy(state, ctx.config.deploy_grace_s)
            entry["service"]["deploy"] = assessment.status
            if assessment.status == "deploying":
                entry["verdict"] = "DEGRADED deploying"
                verdicts.degraded.append((Reason.DEPLOYING, f"{what} while {state.name} deploys ({assessment.why})"))
                return
            if assessment.status == "stable" and response.status == IDLE_STATUS and _targets_starting(ctx, state):
                entry["verdict"] = "DEGRADED not_ready"
                verdicts.degraded.append((Reason.NOT_READY, f"{what}: {state.name}'s targets are still in initial "
                                                            "health checks"))
                return
            stack = ecs_state.stack_excuse(ctx) if assessment.status == "stable" else None
            if stack is not None:
                entry["verdict"] = "DEGRADED deploying"
                entry["service"]["deploy"] = "deploying"
                ctx.evidence["stack_update"] = stack.evidence()
                verdicts.degraded.append((Reason.DEPLOYING, f"{what} while {stack.why}"))
                return
    raise CheckFailed(Reason.HTTP_5XX, f"{what} ({'Hermes' if route.owner == 'hermes' else 'edit service'} should "
                                       "be serving)", {"body": response.excerpt(200)})


def _targets_starting(ctx: CheckContext, state: ecs_state.ServiceState) -> bool:
    """True when the service's targets are registered but none healthy yet and some still ``initial``."""
    states: list[str] = []
    for arn in state.target_groups:
        try:
            health = ctx.aws.elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        except (CanaryError, CheckFailed):
            return False
        states.extend(str(h.get("TargetHealth", {}).get("State")) for h in health)
    return "initial" in states and "healthy" not in states

CHECKS = (http_hermes_health, http_routing)
