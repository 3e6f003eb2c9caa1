"""IAM as deployed (issue 15.3): the canary runs as each function's role, with the policy the CDK app synthesizes
for the sandbox's targets, and moto enforcing IAM.

The template is synthesized once for this module from the sandbox's own target settings (as ``cdk synth`` would
with a target file naming them); each run is ``canary run --sandbox`` in a subprocess with ``SANDBOX_IAM_TEMPLATE``
set, so moto's process-wide enforcement never reaches the other tests. What moto does not evaluate (resources
outside S3/SQS, conditions, resource policies, boundaries, SCPs) is asserted on the template instead, in
``tests/infra/test_cdk_iam.py``; see ``sandbox/iam_mode.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from harness.contract import NON_PROBE_TIERS

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
SESSION = "session-platform"
QUEUE = "queue-platform"
# Environment name per profile: one stack each in one synthesized app.
ENVIRONMENTS = {SESSION: "sandbox", QUEUE: "sandbox-queue"}

pytestmark = pytest.mark.slow


def sandbox_context(environment: Mapping[str, str], name: str, profile: str) -> dict[str, Any]:
    """The CDK environment entry that names the sandbox's resources, as an operator's target file would."""
    from infra.config import TARGET_ENV

    lists = {"target_group_arns", "queue_urls", "dlq_urls", "site_urls", "site_buckets"}
    entry: dict[str, Any] = {"name": name, "region": environment["AWS_REGION"], "account": ACCOUNT,
                             "profile": profile}
    for key, var in TARGET_ENV.items():
        value = environment.get(var)
        if not value:
            continue
        entry[key] = value.split(",") if key in lists else value
    for key in ("queue_urls", "dlq_urls"):  # the sandbox serves SQS on loopback; the deployed URLs are AWS's
        if key in entry:
            entry[key] = [f"https://sqs.{entry['region']}.amazonaws.com/{ACCOUNT}/{url.rsplit('/', 1)[-1]}"
                          for url in entry[key]]
    if profile == SESSION:
        entry.update(tiers=["probe", "journey", "destructive"], allow_destructive=True)
    return entry


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory, exclusive_moto: None) -> dict[str, Path]:
    """profile -> synthesized template of the canary stack for the sandbox's targets."""
    from infra.node_runtime import path_with_bundled_node
    from infra.stacks import build_app, canary_stacks
    from sandbox.runtime import Sandbox

    entries = []
    for profile, name in ENVIRONMENTS.items():
        box = Sandbox(profile=profile).start()
        try:
            entries.append(sandbox_context(box.environment(), name, profile))
        finally:
            box.stop()
    os.environ["PATH"] = path_with_bundled_node(os.environ.get("PATH", ""))
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = build_app({"aws:cdk:bundling-stacks": [], "@aws-cdk/core:validateAgainstDefaultRules": False,
                     "environments": entries}, outdir=str(outdir))
    assembly = app.synth()
    paths = {stack.stack_name: Path(stack.template_full_path) for stack in assembly.stacks}
    assert {s.stack_name for s in canary_stacks(app)} <= set(paths)
    return {profile: paths[f"WebordinaryCanary-{name}-{entry['region']}"]
            for (profile, name), entry in zip(ENVIRONMENTS.items(), entries, strict=True)}


def run_as_role(template: Path, kind: str, *args: str, env: Mapping[str, str] | None = None
                ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``canary run --sandbox`` as the ``kind`` function's role; returns the process and its JSON report."""
    env = {**os.environ, "SANDBOX_IAM_TEMPLATE": str(template), "SANDBOX_IAM_FUNCTION": kind,
           "CANARY_CONFIRM_PAUSE_S": "0.1", **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "cli.main", "run", "--sandbox", "--json", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"no JSON report (exit {proc.returncode}): {proc.stderr[-3000:]}")
    return proc, report


def outcomes(report: Mapping[str, Any]) -> dict[str, tuple[str, str | None, str]]:
    return {c["id"]: (c["outcome"], c.get("reason"), c.get("message", "")) for c in report["checks"]}


def without_statement(template: Path, kind: str, sid: str, out: Path, *,
                      replace: Mapping[str, Any] | None = None) -> Path:
    """A copy of ``template`` whose ``kind`` role lost the statement ``sid`` (as a hand edit or an old template), or
    has it changed by ``replace`` (keys of the statement set anew)."""
    data = json.loads(template.read_text(encoding="utf-8"))
    resources = data["Resources"]
    (function,) = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Function"
                   and str(r["Properties"].get("FunctionName", "")).endswith(f"-{kind}")]
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    found = 0
    for resource in resources.values():
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role} in resource["Properties"]["Roles"]:
            statements = resource["Properties"]["PolicyDocument"]["Statement"]
            kept = [s for s in statements if s.get("Sid") != sid]
            found += len(statements) - len(kept)
            if replace is not None:
                kept += [{**s, **replace} for s in statements if s.get("Sid") == sid]
            resource["Properties"]["PolicyDocument"]["Statement"] = kept
    assert found == 1, f"{sid} not in the {kind} role's policy"
    out.write_text(json.dumps(data), encoding="utf-8")
    return out


