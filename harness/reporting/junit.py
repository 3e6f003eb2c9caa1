"""JUnit XML, so CI systems (GitLab, Jenkins, GitHub test reporters) show canary runs as test results.

Mapping: one testsuite ``canary.<environment>``, one testcase per check (classname ``tier.profile``).
FAILED -> ``<failure>``, ERROR -> ``<error>``, SKIPPED -> ``<skipped>``, INCOMPLETE -> ``<error
type="deadline">``; DEGRADED passes with a note. Steps and evidence go to ``<system-out>``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.core.model import CheckResult, Outcome, RunReport
from harness.reporting._text import markup_safe
from harness.reporting.json_report import dumps_evidence
from harness.reporting.summary import outcome_counts

DEADLINE_TYPE = "deadline"


def _seconds(duration_ms: int) -> str:
    return f"{duration_ms / 1000:.3f}"


def _headline(check: CheckResult) -> str:
    reason = check.reason.value if check.reason else "no_reason"
    return f"{reason}: {check.message}" if check.message else reason


def _system_out(check: CheckResult) -> str:
    lines: list[str] = []
    if check.outcome is Outcome.DEGRADED:
        lines.append(f"DEGRADED (passed, counted as passed): {_headline(check)}")
    if check.retries:
        # A pass after a retry is reported, never hidden (DESIGN §3).
        plural = "retry" if check.retries == 1 else "retries"
        lines.append(f"{check.outcome.value} after {check.retries} {plural}")
    if check.start_type:
        lines.append(f"start type: {check.start_type}")
    if check.steps:
        lines.append("steps:")
        for step in check.steps:
            detail = f"  - {step.name}: {step.outcome.value} {step.duration_ms} ms"
            if step.reason:
                detail += f" [{step.reason.value}]"
            if step.message:
                detail += f" {step.message}"
            if step.phases_ms:
                detail += " (" + ", ".join(f"{k} {v:.1f} ms" for k, v in step.phases_ms.items()) + ")"
            lines.append(detail)
    if check.evidence:
        lines.append("evidence:")
        lines.append(dumps_evidence(check.evidence))
    return "\n".join(lines)


def _testcase(suite: ET.Element, check: CheckResult) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        classname=f"{check.tier.value}.{check.profile.value}",
        name=markup_safe(check.id),
        time=_seconds(check.duration_ms),
    )
    headline = markup_safe(_headline(check))
    reason = check.reason.value if check.reason else "no_reason"
    if check.outcome is Outcome.FAILED:
        ET.SubElement(case, "failure", message=headline, type=reason).text = markup_safe(check.message)
    elif check.outcome is Outcome.ERROR:
        ET.SubElement(case, "error", message=headline, type=reason).text = markup_safe(check.message)
    elif check.outcome is Outcome.INCOMPLETE:
        # JUnit's <error> means "the test could not run to a verdict", which is what a deadline is:
        # <skipped> would turn CI green on a run that never finished, and <failure> would blame the target.
        ET.SubElement(case, "error", message=headline, type=DEADLINE_TYPE).text = markup_safe(check.message)
    elif check.outcome is Outcome.SKIPPED:
        ET.SubElement(case, "skipped", message=headline)
    out = _system_out(check)
    if out:
        ET.SubElement(case, "system-out").text = markup_safe(out)


def render_junit(report: RunReport) -> str:
    """The run as a JUnit XML document (UTF-8 declaration, indented)."""
    counts = outcome_counts(report)
    totals = {
        "tests": str(len(report.checks)),
        "failures": str(counts[Outcome.FAILED]),
        "errors": str(counts[Outcome.ERROR] + counts[Outcome.INCOMPLETE]),
        "skipped": str(counts[Outcome.SKIPPED]),
        "time": _seconds(report.duration_ms),
    }
    root = ET.Element("testsuites", {"name": "canary", **totals})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": markup_safe(f"canary.{report.environment}"),
            "timestamp": markup_safe(report.started_at),
            **totals,
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("run_id", report.run_id),
        ("outcome", report.outcome.value),
        ("environment", report.environment),
        ("profile", report.profile.value),
        ("canary_version", report.canary_version),
        ("estimated_cost_usd", f"{report.estimated_cost_usd:.6f}"),
        ("maintenance", str(report.maintenance).lower()),
    ):
        ET.SubElement(properties, "property", name=name, value=markup_safe(value))
    for check in report.checks:
        _testcase(suite, check)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
