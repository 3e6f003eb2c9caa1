"""What a run emits (DESIGN §6): names, units and dimensions exactly as the alarms expect them.

The alarms are built from ``harness.contract``; a datapoint with one dimension more or less is a different
CloudWatch metric and the alarm would watch nothing. So every expectation here is written with the contract's
own functions, and the PutMetricData path is proven against moto's CloudWatch over HTTP.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from harness import contract
from harness.core.model import CheckResult, Outcome, Profile, Reason, RunReport, Tier
from harness.reporting.metrics import Datapoint, publish, report_datapoints, to_metric_data

ENV = "staging"


def result(check_id: str, outcome: Outcome, *, reason: Reason | None = None, duration_ms: int = 120,
           retries: int = 0, **kwargs: Any) -> CheckResult:
    return CheckResult(id=check_id, tier=Tier.PROBE, profile=Profile.SESSION_PLATFORM, outcome=outcome,
                       reason=reason, message="", duration_ms=duration_ms, retries=retries, **kwargs)


def report(*checks: CheckResult, maintenance: bool = False) -> RunReport:
    return RunReport(run_id="run-1", environment=ENV, profile=Profile.SESSION_PLATFORM,
                     started_at="2030-01-01T00:00:00Z", duration_ms=4321, checks=checks, estimated_cost_usd=0.0012,
                     canary_version="0.1.0", maintenance=maintenance)


def points_by(points: list[Datapoint], name: str, check_id: str | None = None) -> list[Datapoint]:
    return [p for p in points if p.name == name and (check_id is None or p.dimensions.get("Check") == check_id)]


def one(points: list[Datapoint], name: str, check_id: str | None = None) -> Datapoint:
    found = points_by(points, name, check_id)
    assert len(found) == 1, f"{name}/{check_id}: {found}"
    return found[0]


# --- per check -------------------------------------------------------------------------------------------------


def test_a_healthy_run_emits_no_per_check_outcome_metric() -> None:
    ids = contract.scheduled_check_ids(contract.SESSION_PLATFORM)
    checks = [result(i, Outcome.PASSED, duration_ms=87) for i in ids]
    points = report_datapoints(report(*checks))
    sparse = (*contract.SPARSE_PER_CHECK_METRICS, *contract.SPARSE_PER_RUN_METRICS)
    assert [p for p in points if p.name in sparse] == []
    # Per check, only the latency SLIs' durations remain; per run, the heartbeat, duration and cost.
    assert {p.dimensions["Check"] for p in points if contract.DIM_CHECK in p.dimensions} == (
        {c.id for c in checks} & contract.LATENCY_SLI_CHECKS)
    assert {p.name for p in points} == {contract.CHECK_DURATION, *contract.ALWAYS_ON_PER_RUN_METRICS}
    assert one(points, contract.RUN_PASSED).value == 1.0


def test_a_failed_check_emits_checkfailed_1_with_the_alarms_exact_dimensions() -> None:
    points = report_datapoints(report(result("ecs.services", Outcome.FAILED, reason=Reason.DESIRED_RUNNING_MISMATCH),
                                      result("aws.credentials", Outcome.PASSED)))
    failed = one(points, contract.CHECK_FAILED)
    assert failed == Datapoint(contract.CHECK_FAILED, contract.UNIT_COUNT, 1.0,
                               contract.check_dimensions(ENV, "ecs.services"))
    assert dict(failed.dimensions) == {"Environment": ENV, "Check": "ecs.services", "service": contract.SERVICE_NAME}
    assert one(points, contract.CHECKS_FAILED).value == 1.0
    assert points_by(points, contract.CANARY_ERRORS) == []  # sparse: no canary error, no datapoint
    assert one(points, contract.RUN_PASSED).value == 0.0


def test_check_duration_only_for_latency_slis() -> None:
    sli, plain = "http.hermes_health", "ecs.cluster"
    assert sli in contract.LATENCY_SLI_CHECKS and plain not in contract.LATENCY_SLI_CHECKS
    points = report_datapoints(report(result(sli, Outcome.PASSED, duration_ms=87),
                                      result(plain, Outcome.FAILED, reason=Reason.RESOURCE_MISSING, duration_ms=90)))
    duration = one(points, contract.CHECK_DURATION)
    assert duration == Datapoint(contract.CHECK_DURATION, contract.UNIT_MS, 87.0, contract.check_dimensions(ENV, sli))
    assert points_by(points, contract.CHECK_DURATION, plain) == []
    assert one(points, contract.CHECK_FAILED, plain).value == 1.0


def test_units_match_the_contract_tables() -> None:
    points = report_datapoints(report(
        result("session.lifecycle", Outcome.DEGRADED, retries=1, start_type="cold",
               latencies_ms={contract.CONTAINER_READY_LATENCY: 5000.0, contract.PREVIEW_LATENCY: 200.0}),
        result("alb.targets", Outcome.FAILED), result("config.valid", Outcome.ERROR)),
        leaked_sessions=1)
    units = {**contract.PER_CHECK_METRICS, **contract.PER_RUN_METRICS, **contract.KEY_LATENCY_METRICS}
    for p in points:
        assert p.unit == units[p.name], p
    assert {p.name for p in points} == set(units) - {contract.SESSION_ACTIVATE_LATENCY,
                                                      contract.WEBSOCKET_CONNECT_LATENCY}


def test_degraded_emits_checkdegraded_and_no_checkfailed() -> None:
    points = report_datapoints(report(result("alb.targets", Outcome.DEGRADED, reason=Reason.DEPLOYING)))
    assert points_by(points, contract.CHECK_FAILED) == []
    degraded = one(points, contract.CHECK_DEGRADED)
    assert degraded.value == 1.0 and degraded.dimensions == contract.check_dimensions(ENV, "alb.targets")
    assert one(points, contract.RUN_PASSED).value == 1.0


def test_each_failed_check_emits_checkfailed_and_counts_in_checksfailed() -> None:
    points = report_datapoints(report(result("a", Outcome.FAILED, reason=Reason.HTTP_5XX),
                                      result("b", Outcome.FAILED, reason=Reason.HTTP_TIMEOUT),
                                      result("c", Outcome.PASSED)))
    assert [p.dimensions["Check"] for p in points_by(points, contract.CHECK_FAILED)] == ["a", "b"]
    assert one(points, contract.CHECKS_FAILED).value == 2.0
    assert points_by(points, contract.CANARY_ERRORS) == []
    assert one(points, contract.RUN_PASSED).value == 0.0


def test_error_emits_no_checkfailed_but_counts_in_canaryerrors() -> None:
    points = report_datapoints(report(result("http.routing", Outcome.ERROR, reason=Reason.CREDENTIALS_EXPIRED),
                                      result("ecs.cluster", Outcome.SKIPPED, reason=Reason.DEPENDENCY_FAILED)))
    assert points_by(points, contract.CHECK_FAILED) == []  # the target was not judged: no false alarm
    assert one(points, contract.CANARY_ERRORS).value == 1.0
    assert points_by(points, contract.CHECKS_FAILED) == []
    assert one(points, contract.CHECK_DURATION, "http.routing").value == 120.0
    assert points_by(points, contract.CHECK_DURATION, "ecs.cluster") == []  # SKIPPED emits nothing per check
    assert one(points, contract.RUN_PASSED).value == 0.0


def test_incomplete_counts_in_canaryerrors_and_emits_no_duration() -> None:
    points = report_datapoints(report(result("session.lifecycle", Outcome.INCOMPLETE, reason=Reason.DEADLINE),
                                      result("latency.baseline", Outcome.INCOMPLETE, reason=Reason.DEADLINE),
                                      result("aws.credentials", Outcome.ERROR, reason=Reason.ACCESS_DENIED)))
    assert points_by(points, contract.CHECK_FAILED) == []  # the target was not judged
    assert points_by(points, contract.CHECK_DURATION) == []  # where the deadline cut it, not the target's time
    # The canary could not judge two checks in time and erred on one: the canary-broken alarm's metric.
    errors = one(points, contract.CANARY_ERRORS)
    assert (errors.value, errors.dimensions) == (3.0, contract.run_dimensions(ENV))
    assert one(points, contract.RUN_PASSED).value == 0.0


def test_a_retry_is_counted_not_hidden() -> None:
    points = report_datapoints(report(result("http.routing", Outcome.PASSED, retries=1)))
    retried = one(points, contract.CHECK_RETRIED)
    assert retried.value == 1.0 and retried.dimensions == contract.check_dimensions(ENV, "http.routing")
    assert points_by(points, contract.CHECK_FAILED) == []


def test_maintenance_suppresses_checkfailed_and_checksfailed_but_keeps_the_run_heartbeat() -> None:
    points = report_datapoints(report(result("http.hermes_health", Outcome.FAILED, reason=Reason.HTTP_5XX),
                                      result("http.routing", Outcome.PASSED),
                                      result("latency.baseline", Outcome.INCOMPLETE, reason=Reason.DEADLINE),
                                      maintenance=True))
    assert points_by(points, contract.CHECK_FAILED) == []
    assert points_by(points, contract.CHECKS_FAILED) == []
    assert points_by(points, contract.CANARY_ERRORS) == []  # a platform under maintenance may hang a check
    assert one(points, contract.RUN_PASSED).value == 0.0  # still emitted: the heartbeat sees the run
    assert len(points_by(points, contract.CHECK_DURATION)) == 2


def test_maintenance_still_counts_the_canarys_own_errors() -> None:
    points = report_datapoints(report(result("aws.credentials", Outcome.ERROR, reason=Reason.ACCESS_DENIED),
                                      maintenance=True))
    assert one(points, contract.CANARY_ERRORS).value == 1.0


def test_container_ready_latency_carries_start_type_and_others_the_check_dimensions() -> None:
    lifecycle = result("session.lifecycle", Outcome.PASSED, start_type="cold",
                       latencies_ms={contract.CONTAINER_READY_LATENCY: 41_000.0,
                                     contract.SESSION_ACTIVATE_LATENCY: 900.0,
                                     contract.WEBSOCKET_CONNECT_LATENCY: 80.0})
    points = report_datapoints(report(lifecycle))
    ready = one(points, contract.CONTAINER_READY_LATENCY)
    assert ready.dimensions == contract.container_ready_dimensions(ENV, "cold")
    assert ready.dimensions[contract.DIM_START_TYPE] == "cold"
    assert ready.value == 41_000.0
    for name in (contract.SESSION_ACTIVATE_LATENCY, contract.WEBSOCKET_CONNECT_LATENCY):
        assert one(points, name).dimensions == contract.check_dimensions(ENV, "session.lifecycle")


def test_container_ready_latency_without_a_start_type_and_unknown_latencies_are_dropped() -> None:
    points = report_datapoints(report(result("session.lifecycle", Outcome.PASSED, start_type=None,
                                             latencies_ms={contract.CONTAINER_READY_LATENCY: 1.0,
                                                           "MadeUpLatency": 2.0})))
    names = {p.name for p in points}
    assert contract.CONTAINER_READY_LATENCY not in names and "MadeUpLatency" not in names


# --- the always-on budget -----------------------------------------------------------------------------------


@pytest.mark.parametrize("extra_checks", [0, 200])
@pytest.mark.parametrize("profile", contract.PROFILES)
def test_always_on_metrics_are_at_most_12_whatever_the_number_of_checks(profile: str, extra_checks: int) -> None:
    """What a healthy scheduled run really emits is the contract's always-on set, however large the catalogue."""
    ids = [*contract.scheduled_check_ids(profile), *(f"extra.check_{i}" for i in range(extra_checks))]
    latencies = {name: 10.0 for name in contract.KEY_LATENCY_METRICS}
    emitted: dict[str, set[tuple[str, frozenset[tuple[str, str]]]]] = {}
    for start_type in ("cold", "warm"):
        checks = [result(i, Outcome.PASSED, start_type=start_type,
                         latencies_ms=latencies if i == "session.lifecycle" else {}) for i in ids]
        points = report_datapoints(report(*checks), leaked_sessions=0)
        emitted[start_type] = {(p.name, frozenset(p.dimensions.items())) for p in points}
    assert len(emitted["cold"]) == len(emitted["warm"]) == contract.custom_metric_count(profile) <= 12
    # Across runs only ContainerReadyLatency's StartType changes: one series per run, billed as one metric.
    assert {name for name, _ in emitted["cold"] ^ emitted["warm"]} == (
        {contract.CONTAINER_READY_LATENCY} if profile == contract.SESSION_PLATFORM else set())


