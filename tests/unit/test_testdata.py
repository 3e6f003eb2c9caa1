"""Synthetic test data: identities the guard recognises, safe instructions, tracking, statistics and cost."""

from __future__ import annotations

import pytest

from harness.reporting.cost import (
    FARGATE_GB_HOUR_USD,
    FARGATE_VCPU_HOUR_USD,
    LAMBDA_ARM_GB_SECOND_USD,
    LAMBDA_REQUEST_USD,
)
from harness.sessions.synthetic import is_synthetic, run_id_of
from harness.sessions.testdata import (
    EDIT_TASK_SIZE,
    HERMES_TASK_SIZE,
    INSTRUCTION_KINDS,
    FargateSize,
    SyntheticData,
    new_run_id,
    percentile,
)

RUN = "run-20261125T180000Z-ab12cd34"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _data(**kwargs: object) -> SyntheticData:
    return SyntheticData("TEST_", "integration-test-client", run_id=RUN, **kwargs)  # type: ignore[arg-type]


def test_user_ids_are_prefixed_run_marked_and_undeliverable() -> None:
    data = _data()
    user = data.user_id()
    assert user == f"TEST_canary-{RUN}@canary.webordinary.invalid"
    assert is_synthetic({"userId": user}, "TEST_")
    assert run_id_of({"userId": user}, "TEST_") == RUN
    tagged = data.user_id("c1")
    assert tagged != user and run_id_of({"userId": tagged}, "TEST_") == RUN
    assert data.user_id("c1") == tagged  # stable: the undo can find it again
    assert len({data.user_id(f"c{k}") for k in range(3)}) == 3


def test_an_odd_run_id_cannot_break_the_user_id() -> None:
    data = SyntheticData("TEST_", "c", run_id="weird run@id+x/y")
    user = data.user_id("a b@c")
    assert user.count("@") == 1 and user.startswith("TEST_canary-weird-run-id-x-y+a-b-c@")
    assert run_id_of({"userId": user}, "TEST_") == "weird-run-id-x-y"


def test_a_custom_prefix_is_used() -> None:
    data = SyntheticData("CANARY-", "c", run_id=RUN)
    assert data.user_id().startswith("CANARY-canary-")
    assert is_synthetic({"userId": data.user_id()}, "CANARY-") and not is_synthetic({"userId": data.user_id()},
                                                                                     "TEST_")


def test_new_run_ids_are_unique_and_safe() -> None:
    ids = {new_run_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(i.startswith("run-") and "@" not in i and "+" not in i for i in ids)


@pytest.mark.parametrize("kind", INSTRUCTION_KINDS)
def test_every_kind_has_instructions_that_name_the_run(kind: str) -> None:
    data = _data()
    texts = {data.instruction(kind) for _ in range(40)}
    assert len(texts) > 1  # several canned instructions per kind
    assert all(data.token in t and t.startswith("Canary check") for t in texts)


def test_instructions_never_ask_for_changes_outside_canary_files() -> None:
    data = _data()
    for _ in range(40):
        assert "Do not change any file" in data.instruction("simple")
        assert "Do not change any file" in data.instruction("complex")
        assert "canary/" in data.instruction("file-creation") and "Change nothing else" in \
            data.instruction("file-creation")
        component = data.instruction("component")
        assert "src/components/canary/" in component and "Do not import it" in component


def test_instruction_choice_is_reproducible_per_run() -> None:
    first, second = _data(), _data()
    assert [first.instruction("simple") for _ in range(10)] == [second.instruction("simple") for _ in range(10)]


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown instruction kind"):
        _data().instruction("destroy")


def test_activation_body_has_only_the_fields_hermes_accepts() -> None:
    body = _data().activation_body(tag="x", kind="simple")
    assert set(body) == {"clientId", "userId", "instruction"}
    assert body["clientId"] == "integration-test-client" and body["userId"].endswith("+x@canary.webordinary.invalid")


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 95) is None
    assert percentile([7.0], 95) == 7.0
    values = [float(v) for v in range(1, 21)]
    assert percentile(values, 95) == 19.0
    assert percentile(values, 50) == 10.0
    assert percentile(values, 100) == 20.0
    assert percentile(list(reversed(values)), 95) == 19.0


def test_tracking_statistics() -> None:
    clock = FakeClock()
    data = _data(clock=clock)
    assert data.statistics().success_rate_pct is None
    for k, (created, ready, ok) in enumerate([(100.0, 2000.0, True), (300.0, 6000.0, True), (200.0, None, False)]):
        data.track(f"s{k}", data.user_id(f"c{k}"), start_type="cold" if k == 0 else "warm")
        data.record_created(f"s{k}", created)
        if ready is not None:
            data.record_ready(f"s{k}", ready)
        clock.now += 10
        data.finish(f"s{k}", succeeded=ok)
    stats = data.statistics()
    assert (stats.total, stats.succeeded) == (3, 2)
    assert stats.success_rate_pct == pytest.approx(200 / 3)
    assert stats.creation_mean_ms == pytest.approx(200.0) and stats.creation_p95_ms == 300.0
    assert stats.ready_mean_ms == pytest.approx(4000.0) and stats.ready_p95_ms == 6000.0
    assert stats.task_seconds == pytest.approx(30.0)  # each session lived 10 s
    assert stats.to_dict()["success_rate_pct"] == pytest.approx(66.7)


def test_finish_is_idempotent_and_open_sessions_count_until_now() -> None:
    clock = FakeClock()
    data = _data(clock=clock)
    data.track("a", data.user_id())
    clock.now += 5
    data.finish("a", succeeded=True)
    clock.now += 100
    data.finish("a", succeeded=True)
    data.track("b", data.user_id("b"))
    clock.now += 7
    assert data.statistics().task_seconds == pytest.approx(5 + 7)


def test_fargate_sizes_follow_the_reference_and_the_price_list() -> None:
    assert (EDIT_TASK_SIZE.vcpu, EDIT_TASK_SIZE.memory_gb) == (2.0, 4.0)
    assert (HERMES_TASK_SIZE.vcpu, HERMES_TASK_SIZE.memory_gb) == (0.5, 1.0)
    assert EDIT_TASK_SIZE.hourly_usd() == pytest.approx(2 * FARGATE_VCPU_HOUR_USD + 4 * FARGATE_GB_HOUR_USD)


def test_cost_is_lambda_time_plus_the_edit_task_seconds_sessions_used() -> None:
    clock = FakeClock()
    data = _data(clock=clock, memory_mb=1024)
    data.track("a", data.user_id())
    clock.now += 3600  # one edit-task hour
    data.finish("a", succeeded=True)
    assert data.platform_cost_usd() == pytest.approx(EDIT_TASK_SIZE.hourly_usd())
    lambda_cost = 60 * 1.0 * LAMBDA_ARM_GB_SECOND_USD + LAMBDA_REQUEST_USD
    assert data.estimated_cost_usd(60) == pytest.approx(lambda_cost + EDIT_TASK_SIZE.hourly_usd())
    bigger = _data(clock=clock, edit_size=FargateSize(4, 8))
    bigger.track("b", bigger.user_id())
    clock.now += 3600
    bigger.finish("b", succeeded=True)
    assert bigger.platform_cost_usd() == pytest.approx(2 * EDIT_TASK_SIZE.hourly_usd())
