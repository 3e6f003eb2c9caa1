"""The sandbox's HTTP side over real HTTP and WebSocket on loopback: ALB routing, Hermes, edit container, faults."""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from sandbox.control import SeededResources
from sandbox.faults import Faults, UnknownFault
from sandbox.platform_layout import PLATFORM_SESSION
from sandbox.runtime import HttpSide, Sandbox, faults_from_env
from sandbox.tls import sandbox_pki

HERMES_SERVICE = "webordinary-hermes-service"
EDIT_SERVICE = "webordinary-edit-service"


class FakeControl:
    """In-memory counts, target health and rules, for the tests that need no AWS at all."""

    def __init__(self) -> None:
        self.resources = SeededResources(
            region="us-west-2",
            account_id="123456789012",
            cluster="webordinary-edit-cluster",
            hermes_service=HERMES_SERVICE,
            edit_service=EDIT_SERVICE,
            sessions_table="unused",
            load_balancer_arn="arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/x/1",
            listener_arn="arn:aws:elasticloadbalancing:us-west-2:123456789012:listener/app/x/1/2",
            target_groups={tg: f"arn:tg/{tg}" for tg in ("hermes-api-tg", "edit-api-tg", "edit-ws-tg")},
            efs_id="fs-0ab7a5e03c0dc5bfd",
        )
        self.counts = {HERMES_SERVICE: (1, 1), EDIT_SERVICE: (1, 1)}
        self.rules = [("/ws/*", "edit-ws-tg"), ("/orphan/*", "orphan-tg")]

    def client(self, service: str) -> Any:
        raise AssertionError(f"no AWS in this test (asked for {service})")

    def set_service_counts(self, service: str, *, desired: int, running: int, pending: int = 0) -> None:
        self.counts[service] = (desired, running)

    def service_counts(self, service: str) -> tuple[int, int]:
        return self.counts[service]

    def healthy_target_count(self, target_group_name: str) -> int:
        return 1

    def route_for_path(self, path: str) -> str | None:
        return next((tg for pattern, tg in self.rules if fnmatch.fnmatchcase(path, pattern)), None)


