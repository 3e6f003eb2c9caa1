"""The `canary` CLI end to end: real subprocesses against the booted sandbox (moto + local ALB over HTTP)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.report_contract import report_problems

ROOT = Path(__file__).resolve().parents[2]


def canary(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI module in a fresh interpreter, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=full_env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def probe_ids(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in report["checks"]}


@pytest.mark.slow
def test_run_sandbox_boots_the_replica_and_every_probe_passes(tmp_path: Path) -> None:
    # GIVEN a fresh process with no platform configuration at all
    # WHEN the README's run command runs (here with report files)
    junit, html = tmp_path / "r.xml", tmp_path / "r.html"
    proc = canary("run", "--sandbox", "--json", "--junit", str(junit), "--html", str(html))
    # THEN every probe check passed, the JSON honours the §9 contract, exit code 0
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report_problems(report) == []
    checks = probe_ids(report)
    assert {"aws.credentials", "ecs.services", "http.routing", "alb.rules"} <= set(checks)
    assert {c["outcome"] for c in checks.values()} == {"PASSED"}, {k: (v["outcome"], v["message"])
                                                                  for k, v in checks.items()}
    suite = ET.parse(junit).getroot()
    assert int(suite.get("failures", "0")) == 0 and int(suite.get("errors", "0")) == 0
    assert "<html" in html.read_text(encoding="utf-8").lower()
    # the human table goes to stderr when JSON goes to stdout
    assert "http.hermes_health" in proc.stderr


def test_a_fault_makes_its_check_fail_and_the_exit_code_say_so(sandbox: Any) -> None:
    # GIVEN the shared sandbox with Hermes answering 500
    sandbox.faults.enable("hermes_5xx")
    env = {**sandbox.environment(), "CANARY_CONFIRM_PAUSE_S": "0.1"}
    # WHEN the probe tier runs against it
    proc = canary("run", "--json", "--checks", "http.hermes_health,ecs.cluster", env=env)
    # THEN the Hermes check is FAILED with http_5xx, the unrelated check passes, exit code 1
    assert proc.returncode == 1, proc.stderr[-2000:]
    checks = probe_ids(json.loads(proc.stdout))
    assert (checks["http.hermes_health"]["outcome"], checks["http.hermes_health"]["reason"]) == ("FAILED", "http_5xx")
    assert checks["ecs.cluster"]["outcome"] == "PASSED"


def test_canary_side_fault_is_an_error_with_exit_code_2(sandbox: Any) -> None:
    sandbox.faults.enable("credentials_expired")
    proc = canary("run", "--json", env=sandbox.environment())
    assert proc.returncode == 2, proc.stderr[-2000:]
    checks = probe_ids(json.loads(proc.stdout))
    assert (checks["aws.credentials"]["outcome"], checks["aws.credentials"]["reason"]) == (
        "ERROR", "credentials_expired")
    # the AWS checks depending on credentials are skipped instead of piling up alarms
    assert checks["ecs.services"]["outcome"] == "SKIPPED"
    assert checks["ecs.services"]["reason"] == "dependency_failed"


def test_tiny_timeout_ends_incomplete_and_returns_in_time(sandbox: Any) -> None:
    sandbox.faults.enable("hermes_slow", delay_ms="5000")
    started = time.monotonic()
    proc = canary("run", "--json", "--timeout", "1", env=sandbox.environment())
    elapsed = time.monotonic() - started
    report = json.loads(proc.stdout)
    outcomes = {c["id"]: c["outcome"] for c in report["checks"]}
    assert outcomes["http.hermes_health"] == "INCOMPLETE"
    assert report["outcome"] == "INCOMPLETE" and proc.returncode == 3
    # interpreter start-up (~1 s) + the 1 s deadline + 2 s of slack
    assert elapsed < 1 + 2 + 2.5, elapsed


@pytest.mark.parametrize(
    ("env", "args", "names"),
    [
        ({"CANARY_TIERS": "probe,nonsense"}, ["run"], "CANARY_TIERS"),
        ({"WEBORDINARY_BASE_URL": "ftp://x"}, ["run"], "WEBORDINARY_BASE_URL"),
        ({}, ["run", "--checks", "no.such.check"], "no.such.check"),
        ({}, ["run", "--bogus-flag"], ""),
    ],
)
def test_usage_and_config_errors_exit_64_and_run_nothing(env: dict[str, str], args: list[str], names: str) -> None:
    proc = canary(*args, env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9", **env})
    assert proc.returncode == 64, (proc.stdout, proc.stderr)
    assert names in proc.stderr
    assert proc.stdout.strip() == ""  # no table, no report: nothing ran


def test_list_names_every_check_with_its_tier() -> None:
    proc = canary("list", "--json")
    assert proc.returncode == 0
    rows = json.loads(proc.stdout)
    from harness.contract import all_check_ids

    assert {r["id"] for r in rows} == set(all_check_ids())
    assert all(r["summary"] and r["tier"] in ("probe", "journey", "destructive") for r in rows)


# --- bounds and crashes (issue 14.2, 14.9) ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "-inf", "1e300", "nan", "-5", "0", "soon", "1e5"])
def test_a_bad_timeout_exits_64_naming_the_flag_and_runs_nothing(value: str, capsys: pytest.CaptureFixture[str]
                                                                ) -> None:
    from cli.main import main

    assert main(["run", "--checks", "config.valid", f"--timeout={value}"]) == 64
    captured = capsys.readouterr()
    assert "--timeout" in captured.err and captured.out == ""


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_a_bad_sweep_age_exits_64_naming_the_flag(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import main

    assert main(["sweep", "--dry-run", f"--older-than={value}"]) == 64
    assert "--older-than" in capsys.readouterr().err


def test_a_crash_of_the_cli_itself_exits_2_with_the_error_never_1(tmp_path: Path) -> None:
    # GIVEN a report path that cannot be written (the run itself is fine)
    target = tmp_path / "no-such-dir" / "report.html"
    # WHEN the run ends and the CLI writes its report
    proc = canary("run", "--checks", "config.valid", "--html", str(target), env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    # THEN exit 2 (§9: 1 would say the platform FAILED), the error on stderr, no traceback
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "internal error" in proc.stderr and "FileNotFoundError" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_run_against_a_dripping_hermes_exits_at_its_deadline_not_when_the_server_gives_up() -> None:
    from tests.integration.raw_servers import raw_server

    # GIVEN a Hermes that drips its response headers for a minute, one byte at a time
    with raw_server("headers", cap_s=60) as srv:
        env = {"HERMES_URL": f"http://127.0.0.1:{srv.port}/hermes", "CANARY_HTTP_TIMEOUT_S": "30",
               "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
        # WHEN `canary run` probes it with a 3 s deadline (the check's own timeout is longer)
        proc = canary("run", "--checks", "http.hermes_health", "--json", "--timeout", "3", env=env, timeout=45)
        still_dripping = not srv.stop.is_set()
    # THEN the process has exited (not merely printed its report) while the server was still dripping
    assert still_dripping
    assert proc.returncode == 3, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert [(c["id"], c["outcome"]) for c in report["checks"]] == [("http.hermes_health", "INCOMPLETE")]


@pytest.mark.parametrize("fault, table, code, words", [
    ("access_denied", None, 2, "ERROR access_denied"),
    (None, "webordinary-no-such-table", 1, "FAILED resource_missing"),
])
def test_a_sweep_that_cannot_read_its_table_says_why_with_its_exit_code(
        sandbox: Any, fault: str | None, table: str | None, code: int, words: str) -> None:
    if fault:
        sandbox.faults.enable(fault, service="dynamodb")
    env = {**sandbox.environment(), **({"SESSIONS_TABLE": table} if table else {})}
    proc = canary("sweep", "--dry-run", env=env)
    assert proc.returncode == code, proc.stderr[-2000:]
    assert words in proc.stderr and "internal error" not in proc.stderr and "Traceback" not in proc.stderr
