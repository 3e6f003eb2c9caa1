"""The doctor's exit code (DESIGN §9 shape): 1 for any failing finding, 2 when nothing could be checked, else 0."""

from __future__ import annotations

import json
from pathlib import Path

from harness.ops.doctor import DoctorReport, Finding, Level


def report(*findings: Finding) -> DoctorReport:
    return DoctorReport("production", "session-platform", "us-west-2", "942734823970",
                        "WebordinaryCanary-production-us-west-2", True, list(findings))


CREDENTIALS = Finding("aws.credentials", Level.OK, "credentials work")
COULD_NOT = Finding("resource.ecs_cluster", Level.WARN, "could not check ECS cluster x: AccessDenied", "why", "fix")


def test_exit_codes() -> None:
    assert report(CREDENTIALS, Finding("alarms", Level.OK, "fine")).exit_code == 0
    assert report(CREDENTIALS, COULD_NOT, Finding("alarms", Level.OK, "fine")).exit_code == 0
    assert report(CREDENTIALS, COULD_NOT, Finding("alarms", Level.FAIL, "x", "y", "z")).exit_code == 1
    # nothing past the credentials could be checked: the doctor did not really run
    assert report(CREDENTIALS, COULD_NOT, Finding("stack.deployed", Level.SKIP, "not deployed")).exit_code == 2


def test_text_and_json_forms() -> None:
    failing = Finding("alerts.subscription", Level.FAIL, "no confirmed subscription", "nobody is paged",
                      "confirm the e-mail", {"pending": ["oncall@example.com"]})
    rendered = report(CREDENTIALS, failing)
    line = rendered.render_text().splitlines()[2]
    assert line.startswith("FAIL") and "nobody is paged" in line and "fix: confirm the e-mail" in line
    assert rendered.render_text().endswith("-> exit 1")
    data = json.loads(rendered.render_json())
    assert data["exit_code"] == 1 and data["counts"] == {"ok": 1, "skip": 0, "warn": 0, "fail": 1}
    assert data["findings"][1] == {"id": "alerts.subscription", "level": "fail", "what": "no confirmed subscription",
                                   "why": "nobody is paged", "fix": "confirm the e-mail",
                                   "evidence": {"pending": ["oncall@example.com"]}}


def test_the_deploy_context_reads_the_target_file_as_the_cdk_app_does(tmp_path: Path) -> None:
    from cli.doctor import deploy_context

    target = tmp_path / "targets.json"
    target.write_text(json.dumps({"profile": "queue-platform", "reserved_concurrency": 5, "region": "us-west-2"}))
    cdk = tmp_path / "cdk.json"
    cdk.write_text(json.dumps({"context": {"target_config": str(target), "region": "eu-west-1",
                                           "environments": [{"name": "staging", "reserved_concurrency": 2}]}}))
    assert deploy_context(cdk, "production")["reserved_concurrency"] == 5  # from the target file
    assert deploy_context(cdk, "production")["region"] == "eu-west-1"  # cdk.json's own keys win
    assert deploy_context(cdk, "staging")["reserved_concurrency"] == 2  # the environment entry wins
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"reserved_concurrency": 9}))
    assert deploy_context(cdk, "production", str(other))["reserved_concurrency"] == 9
