"""The synthetic predicate, the guarded store, and the safety property: cleanup, the sweeper and the run lock
never delete or change an item without the test prefix (DESIGN §1).

The property drives the real code (``sweep``, ``retire_session``, the journey's undos, ``DynamoRunLock``)
against an in-memory table filled with generated mixtures of platform and synthetic items, including
near-miss user ids, shared session ids and non-string users. The table can be adversarial: it may ignore
FilterExpressions (so the scan returns platform items) and ConditionExpressions (so only the canary's own
client-side guard stands between it and a platform item).
"""

from __future__ import annotations

import contextlib
import copy
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checks.journeys import session_lifecycle
from harness.config import CanaryConfig
from harness.core.check import CheckContext
from harness.core.deadline import Deadline
from harness.core.errors import CanaryError
from harness.net.aws import AwsClients
from harness.net.http import HttpClient, HttpResponse
from harness.sessions.journey import Journey, JourneySession
from harness.sessions.run_lock import DynamoRunLock
from harness.sessions.sweeper import retire_session, sweep
from harness.sessions.synthetic import (
    KeySchema,
    SyntheticStore,
    WriteOutcome,
    discover_key_schema,
    is_lock,
    is_synthetic,
    is_typed,
    item_age_s,
    plain,
    run_id_of,
    typed,
)
from tests.unit.fake_dynamodb import FakeDynamoDB, FakeTable, evaluate

PREFIX = "TEST_"
TABLE = "sessions"
NOW = time.time()


# -- the predicate -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("user", "expected"), [
    ("TEST_canary-run-1@canary.webordinary.invalid", True),
    ("TEST_", True),
    ("TEST_x", True),
    ("test_x", False),  # case matters: the platform's own ids are never upper-case TEST_
    ("TEST", False),
    (" TEST_x", False),
    ("xTEST_", False),
    ("scott@ameliastamps.com", False),
    ("", False),
])
def test_predicate_is_a_case_sensitive_prefix_test_on_the_user(user: str, expected: bool) -> None:
    assert is_synthetic({"userId": user}, PREFIX) is expected
    assert is_synthetic({"userId": {"S": user}}, PREFIX) is expected


@pytest.mark.parametrize("item", [
    {}, {"sessionId": "TEST_x"}, {"userId": {"N": "5"}}, {"userId": None}, {"userId": ["TEST_x"]},
    {"userId": {"S": "TEST_x", "N": "1"}}, {"user": "TEST_x"},
])
def test_items_without_a_string_user_are_never_synthetic(item: dict[str, Any]) -> None:
    assert not is_synthetic(item, PREFIX)


def test_a_prefix_too_short_to_be_safe_is_refused() -> None:
    for prefix in ("", "T"):
        with pytest.raises(CanaryError):
            is_synthetic({"userId": "TEST_x"}, prefix)


def test_run_id_comes_from_the_marker_or_the_user_id_and_only_for_synthetic_items() -> None:
    assert run_id_of({"userId": "TEST_canary-run-20251101T000000Z-ab12cd34+c1@canary.webordinary.invalid"},
                     PREFIX) == "run-20251101T000000Z-ab12cd34"
    assert run_id_of({"userId": "TEST_canary-run-7@x"}, PREFIX) == "run-7"
    assert run_id_of({"userId": "TEST_canary-lock", "canary_run_id": {"S": "run-9"}}, PREFIX) == "run-9"
    assert run_id_of({"userId": "TEST_seed-user@example.com"}, PREFIX) is None
    assert run_id_of({"userId": "bob", "canary_run_id": "run-9"}, PREFIX) is None


def test_lock_marker_and_ages() -> None:
    assert is_lock({"canary_lock": {"BOOL": True}}) and is_lock({"canary_lock": True})
    assert not is_lock({"canary_lock": {"BOOL": False}}) and not is_lock({})
    created = datetime.fromtimestamp(NOW - 120, UTC).isoformat().replace("+00:00", "Z")
    assert item_age_s({"createdAt": {"S": created}}, NOW) == pytest.approx(120, abs=1)
    assert item_age_s({"lastActivity": {"N": str(int((NOW - 30) * 1000))}}, NOW) == pytest.approx(30, abs=1)
    assert item_age_s({"created_at": created}, NOW) == pytest.approx(120, abs=1)
    assert item_age_s({"createdAt": {"S": "not a date"}}, NOW) == float("inf")
    assert item_age_s({}, NOW) == float("inf")


def test_typed_and_plain_round_trip() -> None:
    item = typed({"sessionId": "s", "ttl": 12, "canary_lock": True, "skip": None})
    assert is_typed(item) and not is_typed({"sessionId": "s"})
    assert plain(item) == {"sessionId": "s", "ttl": 12, "canary_lock": True}


