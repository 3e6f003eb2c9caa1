"""Hostile target responses over real sockets on 127.0.0.1 (issue 7, item 2).

A canary probing production meets every way a server can misbehave: garbage bodies, endless bodies, a
drip that never finishes, redirect loops, bad certificates, resets, refusals, DNS failures, WebSockets that
refuse or stay silent. Each must end in its own reason code, within its time bound, and none may crash a run.
No test leaves loopback: DNS failure is produced by a transport adapter, never by a real resolver.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import ipaddress
import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.sync.server import Request, Response, ServerConnection, serve

from harness.config import CanaryConfig
from harness.core.check import CheckContext, check
from harness.core.deadline import Deadline
from harness.core.errors import CanaryError, CheckFailed, DeadlineExceeded, TransientFailure, Verdict
from harness.core.model import Outcome, Reason
from harness.core.runner import Runner
from harness.net.aws import AwsClients
from harness.net.http import HttpClient
from harness.spec import CheckSpec
from tests.integration.raw_servers import raw_server

LIMIT = 64 * 1024  # max_body_bytes for these tests
DRIP_CAP_S = 6.0  # the drip server gives up after this, so a broken bound fails the test instead of hanging it
TOKEN = "Bearer hermes-secret-7c1f"
GZIP_BOMB = gzip.compress(b"\0" * (16 * 1024 * 1024), compresslevel=9)


# --- a misbehaving HTTP server ---------------------------------------------------------------------------------


@dataclass
class Observed:
    """What the server saw: request headers per path, and how far it got writing the big bodies."""

    headers: dict[str, list[Mapping[str, str]]] = field(default_factory=dict)
    sent_bytes: dict[str, int] = field(default_factory=dict)
    stream_broke: dict[str, bool] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def saw(self, path: str, headers: Mapping[str, str]) -> None:
        with self.lock:
            self.headers.setdefault(path, []).append(dict(headers))

    def received(self, path: str) -> list[Mapping[str, str]]:
        with self.lock:
            return list(self.headers.get(path, []))


class HostileHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    observed: Observed  # set per server class

    def log_message(self, format: str, *args: Any) -> None:  # silence the test output
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              extra: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, path: str, chunk: bytes, pause_s: float, chunked: bool) -> None:
        """Write ``chunk`` forever (until the client goes away, the test ends or the cap is hit)."""
        sent, broke = 0, False
        started = time.monotonic()
        try:
            while not self.observed.stop.is_set() and time.monotonic() - started < DRIP_CAP_S:
                if chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                else:
                    self.wfile.write(chunk)
                self.wfile.flush()
                sent += len(chunk)
                if pause_s:
                    time.sleep(pause_s)
        except OSError:
            broke = True
        finally:
            with self.observed.lock:
                self.observed.sent_bytes[path] = sent
                self.observed.stream_broke[path] = broke
        self.close_connection = True

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        self.observed.saw(path, dict(self.headers.items()))
        if path == "/json":
            self._send(200, b'{"status": "ok"}')
        elif path == "/notjson":
            self._send(200, b"<html><body>502 Bad Gateway (but said 200)</body></html>", "text/html")
        elif path == "/truncated":
            self._send(200, b'{"sessionId": "TEST_abc", "status": "act')
        elif path == "/cut":  # promises 1000 bytes, sends 20, hangs up
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"sessionId": "TEST_')
            self.close_connection = True
        elif path in ("/big", "/big-chunked"):
            chunked = path == "/big-chunked"
            self.send_response(200)
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(100 * 1024 * 1024))
            self.end_headers()
            self._stream(path, b"x" * 65536, 0.0, chunked)
        elif path in ("/drip", "/drip-chunked", "/drip-unsized"):
            self.send_response(200)
            if path == "/drip-chunked":
                self.send_header("Transfer-Encoding", "chunked")
            elif path == "/drip":
                self.send_header("Content-Length", "1000000")
            else:
                self.send_header("Connection", "close")
            self.end_headers()
            self._stream(path, b"x", 0.05, path == "/drip-chunked")
        elif path == "/drip-headers":  # a status line, then one header byte at a time
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            self._stream(path, b"a", 0.05, False)
        elif path == "/no-headers":  # accepts, then says nothing at all
            self.observed.stop.wait(DRIP_CAP_S)
            self.close_connection = True
        elif path == "/gzip":
            self._send(200, gzip.compress(b'{"status": "compressed"}'), extra={"Content-Encoding": "gzip"})
        elif path == "/gzip-bomb":  # 16 KiB on the wire, 16 MiB once inflated
            self._send(200, GZIP_BOMB, extra={"Content-Encoding": "gzip"})
        elif path == "/loop":
            self._send(302, b"", extra={"Location": "/loop"})
        elif path == "/hermes/redirect-out":
            self._send(302, b"", extra={"Location": "/api/echo"})
        else:
            self._send(200, json.dumps({"path": path}).encode())


@dataclass
class Server:
    base: str
    observed: Observed
    port: int


def start_http_server(ssl_context: ssl.SSLContext | None = None) -> tuple[ThreadingHTTPServer, Server]:
    observed = Observed()
    handler = type("Handler", (HostileHandler,), {"observed": observed})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    if ssl_context is not None:
        httpd.socket = ssl_context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    port = httpd.server_address[1]
    scheme = "https" if ssl_context else "http"
    return httpd, Server(f"{scheme}://127.0.0.1:{port}", observed, port)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    httpd, srv = start_http_server()
    try:
        yield srv
    finally:
        srv.observed.stop.set()
        httpd.shutdown()
        httpd.server_close()


def client(**kwargs: Any) -> HttpClient:
    return HttpClient(max_body_bytes=LIMIT, **kwargs)


def get(http: HttpClient, url: str, *, timeout_s: float = 5.0, deadline_s: float = 30.0) -> Any:
    return http.get(url, deadline=Deadline.after(deadline_s), timeout_s=timeout_s)


def _adhoc(check_id: str, summary: str) -> CheckSpec:
    """A check outside the catalogue: these tests point the runner at hostile servers."""
    return CheckSpec(check_id, module="", summary=summary, why="hostile target test", hint="")


def failure(fn: Callable[[], object]) -> Verdict:
    """The verdict ``fn`` raises (the test fails if it returns)."""
    with pytest.raises(Verdict) as info:
        fn()
    return info.value


# --- bodies ----------------------------------------------------------------------------------------------------


def test_a_json_body_is_parsed(server: Server) -> None:
    response = get(client(), f"{server.base}/json")
    assert response.status == 200 and response.json() == {"status": "ok"}
    assert set(response.phases_ms) == {"ttfb", "transfer"}


@pytest.mark.parametrize("path", ["/notjson", "/truncated"])
def test_a_body_that_is_not_json_is_failed_body_invalid(server: Server, path: str) -> None:
    response = get(client(), f"{server.base}{path}")
    verdict = failure(response.json)
    assert type(verdict) is CheckFailed
    assert verdict.reason is Reason.BODY_INVALID
    assert verdict.evidence["url"].endswith(path) and verdict.evidence["status"] == 200


def test_a_body_cut_off_mid_transfer_is_a_failed_verdict(server: Server) -> None:
    verdict = failure(lambda: get(client(), f"{server.base}/cut"))
    assert verdict.outcome is Outcome.FAILED
    assert verdict.reason in (Reason.BODY_INVALID, Reason.CONNECTION_ERROR)


def test_a_compressed_body_is_decoded(server: Server) -> None:
    assert get(client(), f"{server.base}/gzip").json() == {"status": "compressed"}


def test_a_compressed_body_is_capped_by_its_inflated_size(server: Server) -> None:
    started = time.perf_counter()
    verdict = failure(lambda: get(client(), f"{server.base}/gzip-bomb"))
    assert verdict.reason is Reason.BODY_TOO_LARGE
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
def test_a_body_larger_than_the_cap_is_failed_and_the_read_stops_early(server: Server, path: str) -> None:
    started = time.perf_counter()
    verdict = failure(lambda: get(client(), f"{server.base}{path}"))
    assert verdict.reason is Reason.BODY_TOO_LARGE
    assert verdict.evidence["limit_bytes"] == LIMIT
    assert time.perf_counter() - started < 2.0
    # The server finds out the client went away long before it could send its 100 MiB.
    deadline = time.monotonic() + DRIP_CAP_S + 1
    while path not in server.observed.sent_bytes and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.observed.stream_broke[path] is True
    assert server.observed.sent_bytes[path] < 32 * 1024 * 1024


# --- time bounds -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/drip", "/drip-chunked", "/drip-unsized"])
def test_a_slow_drip_is_bounded_by_the_http_timeout(server: Server, path: str) -> None:
    started = time.perf_counter()
    verdict = failure(lambda: get(client(), f"{server.base}{path}", timeout_s=0.5))
    elapsed = time.perf_counter() - started
    assert isinstance(verdict, TransientFailure)  # the runner may retry it once
    assert verdict.reason is Reason.HTTP_TIMEOUT
    assert elapsed < 0.5 + 1.5, f"drip held the probe for {elapsed:.1f} s with a 0.5 s timeout"


@pytest.mark.parametrize("path", ["/drip", "/drip-chunked"])
def test_a_slow_drip_is_bounded_by_the_run_deadline(server: Server, path: str) -> None:
    started = time.perf_counter()
    verdict = failure(lambda: get(client(), f"{server.base}{path}", timeout_s=30.0, deadline_s=0.5))
    elapsed = time.perf_counter() - started
    assert isinstance(verdict, DeadlineExceeded)  # INCOMPLETE: the run ran out, the target is not blamed
    assert elapsed < 0.5 + 1.5, f"drip held the probe for {elapsed:.1f} s with 0.5 s of run left"


def test_a_server_that_never_answers_is_an_http_timeout(server: Server) -> None:
    started = time.perf_counter()
    verdict = failure(lambda: get(client(), f"{server.base}/no-headers", timeout_s=0.5))
    assert isinstance(verdict, TransientFailure) and verdict.reason is Reason.HTTP_TIMEOUT
    assert time.perf_counter() - started < 2.0
    started = time.perf_counter()
    verdict = failure(lambda: get(client(), f"{server.base}/no-headers", timeout_s=30, deadline_s=0.5))
    assert isinstance(verdict, DeadlineExceeded)
    assert time.perf_counter() - started < 2.0


def test_a_header_drip_is_failed_http_timeout_not_left_to_the_run_deadline(server: Server) -> None:
    """The read timeout restarts with each dripped header byte; the watchdog holds the step to its 0.5 s."""
    @check(_adhoc("h.header_drip", "header drip"), depends_on=(), timeout_s=30)
    def header_drip(ctx: CheckContext) -> None:
        ctx.get(f"{server.base}/drip-headers", timeout_s=0.5)

    config = CanaryConfig(confirm_failures=False)
    started = time.perf_counter()
    report = Runner([header_drip], config=config, aws=AwsClients(factory=lambda service: None),
                    http=client()).run(deadline=Deadline.after(5.0))
    elapsed = time.perf_counter() - started
    result = report.checks[0]
    assert (result.outcome, result.reason, result.retries) == (Outcome.FAILED, Reason.HTTP_TIMEOUT, 1)
    assert elapsed < 2 * (0.5 + STEP_BOUND_S), f"header drip held the run for {elapsed:.1f} s"


def test_no_time_left_means_no_request(server: Server) -> None:
    deadline = Deadline.after(0)
    before = len(server.observed.received("/json"))
    with pytest.raises(DeadlineExceeded):
        client().get(f"{server.base}/json", deadline=deadline, timeout_s=5)
    assert len(server.observed.received("/json")) == before


# --- redirects -------------------------------------------------------------------------------------------------


def test_a_redirect_loop_is_failed_redirect_loop(server: Server) -> None:
    before = len(server.observed.received("/loop"))
    verdict = failure(lambda: get(client(), f"{server.base}/loop"))
    assert verdict.reason is Reason.REDIRECT_LOOP
    assert len(server.observed.received("/loop")) - before <= 6  # bounded: max_redirects + 1


# --- TLS -------------------------------------------------------------------------------------------------------


@dataclass
class TlsServer:
    base: str
    ca_file: str


def _certificate(tmp: Path, name: str, *, hosts: list[str], expired: bool = False) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    now = dt.datetime.now(dt.UTC)
    not_after = now - dt.timedelta(days=1) if expired else now + dt.timedelta(days=1)
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=2))
            .not_valid_after(not_after).add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp / f"{name}.pem", tmp / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


@pytest.fixture(scope="module")
def tls_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, TlsServer]]:
    """Three self-signed servers: valid for 127.0.0.1, for another name, and expired."""
    tmp = tmp_path_factory.mktemp("tls")
    variants = {"self-signed": {"hosts": ["127.0.0.1"]}, "wrong-host": {"hosts": ["canary.example.invalid"]},
                "expired": {"hosts": ["127.0.0.1"], "expired": True}}
    running: list[tuple[ThreadingHTTPServer, Server]] = []
    servers: dict[str, TlsServer] = {}
    for name, spec in variants.items():
        cert_file, key_file = _certificate(tmp, name, **spec)  # type: ignore[arg-type]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        httpd, srv = start_http_server(context)
        running.append((httpd, srv))
        servers[name] = TlsServer(srv.base, cert_file)
    try:
        yield servers
    finally:
        for httpd, srv in running:
            srv.observed.stop.set()
            httpd.shutdown()
            httpd.server_close()


def test_a_self_signed_certificate_is_failed_tls_error_with_verification_on(tls_servers: dict[str, TlsServer]) -> None:
    srv = tls_servers["self-signed"]
    verdict = failure(lambda: get(client(), f"{srv.base}/json"))
    assert type(verdict) is CheckFailed and verdict.reason is Reason.TLS_ERROR
    # The same server is fine once its certificate is trusted explicitly: the failure was verification.
    assert get(client(ca_bundle=srv.ca_file), f"{srv.base}/json").json() == {"status": "ok"}


@pytest.mark.parametrize("variant", ["wrong-host", "expired"])
def test_a_bad_certificate_is_failed_tls_error_even_when_its_issuer_is_trusted(
        tls_servers: dict[str, TlsServer], variant: str) -> None:
    srv = tls_servers[variant]
    verdict = failure(lambda: get(client(ca_bundle=srv.ca_file), f"{srv.base}/json"))
    assert verdict.reason is Reason.TLS_ERROR


# --- connection-level failures ---------------------------------------------------------------------------------


@pytest.fixture
def resetting_port() -> Iterator[int]:
    """A server that reads the request, then aborts the connection with a TCP RST (SO_LINGER 0)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve_resets() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(2)
            with contextlib.suppress(OSError):
                conn.recv(65536)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    thread = threading.Thread(target=serve_resets, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        listener.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_connection_reset_is_a_transient_connection_error(resetting_port: int) -> None:
    verdict = failure(lambda: get(client(), f"http://127.0.0.1:{resetting_port}/hermes/health"))
    assert isinstance(verdict, TransientFailure)
    assert verdict.reason is Reason.CONNECTION_ERROR


def test_a_refused_connection_is_a_transient_connection_error() -> None:
    started = time.perf_counter()
    verdict = failure(lambda: get(client(), f"http://127.0.0.1:{closed_port()}/hermes/health"))
    assert isinstance(verdict, TransientFailure)
    assert verdict.reason is Reason.CONNECTION_ERROR
    assert time.perf_counter() - started < 2.0


class NoSuchHostAdapter(requests.adapters.BaseAdapter):
    """A transport that fails like a resolver with no answer, so no real DNS query is ever made."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[str] = []

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: bool | str = True, cert: Any = None, proxies: Mapping[str, str] | None = None
             ) -> requests.Response:
        self.requests.append(str(request.url))
        try:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        except socket.gaierror as exc:
            raise requests.ConnectionError(f"Failed to resolve {request.url}", request=request) from exc

    def close(self) -> None:
        pass


def test_a_dns_failure_is_failed_dns_error() -> None:
    adapter = NoSuchHostAdapter()
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    url = "https://alb.webordinary.invalid/hermes/health"
    verdict = failure(lambda: get(client(session=session), url))
    assert type(verdict) is CheckFailed  # not transient: retrying a missing name will not help
    assert verdict.reason is Reason.DNS_ERROR
    assert adapter.requests == [url]


# --- WebSocket -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ws_base() -> Iterator[str]:
    release = threading.Event()

    def refuse(connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/ws/refuse":
            return connection.respond(HTTPStatus.FORBIDDEN, "origin not allowed\n")
        return None

    def handler(connection: ServerConnection) -> None:
        if connection.request is not None and connection.request.path == "/ws/hello":
            connection.send("hello")
        release.wait(10)  # /ws/silent: upgraded, then nothing

    with serve(handler, "127.0.0.1", 0, process_request=refuse) as ws_server:
        thread = threading.Thread(target=ws_server.serve_forever, daemon=True)
        thread.start()
        port = ws_server.socket.getsockname()[1]
        try:
            yield f"ws://127.0.0.1:{port}"
        finally:
            release.set()
            ws_server.shutdown()
            thread.join(5)


def test_a_websocket_that_says_hello(ws_base: str) -> None:
    message, connect_ms, first_ms = client().websocket_hello(f"{ws_base}/ws/hello", deadline=Deadline.after(10),
                                                             timeout_s=5)
    assert message == "hello"
    assert 0 < connect_ms <= first_ms


def test_a_refused_websocket_upgrade_is_failed_ws_refused(ws_base: str) -> None:
    verdict = failure(lambda: client().websocket_hello(f"{ws_base}/ws/refuse", deadline=Deadline.after(10),
                                                       timeout_s=5))
    assert verdict.reason is Reason.WS_REFUSED
    assert verdict.evidence["status"] == 403


def test_a_websocket_that_upgrades_but_never_speaks_is_failed_ws_no_message(ws_base: str) -> None:
    started = time.perf_counter()
    verdict = failure(lambda: client().websocket_hello(f"{ws_base}/ws/silent", deadline=Deadline.after(10),
                                                       timeout_s=0.5))
    assert type(verdict) is CheckFailed and verdict.reason is Reason.WS_NO_MESSAGE
    assert time.perf_counter() - started < 2.0


def test_a_silent_websocket_at_the_run_deadline_is_incomplete(ws_base: str) -> None:
    verdict = failure(lambda: client().websocket_hello(f"{ws_base}/ws/silent", deadline=Deadline.after(0.5),
                                                       timeout_s=30))
    assert isinstance(verdict, DeadlineExceeded)


def test_a_websocket_on_a_closed_port_is_a_failed_verdict() -> None:
    verdict = failure(lambda: client().websocket_hello(f"ws://127.0.0.1:{closed_port()}/ws", deadline=Deadline.after(5),
                                                       timeout_s=2))
    assert verdict.outcome is Outcome.FAILED
    assert isinstance(verdict, TransientFailure)


# --- the Hermes token goes only where it belongs -----------------------------------------------------------------


def test_auth_headers_go_only_to_urls_under_their_prefix(server: Server) -> None:
    http = client()
    http.add_auth(f"{server.base}/hermes", {"Authorization": TOKEN})
    for path in ("/hermes", "/hermes/health", "/hermes/api/sessions", "/hermesx/health", "/api/health", "/"):
        get(http, f"{server.base}{path}")
    got = {path: [h.get("Authorization") for h in server.observed.received(path)]
           for path in ("/hermes", "/hermes/health", "/hermes/api/sessions", "/hermesx/health", "/api/health", "/")}
    assert got["/hermes"] == [TOKEN]
    assert got["/hermes/health"] == [TOKEN]
    assert got["/hermes/api/sessions"] == [TOKEN]
    assert got["/hermesx/health"] == [None]  # a prefix is a path boundary, not a string prefix
    assert got["/api/health"] == [None]
    assert got["/"] == [None]


def test_auth_headers_do_not_follow_a_redirect_out_of_their_prefix(server: Server) -> None:
    http = client()
    http.add_auth(f"{server.base}/hermes", {"Authorization": TOKEN})
    before = len(server.observed.received("/api/echo"))
    response = get(http, f"{server.base}/hermes/redirect-out")
    assert response.status == 200
    assert server.observed.received("/hermes/redirect-out")[-1].get("Authorization") == TOKEN
    echoed = server.observed.received("/api/echo")[before:]
    assert [h.get("Authorization") for h in echoed] == [None]


# --- none of it crashes a run ----------------------------------------------------------------------------------


def test_a_run_of_hostile_probes_reports_each_reason_and_returns_on_time(server: Server, ws_base: str,
                                                                         tls_servers: dict[str, TlsServer]) -> None:
    def probe(check_id: str, url: str, *, parse: bool = False) -> Any:
        @check(_adhoc(check_id, f"GET {url}"), depends_on=(), timeout_s=10)
        def body(ctx: CheckContext) -> None:
            with ctx.step("get") as timer:
                response = ctx.get(url, timer=timer)
            if parse:
                response.json()
        return body

    @check(_adhoc("ws.silent", "silent ws"), depends_on=(), timeout_s=10)
    def ws_silent(ctx: CheckContext) -> None:
        ctx.http.websocket_hello(f"{ws_base}/ws/silent", deadline=ctx.deadline, timeout_s=0.5)

    checks = [
        probe("h.notjson", f"{server.base}/notjson", parse=True),
        probe("h.big", f"{server.base}/big"),
        probe("h.drip", f"{server.base}/drip"),
        probe("h.loop", f"{server.base}/loop"),
        probe("h.tls", f"{tls_servers['self-signed'].base}/json"),
        probe("h.refused", f"http://127.0.0.1:{closed_port()}/"),
        ws_silent,
    ]
    config = CanaryConfig(http_timeout_s=0.5, max_body_bytes=LIMIT, confirm_failures=False)
    http = HttpClient(max_body_bytes=config.max_body_bytes)
    started = time.perf_counter()
    report = Runner(checks, config=config, aws=AwsClients(factory=lambda service: None), http=http).run(
        deadline=Deadline.after(20))
    elapsed = time.perf_counter() - started
    reasons = {r.id: (r.outcome, r.reason, r.retries) for r in report.checks}
    assert reasons == {
        "h.notjson": (Outcome.FAILED, Reason.BODY_INVALID, 0),
        "h.big": (Outcome.FAILED, Reason.BODY_TOO_LARGE, 0),
        "h.drip": (Outcome.FAILED, Reason.HTTP_TIMEOUT, 1),  # transient: retried once, reported
        "h.loop": (Outcome.FAILED, Reason.REDIRECT_LOOP, 0),
        "h.tls": (Outcome.FAILED, Reason.TLS_ERROR, 0),
        "h.refused": (Outcome.FAILED, Reason.CONNECTION_ERROR, 1),
        "ws.silent": (Outcome.FAILED, Reason.WS_NO_MESSAGE, 0),
    }
    assert report.exit_code == 1
    assert elapsed < 5, f"hostile run took {elapsed:.1f} s"
    steps = {r.id: r.steps for r in report.checks}
    assert steps["h.notjson"][0].outcome is Outcome.PASSED and "ttfb" in steps["h.notjson"][0].phases_ms


# --- drips before the body: every step has a wall-clock bound (issue 14.2) ------------------------------------------
# The read timeout restarts with each byte, so only the watchdog bounds these. The raw servers drip for far longer
# than any bound asserted here (RAW_DRIP_CAP_S), so a missing bound fails the test instead of passing slowly.

STEP_BOUND_S = 2.0  # generous: an HTTP step must end within its timeout plus this (measured: well under 0.1 s)


def timed(fn: Callable[[], object]) -> tuple[Verdict, float]:
    started = time.perf_counter()
    verdict = failure(fn)
    return verdict, time.perf_counter() - started


@pytest.mark.parametrize("mode", ["status", "headers", "continue"])
def test_a_dripped_status_line_header_block_or_endless_100_continue_ends_at_the_step_timeout(mode: str) -> None:
    with raw_server(mode) as srv:
        verdict, elapsed = timed(lambda: get(client(), f"http://127.0.0.1:{srv.port}/hermes/health", timeout_s=0.5))
    assert isinstance(verdict, TransientFailure) and verdict.reason is Reason.HTTP_TIMEOUT, verdict.message
    assert "0.5 s" in verdict.message
    assert elapsed < 0.5 + STEP_BOUND_S, f"{mode} drip held the step for {elapsed:.1f} s with a 0.5 s timeout"


@pytest.mark.parametrize("mode", ["status", "headers", "continue"])
def test_a_drip_before_the_body_ends_at_the_run_deadline_as_incomplete(mode: str) -> None:
    with raw_server(mode) as srv:
        verdict, elapsed = timed(lambda: get(client(), f"http://127.0.0.1:{srv.port}/hermes/health", timeout_s=30,
                                             deadline_s=0.5))
    assert isinstance(verdict, DeadlineExceeded)
    assert elapsed < 0.5 + STEP_BOUND_S


def test_a_dripped_tls_handshake_ends_at_the_step_timeout() -> None:
    with raw_server("tls") as srv:
        verdict, elapsed = timed(lambda: get(client(), f"https://127.0.0.1:{srv.port}/hermes/health", timeout_s=0.5))
    assert verdict.outcome is Outcome.FAILED and verdict.reason in (Reason.TLS_ERROR, Reason.HTTP_TIMEOUT)
    assert elapsed < 0.5 + STEP_BOUND_S, f"TLS drip held the step for {elapsed:.1f} s"


@pytest.mark.parametrize(("mode", "scheme"), [("tls", "wss"), ("ws-upgrade", "ws")])
def test_a_dripped_websocket_open_ends_at_the_step_timeout(mode: str, scheme: str) -> None:
    with raw_server(mode) as srv:
        url = f"{scheme}://127.0.0.1:{srv.port}/ws/hmr"
        verdict, elapsed = timed(lambda: client().websocket_hello(url, deadline=Deadline.after(30), timeout_s=0.5))
        assert verdict.outcome is Outcome.FAILED and verdict.reason in (Reason.TLS_ERROR, Reason.HTTP_TIMEOUT), (
            verdict.reason, verdict.message)
        assert elapsed < 0.5 + STEP_BOUND_S, f"{mode} drip held the WebSocket open for {elapsed:.1f} s"
        verdict, elapsed = timed(lambda: client().websocket_hello(url, deadline=Deadline.after(0.5), timeout_s=30))
    assert isinstance(verdict, DeadlineExceeded)
    assert elapsed < 0.5 + STEP_BOUND_S


def test_a_watched_connection_is_reused_and_a_fired_alarm_never_touches_the_next_request(server: Server) -> None:
    """Kept-alive connections go back to the pool unwatched: the next request on them is not cut."""
    http = client()
    for _ in range(5):
        assert get(http, f"{server.base}/json", timeout_s=0.2).json() == {"status": "ok"}
    time.sleep(0.4)  # every alarm above is long due
    assert get(http, f"{server.base}/json", timeout_s=5).json() == {"status": "ok"}


def test_runs_abandoning_checks_on_a_dripping_server_leave_no_thread_behind() -> None:
    """Each run's abandoned check ends with its socket (the watchdog fires at the deadline), so nothing outlives
    the runs: not in a warm Lambda, and not at the CLI's exit."""
    @check(_adhoc("h.abandoned", "drip past the deadline"), depends_on=(), timeout_s=60)
    def abandoned(ctx: CheckContext) -> None:
        ctx.get(f"http://127.0.0.1:{srv.port}/hermes/health", timeout_s=30)

    with raw_server("headers") as srv:
        http = client()
        Runner([abandoned], config=CanaryConfig(confirm_failures=False), aws=AwsClients(factory=lambda s: None),
               http=http).run(deadline=Deadline.after(0.3))  # warm-up: the watchdog thread starts once
        before = {t.ident for t in threading.enumerate()}
        outcomes = []
        for _ in range(3):
            report = Runner([abandoned], config=CanaryConfig(confirm_failures=False),
                            aws=AwsClients(factory=lambda s: None), http=http).run(deadline=Deadline.after(0.5))
            outcomes.append(report.checks[0].outcome)
        def left() -> list[str]:
            return [t.name for t in threading.enumerate()
                    if t.ident not in before and t.is_alive() and not t.name.startswith("raw-server")]

        end = time.monotonic() + 3  # the server drips for 30 s: threads stuck on it would still be here
        while left() and time.monotonic() < end:
            time.sleep(0.05)
        remaining, still_dripping = left(), not srv.stop.is_set()
    assert outcomes == [Outcome.INCOMPLETE] * 3
    assert still_dripping and remaining == [], f"threads left behind while the server still drips: {remaining}"


def test_a_dripping_hermes_makes_hermes_health_and_latency_baseline_failed_http_timeout() -> None:
    """A hung Hermes must page (issue 14.3): FAILED http_timeout, retried and confirmed, never INCOMPLETE."""
    from harness.checks.http_probes import http_hermes_health
    from harness.checks.latency import latency_baseline

    with raw_server("headers") as srv:
        config = CanaryConfig(hermes_url=f"http://127.0.0.1:{srv.port}/hermes", http_timeout_s=0.5,
                              confirm_pause_s=0.1)
        report = Runner([http_hermes_health, latency_baseline], config=config,
                        aws=AwsClients(factory=lambda service: None), http=client()).run(deadline=Deadline.after(30))
    results = {r.id: r for r in report.checks}
    assert {i: (r.outcome, r.reason) for i, r in results.items()} == {
        "http.hermes_health": (Outcome.FAILED, Reason.HTTP_TIMEOUT),
        "latency.baseline": (Outcome.FAILED, Reason.HTTP_TIMEOUT)}
    assert all(r.retries == 1 for r in results.values())  # transient: retried once in the run, then it pages
    assert report.exit_code == 1


# --- a request the canary cannot send is the canary's fault (issue 14.4) ---------------------------------------------


@pytest.mark.parametrize("token", ["hermes-secret\nX-Injected: 1", "hermes-secret\r", "hermes-sécret-ü€"])
def test_an_unsendable_hermes_token_is_error_config_invalid_naming_its_setting_and_nothing_is_sent(
        server: Server, token: str) -> None:
    from harness.checks.http_probes import http_hermes_health
    from harness.net.redact import Redactor

    http = client()
    http.add_auth(f"{server.base}/hermes", {"Authorization": f"Bearer {token}"}, setting="HERMES_API_TOKEN_SECRET")
    redactor = Redactor()
    redactor.register(token)
    before = len(server.observed.received("/hermes/health"))
    report = Runner([http_hermes_health], config=CanaryConfig(hermes_url=f"{server.base}/hermes"),
                    aws=AwsClients(factory=lambda service: None), http=http, redactor=redactor).run(
        deadline=Deadline.after(10))
    result = report.checks[0]
    assert (result.outcome, result.reason) == (Outcome.ERROR, Reason.CONFIG_INVALID), result.message
    assert "HERMES_API_TOKEN_SECRET" in result.message and "Authorization" in result.message
    assert result.retries == 0 and report.exit_code == 2  # the canary is broken, the platform is not paged
    assert "secret" not in json.dumps([result.message, result.evidence]).replace("_SECRET", "")
    assert len(server.observed.received("/hermes/health")) == before  # not one request left the machine


@pytest.mark.parametrize("url", ["http://[::1/hermes/health", "127.0.0.1/hermes/health", "gopher://127.0.0.1/x",
                                 "http:///hermes/health"])
def test_a_url_that_cannot_be_requested_is_error_config_invalid(url: str) -> None:
    verdict = failure(lambda: get(client(), url))
    assert isinstance(verdict, CanaryError) and verdict.reason is Reason.CONFIG_INVALID, (type(verdict), verdict)
    assert "WEBORDINARY_BASE_URL" in verdict.message


def test_an_unsendable_websocket_header_is_error_config_invalid_and_nothing_is_sent() -> None:
    with raw_server("ws-upgrade") as srv:
        http = client()
        http.add_auth(f"ws://127.0.0.1:{srv.port}/ws", {"Authorization": "Bearer a\nb"},
                      setting="HERMES_API_TOKEN_SECRET")
        verdict = failure(lambda: http.websocket_hello(f"ws://127.0.0.1:{srv.port}/ws/hmr",
                                                       deadline=Deadline.after(5), timeout_s=1))
        connections = srv.connections
    assert isinstance(verdict, CanaryError) and verdict.reason is Reason.CONFIG_INVALID
    assert "HERMES_API_TOKEN_SECRET" in verdict.message
    assert connections == 0
