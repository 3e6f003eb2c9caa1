"""HTTP and WebSocket probing with explicit, deadline-bounded timeouts, capped reads and phase timings.

TLS verification is always on (an optional CA bundle may be given, never ``verify=False``). Every transport
failure maps to its own reason code; connection resets/refusals and read timeouts are transient (the runner
may retry the check once). Every step also has a wall-clock bound: a watchdog alarm (``harness.net.watchdog``)
shuts its sockets down when ``min(timeout, deadline)`` passes, because socket timeouts restart with each byte
of a dripping status line, header block, ``100 Continue`` stream or TLS handshake. A request that cannot be
sent as given (a header value with a newline, a malformed URL) is the canary's fault: ERROR ``config_invalid``
naming the setting, and not one byte leaves the machine.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from harness.core.deadline import Deadline
from harness.core.errors import CanaryError, CheckFailed, DeadlineExceeded, TransientFailure, Verdict
from harness.core.model import Reason
from harness.net.tls_evidence import EVIDENCE_TIMEOUT_S, client_context, in_handshake, tls_verdict
from harness.net.watchdog import WATCHDOG, Alarm

USER_AGENT = "webordinary-canary/1"
_CHUNK = 16_384
# Raised while preparing a request, before a byte is sent: the canary's own input is wrong.
_UNSENDABLE = (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
               requests.exceptions.InvalidSchema, requests.exceptions.URLRequired)


@dataclass(frozen=True)
class HttpResponse:
    """What came back, with timings: ``ttfb`` (request sent → headers) and ``transfer`` (body read)."""

    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    elapsed_ms: float
    phases_ms: Mapping[str, float] = field(default_factory=dict)
    # The app's redactor (``Redactor.text``): an excerpt is redacted before it is cut (issue 14.6).
    redact: Callable[[str], str] = field(default=str, repr=False, compare=False)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def excerpt(self, limit: int = 300) -> str:
        """The start of the body for evidence: redacted first, then cut, so a secret straddling the cut leaks
        nothing (cutting first left the secret's head, which no redactor can recognise)."""
        return self.redact(self.text)[:limit]

    def json(self) -> Any:
        """The body as JSON, or FAILED ``body_invalid`` naming the URL."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CheckFailed(Reason.BODY_INVALID, f"{self.url} answered {self.status} with a body that is not JSON",
                              {"url": self.url, "status": self.status, "body": self.excerpt(200)}) from exc


def status_verdict(response: HttpResponse, what: str) -> CheckFailed:
    """A FAILED verdict for an unexpected status (5xx and 4xx have their own codes)."""
    if response.status >= 500:
        reason = Reason.HTTP_5XX
    elif response.status >= 400:
        reason = Reason.HTTP_4XX
    else:
        reason = Reason.HTTP_STATUS
    return CheckFailed(reason, f"{what} answered HTTP {response.status}",
                       {"url": response.url, "status": response.status, "body": response.excerpt(300)})


# -- the watchdog's view of urllib3's sockets ------------------------------------------------------------------
# The alarm of the step running on this thread; urllib3 reports every socket it opens or reuses to it.
_CURRENT = threading.local()


def _current_alarm() -> Alarm | None:
    alarm: Alarm | None = getattr(_CURRENT, "alarm", None)
    return alarm


def _watch_conn(conn: Any) -> None:
    alarm, sock = _current_alarm(), getattr(conn, "sock", None)
    if alarm is not None and sock is not None:
        alarm.watch(conn, sock)


def _unwatch_conn(conn: Any) -> None:
    alarm = _current_alarm()
    if alarm is not None and conn is not None:
        alarm.unwatch(conn)


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        alarm = _current_alarm()
        if alarm is not None:
            alarm.watch(self, sock)  # before TLS takes it over: the handshake is bounded too
        return sock


class _WatchedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        alarm = _current_alarm()
        if alarm is not None:
            alarm.watch(self, sock)
        return sock


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)
        _watch_conn(conn)  # a kept-alive connection: its socket already exists
        return conn

    def _put_conn(self, conn: Any) -> None:
        _unwatch_conn(conn)  # back in the pool, it may serve another step: this alarm must not touch it
        super()._put_conn(conn)


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)
        _watch_conn(conn)
        return conn

    def _put_conn(self, conn: Any) -> None:
        _unwatch_conn(conn)
        super()._put_conn(conn)


_WATCHED_POOLS: dict[str, type[HTTPConnectionPool]] = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _WatchedAdapter(HTTPAdapter):
    """requests' adapter whose connection pools report their sockets to the step's alarm."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is urllib3.ProxyManager:  # (SOCKS managers keep their own pool classes)
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


@contextmanager
def _bounded(deadline: Deadline, budget: float) -> Iterator[Alarm]:
    """An alarm for one step, due after ``budget`` s (sooner if the run is cancelled), current on this thread."""
    alarm = WATCHDOG.alarm(budget)
    unsubscribe: Callable[[], None] | None = None
    if deadline.cancellation is not None:
        unsubscribe = deadline.cancellation.on_fire(lambda: alarm.tighten(time.monotonic() + deadline.remaining()))
    previous = _current_alarm()
    _CURRENT.alarm = alarm
    try:
        yield alarm
    finally:
        _CURRENT.alarm = previous
        if unsubscribe is not None:
            unsubscribe()
        alarm.release()


def _invalid_header(name: str, value: str) -> str | None:
    """Why ``name: value`` cannot be sent as given (None if it can); never quotes the value (it may be a secret)."""
    try:
        requests.utils.check_header_validity((name, value))
    except requests.exceptions.InvalidHeader:
        return "a control character (e.g. a newline) or surrounding whitespace"
    try:
        value.encode("latin-1")
        name.encode("ascii")
    except UnicodeEncodeError:
        return "characters that HTTP headers cannot carry"
    return None


def _root_cause(exc: BaseException) -> BaseException:
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        nxt = seen.__cause__ or seen.__context__
        if nxt is None or nxt is seen:
            break
        seen = nxt
    return seen


def _url_settings_hint(url: str) -> str:
    """Where a bad URL most likely came from: the settings that URLs are built from."""
    try:
        host = urlsplit(url).netloc if "://" in url else ""
    except ValueError:
        host = ""
    return "the URL settings (WEBORDINARY_BASE_URL, HERMES_URL, SITE_URLS)" + (f"; host {host!r}" if host else "")


class HttpClient:
    """One ``requests.Session`` shared by all checks (connection reuse), explicit timeouts on every call.

    The default session's adapters report their sockets to the watchdog; a ``session`` passed in (tests, benches)
    keeps its own adapters, so its steps are bounded by the socket timeouts only.
    """

    def __init__(self, session: requests.Session | None = None, *, max_body_bytes: int = 1_048_576,
                 ca_bundle: str | None = None, max_redirects: int = 5,
                 redact: Callable[[str], str] = str) -> None:
        """``redact``: the app's redactor, applied to every body excerpt before it is cut."""
        self._redact = redact
        if session is None:
            session = requests.Session()
            session.mount("http://", _WatchedAdapter())
            session.mount("https://", _WatchedAdapter())
        self._session = session
        self._session.headers["User-Agent"] = USER_AGENT
        self._session.max_redirects = max_redirects
        self._verify: bool | str = ca_bundle or True
        self.max_body_bytes = max_body_bytes
        self._auth: list[tuple[str, dict[str, str]]] = []
        self._settings: dict[str, str] = {}  # auth header name -> the setting its value comes from
        # requests keeps every header on a same-host redirect: re-scope the add_auth headers at each hop.
        self._session.rebuild_auth = self._rebuild_auth(self._session.rebuild_auth)  # type: ignore[method-assign]

    def add_auth(self, url_prefix: str, headers: Mapping[str, str], *, setting: str | None = None) -> None:
        """Send ``headers`` (e.g. the Hermes bearer token) only to URLs under ``url_prefix``.

        ``setting`` names where the values come from (e.g. ``HERMES_API_TOKEN_SECRET``), for the error an
        unsendable value raises.
        """
        self._auth.append((url_prefix.rstrip("/") + "/", dict(headers)))
        if setting:
            self._settings.update(dict.fromkeys(headers, setting))

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
        """Send one request; the whole exchange (connect, headers, body) fits in ``min(timeout_s, deadline)``.

        The watchdog holds that bound even when the server drips; a request that cannot be sent as given is an
        ERROR ``config_invalid`` raised before anything is sent.
        """
        outgoing = self._headers_for(url, headers)
        self._check_sendable(url, outgoing)
        budget, run_limited = deadline.bound(timeout_s, f"{method} {url}")
        call_deadline = deadline.child(budget)
        started = time.perf_counter()
        with _bounded(deadline, budget) as alarm:
            try:
                response = self._session.request(method, url, json=json_body, headers=outgoing,
                                                  timeout=(min(budget, 5.0), budget), stream=True,
                                                  allow_redirects=allow_redirects, verify=self._verify)
            except requests.exceptions.RequestException as exc:
                if alarm.fired:
                    raise self._fired_verdict(exc, url, budget, run_limited or deadline.cancelled) from exc
                raise self._transport_verdict(exc, url, budget, run_limited) from exc
            except (ValueError, UnicodeError) as exc:  # raised while encoding the request: nothing was sent
                raise self._unsendable(url, exc) from exc
            try:
                ttfb = (time.perf_counter() - started) * 1000
                body = self._read_capped(response, url, call_deadline, budget, run_limited, alarm)
                if alarm.fired:  # the watchdog ended the body early: what was read is not the whole answer
                    raise self._timeout(url, budget, run_limited or deadline.cancelled, "while reading the body")
            finally:
                response.close()
        total = (time.perf_counter() - started) * 1000
        return HttpResponse(url=url, status=response.status_code, headers=dict(response.headers), body=body,
                            elapsed_ms=total, phases_ms={"ttfb": ttfb, "transfer": total - ttfb},
                            redact=self._redact)

    def get(self, url: str, *, deadline: Deadline, timeout_s: float,
            headers: Mapping[str, str] | None = None) -> HttpResponse:
        return self.request("GET", url, deadline=deadline, timeout_s=timeout_s, headers=headers)

    def post(self, url: str, *, deadline: Deadline, timeout_s: float, json_body: Any = None,
             headers: Mapping[str, str] | None = None) -> HttpResponse:
        return self.request("POST", url, deadline=deadline, timeout_s=timeout_s, json_body=json_body,
                            headers=headers)

    def _check_sendable(self, url: str, outgoing: Mapping[str, str]) -> None:
        for name, value in outgoing.items():
            problem = _invalid_header(str(name), str(value))
            if problem is not None:
                setting = self._settings.get(name)
                fix = f"fix {setting}" if setting else "fix the value the canary was given"
                raise CanaryError(Reason.CONFIG_INVALID,
                                  f"the {name} header for {url} contains {problem}; nothing was sent: {fix}",
                                  {"url": url, "header": name, **({"setting": setting} if setting else {})})

    def _unsendable(self, url: str, exc: BaseException) -> CanaryError:
        """A request refused before it left the machine: the canary's input is wrong, not the target."""
        setting = next(iter(sorted(set(self._settings.values()))), None) if isinstance(
            exc, requests.exceptions.InvalidHeader) else None
        what = "a header value" if setting else "the URL"
        fix = setting or _url_settings_hint(url)
        return CanaryError(Reason.CONFIG_INVALID,
                           f"request to {url} cannot be sent ({type(exc).__name__}: {what} is invalid); nothing "
                           f"was sent: fix {fix}", {"url": url, "error": type(exc).__name__, "setting": fix})

    def _read_capped(self, response: requests.Response, url: str, call_deadline: Deadline, budget: float,
                     run_limited: bool, alarm: Alarm | None = None) -> bytes:
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
            raise self._timeout(url, budget, run_limited or call_deadline.cancelled, "while reading the body") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if alarm is not None and alarm.fired:
                raise self._timeout(url, budget, run_limited or call_deadline.cancelled,
                                    "while reading the body") from exc
            raise TransientFailure(Reason.CONNECTION_ERROR, f"connection to {url} broke while reading the body: "
                                   f"{type(exc).__name__}", {"url": url, "error": type(exc).__name__}) from exc
        return b"".join(chunks)

    def _fired_verdict(self, exc: BaseException, url: str, budget: float,
                       run_limited: bool) -> CheckFailed | DeadlineExceeded:
        """The verdict once the watchdog shut the step's sockets: its budget ran out, whatever broke after."""
        if not run_limited and in_handshake(_root_cause(exc)):  # the TLS server dripped or stalled its handshake
            return tls_verdict(url, _root_cause(exc), stalled_after_s=budget)
        return self._timeout(url, budget, run_limited, "waiting for the response")

    @staticmethod
    def _timeout(url: str, budget: float, run_limited: bool, when: str) -> CheckFailed | DeadlineExceeded:
        if run_limited:
            return DeadlineExceeded(f"deadline reached {when} from {url}", {"url": url})
        return TransientFailure(Reason.HTTP_TIMEOUT, f"{url} did not answer within {budget:.1f} s ({when})",
                                {"url": url, "timeout_s": round(budget, 2)})

    def _transport_verdict(self, exc: requests.exceptions.RequestException, url: str, budget: float,
                           run_limited: bool) -> CheckFailed | DeadlineExceeded | CanaryError:
        evidence = {"url": url, "error": type(exc).__name__}
        if isinstance(exc, _UNSENDABLE):
            return self._unsendable(url, exc)
        if isinstance(exc, requests.exceptions.SSLError):
            return tls_verdict(url, _root_cause(exc), timeout_s=min(EVIDENCE_TIMEOUT_S, budget))
        if isinstance(exc, requests.exceptions.TooManyRedirects):
            return CheckFailed(Reason.REDIRECT_LOOP, f"{url} redirects in a loop", evidence)
        if isinstance(exc, requests.exceptions.Timeout):
            if not run_limited and in_handshake(_root_cause(exc)):  # TCP connected, the TLS server never answered
                return tls_verdict(url, _root_cause(exc), stalled_after_s=min(budget, 5.0))
            return self._timeout(url, budget, run_limited, "waiting for the response")
        if isinstance(exc, requests.exceptions.ConnectionError):
            cause = _root_cause(exc)
            if isinstance(cause, socket.gaierror) or "Name or service not known" in str(cause):
                return CheckFailed(Reason.DNS_ERROR, f"DNS lookup failed for {url}", evidence)
            if isinstance(cause, ssl.SSLError):
                return tls_verdict(url, cause, timeout_s=min(EVIDENCE_TIMEOUT_S, budget))
            return TransientFailure(Reason.CONNECTION_ERROR, f"connection to {url} failed: {type(cause).__name__}",
                                    evidence)
        return CheckFailed(Reason.CONNECTION_ERROR, f"request to {url} failed: {type(exc).__name__}", evidence)

    def websocket_hello(self, url: str, *, deadline: Deadline, timeout_s: float,
                        headers: Mapping[str, str] | None = None) -> tuple[str, float, float]:
        """Open a WebSocket, wait for the first server message; returns (message, connect_ms, first_msg_ms).

        The whole hello (TCP, TLS, upgrade, first message) is held to ``min(timeout_s, deadline)`` by the watchdog.
        """
        outgoing = self._headers_for(url, headers)
        self._check_sendable(url, outgoing)
        budget, run_limited = deadline.bound(timeout_s, f"WebSocket {url}")
        started = time.perf_counter()
        ssl_context = None
        if url.startswith("wss://"):
            ssl_context = client_context(self._verify if isinstance(self._verify, str) else None)
        with _bounded(deadline, budget) as alarm:
            opened = threading.Event()
            try:
                return self._websocket_hello(url, outgoing, ssl_context, budget, run_limited, started, alarm, opened)
            except Verdict:
                raise
            except Exception as exc:
                raise self._ws_verdict(exc, url, budget, run_limited or deadline.cancelled, alarm,
                                       opened.is_set()) from exc

    def _websocket_hello(self, url: str, outgoing: Mapping[str, str], ssl_context: ssl.SSLContext | None,
                         budget: float, run_limited: bool, started: float, alarm: Alarm,
                         opened: threading.Event) -> tuple[str, float, float]:
        # Imported here: only journeys open WebSockets, and the probe functions' cold start should not pay for
        # websockets (and the asyncio it pulls in): see bench/cold_start.py.
        from websockets.sync.client import connect as ws_connect

        # The canary opens the TCP connection itself, so the watchdog holds it from the first byte (the
        # library's open_timeout restarts with every byte of a dripped TLS handshake).
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "wss" else 80)
        sock = socket.create_connection((parts.hostname or "", port), timeout=min(budget, 5.0))
        alarm.watch(sock, sock)
        with ws_connect(url, sock=sock, open_timeout=budget, close_timeout=1.0, ssl=ssl_context,
                        additional_headers=outgoing, user_agent_header=USER_AGENT, ping_interval=None,
                        max_size=self.max_body_bytes) as conn:
            opened.set()
            connected = (time.perf_counter() - started) * 1000
            remaining = max(0.05, budget - connected / 1000)
            try:
                message = conn.recv(timeout=remaining)
            except TimeoutError as exc:
                raise self._ws_silent(url, budget, run_limited) from exc
            first = (time.perf_counter() - started) * 1000
        text = message if isinstance(message, str) else message.decode("utf-8", errors="replace")
        return text, connected, first

    @staticmethod
    def _ws_silent(url: str, budget: float, run_limited: bool) -> Verdict:
        if run_limited:
            return DeadlineExceeded(f"deadline reached waiting for a message on {url}", {"url": url})
        return CheckFailed(Reason.WS_NO_MESSAGE, f"{url} upgraded but sent nothing within {budget:.1f} s",
                           {"url": url})

    def _ws_verdict(self, exc: Exception, url: str, budget: float, run_limited: bool, alarm: Alarm,
                    opened: bool) -> Verdict:
        """Classify a failed WebSocket hello; once the watchdog fired, the budget ran out, whatever broke."""
        from websockets.exceptions import InvalidHandshake, InvalidStatus, WebSocketException

        if alarm.fired:
            if opened:
                return self._ws_silent(url, budget, run_limited)
            if run_limited:
                return DeadlineExceeded(f"deadline reached opening {url}", {"url": url})
            if in_handshake(_root_cause(exc)):  # the TLS server dripped or stalled its handshake
                return tls_verdict(url, _root_cause(exc), stalled_after_s=budget)
            return TransientFailure(Reason.HTTP_TIMEOUT, f"WebSocket {url} did not open within {budget:.1f} s",
                                    {"url": url, "timeout_s": round(budget, 2)})
        status_error = exc if isinstance(exc, InvalidStatus) else exc.__cause__
        if isinstance(status_error, InvalidStatus):  # (a redirect is refused too: the token stays on this host)
            status = status_error.response.status_code
            return CheckFailed(Reason.WS_REFUSED, f"WebSocket upgrade refused with HTTP {status}",
                               {"url": url, "status": status})
        if isinstance(exc, InvalidHandshake | WebSocketException):
            return CheckFailed(Reason.WS_REFUSED, f"WebSocket handshake failed: {type(exc).__name__}", {"url": url})
        if isinstance(exc, ssl.SSLError):
            return tls_verdict(url, exc, timeout_s=min(EVIDENCE_TIMEOUT_S, budget))
        if isinstance(exc, TimeoutError):
            if run_limited:
                return DeadlineExceeded(f"deadline reached opening {url}", {"url": url})
            if in_handshake(_root_cause(exc)):
                return tls_verdict(url, exc, stalled_after_s=budget)
            return TransientFailure(Reason.HTTP_TIMEOUT, f"WebSocket {url} did not open within {budget:.1f} s",
                                    {"url": url})
        if isinstance(exc, socket.gaierror):
            return CheckFailed(Reason.DNS_ERROR, f"DNS lookup failed for {url}", {"url": url})
        if isinstance(exc, OSError):
            return TransientFailure(Reason.WS_REFUSED, f"WebSocket connection to {url} failed: {type(exc).__name__}",
                                    {"url": url})
        if isinstance(exc, ValueError):  # e.g. a malformed ws:// URL: refused before anything was sent
            return self._unsendable(url, exc)
        raise exc
