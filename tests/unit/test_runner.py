"""The runner's promises, with checks declared here and in-memory fakes (no network).

Each test states one promise an operator relies on: checks run concurrently, an exception never escapes, a
transient network error is retried once and reported, refusals are SKIPPED with a reason that says what to set,
the deadline is kept even by a check that hangs, cleanups always run LIFO, secrets never reach the report,
and the run outcome / exit code follow DESIGN §9.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness.config import CanaryConfig, MaintenanceWindow
from harness.core.check import Check, CheckContext, check
from harness.core.deadline import Deadline, poll_until
from harness.core.errors import (
    CanaryError,
    CheckFailed,
    CheckSkipped,
    DeadlineExceeded,
    TransientCanaryError,
    TransientFailure,
    Verdict,
)
from harness.core.model import CheckResult, Outcome, Profile, Reason, Tier
from harness.core.runner import Runner, UnknownCheckError
from harness.net.aws import AwsClients
from harness.net.http import HttpClient
from harness.net.redact import Redactor
from harness.spec import CheckSpec

# Failure confirmation (a FAILED probe is re-probed once) is off here except where it is the subject.
ALL_TIERS = CanaryConfig(tiers=("probe", "journey", "destructive"), cleanup_reserve_s=1.0, confirm_failures=False)
Body = Callable[[CheckContext], None]


def declare(check_id: str, body: Body, *, tier: Tier = Tier.PROBE, depends_on: tuple[str, ...] = (),
            profiles: tuple[Profile, ...] = (Profile.SESSION_PLATFORM,), requires: tuple[str, ...] = (),
            **kwargs: Any) -> Check:
    """A check declared the way the catalogue does it (a spec, then ``@check``; pure: no AWS unless asked)."""
    spec = CheckSpec(check_id, module="", summary=f"test check {check_id}", why="runner test", hint="",
                     tier=tier.value, profiles=tuple(p.value for p in profiles), requires=requires)
    return check(spec, depends_on=depends_on, **kwargs)(body)


def passes(ctx: CheckContext) -> None:
    ctx.note("fine")


class FakeDynamoDB:
    """A hand-written stand-in for a boto3 DynamoDB client: just the calls these tests make."""

    def __init__(self, error_code: str | None = None) -> None:
        self.error_code = error_code
        self.calls = 0

    def describe_table(self, TableName: str) -> dict[str, Any]:
        self.calls += 1
        if self.error_code:
            raise ClientError({"Error": {"Code": self.error_code, "Message": f"{TableName}: {self.error_code}"}},
                              "DescribeTable")
        return {"Table": {"TableName": TableName, "TableStatus": "ACTIVE"}}


class FakeClients:
    """The ``factory`` for AwsClients: hands out the fakes by service name and counts creations."""

    def __init__(self, **clients: Any) -> None:
        self.clients = clients
        self.created: list[str] = []

    def __call__(self, service: str) -> Any:
        self.created.append(service)
        return self.clients[service]


class FakeLock:
    """The RunLock protocol in memory: refuses with ``refusal``, raises ``error``, or grants."""

    def __init__(self, refusal: Verdict | None = None, error: Exception | None = None) -> None:
        self.refusal = refusal
        self.error = error
        self.acquired: list[str] = []
        self.released: list[str] = []

    def acquire(self, run_id: str, deadline: Deadline) -> Verdict | None:
        self.acquired.append(run_id)
        if self.error is not None:
            raise self.error
        return self.refusal

    def release(self, run_id: str, deadline: Deadline) -> None:
        self.released.append(run_id)


def runner(*checks: Check, config: CanaryConfig = ALL_TIERS, aws: AwsClients | None = None,
           redactor: Redactor | None = None, on_result: Callable[[CheckResult], None] | None = None) -> Runner:
    return Runner(checks, config=config, aws=aws or AwsClients(factory=FakeClients()), http=HttpClient(),
                  redactor=redactor, on_result=on_result)


def by_id(results: tuple[CheckResult, ...]) -> dict[str, CheckResult]:
    return {r.id: r for r in results}


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """An event that blocked checks wait on; set at teardown so no worker thread outlives the test by long."""
    event = threading.Event()
    yield event
    event.set()


# --- concurrency and ordering ----------------------------------------------------------------------------------


def test_independent_checks_run_concurrently() -> None:
    def slow(ctx: CheckContext) -> None:
        time.sleep(0.3)

    checks = [declare(f"slow.{i}", slow) for i in range(4)]
    started = time.perf_counter()
    report = runner(*checks).run(deadline=Deadline.after(10))
    elapsed = time.perf_counter() - started
    assert [r.outcome for r in report.checks] == [Outcome.PASSED] * 4
    assert elapsed < 0.9, f"4 x 0.3 s checks took {elapsed:.2f} s: not concurrent"
    assert all(r.duration_ms >= 290 for r in report.checks)


def test_a_check_starts_after_the_checks_it_depends_on_and_report_keeps_catalogue_order() -> None:
    times: dict[str, tuple[float, float]] = {}

    def timed(name: str, pause: float) -> Body:
        def body(ctx: CheckContext) -> None:
            start = time.perf_counter()
            time.sleep(pause)
            times[name] = (start, time.perf_counter())
        return body

    # A writing check (journey) waits for its dependencies before it starts.
    first = declare("a.first", timed("a.first", 0.1))
    second = declare("b.second", timed("b.second", 0.0), depends_on=("a.first",), tier=Tier.JOURNEY)
    report = runner(second, first).run(deadline=Deadline.after(10))
    assert [r.id for r in report.checks] == ["b.second", "a.first"]  # catalogue order, not finish order
    assert times["b.second"][0] >= times["a.first"][1]


def test_a_read_only_probe_starts_at_once_but_its_verdict_waits_for_its_dependencies() -> None:
    times: dict[str, float] = {}

    def first_body(ctx: CheckContext) -> None:
        time.sleep(0.2)
        times["first_done"] = time.perf_counter()

    def second_body(ctx: CheckContext) -> None:
        times["second_started"] = time.perf_counter()

    seen: list[str] = []
    first = declare("a.first", first_body)
    second = declare("b.second", second_body, depends_on=("a.first",))
    report = runner(second, first, on_result=lambda result: seen.append(result.id)).run(deadline=Deadline.after(10))
    assert times["second_started"] < times["first_done"]  # speculative: read-only, so no harm in starting
    assert seen == ["a.first", "b.second"]  # but its result is final only after its dependency's
    assert {c.outcome for c in report.checks} == {Outcome.PASSED}


def test_facts_are_computed_once_and_shared_between_concurrent_checks() -> None:
    computed: list[int] = []

    def compute() -> int:
        time.sleep(0.1)
        computed.append(1)
        return 42

    seen: list[int] = []

    def uses_fact(ctx: CheckContext) -> None:
        seen.append(ctx.facts.once("services", compute))

    report = runner(*(declare(f"fact.{i}", uses_fact) for i in range(3))).run(deadline=Deadline.after(10))
    assert report.outcome is Outcome.PASSED
    assert computed == [1] and seen == [42, 42, 42]


def test_checks_of_another_profile_are_not_selected() -> None:
    queue_only = declare("queue.only", passes, profiles=(Profile.QUEUE_PLATFORM,))
    report = runner(queue_only, declare("session.one", passes)).run(deadline=Deadline.after(10))
    assert [r.id for r in report.checks] == ["session.one"]
    queue_report = runner(queue_only).run(deadline=Deadline.after(10), profile="queue-platform")
    assert [r.id for r in queue_report.checks] == ["queue.only"]


# --- exceptions never escape -----------------------------------------------------------------------------------


def test_an_exception_in_a_check_becomes_error_canary_bug() -> None:
    def buggy(ctx: CheckContext) -> None:
        fields: dict[str, str] = {}
        with ctx.step("parse"):
            ctx.note(fields["missing"])

    report = runner(declare("buggy", buggy), declare("fine", passes)).run(deadline=Deadline.after(10))
    result = by_id(report.checks)["buggy"]
    assert result.outcome is Outcome.ERROR
    assert result.reason is Reason.CANARY_BUG
    assert "KeyError" in result.message and "test_runner.py:" in result.message
    assert result.evidence["exception"] == "KeyError"
    assert [(s.name, s.outcome, s.reason) for s in result.steps] == [("parse", Outcome.ERROR, Reason.CANARY_BUG)]
    assert by_id(report.checks)["fine"].outcome is Outcome.PASSED
    assert report.exit_code == 2


@pytest.mark.parametrize("exc", [SystemExit(3), GeneratorExit()], ids=["SystemExit", "GeneratorExit"])
def test_even_a_base_exception_in_a_check_does_not_escape_the_run(exc: BaseException) -> None:
    def exits(ctx: CheckContext) -> None:
        raise exc

    report = runner(declare("exits", exits)).run(deadline=Deadline.after(10))
    assert report.checks[0].outcome is Outcome.ERROR
    assert report.checks[0].reason is Reason.CANARY_BUG


def test_botocore_errors_from_a_bound_client_are_classified() -> None:
    missing = FakeDynamoDB("ResourceNotFoundException")
    expired = FakeDynamoDB("ExpiredTokenException")

    def describe(ctx: CheckContext) -> None:
        ctx.aws.dynamodb.describe_table(TableName="webordinary-edit-sessions")

    for fake, outcome, reason in ((missing, Outcome.FAILED, Reason.RESOURCE_MISSING),
                                  (expired, Outcome.ERROR, Reason.CREDENTIALS_EXPIRED)):
        clients = FakeClients(dynamodb=fake)
        report = runner(declare("ddb", describe), aws=AwsClients(factory=clients)).run(deadline=Deadline.after(10))
        result = report.checks[0]
        assert (result.outcome, result.reason) == (outcome, reason)
        assert result.evidence["operation"] == "dynamodb.describe_table"
        assert fake.calls == 1


def test_aws_clients_are_created_once_and_shared() -> None:
    fake = FakeDynamoDB()
    clients = FakeClients(dynamodb=fake)

    def describe(ctx: CheckContext) -> None:
        assert ctx.aws.dynamodb.describe_table(TableName="t")["Table"]["TableStatus"] == "ACTIVE"

    report = runner(*(declare(f"ddb.{i}", describe) for i in range(4)),
                    aws=AwsClients(factory=clients)).run(deadline=Deadline.after(10))
    assert report.outcome is Outcome.PASSED
    assert clients.created == ["dynamodb"] and fake.calls == 4


# --- retries ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("transient", [
    TransientFailure(Reason.CONNECTION_ERROR, "connection reset"),
    TransientCanaryError(Reason.AWS_ERROR, "AWS endpoint unreachable"),
], ids=["target", "canary"])
def test_a_transient_failure_is_retried_once_and_a_pass_reports_retries_1(transient: Verdict) -> None:
    calls: list[int] = []

    def flaky(ctx: CheckContext) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise transient

    result = runner(declare("flaky", flaky)).run(deadline=Deadline.after(10)).checks[0]
    assert len(calls) == 2
    assert result.outcome is Outcome.PASSED
    assert result.retries == 1
    assert "_transient" not in result.evidence


def test_a_transient_failure_twice_fails_with_retries_1() -> None:
    calls: list[int] = []

    def down(ctx: CheckContext) -> None:
        calls.append(1)
        raise TransientFailure(Reason.CONNECTION_ERROR, "connection refused", {"url": "http://x"})

    result = runner(declare("down", down)).run(deadline=Deadline.after(10)).checks[0]
    assert len(calls) == 2
    assert (result.outcome, result.reason, result.retries) == (Outcome.FAILED, Reason.CONNECTION_ERROR, 1)
    assert result.evidence == {"url": "http://x"}


@pytest.mark.parametrize("verdict", [
    CheckFailed(Reason.HTTP_5XX, "503"),
    CanaryError(Reason.ACCESS_DENIED, "denied"),
    CheckSkipped(Reason.IDLE, "idle"),
], ids=["failed", "error", "skipped"])
def test_a_non_transient_verdict_is_not_retried(verdict: Verdict) -> None:
    calls: list[int] = []

    def once(ctx: CheckContext) -> None:
        calls.append(1)
        raise verdict

    result = runner(declare("once", once)).run(deadline=Deadline.after(10)).checks[0]
    assert len(calls) == 1
    assert (result.outcome, result.reason, result.retries) == (verdict.outcome, verdict.reason, 0)


CONFIRMING = CanaryConfig(confirm_failures=True, confirm_pause_s=0.0)


def test_a_probe_failing_twice_is_confirmed_failed() -> None:
    calls: list[int] = []

    def broken(ctx: CheckContext) -> None:
        calls.append(1)
        raise CheckFailed(Reason.HTTP_5XX, f"502 #{len(calls)}")

    result = runner(declare("broken", broken), config=CONFIRMING).run(deadline=Deadline.after(10)).checks[0]
    assert len(calls) == 2
    assert (result.outcome, result.reason, result.retries) == (Outcome.FAILED, Reason.HTTP_5XX, 1)
    assert result.evidence["confirmed"] is True
    assert result.evidence["first_attempt"]["message"] == "502 #1"


def test_a_probe_that_passes_on_re_probe_is_degraded_not_hidden() -> None:
    calls: list[int] = []

    def flapping(ctx: CheckContext) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise CheckFailed(Reason.HTTP_5XX, "502")

    result = runner(declare("flap", flapping), config=CONFIRMING).run(deadline=Deadline.after(10)).checks[0]
    assert (result.outcome, result.reason) == (Outcome.DEGRADED, Reason.HTTP_5XX)
    assert result.evidence["flapping"] is True and "flapping" in result.message


def test_errors_and_journeys_are_never_re_probed() -> None:
    calls: list[str] = []

    def error(ctx: CheckContext) -> None:
        calls.append("error")
        raise CanaryError(Reason.ACCESS_DENIED, "denied")

    def journey(ctx: CheckContext) -> None:
        calls.append("journey")
        raise CheckFailed(Reason.RECORD_MISSING, "no record")

    config = CanaryConfig(tiers=("probe", "journey"), confirm_failures=True, confirm_pause_s=0.0,
                          cleanup_reserve_s=1.0)
    runner(declare("e", error), declare("j", journey, tier=Tier.JOURNEY), config=config).run(
        deadline=Deadline.after(10), tiers=["probe", "journey"])
    assert sorted(calls) == ["error", "journey"]


# --- refusals: SKIPPED with a reason that says what to set -----------------------------------------------------


def test_a_failed_dependency_skips_its_dependents() -> None:
    called: list[str] = []

    def creds(ctx: CheckContext) -> None:
        raise CanaryError(Reason.CREDENTIALS_EXPIRED, "ExpiredToken")

    def dependent(ctx: CheckContext) -> None:
        called.append("dependent")

    report = runner(declare("aws.credentials", creds),
                    declare("ecs.cluster", dependent, depends_on=("aws.credentials",)),
                    declare("session.journey", dependent, depends_on=("aws.credentials",), tier=Tier.JOURNEY),
                    ).run(deadline=Deadline.after(5))
    for check_id in ("ecs.cluster", "session.journey"):
        result = by_id(report.checks)[check_id]
        assert (result.outcome, result.reason) == (Outcome.SKIPPED, Reason.DEPENDENCY_FAILED)
        assert "aws.credentials" in result.message and "ERROR" in result.message
        assert result.evidence["dependency"] == "aws.credentials"
    # the read-only probe ran speculatively (its verdict withheld); the journey, which writes, never started
    assert called == ["dependent"]


def test_a_skipped_or_unselected_dependency_does_not_block() -> None:
    skipped_dep = declare("needs.base", passes, requires=("base_url",))
    dependent = declare("after.skipped", passes, depends_on=("needs.base", "not.selected"))
    report = runner(skipped_dep, dependent).run(deadline=Deadline.after(5))
    assert by_id(report.checks)["after.skipped"].outcome is Outcome.PASSED


def test_an_unset_required_resource_skips_not_configured_naming_the_env_var() -> None:
    called: list[str] = []

    def needs(ctx: CheckContext) -> None:
        called.append("ran")

    chk = declare("alb.rules", needs, requires=("load_balancer_arn", "ecs_cluster", "target_group_arns"))
    result = runner(chk).run(deadline=Deadline.after(5)).checks[0]
    assert (result.outcome, result.reason) == (Outcome.SKIPPED, Reason.NOT_CONFIGURED)
    assert "LOAD_BALANCER_ARN" in result.message and "TARGET_GROUP_ARNS" in result.message
    assert "ECS_CLUSTER" not in result.message  # it has a default
    assert called == []


def test_destructive_tier_is_refused_without_allow_destructive() -> None:
    called: list[str] = []

    def scale(ctx: CheckContext) -> None:
        called.append("scaled")

    chk = declare("session.auto_shutdown", scale, tier=Tier.DESTRUCTIVE)
    result = runner(chk).run(deadline=Deadline.after(5), tiers=["destructive"]).checks[0]
    assert (result.outcome, result.reason) == (Outcome.SKIPPED, Reason.NOT_ALLOWED)
    assert "CANARY_ALLOW_DESTRUCTIVE" in result.message
    # Naming it by id does not get around the refusal either.
    assert runner(chk).run(deadline=Deadline.after(5), check_ids=[chk.id]).checks[0].reason is Reason.NOT_ALLOWED
    assert called == []
    allowed = CanaryConfig(tiers=("probe", "destructive"), allow_destructive=True, cleanup_reserve_s=1.0)
    assert runner(chk, config=allowed).run(deadline=Deadline.after(5), tiers=["destructive"]).checks[0].outcome \
        is Outcome.PASSED
    assert called == ["scaled"]


def test_a_tier_not_in_config_tiers_is_refused() -> None:
    called: list[str] = []

    def journey(ctx: CheckContext) -> None:
        called.append("created a session")

    chk = declare("session.lifecycle", journey, tier=Tier.JOURNEY)
    probe_only = CanaryConfig(cleanup_reserve_s=1.0)
    result = runner(chk, config=probe_only).run(deadline=Deadline.after(5), tiers=["journey"]).checks[0]
    assert (result.outcome, result.reason) == (Outcome.SKIPPED, Reason.NOT_ALLOWED)
    assert "CANARY_TIERS" in result.message
    assert runner(chk, config=probe_only).run(deadline=Deadline.after(5)).checks == ()  # not even selected
    assert called == []


def test_unknown_check_id_or_tier_is_a_usage_error() -> None:
    r = runner(declare("known", passes))
    with pytest.raises(UnknownCheckError, match="nope"):
        r.run(deadline=Deadline.after(5), check_ids=["known", "nope"])
    with pytest.raises(UnknownCheckError, match="chaos"):
        r.run(deadline=Deadline.after(5), tiers=["chaos"])


# --- deadline --------------------------------------------------------------------------------------------------


def test_a_tiny_deadline_returns_on_time_with_unfinished_checks_incomplete(release: threading.Event) -> None:
    def hangs(ctx: CheckContext) -> None:
        release.wait(5)  # deadline-unaware, like a library call without a timeout

    checks = [declare("hangs", hangs), declare("quick", passes),
              declare("later", passes, depends_on=("hangs",))]
    started = time.perf_counter()
    report = runner(*checks).run(deadline=Deadline.after(0.3))
    elapsed = time.perf_counter() - started
    assert elapsed < 0.3 + 2, f"run overran its deadline: {elapsed:.2f} s"
    results = by_id(report.checks)
    assert (results["hangs"].outcome, results["hangs"].reason) == (Outcome.INCOMPLETE, Reason.DEADLINE)
    assert results["quick"].outcome is Outcome.PASSED
    assert (results["later"].outcome, results["later"].reason) == (Outcome.INCOMPLETE, Reason.DEADLINE)
    assert report.outcome is Outcome.INCOMPLETE and report.exit_code == 3


def test_the_checks_own_timeout_fails_the_check() -> None:
    def waits(ctx: CheckContext) -> None:
        poll_until(lambda: False, until=bool, deadline=ctx.deadline, timeout_s=30, what="ready", interval_s=0.05)

    result = runner(declare("slow.target", waits, timeout_s=0.2)).run(deadline=Deadline.after(10)).checks[0]
    assert result.outcome is Outcome.FAILED
    assert result.reason is Reason.HTTP_TIMEOUT
    assert "0.2 s" in result.message
    assert result.duration_ms < 2000


def test_the_runs_deadline_makes_the_same_wait_incomplete() -> None:
    def waits(ctx: CheckContext) -> None:
        poll_until(lambda: False, until=bool, deadline=ctx.deadline, timeout_s=30, what="ready", interval_s=0.05)

    result = runner(declare("slow.target", waits, timeout_s=30)).run(deadline=Deadline.after(0.3)).checks[0]
    assert (result.outcome, result.reason) == (Outcome.INCOMPLETE, Reason.DEADLINE)


def test_journeys_keep_a_cleanup_reserve_that_their_undo_gets() -> None:
    seen: dict[str, float] = {}

    def journey(ctx: CheckContext) -> None:
        seen["work"] = ctx.deadline.remaining()
        ctx.add_cleanup("delete session", lambda d: seen.__setitem__("undo", d.remaining()))

    config = CanaryConfig(tiers=("probe", "journey"), cleanup_reserve_s=3.0)
    report = runner(declare("session.lifecycle", journey, tier=Tier.JOURNEY), config=config).run(
        deadline=Deadline.after(5), tiers=["journey"])
    assert report.outcome is Outcome.PASSED
    assert seen["work"] <= 2.0 + 0.05
    assert seen["undo"] > 4.0


# --- cleanup ---------------------------------------------------------------------------------------------------


def test_cleanups_run_lifo_even_when_the_check_fails() -> None:
    order: list[str] = []

    def undo(name: str, _deadline: Deadline) -> None:
        order.append(name)

    def journey(ctx: CheckContext) -> None:
        for name in ("create session", "claim container", "write marker"):
            ctx.add_cleanup(name, functools.partial(undo, name))
        raise ctx.fail(Reason.RECORD_MISSING, "session record missing")

    result = runner(declare("j", journey, tier=Tier.JOURNEY)).run(
        deadline=Deadline.after(5), tiers=["journey"]).checks[0]
    assert order == ["write marker", "claim container", "create session"]
    assert (result.outcome, result.reason) == (Outcome.FAILED, Reason.RECORD_MISSING)
    assert [s.name for s in result.steps] == ["cleanup:write marker", "cleanup:claim container",
                                              "cleanup:create session"]
    assert all(s.outcome is Outcome.PASSED for s in result.steps)


def test_cleanups_run_when_the_check_crashes() -> None:
    order: list[str] = []

    def journey(ctx: CheckContext) -> None:
        ctx.add_cleanup("undo", lambda _d: order.append("undo"))
        raise RuntimeError("bug")

    result = runner(declare("j", journey)).run(deadline=Deadline.after(5)).checks[0]
    assert order == ["undo"]
    assert result.reason is Reason.CANARY_BUG


def test_a_failing_cleanup_turns_a_pass_into_error_and_the_others_still_run() -> None:
    order: list[str] = []

    def broken_undo(_deadline: Deadline) -> None:
        order.append("broken")
        raise RuntimeError("DeleteItem refused")

    def journey(ctx: CheckContext) -> None:
        ctx.add_cleanup("first", lambda _d: order.append("first"))
        ctx.add_cleanup("broken", broken_undo)
        ctx.add_cleanup("last", lambda _d: order.append("last"))

    result = runner(declare("j", journey, tier=Tier.JOURNEY)).run(
        deadline=Deadline.after(5), tiers=["journey"]).checks[0]
    assert order == ["last", "broken", "first"]
    assert (result.outcome, result.reason) == (Outcome.ERROR, Reason.CLEANUP_FAILED)
    assert "'broken'" in result.message
    assert result.evidence["cleanup"] == "broken"
    steps = {s.name: (s.outcome, s.reason) for s in result.steps}
    assert steps == {"cleanup:last": (Outcome.PASSED, None),
                     "cleanup:broken": (Outcome.ERROR, Reason.CLEANUP_FAILED),
                     "cleanup:first": (Outcome.PASSED, None)}


# --- run lock --------------------------------------------------------------------------------------------------


def test_a_refused_run_lock_skips_journeys_with_overlap_while_probes_run() -> None:
    lock = FakeLock(refusal=CheckSkipped(Reason.OVERLAP, "another run holds the lock"))
    journey_ran: list[str] = []
    checks = [declare("probe.one", passes),
              declare("session.lifecycle", lambda ctx: journey_ran.append("x"), tier=Tier.JOURNEY)]
    report = runner(*checks).run(deadline=Deadline.after(5), tiers=["probe", "journey"], lock=lock,
                                 run_id="run-b")
    results = by_id(report.checks)
    assert results["probe.one"].outcome is Outcome.PASSED
    assert (results["session.lifecycle"].outcome, results["session.lifecycle"].reason) == \
        (Outcome.SKIPPED, Reason.OVERLAP)
    assert journey_ran == []
    assert lock.acquired == ["run-b"] and lock.released == []  # never held, never released


def test_a_granted_run_lock_is_released_after_the_run() -> None:
    lock = FakeLock()
    checks = [declare("session.lifecycle", passes, tier=Tier.JOURNEY)]
    report = runner(*checks).run(deadline=Deadline.after(5), tiers=["journey"], lock=lock, run_id="run-a")
    assert report.outcome is Outcome.PASSED
    assert lock.acquired == ["run-a"] and lock.released == ["run-a"]


def test_the_lock_is_not_taken_for_a_probe_only_run() -> None:
    lock = FakeLock()
    runner(declare("probe.one", passes)).run(deadline=Deadline.after(5), lock=lock)
    assert lock.acquired == []


def test_a_broken_run_lock_is_the_canarys_error_not_a_silent_skip() -> None:
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no PutItem"}}, "PutItem")
    lock = FakeLock(error=denied)
    checks = [declare("probe.one", passes), declare("session.lifecycle", passes, tier=Tier.JOURNEY)]
    report = runner(*checks).run(deadline=Deadline.after(5), tiers=["probe", "journey"], lock=lock)
    results = by_id(report.checks)
    assert results["probe.one"].outcome is Outcome.PASSED
    assert (results["session.lifecycle"].outcome, results["session.lifecycle"].reason) == \
        (Outcome.ERROR, Reason.ACCESS_DENIED)
    assert report.exit_code == 2


# --- redaction -------------------------------------------------------------------------------------------------

SECRET = "hermes-token-5f2b9c0d"


def test_a_registered_secret_is_redacted_from_message_evidence_and_steps() -> None:
    redactor = Redactor()
    redactor.register(SECRET)
    emitted: list[CheckResult] = []

    def leaky_fail(ctx: CheckContext) -> None:
        ctx.evidence["request"] = {"url": f"https://alb/hermes/health?t={SECRET}", "headers": [f"X-Token {SECRET}"]}
        with ctx.step(f"call with {SECRET}"):
            raise ctx.fail(Reason.HTTP_4XX, f"401 for token {SECRET}", {"echo": f"body mentions {SECRET}"})

    def leaky_note(ctx: CheckContext) -> None:
        ctx.note(f"authenticated as {SECRET}")

    def leaky_bug(ctx: CheckContext) -> None:
        raise ValueError(f"could not parse {SECRET}")

    def revoke(_deadline: Deadline) -> None:
        raise RuntimeError(f"revoke {SECRET} failed")

    def leaky_cleanup(ctx: CheckContext) -> None:
        ctx.add_cleanup("revoke", revoke)

    checks = [declare("fail", leaky_fail), declare("note", leaky_note), declare("bug", leaky_bug),
              declare("cleanup", leaky_cleanup)]
    report = runner(*checks, redactor=redactor, on_result=emitted.append).run(deadline=Deadline.after(5))
    results = by_id(report.checks)
    assert results["fail"].outcome is Outcome.FAILED
    assert results["cleanup"].reason is Reason.CLEANUP_FAILED
    as_json = json.dumps(report.to_dict())
    assert SECRET not in as_json
    assert "***" in results["fail"].message and "***" in results["fail"].steps[0].message
    assert results["fail"].steps[0].name == "call with ***"
    assert results["fail"].evidence["echo"] == "body mentions ***"
    assert SECRET not in repr(emitted)  # the progress listener sees redacted results too
    assert len(emitted) == 4


# --- outcome precedence and exit codes (DESIGN §9) -------------------------------------------------------------


def _behaviour(kind: str) -> Check:
    def body(ctx: CheckContext) -> None:
        if kind == "DEGRADED":
            ctx.degrade(Reason.LATENCY_SLOW, "slow")
        elif kind == "FAILED":
            raise CheckFailed(Reason.HTTP_5XX, "502")
        elif kind == "ERROR":
            raise CanaryError(Reason.THROTTLED, "throttled")
        elif kind == "INCOMPLETE":
            raise DeadlineExceeded("deadline reached")

    return declare(f"check.{kind.lower()}", body, requires=("base_url",) if kind == "SKIPPED" else ())


@pytest.mark.parametrize(("kinds", "outcome", "exit_code"), [
    (["PASSED"], Outcome.PASSED, 0),
    (["SKIPPED"], Outcome.PASSED, 0),
    (["PASSED", "SKIPPED", "DEGRADED"], Outcome.DEGRADED, 0),
    (["PASSED", "DEGRADED", "INCOMPLETE"], Outcome.INCOMPLETE, 3),
    (["DEGRADED", "INCOMPLETE", "FAILED"], Outcome.FAILED, 1),
    (["INCOMPLETE", "FAILED", "ERROR", "PASSED"], Outcome.ERROR, 2),
    (["ERROR", "SKIPPED"], Outcome.ERROR, 2),
])
def test_run_outcome_precedence_and_exit_codes(kinds: list[str], outcome: Outcome, exit_code: int) -> None:
    report = runner(*(_behaviour(k) for k in kinds)).run(deadline=Deadline.after(5))
    assert [r.outcome.value for r in report.checks] == kinds
    assert report.outcome is outcome
    assert report.exit_code == exit_code
    assert report.to_dict()["outcome"] == outcome.value


def test_latency_thresholds_degrade_or_fail_a_slow_pass() -> None:
    def slow(ctx: CheckContext) -> None:
        time.sleep(0.12)

    report = runner(declare("degraded", slow, degraded_ms=50), declare("failed", slow, degraded_ms=10, failed_ms=50),
                    declare("fast", slow, degraded_ms=5000)).run(deadline=Deadline.after(5))
    results = by_id(report.checks)
    assert (results["degraded"].outcome, results["degraded"].reason) == (Outcome.DEGRADED, Reason.LATENCY_SLOW)
    assert (results["failed"].outcome, results["failed"].reason) == (Outcome.FAILED, Reason.LATENCY_SLOW)
    assert results["fast"].outcome is Outcome.PASSED


# --- report ----------------------------------------------------------------------------------------------------


def test_report_fields_maintenance_and_a_broken_listener() -> None:
    now = datetime.now(UTC)
    config = CanaryConfig(environment="staging", confirm_failures=False,
                          maintenance_windows=(MaintenanceWindow(now - timedelta(hours=1), now + timedelta(hours=1)),))

    def listener(result: CheckResult) -> None:
        raise RuntimeError("progress printer broke")

    def costly(ctx: CheckContext) -> None:
        ctx.add_cost(0.5)
        ctx.start_type = "warm"

    report = runner(declare("costly", costly), config=config, on_result=listener).run(
        deadline=Deadline.after(5), run_id="run-fixed")
    data = report.to_dict()
    assert data["run_id"] == "run-fixed" and data["environment"] == "staging"
    assert data["maintenance"] is True
    assert data["started_at"].endswith("Z")
    assert data["estimated_cost_usd"] >= 0.5
    assert data["checks"][0]["start_type"] == "warm"
    assert report.outcome is Outcome.PASSED


# --- nothing the runner abandons outlives the run; a cancellation still cleans up (issue 14.2, 14.5) ---------------


def test_workers_are_daemon_threads_so_an_abandoned_check_never_holds_up_process_exit(
        release: threading.Event) -> None:
    workers: list[threading.Thread] = []

    def hangs(ctx: CheckContext) -> None:
        workers.append(threading.current_thread())
        release.wait(5)  # deadline-unaware: abandoned at the deadline

    report = runner(declare("hangs", hangs)).run(deadline=Deadline.after(0.2))
    assert report.checks[0].outcome is Outcome.INCOMPLETE
    assert workers and workers[0].is_alive()  # still stuck after the run returned...
    assert workers[0].daemon  # ...but Python's exit does not join it (ThreadPoolExecutor's workers it does)


def test_a_finished_run_leaves_no_worker_thread_behind() -> None:
    before = {t.ident for t in threading.enumerate()}
    for _ in range(3):
        runner(declare("a", passes), declare("b", passes), declare("c", passes)).run(deadline=Deadline.after(5))
    extra = [t.name for t in threading.enumerate() if t.ident not in before]
    assert extra == []


def test_a_cancellation_stops_the_waits_runs_the_undos_lifo_and_releases_the_lock() -> None:
    from harness.core.deadline import Cancellation

    order: list[str] = []
    undo_time: dict[str, float] = {}
    in_wait = threading.Event()

    def undo(name: str, deadline: Deadline) -> None:
        undo_time[name] = deadline.remaining()
        order.append(name)

    def journey(ctx: CheckContext) -> None:
        ctx.add_cleanup("release container", functools.partial(undo, "release container"))
        ctx.add_cleanup("deactivate session", functools.partial(undo, "deactivate session"))
        in_wait.set()
        poll_until(lambda: False, until=bool, deadline=ctx.deadline, timeout_s=60, what="the container ready",
                   interval_s=30)  # one long pause: only the cancellation can end it early

    cancel = Cancellation()
    lock = FakeLock()
    config = CanaryConfig(tiers=("probe", "journey"), cleanup_reserve_s=5.0, confirm_failures=False)
    threading.Thread(target=lambda: in_wait.wait(5) and cancel.request("SIGTERM"), daemon=True).start()
    started = time.monotonic()
    report = runner(declare("session.lifecycle", journey, tier=Tier.JOURNEY, timeout_s=120), config=config).run(
        deadline=Deadline.after(100, cancellation=cancel), tiers=["journey"], lock=lock)
    elapsed = time.monotonic() - started
    result = report.checks[0]
    assert (result.outcome, result.reason) == (Outcome.INCOMPLETE, Reason.DEADLINE)
    assert "run cancelled (SIGTERM)" in result.message
    assert order == ["deactivate session", "release container"]
    assert all(0 < left <= 5.0 for left in undo_time.values()), undo_time  # the grace, not the run's 100 s
    assert lock.released == [report.run_id]
    assert report.exit_code == 3
    assert elapsed < 10, f"the cancelled run took {elapsed:.1f} s (its wait alone was 30 s)"


def test_a_cleanup_that_hangs_after_a_cancellation_is_bounded_by_the_reserve_and_is_an_error() -> None:
    from harness.core.deadline import Cancellation

    in_wait = threading.Event()

    def stuck_undo(deadline: Deadline) -> None:
        poll_until(lambda: False, until=bool, deadline=deadline, timeout_s=60, what="the session to drain",
                   interval_s=0.05)

    def journey(ctx: CheckContext) -> None:
        ctx.add_cleanup("drain session", stuck_undo)
        in_wait.set()
        poll_until(lambda: False, until=bool, deadline=ctx.deadline, timeout_s=60, what="ready", interval_s=30)

    cancel = Cancellation()
    threading.Thread(target=lambda: in_wait.wait(5) and cancel.request("SIGINT"), daemon=True).start()
    config = CanaryConfig(tiers=("probe", "journey"), cleanup_reserve_s=0.5, confirm_failures=False)
    started = time.monotonic()
    report = runner(declare("session.lifecycle", journey, tier=Tier.JOURNEY, timeout_s=120), config=config).run(
        deadline=Deadline.after(100, cancellation=cancel), tiers=["journey"])
    result = report.checks[0]
    assert time.monotonic() - started < 10
    # The leftover is the canary's problem, and visible: ERROR cleanup_failed (exit 2), not a silent INCOMPLETE
    assert (result.outcome, result.reason) == (Outcome.ERROR, Reason.CLEANUP_FAILED)
    assert [(s.name, s.outcome) for s in result.steps] == [("cleanup:drain session", Outcome.ERROR)]
    assert "run cancelled (SIGINT)" in result.steps[0].message
    assert report.exit_code == 2
