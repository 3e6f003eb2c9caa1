"""The edit container (``webordinary/claude-code-astro``) as three listening ports behind the local ALB.

Port 8080 is the Express API (``/api/*``), 4321 the Astro dev server (``/session/*``, ``/_astro/*``,
``/preview/*``), 4322 Vite's HMR WebSocket (``/ws/*``) — target-surface §2.2 and §2.3. The container exists only
while the edit service has a running task (read from moto through the control seam, so whoever scales the
service decides), and it is ready unless ``container_never_ready`` is on: then the API answers but its health
is 503 and Astro/HMR accept nothing (the ALB turns that into 502), as seen in sprint 3.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable

from sandbox.alb import HttpRequest, HttpResponse, WebSocketAccept, html_response, json_response, text_response
from sandbox.control import PlatformControl
from sandbox.faults import Faults

EXPRESS_HEADERS = (("X-Powered-By", "Express"),)
_SESSION_PATH = re.compile(r"^/session/([^/]+)/?$")


class EditContainer:
    """The container's state; its ports are the ``api``, ``astro`` and ``hmr`` listeners."""

    def __init__(
        self,
        control: PlatformControl,
        faults: Faults,
        *,
        session_exists: Callable[[str], bool],
        task_ips: Callable[[], list[str]] | None = None,
        fallback_ip: str = "10.0.2.47",
    ) -> None:
        self._control = control
        self._faults = faults
        self._session_exists = session_exists
        self._task_ips = task_ips
        self._fallback_ip = fallback_ip
        self.api = _ApiPort(self)
        self.astro = _AstroPort(self)
        self.hmr = _HmrPort(self)

    @property
    def container_ip(self) -> str:
        """The running task's private IP (what Hermes records as containerIp), when the AWS side knows it."""
        ips = self._task_ips() if self._task_ips is not None else []
        return ips[0] if ips else self._fallback_ip

    def running(self) -> bool:
        """A task of the edit service is RUNNING (ECS's view, from moto)."""
        _desired, running = self._control.service_counts(self._control.resources.edit_service)
        return running > 0

    def ready(self) -> bool:
        """Running and serving: the API is healthy and Astro and HMR accept connections."""
        return self.running() and not self._faults.active("container_never_ready")

    def session_exists(self, session_id: str) -> bool:
        return self._session_exists(session_id)

    def refuses_websockets(self) -> bool:
        return self._faults.active("ws_refused")

    def state(self) -> dict[str, object]:
        return {"running": self.running(), "ready": self.ready(), "container_ip": self.container_ip}


def _express_not_found(request: HttpRequest) -> HttpResponse:
    # Express's default 404 page.
    body = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n'
        f"<body>\n<pre>Cannot {request.method} {html.escape(request.path)}</pre>\n</body>\n</html>\n"
    )
    return html_response(404, body, headers=EXPRESS_HEADERS)


class _ApiPort:
    """Express on :8080 (``/api/health`` from e90aa42)."""

    def __init__(self, container: EditContainer) -> None:
        self._c = container

    def listening(self) -> bool:
        return self._c.running()

    def handle(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/api/health" and request.method in ("GET", "HEAD"):
            if not self._c.ready():
                return json_response(
                    503, {"status": "unhealthy", "astro": "not running"}, headers=EXPRESS_HEADERS
                )
            return json_response(200, {"status": "healthy"}, headers=EXPRESS_HEADERS)
        return _express_not_found(request)


class _AstroPort:
    """The Astro dev server on :4321: the session's live preview."""

    def __init__(self, container: EditContainer) -> None:
        self._c = container

    def listening(self) -> bool:
        return self._c.ready()

    def handle(self, request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return text_response(404, "Not Found")
        if request.path.startswith("/_astro/"):
            return HttpResponse(200, b"body{font-family:sans-serif}\n", "text/css; charset=utf-8")
        match = _SESSION_PATH.match(request.path)
        if match and self._c.session_exists(match.group(1)):
            return html_response(200, _preview_page(match.group(1)))
        return html_response(404, _astro_404_page(request.path))


def _preview_page(session_id: str) -> str:
    sid = html.escape(session_id)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
        '<meta charset="utf-8">\n<meta name="generator" content="Astro v4.13.1">\n'
        '<script type="module" src="/@vite/client"></script>\n'
        '<link rel="stylesheet" href="/_astro/index.css">\n'
        f"<title>Amelia Stamps — editing session {sid}</title>\n</head>\n"
        f'<body data-session-id="{sid}">\n<main><h1>Amelia Stamps</h1>\n'
        f"<p>Live preview of session {sid}</p></main>\n</body>\n</html>\n"
    )


def _astro_404_page(path: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>404: Not found</title></head>\n'
        f"<body><h1>404: Not found</h1><p>Path: {html.escape(path)}</p></body>\n</html>\n"
    )


class _HmrPort:
    """Vite's HMR WebSocket server on :4322."""

    def __init__(self, container: EditContainer) -> None:
        self._c = container

    def listening(self) -> bool:
        return self._c.ready()

    def handle(self, request: HttpRequest) -> HttpResponse | WebSocketAccept:
        if not request.wants_websocket:
            return text_response(426, "Upgrade Required")
        if self._c.refuses_websockets():
            return text_response(403, "Forbidden")
        return WebSocketAccept(HmrSession(request.query.get("sessionId")), subprotocols=("vite-hmr", "vite-ping"))


class HmrSession:
    """One HMR client: Vite greets with ``{"type":"connected"}`` and answers the client's keep-alive pings."""

    def __init__(self, session_id: str | None) -> None:
        self.session_id = session_id

    def on_open(self) -> list[str]:
        return [json.dumps({"type": "connected"})]

    def on_message(self, text: str) -> list[str]:
        try:
            message = json.loads(text)
        except ValueError:
            return []
        if isinstance(message, dict) and message.get("type") == "ping":
            return [json.dumps({"type": "pong"})]
        return []
