"""Adding a check touches the places README's "Adding a check" lists, and nothing else (issue 12).

A copy of the project gets a toy probe exactly as the checklist says: (1) its ``[[check]]`` table appended to
``harness/check_specs.toml``, (2) its function in a new ``harness/checks/`` module, (3) the README table
regenerated with ``canary list --markdown``. (The other steps, the sandbox fault and the sandbox test, prove that
the check works; they register nothing.) The copy then shows the toy wherever the project derives from the specs:
the lazy catalogue, ``config.valid``'s unset settings, the doctor's IAM statements and, synthesized through the
same ``build_app`` the CDK entry uses (bundling skipped), its IAM grant, its alarm (runbook from the spec's hint),
its dashboard row (a latency SLI), the deploy's required-settings refusal, and the README's check table.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.checks import CATALOGUE
from harness.config import CanaryConfig
from harness.core.deadline import Deadline
from harness.core.runner import Runner
from harness.net.aws import AwsClients
from harness.net.http import HttpClient
from tests.infra.conftest import TEST_CONTEXT

pytestmark = pytest.mark.slow  # one synth in a subprocess (about 15 s)

REPO = Path(__file__).resolve().parents[2]
PROJECT = ("harness", "handlers", "infra", "cli", "app.py", "cdk.json", "README.md", "pyproject.toml")
TOY = "cloudformation.platform_stack"
STACK = "WebordinaryEditStack"

# Checklist step 1: the spec, a [[check]] table appended to harness/check_specs.toml.
TOY_SPEC = f'''
[[check]]
id = "{TOY}"
module = "platform_stack"
latency_sli = true
requires = ["platform_stack_name"]
summary = "the platform's CloudFormation stack is in a *_COMPLETE state"
why = "a stack stuck mid-update or rolled back leaves the platform half-deployed"
hint = "The platform stack is not *_COMPLETE: aws cloudformation describe-stacks, read its events."

[[check.statement]]
sid = "DescribePlatformStackResources"
actions = ["cloudformation:DescribeStackResources"]
service = "cloudformation"
resource = "stack/{{platform_stack_name}}/*"
why = "a stack ARN ends in an id assigned at creation; the stack name is fixed"
'''
# Checklist step 2: the function, bound to its spec by id.
TOY_MODULE = f'''"""The platform's CloudFormation stack (a toy check: tests/infra/test_adding_a_check.py)."""

from __future__ import annotations

from harness.core.check import CheckContext, check
from harness.core.model import Reason


@check("{TOY}", timeout_s=20)
def cloudformation_platform_stack(ctx: CheckContext) -> None:
    with ctx.step("cloudformation.describe_stacks"):
        stack = ctx.aws.cloudformation.describe_stacks(StackName=ctx.config.platform_stack_name)["Stacks"][0]
    if not str(stack["StackStatus"]).endswith("_COMPLETE"):
        raise ctx.fail(Reason.RESOURCE_MISSING, f"stack is {{stack['StackStatus']}}")
'''
# What the copy reports about itself (run there, so it imports the copy's modules).
PROBE = '''
import io, json, os, sys
from harness.net.aws import AwsClients
from harness.checks import CATALOGUE
from harness.config import CanaryConfig
from harness.core.deadline import Deadline
from harness.ops.doctor.deployment import Account, _resource_for, simulatable_sids
from harness.net.http import HttpClient
from harness.iam_actions import actions_for
from harness.core.runner import Runner
from infra.node_runtime import path_with_bundled_node

os.environ["PATH"] = path_with_bundled_node(os.environ.get("PATH", ""))
from infra.stacks import build_app
from infra.config import InfraConfigError

toy = next(c for c in CATALOGUE if c.id == sys.argv[1])
runner = Runner(CATALOGUE, config=CanaryConfig(), aws=AwsClients(factory=lambda s: None), http=HttpClient())
valid = runner.run(deadline=Deadline.after(10), check_ids=["config.valid"]).checks[0]
context = json.loads(open(sys.argv[2]).read())
build_app(context, outdir=sys.argv[3]).synth()
refused = ""
try:
    unset = {**context, "environments": [{k: v for k, v in e.items() if k != "platform_stack_name"}
                                          for e in context["environments"]]}
    build_app(unset, outdir=sys.argv[3] + "-unset")
except InfraConfigError as exc:
    refused = str(exc)
