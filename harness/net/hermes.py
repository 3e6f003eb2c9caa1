"""Every URL the canary builds from a session id: the one place where data becomes an address (DESIGN §1).

A session id comes from a table or a Hermes answer, so it is untrusted. It is accepted only if it looks like an
id (``plausible_session_id``) and is then percent-encoded as exactly one path segment (or one query value), so
no id — ``<real-id>/deactivate?x=``, ``x/../<real-id>``, ``%2e%2e`` — can make a request address another
session. An implausible id raises ``ImplausibleSessionId`` before any byte is sent; callers report it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

# Hermes ids seen on the platform: ``session-<uuid>``, the seed's ``TEST_<ms>_<rand9>``. Letters, digits and
# ``_ . : -``, starting with a letter or digit (so never ``.`` or ``..``), at most 128 characters.
_PLAUSIBLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")


class ImplausibleSessionId(ValueError):
    """A session id that is not a plausible id: it is refused and never sent."""

    def __init__(self, session_id: object) -> None:
        text = session_id if isinstance(session_id, str) else repr(session_id)
        shown = text[:40].encode("unicode_escape").decode("ascii")
        super().__init__(f"implausible session id {shown!r}{'…' if len(text) > 40 else ''} "
                         f"({len(text)} chars): refused, nothing sent")
        self.session_id = session_id


def plausible_session_id(session_id: object) -> bool:
    """True for ids that may be put in a URL (after encoding): see ``_PLAUSIBLE_ID``."""
    return isinstance(session_id, str) and _PLAUSIBLE_ID.fullmatch(session_id) is not None


def session_segment(session_id: object) -> str:
    """The id as one percent-encoded path segment, or ``ImplausibleSessionId``."""
    if not plausible_session_id(session_id):
        raise ImplausibleSessionId(session_id)
    assert isinstance(session_id, str)
    return quote(session_id, safe="")


@dataclass(frozen=True)
class HermesRoutes:
    """Hermes's session API under its base URL (``CanaryConfig.hermes_base``, e.g. ``https://edit…/hermes``)."""

    base: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "base", self.base.rstrip("/"))

    @property
    def health(self) -> str:
        return f"{self.base}/health"

    @property
    def activate(self) -> str:
        return f"{self.base}/api/sessions/activate"

    def session(self, session_id: object, action: str) -> str:
        """``…/api/sessions/{id}/{action}`` for action status, keepalive or deactivate."""
        if action not in _SESSION_ACTIONS:
            raise ValueError(f"unknown Hermes session action {action!r}")
        return f"{self.base}/api/sessions/{session_segment(session_id)}/{action}"

    def status(self, session_id: object) -> str:
        return self.session(session_id, "status")

    def keepalive(self, session_id: object) -> str:
        return self.session(session_id, "keepalive")

    def deactivate(self, session_id: object) -> str:
        return self.session(session_id, "deactivate")


_SESSION_ACTIONS = frozenset({"status", "keepalive", "deactivate"})


def preview_path(session_id: object) -> str:
    """The ALB's preview path for a session: ``/session/{id}``."""
    return f"/session/{session_segment(session_id)}"


def hmr_query(session_id: object) -> str:
    """The HMR WebSocket's path and query for a session: ``/ws/hmr?sessionId={id}``."""
    return f"/ws/hmr?sessionId={session_segment(session_id)}"
