"""The journey driver: synthetic sessions through Hermes, step by step, for ``session.lifecycle`` and the
destructive checks (harness/checks/journeys.py, harness/checks/destructive.py).

A journey writes: it activates a synthetic session through Hermes, exactly as a user's editor would, and
never writes a session itself (the seed's silent DynamoDB fallback hid every activation failure). Its undo
is registered the moment the session id is known, and an activation whose answer is lost is covered by a
second undo that looks the run's user id up. Readiness probes the container's API (``/api/health``), not
Astro (the seed's mistake); the preview and the HMR WebSocket are checked separately, through the ALB.

Every wait is bounded by a budget derived from the config (activation: ``CONTAINER_READY_TIMEOUT_S`` plus
Hermes's own health wait; readiness: ``CONTAINER_READY_TIMEOUT_S`` from activation), so the check's declared
timeout is only a ceiling.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from harness import contract
from harness.checks.dynamodb import sessions_key_schema
from harness.checks.http_probes import is_alb_default
from harness.core.check import CheckContext
from harness.core.deadline import Deadline, poll_until
from harness.core.errors import CanaryError, CheckFailed, DeadlineExceeded, Verdict
from harness.core.model import Reason
from harness.net.hermes import HermesRoutes, ImplausibleSessionId, hmr_query, plausible_session_id, preview_path
from harness.net.http import HttpResponse, status_verdict
from harness.platform.ecs_state import ServiceState
from harness.platform.evidence import white_box
from harness.sessions.sweeper import deactivate_via_hermes, retire_session
from harness.sessions.synthetic import (
    USER_ATTRIBUTE,
    KeySchema,
    SyntheticStore,
    attribute_text,
    discover_key_schema,
    plain,
)
from harness.sessions.testdata import SyntheticData

LIVE_STATUSES = ("initializing", "active")
ENDED_STATUSES = ("draining", "expired")
HERMES_HEALTH_WAIT_S = 30.0  # Hermes's activate waits for a RUNNING task, then for :8080/health (§2.1)
RECORD_WAIT_S = 2.0  # Hermes writes the record before it answers; a consistent read should see it at once
PREVIEW_GRACE_S = 10.0  # Astro may answer 502 for a moment after the API is healthy
CLEANUP_DRAIN_WAIT_S = 5.0
_WARMING = (502, 503, 504)


def activate_timeout_s(config: Any) -> float:
    """Hermes activates synchronously (start a task, wait for its health): the seed's 30 s abort was too short."""
    return max(float(config.http_timeout_s), float(config.container_ready_timeout_s) + HERMES_HEALTH_WAIT_S)


@dataclass
class JourneySession:
    """A session this check activated; shared between the journey and its undo."""

    session_id: str
    user_id: str
    preview_url: str | None
    activate_status: str | None
    started: float  # perf_counter at activation start
    deactivated: bool = False
    ended: float | None = None
    record: dict[str, Any] = field(default_factory=dict)  # plain, latest read


@dataclass(frozen=True)
class Fingerprint:
    """What the platform's surface shows about a session: used to prove it survived a restart."""

    record: Mapping[str, Any]
    status: str | None
    preview_title: str | None
    preview_names_session: bool


_PLATFORM_MUTEX = "journeys.edit_service_mutex"


def hold_edit_service(ctx: CheckContext) -> None:
    """Serialise the checks of one run that start sessions or scale the edit service (lifecycle, destructive).

    They judge the same edit service (cold/warm, scale-in, restarts, capacity restore), so they take turns.
    The turn is held until the check's cleanup has run: its release is registered as the first undo, which
    the runner runs last.
    """
    mutex = ctx.facts.once(_PLATFORM_MUTEX, threading.Lock)
    started = time.perf_counter()
    if not mutex.acquire(timeout=max(0.0, ctx.deadline.remaining())):
        raise DeadlineExceeded("deadline reached while another journey of this run held the edit service")
    ctx.add_cleanup("release-edit-service", lambda _deadline: mutex.release())
    waited = time.perf_counter() - started
    if waited > 0.05:
        ctx.evidence["waited_for_other_journeys_s"] = round(waited, 2)