def test_key_schema_is_discovered_not_assumed() -> None:
    both = FakeDynamoDB(FakeTable(TABLE, "sessionId", "userId"))
    only = FakeDynamoDB(FakeTable(TABLE, "sessionId"))
    assert discover_key_schema(both, TABLE).attributes == ("sessionId", "userId")
    assert discover_key_schema(only, TABLE).attributes == ("sessionId",)
    schema = KeySchema("sessionId", None, {"sessionId": "S"})
    assert schema.key_from({"sessionId": "a", "userId": "b"}) == {"sessionId": {"S": "a"}}
    assert KeySchema("sessionId", "userId", {}).key_from({"sessionId": "a"}) is None


# -- the guarded store -------------------------------------------------------------------------------------------
def _store(table: FakeTable) -> SyntheticStore:
    return SyntheticStore.discover(FakeDynamoDB(table), TABLE, PREFIX)


def test_delete_refuses_a_platform_item_without_sending_anything() -> None:
    table = FakeTable(TABLE, "sessionId", "userId")
    platform = typed({"sessionId": "s1", "userId": "scott@ameliastamps.com", "status": "active"})
    table.add(platform)
    assert _store(table).delete(platform) is WriteOutcome.REFUSED
    assert table.writes == [] and len(table.items) == 1


def test_a_forged_synthetic_looking_item_cannot_reach_a_platform_item_on_the_server() -> None:
    # Hash-only schema: the key (sessionId) does not carry the user, so only DynamoDB's condition can tell.
    table = FakeTable(TABLE, "sessionId")
    table.add(typed({"sessionId": "s1", "userId": "scott@ameliastamps.com"}))
    forged = typed({"sessionId": "s1", "userId": "TEST_forged"})
    assert _store(table).delete(forged) is WriteOutcome.CONDITION_FAILED
    assert plain(table.items[("s1",)])["userId"] == "scott@ameliastamps.com"


def test_put_never_replaces_an_item_and_conditions_are_valid_dynamodb() -> None:
    table = FakeTable(TABLE, "sessionId", "userId")
    store = _store(table)
    item = typed({"sessionId": "TEST_x", "userId": "TEST_x"})
    assert store.put(item) is WriteOutcome.DONE
    assert store.put(item) is WriteOutcome.CONDITION_FAILED
    assert store.put(typed({"sessionId": "p", "userId": "bob"})) is WriteOutcome.REFUSED


def test_scan_reads_every_page_and_rechecks_each_item() -> None:
    table = FakeTable(TABLE, "sessionId", "userId", page_size=2, honour_filters=False)
    for n in range(9):
        table.add(typed({"sessionId": f"s{n}", "userId": f"TEST_{n}" if n % 2 else f"user{n}"}))
    found = sorted(plain(i)["sessionId"] for i in _store(table).scan_synthetic())
    assert found == ["s1", "s3", "s5", "s7"]


def test_the_fake_evaluates_the_canary_expressions() -> None:
    item = {"userId": {"S": "TEST_a"}, "ttl": {"N": "5"}, "status": {"S": "active"}}
    assert evaluate("begins_with(#u, :p)", item, {"#u": "userId"}, {":p": {"S": "TEST_"}})
    assert not evaluate("attribute_not_exists(#k)", item, {"#k": "userId"})
    assert evaluate("(attribute_not_exists(#k)) OR (#t < :n AND #s IN (:a, :b))", item,
                    {"#k": "userId", "#t": "ttl", "#s": "status"},
                    {":n": {"N": "6"}, ":a": {"S": "initializing"}, ":b": {"S": "active"}})
    assert not evaluate("#t < :n", item, {"#t": "ttl"}, {":n": {"S": "6"}})  # type mismatch is false


# -- the property -------------------------------------------------------------------------------------------------
class FakeHermes(HttpClient):
    """Hermes's deactivate as the seed wrote it: look the session up by id alone, mark the first item draining."""

    def __init__(self, table: FakeTable) -> None:
        super().__init__()
        self.table = table
        self.calls: list[tuple[str, str]] = []

    def request(self, method: str, url: str, *, deadline: Deadline, timeout_s: float, json_body: Any = None,
                headers: Any = None, allow_redirects: bool = True) -> HttpResponse:
        path = urlsplit(url).path
        self.calls.append((method, path))
        parts = path.rstrip("/").split("/")
        if method == "POST" and parts[-1] == "deactivate":
            session_id = parts[-2]
            matching = [k for k in sorted(self.table.items)
                        if plain(self.table.items[k]).get("sessionId") == session_id]
            if not matching:
                return HttpResponse(url, 404, {}, b'{"statusCode":404}', 1.0)
            self.table.items[matching[0]]["status"] = {"S": "draining"}
            return HttpResponse(url, 200, {}, b'{"status":"draining"}', 1.0)
        return HttpResponse(url, 404, {}, b"{}", 1.0)


def _iso_age(age_s: float) -> str:
    return datetime.fromtimestamp(NOW - age_s, UTC).isoformat().replace("+00:00", "Z")


