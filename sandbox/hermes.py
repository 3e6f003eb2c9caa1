"""Hermes (NestJS, global prefix ``hermes``, port 3000) as deployed at hermes@7b5584a, plus the platform's
reactions to it that moto cannot produce: the edit task starting after a delay, drained sessions being
removed and the edit service's idle scale-in (target-surface §2.1, §2.4, §2.5).

Sessions live in the real sessions table in moto (key sessionId + userId), written with the attributes
Hermes writes, so the canary's DynamoDB checks see exactly what they would see in production.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from sandbox.alb import HttpRequest, HttpResponse, json_response
from sandbox.control import PlatformControl
from sandbox.edit_container import EXPRESS_HEADERS, EditContainer
from sandbox.faults import Faults

log = logging.getLogger(__name__)

SESSION_TTL_S = 1800  # ttl = now + 30 min, extended by keepalive
LIVE_STATUSES = ("initializing", "active")
MAX_FAULT_DELAY_MS = 120_000  # hermes_slow is bounded whatever the parameter says
RECONCILE_DELAY_S = 0.05  # live-count publication and idle scale-in are coalesced over this window

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _iso(epoch_s: float) -> str:
    """JavaScript's ``new Date().toISOString()``."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(epoch_s * 1000) % 1000:03d}Z"


def _plain(value: Any) -> Any:
    """DynamoDB-deserialised values as JSON-ready ones (Decimal -> int/float)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class SessionTable:
    """The sessions table as Hermes uses it: items keyed sessionId + userId, found by Query on sessionId."""

    def __init__(self, control: PlatformControl) -> None:
        self._control = control
        self.table_name = control.resources.sessions_table
        self._client: Any = None

    @property
    def _ddb(self) -> Any:
        if self._client is None:
            self._client = self._control.client("dynamodb")
        return self._client

    def put(self, record: dict[str, Any]) -> None:
        item = {k: _serializer.serialize(v) for k, v in record.items() if v is not None}
        self._ddb.put_item(TableName=self.table_name, Item=item)

    def get(self, session_id: str) -> dict[str, Any] | None:
        resp = self._ddb.query(
            TableName=self.table_name,
            KeyConditionExpression="sessionId = :s",
            ExpressionAttributeValues={":s": {"S": session_id}},
        )
        items = resp.get("Items", [])
        return self._decode(items[0]) if items else None

    def exists(self, session_id: str) -> bool:
        return self.get(session_id) is not None

    def update(self, session_id: str, user_id: str, **attrs: Any) -> None:
        names = {f"#a{i}": name for i, name in enumerate(attrs)}
        values = {f":v{i}": _serializer.serialize(value) for i, value in enumerate(attrs.values())}
        expression = "SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(attrs)))
        self._ddb.update_item(
            TableName=self.table_name,
            Key={"sessionId": {"S": session_id}, "userId": {"S": user_id}},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def delete(self, session_id: str, user_id: str) -> None:
        self._ddb.delete_item(
            TableName=self.table_name, Key={"sessionId": {"S": session_id}, "userId": {"S": user_id}}
        )

    def scan(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.table_name}
        while True:
            resp = self._ddb.scan(**kwargs)
            items.extend(self._decode(item) for item in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return items
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def reconnect(self) -> None:
        """Drop the cached client (after the AWS side was reset)."""
        self._client = None

    @staticmethod
    def _decode(item: dict[str, Any]) -> dict[str, Any]:
        return {k: _plain(_deserializer.deserialize(v)) for k, v in item.items()}


def _nest_error(status: int, message: str, error: str | None = None) -> HttpResponse:
    """NestJS's error body: {statusCode, message[, error]}."""
    body: dict[str, Any] = {"statusCode": status, "message": message}
    if error:
        body["error"] = error
    return json_response(status, body, headers=EXPRESS_HEADERS)


def _ok(payload: Any) -> HttpResponse:
    return json_response(200, payload, headers=EXPRESS_HEADERS)


_STATUS = re.compile(r"^/hermes/api/sessions/([^/]+)/(status|keepalive|deactivate)/?$")
_CLIENT = re.compile(r"^/hermes/api/sessions/client/([^/]+)/?$")