@pytest.fixture(autouse=True)
def _trust_the_sandbox_ca(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are the ALB's HTTPS clients: trust its CA the standard way (requests reads the variable)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sandbox_pki().ca_bundle)


def client_tls() -> ssl.SSLContext:
    """A verifying TLS client context that trusts the sandbox CA (for WebSockets and raw sockets)."""
    return ssl.create_default_context(cafile=sandbox_pki().ca_bundle)


def wss(base_url: str) -> str:
    return base_url.replace("https://", "wss://")


class Platform:
    """What a test drives: the base URL, the control seam, the faults and a DynamoDB client."""

    def __init__(self, sb: Sandbox) -> None:
        self.sandbox = sb
        self.control = sb.control
        self.faults = sb.faults
        self.base_url = sb.base_url
        self.ddb = sb.control.client("dynamodb")
        self.table = sb.resources.sessions_table

    def url(self, path: str) -> str:
        return self.base_url + path

    def query_session(self, session_id: str) -> list[dict[str, Any]]:
        resp = self.ddb.query(
            TableName=self.table,
            KeyConditionExpression="sessionId = :s",
            ExpressionAttributeValues={":s": {"S": session_id}},
        )
        return list(resp["Items"])

    def test_items(self) -> list[dict[str, Any]]:
        """Items other than the platform's own seeded session."""
        items = self.ddb.scan(TableName=self.table)["Items"]
        return [i for i in items if i["sessionId"]["S"] != PLATFORM_SESSION["sessionId"]]

    def edit_counts(self) -> tuple[int, int]:
        return self.control.service_counts(EDIT_SERVICE)

    def activate(self, user: str = "TEST_user-1", client: str = "integration-test-client") -> dict[str, Any]:
        resp = requests.post(
            self.url("/hermes/api/sessions/activate"),
            json={"clientId": client, "userId": user, "instruction": "canary probe"},
            timeout=5,
        )
        assert resp.status_code == 200, resp.text
        return dict(resp.json())


@pytest.fixture
def platform(sandbox: Sandbox) -> Platform:
    """The test-wide sandbox (tests/conftest.py: one per worker, reset around each test)."""
    return Platform(sandbox)


def wait_for(predicate: Callable[[], Any], timeout_s: float = 15.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until truthy (bounded); returns its value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.05)


def edit_service(p: Platform) -> dict[str, Any]:
    ecs = p.control.client("ecs")
    [svc] = ecs.describe_services(cluster=p.sandbox.resources.cluster, services=[EDIT_SERVICE])["services"]
    return dict(svc)


def status_of(p: Platform, session_id: str) -> dict[str, Any]:
    resp = requests.get(p.url(f"/hermes/api/sessions/{session_id}/status"), timeout=5)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def wait_active(p: Platform, session_id: str) -> dict[str, Any]:
    return dict(wait_for(lambda: (s := status_of(p, session_id))["status"] == "active" and s, what="active session"))


# --------------------------------------------------------------------------------------------------------
# The ALB's own answers


@pytest.mark.parametrize("path", ["/", "/nothing/here", "/hermes", "/apis"])
def test_unrouted_paths_get_the_fixed_healthy_default_action(platform: Platform, path: str) -> None:
    resp = requests.get(platform.url(path), timeout=5)
    assert (resp.status_code, resp.text) == (200, "healthy")
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert resp.headers["Server"] == "awselb/2.0"


@pytest.mark.parametrize("path", ["/api/health", "/session/session-x", "/_astro/index.css", "/ws/hmr"])
def test_idle_edit_service_routes_answer_alb_503(platform: Platform, path: str) -> None:
    # GIVEN the edit service at 0 (the platform's normal idle state)
    resp = requests.get(platform.url(path), timeout=5)
    assert resp.status_code == 503
    assert "<h1>503 Service Temporarily Unavailable</h1>" in resp.text
    assert resp.headers["Server"] == "awselb/2.0"


def test_a_listener_rule_deleted_in_moto_falls_through_to_the_default_action(platform: Platform) -> None:
    platform.control.set_service_counts(EDIT_SERVICE, desired=1, running=1)
    assert requests.get(platform.url("/api/health"), timeout=5).json() == {"status": "healthy"}
    # WHEN the /api/* rule is deleted through the ELBv2 API
    elbv2 = platform.control.client("elbv2")
    rules = elbv2.describe_rules(ListenerArn=platform.sandbox.resources.listener_arn)["Rules"]
    [api_rule] = [r for r in rules if any("/api/*" in c.get("Values", []) or "/api/*" in
                                         c.get("PathPatternConfig", {}).get("Values", []) for c in r["Conditions"])]
    elbv2.delete_rule(RuleArn=api_rule["RuleArn"])
    # THEN the ALB answers from its default action
    resp = requests.get(platform.url("/api/health"), timeout=5)
    assert (resp.status_code, resp.text) == (200, "healthy")


def test_route_missing_fault_removes_the_api_route(platform: Platform) -> None:
    platform.control.set_service_counts(EDIT_SERVICE, desired=1, running=1)
    platform.faults.enable("route_missing")
    resp = requests.get(platform.url("/api/health"), timeout=5)
    assert (resp.status_code, resp.text) == (200, "healthy")


def test_healthy_target_without_a_listening_app_is_502() -> None:
    # GIVEN a rule to a target group with healthy targets but no application mounted behind it
    http = HttpSide(FakeControl(), Faults())
    http.start()
    try:
        resp = requests.get(http.base_url + "/orphan/x", timeout=5)
        assert resp.status_code == 502
        assert "<h1>502 Bad Gateway</h1>" in resp.text
    finally:
        http.stop()


def test_paths_reach_the_target_unstripped(platform: Platform) -> None:
    resp = requests.get(platform.url("/hermes/api/nope"), timeout=5)
    assert resp.status_code == 404
    assert resp.json()["message"] == "Cannot GET /hermes/api/nope"


def test_keep_alive_connection_serves_many_requests(platform: Platform) -> None:
    with requests.Session() as s:
        statuses = [s.get(platform.url("/hermes/health"), timeout=5).status_code for _ in range(20)]
    assert statuses == [200] * 20


# --------------------------------------------------------------------------------------------------------
# Hermes


def test_hermes_health(platform: Platform) -> None:
    resp = requests.get(platform.url("/hermes/health"), timeout=5)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert body["status"] == "healthy"
    assert time.strptime(body["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.mark.parametrize(
    "body",
    [
        {"userId": "TEST_u", "instruction": "x"},
        {"clientId": "c", "instruction": "x"},
        {"clientId": "c", "userId": "TEST_u"},
        {"clientId": "", "userId": "TEST_u", "instruction": "x"},
        {"clientId": "c", "userId": "TEST_u", "instruction": "   "},
        [],
    ],
)
def test_activate_rejects_missing_fields_and_writes_nothing(platform: Platform, body: Any) -> None:
    resp = requests.post(platform.url("/hermes/api/sessions/activate"), json=body, timeout=5)
    assert resp.status_code == 400
    assert resp.json()["statusCode"] == 400
    assert platform.test_items() == []
    assert platform.edit_counts() == (0, 0)


@pytest.fixture
def slow_start(platform: Platform) -> Iterator[None]:
    """A ready delay long enough to observe the PENDING task even on a loaded machine."""
    hermes = platform.sandbox.http.hermes
    previous, hermes.ready_delay_s = hermes.ready_delay_s, 3.0
    yield
    hermes.ready_delay_s = previous


@pytest.mark.usefixtures("slow_start")
def test_cold_session_lifecycle_end_to_end(platform: Platform) -> None:
    before_ms = int(time.time() * 1000)
    # WHEN a session is activated on an idle platform
    created = platform.activate()
    sid = created["sessionId"]
    assert sid.startswith("session-")
    assert created == {"sessionId": sid, "previewUrl": f"{platform.base_url}/session/{sid}", "status": "initializing"}

    # THEN the record is in DynamoDB under the real key with Hermes's attributes, and the edit task is pending
    [item] = platform.query_session(sid)
    assert item["userId"] == {"S": "TEST_user-1"}
    assert item["clientId"] == {"S": "integration-test-client"}
    assert item["status"] == {"S": "initializing"}
    assert item["editBranch"] == {"S": "thread-" + item["threadId"]["S"]}
    assert abs(int(item["ttl"]["N"]) - (time.time() + 1800)) < 5
    assert before_ms <= int(item["lastActivity"]["N"]) <= int(time.time() * 1000)
    assert time.strptime(item["createdAt"]["S"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert item["previewUrl"] == {"S": created["previewUrl"]}
    assert platform.edit_counts() == (1, 0)
    assert edit_service(platform)["pendingCount"] == 1
    assert requests.get(platform.url("/api/health"), timeout=5).status_code == 503  # still starting

    # AND after the ready delay the container serves and the session is active
    status = wait_active(platform, sid)
    assert status["containerIp"] == platform.control.task_ips(EDIT_SERVICE)[0]
    assert status["previewUrl"] == created["previewUrl"]
    assert platform.edit_counts() == (1, 1)
    api = requests.get(platform.url("/api/health"), timeout=5)
    assert (api.status_code, api.json()) == (200, {"status": "healthy"})
    page = requests.get(created["previewUrl"], timeout=5)
    assert page.status_code == 200
    assert sid in page.text
    assert '<script type="module" src="/@vite/client">' in page.text
    assert requests.get(platform.url("/session/session-unknown"), timeout=5).status_code == 404

    # AND the HMR WebSocket greets, answers pings, and closes cleanly
    ws_url = wss(platform.base_url) + f"/ws/hmr?sessionId={sid}"
    with connect(ws_url, ssl=client_tls(), subprotocols=["vite-hmr"], open_timeout=5, close_timeout=5) as ws:  # type: ignore[list-item]
        assert json.loads(ws.recv(timeout=5)) == {"type": "connected"}
        assert ws.subprotocol == "vite-hmr"
        assert ws.ping().wait(timeout=5)  # protocol-level ping answered
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=5)) == {"type": "pong"}
    assert ws.close_code == 1000

    # AND keepalive extends the ttl, the client listing shows it
    old_ttl = int(platform.query_session(sid)[0]["ttl"]["N"])
    time.sleep(1.01)
    keep = requests.post(platform.url(f"/hermes/api/sessions/{sid}/keepalive"), timeout=5).json()
    assert keep["status"] == "active" and keep["ttl"] > old_ttl
    assert int(platform.query_session(sid)[0]["ttl"]["N"]) == keep["ttl"]
    listing = requests.get(platform.url("/hermes/api/sessions/client/integration-test-client"), timeout=5).json()
    assert [s["sessionId"] for s in listing] == [sid]

    # WHEN it is deactivated THEN it drains, disappears, and the edit service scales in to 0
    resp = requests.post(platform.url(f"/hermes/api/sessions/{sid}/deactivate"), timeout=5)
    assert resp.status_code == 200
    assert resp.json()["status"] == "draining"
    assert resp.json()["message"]
    assert platform.query_session(sid)[0]["status"] == {"S": "draining"}
    wait_for(lambda: platform.query_session(sid) == [], what="record removed")
    wait_for(lambda: platform.edit_counts() == (0, 0), what="idle scale-in")
    assert requests.get(platform.url("/api/health"), timeout=5).status_code == 503
    assert requests.get(platform.url(f"/hermes/api/sessions/{sid}/status"), timeout=5).status_code == 404


def test_warm_activation_is_active_at_once_and_scale_in_waits_for_the_last_session(platform: Platform) -> None:
    first = platform.activate(user="TEST_a")
    wait_active(platform, first["sessionId"])
    # WHEN a second session arrives while the edit task runs
    second = platform.activate(user="TEST_b")
    assert second["status"] == "active"
    assert platform.query_session(second["sessionId"])[0]["status"] == {"S": "active"}
    # WHEN the first is deactivated THEN the service keeps running for the second
    requests.post(platform.url(f"/hermes/api/sessions/{first['sessionId']}/deactivate"), timeout=5)
    wait_for(lambda: platform.query_session(first["sessionId"]) == [], what="first removed")
    assert platform.edit_counts() == (1, 1)
    requests.post(platform.url(f"/hermes/api/sessions/{second['sessionId']}/deactivate"), timeout=5)
    wait_for(lambda: platform.edit_counts() == (0, 0), what="idle scale-in")


@pytest.mark.usefixtures("slow_start")
def test_sessions_activated_while_the_task_is_pending_all_become_active(platform: Platform) -> None:
    a = platform.activate(user="TEST_a")
    b = platform.activate(user="TEST_b")
    assert b["status"] == "initializing"
    svc = edit_service(platform)
    assert (svc["desiredCount"], svc["runningCount"], svc["pendingCount"]) == (1, 0, 1)
    wait_active(platform, a["sessionId"])
    wait_active(platform, b["sessionId"])
    assert len(platform.control.task_ips(EDIT_SERVICE)) == 1  # one task serves both
    assert status_of(platform, a["sessionId"])["containerIp"] == platform.control.task_ips(EDIT_SERVICE)[0]


@pytest.mark.parametrize(
    ("method", "suffix"), [("GET", "status"), ("POST", "keepalive"), ("POST", "deactivate")]
)
def test_unknown_session_is_404(platform: Platform, method: str, suffix: str) -> None:
    resp = requests.request(method, platform.url(f"/hermes/api/sessions/session-nope/{suffix}"), timeout=5)
    assert resp.status_code == 404
    assert resp.json()["statusCode"] == 404


def test_hmr_without_upgrade_is_426(platform: Platform) -> None:
    platform.control.set_service_counts(EDIT_SERVICE, desired=1, running=1)
    assert requests.get(platform.url("/ws/hmr"), timeout=5).status_code == 426


# --------------------------------------------------------------------------------------------------------
# Faults


def test_hermes_5xx(platform: Platform) -> None:
    platform.faults.enable("hermes_5xx")
    for resp in (
        requests.get(platform.url("/hermes/health"), timeout=5),
        requests.post(
            platform.url("/hermes/api/sessions/activate"),
            json={"clientId": "c", "userId": "TEST_u", "instruction": "i"},
            timeout=5,
        ),
    ):
        assert resp.status_code == 500
        assert resp.json()["statusCode"] == 500
    assert platform.test_items() == []


def test_hermes_slow_delays_every_hermes_response_by_the_parameter(platform: Platform) -> None:
    platform.faults.enable("hermes_slow", delay_ms="300")
    started = time.monotonic()
    assert requests.get(platform.url("/hermes/health"), timeout=5).status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert requests.get(platform.url("/hermes/api/sessions/session-x/status"), timeout=5).status_code == 404
    assert time.monotonic() - started >= 0.3



def test_hermes_slow_leaves_other_routes_alone(platform: Platform) -> None:
    platform.faults.enable("hermes_slow", delay_ms="3000")
    done: list[str] = []

    def hermes_call() -> None:
        requests.get(platform.url("/hermes/health"), timeout=10)
        done.append("hermes")

    slow = threading.Thread(target=hermes_call)
    slow.start()
    # WHILE a Hermes response is held back, the ALB's own answer and the edit routes come straight through
    assert requests.get(platform.url("/"), timeout=5).text == "healthy"
    assert requests.get(platform.url("/api/health"), timeout=5).status_code == 503
    done.append("others")
    slow.join(timeout=15)
    assert done == ["others", "hermes"]


def test_hermes_slow_with_a_bad_parameter_fails_loudly(platform: Platform) -> None:
    platform.faults.enable("hermes_slow", delay_ms="soon")
    resp = requests.get(platform.url("/hermes/health"), timeout=5)
    assert resp.status_code == 500
    assert "delay_ms" in resp.json()["message"]


def test_hermes_malformed_json(platform: Platform) -> None:
    platform.faults.enable("hermes_malformed_json")
    resp = requests.get(platform.url("/hermes/health"), timeout=5)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/json")
    assert resp.text == '{"status": "heal'
    with pytest.raises(ValueError):
        resp.json()


def test_hermes_without_healthy_targets_is_503(platform: Platform) -> None:
    # hermes_down is applied by the AWS side (targets unhealthy); the router turns that into 503
    platform.faults.enable("hermes_down")
    assert platform.control.healthy_target_count("hermes-api-tg") == 0
    resp = requests.get(platform.url("/hermes/health"), timeout=5)
    assert resp.status_code == 503
    assert "503 Service Temporarily Unavailable" in resp.text


def test_container_never_ready(platform: Platform) -> None:
    platform.faults.enable("container_never_ready")
    sid = platform.activate()["sessionId"]
    wait_for(lambda: platform.edit_counts() == (1, 1), what="task running")
    time.sleep(platform.sandbox.ready_delay_s)
    api = requests.get(platform.url("/api/health"), timeout=5)
    assert api.status_code == 503
    assert api.headers["Content-Type"].startswith("application/json")  # from the container, not the ALB
    preview = requests.get(platform.url(f"/session/{sid}"), timeout=5)
    assert preview.status_code == 502
    assert "502 Bad Gateway" in preview.text
    assert status_of(platform, sid)["status"] == "initializing"
    # WHEN the fault is lifted THEN the container serves and the session becomes active
    platform.faults.disable("container_never_ready")
    assert wait_active(platform, sid)["containerIp"]
    assert requests.get(platform.url(f"/session/{sid}"), timeout=5).status_code == 200


def test_session_not_persisted(platform: Platform) -> None:
    platform.faults.enable("session_not_persisted")
    created = platform.activate()
    assert created["sessionId"].startswith("session-")
    assert platform.query_session(created["sessionId"]) == []
    assert platform.edit_counts() == (0, 0)


def test_activate_app_error(platform: Platform) -> None:
    platform.faults.enable("activate_app_error")
    resp = requests.post(
        platform.url("/hermes/api/sessions/activate"),
        json={"clientId": "c", "userId": "TEST_u", "instruction": "i"},
        timeout=5,
    )
    assert resp.status_code == 500
    assert resp.json()["message"] == "Tasks cannot be empty"
    assert platform.test_items() == []


def test_ws_refused(platform: Platform) -> None:
    platform.control.set_service_counts(EDIT_SERVICE, desired=1, running=1)
    platform.faults.enable("ws_refused")
    ws_url = wss(platform.base_url) + "/ws/hmr?sessionId=s"
    with pytest.raises(InvalidStatus) as info:
        connect(ws_url, ssl=client_tls(), open_timeout=5)
    assert info.value.response.status_code == 403


def test_stopping_closes_open_websockets_with_going_away() -> None:
    http = HttpSide(FakeControl(), Faults())
    http.start()
    try:
        with connect(wss(http.base_url) + "/ws/hmr", ssl=client_tls(), open_timeout=5, close_timeout=5) as ws:
            assert json.loads(ws.recv(timeout=5)) == {"type": "connected"}
            wait_for(lambda: len(http.alb.open_websockets()) == 1, what="registered")
            http.stop()
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=5)
            assert ws.close_code == 1001
    finally:
        http.stop()


def test_idle_websocket_is_closed_after_the_alb_idle_timeout() -> None:
    http = HttpSide(FakeControl(), Faults())
    http.alb.idle_timeout_s = 0.3
    http.start()
    try:
        with connect(wss(http.base_url) + "/ws/hmr", ssl=client_tls(), open_timeout=5) as ws:
            assert json.loads(ws.recv(timeout=5)) == {"type": "connected"}
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=5)
            assert ws.close_code == 1001
    finally:
        http.stop()


