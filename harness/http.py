"""HTTP and WebSocket probing with explicit, deadline-bounded timeouts, capped reads and phase timings.

TLS verification is always on (an optional CA bundle may be given, never ``verify=False``). Every transport
failure maps to its own reason code; connection resets/refusals and read timeouts are transient (the runner
may retry the check once).
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3

from harness.deadline import Deadline
from harness.errors import CheckFailed, DeadlineExceeded, TransientFailure
from harness.model import Reason

USER_AGENT = "webordinary-canary/1"
_CHUNK = 16_384


@dataclass(frozen=True)
class HttpResponse:
    """What came back, with timings: ``ttfb`` (request sent → headers) and ``transfer`` (body read)."""

    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    elapsed_ms: float
    phases_ms: Mapping[str, float] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON, or FAILED ``body_invalid`` naming the URL."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CheckFailed(Reason.BODY_INVALID, f"{self.url} answered {self.status} with a body that is not JSON",
                              {"url": self.url, "status": self.status, "body": self.text[:200]}) from exc


def status_verdict(response: HttpResponse, what: str) -> CheckFailed:
    """A FAILED verdict for an unexpected status (5xx and 4xx have their own codes)."""
    if response.status >= 500:
        reason = Reason.HTTP_5XX
    elif response.status >= 400:
        reason = Reason.HTTP_4XX
    else:
        reason = Reason.HTTP_STATUS
    return CheckFailed(reason, f"{what} answered HTTP {response.status}",
                       {"url": response.url, "status": response.status, "body": response.text[:300]})


def _root_cause(exc: BaseException) -> BaseException:
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        nxt = seen.__cause__ or seen.__context__
        if nxt is None or nxt is seen:
            break
        seen = nxt
    return seen


class HttpClient:
    """One ``requests.Session`` shared by all checks (connection reuse), explicit timeouts on every call."""

    def __init__(self, session: requests.Session | None = None, *, max_body_bytes: int = 1_048_576,
                 ca_bundle: str | None = None, max_redirects: int = 5) -> None:
        self._session = session or requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        self._session.max_redirects = max_redirects
        self._verify: bool | str = ca_bundle or True
        self.max_body_bytes = max_body_bytes
        self._auth: list[tuple[str, dict[str, str]]] = []
        # requests keeps every header on a same-host redirect: re-scope the add_auth headers at each hop.
        self._session.rebuild_auth = self._rebuild_auth(self._session.rebuild_auth)  # type: ignore[method-assign]

    def add_auth(self, url_prefix: str, headers: Mapping[str, str]) -> None:
        """Send ``headers`` (e.g. the Hermes bearer token) only to URLs under ``url_prefix``."""
        self._auth.append((url_prefix.rstrip("/") + "/", dict(headers)))

    def _headers_for(self, url: str, headers: Mapping[str, str] | None) -> dict[str, str]:
        merged: dict[str, str] = {}
        for prefix, extra in self._auth:
            if url.startswith(prefix) or url + "/" == prefix:
                merged.update(extra)
        merged.update(headers or {})
        return merged

    def _rebuild_auth(self, rebuild: Callable[[requests.PreparedRequest, requests.Response], None]
                      ) -> Callable[[requests.PreparedRequest, requests.Response], None]:
        def scoped(prepared: requests.PreparedRequest, response: requests.Response) -> None:
            rebuild(prepared, response)
            allowed = self._headers_for(str(prepared.url), None)
            for _prefix, extra in self._auth:
                for name in extra:
                    if name in allowed:
                        prepared.headers[name] = allowed[name]
                    else:
                        prepared.headers.pop(name, None)

        return scoped

    def request(self, method: str, url: str, *, deadline: Deadline, timeout_s: float,
                json_body: Any = None, headers: Mapping[str, str] | None = None,
                allow_redirects: bool = True) -> HttpResponse:
        """Send one request; the whole exchange (connect, headers, body) fits in ``min(timeout_s, deadline)``."""
        budget, run_limited = deadline.bound(timeout_s, f"{method} {url}")
        call_deadline = deadline.child(budget)
        started = time.perf_counter()
        try:
            response = self._session.request(method, url, json=json_body, headers=self._headers_for(url, headers),
                                              timeout=(min(budget, 5.0), budget), stream=True,
                                              allow_redirects=allow_redirects, verify=self._verify)
        except requests.exceptions.RequestException as exc:
            raise self._transport_verdict(exc, url, budget, run_limited) from exc
        try:
            ttfb = (time.perf_counter() - started) * 1000
            body = self._read_capped(response, url, call_deadline, budget, run_limited)
        finally:
            response.close()
        total = (time.perf_counter() - started) * 1000
        return HttpResponse(url=url, status=response.status_code, headers=dict(response.headers), body=body,
                            elapsed_ms=total, phases_ms={"ttfb": ttfb, "transfer": total - ttfb})

    def get(self, url: str, *, deadline: Deadline, timeout_s: float,
            headers: Mapping[str, str] | None = None) -> HttpResponse:
        return self.request("GET", url, deadline=deadline, timeout_s=timeout_s, headers=headers)

    def post(self, url: str, *, deadline: Deadline, timeout_s: float, json_body: Any = None,
             headers: Mapping[str, str] | None = None) -> HttpResponse:
        return self.request("POST", url, deadline=deadline, timeout_s=timeout_s, json_body=json_body,
                            headers=headers)

    def _read_capped(self, response: requests.Response, url: str, call_deadline: Deadline, budget: float,
                     run_limited: bool) -> bytes:
        """Read the body in the pieces that arrive, each socket read bounded by the time left.

        ``iter_content`` blocks until a whole chunk is in, and its read timeout restarts with every byte, so a
        server dripping one byte at a time held the probe far past its budget; ``read1`` returns what is there.
        """
        chunks: list[bytes] = []
        size = 0
        raw = response.raw
        sock = getattr(getattr(raw, "connection", None), "sock", None)
        try:
            while True:
                if call_deadline.expired:
                    raise self._timeout(url, budget, run_limited, "while reading the body")
                if sock is not None:
                    sock.settimeout(max(0.001, call_deadline.remaining()))
                chunk = raw.read1(_CHUNK, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_body_bytes:
                    raise CheckFailed(Reason.BODY_TOO_LARGE,
                                      f"{url} sent more than {self.max_body_bytes} bytes; read stopped",
                                      {"url": url, "limit_bytes": self.max_body_bytes})
                chunks.append(chunk)
        except (urllib3.exceptions.ReadTimeoutError, TimeoutError) as exc:
            raise self._timeout(url, budget, run_limited, "while reading the body") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransientFailure(Reason.CONNECTION_ERROR, f"connection to {url} broke while reading the body: "
                                   f"{type(exc).__name__}", {"url": url, "error": type(exc).__name__}) from exc
        return b"".join(chunks)

    @staticmethod
    def _timeout(url: str, budget: float, run_limited: bool, when: str) -> CheckFailed | DeadlineExceeded:
        if run_limited:
            return DeadlineExceeded(f"deadline reached {when} from {url}", {"url": url})
        return TransientFailure(Reason.HTTP_TIMEOUT, f"{url} did not answer within {budget:.1f} s ({when})",
                                {"url": url, "timeout_s": round(budget, 2)})

    def _transport_verdict(self, exc: requests.exceptions.RequestException, url: str, budget: float,
                           run_limited: bool) -> CheckFailed | DeadlineExceeded:
        evidence = {"url": url, "error": type(exc).__name__}
        if isinstance(exc, requests.exceptions.SSLError):
            return CheckFailed(Reason.TLS_ERROR, f"TLS verification failed for {url}: {_root_cause(exc)}"[:300],
                               evidence)
        if isinstance(exc, requests.exceptions.TooManyRedirects):
            return CheckFailed(Reason.REDIRECT_LOOP, f"{url} redirects in a loop", evidence)
        if isinstance(exc, requests.exceptions.Timeout):
            return self._timeout(url, budget, run_limited, "waiting for the response")
        if isinstance(exc, requests.exceptions.ConnectionError):
            cause = _root_cause(exc)
            if isinstance(cause, socket.gaierror) or "Name or service not known" in str(cause):
                return CheckFailed(Reason.DNS_ERROR, f"DNS lookup failed for {url}", evidence)
            if isinstance(cause, ssl.SSLError):
                return CheckFailed(Reason.TLS_ERROR, f"TLS failed for {url}: {cause}"[:300], evidence)
            return TransientFailure(Reason.CONNECTION_ERROR, f"connection to {url} failed: {type(cause).__name__}",
                                    evidence)
        return CheckFailed(Reason.CONNECTION_ERROR, f"request to {url} failed: {type(exc).__name__}", evidence)

    def websocket_hello(self, url: str, *, deadline: Deadline, timeout_s: float,
                        headers: Mapping[str, str] | None = None) -> tuple[str, float, float]:
        """Open a WebSocket, wait for the first server message; returns (message, connect_ms, first_msg_ms)."""
        # Imported here: only journeys open WebSockets, and the probe functions' cold start should not pay for
        # websockets (and the asyncio it pulls in): see bench/cold_start.py.
        from websockets.exceptions import InvalidHandshake, InvalidStatus, WebSocketException
        from websockets.sync.client import connect as ws_connect

        budget, run_limited = deadline.bound(timeout_s, f"WebSocket {url}")
        started = time.perf_counter()
        ssl_context = None
        if url.startswith("wss://"):
            ssl_context = ssl.create_default_context(cafile=self._verify if isinstance(self._verify, str) else None)
        try:
            with ws_connect(url, open_timeout=budget, close_timeout=1.0, ssl=ssl_context,
                            additional_headers=self._headers_for(url, headers), user_agent_header=USER_AGENT,
                            max_size=self.max_body_bytes) as conn:
                connected = (time.perf_counter() - started) * 1000
                remaining = max(0.05, budget - connected / 1000)
                try:
                    message = conn.recv(timeout=remaining)
                except TimeoutError as exc:
                    if run_limited:
                        raise DeadlineExceeded(f"deadline reached waiting for a message on {url}") from exc
                    raise CheckFailed(Reason.WS_NO_MESSAGE, f"{url} upgraded but sent nothing within {budget:.1f} s",
                                      {"url": url}) from exc
                first = (time.perf_counter() - started) * 1000
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise CheckFailed(Reason.WS_REFUSED, f"WebSocket upgrade refused with HTTP {status}",
                              {"url": url, "status": status}) from exc
        except (InvalidHandshake, WebSocketException) as exc:
            raise CheckFailed(Reason.WS_REFUSED, f"WebSocket handshake failed: {type(exc).__name__}",
                              {"url": url}) from exc
        except ssl.SSLError as exc:
            raise CheckFailed(Reason.TLS_ERROR, f"TLS failed for {url}: {exc}"[:300], {"url": url}) from exc
        except TimeoutError as exc:
            if run_limited:
                raise DeadlineExceeded(f"deadline reached opening {url}") from exc
            raise TransientFailure(Reason.HTTP_TIMEOUT, f"WebSocket {url} did not open within {budget:.1f} s",
                                   {"url": url}) from exc
        except socket.gaierror as exc:
            raise CheckFailed(Reason.DNS_ERROR, f"DNS lookup failed for {url}", {"url": url}) from exc
        except OSError as exc:
            raise TransientFailure(Reason.WS_REFUSED, f"WebSocket connection to {url} failed: {type(exc).__name__}",
                                   {"url": url}) from exc
        text = message if isinstance(message, str) else message.decode("utf-8", errors="replace")
        return text, connected, first