print(json.dumps({
    "catalogue": [c.id for c in CATALOGUE], "tier": toy.tier.value, "fn": toy.fn.__name__,
    "config_valid": valid.message, "refused": refused,
    "doctor": actions_for("probe", "session-platform", {"platform_stack_name": sys.argv[4]}),
    "simulated": "DescribePlatformStackResources" in simulatable_sids() and _resource_for(
        "DescribePlatformStackResources", CanaryConfig(platform_stack_name=sys.argv[4]),
        Account("123456789012", "us-west-2", "aws"))[0],
}))
'''


def _copy_project(root: Path) -> Path:
    for name in PROJECT:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / name)
    return root


def _regenerate_readme_table(root: Path, env: dict[str, str]) -> None:
    """Checklist step 3: replace the README's check table with ``canary list --markdown``'s output."""
    table = subprocess.run([sys.executable, "-c", "import sys; from cli.main import main; sys.exit(main(sys.argv[1:]))",
                            "list", "--markdown"], cwd=root, env=env, capture_output=True, text=True, check=True,
                           timeout=120).stdout
    readme = (root / "README.md").read_text(encoding="utf-8")
    start = readme.index("| id | tier |")
    end = readme.index("\n\n", start) + 1
    (root / "README.md").write_text(readme[:start] + table + readme[end:], encoding="utf-8")


def _config_valid_message() -> str:
    runner = Runner(CATALOGUE, config=CanaryConfig(), aws=AwsClients(factory=lambda s: None), http=HttpClient())
    return runner.run(deadline=Deadline.after(10), check_ids=["config.valid"]).checks[0].message


def _context() -> dict[str, Any]:
    context = copy.deepcopy(TEST_CONTEXT)
    production = next(e for e in context["environments"] if e["name"] == "production")
    context["environments"] = [{**production, "platform_stack_name": STACK}]
    return context


def _dashboard_body(template: dict[str, Any]) -> str:
    (dashboard,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    return "".join(p for p in parts if isinstance(p, str))


def test_a_toy_probe_added_through_the_checklist_shows_up_everywhere(tmp_path: Path) -> None:
    assert TOY not in {c.id for c in CATALOGUE}
    assert "PLATFORM_STACK_NAME" not in _config_valid_message()  # without the toy, nothing selected needs it
    root = _copy_project(tmp_path / "project")
    env = {**os.environ, "PYTHONPATH": str(root)}
    with (root / "harness" / "check_specs.toml").open("a", encoding="utf-8") as specs:
        specs.write(TOY_SPEC)
    (root / "harness" / "checks" / "platform_stack.py").write_text(TOY_MODULE, encoding="utf-8")
    _regenerate_readme_table(root, env)

    (tmp_path / "context.json").write_text(json.dumps(_context()), encoding="utf-8")
    outdir = tmp_path / "cdk.out"
    proc = subprocess.run([sys.executable, "-c", PROBE, TOY, str(tmp_path / "context.json"), str(outdir), STACK],
                          cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])

    # The catalogue: last in report order, a probe, its function loaded from the new module.
    assert seen["catalogue"][-1] == TOY and (seen["tier"], seen["fn"]) == ("probe", "cloudformation_platform_stack")
    # Config validation: config.valid names the setting the toy requires; the deploy refuses it unset.
    assert "PLATFORM_STACK_NAME" in seen["config_valid"]
    assert "platform_stack_name" in seen["refused"] and TOY in seen["refused"]
    # The doctor simulates the statement the spec declares, on the resource its grant names.
    assert seen["doctor"]["DescribePlatformStackResources"] == ["cloudformation:DescribeStackResources"]
    assert seen["simulated"] == [f"arn:aws:cloudformation:us-west-2:123456789012:stack/{STACK}/doctor"]

    template = json.loads((outdir / "WebordinaryCanary-production-us-west-2.template.json").read_text())
    policies = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"]
    toy_statements = [s for p in policies if "Probe" in json.dumps(p["Roles"])
                      for s in p["PolicyDocument"]["Statement"] if s.get("Sid") == "DescribePlatformStackResources"]
    assert len(toy_statements) == 1, "the probe role is granted the toy's statement once"
    (statement,) = toy_statements
    assert statement["Action"] == "cloudformation:DescribeStackResources"
    assert f":stack/{STACK}/*" in json.dumps(statement["Resource"])
    for p in policies:  # only the probe function runs a probe
        if "Probe" not in json.dumps(p["Roles"]):
            assert "DescribePlatformStackResources" not in json.dumps(p)

    alarms = {r["Properties"]["AlarmName"]: r["Properties"] for r in template["Resources"].values()
              if r["Type"] == "AWS::CloudWatch::Alarm"}
    alarm = alarms[f"webordinary-canary-production-check-{TOY}"]
    assert "The platform stack is not *_COMPLETE" in alarm["AlarmDescription"]
    assert {"Name": "Check", "Value": TOY} in alarm["Dimensions"]
    body = _dashboard_body(template)
    assert f'"CheckDuration","Check","{TOY}"' in body  # its latency SLI row
    assert f"| `{TOY}` | probe | session-platform | the platform's CloudFormation stack" in (
        root / "README.md").read_text(encoding="utf-8")