class HermesSimulator:
    """The Hermes listener behind ``hermes-api-tg``; also drives the edit service the way the platform does."""

    def __init__(
        self,
        control: PlatformControl,
        faults: Faults,
        *,
        container: EditContainer,
        sessions: SessionTable,
        base_url: str,
        ready_delay_s: float = 0.5,
        drain_delay_s: float = 0.5,
        clock: Callable[[], float] = time.time,
        publish_active_sessions: Callable[[int], object] | None = None,
    ) -> None:
        self._control = control
        self._faults = faults
        self._container = container
        self.sessions = sessions
        self._base_url = base_url.rstrip("/")
        self.ready_delay_s = ready_delay_s
        self.drain_delay_s = drain_delay_s
        self._clock = clock
        self._publish_active_sessions = publish_active_sessions
        self._lock = threading.RLock()  # serialises scaling decisions
        self._timers: set[threading.Timer] = set()
        self._generation = 0  # timers from before a reset do nothing
        self._reconcile_pending = False
        self._starting = False  # an edit task is PENDING
        self._closed = threading.Event()

    # -- Listener

    def listening(self) -> bool:
        return True

    def handle(self, request: HttpRequest) -> HttpResponse:
        delay = self._fault_delay_s()
        if delay is None:
            return _nest_error(500, "sandbox: hermes_slow delay_ms must be a non-negative integer")
        if delay:
            self._closed.wait(delay)
        if self._faults.active("hermes_5xx"):
            return _nest_error(500, "Internal server error")
        try:
            return self._route(request)
        except (ClientError, BotoCoreError):
            # What NestJS answers for an unhandled exception; logged because in the sandbox it is a bug.
            log.exception("hermes simulator: DynamoDB call failed on %s %s", request.method, request.path)
            return _nest_error(500, "Internal server error")

    def _fault_delay_s(self) -> float | None:
        if not self._faults.active("hermes_slow"):
            return 0.0
        raw = self._faults.param("hermes_slow", "delay_ms", "3000")
        try:
            delay_ms = int(raw)
        except ValueError:
            return None
        if delay_ms < 0:
            return None
        return min(delay_ms, MAX_FAULT_DELAY_MS) / 1000

    def _route(self, request: HttpRequest) -> HttpResponse:
        path, method = request.path, request.method
        if path in ("/hermes/health", "/hermes/health/") and method == "GET":
            if self._faults.active("hermes_malformed_json"):
                return HttpResponse(200, b'{"status": "heal', "application/json; charset=utf-8", EXPRESS_HEADERS)
            return _ok({"status": "healthy", "timestamp": _iso(self._clock())})
        if path == "/hermes/api/sessions/activate" and method == "POST":
            return self._activate(request)
        match = _CLIENT.match(path)
        if match and method == "GET":
            return self._client_sessions(match.group(1))
        match = _STATUS.match(path)
        if match:
            session_id, action = match.groups()
            if action == "status" and method == "GET":
                return self._status(session_id)
            if action == "keepalive" and method == "POST":
                return self._keepalive(session_id)
            if action == "deactivate" and method == "POST":
                return self._deactivate(session_id)
        return _nest_error(404, f"Cannot {method} {path}", "Not Found")

    # -- endpoints

    def _activate(self, request: HttpRequest) -> HttpResponse:
        try:
            body = request.json()
        except ValueError:
            return _nest_error(400, "Unexpected token in JSON", "Bad Request")
        if not isinstance(body, dict):
            body = {}
        missing = [f for f in ("clientId", "userId", "instruction") if not _non_empty_str(body.get(f))]
        if missing:
            return _nest_error(400, f"Missing required fields: {', '.join(missing)}", "Bad Request")
        if self._faults.active("activate_app_error"):
            # What ECS RunTask's error surfaced as in the seed era (07-ADDENDUM).
            return _nest_error(500, "Tasks cannot be empty")
        session_id = f"session-{uuid.uuid4()}"
        preview_url = f"{self._base_url}/session/{session_id}"
        if self._faults.active("session_not_persisted"):
            return _ok({"sessionId": session_id, "previewUrl": preview_url, "status": "initializing"})
        now = self._clock()
        thread_id = uuid.uuid4().hex[:12]
        record = {
            "sessionId": session_id,
            "userId": body["userId"],
            "clientId": body["clientId"],
            "threadId": thread_id,
            "status": "initializing",
            "lastActivity": int(now * 1000),
            "ttl": int(now) + SESSION_TTL_S,
            "editBranch": f"thread-{thread_id}",
            "createdAt": _iso(now),
            "previewUrl": preview_url,
        }
        with self._lock:
            self.sessions.put(record)
            status = self._ensure_edit_task(session_id, body["userId"])
            self._publish_live_count()
        return _ok({"sessionId": session_id, "previewUrl": preview_url, "status": status})

    def _status(self, session_id: str) -> HttpResponse:
        record = self.sessions.get(session_id)
        if record is None:
            return _nest_error(404, f"Session {session_id} not found", "Not Found")
        if record.get("status") == "initializing":
            with self._lock:
                if not self._starting and self._container.ready():
                    # The container became ready after its task started (e.g. a fault was lifted).
                    record.update(self._mark_active(record["sessionId"], record["userId"]))
        return _ok(
            {
                "status": record.get("status"),
                "containerIp": record.get("containerIp"),
                "lastActivity": record.get("lastActivity"),
                "previewUrl": record.get("previewUrl"),
            }
        )

    def _keepalive(self, session_id: str) -> HttpResponse:
        record = self.sessions.get(session_id)
        if record is None:
            return _nest_error(404, f"Session {session_id} not found", "Not Found")
        now = self._clock()
        ttl = int(now) + SESSION_TTL_S
        self.sessions.update(session_id, record["userId"], ttl=ttl, lastActivity=int(now * 1000))
        return _ok({"ttl": ttl, "status": record.get("status")})

    def _deactivate(self, session_id: str) -> HttpResponse:
        record = self.sessions.get(session_id)
        if record is None:
            return _nest_error(404, f"Session {session_id} not found", "Not Found")
        user_id = record["userId"]
        self.sessions.update(session_id, user_id, status="draining", lastActivity=int(self._clock() * 1000))
        self._publish_live_count()
        self._schedule(self.drain_delay_s, lambda: self._drained(session_id, user_id))
        return _ok({"status": "draining", "message": f"Session {session_id} is being deactivated"})

    def _client_sessions(self, client_id: str) -> HttpResponse:
        records = [r for r in self.sessions.scan() if r.get("clientId") == client_id]
        records.sort(key=lambda r: str(r.get("createdAt", "")))
        return _ok(records)

    # -- the platform's reactions

    def _ensure_edit_task(self, session_id: str, user_id: str) -> str:
        """Start the edit service if it is idle; returns the new session's status. Call under the lock."""
        edit = self._control.resources.edit_service
        _desired, running = self._control.service_counts(edit)
        if running > 0 and not self._starting:
            if self._container.ready():
                self._mark_active(session_id, user_id)
                return "active"
            return "initializing"  # running but not ready: stays initializing, like Hermes's health wait
        if not self._starting:
            self._starting = True
            self._control.set_service_counts(edit, desired=1, running=0, pending=1)
            self._schedule(self.ready_delay_s, self._task_started)
        return "initializing"

    def _task_started(self) -> None:
        with self._lock:
            self._starting = False
            self._control.set_service_counts(self._control.resources.edit_service, desired=1, running=1)
            if not self._container.ready():
                return
            for record in self.sessions.scan():
                if record.get("status") == "initializing":
                    self._mark_active(record["sessionId"], record["userId"])

    def _mark_active(self, session_id: str, user_id: str) -> dict[str, Any]:
        changes = {
            "status": "active",
            "containerIp": self._container.container_ip,
            "lastActivity": int(self._clock() * 1000),
        }
        self.sessions.update(session_id, user_id, **changes)
        return changes

    def _drained(self, session_id: str, user_id: str) -> None:
        """The platform removes a drained session; with none live left, the edit service scales in to 0 at once
        (only a running service costs a table read: a sweep of thousands against an idle service reads nothing)."""
        with self._lock:
            self.sessions.delete(session_id, user_id)
            self._scale_in_if_idle()
        self._reconcile_soon()

    def _scale_in_if_idle(self) -> None:
        if self._starting:
            return
        edit = self._control.resources.edit_service
        desired, running = self._control.service_counts(edit)
        if (desired or running) and not any(r.get("status") in LIVE_STATUSES for r in self.sessions.scan()):
            self._control.set_service_counts(edit, desired=0, running=0, pending=0)

    def _publish_live_count(self) -> None:
        self._reconcile_soon()

    def _reconcile_soon(self) -> None:
        """Publish the live count, coalesced: like the real Hermes, which publishes on a timer, a burst of
        deactivations costs one table read, not one per session (a sweep of thousands)."""
        with self._lock:
            if self._reconcile_pending:
                return
            self._reconcile_pending = True
        self._schedule(RECONCILE_DELAY_S, self._reconcile)

    def _reconcile(self) -> None:
        with self._lock:
            self._reconcile_pending = False
            self._publish(sum(1 for r in self.sessions.scan() if r.get("status") in LIVE_STATUSES))

    def _publish(self, count: int) -> None:
        """Hermes publishes ActiveSessionCount (Environment=production); the AWS side stores it in moto."""
        if self._publish_active_sessions is not None:
            self._publish_active_sessions(count)

    def _schedule(self, delay_s: float, action: Callable[[], None]) -> None:
        generation = self._generation

        def run() -> None:
            with self._lock:
                self._timers.discard(timer)
                if generation != self._generation or self._closed.is_set():
                    return
            try:
                action()
            except Exception:
                log.exception("hermes simulator: scheduled platform action failed")

        timer = threading.Timer(delay_s, run)
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    # -- lifecycle

    def reset(self) -> None:
        """Forget pending platform actions (the AWS side resets the records and counts itself)."""
        with self._lock:
            self._generation += 1
            self._starting = False
            self._reconcile_pending = False
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
        self.sessions.reconnect()

    def close(self) -> None:
        self._closed.set()
        self.reset()

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {"edit_task_pending": self._starting, "pending_platform_actions": len(self._timers)}


def _non_empty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())
