"""Property tests of the Lambda event parsers: any JSON an operator (or a broken rule) sends gives either a
valid request or EventInvalid naming the fields — never another exception, never an echoed value."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.events import CanaryRequest, EventInvalid, SweepRequest, parse_canary_event, parse_sweep_event
from harness.contract import all_check_ids

KNOWN = all_check_ids()
SECRET = "3f9a1c7e5b2d4a6f8e0c1b3d5f7a9c2e4b6d8f0a"  # shaped like a real API token

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20),
                         st.just(SECRET))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=12)
# Events shaped like requests: the real keys (and some others) with arbitrary values, so validation is exercised
# beyond "not an object".
keys = st.sampled_from(["tiers", "checks", "profile", "dry_run", "selftest", "older_than_minutes", "detail",
                        "detail-type", "source", "verbose", SECRET])
request_like = st.dictionaries(keys, st.one_of(json_values, st.lists(st.sampled_from([*KNOWN, "probe", "journey",
                                                                                    "bogus.check", SECRET]),
                                                                    max_size=3)),
                               max_size=5)
events = st.one_of(json_values, request_like)


def _assert_invalid_is_well_formed(exc: EventInvalid) -> None:
    assert exc.details, "an invalid event must say what is wrong"
    for detail in exc.details:
        assert set(detail) == {"field", "message"}
        assert detail["field"] and detail["message"]
    # the offending value is never echoed back (a pasted secret must not reappear in the response or logs)
    assert SECRET not in str(exc.details)
    assert len(exc.details) <= 21 and len(str(exc.details)) < 8_000


@settings(max_examples=400, deadline=None)
@given(events)
def test_canary_event_is_a_request_or_a_named_validation_error(event: Any) -> None:
    try:
        request = parse_canary_event(event, known_checks=KNOWN)
    except EventInvalid as exc:
        _assert_invalid_is_well_formed(exc)
        return
    assert isinstance(request, CanaryRequest)
    assert request.checks is None or set(request.checks) <= set(KNOWN)
    assert not (request.tiers is not None and request.checks is not None)


@settings(max_examples=300, deadline=None)
@given(events)
def test_sweep_event_is_a_request_or_a_named_validation_error(event: Any) -> None:
    try:
        request = parse_sweep_event(event)
    except EventInvalid as exc:
        _assert_invalid_is_well_formed(exc)
        return
    assert isinstance(request, SweepRequest)
    assert request.older_than_minutes is None or 0 < request.older_than_minutes <= 7 * 24 * 60