def test_a_malformed_upgrade_is_rejected_by_the_websocket_handshake() -> None:
    http = HttpSide(FakeControl(), Faults())
    http.start()
    try:
        # no Sec-WebSocket-Key / Version: websockets' handshake answers 400
        resp = requests.get(
            http.base_url + "/ws/hmr", headers={"Upgrade": "websocket", "Connection": "Upgrade"}, timeout=5
        )
        assert resp.status_code == 400
    finally:
        http.stop()


class BrokenControl(FakeControl):
    def route_for_path(self, path: str) -> str | None:
        raise ConnectionError("moto is gone")


def test_a_broken_sandbox_answers_a_named_500_not_a_dropped_connection() -> None:
    http = HttpSide(BrokenControl(), Faults())
    http.start()
    try:
        resp = requests.get(http.base_url + "/hermes/health", timeout=5)
        assert resp.status_code == 500
        assert resp.headers["X-Sandbox-Error"] == "ConnectionError"
    finally:
        http.stop()


def test_stop_ends_idle_keep_alive_connections_at_once() -> None:
    http = HttpSide(FakeControl(), Faults())
    http.start()
    host, port = http.base_url.removeprefix("https://").split(":")
    with client_tls().wrap_socket(socket.create_connection((host, int(port)), timeout=5), server_hostname=host) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        http.stop()
        started = time.monotonic()
        assert sock.recv(4096) == b""  # EOF, not a 65 s wait for the keep-alive timeout
        assert time.monotonic() - started < 2


