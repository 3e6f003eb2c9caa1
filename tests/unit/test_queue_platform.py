"""Pure pieces of the queue-platform checks: queue roles by name, claim parsing, windows, percentiles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from harness.checks.ownership import parse_claim
from harness.checks.stepfunctions import p95
from harness.platform.queue_platform import Execution, as_utc, human_duration, queue_kind

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("name, kind", [
    ("webordinary-unclaimed", "unclaimed"),
    ("webordinary-input-amelia-scott.fifo", "input"),
    ("webordinary-interrupts-amelia-scott", "interrupts"),
    ("webordinary-dlq-amelia-scott.fifo", "dlq"),
    ("webordinary-dlq-amelia-scott", "dlq"),
    ("webordinary-intake-lambda-dlq", "dlq"),
    ("webordinary-email-dlq", "dlq"),
    ("webordinary-output-amelia-scott", "other"),
    ("webordinary-inputs-archive", "other"),  # a prefix match is not a role
    ("webordinary-dlqueue-notes", "other"),  # "dlq" must be a whole dash-separated token
])
def test_queue_role_comes_from_the_platform_naming(name: str, kind: str) -> None:
    assert queue_kind(name, "webordinary-") == kind


def test_claim_with_seconds_ttl_and_millisecond_activity() -> None:
    item = {"projectKey": {"S": "amelia#scott"}, "ttl": {"N": "1795003200"},
            "lastActivity": {"N": "1794999600000"}, "claimedAt": {"N": "1794990000000"},
            "containerId": {"S": "container-1794990000000-x7k2p9q"}}
    claim = parse_claim(item, "projectKey", "ttl")
    assert claim.key == "amelia#scott"
    assert claim.expires == datetime.fromtimestamp(1795003200, UTC)
    assert claim.last_seen == datetime.fromtimestamp(1794999600, UTC)  # lastActivity wins over claimedAt
    assert claim.task is None and claim.container == "container-1794990000000-x7k2p9q"


@pytest.mark.parametrize("attrs, task", [
    ({"taskArn": {"S": "arn:aws:ecs:us-west-2:942734823970:task/webordinary-edit-cluster/"
                        "0123456789abcdef0123456789abcdef"}},
     "arn:aws:ecs:us-west-2:942734823970:task/webordinary-edit-cluster/0123456789abcdef0123456789abcdef"),
    ({"containerId": {"S": "0123456789abcdef0123456789abcdef"}}, "0123456789abcdef0123456789abcdef"),
    ({"containerId": {"S": "container-1794990000000-x7k2p9q"}}, None),
    ({"containerId": {"S": "arn:aws:iam::942734823970:role/not-a-task"}}, None),
])
def test_a_claim_names_an_ecs_task_only_by_task_arn_or_task_id(attrs: dict[str, dict[str, str]],
                                                                task: str | None) -> None:
    claim = parse_claim({"projectKey": {"S": "amelia#scott"}, **attrs}, "projectKey", "ttl")
    assert claim.task == task


def test_claim_with_a_discovered_ttl_attribute_and_garbage_values() -> None:
    item = {"pk": {"S": "amelia#scott"}, "expiresAt": {"N": "not-a-number"}, "ttl": {"N": "1795003200"}}
    claim = parse_claim(item, "pk", "expiresAt")
    assert claim.key == "amelia#scott" and claim.expires is None and claim.last_seen is None


def test_an_execution_without_stop_date_counts_only_if_it_started_inside_the_window() -> None:
    since = NOW - timedelta(hours=1)
    inside = Execution("arn:1", "a", "TIMED_OUT", start=NOW - timedelta(minutes=30), stop=None)
    before = Execution("arn:2", "b", "TIMED_OUT", start=NOW - timedelta(hours=2), stop=None)
    ended = Execution("arn:3", "c", "FAILED", start=NOW - timedelta(hours=2), stop=NOW - timedelta(minutes=5))
    old = Execution("arn:4", "d", "FAILED", start=NOW - timedelta(hours=3), stop=NOW - timedelta(hours=2))
    assert [e.ended_since(since) for e in (inside, before, ended, old)] == [True, False, True, False]
    assert ended.duration_s == 6900.0 and inside.duration_s is None


def test_p95_is_nearest_rank() -> None:
    assert p95([]) is None
    assert p95([5.0]) == 5.0
    assert p95([float(v) for v in range(1, 21)]) == 19.0
    assert p95([float(v) for v in range(1, 101)]) == 95.0


@pytest.mark.parametrize("seconds, text", [(0, "0 s"), (45.4, "45 s"), (89, "89 s"), (90, "1 min"),
                                           (720, "12 min"), (3600, "1 h"), (7500, "2 h 5 min"), (-3, "0 s")])
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_as_utc_accepts_boto_datetimes_and_epochs() -> None:
    assert as_utc(datetime(2026, 11, 25, 12, 0)) == NOW  # naive = UTC
    assert as_utc(datetime(2026, 11, 25, 13, 0, tzinfo=UTC) - timedelta(hours=1)) == NOW
    assert as_utc(NOW.timestamp()) == NOW
    assert as_utc(NOW.timestamp() * 1000) == NOW
    assert as_utc("2026-11-25") is None and as_utc(True) is None