@pytest.mark.parametrize(("profile", "tier", "kind", "extra"), [
    (SESSION, "probe", "probe", ("--publish",)),  # --publish: PutMetricData as the probe role
    (QUEUE, "probe", "probe", ("--publish",)),
    (SESSION, "journey", "journey", ()),
    (SESSION, "destructive", "destructive", ()),
])
def test_every_tier_and_profile_passes_as_its_deployed_role(templates: dict[str, Path], profile: str, tier: str,
                                                           kind: str, extra: tuple[str, ...]) -> None:
    # GIVEN the template synthesized for the sandbox's targets, moto enforcing IAM, the canary as the tier's role
    allow = {"CANARY_ALLOW_DESTRUCTIVE": "true"} if tier == "destructive" else {}
    selection: tuple[str, ...] = ("--tiers", tier)
    if tier != "probe":  # the tier's checks plus the identity check (a probe) that names the caller
        wanted = ["aws.credentials", *(c for c, t in NON_PROBE_TIERS.items() if t == tier)]
        selection = ("--tiers", f"probe,{tier}", "--checks", ",".join(wanted))
    # WHEN the tier runs
    proc, report = run_as_role(templates[profile], kind, *selection, "--profile", profile, *extra, env=allow)
    checks = outcomes(report)
    # THEN it ran as the role (the credentials check names the assumed role's session) ...
    assert checks["aws.credentials"][0] == "PASSED" and f"-{kind}" in checks["aws.credentials"][2], checks
    # ... its tier's checks ran, and every check passed: no AccessDenied, no ERROR of any kind
    assert any(c["tier"] == tier for c in report["checks"]), checks
    assert not [k for k, v in checks.items() if v[1] == "access_denied"], checks
    assert {v[0] for v in checks.values()} == {"PASSED"}, checks
    assert proc.returncode == 0, proc.stderr[-3000:]
    if "--publish" in extra:
        assert "published" in proc.stderr and "datapoints to CloudWatch" in proc.stderr, proc.stderr[-2000:]


def test_the_sweeper_scans_as_its_deployed_role(templates: dict[str, Path]) -> None:
    # GIVEN the sweeper's role from the template, moto enforcing IAM
    env = {**os.environ, "SANDBOX_IAM_TEMPLATE": str(templates[SESSION]), "SANDBOX_IAM_FUNCTION": "sweeper"}
    # WHEN `canary sweep --sandbox` runs (DescribeTable, Scan of the sessions table as that role)
    proc = subprocess.run([sys.executable, "-m", "cli.main", "sweep", "--sandbox", "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180, check=False)
    # THEN it read the table without an error (the seeded platform session is not synthetic: nothing to delete)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["table"] == "webordinary-edit-sessions" and report["errors"] == [], report


def test_a_permission_missing_from_the_template_is_access_denied_on_exactly_its_check(
        templates: dict[str, Path], tmp_path: Path) -> None:
    # GIVEN the probe role without ecs:DescribeServices (statement EcsDescribeServices)
    broken = without_statement(templates[SESSION], "probe", "EcsDescribeServices", tmp_path / "broken.json")
    # WHEN the probe tier runs as that role
    proc, report = run_as_role(broken, "probe", "--profile", SESSION)
    checks = outcomes(report)
    # THEN exactly the check that describes the services is ERROR access_denied, naming the action; no other ERROR
    errors = {k: v for k, v in checks.items() if v[0] == "ERROR"}
    assert list(errors) == ["ecs.services"], checks
    assert errors["ecs.services"][1] == "access_denied"
    (step,) = [s for c in report["checks"] if c["id"] == "ecs.services" for s in c["steps"] if s["outcome"] == "ERROR"]
    assert step["name"] == "ecs.describe_services" and "AccessDenied" in step["message"], step
    assert proc.returncode == 2, proc.stderr[-2000:]  # ERROR: the canary is at fault (DESIGN §9)


OLD_TABLE = f"arn:aws:dynamodb:us-west-2:{ACCOUNT}:table/webordinary-edit-sessions-2025"
HERMES_ONLY = f"arn:aws:ecs:us-west-2:{ACCOUNT}:service/webordinary-edit-cluster/webordinary-hermes-service"


@pytest.mark.parametrize(("sid", "resources", "denied"), [
    # a template naming last year's table: every check that reads the sessions table
    ("ReadSessionsTable", [OLD_TABLE, f"{OLD_TABLE}/index/*"], {"dynamodb.sessions_table", "cleanup.orphans"}),
    # DescribeServices of both services in one call needs both: a grant on Hermes alone is not enough
    ("EcsDescribeServices", [HERMES_ONLY], {"ecs.services"}),
], ids=["table", "services"])
def test_a_grant_on_the_wrong_resource_is_access_denied_on_the_checks_that_use_it(
        templates: dict[str, Path], tmp_path: Path, sid: str, resources: list[str], denied: set[str]) -> None:
    # GIVEN the probe role's statement granted on other resources than the sandbox's
    broken = without_statement(templates[SESSION], "probe", sid, tmp_path / "wrong.json",
                               replace={"Resource": resources})
    # WHEN the probe tier runs as that role (the sandbox names DynamoDB's and ECS's resources for moto)
    _, report = run_as_role(broken, "probe", "--profile", SESSION)
    checks = outcomes(report)
    # THEN exactly the checks that use those resources are ERROR access_denied
    errors = {k: v[1] for k, v in checks.items() if v[0] == "ERROR"}
    assert errors == dict.fromkeys(denied, "access_denied"), checks


def test_a_template_without_the_function_is_a_usage_error(templates: dict[str, Path]) -> None:
    # GIVEN the queue-platform template, which has no journey function (its environment schedules no journey)
    env = {**os.environ, "SANDBOX_IAM_TEMPLATE": str(templates[QUEUE]), "SANDBOX_IAM_FUNCTION": "journey"}
    # WHEN the sandbox is asked to run as that function's role
    proc = subprocess.run([sys.executable, "-m", "cli.main", "run", "--sandbox"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    # THEN exit 64 naming the setting and the missing function, before any check runs
    assert proc.returncode == 64, proc.stderr[-2000:]
    assert "SANDBOX_IAM_FUNCTION=journey" in proc.stderr and "webordinary-canary-<environment>-journey" in proc.stderr