_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=6)
_users = st.one_of(
    _text.map(lambda s: PREFIX + s),
    _text.map(lambda s: PREFIX + "canary-run-" + s + "@canary.webordinary.invalid"),
    _text.map(lambda s: PREFIX.lower() + s),
    _text.map(lambda s: PREFIX[:-1] + s),
    _text.map(lambda s: " " + PREFIX + s),
    _text.map(lambda s: s + PREFIX),
    st.sampled_from(["scott@ameliastamps.com", "TEST_canary-lock", "", "TEST"]),
    _text,
)
_session_ids = st.sampled_from(["s1", "s2", "s3", "s4", "TEST_canary-lock", "TEST_s5"])


@st.composite
def _item(draw: st.DrawFn, sort_key: bool) -> dict[str, Any]:
    values: dict[str, Any] = {"sessionId": draw(_session_ids), "status": draw(st.sampled_from(
        ["initializing", "active", "draining", "expired"]))}
    if sort_key or draw(st.booleans()):
        values["userId"] = draw(_users)
    elif draw(st.booleans()):
        values["userId"] = draw(st.integers(min_value=0, max_value=99))  # a number, not a string
    age = draw(st.sampled_from([None, 5.0, 7200.0]))
    if age is not None:
        values["createdAt"] = _iso_age(age)
    if draw(st.integers(min_value=0, max_value=4)) == 0:
        values.update(canary_lock=True, canary_run_id=draw(st.sampled_from(["run-a", "run-b"])),
                      ttl=int(NOW + draw(st.sampled_from([-60, 600]))))
    return typed(values)


@st.composite
def _scenario(draw: st.DrawFn) -> dict[str, Any]:
    sort_key = draw(st.booleans())
    items = draw(st.lists(_item(sort_key), max_size=14))
    known = [(plain(i).get("sessionId"), plain(i).get("userId")) for i in items]
    pairs = draw(st.lists(st.one_of(st.sampled_from(known) if known else st.nothing(),
                                    st.tuples(_session_ids, _users)), max_size=6))
    return {
        "sort_key": sort_key, "items": items, "pairs": [(s, u if isinstance(u, str) else None) for s, u in pairs],
        "page_size": draw(st.integers(min_value=1, max_value=4)),
        "honour_filters": draw(st.booleans()),
        "enforce_conditions": draw(st.booleans()),
        "older_than_s": draw(st.sampled_from([0.0, 3600.0])),
        "deactivated_earlier": draw(st.booleans()),
    }


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_scenario())
def test_cleanup_sweeper_and_lock_never_change_an_item_without_the_prefix(scenario: dict[str, Any]) -> None:
    table = FakeTable(TABLE, "sessionId", "userId" if scenario["sort_key"] else None,
                      page_size=scenario["page_size"], honour_filters=scenario["honour_filters"],
                      enforce_conditions=scenario["enforce_conditions"])
    for item in scenario["items"]:
        table.add(item)
    platform_before = {k: copy.deepcopy(v) for k, v in table.items.items() if not is_synthetic(v, PREFIX)}
    ddb = FakeDynamoDB(table)
    aws = AwsClients(factory=lambda _service: ddb)
    hermes = FakeHermes(table)
    config = CanaryConfig(base_url="https://edit.invalid", sessions_table=TABLE, test_prefix=PREFIX,
                          session_expiry_timeout_s=0.0)  # no drain wait in the undos here
    deadline = Deadline.after(60)

    # The sweeper (deactivate through Hermes, then delete leftovers).
    sweep(config, aws, hermes, deadline, dry_run=False, older_than_s=scenario["older_than_s"], drain_wait_s=0)
    # Cleanup: the journey's undos, called with arbitrary (session id, user id) pairs, synthetic or not.
    ctx = CheckContext(check=session_lifecycle, config=config, aws=aws, http=hermes, deadline=deadline,
                       run_id="run-prop")
    journey = Journey(ctx)
    store = SyntheticStore.discover(ddb, TABLE, PREFIX)
    for session_id, user_id in scenario["pairs"]:
        retire_session(store, hermes, config.hermes_base, session_id, user_id, deadline, timeout_s=1,
                       drain_wait_s=0)
        if user_id is not None:
            session = JourneySession(session_id, user_id, None, "initializing", time.perf_counter(),
                                     deactivated=scenario["deactivated_earlier"])
            with contextlib.suppress(CanaryError):  # refused or left over: a cleanup failure, never forced
                journey._retire(session, deadline)
            journey._retire_unknown(user_id, [], deadline)
    # The run lock. Its key is synthetic, but on a hash-only table a platform item could sit under it: only
    # DynamoDB's condition protects that one, so the lock is exercised only when conditions are enforced.
    if scenario["enforce_conditions"]:
        lock = DynamoRunLock(config, aws)
        if lock.acquire("run-prop", deadline) is None:
            lock.release("run-prop", deadline)

    for key, item in platform_before.items():
        assert table.items.get(key) == item, f"platform item {plain(item)} was changed or deleted"
    touched_by_hermes = [path.split("/")[-2] for method, path in hermes.calls if method == "POST"]
    for session_id in touched_by_hermes:
        under = [v for v in platform_before.values() if plain(v).get("sessionId") == session_id]
        assert not under, f"deactivate sent for {session_id}, which a platform item shares"
