"""Lambda-side units: the event model, the EMF a report becomes, log redaction, per-check subsegments, caching."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers import metrics
from handlers.composition import LOG_REDACTOR, LambdaApp, build_app, default_app, logger, observe_result
from handlers.events import (
    CanaryRequest,
    EventInvalid,
    ProfileName,
    TierName,
    parse_canary_event,
    parse_sweep_event,
)
from handlers.scheduled import scheduled_request
from harness import contract
from harness.core.model import CheckResult, Outcome, Profile, Reason, RunReport, Tier

KNOWN = ("aws.credentials", "config.valid", "http.hermes_health", "sqs.dlq_empty")
SERVICE = {"service": "webordinary-canary"}
SCHEDULED = {
    "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
    "source": "aws.events", "account": "123456789012", "time": "2026-11-25T18:00:00Z", "region": "us-west-2",
    "resources": ["arn:aws:events:us-west-2:123456789012:rule/webordinary-canary-probes"], "detail": {},
}


@pytest.fixture(autouse=True)
def _reset_powertools(fresh_powertools: None) -> None:
    """Every test starts with clean Powertools state."""


def emf_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if '"_aws"' in line]


def blob_view(line: dict[str, Any]) -> tuple[dict[str, str], dict[str, tuple[str, float]]]:
    """(dimensions, {metric: (unit, value)}) of one EMF line, checking its structure on the way."""
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Webordinary/Canary"
    (dim_names,) = directive["Dimensions"]
    dims = {name: line[name] for name in dim_names}
    values = {}
    for metric in directive["Metrics"]:
        assert "StorageResolution" not in metric  # standard resolution: high resolution costs more
        (value,) = line[metric["Name"]]
        values[metric["Name"]] = (metric["Unit"], value)
    return dims, values


def result(check_id: str, outcome: Outcome, *, reason: Reason | None = None, duration_ms: int = 120,
           retries: int = 0, start_type: str | None = None, latencies: dict[str, float] | None = None,
           message: str = "") -> CheckResult:
    return CheckResult(id=check_id, tier=Tier.PROBE, profile=Profile.SESSION_PLATFORM, outcome=outcome,
                       reason=reason, message=message or outcome.value.lower(), duration_ms=duration_ms,
                       retries=retries, start_type=start_type, latencies_ms=latencies or {})


def report(*checks: CheckResult, maintenance: bool = False) -> RunReport:
    return RunReport(run_id="run-20261125T180000Z-abcdef12", environment="staging",
                     profile=Profile.SESSION_PLATFORM, started_at="2026-11-25T18:00:00Z", duration_ms=4321,
                     checks=checks, estimated_cost_usd=0.000123, canary_version="0.1.0", maintenance=maintenance)


# --- the event model --------------------------------------------------------------------------------------


def test_the_literal_tiers_and_profiles_are_the_contracts() -> None:
    assert set(get_args(TierName)) == set(contract.TIERS)
    assert set(get_args(ProfileName)) == set(contract.PROFILES)


@pytest.mark.parametrize(("event", "expected"), [
    (None, CanaryRequest()),
    ({}, CanaryRequest()),
    ({"tiers": ["probe", "journey"]}, CanaryRequest(tiers=["probe", "journey"])),
    ({"checks": ["http.hermes_health", "aws.credentials", "http.hermes_health"]},
     CanaryRequest(checks=["http.hermes_health", "aws.credentials"])),
    ({"profile": "queue-platform", "dry_run": True}, CanaryRequest(profile="queue-platform", dry_run=True)),
    (SCHEDULED, CanaryRequest()),
    ({**SCHEDULED, "detail": {"tiers": ["journey"]}}, CanaryRequest(tiers=["journey"])),
])
def test_valid_events(event: Any, expected: CanaryRequest) -> None:
    assert parse_canary_event(event, known_checks=KNOWN) == expected


@pytest.mark.parametrize(("event", "fields"), [
    ({"tiers": "probe"}, ["tiers"]),
    ({"tiers": ["probe", "smoke"]}, ["tiers.1"]),
    ({"tiers": []}, ["tiers"]),
    ({"checks": "aws.credentials"}, ["checks"]),
    ({"checks": [1]}, ["checks.0"]),
    ({"checks": ["http.hermes_healht"]}, ["checks"]),
    ({"checks": []}, ["checks"]),
    ({"profile": "session"}, ["profile"]),
    ({"dry_run": "yes"}, ["dry_run"]),
    ({"dry_run": 1}, ["dry_run"]),
    ({"tires": ["probe"]}, ["tires"]),
    ({"tiers": ["probe"], "checks": ["aws.credentials"]}, ["checks"]),
    ({"tiers": "probe", "verbose": True, "dry_run": "no"}, ["tiers", "dry_run", "verbose"]),
    (["probe"], ["event"]),
    ("probe", ["event"]),
    ({**SCHEDULED, "detail-type": "Object Created"}, ["detail-type"]),
    ({**SCHEDULED, "detail": {"tiers": ["probes"]}}, ["detail.tiers.0"]),
    ({**SCHEDULED, "detail": {"everything": True}}, ["detail.everything"]),
    # Powertools' EventBridgeModel: what EventBridge always sends is required and typed
    ({k: v for k, v in SCHEDULED.items() if k not in ("id", "time", "detail")}, ["id", "time", "detail"]),
    ({**SCHEDULED, "time": "yesterday", "resources": "rule"}, ["time", "resources"]),
    ({**SCHEDULED, "source": "aws.ec2"}, ["source"]),
])
def test_invalid_events_name_every_offending_field(event: Any, fields: list[str]) -> None:
    with pytest.raises(EventInvalid) as caught:
        parse_canary_event(event, known_checks=KNOWN)
    assert [d["field"] for d in caught.value.details] == fields
    assert all(d["message"] for d in caught.value.details)


def test_an_unknown_check_is_described_not_echoed_with_the_known_ones_listed() -> None:
    with pytest.raises(EventInvalid) as caught:
        parse_canary_event({"checks": ["aws.credentials", "http.hermes_healht"]}, known_checks=KNOWN)
    (detail,) = caught.value.details
    assert detail["field"] == "checks"
    assert "unknown check id (string, 18 chars; did you mean 'http.hermes_health'?)" in detail["message"]
    assert "healht" not in detail["message"]
    assert all(known in detail["message"] for known in KNOWN)


# --- issue 14.8: validation never echoes values and stays small -------------------------------------------------

PASTED = "hrm_live_5Jq2vX8nR4tY7wZ1aB3cD6eF9gH0kLmN"  # shaped like a real API token


def invalid(event: Any) -> list[dict[str, Any]]:
    with pytest.raises(EventInvalid) as caught:
        parse_canary_event(event, known_checks=KNOWN)
    return caught.value.details


@pytest.mark.parametrize("event", [
    {"checks": [PASTED]}, {"checks": ["aws.credentials", PASTED]}, {"checks": [PASTED, 7]},
    {**SCHEDULED, "detail": {"checks": [PASTED]}}, {"tiers": [PASTED]}, {"profile": PASTED}, {PASTED: True},
    {"checks": [f"Bearer {PASTED}"]},
])
def test_a_pasted_secret_never_comes_back_in_the_details(event: Any) -> None:
    details = invalid(event)
    assert PASTED not in json.dumps(details) and PASTED[:12] not in json.dumps(details)


def test_unknown_ids_are_described_by_kind_and_length_and_at_most_a_few_listed() -> None:
    (detail,) = invalid({"checks": [f"bogus.check{i:03d}" for i in range(1000)]})
    assert detail["message"].startswith("1000 unknown check id(s): unknown check id (string, 14 chars);")
    assert detail["message"].count("unknown check id (") == 5 and "and 995 more" in detail["message"]
    assert "bogus" not in detail["message"]


@pytest.mark.parametrize(("event", "field"), [
    ({"checks": ["x" * 5_000_000]}, "checks"),
    ({"checks": [f"{PASTED}-{i}" for i in range(200_000)]}, "checks"),
    ({"tiers": ["smoke"] * 200_000}, "tiers"),
    ({"checks": [{"id": PASTED}] * 999}, "checks.0"),
    ({f"{PASTED}{i}": i for i in range(200_000)}, "<key of 42 characters>"),
])
def test_a_huge_event_gives_a_small_error(event: Any, field: str) -> None:
    details = invalid(event)
    assert details[0]["field"] == field
    assert len(details) <= 21 and len(json.dumps(details)) < 8_000
    assert PASTED not in json.dumps(details)


def test_the_handler_response_and_error_log_of_a_hostile_event_are_small_and_echo_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    from handlers.canary import CanaryHandler
    from tests.lambda_support import LambdaContext

    def no_app() -> LambdaApp:
        raise AssertionError("an invalid event must not build the app")

    handler = CanaryHandler(no_app)
    events = [{"checks": [PASTED]}, {"checks": [PASTED * 120_000]}, {"checks": [PASTED] * 200_000},
              {"checks": [f"{PASTED}{i}" for i in range(999)]}]
    with caplog.at_level(logging.DEBUG, logger=logger.name):
        responses = [handler(event, LambdaContext()) for event in events]
    lines = [logger.registered_formatter.format(r) for r in caplog.records if r.name == logger.name]
    assert len(lines) == len(events)
    for response, line in zip(responses, lines, strict=True):
        assert response["error"] == "validation" and response["details"][0]["field"] == "checks"
        assert len(json.dumps(response)) < 8_000 and len(line) < 10_000
        assert PASTED not in json.dumps(response) and PASTED not in line


def test_rejected_values_are_never_echoed() -> None:
    secret = "tok-7f3a9c1e55d24b8a"
    with pytest.raises(EventInvalid) as caught:
        parse_canary_event({"hermes_token": secret, "tiers": secret, "profile": secret}, known_checks=KNOWN)
    assert secret not in json.dumps(caught.value.details)
    assert [d["field"] for d in caught.value.details] == ["tiers", "profile", "hermes_token"]


@pytest.mark.parametrize(("event", "dry_run", "minutes"), [
    ({}, False, None), (None, False, None), (SCHEDULED, False, None),
    ({"dry_run": True, "older_than_minutes": 90}, True, 90.0), ({"older_than_minutes": 2.5}, False, 2.5),
])
def test_valid_sweep_events(event: Any, dry_run: bool, minutes: float | None) -> None:
    request = parse_sweep_event(event)
    assert (request.dry_run, request.older_than_minutes) == (dry_run, minutes)


@pytest.mark.parametrize(("event", "field"), [
    ({"older_than_minutes": True}, "older_than_minutes"), ({"older_than_minutes": 0}, "older_than_minutes"),
    ({"older_than_minutes": "60"}, "older_than_minutes"), ({"older_than_minutes": 10**9}, "older_than_minutes"),
    ({"dry_run": "true"}, "dry_run"), ({"tiers": ["probe"]}, "tiers"),
])
def test_invalid_sweep_events(event: Any, field: str) -> None:
    with pytest.raises(EventInvalid) as caught:
        parse_sweep_event(event)
    assert [d["field"] for d in caught.value.details] == [field]


# --- the schedule's fast path (no pydantic on the scheduled invoke) ------------------------------------------

_FIELDS = ("tiers", "checks", "profile", "dry_run", "selftest")


def _same_as_the_model(event: Any) -> None:
    """Whenever the fast path answers, it answers exactly what the pydantic model would."""
    fast = scheduled_request(event, contract.all_check_ids())
    if fast is None:
        return
    model = parse_canary_event(event, known_checks=contract.all_check_ids())
    assert {f: getattr(fast, f) for f in _FIELDS} == {f: getattr(model, f) for f in _FIELDS}, event
    assert fast.model_dump(exclude_defaults=True) == model.model_dump(exclude_defaults=True)


@pytest.mark.parametrize("event", [
    {"tiers": ["probe"]}, {"tiers": ["journey"]}, {"tiers": ["destructive"]}, {"tiers": ["probe", "probe"]},
    {"checks": ["http.hermes_health", "ecs.services"]}, {}, None, SCHEDULED,
    {**SCHEDULED, "detail": {"tiers": ["journey"]}},
])
def test_the_schedules_own_events_take_the_fast_path_with_the_models_answer(event: Any) -> None:
    assert scheduled_request(event, contract.all_check_ids()) is not None
    _same_as_the_model(event)


@pytest.mark.parametrize("event", [
    {"tiers": "probe"}, {"tiers": []}, {"tiers": ["smoke"]}, {"checks": ["http.hermes_healht"]},
    {"tiers": ["probe"], "dry_run": True}, {"selftest": True}, {"profile": "queue-platform"}, [], "probe",
    {"tiers": [1]}, {**SCHEDULED, "detail-type": "Other"}, {**SCHEDULED, "detail": []}, {"tiers": ("probe",)},
    {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}},  # not an envelope EventBridge sends
])
def test_anything_else_goes_to_the_model(event: Any) -> None:
    assert scheduled_request(event, contract.all_check_ids()) is None


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                  max_size=3), max_leaves=8)
_NEAR = st.one_of(
    st.dictionaries(st.sampled_from(["tiers", "checks", "profile", "dry_run"]),
                    st.lists(st.sampled_from([*contract.TIERS, *contract.all_check_ids()[:4], "x"]), max_size=3)
                    | _JSON, max_size=2),
    _JSON)


_TIMES = st.sampled_from(["2026-11-25T18:00:00Z", "2026-11-25T18:00:00.123Z", "2026-13-45T25:61:61Z", "yesterday",
                          "2026-11-25 18:00:00", 1764093600])
_ENVELOPES = st.builds(
    lambda detail, drop, changes: {k: v for k, v in {**SCHEDULED, "detail": detail, **changes}.items()
                                   if k not in drop},
    st.dictionaries(st.sampled_from(["tiers", "checks"]),
                    st.lists(st.sampled_from([*contract.TIERS, "http.routing", "x"]), max_size=2), max_size=1),
    st.sets(st.sampled_from(sorted(SCHEDULED)), max_size=2),
    st.dictionaries(st.sampled_from([*sorted(SCHEDULED), "replay-name"]), _JSON | _TIMES, max_size=2))


@given(_NEAR | _ENVELOPES)
@settings(max_examples=400, deadline=None)
def test_the_fast_path_never_disagrees_with_the_model(event: Any) -> None:
    _same_as_the_model(event)


# --- the EMF a report becomes ------------------------------------------------------------------------------


def test_each_outcome_emits_exactly_its_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    run = report(
        result("http.routing", Outcome.PASSED, duration_ms=80),
        result("aws.credentials", Outcome.PASSED, duration_ms=30),
        result("ecs.services", Outcome.DEGRADED, reason=Reason.DEPLOYING, duration_ms=900, retries=1),
        result("http.hermes_health", Outcome.FAILED, reason=Reason.HTTP_5XX, duration_ms=250),
        result("ecs.cluster", Outcome.FAILED, reason=Reason.RESOURCE_MISSING, duration_ms=60),
        result("dynamodb.sessions_table", Outcome.ERROR, reason=Reason.ACCESS_DENIED, duration_ms=40),
        result("alb.targets", Outcome.SKIPPED, reason=Reason.DEPENDENCY_FAILED, duration_ms=0),
        result("latency.baseline", Outcome.INCOMPLETE, reason=Reason.DEADLINE, duration_ms=3000),
    )
    assert metrics.emit(metrics.report_blobs(run)) == 5
    lines = emf_lines(capsys.readouterr().out)
    views = [blob_view(line) for line in lines]

    def check(check_id: str) -> dict[str, tuple[str, float]]:
        (values,) = [v for d, v in views if d == {"Environment": "staging", "Check": check_id, **SERVICE}]
        return values

    # PASSED: no outcome metric; a latency SLI keeps its duration, the others send nothing at all.
    assert check("http.routing") == {"CheckDuration": ("Milliseconds", 80.0)}
    # CheckDegraded and CheckRetried are sparse: sent only when they happen (contract.SPARSE_PER_CHECK_METRICS).
    assert check("ecs.services") == {"CheckDegraded": ("Count", 1.0), "CheckRetried": ("Count", 1.0)}
    assert check("http.hermes_health") == {"CheckFailed": ("Count", 1.0), "CheckDuration": ("Milliseconds", 250.0)}
    assert check("ecs.cluster") == {"CheckFailed": ("Count", 1.0)}
    # ERROR is the canary's fault, INCOMPLETE the canary's deadline: both count in CanaryErrors, never CheckFailed.
    # SKIPPED says nothing about the target; PASSED non-SLI checks cost nothing.
    assert not [d for d, _ in views if d.get("Check") in ("aws.credentials", "dynamodb.sessions_table",
                                                          "alb.targets", "latency.baseline")]
    run_dims, run_values = views[-1]
    assert run_dims == {"Environment": "staging", **SERVICE}
    assert run_values == {"RunPassed": ("Count", 0.0), "ChecksFailed": ("Count", 2.0), "CanaryErrors": ("Count", 2.0),
                          "RunDuration": ("Milliseconds", 4321.0), "EstimatedRunCostUSD": ("None", 0.000123)}
    assert all(line["run_id"] == "run-20261125T180000Z-abcdef12" for line in lines)


def test_a_healthy_run_emits_no_per_check_outcome_metric(capsys: pytest.CaptureFixture[str]) -> None:
    ids = contract.scheduled_check_ids(contract.SESSION_PLATFORM, ("probe",))
    metrics.emit(metrics.report_blobs(report(*(result(i, Outcome.PASSED) for i in ids))))
    views = [blob_view(line) for line in emf_lines(capsys.readouterr().out)]
    per_check = {d["Check"]: v for d, v in views if "Check" in d}
    assert set(per_check) == set(ids) & contract.LATENCY_SLI_CHECKS
    assert all(v == {"CheckDuration": ("Milliseconds", 120.0)} for v in per_check.values())
    assert views[-1] == (contract.run_dimensions("staging"), {"RunPassed": ("Count", 1.0), "RunDuration": (
        "Milliseconds", 4321.0), "EstimatedRunCostUSD": ("None", 0.000123)})


def test_a_failed_check_emits_checkfailed_with_the_alarms_exact_dimensions(
        capsys: pytest.CaptureFixture[str]) -> None:
    metrics.emit(metrics.report_blobs(report(result("alb.targets", Outcome.FAILED, reason=Reason.UNHEALTHY_TARGETS))))
    views = [blob_view(line) for line in emf_lines(capsys.readouterr().out)]
    assert views[0] == (contract.check_dimensions("staging", "alb.targets"), {"CheckFailed": ("Count", 1.0)})


def test_key_latencies_ride_with_the_check_and_container_ready_splits_by_start_type(
        capsys: pytest.CaptureFixture[str]) -> None:
    journey = result("session.lifecycle", Outcome.PASSED, duration_ms=41000, start_type="cold", latencies={
        "SessionActivateLatency": 850.0, "ContainerReadyLatency": 38000.0, "PreviewLatency": 420.0,
        "WebSocketConnectLatency": 95.5})
    metrics.emit(metrics.report_blobs(report(journey)))
    views = [blob_view(line) for line in emf_lines(capsys.readouterr().out)]
    assert views[0] == ({"Environment": "staging", "Check": "session.lifecycle", **SERVICE}, {
        "CheckDuration": ("Milliseconds", 41000.0),
        "SessionActivateLatency": ("Milliseconds", 850.0),
        "PreviewLatency": ("Milliseconds", 420.0), "WebSocketConnectLatency": ("Milliseconds", 95.5)})
    assert views[1] == ({"Environment": "staging", "Check": "session.lifecycle", **SERVICE, "StartType": "cold"},
                        {"ContainerReadyLatency": ("Milliseconds", 38000.0)})
    assert views[1][0] == contract.container_ready_dimensions("staging", "cold")


def test_maintenance_withholds_check_failed_but_keeps_the_heartbeat(capsys: pytest.CaptureFixture[str]) -> None:
    run = report(result("http.hermes_health", Outcome.FAILED, reason=Reason.HTTP_5XX),
                 result("ecs.services", Outcome.DEGRADED, reason=Reason.DEPLOYING),
                 result("aws.credentials", Outcome.PASSED), maintenance=True)
    metrics.emit(metrics.report_blobs(run))
    views = [blob_view(line) for line in emf_lines(capsys.readouterr().out)]
    assert not [v for _, v in views if "CheckFailed" in v or "ChecksFailed" in v]
    assert views[-1][1]["RunPassed"] == ("Count", 0.0)
    assert {name for _, v in views[:-1] for name in v} == {"CheckDuration", "CheckDegraded"}


def test_dimension_sets_are_the_contracts_whatever_the_powertools_environment(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "something-else")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Other/Namespace")
    metrics.emit(metrics.report_blobs(report(result("http.routing", Outcome.PASSED))))
    lines = emf_lines(capsys.readouterr().out)
    assert [blob_view(line)[0] for line in lines] == [contract.check_dimensions("staging", "http.routing"),
                                                      contract.run_dimensions("staging")]


def test_sweeper_and_config_error_blobs(capsys: pytest.CaptureFixture[str]) -> None:
    metrics.emit(metrics.sweep_blobs("prod", leaked=3, run_id="run-x"))
    assert metrics.emit(metrics.sweep_blobs("prod", leaked=0, run_id="run-y")) == 0  # a clean sweep sends nothing
    metrics.emit(metrics.canary_error_blobs("prod", what="config"))
    views = [blob_view(line) for line in emf_lines(capsys.readouterr().out)]
    assert views == [({"Environment": "prod", **SERVICE}, {"LeakedSessions": ("Count", 3.0)}),
                     ({"Environment": "prod", **SERVICE}, {"CanaryErrors": ("Count", 1.0)})]


@pytest.mark.parametrize("profile", contract.PROFILES)
def test_the_always_on_metric_count_is_the_contracts(profile: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Every (metric, dimension set) a healthy month of probe and journey runs emits through EMF, counted."""
    ids = contract.scheduled_check_ids(profile)
    latencies = {name: 10.0 for name in contract.KEY_LATENCY_METRICS}
    for start_type in ("cold", "warm"):
        checks = [result(i, Outcome.PASSED, start_type=start_type,
                         latencies=latencies if i == "session.lifecycle" else None) for i in ids]
        metrics.emit(metrics.report_blobs(report(*checks)))
    distinct = {(name, tuple(sorted(dims.items())))
                for dims, values in map(blob_view, emf_lines(capsys.readouterr().out)) for name in values}
    # ContainerReadyLatency appears under both StartTypes over the month, one per run: billed as one metric.
    start_type_pair = 1 if profile == contract.SESSION_PLATFORM else 0
    assert len(distinct) - start_type_pair == contract.custom_metric_count(profile) <= 12
    key_latencies = contract.KEY_LATENCY_METRICS if profile == contract.SESSION_PLATFORM else {}
    assert {name for name, _ in distinct} == {
        "CheckDuration", "RunPassed", "RunDuration", "EstimatedRunCostUSD", *key_latencies}
    assert (contract.custom_metric_count(contract.SESSION_PLATFORM),
            contract.custom_metric_count(contract.QUEUE_PLATFORM)) == (11, 5)


