"""The Lambda handlers invoked as Lambda would: a context object, real boto3 over HTTP to the sandbox's moto,
real HTTP to its ALB; EMF read back from stdout, logs through the Powertools formatter."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from handlers.canary import CanaryHandler
from handlers.composition import FLUSH_RESERVE_S, build_app, logger
from handlers.sweeper import SweepHandler
from harness import contract
from tests.lambda_support import LambdaContext, emf
from tests.report_contract import report_problems

EVENTS = Path(__file__).resolve().parents[2] / "events"
SERVICE = {"service": "webordinary-canary"}


# --- Lambda-side fixtures ------------------------------------------------------------------------------------



@pytest.fixture(autouse=True)
def _reset_powertools(fresh_powertools: None) -> None:
    """Every test starts with clean Powertools state."""


@pytest.fixture
def canary_env(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The function's environment for the sandbox (boto3 reads AWS_ENDPOINT_URL from the process).

    Latency thresholds are raised: these tests are about what a verdict becomes, and a loaded CI machine must
    not turn a sample into DEGRADED.
    """
    env: dict[str, str] = {**sandbox.environment(), "CANARY_LATENCY_DEGRADED_MS": "20000",
                           "CANARY_LATENCY_FAILED_MS": "30000"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def use_env(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> dict[str, str]:
    full = {"AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "us-west-2", **env}
    for key, value in full.items():
        monkeypatch.setenv(key, value)
    return full


def canary(env: Mapping[str, str]) -> CanaryHandler:
    app = build_app(env)
    return CanaryHandler(lambda: app)



def log_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The JSON the Powertools logger wrote (its handler holds the import-time stdout: read records instead)."""
    return [json.loads(logger.registered_formatter.format(r)) for r in caplog.records if r.name == logger.name]


class RecordingServer:
    """A loopback HTTP server that records every request; answers ``status`` with ``body(request)`` or hangs."""

    def __init__(self, *, status: int = 500, body: Any = None, hang: bool = False) -> None:
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = {"method": self.command, "path": self.path, "headers": dict(self.headers),
                           "body": self.rfile.read(length).decode(errors="replace")}
                outer.requests.append(request)
                if hang:
                    outer.release.wait(10)
                payload = (body(request) if callable(body) else (body or "")).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[RecordingServer]:
    server = RecordingServer()
    yield server
    server.close()


# --- runs against the sandbox: exact EMF ----------------------------------------------------------------------


def test_a_passing_run_emits_exactly_the_contract_metrics(sandbox: Any, canary_env: dict[str, str],
                                                          capsys: pytest.CaptureFixture[str],
                                                          caplog: pytest.LogCaptureFixture) -> None:
    # GIVEN the healthy sandbox WHEN the schedule's event arrives
    with caplog.at_level(logging.INFO, logger=logger.name):
        response = canary(canary_env)({"tiers": ["probe"]}, LambdaContext())
    # THEN every probe passed and the response is the §9 report
    assert response["outcome"] == "PASSED", [(c["id"], c["outcome"], c["message"]) for c in response["checks"]]
    checks = {c["id"]: c for c in response["checks"]}
    assert set(checks) == {i for i in contract.CHECK_IDS_BY_PROFILE["session-platform"]
                           if contract.NON_PROBE_TIERS.get(i, "probe") == "probe"}
    assert {c["outcome"] for c in checks.values()} == {"PASSED"}
    # AND the EMF carries no per-check outcome (contract v2: sparse): one line per latency-SLI check with its
    # duration only, plus the run line, each with exactly the contract's dimensions
    views = emf(capsys.readouterr().out)
    slis = sorted(set(checks) & contract.LATENCY_SLI_CHECKS)
    assert slis and len(views) == len(slis) + 1
    for check_id in slis:
        (values,) = [v for d, v in views if d == contract.check_dimensions("sandbox", check_id)]
        assert values == {"CheckDuration": ("Milliseconds", checks[check_id]["duration_ms"])}
    run_dims, run = views[-1]
    assert run_dims == {"Environment": "sandbox", **SERVICE} == contract.run_dimensions("sandbox")
    assert run.pop("EstimatedRunCostUSD") == ("None", pytest.approx(response["estimated_cost_usd"], abs=1e-6))
    assert run == {"RunPassed": ("Count", 1.0), "RunDuration": ("Milliseconds", response["duration_ms"])}
    # AND one structured log line per check with the contract's field names (the dashboard's Logs Insights reads them)
    lines = [line for line in log_lines(caplog)
             if line.get(contract.LOG_FIELD_KIND) == contract.LOG_KIND_CHECK_RESULT]
    assert sorted(line["check"] for line in lines) == sorted(checks)
    for line in lines:
        check = checks[line[contract.LOG_FIELD_CHECK]]
        assert set(contract.LOG_FIELDS) <= set(line), set(contract.LOG_FIELDS) - set(line)
        assert {field: line[field] for field in contract.LOG_FIELDS} == {
            "kind": "check_result", "check": check["id"], "outcome": "PASSED", "reason": contract.LOG_NO_REASON,
            "duration_ms": check["duration_ms"], "run_id": response["run_id"], "tier": "probe",
            "profile": "session-platform", "environment": "sandbox", "retries": check["retries"],
            "detail": check["message"][:500]}
        assert line["correlation_id"] == response["run_id"]


def test_a_failing_run_emits_check_failed_for_each_failed_check(sandbox: Any, canary_env: dict[str, str],
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN Hermes answers 500
    sandbox.faults.enable("hermes_5xx")
    response = canary(canary_env)({}, LambdaContext())
    # THEN the health check FAILED with its reason, and the run failed
    checks = {c["id"]: c for c in response["checks"]}
    assert (checks["http.hermes_health"]["outcome"], checks["http.hermes_health"]["reason"]) == ("FAILED", "http_5xx")
    assert response["outcome"] == "FAILED"
    failed = sorted(i for i, c in checks.items() if c["outcome"] == "FAILED")
    views = emf(capsys.readouterr().out)
    by_check = {d.get("Check"): v for d, v in views if "Check" in d}
    # AND each FAILED check sent CheckFailed=1 under exactly the dimensions its alarm watches; nothing else did
    assert sorted(c for c, v in by_check.items() if c is not None and "CheckFailed" in v) == failed
    for check_id in failed:
        dims = next(d for d, v in views if d.get("Check") == check_id)
        assert dims == contract.check_dimensions("sandbox", check_id)
        assert by_check[check_id]["CheckFailed"] == ("Count", 1.0)
    assert by_check["http.hermes_health"]["CheckDuration"] == (
        "Milliseconds", checks["http.hermes_health"]["duration_ms"])
    assert "aws.credentials" not in by_check  # PASSED and not a latency SLI: nothing to pay for
    run = views[-1][1]
    assert (run["RunPassed"], run["ChecksFailed"]) == (("Count", 0.0), ("Count", float(len(failed))))
    assert "CanaryErrors" not in run


def test_a_canary_error_is_counted_in_canary_errors_never_in_check_failed(sandbox: Any, canary_env: dict[str, str],
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN every AWS call answers ExpiredToken (the canary's credentials, not the platform)
    sandbox.faults.enable("credentials_expired")
    response = canary(canary_env)({}, LambdaContext())
    checks = {c["id"]: c for c in response["checks"]}
    assert (checks["aws.credentials"]["outcome"], response["outcome"]) == ("ERROR", "ERROR")
    views = emf(capsys.readouterr().out)
    by_check = {d["Check"]: v for d, v in views if "Check" in d}
    assert "aws.credentials" not in by_check  # ERROR is not the target's verdict, and not a latency SLI
    skipped = [i for i, c in checks.items() if c["outcome"] == "SKIPPED"]
    assert skipped and not set(skipped) & set(by_check)  # dependents SKIPPED: no metric at all
    assert not [v for v in by_check.values() if "CheckFailed" in v]
    run = views[-1][1]
    errors = sum(1 for c in checks.values() if c["outcome"] in ("ERROR", "INCOMPLETE"))
    assert (run["RunPassed"], run["CanaryErrors"]) == (("Count", 0.0), ("Count", float(errors)))
    assert errors >= 1 and "ChecksFailed" not in run


_FRESH_INVOKE = """
import json, sys
from tests.lambda_support import LambdaContext
import handlers.canary as handler
response = handler.lambda_handler(json.loads(sys.argv[1]), LambdaContext())
print("RESULT " + json.dumps({"outcome": response["outcome"],
      "pydantic": sorted(m for m in sys.modules if m.split(".")[0] == "pydantic"),
      "checks": sorted(m.rsplit(".", 1)[1] for m in sys.modules if m.startswith("harness.checks."))}))
"""


@pytest.mark.parametrize(("event", "modules"), [
    ({"tiers": ["probe"]}, {"account", "alb", "cloudwatch", "dynamodb", "ecs", "efs", "http_probes", "hygiene",
                            "latency"}),
    ({"checks": ["http.hermes_health"]}, {"http_probes"}),
])
def test_a_cold_scheduled_invoke_loads_no_pydantic_and_only_the_selected_checks_modules(
        sandbox: Any, canary_env: dict[str, str], event: dict[str, Any], modules: set[str]) -> None:
    """Cold start (issue 13): a fresh container's scheduled run never imports the event model, nor the modules of
    checks it did not select (journeys, destructive, the queue platform's)."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", _FRESH_INVOKE, json.dumps(event)], cwd=root, timeout=120,
                          env={**os.environ, **canary_env, "AWS_LAMBDA_FUNCTION_NAME": "canary-cold"},
                          capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result == {"outcome": "PASSED", "pydantic": [], "checks": sorted(modules)}, result


def test_a_scheduled_envelope_runs_the_configured_selection(sandbox: Any, canary_env: dict[str, str]) -> None:
    envelope = json.loads((EVENTS / "schedule-envelope.json").read_text())
    handler = canary(canary_env)
    scheduled = handler(envelope, LambdaContext())
    plain = handler({}, LambdaContext())
    assert [c["id"] for c in scheduled["checks"]] == [c["id"] for c in plain["checks"]]
    assert scheduled["outcome"] == "PASSED"


# --- nothing runs on a bad event ------------------------------------------------------------------------------


BAD_EVENTS = [
    ({"tiers": "probe"}, ["tiers"]),
    ({"tiers": ["probe", "smoke"]}, ["tiers.1"]),
    ({"checks": ["http.hermes_healht"]}, ["checks"]),
    ({"checks": ["sqs.dlq_empty"]}, ["checks"]),  # a queue-platform check, the function runs session-platform
    ({"dry_run": "yes"}, ["dry_run"]),
    ({"tires": ["probe"]}, ["tires"]),
    ({"tiers": "probe", "checks": ["nope"], "dry_run": "yes", "verbose": True},
     ["tiers", "checks", "dry_run", "verbose"]),
    (["probe"], ["event"]),
]


@pytest.mark.parametrize(("event", "fields"), BAD_EVENTS)
def test_a_bad_event_returns_the_validation_error_and_touches_nothing(
        event: Any, fields: list[str], recorder: RecordingServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    # GIVEN a function whose AWS endpoint, platform and Hermes all point at a server that records every request
    env = use_env(monkeypatch, {"CANARY_ENVIRONMENT": "test", "AWS_ENDPOINT_URL": recorder.url,
                                "WEBORDINARY_BASE_URL": recorder.url, "HERMES_API_TOKEN_SECRET": "canary/hermes"})
    handler = canary(env)
    with caplog.at_level(logging.INFO, logger=logger.name):
        response = handler(event, LambdaContext())
    # THEN the response names every bad field, and the error is logged with the same details
    assert response["error"] == "validation"
    assert [d["field"] for d in response["details"]] == fields
    (logged,) = [line for line in log_lines(caplog) if line["level"] == "ERROR"]
    assert logged["details"] == response["details"]
    # AND no request left the function (no AWS call: no secret read, no STS, no lock) and no metric was written
    assert recorder.requests == []
    assert emf(capsys.readouterr().out) == []
    # (the same wiring does reach the recorder when the event is good: the assertion above can fail)
    handler({"checks": ["aws.credentials"]}, LambdaContext())
    assert recorder.requests and recorder.requests[0]["path"].startswith("/")


def test_dry_run_lists_the_selection_without_any_call(recorder: RecordingServer, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    env = use_env(monkeypatch, {"CANARY_ENVIRONMENT": "test", "AWS_ENDPOINT_URL": recorder.url,
                                "WEBORDINARY_BASE_URL": recorder.url, "HERMES_API_TOKEN_SECRET": "canary/hermes"})
    response = canary(env)({"tiers": ["probe", "journey"], "dry_run": True}, LambdaContext())
    assert response["dry_run"] is True and response["allowed_tiers"] == ["probe"]
    assert "aws.credentials" in response["would_run"] and "http.hermes_health" in response["would_run"]
    skipped = {s["id"]: s for s in response["skipped"]}
    assert skipped["efs.filesystem"]["reason"] == "not_configured"  # EFS_FILE_SYSTEM_ID unset
    assert "EFS_FILE_SYSTEM_ID" in skipped["efs.filesystem"]["message"]
    assert recorder.requests == [] and emf(capsys.readouterr().out) == []


# --- configuration errors -------------------------------------------------------------------------------------


def test_an_invalid_config_returns_the_variable_and_counts_a_canary_error(
        monkeypatch: pytest.MonkeyPatch, recorder: RecordingServer, capsys: pytest.CaptureFixture[str]) -> None:
    env = use_env(monkeypatch, {"CANARY_ENVIRONMENT": "staging", "CANARY_TIERS": "probe,smoke",
                                "AWS_ENDPOINT_URL": recorder.url})
    response = canary(env)({}, LambdaContext())
    assert response["error"] == "config" and response["env_var"] == "CANARY_TIERS"
    assert "CANARY_TIERS" in response["message"]
    # CanaryErrors=1 on the run dimensions; RunPassed absent (nothing ran); nothing called
    assert emf(capsys.readouterr().out) == [(contract.run_dimensions("staging"), {"CanaryErrors": ("Count", 1.0)})]
    assert recorder.requests == []


def test_an_unreadable_token_secret_is_a_config_error_naming_the_variable(
        sandbox: Any, canary_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    env = use_env(monkeypatch, {**canary_env, "HERMES_API_TOKEN_SECRET": f"webordinary/missing-{uuid.uuid4()}"})
    response = canary(env)({}, LambdaContext())
    assert (response["error"], response["env_var"]) == ("config", "HERMES_API_TOKEN_SECRET")
    assert "ResourceNotFoundException" in response["message"]
    assert emf(capsys.readouterr().out) == [(contract.run_dimensions("sandbox"), {"CanaryErrors": ("Count", 1.0)})]


# --- the deadline --------------------------------------------------------------------------------------------


def test_too_little_time_ends_incomplete_on_time_with_metrics_flushed(monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN an AWS endpoint that never answers in time and an invoke with ~1.5 s of usable time
    slow = RecordingServer(hang=True)
    try:
        env = use_env(monkeypatch, {"CANARY_ENVIRONMENT": "test", "AWS_ENDPOINT_URL": slow.url})
        app = build_app(env)
        app.app().aws.client("sts")  # a warm container: clients exist, only the call itself is left
        context = LambdaContext(remaining_s=FLUSH_RESERVE_S + 1.5)
        started = time.monotonic()
        response = CanaryHandler(lambda: app)({}, context)
        elapsed = time.monotonic() - started
    finally:
        slow.close()
    # THEN the run returned on time, keeping the flush reserve, with the pending check INCOMPLETE
    checks = {c["id"]: c for c in response["checks"]}
    summary = (elapsed, [(i, c["outcome"], c["reason"], c["duration_ms"]) for i, c in checks.items()])
    # (at least half the flush reserve is left: a margin for a loaded 2-core machine, not a performance target)
    assert context.get_remaining_time_in_millis() > (FLUSH_RESERVE_S / 2) * 1000, summary
    assert (checks["aws.credentials"]["outcome"], checks["aws.credentials"]["reason"]) == (
        "INCOMPLETE", "deadline"), summary
    assert checks["config.valid"]["outcome"] == "PASSED", summary
    assert response["outcome"] == "INCOMPLETE" and slow.requests, summary  # the STS call really was in flight
    # AND the metrics were still flushed: the run line says not passed, and the check the canary could not judge in
    # time counts in CanaryErrors (the canary-broken alarm), never as a platform failure
    views = emf(capsys.readouterr().out)
    run = views[-1][1]
    incomplete = sum(1 for c in checks.values() if c["outcome"] == "INCOMPLETE")
    assert (views[-1][0], run["RunPassed"], run["CanaryErrors"]) == (
        contract.run_dimensions("test"), ("Count", 0.0), ("Count", float(incomplete)))
    assert "ChecksFailed" not in run
    # INCOMPLETE: the deadline set its duration, so nothing per check; PASSED non-SLI checks send nothing either
    assert not [d for d, _ in views if "Check" in d]


def test_a_journey_out_of_time_is_incomplete_its_session_cleaned_up_and_metrics_flushed(
        sandbox: Any, canary_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a container that never becomes ready, and an invoke whose time runs out while the journey waits for it
    sandbox.faults.enable("container_never_ready")
    env = use_env(monkeypatch, {**canary_env, "CANARY_TIERS": "probe,journey", "CANARY_CLEANUP_RESERVE_S": "3"})
    context = LambdaContext(remaining_s=FLUSH_RESERVE_S + 3 + 2)  # 2 s of work, then 3 s of cleanup, 3 s to flush
    response = canary(env)({"checks": ["session.lifecycle"]}, context)
    # THEN the journey is INCOMPLETE (the deadline, not the platform), its undo ran and the flush reserve is intact
    (journey,) = response["checks"]
    assert (journey["outcome"], journey["reason"]) == ("INCOMPLETE", "deadline"), journey
    cleanups = [s for s in journey["steps"] if s["name"].startswith("cleanup:")]
    assert cleanups and {s["outcome"] for s in cleanups} == {"PASSED"}
    assert context.get_remaining_time_in_millis() >= (FLUSH_RESERVE_S - 0.5) * 1000
    # AND nothing synthetic is left in the sessions table (no session, no run lock); the real user's item stays
    items = sandbox.control.client("dynamodb").scan(TableName=sandbox.resources.sessions_table)["Items"]
    assert items and not [i for i in items if i["userId"]["S"].startswith("TEST_")]
    # AND the metrics were flushed: no CheckFailed or CheckDuration for an incomplete journey, the run not passed,
    # and the journey counted in CanaryErrors so that consecutive incomplete runs reach the canary-broken alarm
    views = emf(capsys.readouterr().out)
    by_check = {d["Check"]: v for d, v in views if d.get("Check") == "session.lifecycle" and "StartType" not in d}
    journey_metrics = by_check.get("session.lifecycle", {})
    assert "CheckFailed" not in journey_metrics and "CheckDuration" not in journey_metrics
    assert views[-1] == (contract.run_dimensions("sandbox"), {**views[-1][1], "RunPassed": ("Count", 0.0),
                                                              "CanaryErrors": ("Count", 1.0)})


# --- secrets ------------------------------------------------------------------------------------------------


def test_the_hermes_token_is_sent_to_hermes_and_appears_in_no_log_metric_or_response(
        sandbox: Any, canary_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    # GIVEN the token in Secrets Manager, and a Hermes that fails and echoes the credential it was sent
    token = f"hermes-{uuid.uuid4().hex}"
    name = f"webordinary/hermes-api-token-{uuid.uuid4().hex[:8]}"
    sandbox.control.client("secretsmanager").create_secret(Name=name, SecretString=token)

    def echo(request: dict[str, Any]) -> str:
        credential = request["headers"].get("Authorization", "").removeprefix("Bearer ")
        return json.dumps({"error": "upstream rejected credential", "seen": credential})

    hermes = RecordingServer(status=502, body=echo)
    try:
        env = use_env(monkeypatch, {**canary_env, "HERMES_URL": hermes.url, "HERMES_API_TOKEN_SECRET": name})
        handler = canary(env)
        with caplog.at_level(logging.DEBUG, logger=logger.name):
            response = handler({"checks": ["http.hermes_health"]}, LambdaContext())
            # a console user pastes the token into an event (warm container: the token is known by now)
            rejected = handler({"token_for_hermes": token, "tiers": [token]}, LambdaContext())
            # and anything else logging it later (a library, an exception) is masked by the container's logger
            logger.warning("retrying with %s", token)
    finally:
        hermes.close()
    # THEN the token really was read and sent to Hermes (and only there)
    assert [r["headers"].get("Authorization") for r in hermes.requests] == [f"Bearer {token}"] * len(hermes.requests)
    (check,) = response["checks"]
    assert (check["outcome"], check["reason"]) == ("FAILED", "http_5xx")
    assert '"seen": "***"' in check["evidence"]["body"]  # the echo came back, masked
    assert rejected["error"] == "validation"
    # AND it appears nowhere the canary writes, though the echo reached the failure's log line
    out = capsys.readouterr().out
    logs = [logger.registered_formatter.format(r) for r in caplog.records if r.name == logger.name]
    (failure,) = [json.loads(line) for line in logs if json.loads(line).get("check") == "http.hermes_health"]
    assert '"seen": "***"' in failure["evidence"]["body"]
    assert json.loads(logs[-1])["message"] == "retrying with ***"
    assert emf(out)
    for text in (json.dumps(response), json.dumps(rejected), out, *logs):
        assert token not in text


def test_the_token_is_read_once_and_cached_across_warm_invokes(sandbox: Any, canary_env: dict[str, str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"webordinary/hermes-api-token-{uuid.uuid4().hex[:8]}"
    secrets = sandbox.control.client("secretsmanager")
    secrets.create_secret(Name=name, SecretString="first-token-value")
    env = use_env(monkeypatch, {**canary_env, "HERMES_API_TOKEN_SECRET": name})
    app = build_app(env)
    handler = CanaryHandler(lambda: app)
    handler({"checks": ["config.valid"]}, LambdaContext())
    wired = app.app()
    # a rotation inside the cache window is not fetched: same app, same clients, no rebuild
    secrets.put_secret_value(SecretId=name, SecretString="second-token-value")
    handler({"checks": ["config.valid"]}, LambdaContext())
    assert app.app() is wired


# --- sample events ---------------------------------------------------------------------------------------------


def matches(shape: Any, value: Any, path: str = "$") -> list[str]:
    """Mismatches between a response and an ``events/*.expected.json`` shape (see the file's ``$comment``)."""
    if isinstance(shape, str) and shape.startswith("<") and shape.endswith(">"):
        kinds: dict[str, type | tuple[type, ...]] = {"str": str, "int": int, "number": (int, float), "bool": bool,
                                                      "list": list, "object": dict}
        for alt in shape[1:-1].split("|"):
            if alt == "null" and value is None:
                return []
            if alt in kinds and isinstance(value, kinds[alt]) and not (alt != "bool" and isinstance(value, bool)):
                return []
            if alt not in kinds and alt != "null" and value == alt:
                return []
        return [f"{path}: {value!r} is not {shape}"]
    if isinstance(shape, dict) and "$each" in shape:
        if not isinstance(value, list) or len(value) < shape.get("$min", 0):
            return [f"{path}: expected a list of at least {shape.get('$min', 0)}"]
        return [m for i, v in enumerate(value) for m in matches(shape["$each"], v, f"{path}[{i}]")]
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {value!r}"]
        optional = shape.get("$optional", {})
        required = {k: v for k, v in shape.items() if not k.startswith("$")}
        problems = [f"{path}: missing {k}" for k in required if k not in value]
        problems += [f"{path}: unexpected {k}" for k in value if k not in required and k not in optional]
        for key, item in value.items():
            if key in required or key in optional:
                problems += matches(required.get(key, optional.get(key)), item, f"{path}.{key}")
        return problems
    if isinstance(shape, list):
        if not isinstance(value, list) or len(value) != len(shape):
            return [f"{path}: expected {len(shape)} item(s), got {value!r}"]
        return [m for i, (s, v) in enumerate(zip(shape, value, strict=True)) for m in matches(s, v, f"{path}[{i}]")]
    return [] if shape == value else [f"{path}: {value!r} != {shape!r}"]


SAMPLES = sorted(p.name.removesuffix(".json") for p in EVENTS.glob("*.json") if not p.name.endswith(".expected.json"))


def test_every_sample_event_has_an_expected_response() -> None:
    assert {"schedule-probes", "schedule-envelope", "manual-subset", "dry-run", "bad-input"} <= set(SAMPLES)
    assert all((EVENTS / f"{name}.expected.json").is_file() for name in SAMPLES)


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_events_give_their_documented_responses(name: str, sandbox: Any,
                                                       canary_env: dict[str, str]) -> None:
    event = json.loads((EVENTS / f"{name}.json").read_text())
    expected = json.loads((EVENTS / f"{name}.expected.json").read_text())
    app = build_app(canary_env)
    handler = SweepHandler(lambda: app) if name.startswith("sweep") else CanaryHandler(lambda: app)
    response = handler(event, LambdaContext())
    assert matches(expected["response"], response) == []
    if "run_id" in response and not name.startswith("sweep"):  # a run answers with the §9 report: it honours the schema
        assert report_problems(response) == []


# --- the sweeper ------------------------------------------------------------------------------------------------


def _seed_sessions(sandbox: Any, *, minutes_old: float) -> dict[str, str]:
    """Two synthetic sessions and one real user's, all ``minutes_old``; returns session id -> user id."""
    created = (datetime.now(UTC) - timedelta(minutes=minutes_old)).isoformat().replace("+00:00", "Z")
    table = sandbox.resources.sessions_table
    sessions = {"sess-canary-1": "TEST_canary-run-old1@canary.webordinary.invalid",
                "sess-canary-2": "TEST_canary-run-old2@canary.webordinary.invalid",
                "sess-real-user": "alice@example.com"}
    dynamodb = sandbox.control.client("dynamodb")
    for session_id, user_id in sessions.items():
        dynamodb.put_item(TableName=table, Item={"sessionId": {"S": session_id}, "userId": {"S": user_id},
                                                 "status": {"S": "active"}, "createdAt": {"S": created}})
    return sessions


def _session_ids(sandbox: Any) -> set[str]:
    items = sandbox.control.client("dynamodb").scan(TableName=sandbox.resources.sessions_table)["Items"]
    return {i["sessionId"]["S"] for i in items}


def test_the_sweeper_reports_leaked_sessions_and_removes_only_synthetic_ones(
        sandbox: Any, canary_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    _seed_sessions(sandbox, minutes_old=120)
    before = _session_ids(sandbox)
    app = build_app(canary_env)
    sweeper = SweepHandler(lambda: app)
    # a dry run measures (LeakedSessions=2) and changes nothing
    dry = sweeper({"dry_run": True, "older_than_minutes": 60}, LambdaContext())
    assert (dry["dry_run"], dry["leaked"], dry["deleted"]) == (True, 2, [])
    assert _session_ids(sandbox) == before
    # the scheduled sweep removes the two synthetic sessions, never the real user's
    swept = sweeper(json.loads((EVENTS / "schedule-envelope.json").read_text()), LambdaContext())
    assert swept["leaked"] == 2 and sorted(swept["deleted"]) == ["sess-canary-1", "sess-canary-2"]
    assert _session_ids(sandbox) == before - {"sess-canary-1", "sess-canary-2"}
    leaked = (contract.run_dimensions("sandbox"), {"LeakedSessions": ("Count", 2.0)})
    assert emf(capsys.readouterr().out) == [leaked, leaked]
    # and a sweep that finds nothing sends nothing: LeakedSessions is sparse (its alarm treats missing as OK)
    clean = sweeper({}, LambdaContext())
    assert (clean["leaked"], clean["deleted"]) == (0, [])
    assert emf(capsys.readouterr().out) == []


def test_the_sweeper_rejects_a_bad_event_and_counts_an_unreadable_table_as_a_canary_error(
        sandbox: Any, canary_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    bad = SweepHandler(lambda: build_app(canary_env))({"older_than_minutes": "60"}, LambdaContext())
    assert bad == {"error": "validation", "details": [{"field": "older_than_minutes", "message": bad["details"][0]
                                                       ["message"]}]}
    assert emf(capsys.readouterr().out) == []
    sandbox.faults.enable("throttled", service="dynamodb")
    response = SweepHandler(lambda: build_app(canary_env))({}, LambdaContext())
    assert response["error"] == "sweep" and "Throttl" in response["message"]
    assert emf(capsys.readouterr().out) == [(contract.run_dimensions("sandbox"), {"CanaryErrors": ("Count", 1.0)})]
