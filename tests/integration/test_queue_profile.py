"""The queue-platform profile end to end: harness.core.runner.Runner over boto3 → fault proxy → moto's server, and
real HTTP to the sandbox's S3 site. Healthy passes; each fault fails exactly its check with its reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import boto3
import pytest
import requests

from harness.checks import CATALOGUE
from harness.config import load_config
from harness.contract import CHECK_IDS_BY_PROFILE, QUEUE_PLATFORM
from harness.core.deadline import Deadline
from harness.core.model import CheckResult, Outcome, Reason, RunReport
from harness.core.runner import Runner
from harness.net.aws import AwsClients
from harness.net.http import HttpClient
from sandbox.aws_side import AwsSandbox
from sandbox.faults import FAULT_CLASSES, Faults
from sandbox.queue_side import (
    FAILED_RUNS,
    INPUT_DLQ,
    INPUT_QUEUE,
    INTAKE_DLQ,
    PROJECT,
    SITE_BUCKET,
    QueueSide,
    _backend,
)
from sandbox.runtime import Sandbox

QUEUE_FAULTS = ("dlq_message", "stuck_message", "failed_executions", "stale_site", "stale_claim", "idle_tasks")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def platform(sandbox_session: Sandbox) -> Iterator[tuple[AwsSandbox, QueueSide]]:
    """The queue platform attached to the test-wide sandbox's moto for this module, detached afterwards."""
    aws = sandbox_session.aws
    queue = QueueSide(aws, sandbox_session.faults, refresh_interval_s=0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ENDPOINT_URL", aws.endpoint_url)  # the canary's boto3 goes through the fault proxy
        queue.start()
        try:
            yield aws, queue
        finally:
            queue.stop()
            sandbox_session.reset()  # the edit service back to the session platform's seed


@pytest.fixture(scope="module")
def faults(sandbox_session: Sandbox) -> Faults:
    return sandbox_session.faults


@pytest.fixture(autouse=True)
def healthy(sandbox_session: Sandbox, platform: tuple[AwsSandbox, QueueSide]) -> None:
    sandbox_session.reset()
    platform[1].reset()


@pytest.fixture
def env(platform: tuple[AwsSandbox, QueueSide]) -> dict[str, str]:
    aws, queue = platform
    # Failed probes are re-probed once to confirm (the runner's rule); no pause needed against a sandbox.
    return {**aws.canary_env(), **queue.environment(), "CANARY_ENVIRONMENT": "sandbox", "CANARY_CONFIRM_PAUSE_S": "0"}


def run(env: Mapping[str, str], *checks: str, **overrides: str) -> RunReport:
    """One canary run of the queue profile (all its checks, or only ``checks``) with env ``overrides``."""
    config = load_config(environ={**env, **overrides})
    runner = Runner(CATALOGUE, config=config, aws=AwsClients(boto3.Session(), timeout_s=10),
                    http=HttpClient(ca_bundle=config.ca_bundle))
    return runner.run(deadline=Deadline.after(60), profile=QUEUE_PLATFORM, check_ids=checks or None)


def by_id(report: RunReport) -> dict[str, CheckResult]:
    return {c.id: c for c in report.checks}


def assert_only(report: RunReport, check_id: str, outcome: Outcome, reason: Reason) -> CheckResult:
    results = by_id(report)
    target = results[check_id]
    assert (target.outcome, target.reason) == (outcome, reason), target
    others = {i: (r.outcome.value, r.message) for i, r in results.items() if i != check_id}
    assert all(o == "PASSED" for o, _m in others.values()), others
    return target


# ---------------------------------------------------------------------------------------------------------------

def test_healthy_queue_platform_passes_every_check(env: dict[str, str]) -> None:
    report = run(env)
    results = by_id(report)
    assert tuple(results) == CHECK_IDS_BY_PROFILE[QUEUE_PLATFORM]
    assert {i: r.outcome for i, r in results.items()} == dict.fromkeys(results, Outcome.PASSED), \
        {i: r.message for i, r in results.items()}
    assert report.exit_code == 0
    executions = results["stepfunctions.executions"].evidence
    # The preemption is by design and the 3 h old failure is history: neither fails the check.
    assert (executions["succeeded"], executions["preempted"], executions["failed"]) == (6, 1, 0)
    assert 70 <= executions["p95_duration_s"] <= 140
    assert results["sqs.dlq_empty"].evidence["dlqs_checked"] == 2
    assert results["ownership.claims"].message == "1 claim(s), all live"
    assert "idle for 5 min" in results["ecs.edit_idle"].message


@pytest.mark.parametrize("fault, params", [
    ("dlq_message", {}),
    ("stuck_message", {}),
    ("stuck_message", {"mode": "no_containers"}),
    ("failed_executions", {}),
    ("stale_site", {}),
    ("stale_claim", {}),
    ("stale_claim", {"mode": "expired"}),
    ("stale_claim", {"mode": "unknown"}),
    ("idle_tasks", {}),
])
def test_each_fault_fails_its_check_with_its_reason_and_nothing_else(
        faults: Faults, env: dict[str, str], fault: str, params: dict[str, str]) -> None:
    expected = FAULT_CLASSES[fault]
    faults.enable(fault, **params)
    report = run(env)
    result = assert_only(report, expected.expected_check, Outcome(expected.expected_outcome),
                         Reason(expected.expected_reason))
    assert result.evidence["confirmed"] is True  # the fault is stable: the re-probe failed the same way
    assert report.exit_code == 1
    assert json.loads(json.dumps(report.to_dict()))["outcome"] == "FAILED"  # the §9 contract holds the evidence


def test_every_queue_fault_class_is_covered_by_the_parametrized_test() -> None:
    queue_only = set(CHECK_IDS_BY_PROFILE[QUEUE_PLATFORM]) - set(CHECK_IDS_BY_PROFILE["session-platform"])
    covered = {name for name, f in FAULT_CLASSES.items() if f.expected_check in queue_only}
    assert covered == set(QUEUE_FAULTS)


def test_dlq_failure_names_the_queue_its_count_and_its_source(faults: Faults, env: dict[str, str]) -> None:
    faults.enable("dlq_message")
    result = by_id(run(env, "sqs.dlq_empty"))["sqs.dlq_empty"]
    assert INPUT_DLQ in result.message and "1 message(s)" in result.message
    assert result.evidence["dlq_not_empty"][INPUT_DLQ] == {"visible": 1, "in_flight": 0, "delayed": 0,
                                                           "sources": [INPUT_QUEUE]}


def test_failed_executions_are_counted_by_kind_with_the_latest_error(faults: Faults, env: dict[str, str]) -> None:
    faults.enable("failed_executions")
    result = by_id(run(env, "stepfunctions.executions"))["stepfunctions.executions"]
    ev = result.evidence
    assert (ev["failed"], ev["timed_out"], ev["aborted"]) == (2, 1, 1)
    assert (ev["processing_timeout"], ev["preempted"]) == (1, 1)
    latest = ev["latest_failure"]
    newest = min(FAILED_RUNS, key=lambda r: r.ended_ago_s)
    assert latest["name"] == newest.name and latest["error"] == newest.error and newest.cause in latest["cause"]
    assert "ProcessingTimeout 1" in result.message


def test_a_failure_is_an_outage_only_while_it_ended_inside_the_window(env: dict[str, str]) -> None:
    # The healthy history holds a failure that ended 3 h ago: a 4 h window sees it.
    report = run(env, "stepfunctions.executions", CANARY_EXECUTION_WINDOW_S="14400")
    result = by_id(report)["stepfunctions.executions"]
    assert (result.outcome, result.reason) == (Outcome.FAILED, Reason.EXECUTIONS_FAILED)
    assert result.evidence["failed"] == 1 and "spawn node ENOENT" in result.message


def test_queues_and_dlqs_are_discovered_by_prefix_when_not_listed(faults: Faults, env: dict[str, str]) -> None:
    faults.enable("dlq_message")
    report = run(env, QUEUE_URLS="", DLQ_URLS="")
    results = by_id(report)
    dlq = results["sqs.dlq_empty"]
    assert dlq.evidence["dlq_source"].startswith("ListQueues") and dlq.evidence["dlqs_checked"] == 2
    assert (dlq.outcome, dlq.reason) == (Outcome.FAILED, Reason.DLQ_NOT_EMPTY)
    ages = results["sqs.queue_age"]
    assert ages.outcome is Outcome.PASSED and ages.evidence["queues_checked"] == 3, ages
    assert INTAKE_DLQ not in json.dumps(ages.evidence)


def test_the_canary_never_receives_from_the_platform_queues(
        platform: tuple[AwsSandbox, QueueSide], faults: Faults, env: dict[str, str]) -> None:
    faults.enable("dlq_message")
    faults.enable("stuck_message")
    run(env)
    sqs = _backend(platform[0], "sqs")
    for name in (INPUT_DLQ, INPUT_QUEUE):
        messages = sqs.get_queue(name)._messages
        assert messages and all(m.approximate_receive_count == 0 for m in messages), name
    sources = " ".join(p.read_text() for p in (REPO / "harness").rglob("*.py"))
    assert "receive_message" not in sources and "ReceiveMessage(" not in sources


def test_work_in_flight_is_not_idleness(
        platform: tuple[AwsSandbox, QueueSide], faults: Faults, env: dict[str, str]) -> None:
    faults.enable("idle_tasks")
    sfn = platform[0].client("stepfunctions")
    sfn.start_execution(stateMachineArn=env["STATE_MACHINE_ARN"], name="email-in-flight",
                        input=json.dumps({"projectKey": f"{PROJECT}#scott"}))
    result = by_id(run(env, "ecs.edit_idle"))["ecs.edit_idle"]
    assert result.outcome is Outcome.PASSED and "1 execution(s) running" in result.message, result


def test_idle_leak_reports_tasks_idle_time_and_cost(faults: Faults, env: dict[str, str]) -> None:
    faults.enable("idle_tasks")
    result = by_id(run(env, "ecs.edit_idle"))["ecs.edit_idle"]
    assert result.evidence["idle_cost_usd_per_hour"] > 0
    (task,) = result.evidence["tasks"]
    assert task["idle_s"] > 7000


def test_site_that_does_not_answer_200_fails_with_its_status(
        platform: tuple[AwsSandbox, QueueSide], env: dict[str, str]) -> None:
    platform[0].client("s3").delete_object(Bucket=SITE_BUCKET, Key="index.html")
    report = run(env)
    site = assert_only(report, "s3.site", Outcome.FAILED, Reason.HTTP_4XX)
    assert "404" in site.message


def test_stale_site_evidence_dates_index_against_the_last_success(faults: Faults, env: dict[str, str]) -> None:
    faults.enable("stale_site")
    result = by_id(run(env, "s3.site"))["s3.site"]
    (stale,) = result.evidence["stale"]
    assert stale["bucket"] == SITE_BUCKET and 7100 < stale["behind_s"] < 7300
    assert stale["project"] == "amelia" and stale["last_success"] == "email-7c1e-0001"
    assert result.evidence["last_success"]["amelia"]["name"] == "email-7c1e-0001"


def test_unconfigured_resources_skip_with_not_configured(env: dict[str, str]) -> None:
    report = run(env, STATE_MACHINE_ARN="", SITE_URLS="", SITE_BUCKETS="", OWNERSHIP_TABLE="")
    results = by_id(report)
    for check_id, variable in (("stepfunctions.executions", "STATE_MACHINE_ARN"), ("s3.site", "SITE_URLS"),
                               ("ownership.claims", "OWNERSHIP_TABLE")):
        assert (results[check_id].outcome, results[check_id].reason) == (Outcome.SKIPPED, Reason.NOT_CONFIGURED)
        assert variable in results[check_id].message
    idle = results["ecs.edit_idle"]
    assert idle.outcome is Outcome.PASSED and "STATE_MACHINE_ARN unset" in idle.message


def test_site_freshness_without_buckets_is_judged_by_status_only(env: dict[str, str]) -> None:
    site = by_id(run(env, "s3.site", SITE_BUCKETS=""))["s3.site"]
    assert site.outcome is Outcome.PASSED and "freshness not judged: SITE_BUCKETS unset" in site.message


def test_a_denied_state_machine_is_the_canary_at_fault(faults: Faults, env: dict[str, str]) -> None:
    faults.enable("access_denied", service="states")
    results = by_id(run(env))
    assert (results["stepfunctions.executions"].outcome, results["stepfunctions.executions"].reason) == \
        (Outcome.ERROR, Reason.ACCESS_DENIED)
    # Without the last success the site is judged by its status alone, and says so.
    site = results["s3.site"]
    assert site.outcome is Outcome.PASSED and "freshness not judged" in site.message
    assert results["ecs.edit_idle"].outcome is Outcome.ERROR  # in-flight work unknowable: no verdict on idleness
    assert results["sqs.dlq_empty"].outcome is Outcome.PASSED


def test_the_site_server_answers_like_an_s3_website(platform: tuple[AwsSandbox, QueueSide]) -> None:
    url = platform[1].site_url
    home = requests.get(url, timeout=5)
    assert home.status_code == 200 and b"Amelia Stamps" in home.content
    assert home.headers["Content-Type"] == "text/html"
    missing = requests.get(url + "no/such/page", timeout=5)
    assert missing.status_code == 404 and b"Page not found" in missing.content


def test_queue_environment_is_valid_config(env: dict[str, str]) -> None:
    config = load_config(environ=env)
    assert config.profile == QUEUE_PLATFORM
    assert config.state_machine_arn and config.state_machine_arn.endswith(":stateMachine:email-processor")
    assert len(config.queue_urls) == 3 and len(config.dlq_urls) == 2
    assert config.site_buckets == (SITE_BUCKET,) and config.ownership_table == "webordinary-container-ownership"



def canary_cli(*args: str, faults: str = "") -> subprocess.CompletedProcess[str]:
    """``canary run --sandbox --profile queue-platform`` in a subprocess: its own sandbox, its own moto."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT_URL", "CANARY_", "SANDBOX_"))}
    env["CANARY_CONFIRM_PAUSE_S"] = "0"
    command = [sys.executable, "-m", "cli.main", "run", "--sandbox", "--profile", QUEUE_PLATFORM, "--json", *args]
    if faults:
        command += ["--faults", faults]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_cli_runs_the_queue_profile_against_the_sandbox_and_passes() -> None:
    done = canary_cli()
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert [c["id"] for c in report["checks"]] == list(CHECK_IDS_BY_PROFILE[QUEUE_PLATFORM])
    assert {c["outcome"] for c in report["checks"]} == {"PASSED"}, report["checks"]


@pytest.mark.slow
def test_cli_with_a_queue_fault_exits_1_naming_the_check_and_reason() -> None:
    done = canary_cli(faults="stale_site")
    assert done.returncode == 1, done.stderr[-2000:]
    failed = [(c["id"], c["reason"]) for c in json.loads(done.stdout)["checks"] if c["outcome"] != "PASSED"]
    assert failed == [("s3.site", "site_stale")]


# -- at platform scale (issue 13 #2) ------------------------------------------------------------------------------
def test_many_queues_cost_calls_per_page_not_per_queue_and_a_dlq_message_is_still_caught(
        faults: Faults, env: dict[str, str], platform: tuple[AwsSandbox, QueueSide]) -> None:
    aws, _queue = platform
    sqs = aws.client("sqs")
    extra = [f"webordinary-dlq-bulk{n:03d}-user" for n in range(60)]  # idle per-container DLQs: no metric yet
    urls = [sqs.create_queue(QueueName=name)["QueueUrl"] for name in extra]
    try:
        faults.enable("dlq_message")
        with aws.recording() as calls:
            report = run(env, "sqs.dlq_empty", DLQ_URLS="", CANARY_CONFIRM_FAILURES="false")
        dlq = by_id(report)["sqs.dlq_empty"]
        assert (dlq.outcome, dlq.reason) == (Outcome.FAILED, Reason.DLQ_NOT_EMPTY), dlq.message
        assert dlq.evidence["dlqs_checked"] == 62  # the two seeded DLQs and the 60 idle ones
        assert "webordinary-dlq-amelia-scott.fifo" in dlq.evidence["dlq_not_empty"]
        actions = [c.action for c in calls]
        # The metric screen reads 186 series in one GetMetricData page; only the queue it shows non-empty is
        # read exactly (the other seeded DLQ has three zero datapoints; the idle ones publish nothing).
        assert actions.count("sqs:GetQueueAttributes") == 1, actions
        assert actions.count("monitoring:GetMetricData") + actions.count("cloudwatch:GetMetricData") == 1, actions
    finally:
        for url in urls:
            sqs.delete_queue(QueueUrl=url)