# --- logs and traces ----------------------------------------------------------------------------------------


def test_a_registered_secret_is_masked_in_every_log_field(caplog: pytest.LogCaptureFixture) -> None:
    secret = "hermes-tok-0b7e5d2a9c4f"
    LOG_REDACTOR.register(secret)
    with caplog.at_level(logging.INFO, logger=logger.name):
        observe_result(result("http.hermes_health", Outcome.FAILED, reason=Reason.HTTP_5XX,
                              message=f"echoed Bearer {secret}"))
        logger.info(f"token {secret}", extra={"nested": {"list": [secret]}, "authorization": "Bearer x"})
        try:
            raise RuntimeError(secret)
        except RuntimeError:
            logger.exception("crash")
    formatted = [logger.registered_formatter.format(r) for r in caplog.records]
    assert len(formatted) == 3
    assert not [line for line in formatted if secret in line]
    first = json.loads(formatted[0])
    assert (first["check"], first["outcome"], first["reason"], first["duration_ms"]) == (
        "http.hermes_health", "FAILED", "http_5xx", 120)
    assert json.loads(formatted[1])["authorization"] == "***"


def test_each_check_becomes_a_subsegment_annotated_with_its_verdict() -> None:
    from aws_xray_sdk import global_sdk_config
    from aws_xray_sdk.core import xray_recorder

    class Captured:
        def __init__(self) -> None:
            self.entities: list[dict[str, Any]] = []

        def send_entity(self, entity: Any) -> None:
            self.entities.append(json.loads(entity.serialize()))

        def set_daemon_address(self, address: str) -> None:
            pass

    captured, previous = Captured(), xray_recorder.emitter
    global_sdk_config.set_sdk_enabled(True)
    xray_recorder.configure(emitter=captured, sampling=False, context_missing="LOG_ERROR")
    try:
        xray_recorder.begin_segment("canary")
        observe_result(result("http.hermes_health", Outcome.FAILED, reason=Reason.HTTP_5XX, duration_ms=1500))
        observe_result(result("aws.credentials", Outcome.ERROR, reason=Reason.CREDENTIALS_EXPIRED))
        observe_result(result("aws.identity", Outcome.PASSED))
        xray_recorder.end_segment()
    finally:
        xray_recorder.configure(emitter=previous)
        global_sdk_config.set_sdk_enabled(False)
    (segment,) = captured.entities
    subs = {s["name"]: s for s in segment["subsegments"]}
    assert list(subs) == ["## check http.hermes_health", "## check aws.credentials", "## check aws.identity"]
    failed = subs["## check http.hermes_health"]
    assert failed["annotations"] == {"check": "http.hermes_health", "outcome": "FAILED", "reason": "http_5xx"}
    assert failed["error"] is True and "fault" not in failed
    assert failed["end_time"] - failed["start_time"] == pytest.approx(1.5, abs=0.05)
    assert subs["## check aws.credentials"]["fault"] is True
    assert "error" not in subs["## check aws.identity"] and "fault" not in subs["## check aws.identity"]


