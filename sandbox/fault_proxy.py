"""The fault-injecting proxy in front of moto: what the canary gets as ``AWS_ENDPOINT_URL``.

It forwards every request to moto, except those a canary-side fault (its own credentials, permissions, rate
limits; ``sandbox.proxy_faults``) answers with an AWS error in the request's protocol (``sandbox.aws_protocol``).
Emulations of APIs moto lacks (``answerers``) and rewrites of moto's replies (``reply_filters``) plug in here.
"""

from __future__ import annotations

import http.client
import threading
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sandbox.aws_protocol import error_response, iam_action, request_protocol, signing_service
from sandbox.call_recording import RECORDED_BODY_BYTES, AwsCall, Recorders
from sandbox.faults import Faults
from sandbox.proxy_faults import Sampler, error_for

_HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
    "transfer-encoding", "upgrade", "expect", "content-length",
}


class FaultProxy:
    """Forwards every request to moto, except those a canary-side fault answers with an AWS error."""

    def __init__(self, upstream: str, faults: Faults, *, host: str = "127.0.0.1", account_id: str = "123456789012"):
        parsed = urllib.parse.urlsplit(upstream)
        self._upstream = (parsed.hostname or host, parsed.port or 80)
        self._faults = faults
        self._account_id = account_id
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._sampler = Sampler(faults)
        self.recorders = Recorders()  # sandbox.call_recording: what AwsSandbox.recording() opens
        # Emulations of APIs moto lacks (sandbox.canary_stack): (service, action, path, body) -> reply or None.
        self.answerers: list[Callable[[str, str, str, bytes], tuple[int, list[tuple[str, str]], bytes] | None]] = []
        # Rewrites of moto's replies (sandbox.iam_mode: moto's XML AccessDenied in the request's own protocol):
        # (request headers, service, status, reply headers, body) -> reply or None to keep moto's.
        self.reply_filters: list[Callable[[Any, str, int, list[tuple[str, str]], bytes],
                                          tuple[int, list[tuple[str, str]], bytes] | None]] = []
        self._server = ThreadingHTTPServer((host, 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="sandbox-aws-proxy", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def injected(self) -> dict[str, int]:
        with self._counts_lock:
            return dict(self._counts)

    def _count(self, fault: str) -> None:
        with self._counts_lock:
            self._counts[fault] += 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 120  # idle keep-alive connections end instead of pinning a thread forever
            # Headers and body go out as separate small writes: without TCP_NODELAY every reply on a reused
            # connection waits ~40 ms for the client's delayed ACK (measured by bench/overhead.py: 48 -> 4 ms/call).
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                self._handle()

            do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _read_body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return bytes(chunks)
                        chunks += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _handle(self) -> None:
                body = self._read_body()
                service = signing_service(self.headers, self.path)
                error = None
                if service is not None:
                    error = error_for(proxy._faults, service, lambda: self._action(service, body),
                                       proxy._account_id, proxy._sampler)
                proxy.recorders.record(lambda: AwsCall(service or "?", self._action(service or "?", body), self.command,
                                              self.path, error.fault if error is not None else None,
                                              body[:RECORDED_BODY_BYTES]))
                if service is not None and error is not None:
                    proxy._count(error.fault)
                    protocol = request_protocol(self.headers, service)
                    query_compatible = self.headers.get("x-amzn-query-mode", "").lower() == "true"
                    status, headers, payload = error_response(error, protocol, query_compatible, str(uuid.uuid4()),
                                                              self.headers.get("Content-Type", ""))
                    self._reply(status, list(headers.items()), payload)
                    return
                for answer in list(proxy.answerers):
                    reply = answer(service or "?", self._action(service or "?", body), self.path, body)
                    if reply is not None:
                        self._reply(*reply)
                        return
                self._forward(body)

            def _action(self, service: str, body: bytes) -> str:
                return iam_action(self.headers, self.command, self.path, body, service)

            def _forward(self, body: bytes) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                if body or self.command in ("POST", "PUT", "PATCH"):
                    headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(*proxy._upstream, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    response = conn.getresponse()
                    payload = response.read()
                    upstream_headers = response.getheaders()
                    status = response.status
                except OSError as exc:
                    message = f"sandbox AWS proxy: moto unreachable: {exc}".encode()
                    self._reply(502, [("Content-Type", "text/plain")], message)
                    return
                finally:
                    conn.close()
                if self.command == "HEAD":
                    # No body; keep the upstream Content-Length (it describes the object, e.g. S3 HeadObject).
                    kept = [(k, v) for k, v in upstream_headers if k.lower() not in _HOP_BY_HOP - {"content-length"}]
                    self._reply(status, kept, b"", set_length=False)
                    return
                kept = [(k, v) for k, v in upstream_headers if k.lower() not in _HOP_BY_HOP]
                for rewrite in list(proxy.reply_filters):
                    rewritten = rewrite(self.headers, signing_service(self.headers, self.path) or "?", status, kept,
                                        payload)
                    if rewritten is not None:
                        status, kept, payload = rewritten
                        break
                self._reply(status, kept, payload)

            def _reply(self, status: int, headers: list[tuple[str, str]], payload: bytes,
                       set_length: bool = True) -> None:
                self.log_request(status)
                self.send_response_only(status)  # moto's own Server/Date headers are forwarded
                names = {key.lower() for key, _ in headers}
                if "date" not in names:
                    self.send_header("Date", self.date_time_string())
                for key, value in headers:
                    self.send_header(key, value)
                if set_length and status not in (204, 304) and not 100 <= status < 200:
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if payload and self.command != "HEAD":
                    self.wfile.write(payload)

        return Handler
