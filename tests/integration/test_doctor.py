"""`canary doctor` against the sandbox with the canary's stack deployed: healthy, then one problem at a time.

Every finding the doctor can raise has a sandbox setup (sandbox.canary_stack.SETUPS), a platform fault
(sandbox.faults) or a configuration that provokes it; each test asserts the finding's id, level and fix, and that
nothing else fails. The doctor talks to moto through the fault proxy over HTTP, as the CLI does.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from harness.config import load_config
from harness.net.aws import AwsClients
from harness.ops.doctor import DoctorCannotRun, DoctorOptions, DoctorReport, Level, run_doctor
from harness.ops.doctor.findings import Collector
from harness.ops.doctor.tls import check_url
from sandbox.canary_stack import SETUPS, CanaryStack, deploy, heal
from sandbox.runtime import Sandbox

ROOT = Path(__file__).resolve().parents[2]
READ_ONLY_VERBS = ("Describe", "Get", "List", "Simulate", "Head")
ELB = "arn:aws:elasticloadbalancing:us-west-2:123456789012"


@pytest.fixture(scope="module")
def deployed(exclusive_moto: None) -> Iterator[CanaryStack]:
    sandbox = Sandbox()
    sandbox.start()
    try:
        yield deploy(sandbox)
    finally:
        sandbox.stop()


@pytest.fixture
def stack(deployed: CanaryStack) -> Iterator[CanaryStack]:
    heal(deployed)
    yield deployed
    deployed.sandbox.faults.clear()
    heal(deployed)


def doctor(stack: CanaryStack, *, stack_name: str | None = None, reserved: int | None = None,
           **overrides: Any) -> DoctorReport:
    environ = {**os.environ, **stack.sandbox.environment()}
    config = load_config({k: v for k, v in overrides.items()}, environ=environ)
    clients = AwsClients(boto3.Session(region_name="us-west-2"), endpoint_url=environ["AWS_ENDPOINT_URL"],
                         max_attempts=1)
    ca = [environ["CANARY_CA_BUNDLE"]] if environ.get("CANARY_CA_BUNDLE") else []
    return run_doctor(config, clients.client, DoctorOptions(region="us-west-2", stack_name=stack_name,
                                                            ca_files=ca, plain_http_ok=True,
                                                            reserved_concurrency=reserved))


def by_id(report: DoctorReport) -> dict[str, Any]:
    return {f.id: f for f in report.findings}


def failing(report: DoctorReport) -> dict[str, Any]:
    return {f.id: f for f in report.findings if f.level is Level.FAIL}


def test_a_healthy_deployed_sandbox_passes_every_check(stack: CanaryStack) -> None:
    # GIVEN the sandbox platform and the canary stack as `cdk deploy` leaves them
    # WHEN the doctor runs, recording every AWS call it makes
    with stack.sandbox.control.recording() as calls:
        report = doctor(stack)
    # THEN nothing fails or needs a look, and every area was inspected
    assert report.exit_code == 0, [f.line() for f in report.findings if f.level is not Level.OK]
    assert {f.level for f in report.findings} == {Level.OK}
    ids = set(by_id(report))
    assert {"aws.credentials", "resource.ecs_cluster", "resource.hermes_service", "resource.edit_service",
            "resource.sessions_table", "resource.load_balancer", "resource.listener_rules",
            "resource.efs_file_system", "resource.platform_stack", "tls.base_url", "stack.deployed", "iam.probe",
            "iam.journey", "iam.sweeper", "alerts.topic_policy", "alerts.subscription", "alarms",
            "lambda.powertools_layer", "lambda.concurrency"} <= ids
    assert any(i.startswith("resource.target_group[") for i in ids)
    # AND it only read: every call is a Describe/Get/List/Simulate/Head (REST reads are GET/HEAD)
    actions = {c.action for c in calls}
    writes = {a for a in actions if not a.split(":", 1)[1].startswith(READ_ONLY_VERBS)
              and a.split(":", 1)[1] not in ("GET", "HEAD")}
    assert not writes, writes
    assert "iam:SimulatePrincipalPolicy" in actions


@pytest.mark.parametrize("setup", sorted(n for n in SETUPS if n not in ("unmodelled_apis", "low_concurrency")))
def test_each_broken_deployment_is_named_with_its_fix(stack: CanaryStack, setup: str) -> None:
    # GIVEN the deployed canary with one thing broken
    apply, finding_id = SETUPS[setup]
    apply(stack)
    # WHEN the doctor runs
    report = doctor(stack)
    # THEN exactly that finding fails, says why it matters and how to fix it, and the exit code is 1
    assert report.exit_code == 1
    fails = failing(report)
    assert set(fails) == {finding_id}, [f.line() for f in fails.values()]
    finding = fails[finding_id]
    assert finding.why and finding.fix, finding
    assert finding.line().startswith("FAIL") and "fix:" in finding.line()


def test_a_missing_permission_names_the_action_and_role(stack: CanaryStack) -> None:
    SETUPS["role_missing_permission"][0](stack)
    finding = failing(doctor(stack))["iam.probe"]
    assert "ecs:DescribeServices" in finding.what and "ProbeRole" in finding.what
    assert {d["statement"] for d in finding.evidence["denied"]} == {"EcsDescribeServices"}
    assert {d["decision"] for d in finding.evidence["denied"]} == {"implicitDeny"}


def test_a_topic_policy_for_another_account_says_what_cloudwatch_would_answer(stack: CanaryStack) -> None:
    SETUPS["topic_policy_other_account"][0](stack)
    finding = failing(doctor(stack))["alerts.topic_policy"]
    assert "refuses CloudWatch for 6 of 6 alarms" in finding.what
    assert "because no resource-based policy allows the SNS:Publish action" in finding.what
    assert "aws:SourceAccount 123456789012" in finding.fix


def test_a_pending_subscription_is_not_a_confirmed_one(stack: CanaryStack) -> None:
    SETUPS["subscription_pending"][0](stack)
    finding = failing(doctor(stack))["alerts.subscription"]
    assert "1 pending confirmation" in finding.what and finding.evidence["pending"] == ["oncall@example.com"]


def test_before_deploy_the_stack_checks_are_skipped_and_concurrency_is_checked_for_the_deploy(
        stack: CanaryStack) -> None:
    # GIVEN an environment whose canary stack is not deployed yet
    report = doctor(stack, environment="preprod")
    found = by_id(report)
    # THEN the stack-only checks are skipped (not failed), the deploy-time checks still run
    assert found["stack.deployed"].level is Level.SKIP
    assert not any(i.startswith(("iam.", "alerts.", "alarms")) for i in found)
    assert found["lambda.powertools_layer"].level is Level.OK
    assert found["lambda.concurrency"].level is Level.OK
    assert report.exit_code == 0
    # WHEN the account is a new one (concurrency limit 10)
    SETUPS["low_concurrency"][0](stack)
    # THEN a deploy without reserved concurrency (the default) is fine
    assert by_id(doctor(stack, environment="preprod"))["lambda.concurrency"].level is Level.OK
    # BUT one with context reserved_concurrency would fail, and the fix says what to change or ask for
    report = doctor(stack, environment="preprod", reserved=1)
    finding = failing(report)["lambda.concurrency"]
    assert finding.evidence == {"unreserved": 10, "limit": 10, "needed": 1}
    assert "reserved_concurrency" in finding.fix and "quota of at least 101" in finding.fix
    assert report.exit_code == 1


def test_an_explicit_stack_name_that_does_not_exist_fails(stack: CanaryStack) -> None:
    report = doctor(stack, stack_name="WebordinaryCanary-typo-us-west-2")
    assert set(failing(report)) == {"stack.deployed"}


def test_apis_the_endpoint_lacks_are_could_not_check_warnings_not_crashes(stack: CanaryStack) -> None:
    # GIVEN moto as it is: no SimulatePrincipalPolicy, GetAccountSettings or GetLayerVersionByArn
    SETUPS["unmodelled_apis"][0](stack)
    report = doctor(stack)
    # THEN those checks warn that they could not check, and nothing fails
    warned = {f.id: f for f in report.findings if f.level is Level.WARN}
    assert {"iam.probe", "iam.journey", "iam.sweeper", "lambda.powertools_layer", "lambda.concurrency"} <= set(warned)
    assert all(f.what.startswith("could not check") for f in warned.values())
    assert report.exit_code == 0


@pytest.mark.parametrize(("fault", "finding_id", "words"), [
    ("ttl_disabled", "resource.sessions_table", "TTL"),
    ("route_missing", "resource.listener_rules", "/api/*"),
    ("efs_unavailable", "resource.efs_file_system", "0 mount target"),
    ("tls_wrong_host", "tls.base_url", "TLS verification"),
    ("tls_expired", "tls.base_url", "expired"),
    ("tls_unknown_ca", "tls.base_url", "TLS verification"),
])
def test_platform_faults_are_findings(stack: CanaryStack, fault: str, finding_id: str, words: str) -> None:
    stack.sandbox.faults.enable(fault)
    fails = failing(doctor(stack))
    assert set(fails) == {finding_id}, [f.line() for f in fails.values()]
    assert words in fails[finding_id].what


def test_a_certificate_for_another_host_shows_the_names_it_covers(stack: CanaryStack) -> None:
    stack.sandbox.faults.enable("tls_wrong_host")
    finding = failing(doctor(stack))["tls.base_url"]
    assert "*.webordinary.com" in finding.evidence["names"] and finding.evidence["expired"] is False
    assert "covers" in finding.fix


@pytest.mark.parametrize(("override", "finding_id", "level"), [
    ({"ecs_cluster": "webordinary-edit-clustr"}, "resource.ecs_cluster", Level.FAIL),
    ({"hermes_service": "webordinary-hermes"}, "resource.hermes_service", Level.FAIL),
    ({"sessions_table": "webordinary-sessions"}, "resource.sessions_table", Level.FAIL),
    ({"efs_file_system_id": "fs-0123456789abcdef0"}, "resource.efs_file_system", Level.FAIL),
    ({"platform_stack_name": "webordinary-platform"}, "resource.platform_stack", Level.FAIL),
    ({"hermes_api_token_secret": "webordinary/no-such-token"}, "resource.hermes_token_secret", Level.FAIL),
    ({"target_group_arns": f"{ELB}:targetgroup/gone-tg/0123456789abcdef"},
     "resource.target_group[gone-tg]", Level.FAIL),
    ({"load_balancer_arn": f"{ELB}:loadbalancer/app/gone/0123456789abcdef"},
     "resource.load_balancer", Level.FAIL),
])
def test_a_configured_name_that_points_nowhere_fails_and_points_at_discover(
        stack: CanaryStack, override: dict[str, str], finding_id: str, level: Level) -> None:
    finding = by_id(doctor(stack, **override))[finding_id]
    assert finding.level is level, finding
    assert "canary discover" in finding.fix


def test_an_unset_resource_is_a_silent_green_warning(stack: CanaryStack) -> None:
    environ = {**os.environ, **stack.sandbox.environment()}
    environ.pop("LOAD_BALANCER_ARN")
    config = load_config(environ=environ)
    clients = AwsClients(boto3.Session(region_name="us-west-2"), endpoint_url=environ["AWS_ENDPOINT_URL"])
    report = run_doctor(config, clients.client, DoctorOptions(region="us-west-2", plain_http_ok=True,
                                                              ca_files=[environ["CANARY_CA_BUNDLE"]]))
    finding = by_id(report)["resource.load_balancer"]
    assert finding.level is Level.WARN and "never alarm" in finding.why and "LOAD_BALANCER_ARN" in finding.fix


def test_denied_reads_are_could_not_check_and_expired_credentials_stop_the_doctor(stack: CanaryStack) -> None:
    stack.sandbox.faults.enable("access_denied", service="ecs")
    report = doctor(stack)
    finding = by_id(report)["resource.ecs_cluster"]
    assert finding.level is Level.WARN and "AccessDenied" in finding.what
    stack.sandbox.faults.clear()
    stack.sandbox.faults.enable("credentials_expired")
    with pytest.raises(DoctorCannotRun, match="credentials"):
        doctor(stack)


def test_a_live_http_base_url_is_a_warning_and_the_sandbox_one_is_not() -> None:
    live, sandboxed = Collector(), Collector()
    check_url(live, "tls.base_url", "http://edit.example.com", timeout_s=1)
    check_url(sandboxed, "tls.base_url", "http://127.0.0.1:1", timeout_s=1, plain_http_ok=True)
    assert live.findings[0].level is Level.WARN and "not HTTPS" in live.findings[0].what
    assert sandboxed.findings[0].level is Level.SKIP


@pytest.fixture
def short_lived_tls(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A loopback HTTPS listener whose certificate (its own CA) expires in 5 days."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "5", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{port}", str(cert)
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()


def test_a_certificate_expiring_within_14_days_fails(short_lived_tls: tuple[str, str]) -> None:
    url, ca = short_lived_tls
    out = Collector()
    check_url(out, "tls.base_url", url, timeout_s=5, ca_files=[ca])
    finding = out.findings[0]
    assert finding.level is Level.FAIL and "expires in" in finding.what, finding
    assert 4 <= finding.evidence["days_left"] <= 5


def canary(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=240, check=False)


@pytest.mark.slow
def test_cli_doctor_sandbox_passes_healthy_and_names_each_injected_problem(exclusive_moto: None) -> None:
    healthy = canary("doctor", "--sandbox", "--json")
    assert healthy.returncode == 0, healthy.stderr[-2000:]
    report = json.loads(healthy.stdout)
    assert report["stack_deployed"] is True and report["counts"]["fail"] == 0
    broken = canary("doctor", "--sandbox", "--faults", "ttl_disabled,topic_policy_missing,layer_missing")
    assert broken.returncode == 1, broken.stderr[-2000:]
    lines = {line.split()[1]: line for line in broken.stdout.splitlines() if line.startswith("FAIL")}
    assert set(lines) == {"resource.sessions_table", "alerts.topic_policy", "lambda.powertools_layer"}
    assert all("fix:" in line for line in lines.values())


def test_cli_doctor_usage_and_config_errors_exit_64() -> None:
    assert canary("doctor", "--faults", "ttl_disabled").returncode == 64
    assert canary("doctor", "--undeployed").returncode == 64
    bad = canary("doctor", env={"CANARY_PROFILE": "nonsense"})
    assert bad.returncode == 64 and "CANARY_PROFILE" in bad.stderr


def test_cli_doctor_without_aws_exits_2() -> None:
    # GIVEN an endpoint where nothing listens (the doctor itself cannot run)
    unreachable = canary("doctor", env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "CANARY_AWS_TIMEOUT_S": "1"})
    assert unreachable.returncode == 2, unreachable.stderr[-1000:]
    assert "cannot call AWS" in unreachable.stderr


def test_a_deployed_stack_without_the_reservation_its_context_asks_for_is_a_warning(stack: CanaryStack) -> None:
    finding = by_id(doctor(stack, reserved=1))["lambda.concurrency"]
    assert finding.level is Level.WARN and "reserve nothing" in finding.what


def test_queue_profile_resources_that_do_not_exist_are_named(stack: CanaryStack) -> None:
    # GIVEN the queue profile pointed at resources this account does not have
    account = stack.sandbox.resources.account_id
    report = doctor(stack, profile="queue-platform",
                    state_machine_arn=f"arn:aws:states:us-west-2:{account}:stateMachine:email-processor",
                    queue_urls=f"https://sqs.us-west-2.amazonaws.com/{account}/webordinary-unclaimed",
                    dlq_urls=f"https://sqs.us-west-2.amazonaws.com/{account}/webordinary-email-dlq",
                    site_urls="http://127.0.0.1:9", site_buckets="edit.amelia.webordinary.com")
    fails = failing(report)
    # THEN each is its own finding, and the ECS and Lambda checks still run
    assert {"resource.state_machine", "resource.queue_urls[webordinary-unclaimed]",
            "resource.dlq_urls[webordinary-email-dlq]", "resource.site_bucket[edit.amelia.webordinary.com]",
            "resource.ownership_table"} <= set(fails), [f.line() for f in fails.values()]
    found = by_id(report)
    assert found["resource.ecs_cluster"].level is Level.OK and "resource.hermes_service" not in found
    assert found["tls.site[0]"].level is Level.SKIP  # plain HTTP in the sandbox


def test_the_readme_names_every_sandbox_setup_and_finding_area() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert [name for name in SETUPS if f"`{name}`" not in readme] == []
    areas = {finding_id for _, finding_id in SETUPS.values()} | {"tls.base_url", "stack.deployed",
                                                                  "resource.ecs_cluster"}
    assert [a for a in sorted(areas) if f"`{a}`" not in readme] == []


@pytest.mark.slow
def test_cli_doctor_sandbox_queue_profile_passes(exclusive_moto: None) -> None:
    proc = canary("doctor", "--sandbox", "--profile", "queue-platform", "--json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    ids = {f["id"] for f in report["findings"]}
    assert {"resource.state_machine", "resource.ownership_table", "iam.probe"} <= ids
    assert "iam.journey" not in ids  # the queue profile deploys only the probe function
    assert any(i.startswith("resource.dlq_urls[") for i in ids)
