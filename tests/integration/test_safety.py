"""Do no harm (DESIGN §1), proven on the wire against the sandbox.

- Every tier, the sweeper and the self-test without ``allow_destructive``: the sandbox's AWS proxy sees every call
  the canary makes, and none of them changes capacity; the only writes are its own synthetic items and the
  self-test alarm. (The detection matrix asserts the same for every fault's run.)
- With ``allow_destructive``: the destructive tier's capacity writes are exactly a StopTask of an edit task and
  the UpdateService that puts the edit service back at its previous desired count; Hermes is never touched.
- A ``canary run`` killed with SIGKILL mid-journey, then one ``canary sweep``, leaves zero synthetic items (both
  through the CLI, as an operator would do it; tests/integration/test_journeys.py proves the library path).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness.checks import CATALOGUE
from harness.config import CanaryConfig, load_config
from harness.core.deadline import Deadline
from harness.core.model import Outcome
from harness.core.runner import Runner
from harness.net.aws import AwsClients
from harness.net.http import HttpClient
from harness.ops.selftest import run_selftest
from harness.sessions.run_lock import DynamoRunLock
from harness.sessions.sweeper import sweep
from harness.sessions.synthetic import is_lock, plain
from sandbox.journey_support import JourneySupport
from tests.integration.aws_writes import ALLOWED_WRITES, capacity_writes, forbidden_writes, json_body, writes
from tests.integration.sandbox_items import synthetic_items, wait_for

ROOT = Path(__file__).resolve().parents[2]
FAST = {"container_ready_timeout_s": 10, "http_timeout_s": 3, "session_expiry_timeout_s": 5,
        "cleanup_reserve_s": 15, "confirm_pause_s": 0.1}
ALL_TIERS = "probe,journey,destructive"




def configure(sandbox: Any, monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> CanaryConfig:
    env = sandbox.environment()
    for key, value in env.items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    return load_config({"tiers": ALL_TIERS, **FAST, **overrides}, environ=env)






# -- capacity -------------------------------------------------------------------------------------------------
def test_without_the_flag_no_tier_sweep_or_selftest_writes_capacity(sandbox: Any, support: JourneySupport,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the healthy platform: Hermes 1/1, the edit service idle (the journey's session makes the platform
    # start a task and scale it in again afterwards: the platform's own decision, not a canary write)
    res = sandbox.resources
    config = configure(sandbox, monkeypatch)
    assert not config.allow_destructive
    aws, http = AwsClients(), HttpClient(ca_bundle=config.ca_bundle)
    # WHEN every tier runs, then the sweeper (everything synthetic, now) and the alert-path self-test
    with sandbox.aws.recording() as calls:
        report = Runner(CATALOGUE, config=config, aws=aws, http=http).run(
            deadline=Deadline.after(120), tiers=ALL_TIERS.split(","), lock=DynamoRunLock(config, aws))
        swept = sweep(config, aws, http, Deadline.after(30), dry_run=False, older_than_s=0)
        selftest = run_selftest(aws.client("cloudwatch"), config, interval_s=0.05)
    outcomes = {r.id: (r.outcome.value, r.reason and r.reason.value) for r in report.checks}
    # THEN everything that may run ran and passed; the destructive tier was refused, not run
    assert {o for i, o in outcomes.items() if i.startswith("session.") and i != "session.lifecycle"} == {
        ("SKIPPED", "not_allowed")}, outcomes
    assert {o for i, o in outcomes.items() if o[0] != "SKIPPED"} == {("PASSED", None)}, outcomes
    assert swept.errors == [] and selftest["ok"] is True
    # AND not one AWS call changed capacity; the only writes were the canary's own items and the self-test alarm
    assert capacity_writes(calls) == []
    assert forbidden_writes(calls) == []
    assert set(writes(calls)) == set(ALLOWED_WRITES), Counter(writes(calls))
    # (and the recorder saw the whole run: a blind recorder would pass the lines above)
    assert {"sts:GetCallerIdentity", "ecs:DescribeServices", "elasticloadbalancing:DescribeTargetHealth",
            "dynamodb:Scan", "cloudwatch:GetMetricData", "cloudwatch:DescribeAlarms"} <= {c.action for c in calls}
    assert wait_for(lambda: sandbox.aws.service_counts(res.edit_service) == (0, 0), timeout_s=10)
    assert sandbox.aws.service_counts(res.hermes_service) == (1, 1)


def test_with_the_flag_capacity_writes_are_one_restart_and_the_restore(sandbox: Any, support: JourneySupport,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the edit service at desired 1 (the platform scales it in to 0 once the canary's sessions end)
    res = sandbox.resources
    sandbox.control.set_service_counts(res.edit_service, desired=1, running=1)
    config = configure(sandbox, monkeypatch, allow_destructive="true")
    aws = AwsClients()
    # WHEN the destructive tier runs
    with sandbox.aws.recording() as calls:
        report = Runner(CATALOGUE, config=config, aws=aws, http=HttpClient(ca_bundle=config.ca_bundle)).run(
            deadline=Deadline.after(180), tiers=["destructive"], lock=DynamoRunLock(config, aws))
    results = {r.id: r for r in report.checks}
    assert {i: r.outcome for i, r in results.items()} == dict.fromkeys(results, Outcome.PASSED), {
        i: (r.outcome.value, r.message) for i, r in results.items()}
    # THEN its capacity writes were a StopTask of one edit task and UpdateService back to the previous count
    capacity = capacity_writes(calls)
    actions = [c.action for c in capacity]
    assert set(actions) == {"ecs:StopTask", "ecs:UpdateService"} and actions.count("ecs:StopTask") == 1, actions
    stop = json_body(next(c for c in capacity if c.action == "ecs:StopTask"))
    assert stop["reason"].startswith("webordinary-canary session.persistence")
    updates = [json_body(c) for c in capacity if c.action == "ecs:UpdateService"]
    assert updates, "the platform scaled the edit service in: the restore must have put it back"
    assert all((u["service"], u["desiredCount"]) == (res.edit_service, 1) for u in updates), updates
    # AND afterwards the edit service is back where it was, and Hermes was never touched
    assert sandbox.aws.service_counts(res.edit_service)[0] == 1
    assert sandbox.aws.service_counts(res.hermes_service) == (1, 1)
    assert not [c for c in capacity if res.hermes_service in c.body.decode(errors="replace")]
    assert forbidden_writes(c for c in calls if c not in capacity) == []
    assert synthetic_items(sandbox) == []


# -- SIGKILL mid-journey, then one `canary sweep` (the CLI path) ------------------------------------------------------
def test_sigkill_of_canary_run_mid_journey_then_one_canary_sweep_leaves_nothing(sandbox: Any,
                                                                                 support: JourneySupport) -> None:
    # GIVEN `canary run` of the journey against the sandbox, stuck waiting for a container that never gets ready
    sandbox.faults.enable("container_never_ready")
    env = {**os.environ, **sandbox.environment(), "CANARY_TIERS": "probe,journey", "CONTAINER_READY_TIMEOUT_S": "60"}
    child = subprocess.Popen([sys.executable, "-m", "cli.main", "run", "--checks", "session.lifecycle", "--json"],
                             cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # WHEN it is killed with SIGKILL once its session and run lock exist (no finally, no cleanup runs)
        assert wait_for(lambda: len(synthetic_items(sandbox)) == 2, timeout_s=60), "no session + lock appeared"
        time.sleep(0.3)  # inside the readiness poll
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    left = synthetic_items(sandbox)
    assert sorted(is_lock(i) for i in left) == [False, True]  # a session and the run lock were left behind
    # AND one `canary sweep` runs (everything synthetic, now: --older-than 0)
    swept = subprocess.run([sys.executable, "-m", "cli.main", "sweep", "--older-than", "0", "--json"], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=120, check=False)
    # THEN it deactivated the session through Hermes, removed both items and reported the leak
    assert swept.returncode == 0, swept.stderr[-2000:]
    data = json.loads(swept.stdout)
    assert (data["leaked"], data["stale_locks"], data["remaining"], data["errors"]) == (1, 1, [], []), data
    assert len(data["deactivated"]) == 1 and len(data["deleted"]) == 2, data
    assert synthetic_items(sandbox) == []
    # AND the platform's own session is untouched
    items = sandbox.control.client("dynamodb").scan(TableName=sandbox.resources.sessions_table)["Items"]
    assert [plain(i)["sessionId"] for i in items] == ["session-7f3c2a9e-platform"]

