"""Static checks in the suite: cdk-nag AwsSolutions (zero unacknowledged findings) and cfn-lint (W3005 only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import TEST_CONTEXT, Synthesized

# CDK emits a DependsOn on the role policy that cfn-lint calls redundant: W3005, the only ignored rule.
CFN_LINT_IGNORED = ["W3005"]


def _nag_app(context: dict[str, Any], outdir: Path) -> Any:
    import aws_cdk as cdk
    from cdk_nag import AwsSolutionsChecks

    from infra.stacks import build_app

    app = build_app(context, outdir=str(outdir))
    # Exactly what app.py does (cdk-nag 3: a policy-validation plugin).
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app


def test_cdk_nag_aws_solutions_finds_nothing_unacknowledged(tmp_path: Path) -> None:
    # GIVEN every stack variant (VPC, destructive tier, queue profile) with CDK's own CloudFormation rules on too
    context = {k: v for k, v in TEST_CONTEXT.items() if k != "@aws-cdk/core:validateAgainstDefaultRules"}
    app = _nag_app(context, tmp_path)
    # WHEN it synthesizes (a finding raises ValidationFailed and is listed in validation-report.json)
    app.synth()
    # THEN no plugin reports a violation
    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert [r for r in report["pluginReports"] if r.get("violations")] == []


def test_cdk_nag_would_catch_an_unacknowledged_finding(tmp_path: Path) -> None:
    # The same plugin wiring on a topic that allows plain-HTTP publishers must fail the synth.
    import aws_cdk as cdk
    from aws_cdk import aws_sns as sns
    from cdk_nag import AwsSolutionsChecks

    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Control", env=cdk.Environment(region="us-west-2"))
    sns.Topic(stack, "Plain")
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for r in report["pluginReports"] for v in r["violations"]}
    assert "AwsSolutions-SNS3" in rules


def test_cfn_lint_is_clean_on_every_template(synthesized: Synthesized) -> None:
    from cfnlint.api import lint_file
    from cfnlint.config import ManualArgs

    templates = sorted(synthesized.outdir.glob("*.template.json"))
    assert len(templates) == 3
    ignored_seen: set[str] = set()
    for path in templates:
        region = json.loads(path.read_text())["Description"].rsplit(" in ", 1)[1]
        # Linted with nothing ignored: only the ignored rule may fire (and that it fires at all shows the
        # linter really read the template), so `cfn-lint --ignore-checks W3005` is clean.
        matches = lint_file(path, config=ManualArgs(regions=[region]))
        assert [str(m) for m in matches if m.rule.id not in CFN_LINT_IGNORED] == [], path.name
        ignored_seen |= {m.rule.id for m in matches}
    assert ignored_seen == set(CFN_LINT_IGNORED)
