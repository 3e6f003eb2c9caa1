"""The sandbox's local "ALB": one loopback port that routes the platform's real paths like the real one.

Routing is read from moto on every request (``control.route_for_path``), so deleting a listener rule there
changes what this server does, exactly as on AWS. What the ALB answers itself mirrors the real
``webordinary-edit-alb`` (target-surface §2.3): the default action is a fixed 200 "healthy"; a rule whose
target group has no healthy target gets 503; a healthy target whose application is not listening gets 502.
Paths are not stripped. The HMR WebSocket is upgraded on the same port (websockets' Sans-I/O protocol on the
socket taken over from http.server), and ``/__sandbox/*`` is the fault switchboard's admin API.

Like the real listeners, the main port speaks HTTPS only (a certificate from the sandbox's own CA,
``sandbox.tls``) and a second, plain-HTTP port answers everything with a 301 to the HTTPS URL (the real port-80
redirect rule); only the admin API answers there too, so the switchboard stays reachable while a TLS fault
is on. The TLS faults choose the certificate presented per connection, or stall the handshake.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request as WsRequest
from websockets.http11 import Response as WsResponse
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from sandbox.control import PlatformControl
from sandbox.faults import FAULT_CLASSES, Faults, UnknownFault
from sandbox.tls import EXPIRED, HEALTHY, UNKNOWN_CA, WRONG_HOST, SandboxPki, sandbox_pki

log = logging.getLogger(__name__)

ADMIN_PREFIX = "/__sandbox/"
MAX_BODY_BYTES = 1 << 20  # real ALBs accept more; nothing the canary sends comes close
ALB_SERVER_HEADER = "awselb/2.0"
TLS_STALL_FAULT = "tls_handshake_stall"
_CERTIFICATE_FAULTS = (WRONG_HOST, EXPIRED, UNKNOWN_CA)  # fault name == the certificate variant it presents
HANDSHAKE_TIMEOUT_S = 10.0  # a client that connects and sends no ClientHello is dropped after this
STALL_LIMIT_S = 300.0  # a stalled handshake holds the connection at most this long (or until the client gives up)


# ---------------------------------------------------------------------------------------------------------
# The request/response model shared with the simulated applications (transport-free, so apps stay simple).


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str  # path + query exactly as received (the ALB never rewrites it)
    headers: Mapping[str, str]  # lower-cased names
    body: bytes = b""

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        """First value of each query parameter."""
        return {k: v[0] for k, v in parse_qs(urlsplit(self.target).query).items()}

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        """The body parsed as JSON; raises ValueError when it is not JSON."""
        return json.loads(self.body.decode("utf-8") or "null")

    @property
    def wants_websocket(self) -> bool:
        return self.header("upgrade").lower() == "websocket" and "upgrade" in self.header("connection").lower()


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


def json_response(status: int, payload: Any, *, headers: tuple[tuple[str, str], ...] = ()) -> HttpResponse:
    return HttpResponse(status, json.dumps(payload).encode(), "application/json; charset=utf-8", headers)


def text_response(status: int, text: str, *, headers: tuple[tuple[str, str], ...] = ()) -> HttpResponse:
    return HttpResponse(status, text.encode(), "text/plain; charset=utf-8", headers)


def html_response(status: int, html: str, *, headers: tuple[tuple[str, str], ...] = ()) -> HttpResponse:
    return HttpResponse(status, html.encode(), "text/html; charset=utf-8", headers)


class WebSocketSession(Protocol):
    """Application side of one accepted WebSocket; returns the text messages to send back."""

    def on_open(self) -> list[str]: ...

    def on_message(self, text: str) -> list[str]: ...


@dataclass(frozen=True)
class WebSocketAccept:
    """Returned by a listener to accept an upgrade; the ALB runs the protocol and drives ``session``."""

    session: WebSocketSession
    subprotocols: tuple[str, ...] = ()


class Listener(Protocol):
    """One application port behind a target group (Hermes :3000, edit API :8080, Astro :4321, HMR :4322)."""

    def listening(self) -> bool:
        """False when the task runs but nothing accepts connections on this port (the ALB answers 502)."""

    def handle(self, request: HttpRequest) -> HttpResponse | WebSocketAccept: ...


def alb_error_page(status: int) -> HttpResponse:
    """The body a real ALB generates itself for 502/503/504 (nginx-style HTML, ``Server: awselb/2.0``)."""
    phrase = {503: "Service Temporarily Unavailable"}.get(status, HTTPStatus(status).phrase)
    title = f"{status} {phrase}"
    html = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
    )
    return HttpResponse(status, html.encode(), "text/html", (("Server", ALB_SERVER_HEADER),))


def _sandbox_error(status: int, exc: Exception) -> HttpResponse:
    """An ALB error page that also names the sandbox bug behind it (``X-Sandbox-Error``)."""
    page = alb_error_page(status)
    return HttpResponse(
        page.status, page.body, page.content_type, (*page.headers, ("X-Sandbox-Error", type(exc).__name__))
    )


def _alb_default_action() -> HttpResponse:
    # The 443 listener's default action: fixed-response 200 text/plain "healthy" (target-surface §2.3).
    return HttpResponse(200, b"healthy", "text/plain; charset=utf-8", (("Server", ALB_SERVER_HEADER),))


# ---------------------------------------------------------------------------------------------------------
# The ALB itself.


class LocalAlb:
    """The local ALB: binds at construction (so ``base_url`` is known before apps are mounted)."""

    def __init__(
        self,
        control: PlatformControl,
        faults: Faults,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        http_port: int = 0,
        idle_timeout_s: float = 60.0,
        pki: SandboxPki | None = None,
    ) -> None:
        self._control = control
        self._faults = faults
        self._listeners: dict[str, Listener] = {}
        self._state_providers: dict[str, Callable[[], Any]] = {}
        self._reset_hook: Callable[[], None] | None = None
        self._websockets: set[_WebSocketConnection] = set()
        self._ws_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.idle_timeout_s = idle_timeout_s
        self._host = host
        self.pki = pki if pki is not None else sandbox_pki()
        self._server = _AlbHttpServer((host, port), _AlbRequestHandler, self, tls=self._tls_context)
        try:
            self._plain = _AlbHttpServer((host, http_port), _AlbRequestHandler, self, redirect_to=self.base_url)
        except BaseException:
            self._server.server_close()
            raise

    # -- composition

    @property
    def base_url(self) -> str:
        """The HTTPS listener (what the canary probes)."""
        return f"https://{self._host}:{self.port}"

    @property
    def http_url(self) -> str:
        """The plain-HTTP listener: 301 to ``base_url`` for everything but the admin API."""
        return f"http://{self._host}:{self._plain.server_address[1]}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def ca_bundle(self) -> str:
        """The CA certificate that verifies ``base_url`` (the canary's ``ca_bundle``)."""
        return self.pki.ca_bundle

    def _tls_context(self) -> ssl.SSLContext | None:
        """The context for the next connection, by the TLS faults active now; None = stall the handshake."""
        if self._faults.active(TLS_STALL_FAULT):
            return None
        variant = next((name for name in _CERTIFICATE_FAULTS if self._faults.active(name)), HEALTHY)
        return self.pki.server_context(variant)

    def mount(self, target_group_name: str, listener: Listener) -> None:
        """Put an application port behind a target group name (as ``route_for_path`` returns it)."""
        self._listeners[target_group_name] = listener

    def add_state(self, name: str, provider: Callable[[], Any]) -> None:
        """Add a section to ``GET /__sandbox/state``."""
        self._state_providers[name] = provider

    def on_reset(self, hook: Callable[[], None]) -> None:
        """Enable ``POST /__sandbox/reset`` (the composition root knows what resetting means)."""
        self._reset_hook = hook

    # -- lifecycle

    def start(self) -> None:
        if self._threads:
            return
        for server, name in ((self._server, "sandbox-alb-https"), (self._plain, "sandbox-alb-http")):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=name,
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop accepting, close open WebSockets with 1001 (going away) and release the ports."""
        servers = (self._server, self._plain)
        if self._threads:
            for server in servers:
                server.shutdown()
            for thread in self._threads:
                thread.join(timeout=5)
            self._threads = []
        for conn in self.open_websockets():
            conn.close(CloseCode.GOING_AWAY, "sandbox stopping")
        for server in servers:
            server.close_connections()
            server.server_close()

    def open_websockets(self) -> list[_WebSocketConnection]:
        with self._ws_lock:
            return list(self._websockets)

    def close_websockets(self) -> None:
        for conn in self.open_websockets():
            conn.close(CloseCode.GOING_AWAY, "sandbox reset")

    # -- request handling (transport-free)

    def dispatch(self, request: HttpRequest) -> HttpResponse | WebSocketAccept:
        """What the ALB answers for one request: admin, default action, 503, 502 or the target's answer."""
        if request.path.startswith(ADMIN_PREFIX):
            return self._admin(request)
        target_group = self._control.route_for_path(request.path)
        if target_group is None:
            return _alb_default_action()
        if self._control.healthy_target_count(target_group) == 0:
            return alb_error_page(503)
        listener = self._listeners.get(target_group)
        if listener is None or not listener.listening():
            return alb_error_page(502)
        try:
            return listener.handle(request)
        except Exception as exc:
            # A real target that crashes mid-request resets the connection and the ALB answers 502. Log it
            # loudly and name it in a header: a sandbox bug must not pass for a platform fault unnoticed.
            log.exception("sandbox target %s failed on %s %s", target_group, request.method, request.target)
            return _sandbox_error(502, exc)

    def _admin(self, request: HttpRequest) -> HttpResponse:
        path = request.path
        if path == ADMIN_PREFIX + "faults":
            if request.method == "GET":
                return json_response(200, self._fault_listing())
            if request.method == "POST":
                return self._change_faults(request)
            return json_response(405, {"error": "use GET or POST"})
        if path == ADMIN_PREFIX + "state" and request.method == "GET":
            return json_response(200, self.state())
        if path == ADMIN_PREFIX + "reset" and request.method == "POST":
            if self._reset_hook is None:
                return json_response(404, {"error": "reset is not available on this sandbox"})
            self._reset_hook()
            return json_response(200, {"reset": True, "active": self._faults.snapshot()})
        return json_response(404, {"error": f"unknown admin endpoint {request.method} {path}"})

    def _fault_listing(self) -> dict[str, Any]:
        return {
            "active": self._faults.snapshot(),
            "known": {name: fc.description for name, fc in FAULT_CLASSES.items()},
        }

    def _change_faults(self, request: HttpRequest) -> HttpResponse:
        try:
            body = request.json()
        except ValueError:
            return json_response(400, {"error": "body must be JSON"})
        if not isinstance(body, dict):
            return json_response(400, {"error": "body must be a JSON object"})
        try:
            if body.get("clear") is True:
                self._faults.clear()
            elif "enable" in body:
                params = body.get("params") or {}
                if not isinstance(params, dict):
                    return json_response(400, {"error": "params must be an object"})
                self._faults.enable(str(body["enable"]), **{str(k): str(v) for k, v in params.items()})
            elif "disable" in body:
                name = str(body["disable"])
                if name not in FAULT_CLASSES:
                    raise UnknownFault(f"unknown fault {name!r}")
                self._faults.disable(name)
            else:
                return json_response(400, {"error": 'expected {"enable": name}, {"disable": name} or {"clear": true}'})
        except UnknownFault as exc:
            return json_response(400, {"error": str(exc), "known": sorted(FAULT_CLASSES)})
        return json_response(200, self._fault_listing())

    def state(self) -> dict[str, Any]:
        """A snapshot for humans and tests: faults, services, routes' target health, open WebSockets."""
        res = self._control.resources
        services = {}
        for name in (res.hermes_service, res.edit_service):
            desired, running = self._control.service_counts(name)
            services[name] = {"desired": desired, "running": running}
        state: dict[str, Any] = {
            "base_url": self.base_url,
            "http_url": self.http_url,
            "tls": self.pki.describe(),
            "faults": self._faults.snapshot(),
            "services": services,
            "healthy_targets": {tg: self._control.healthy_target_count(tg) for tg in res.target_groups},
            "open_websockets": len(self.open_websockets()),
        }
        for name, provider in self._state_providers.items():
            state[name] = provider()
        return state

    # -- WebSocket bookkeeping (used by the connection objects)

    def _register(self, conn: _WebSocketConnection) -> None:
        with self._ws_lock:
            self._websockets.add(conn)

    def _unregister(self, conn: _WebSocketConnection) -> None:
        with self._ws_lock:
            self._websockets.discard(conn)


# ---------------------------------------------------------------------------------------------------------
# Transport: http.server for HTTP/1.1, websockets' Sans-I/O protocol for the upgraded connections.


class _AlbHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # keep-alive and WebSocket threads must not hold up stop()
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], alb: LocalAlb, *,
                 tls: Callable[[], ssl.SSLContext | None] | None = None, redirect_to: str | None = None) -> None:
        self.alb = alb
        self.redirect_to = redirect_to  # plain-HTTP listener: 301 here (the port-80 rule)
        self._tls = tls
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Handshake TLS in the connection's own thread (a stalled or refused handshake holds up nobody)."""
        if self._tls is None:
            super().finish_request(request, client_address)
            return
        context = self._tls()
        if context is None:
            self._stall(request)
            return
        request.settimeout(HANDSHAKE_TIMEOUT_S)
        try:
            tls_sock = context.wrap_socket(request, server_side=True)
        except OSError as exc:  # ssl.SSLError included: the client refused our certificate, or went away
            log.debug("alb TLS handshake with %s ended: %s", client_address[0], exc)
            return
        tls_sock.settimeout(None)
        with self._conn_lock:  # the plain socket was detached into tls_sock: track that one instead
            self._connections.discard(request)
            self._connections.add(tls_sock)
        try:
            super().finish_request(tls_sock, client_address)
        finally:
            with self._conn_lock:
                self._connections.discard(tls_sock)
            with contextlib.suppress(OSError):
                tls_sock.close()

    @staticmethod
    def _stall(sock: socket.socket) -> None:
        """Accept the ClientHello and never answer: until the client gives up, the ALB stops, or a cap."""
        sock.settimeout(0.2)
        give_up = time.monotonic() + STALL_LIMIT_S
        while time.monotonic() < give_up:
            try:
                if not sock.recv(4096):
                    return
            except TimeoutError:
                continue
            except OSError:
                return

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conn_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conn_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End idle keep-alive connections now instead of after their timeout."""
        with self._conn_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _AlbRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real ALB
    # One buffered write per response (http.server flushes after each request) and no Nagle: headers and body
    # sent as separate small writes stall 40 ms on the client's delayed ACK on every reused connection.
    wbufsize = -1
    disable_nagle_algorithm = True
    server_version = "sandbox-alb"
    timeout = 65  # idle keep-alive connections end, as behind a real ALB (60 s idle timeout)
    server: _AlbHttpServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("alb %s " + format, self.client_address[0], *args)

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, head: bool = False) -> None:
        request = self._read_request()
        if request is None:
            return
        redirect = self.server.redirect_to
        if redirect is not None and not request.path.startswith(ADMIN_PREFIX):
            page = alb_error_page(301)  # the redirect action's own page, like the 5xx ones
            self._write(HttpResponse(301, page.body, page.content_type,
                                     (*page.headers, ("Location", redirect + request.target))), head=head)
            return
        try:
            result = self.server.alb.dispatch(request)
        except Exception as exc:
            # The sandbox itself broke (e.g. moto unreachable): a real ALB's 500, named, and logged.
            log.exception("sandbox ALB failed on %s %s", request.method, request.target)
            result = _sandbox_error(500, exc)
        if isinstance(result, WebSocketAccept):
            if request.wants_websocket:
                self._upgrade(request, result)
                return
            result = text_response(426, "Upgrade Required")
        self._write(result, head=head)

    def _read_request(self) -> HttpRequest | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._write(text_response(411, "Length Required"))
            self.close_connection = True
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self._write(alb_error_page(400) if length < 0 else text_response(413, "Payload Too Large"))
            self.close_connection = True
            return None
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        return HttpRequest(self.command, self.path, headers, body)

    def _write(self, response: HttpResponse, head: bool = False) -> None:
        self.send_response(response.status)
        names = {name.lower() for name, _ in response.headers}
        for name, value in response.headers:
            self.send_header(name, value)
        if "content-type" not in names:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if not head and response.body:
            self.wfile.write(response.body)

    def send_response(self, code: int, message: str | None = None) -> None:
        # http.server adds "Server: sandbox-alb" and Date; keep Date, drop Server so that the ALB's own
        # pages can say awselb/2.0 and targets can say what they are.
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def _upgrade(self, request: HttpRequest, accept: WebSocketAccept) -> None:
        self.close_connection = True
        supported = [Subprotocol(s) for s in accept.subprotocols]

        def select(_protocol: ServerProtocol, offered: Sequence[Subprotocol]) -> Subprotocol | None:
            # Like Node's ws (Vite): pick a supported one if offered, never refuse for lack of one.
            return next((s for s in supported if s in offered), None)

        protocol = ServerProtocol(subprotocols=supported, select_subprotocol=select)
        # http.server already consumed the handshake; replay it so the protocol's parser moves past it.
        lines = [self.requestline, *(f"{k}: {v}" for k, v in self.headers.items()), "", ""]
        protocol.receive_data("\r\n".join(lines).encode("latin-1"))
        events = protocol.events_received()
        if len(events) != 1 or not isinstance(events[0], WsRequest):
            self._write(alb_error_page(400))
            return
        response = protocol.accept(events[0])
        conn = _WebSocketConnection(self.server.alb, self.connection, protocol, accept.session)
        conn.run(response, leftover=self._take_buffered_bytes())

    def _take_buffered_bytes(self) -> bytes:
        """Bytes the client sent after its handshake that http.server already buffered (usually none)."""
        sock = self.connection
        rfile = self.rfile
        assert isinstance(rfile, io.BufferedReader)  # StreamRequestHandler's default (rbufsize=-1)
        sock.setblocking(False)
        try:
            pending = rfile.peek()
            return rfile.read1(len(pending)) if pending else b""
        except (BlockingIOError, ssl.SSLWantReadError):  # nothing buffered (plain / TLS socket)
            return b""
        finally:
            sock.setblocking(True)


class _WebSocketConnection:
    """One upgraded connection: the socket loop around a Sans-I/O ``ServerProtocol``."""

    def __init__(
        self, alb: LocalAlb, sock: socket.socket, protocol: ServerProtocol, session: WebSocketSession
    ) -> None:
        self._alb = alb
        self._sock = sock
        self._protocol = protocol
        self._session = session
        self._lock = threading.Lock()  # the protocol is not thread-safe; stop() closes from another thread

    def run(self, response: WsResponse, leftover: bytes) -> None:
        with self._lock:
            self._protocol.send_response(response)
            self._flush()
        if response.status_code != 101:
            self._shutdown()
            return
        self._alb._register(self)
        try:
            with self._lock:
                self._send(self._session.on_open())
            self._sock.settimeout(self._alb.idle_timeout_s)
            data = leftover
            while True:
                if data:
                    with self._lock:
                        self._protocol.receive_data(data)
                        self._handle_events()
                        if self._protocol.close_expected() or self._protocol.state is State.CLOSED:
                            break
                try:
                    data = self._sock.recv(65536)
                except TimeoutError:
                    # The ALB idle timeout: no frame either way for idle_timeout_s.
                    self.close(CloseCode.GOING_AWAY, "idle timeout")
                    break
                except OSError:
                    break
                if not data:
                    with self._lock:
                        self._protocol.receive_eof()
                        self._flush()
                    break
        finally:
            self._alb._unregister(self)
            self._shutdown()

    def _handle_events(self) -> None:
        for event in self._protocol.events_received():
            if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self._send(self._session.on_message(bytes(event.data).decode("utf-8", "replace")))
        self._flush()

    def _send(self, messages: list[str]) -> None:
        for text in messages:
            self._protocol.send_text(text.encode())
        self._flush()

    def close(self, code: int, reason: str) -> None:
        """Send a close frame (if still open) and end the TCP connection; safe from any thread."""
        with self._lock:
            if self._protocol.state is State.OPEN:
                self._protocol.send_close(code, reason)
                self._flush()
        self._shutdown()

    def _flush(self) -> None:
        for chunk in self._protocol.data_to_send():
            try:
                if chunk:
                    self._sock.sendall(chunk)
                else:  # SEND_EOF: half-close, the client then closes its side
                    self._sock.shutdown(socket.SHUT_WR)
            except OSError:
                return

    def _shutdown(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