def test_the_always_on_set_ignores_checks_that_are_not_latency_slis() -> None:
    many = [f"extra.check_{i}" for i in range(500)]
    assert contract.always_on_metrics(many) == contract.ALWAYS_ON_PER_RUN_METRICS
    assert (contract.custom_metric_count(contract.SESSION_PLATFORM),
            contract.custom_metric_count(contract.QUEUE_PLATFORM, ("probe",))) == (11, 5)


# --- per run ---------------------------------------------------------------------------------------------------


def test_run_metrics_carry_the_run_dimensions() -> None:
    points = report_datapoints(report(result("a", Outcome.FAILED), result("b", Outcome.ERROR)), leaked_sessions=3)
    run_dims = contract.run_dimensions(ENV)
    expected = {
        contract.RUN_PASSED: 0.0,
        contract.CHECKS_FAILED: 1.0,
        contract.CANARY_ERRORS: 1.0,
        contract.RUN_DURATION: 4321.0,
        contract.ESTIMATED_RUN_COST: 0.0012,
        contract.LEAKED_SESSIONS: 3.0,
    }
    for name, value in expected.items():
        point = one(points, name)
        assert (point.value, point.dimensions, point.unit) == (value, run_dims, contract.PER_RUN_METRICS[name])
    assert points_by(report_datapoints(report()), contract.LEAKED_SESSIONS) == []  # only when the sweep counted
    assert points_by(report_datapoints(report(), leaked_sessions=0), contract.LEAKED_SESSIONS) == []  # sparse