# --- the composition: built once, errors that name the variable ----------------------------------------------


def test_config_and_clients_are_built_once_and_reused() -> None:
    app = build_app({"CANARY_ENVIRONMENT": "staging", "AWS_REGION": "us-west-2"}, with_lock=False)
    first = app.app(read_secrets=False)
    assert app.app(read_secrets=False) is first
    assert app.config is first.config and app.config.environment == "staging"
    assert first.aws.client("sts") is app.app().aws.client("sts")
    assert default_app() is default_app()


def test_an_invalid_config_names_the_variable_and_keeps_the_environment_dimension() -> None:
    from harness.core.errors import ConfigError

    app = LambdaApp({"CANARY_ENVIRONMENT": "staging", "CANARY_TIERS": "probe,smoke"})
    assert app.environment == "staging"
    with pytest.raises(ConfigError, match="CANARY_TIERS"):
        _ = app.config
    assert LambdaApp({}).environment == "production"


def test_importing_the_canary_handler_loads_no_check_module_and_no_pydantic() -> None:
    """Cold start (issue 13): the scheduled invoke's import path holds neither the catalogue nor the event model."""
    code = ("import sys, handlers.canary; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic' or "
            "m.startswith('harness.checks.') or m in ('handlers.events', 'harness.core.runner', 'harness.wiring')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_importing_the_handlers_leaves_the_rarely_needed_modules_unloaded() -> None:
    """Cold start: the secrets provider, the harness app, the run lock and Powertools' EventBridge model (only a raw
    envelope needs it) are imported when first needed."""
    code = ("import sys, handlers.canary, handlers.sweeper; "
            "print(sorted(m for m in ('aws_lambda_powertools.utilities.parameters', "
            "'harness.wiring', 'harness.sessions.run_lock', "
            "'aws_lambda_powertools.utilities.parser.models.event_bridge') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