# --------------------------------------------------------------------------------------------------------
# Admin endpoints


def test_admin_faults_roundtrip(platform: Platform) -> None:
    url = platform.url("/__sandbox/faults")
    listing = requests.get(url, timeout=5).json()
    assert listing["active"] == {}
    assert "hermes_down" in listing["known"]
    resp = requests.post(url, json={"enable": "hermes_slow", "params": {"delay_ms": 10}}, timeout=5)
    assert resp.status_code == 200
    assert resp.json()["active"] == {"hermes_slow": {"delay_ms": "10"}}
    assert platform.faults.param("hermes_slow", "delay_ms", "") == "10"
    requests.post(url, json={"enable": "hermes_5xx"}, timeout=5)
    assert requests.get(platform.url("/hermes/health"), timeout=5).status_code == 500
    requests.post(url, json={"disable": "hermes_5xx"}, timeout=5)
    assert requests.get(url, timeout=5).json()["active"] == {"hermes_slow": {"delay_ms": "10"}}
    requests.post(url, json={"clear": True}, timeout=5)
    assert platform.faults.snapshot() == {}


@pytest.mark.parametrize(
    "body", [{"enable": "hermes_typo"}, {"disable": "nope"}, {"something": 1}, {"enable": "hermes_5xx", "params": 3}]
)
def test_admin_rejects_bad_requests(platform: Platform, body: dict[str, Any]) -> None:
    resp = requests.post(platform.url("/__sandbox/faults"), json=body, timeout=5)
    assert resp.status_code == 400
    assert platform.faults.snapshot() == {}


