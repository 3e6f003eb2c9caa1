"""The sandbox's HTTP side over real HTTP and WebSocket on loopback: ALB routing, Hermes, edit container, faults."""

from __future__ import annotations

import fnmatch
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, cast

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from sandbox.control import SeededResources
from sandbox.faults import Faults, UnknownFault
from sandbox.runtime import HttpSide, faults_from_env

for _k, _v in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_REGION": "us-west-2",
    "AWS_DEFAULT_REGION": "us-west-2",
}.items():
    os.environ.setdefault(_k, _v)

READY_DELAY_S = 0.2
HERMES_SERVICE = "webordinary-hermes-service"
EDIT_SERVICE = "webordinary-edit-service"


class FakeControl:
    """In-memory ECS counts, target health and listener rules; DynamoDB is a real table on moto's server."""

    RULES = [
        (5, "/hermes/*", "hermes-api-tg"),
        (10, "/api/*", "edit-api-tg"),
        (15, "/session/*", "edit-astro-tg"),
        (20, "/preview/*", "edit-astro-tg"),
        (20, "/_astro/*", "edit-astro-tg"),
        (30, "/ws/*", "edit-ws-tg"),
    ]

    def __init__(self, endpoint_url: str, table: str) -> None:
        self._endpoint_url = endpoint_url
        self.resources = SeededResources(
            region="us-west-2",
            account_id="123456789012",
            cluster="webordinary-edit-cluster",
            hermes_service=HERMES_SERVICE,
            edit_service=EDIT_SERVICE,
            sessions_table=table,
            load_balancer_arn="arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/x/1",
            listener_arn="arn:aws:elasticloadbalancing:us-west-2:123456789012:listener/app/x/1/2",
            target_groups={
                tg: f"arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/{tg}/1"
                for tg in ("hermes-api-tg", "edit-api-tg", "edit-astro-tg", "edit-ws-tg")
            },
            efs_id="fs-0ab7a5e03c0dc5bfd",
        )
        self.counts = {HERMES_SERVICE: (1, 1), EDIT_SERVICE: (0, 0)}
        self.rules = list(self.RULES)
        self.unhealthy: set[str] = set()
        self.history: list[tuple[str, int, int, int]] = []
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        return boto3.client(cast(Any, service), endpoint_url=self._endpoint_url, region_name="us-west-2")

    def set_service_counts(self, service: str, *, desired: int, running: int, pending: int = 0) -> None:
        with self._lock:
            self.counts[service] = (desired, running)
            self.history.append((service, desired, running, pending))

    def service_counts(self, service: str) -> tuple[int, int]:
        with self._lock:
            return self.counts[service]

    def healthy_target_count(self, target_group_name: str) -> int:
        if target_group_name in self.unhealthy:
            return 0
        service = HERMES_SERVICE if target_group_name == "hermes-api-tg" else EDIT_SERVICE
        return self.service_counts(service)[1]

    def route_for_path(self, path: str) -> str | None:
        for _priority, pattern, tg in sorted(self.rules):
            if fnmatch.fnmatchcase(path, pattern):
                return tg
        return None


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