def test_no_status_dimension_anywhere() -> None:
    points = report_datapoints(report(result("a", Outcome.FAILED), result("b", Outcome.ERROR),
                                      result("c", Outcome.DEGRADED, retries=1)), leaked_sessions=0)
    allowed = {contract.DIM_ENVIRONMENT, contract.DIM_CHECK, contract.DIM_SERVICE, contract.DIM_START_TYPE}
    assert all(set(p.dimensions) <= allowed for p in points)


def test_to_metric_data_shape() -> None:
    point = Datapoint(contract.CHECK_FAILED, contract.UNIT_COUNT, 1.0, contract.check_dimensions(ENV, "a"))
    assert to_metric_data([point]) == [{
        "MetricName": "CheckFailed",
        "Unit": "Count",
        "Value": 1.0,
        "Dimensions": [{"Name": "Environment", "Value": ENV}, {"Name": "Check", "Value": "a"},
                       {"Name": "service", "Value": contract.SERVICE_NAME}],
    }]


class RecordingCloudWatch:
    """Stands in for the client to observe batching (the real wire format is tested against moto below)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def put_metric_data(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)


def test_publish_batches_and_uses_the_contract_namespace() -> None:
    points = report_datapoints(report(*(result(f"c{i}", Outcome.FAILED) for i in range(4))))
    cloudwatch = RecordingCloudWatch()
    sent = publish(cloudwatch, points, batch=3)
    assert sent == len(points) == 4 + 4  # CheckFailed per check; RunPassed, ChecksFailed, RunDuration, cost
    assert [len(c["MetricData"]) for c in cloudwatch.calls] == [3, 3, 2]
    assert {c["Namespace"] for c in cloudwatch.calls} == {contract.NAMESPACE}


# --- over HTTP to moto's CloudWatch ----------------------------------------------------------------------------



def test_publish_to_cloudwatch_lists_the_metrics_with_their_dimensions(moto_endpoint: str) -> None:
    cloudwatch = boto3.client("cloudwatch", endpoint_url=moto_endpoint, region_name="us-west-2")
    lifecycle = result("session.lifecycle", Outcome.PASSED, start_type="warm",
                       latencies_ms={contract.CONTAINER_READY_LATENCY: 2500.0})
    run = report(result("http.hermes_health", Outcome.FAILED, reason=Reason.HTTP_5XX), lifecycle)
    points = report_datapoints(run, leaked_sessions=0)
    assert publish(cloudwatch, points, batch=4) == len(points)

    listed = cloudwatch.list_metrics(Namespace=contract.NAMESPACE)["Metrics"]
    seen = {(m["MetricName"], frozenset((d["Name"], d["Value"]) for d in m["Dimensions"])) for m in listed}
    expected = {(p.name, frozenset(p.dimensions.items())) for p in points}
    assert expected <= seen
    assert (contract.CONTAINER_READY_LATENCY,
            frozenset(contract.container_ready_dimensions(ENV, "warm").items())) in seen

    now = datetime.now(UTC)
    stats = cloudwatch.get_metric_statistics(
        Namespace=contract.NAMESPACE, MetricName=contract.CHECK_FAILED,
        Dimensions=[{"Name": k, "Value": v} for k, v in contract.check_dimensions(ENV, "http.hermes_health").items()],
        StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=10), Period=60,
        Statistics=["Sum", "SampleCount"])
    assert [(d["Sum"], d["SampleCount"]) for d in stats["Datapoints"]] == [(1.0, 1.0)]