class Journey:
    """Drives synthetic sessions through Hermes for one check; every step is a ``ctx.step``."""

    def __init__(self, ctx: CheckContext, *, data: SyntheticData | None = None) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.data = data or SyntheticData(ctx.config.test_prefix, ctx.config.test_client_id, run_id=ctx.run_id)
        self.sessions: list[JourneySession] = []
        self._lock = threading.Lock()
        self._schema: KeySchema | None = None

    # -- plumbing ----------------------------------------------------------------------------------------------
    @property
    def base(self) -> str:
        if not self.config.base_url:
            raise CanaryError(Reason.CONFIG_INVALID, "journeys need WEBORDINARY_BASE_URL")
        return self.config.base_url.rstrip("/")

    @property
    def hermes(self) -> str:
        hermes = self.config.hermes_base
        if not hermes:
            raise CanaryError(Reason.CONFIG_INVALID, "journeys need HERMES_URL or WEBORDINARY_BASE_URL")
        return hermes

    @property
    def routes(self) -> HermesRoutes:
        return HermesRoutes(self.hermes)

    @property
    def drain_wait_s(self) -> float:
        """How long an undo gives the platform to drain a deactivated session before deleting its record."""
        return min(CLEANUP_DRAIN_WAIT_S, self.config.session_expiry_timeout_s)

    def schema(self, deadline: Deadline | None = None) -> KeySchema:
        """The discovered key schema: the run's shared one, or (an undo after the check's deadline) its own."""
        if self._schema is None:
            if deadline is None:
                partition, sort = sessions_key_schema(self.ctx)  # one DescribeTable per run, shared
                self._schema = KeySchema(partition=partition, sort=sort, types={})
            else:
                self._schema = discover_key_schema(self.ctx.aws_for(deadline).dynamodb, self._table())
        return self._schema

    def _table(self) -> str:
        table = self.config.sessions_table
        if not table:
            raise CanaryError(Reason.CONFIG_INVALID, "journeys need SESSIONS_TABLE")
        return table

    def store(self, deadline: Deadline | None = None) -> SyntheticStore:
        """The guarded sessions table, on the check's deadline or (for undos) another one."""
        aws = self.ctx.aws if deadline is None else self.ctx.aws_for(deadline)
        return SyntheticStore(aws.dynamodb, self._table(), self.schema(deadline), self.config.test_prefix)

    def edit_service(self) -> ServiceState | None:
        """The edit service now (uncached); None when ECS is not configured."""
        cluster, service = self.config.ecs_cluster, self.config.edit_service
        if not cluster or not service:
            return None
        response = self.ctx.aws.ecs.describe_services(cluster=cluster, services=[service])
        found = response.get("services", [])
        if not found:
            raise CheckFailed(Reason.RESOURCE_MISSING, f"ECS service {service} not found in cluster {cluster}",
                              {"service": service, "failures": response.get("failures", [])})
        return ServiceState.from_description(found[0])

    # -- activation and its undo -------------------------------------------------------------------------------
    def activate(self, *, tag: str = "", kind: str = "simple", label: str = "",
                 key_latency: bool = False) -> JourneySession:
        """POST /hermes/api/sessions/activate for a fresh synthetic user; the undo is registered at once."""
        body = self.data.activation_body(tag=tag, kind=kind)
        user_id = body["userId"]
        learnt: list[JourneySession] = []
        self.ctx.add_cleanup(f"{label}leftovers", lambda deadline: self._retire_unknown(user_id, learnt, deadline))
        started, started_clock = time.perf_counter(), self.data.clock()
        with self.ctx.step(f"{label}activate") as timer:
            response = self.ctx.post(self.routes.activate, json_body=body,
                                     timeout_s=activate_timeout_s(self.config), timer=timer)
            if not 200 <= response.status < 300:
                raise status_verdict(response, "Hermes activate")
            payload = response.json()
            session_id = payload.get("sessionId") if isinstance(payload, dict) else None
            if not isinstance(session_id, str) or not session_id:
                raise CheckFailed(Reason.BODY_INVALID, "activate answered without a sessionId",
                                  {"body": response.excerpt(300)})
            if not plausible_session_id(session_id):  # never becomes an address; its record is swept by user
                raise CheckFailed(Reason.BODY_INVALID, f"activate answered an {ImplausibleSessionId(session_id)}",
                                  {"body": response.excerpt(300)})
            session = JourneySession(session_id, user_id, _opt_str(payload.get("previewUrl")),
                                     _opt_str(payload.get("status")), started)
            learnt.append(session)
            self.ctx.add_cleanup(f"{label}session", lambda deadline: self._retire(session, deadline))
            with self._lock:
                self.sessions.append(session)
            self.data.track(session_id, user_id, kind=kind, start_type=self.ctx.start_type, started_at=started_clock)
            self.data.record_created(session_id, response.elapsed_ms)
            if key_latency:
                self.ctx.record_latency(contract.SESSION_ACTIVATE_LATENCY, response.elapsed_ms)
            if session.activate_status not in LIVE_STATUSES:
                raise CheckFailed(Reason.APPLICATION_ERROR,
                                  f"activate answered status {session.activate_status!r} for a new session",
                                  {"session_id": session_id, "body": response.excerpt(300)})
        self.ctx.evidence.setdefault("session_ids", []).append(session_id)
        return session

    def _retire(self, session: JourneySession, deadline: Deadline) -> None:
        """Undo of an activation: deactivate through Hermes, then delete what is left (synthetic only)."""
        try:
            store = self.store(deadline)
        except Verdict as exc:  # the table is unreadable (e.g. throttled): still let the platform drain it
            if not session.deactivated and self.config.hermes_base:
                deactivate_via_hermes(self.ctx.http, self.config.hermes_base, session.session_id, deadline,
                                      self.config.http_timeout_s)
            raise CanaryError(Reason.CLEANUP_FAILED, f"session {session.session_id}: deactivate requested, but its "
                              f"record could not be checked: {exc.message}"[:300],
                              {"session_id": session.session_id}) from exc
        result = retire_session(store, self.ctx.http, self.config.hermes_base, session.session_id, session.user_id,
                                deadline, timeout_s=self.config.http_timeout_s,
                                deactivated_earlier=session.deactivated, drain_wait_s=self.drain_wait_s)
        self._finish(session, succeeded=None)
        if result.remaining or result.refused:
            raise CanaryError(Reason.CLEANUP_FAILED, f"session {session.session_id}: {result.remaining} record(s) "
                              f"left, {result.refused} refused; {'; '.join(result.errors)}"[:300],
                              {"session_id": session.session_id})

    def _retire_unknown(self, user_id: str, learnt: list[JourneySession], deadline: Deadline) -> None:
        """Undo of an activation whose answer never arrived: Hermes may have created the session anyway."""
        if learnt:
            return  # the session's own undo handles it
        store = self.store(deadline)
        for item in store.scan_synthetic():
            if attribute_text(item.get(USER_ATTRIBUTE)) != user_id:
                continue
            session_id = attribute_text(item.get("sessionId"))
            if session_id:
                retire_session(store, self.ctx.http, self.config.hermes_base, session_id, user_id, deadline,
                               timeout_s=self.config.http_timeout_s, drain_wait_s=self.drain_wait_s)

    def _finish(self, session: JourneySession, *, succeeded: bool | None) -> None:
        """Close the session's timeline once, and book the edit-container time it used."""
        with self._lock:
            if session.ended is not None:
                return
            session.ended = time.perf_counter()
        tracked = next((s for s in self.data.sessions if s.session_id == session.session_id), None)
        if tracked is None:
            return
        self.data.finish(session.session_id, succeeded=bool(succeeded))
        self.ctx.add_cost(self.data.cost_model().task_seconds_cost(tracked.task_seconds(self.data.clock())))

    # -- the steps ---------------------------------------------------------------------------------------------
    def check_record(self, session: JourneySession, *, label: str = "") -> dict[str, Any]:
        """The record exists under the discovered key, for our user and client, live."""
        with self.ctx.step(f"{label}record"):
            store = self.store()
            items = poll_until(lambda: store.records_for_session(session.session_id, session.user_id),
                               until=bool, deadline=self.ctx.deadline, timeout_s=RECORD_WAIT_S,
                               what=f"the DynamoDB record of {session.session_id}", reason=Reason.RECORD_MISSING,
                               interval_s=0.25, max_interval_s=1.0)
            ours = [plain(i) for i in items if attribute_text(i.get(USER_ATTRIBUTE)) == session.user_id]
            if not ours:
                raise self.ctx.fail(Reason.RECORD_MISMATCH, f"the record of {session.session_id} is not for the "
                                    "synthetic user that activated it",
                                    {"key_schema": store.schema.describe(),
                                     "found_users": [attribute_text(i.get(USER_ATTRIBUTE)) for i in items][:3]})
            record = session.record = ours[0]
            self.ctx.evidence["key_schema"] = store.schema.describe()
            if record.get("clientId") != self.config.test_client_id:
                raise self.ctx.fail(Reason.RECORD_MISMATCH, f"record clientId {record.get('clientId')!r} is not "
                                    f"{self.config.test_client_id!r}", {"session_record": record})
            if record.get("status") not in LIVE_STATUSES:
                raise self.ctx.fail(Reason.RECORD_MISMATCH, f"record status {record.get('status')!r} right after "
                                    "activation", {"session_record": record})
        return record

    def status(self, session: JourneySession, *, step: str = "status") -> dict[str, Any]:
        """GET …/{id}/status answers 200 with a live status that agrees with the record."""
        with self.ctx.step(step) as timer:
            response = self.ctx.get(self.routes.status(session.session_id), timer=timer)
            if response.status != 200:
                raise status_verdict(response, "Hermes session status")
            body = response.json()
            if not isinstance(body, dict):
                raise CheckFailed(Reason.BODY_INVALID, "session status is not a JSON object",
                                  {"body": response.excerpt(300)})
            said = body.get("status")
            evidence = {"status_body": {k: body.get(k) for k in ("status", "previewUrl", "lastActivity")},
                        "record_status": session.record.get("status")}
            if said not in LIVE_STATUSES:
                raise self.ctx.fail(Reason.RECORD_MISMATCH, f"status endpoint says {said!r} for a live session",
                                    evidence)
            if session.record.get("status") == "active" and said != "active":
                raise self.ctx.fail(Reason.RECORD_MISMATCH, f"status endpoint says {said!r}, the record 'active'",
                                    evidence)
            if not _same_path(body.get("previewUrl"), session.preview_url):
                raise self.ctx.fail(Reason.RECORD_MISMATCH, "status endpoint and activate disagree on previewUrl",
                                    evidence)
        return body

    def wait_ready(self, session: JourneySession, *, step: str = "container_ready",
                   key_latency: bool = False, since: float | None = None) -> float:
        """Poll the container's API health through the ALB until 200 (JSON, not the ALB default); ms taken."""
        origin = session.started if since is None else since
        budget = max(1.0, self.config.container_ready_timeout_s - (time.perf_counter() - origin))
        url = f"{self.base}/api/health"
        with self.ctx.step(step) as timer:
            response = poll_until(lambda: self.ctx.get(url, timer=timer), until=_api_healthy,
                                  deadline=self.ctx.deadline, timeout_s=budget,
                                  what=f"the edit container's API health ({url})", reason=Reason.NOT_READY,
                                  interval_s=0.5, max_interval_s=2.0)
        ready_ms = (time.perf_counter() - origin) * 1000
        self.ctx.evidence[f"{step}_status"] = response.status
        if since is None:
            self.data.record_ready(session.session_id, ready_ms)
        if key_latency:
            self.ctx.record_latency(contract.CONTAINER_READY_LATENCY, ready_ms)
        return ready_ms

    def preview(self, session: JourneySession, *, step: str = "preview", key_latency: bool = False) -> HttpResponse:
        """GET the preview path on the base URL: 200 HTML (a short grace for Astro warming up behind the ALB)."""
        url = self.base + _preview_path(session)
        with self.ctx.step(step) as timer:
            response = poll_until(lambda: self.ctx.get(url, timer=timer),
                                  until=lambda r: r.status not in _WARMING, deadline=self.ctx.deadline,
                                  timeout_s=min(PREVIEW_GRACE_S, self.config.container_ready_timeout_s),
                                  what=f"the preview {url} to stop answering 502/503", reason=Reason.HTTP_5XX,
                                  interval_s=0.5, max_interval_s=2.0)
            if response.status != 200:
                raise status_verdict(response, "the preview page")
            if not _is_html(response):
                raise CheckFailed(Reason.BODY_INVALID, f"the preview {url} is not HTML",
                                  {"url": url, "body": response.excerpt(200)})
        if key_latency:
            self.ctx.record_latency(contract.PREVIEW_LATENCY, response.elapsed_ms)
        return response

    def websocket(self, session: JourneySession, *, step: str = "websocket", key_latency: bool = False) -> str:
        """The HMR WebSocket upgrades through the ALB and the dev server says something."""
        url = _ws_base(self.base) + hmr_query(session.session_id)
        with self.ctx.step(step):
            message, connect_ms, first_ms = self.ctx.http.websocket_hello(url, deadline=self.ctx.deadline,
                                                                          timeout_s=self.config.http_timeout_s)
        self.ctx.evidence["ws_first_message"] = message[:120]
        self.ctx.evidence["ws_first_message_ms"] = round(first_ms, 1)
        if key_latency:
            self.ctx.record_latency(contract.WEBSOCKET_CONNECT_LATENCY, connect_ms)
        return message

    def keepalive(self, session: JourneySession, *, step: str = "keepalive") -> None:
        with self.ctx.step(step) as timer:
            response = self.ctx.post(self.routes.keepalive(session.session_id), json_body={}, timer=timer)
            if not 200 <= response.status < 300:
                raise status_verdict(response, "Hermes keepalive")

    def deactivate(self, session: JourneySession, *, label: str = "") -> None:
        with self.ctx.step(f"{label}deactivate") as timer:
            response = self.ctx.post(self.routes.deactivate(session.session_id), json_body={}, timer=timer)
            if not 200 <= response.status < 300:
                raise status_verdict(response, "Hermes deactivate")
            session.deactivated = True

    def wait_drained(self, session: JourneySession, *, label: str = "") -> str | None:
        """After deactivate the record is draining (or expired) or already gone; returns what it was."""
        def current() -> str | None:
            items = store.records_for_session(session.session_id, session.user_id)
            return str(plain(items[0]).get("status")) if items else None

        with self.ctx.step(f"{label}drained"):
            store = self.store()
            status = poll_until(current, until=lambda s: s is None or s in ENDED_STATUSES,
                                deadline=self.ctx.deadline, timeout_s=self.config.http_timeout_s,
                                what=f"the record of {session.session_id} to be draining or gone",
                                reason=Reason.RECORD_MISMATCH, interval_s=0.25, max_interval_s=1.0)
        self._finish(session, succeeded=True)
        return status

    def fingerprint(self, session: JourneySession, *, label: str) -> Fingerprint:
        """Record + status endpoint + preview page, as the platform shows them now."""
        with self.ctx.step(f"{label}record"):
            items = self.store().records_for_session(session.session_id, session.user_id)
            if not items:
                raise self.ctx.fail(Reason.RECORD_MISSING, f"the record of {session.session_id} is gone")
            record = plain(items[0])
        status = self.status(session, step=f"{label}status").get("status")
        page = self.preview(session, step=f"{label}preview")
        return Fingerprint(record={k: record.get(k) for k in ("sessionId", "userId", "clientId", "threadId",
                                                              "editBranch", "createdAt")},
                           status=_opt_str(status), preview_title=_title(page.text),
                           preview_names_session=session.session_id in page.text)

    def evidence_on_failure(self) -> dict[str, Any]:
        """White-box evidence, with the newest record of the last session (best effort, never raises)."""
        record: Mapping[str, Any] | None = None
        with self._lock:
            last = self.sessions[-1] if self.sessions else None
        if last is not None and not self.ctx.deadline.expired:
            try:
                found = self.store().records_for_session(last.session_id, last.user_id)
                record = found[0] if found else {}
            except Exception:  # evidence only
                record = None
        return white_box(self.ctx, session_record=record)

    def __enter__(self) -> Journey:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        """A failing journey carries white-box evidence; every journey books its open sessions."""
        if isinstance(exc, CheckFailed):
            exc.evidence.update(self.evidence_on_failure())
        self.close()

    def close(self) -> None:
        """Book any session still open (failed mid-way) so its platform time is counted."""
        with self._lock:
            open_sessions = [s for s in self.sessions if s.ended is None]
        for session in open_sessions:
            self._finish(session, succeeded=False)


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _same_path(a: Any, b: Any) -> bool:
    """Preview URLs agree when their paths do (Hermes hard-codes the host: target-surface §2.1)."""
    if not isinstance(a, str) or not isinstance(b, str):
        return True
    return urlsplit(a).path.rstrip("/") == urlsplit(b).path.rstrip("/")


def _preview_path(session: JourneySession) -> str:
    path = urlsplit(session.preview_url).path if session.preview_url else ""
    if not path or session.session_id not in path:
        path = preview_path(session.session_id)
    return path


def _ws_base(base: str) -> str:
    if base.startswith("https://"):
        return "wss://" + base[len("https://"):]
    if base.startswith("http://"):
        return "ws://" + base[len("http://"):]
    return base


def _api_healthy(response: HttpResponse) -> bool:
    if response.status != 200 or is_alb_default(response):
        return False
    try:
        body = response.json()
    except CheckFailed:
        return False
    return not (isinstance(body, dict) and str(body.get("status", "healthy")).lower() not in ("healthy", "ok"))


def _is_html(response: HttpResponse) -> bool:
    content_type = next((v for k, v in response.headers.items() if k.lower() == "content-type"), "")
    head = response.body[:200].lstrip().lower()
    return "text/html" in content_type.lower() or head.startswith((b"<!doctype html", b"<html"))


def _title(text: str) -> str | None:
    lower = text.lower()
    start = lower.find("<title>")
    end = lower.find("</title>", start + 7)
    return text[start + 7:end].strip() if start >= 0 and end > start else None