def test_admin_state(platform: Platform) -> None:
    platform.faults.enable("hermes_5xx")
    state = requests.get(platform.url("/__sandbox/state"), timeout=5).json()
    assert state["faults"] == {"hermes_5xx": {}}
    assert state["services"][EDIT_SERVICE] == {"desired": 0, "running": 0}
    assert state["services"][HERMES_SERVICE] == {"desired": 1, "running": 1}
    assert state["healthy_targets"]["hermes-api-tg"] == 1
    assert state["edit_container"]["running"] is False


# --------------------------------------------------------------------------------------------------------
# Boot-time faults


def test_faults_from_env() -> None:
    faults = faults_from_env({"SANDBOX_FAULTS": "hermes_5xx, hermes_slow:delay_ms=800"})
    assert faults.snapshot() == {"hermes_5xx": {}, "hermes_slow": {"delay_ms": "800"}}
    assert faults_from_env({}).snapshot() == {}
    with pytest.raises(UnknownFault):
        faults_from_env({"SANDBOX_FAULTS": "hermes_typo"})


# --------------------------------------------------------------------------------------------------------
# The composed Sandbox


def test_environment_points_a_canary_at_the_sandbox(sandbox: Sandbox) -> None:
    env = sandbox.environment()
    res = sandbox.resources
    assert env["WEBORDINARY_BASE_URL"] == sandbox.base_url
    assert env["AWS_ENDPOINT_URL"] == sandbox.aws_endpoint_url != sandbox.aws.direct_url
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-west-2"
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("testing", "testing")
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    assert env["CANARY_ENVIRONMENT"] == "sandbox"
    assert env["CANARY_PROFILE"] == "session-platform"
    assert (env["ECS_CLUSTER"], env["HERMES_SERVICE"], env["EDIT_SERVICE"], env["SESSIONS_TABLE"]) == (
        "webordinary-edit-cluster",
        HERMES_SERVICE,
        EDIT_SERVICE,
        "webordinary-edit-sessions",
    )
    assert env["TARGET_GROUP_ARNS"].split(",") == list(res.target_groups.values())
    assert env["LOAD_BALANCER_ARN"] == res.load_balancer_arn
    assert env["EFS_FILE_SYSTEM_ID"] == res.efs_id
    # and the endpoint really answers, with the seeded platform behind it
    ecs = boto3.client(
        "ecs",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    [svc] = ecs.describe_services(cluster=env["ECS_CLUSTER"], services=[env["HERMES_SERVICE"]])["services"]
    assert svc["runningCount"] == 1


def test_reset_returns_to_the_healthy_seed(platform: Platform) -> None:
    platform.activate()
    platform.faults.enable("hermes_5xx")
    wait_for(lambda: platform.edit_counts() == (1, 1), what="task running")
    platform.sandbox.reset()
    assert platform.faults.snapshot() == {}
    assert platform.test_items() == []
    assert platform.edit_counts() == (0, 0)
    assert requests.get(platform.url("/hermes/health"), timeout=5).status_code == 200


def test_admin_reset_endpoint(platform: Platform) -> None:
    platform.faults.enable("hermes_5xx")
    resp = requests.post(platform.url("/__sandbox/reset"), timeout=5)
    assert resp.status_code == 200
    assert resp.json()["active"] == {}
    assert platform.faults.snapshot() == {}


def test_reset_cancels_a_pending_edit_task(platform: Platform) -> None:
    platform.activate()
    assert platform.edit_counts() == (1, 0)
    platform.sandbox.reset()
    time.sleep(platform.sandbox.ready_delay_s * 2)
    assert platform.edit_counts() == (0, 0)  # the scheduled "task started" did not fire into the fresh seed


def test_hermes_publishes_active_session_count(platform: Platform) -> None:
    cloudwatch = platform.control.client("cloudwatch")

    def latest() -> float | None:
        now = time.time()
        points = cloudwatch.get_metric_statistics(
            Namespace="Webordinary/EditSessions",
            MetricName="ActiveSessionCount",
            Dimensions=[{"Name": "Environment", "Value": "production"}],
            StartTime=now - 600,
            EndTime=now + 60,
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
        return max((p["Maximum"] for p in points), default=None)

    platform.activate(user="TEST_a")
    platform.activate(user="TEST_b")
    # Hermes publishes on a short timer (coalesced, like the real one), not inside the request
    wait_for(lambda: latest() == 2.0, timeout_s=5, what="ActiveSessionCount 2")


def test_canary_side_faults_never_reach_the_platform(platform: Platform) -> None:
    # GIVEN the canary's credentials are "expired" (the proxy answers ExpiredToken to the canary)
    platform.faults.enable("credentials_expired")
    # WHEN Hermes writes a session THEN it does so straight to moto, unaffected
    sid = platform.activate()["sessionId"]
    assert len(platform.query_session(sid)) == 1


def test_an_unknown_profile_is_refused_before_anything_boots() -> None:
    with pytest.raises(ValueError, match="queue-platfrom"):
        Sandbox(Faults(), profile="queue-platfrom")


def _run_module(env_extra: dict[str, str]) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "SANDBOX_FAULTS"}
    env.update(env_extra)
    return subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--ready-delay", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_python_m_sandbox_serves_with_boot_faults_and_stops_on_ctrl_c() -> None:
    proc = _run_module({"SANDBOX_FAULTS": "hermes_5xx"})
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    try:
        assert proc.stdout is not None
        exports: dict[str, str] = {}
        while "WEBORDINARY_BASE_URL" not in exports:
            line = proc.stdout.readline()
            assert line, f"sandbox exited early: {proc.wait()} {proc.stderr.read() if proc.stderr else ''}"
            assert line.startswith("export ")
            key, _, value = line[len("export ") :].strip().partition("=")
            exports[key] = shlex.split(value)[0]
        assert exports["CANARY_ENVIRONMENT"] == "sandbox"
        base, ca = exports["WEBORDINARY_BASE_URL"], exports["CANARY_CA_BUNDLE"]  # the process's own CA
        assert requests.get(base + "/hermes/health", timeout=5, verify=ca).status_code == 500
        assert requests.get(base + "/__sandbox/faults", timeout=5, verify=ca).json()["active"] == {"hermes_5xx": {}}
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert "stopped" in (proc.stderr.read() if proc.stderr else "")
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_python_m_sandbox_rejects_an_unknown_boot_fault() -> None:
    proc = _run_module({"SANDBOX_FAULTS": "hermes_typo"})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 64
    assert "hermes_typo" in err
    assert out == ""