class Platform:
    """What a test drives: the base URL, the control seam, the faults and a DynamoDB client."""

    def __init__(self, http: HttpSide, control: FakeControl) -> None:
        self.http = http
        self.control = control
        self.faults = http.faults
        self.base_url = http.base_url
        self.ddb = control.client("dynamodb")
        self.table = control.resources.sessions_table

    def url(self, path: str) -> str:
        return self.base_url + path

    def query_session(self, session_id: str) -> list[dict[str, Any]]:
        resp = self.ddb.query(
            TableName=self.table,
            KeyConditionExpression="sessionId = :s",
            ExpressionAttributeValues={":s": {"S": session_id}},
        )
        return list(resp["Items"])

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
def platform(moto_endpoint: str) -> Iterator[Platform]:
    table = f"sessions-{uuid.uuid4().hex[:8]}"
    ddb = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-west-2")
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "sessionId", "KeyType": "HASH"}, {"AttributeName": "userId", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "sessionId", "AttributeType": "S"},
            {"AttributeName": "userId", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    control = FakeControl(moto_endpoint, table)
    http = HttpSide(control, Faults(), ready_delay_s=READY_DELAY_S)
    http.start()
    try:
        yield Platform(http, control)
    finally:
        http.stop()
        ddb.delete_table(TableName=table)


def wait_for(predicate: Callable[[], Any], timeout_s: float = 5.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until truthy (bounded); returns its value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.05)


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


def test_a_removed_listener_rule_falls_through_to_the_default_action(platform: Platform) -> None:
    platform.control.set_service_counts(EDIT_SERVICE, desired=1, running=1)
    assert requests.get(platform.url("/api/health"), timeout=5).json() == {"status": "healthy"}
    platform.control.rules = [r for r in platform.control.rules if r[1] != "/api/*"]
    resp = requests.get(platform.url("/api/health"), timeout=5)
    assert (resp.status_code, resp.text) == (200, "healthy")


def test_healthy_target_without_a_listening_app_is_502(platform: Platform) -> None:
    # GIVEN a rule to a target group the sandbox mounts nothing behind, with healthy targets
    platform.control.rules.append((1, "/orphan/*", "orphan-tg"))
    platform.control.set_service_counts(EDIT_SERVICE, desired=1, running=1)
    resp = requests.get(platform.url("/orphan/x"), timeout=5)
    assert resp.status_code == 502
    assert "<h1>502 Bad Gateway</h1>" in resp.text


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
    assert platform.ddb.scan(TableName=platform.table)["Count"] == 0
    assert platform.edit_counts() == (0, 0)


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
    assert (EDIT_SERVICE, 1, 0, 1) in platform.control.history
    assert requests.get(platform.url("/api/health"), timeout=5).status_code == 503  # still starting

    # AND after the ready delay the container serves and the session is active
    status = wait_active(platform, sid)
    assert status["containerIp"]
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
    ws_url = platform.base_url.replace("http://", "ws://") + f"/ws/hmr?sessionId={sid}"
    with connect(ws_url, subprotocols=["vite-hmr"], open_timeout=5, close_timeout=5) as ws:  # type: ignore[list-item]
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


def test_sessions_activated_while_the_task_is_pending_all_become_active(platform: Platform) -> None:
    a = platform.activate(user="TEST_a")
    b = platform.activate(user="TEST_b")
    assert b["status"] == "initializing"
    assert [h for h in platform.control.history if h[0] == EDIT_SERVICE] == [(EDIT_SERVICE, 1, 0, 1)]
    wait_active(platform, a["sessionId"])
    wait_active(platform, b["sessionId"])


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
    assert platform.ddb.scan(TableName=platform.table)["Count"] == 0


def test_hermes_slow_delays_every_hermes_response_by_the_parameter(platform: Platform) -> None:
    platform.faults.enable("hermes_slow", delay_ms="300")
    started = time.monotonic()
    assert requests.get(platform.url("/hermes/health"), timeout=5).status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert requests.get(platform.url("/hermes/api/sessions/session-x/status"), timeout=5).status_code == 404
    assert time.monotonic() - started >= 0.3
    # the ALB's own answers are not slowed
    started = time.monotonic()
    requests.get(platform.url("/"), timeout=5)
    assert time.monotonic() - started < 0.3


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
    platform.control.unhealthy.add("hermes-api-tg")
    resp = requests.get(platform.url("/hermes/health"), timeout=5)
    assert resp.status_code == 503
    assert "503 Service Temporarily Unavailable" in resp.text


def test_container_never_ready(platform: Platform) -> None:
    platform.faults.enable("container_never_ready")
    sid = platform.activate()["sessionId"]
    wait_for(lambda: platform.edit_counts() == (1, 1), what="task running")
    time.sleep(READY_DELAY_S)
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
    assert platform.ddb.scan(TableName=platform.table)["Count"] == 0


def test_ws_refused(platform: Platform) -> None:
    platform.control.set_service_counts(EDIT_SERVICE, desired=1, running=1)
    platform.faults.enable("ws_refused")
    ws_url = platform.base_url.replace("http://", "ws://") + "/ws/hmr?sessionId=s"
    with pytest.raises(InvalidStatus) as info:
        connect(ws_url, open_timeout=5)
    assert info.value.response.status_code == 403


def test_stopping_closes_open_websockets_with_going_away(moto_endpoint: str) -> None:
    control = FakeControl(moto_endpoint, "unused-table")
    control.set_service_counts(EDIT_SERVICE, desired=1, running=1)
    http = HttpSide(control, Faults())
    http.start()
    ws = connect(http.base_url.replace("http://", "ws://") + "/ws/hmr", open_timeout=5, close_timeout=5)
    try:
        assert json.loads(ws.recv(timeout=5)) == {"type": "connected"}
        wait_for(lambda: len(http.alb.open_websockets()) == 1, what="registered")
        http.stop()
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert ws.close_code == 1001
    finally:
        ws.close()
        http.stop()


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
