"""Data never becomes an address (DESIGN §1): every session URL is built by ``harness.net.hermes``.

The property: for ANY id text, either the id is refused before anything is sent, or the URL that requests would
put on the wire (after its own normalisation: dot segments removed, invalid characters encoded) addresses
exactly ``<hermes>/api/sessions/<that id>/<action>`` — one path segment, no query, no fragment — so no id can
reach another session's path.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.net.hermes import HermesRoutes, ImplausibleSessionId, hmr_query, plausible_session_id, preview_path

REAL = "session-7f3c2a9e-platform"
HOSTILE = [
    f"{REAL}/deactivate?x=", f"x/../{REAL}", f"../{REAL}", f"{REAL}#", f"{REAL}?", f"{REAL}/", "..", ".",
    f"%2e%2e/{REAL}", f"x%2F..%2F{REAL}", f"{REAL}\r\nHost: evil", f"{REAL}\x00", f" {REAL}", f"{REAL};x",
    f"\\..\\{REAL}", "", "a" * 129, f"{REAL}/keepalive", f"{REAL}%23", f"x/./{REAL}",
    "\uff53\uff45\uff53\uff53\uff49\uff4f\uff4e",  # "session" in fullwidth letters
]
ACTIONS = ("status", "keepalive", "deactivate")
hostile_text = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from([*"./?#%&=;\\ \t\r\n", "..", REAL, "%2e", "%2f", "a", "Z", "_"]),
             max_size=12).map("".join),
    st.sampled_from(HOSTILE),
    st.builds(lambda a, b: f"{a}{REAL}{b}", st.text(max_size=6), st.text(max_size=6)),
)


def wire_url(url: str) -> str:
    """The URL requests really sends (its own preparation and urllib3's normalisation)."""
    return str(requests.Request("POST", url).prepare().url)


@pytest.mark.parametrize("session_id", HOSTILE)
def test_hostile_ids_are_refused_before_anything_is_built(session_id: str) -> None:
    routes = HermesRoutes("https://edit.example.test/hermes")
    with pytest.raises(ImplausibleSessionId) as raised:
        routes.deactivate(session_id)
    assert "refused" in str(raised.value)
    with pytest.raises(ImplausibleSessionId):
        preview_path(session_id)
    with pytest.raises(ImplausibleSessionId):
        hmr_query(session_id)


@pytest.mark.parametrize("session_id", [REAL, "TEST_1733500000000_abc123xyz", "session-0f8fad5b-d9cb-469f-a165",
                                        "a", "a.b:c_d-e", "a..b"])
def test_plausible_ids_address_exactly_their_own_path(session_id: str) -> None:
    url = wire_url(HermesRoutes("https://edit.example.test/hermes/").status(session_id))
    assert unquote(url) == f"https://edit.example.test/hermes/api/sessions/{session_id}/status"


@settings(max_examples=400, deadline=None)
@given(session_id=hostile_text, action=st.sampled_from(ACTIONS))
def test_no_id_reaches_another_sessions_path(session_id: str, action: str) -> None:
    routes = HermesRoutes("https://edit.example.test/hermes")
    try:
        built = routes.session(session_id, action)
    except ImplausibleSessionId:
        assert not plausible_session_id(session_id)
        return
    sent = urlsplit(wire_url(built))
    assert (sent.query, sent.fragment) == ("", "")
    segments = sent.path.split("/")
    assert segments[:4] == ["", "hermes", "api", "sessions"] and segments[5:] == [action], sent.path
    assert unquote(segments[4]) == session_id  # the one segment is the id itself, nothing else


@settings(max_examples=200, deadline=None)
@given(session_id=hostile_text)
def test_preview_and_websocket_addresses_hold_the_id_alone(session_id: str) -> None:
    try:
        path, query = preview_path(session_id), hmr_query(session_id)
    except ImplausibleSessionId:
        return
    sent = urlsplit(wire_url("https://edit.example.test" + path))
    assert sent.path.split("/")[1:] == ["session", session_id] and sent.query == ""
    ws = urlsplit(wire_url("https://edit.example.test" + query))
    assert ws.path == "/ws/hmr" and ws.query == f"sessionId={session_id}" and ws.fragment == ""
