"""Reporting renderers: the §9 JSON contract, the terminal table, JUnit XML and the HTML report."""

from __future__ import annotations

import copy
import itertools
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import pytest

from harness.core.model import CheckResult, Outcome, Profile, Reason, RunReport, StepResult, Tier, run_outcome
from harness.reporting import (
    progress_line,
    render_html,
    render_json,
    render_junit,
    render_table,
    report_schema_text,
)
from harness.reporting._text import display_width
from harness.reporting.html import bar_percent
from tests.report_contract import report_problems

HOSTILE = '<script>alert("x")</script> & </pre></details></td>'
ANSI_RED = "\x1b[31m"

# --- builders ----------------------------------------------------------------------------------------


def check(
    check_id: str,
    outcome: Outcome,
    reason: Reason | None = None,
    *,
    message: str = "",
    duration_ms: int = 100,
    tier: Tier = Tier.PROBE,
    **kwargs: Any,
) -> CheckResult:
    return CheckResult(
        id=check_id,
        tier=tier,
        profile=Profile.SESSION_PLATFORM,
        outcome=outcome,
        reason=reason,
        message=message,
        duration_ms=duration_ms,
        **kwargs,
    )


def report(*checks: CheckResult, maintenance: bool = False, duration_ms: int = 12_345) -> RunReport:
    return RunReport(
        run_id="run-7f3a",
        environment="staging",
        profile=Profile.SESSION_PLATFORM,
        started_at="2026-11-25T10:00:00+00:00",
        duration_ms=duration_ms,
        checks=checks,
        estimated_cost_usd=0.000412,
        canary_version="0.1.0",
        maintenance=maintenance,
    )


LIFECYCLE_STEPS = (
    StepResult(
        "activate",
        Outcome.PASSED,
        400,
        phases_ms={"dns": 10.0, "connect": 30.0, "tls": 60.0, "ttfb": 280.0, "transfer": 20.0},
    ),
    StepResult("container_ready", Outcome.PASSED, 1_200),
    StepResult("preview", Outcome.FAILED, 300, Reason.HTTP_5XX, message="GET /session/x/ -> 502"),
    StepResult("deactivate", Outcome.PASSED, 100),
)


def all_outcomes_report() -> RunReport:
    """One check per outcome, with steps, retries, a start type and hostile/unicode evidence."""
    return report(
        check(
            "http.hermes_health",
            Outcome.PASSED,
            message="healthy",
            duration_ms=120,
            retries=1,
            steps=(StepResult("get", Outcome.PASSED, 118, phases_ms={"dns": 2.5, "ttfb": 90.0}),),
        ),
        check(
            "alb.targets",
            Outcome.DEGRADED,
            Reason.DEPLOYING,
            message="hermes deployment in progress (4 min)",
            duration_ms=600,
            evidence={"deployment": {"rolloutState": "IN_PROGRESS", "ageMinutes": 4}},
        ),
        check(
            "session.lifecycle",
            Outcome.FAILED,
            Reason.HTTP_5XX,
            message="preview answered 502",
            duration_ms=2_000,
            tier=Tier.JOURNEY,
            start_type="cold",
            steps=LIFECYCLE_STEPS,
            evidence={"body": HOSTILE, "note": "Grüße, 日本語 ✓", "events": ["(service hermes) has started 1 tasks"]},
        ),
        check(
            "aws.credentials",
            Outcome.ERROR,
            Reason.CREDENTIALS_EXPIRED,
            message="token expired",
            duration_ms=40,
            evidence={"error_code": "ExpiredTokenException"},
        ),
        check(
            "efs.filesystem", Outcome.SKIPPED, Reason.NOT_CONFIGURED, message="EFS_FILE_SYSTEM_ID unset", duration_ms=0
        ),
        check(
            "latency.baseline",
            Outcome.INCOMPLETE,
            Reason.DEADLINE,
            message="deadline reached",
            duration_ms=1_000,
            steps=(
                StepResult("sample_1", Outcome.PASSED, 400),
                StepResult("sample_2", Outcome.INCOMPLETE, 600, Reason.DEADLINE),
            ),
        ),
    )


# --- JSON contract -----------------------------------------------------------------------------------


def test_json_round_trips_to_the_model_dict() -> None:
    # GIVEN a report with every outcome WHEN rendered and parsed back THEN it is exactly to_dict()
    rep = all_outcomes_report()
    assert json.loads(render_json(rep)) == rep.to_dict()


@pytest.mark.parametrize(
    "rep",
    [
        all_outcomes_report(),
        report(),
        report(check("ecs.cluster", Outcome.PASSED), maintenance=True),
        report(check("efs.filesystem", Outcome.SKIPPED, Reason.NOT_CONFIGURED)),
    ],
    ids=["all-outcomes", "no-checks", "maintenance", "only-skipped"],
)
def test_rendered_json_satisfies_the_contract(rep: RunReport) -> None:
    assert report_problems(json.loads(render_json(rep))) == []


def test_json_keys_follow_the_contract_order_and_output_is_ascii() -> None:
    text = render_json(all_outcomes_report())
    data = json.loads(text)
    assert text.isascii()  # unicode evidence is \u-escaped, so any consumer can read the bytes
    assert list(data)[:2] == ["run_id", "environment"]
    assert list(data)[-1] == "checks"
    assert list(data["checks"][0]) == [
        "id", "tier", "profile", "outcome", "reason", "message",
        "duration_ms", "retries", "start_type", "steps", "evidence",
    ]  # fmt: skip
    assert data["checks"][2]["evidence"]["note"] == "Grüße, 日本語 ✓"


def test_json_encodes_boto3_and_dynamodb_evidence_types() -> None:
    # GIVEN evidence as boto3/DynamoDB return it (datetime, Decimal, sets, bytes)
    when = datetime(2026, 11, 25, 9, 58, tzinfo=UTC)
    rep = report(
        check(
            "ecs.services",
            Outcome.FAILED,
            Reason.DESIRED_RUNNING_MISMATCH,
            evidence={"createdAt": when, "ttl": Decimal("1764064800"), "ratio": Decimal("0.5"),
                      "tags": {"b", "a"}, "raw": b"\x00\xff"},
        )
    )  # fmt: skip
    # WHEN rendered THEN it is valid JSON with readable values, not a crash at the end of the run
    evidence = json.loads(render_json(rep))["checks"][0]["evidence"]
    assert evidence == {
        "createdAt": "2026-11-25T09:58:00+00:00",
        "ttl": 1764064800,
        "ratio": 0.5,
        "tags": ["a", "b"],
        "raw": {"base64": "AP8="},
    }


Mutation = Callable[[dict[str, Any]], None]


def _set(path: tuple[str | int, ...], value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _delete(path: tuple[str | int, ...]) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


def _duplicate_first_check(data: dict[str, Any]) -> None:
    data["checks"].append(copy.deepcopy(data["checks"][0]))


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_delete(("run_id",)), "$: 'run_id' is a required property"),
        (_set(("run_id",), 42), "$.run_id: 42 is not of type 'string'"),
        (_set(("environment",), " "), "$.environment: ' ' does not match"),
        (_set(("outcome",), "SKIPPED"), "$.outcome: 'SKIPPED' is not one of"),
        (_set(("outcome",), "PASSED"), "$.outcome: 'ERROR' was expected"),
        (_set(("started_at",), "yesterday"), "$.started_at: 'yesterday' does not match"),
        (_set(("started_at",), "2026-11-25T10:00:00"), "$.started_at: '2026-11-25T10:00:00' does not match"),
        (_set(("duration_ms",), "12"), "$.duration_ms: '12' is not of type 'integer'"),
        (_set(("duration_ms",), True), "$.duration_ms: True is not of type 'integer'"),
        (_set(("estimated_cost_usd",), -0.1), "$.estimated_cost_usd: -0.1 is less than the minimum of 0"),
        (_set(("checks",), {}), "$.checks: {} is not of type 'array'"),
        (_set(("surprise",), 1), "$: Additional properties are not allowed ('surprise' was unexpected)"),
        (_set(("checks", 0, "outcome"), "OK"), "$.checks[0].outcome: 'OK' is not one of"),
        (_set(("checks", 0, "tier"), "smoke"), "$.checks[0].tier: 'smoke' is not one of"),
        (_set(("checks", 0, "retries"), -1), "$.checks[0].retries: -1 is less than the minimum of 0"),
        (_set(("checks", 0, "start_type"), "hot"), "$.checks[0].start_type: 'hot' is not one of"),
        (_set(("checks", 0, "new_field"), 1), "$.checks[0]: Additional properties are not allowed ('new_field'"),
        (_set(("checks", 1, "reason"), "it_broke"), "$.checks[1].reason: 'it_broke' is not one of"),
        (_set(("checks", 2, "reason"), None), "$.checks[2].reason: None is not of type 'string'"),
        (_set(("checks", 2, "evidence"), []), "$.checks[2].evidence: [] is not of type 'object'"),
        (_set(("checks", 2, "message"), None), "$.checks[2].message: None is not of type 'string'"),
        (_delete(("checks", 3, "message")), "$.checks[3]: 'message' is a required property"),
        (_set(("checks", 2, "steps", 1), "activate"), "$.checks[2].steps[1]: 'activate' is not of type 'object'"),
        (_delete(("checks", 2, "steps", 0, "name")), "$.checks[2].steps[0]: 'name' is a required property"),
        (_set(("checks", 2, "steps", 0, "phases_ms", "dns"), "fast"),
         "$.checks[2].steps[0].phases_ms.dns: 'fast' is not of type 'number'"),
        (_duplicate_first_check, "$.checks: duplicate check id 'http.hermes_health'"),
    ],
)
def test_schema_names_each_contract_violation(mutate: Mutation, expected: str) -> None:
    # GIVEN a valid report dict broken in exactly one place
    data = json.loads(render_json(all_outcomes_report()))
    mutate(data)
    # WHEN validated against the shipped JSON Schema THEN the problem is reported with its path
    problems = report_problems(data)
    assert any(p.startswith(expected) for p in problems), problems


def test_schema_rejects_non_objects() -> None:
    assert report_problems([]) == ["$: [] is not of type 'object'"]


def test_schema_closed_sets_are_the_models() -> None:
    # The shipped schema is a static file; a new outcome, tier, profile or reason code must reach it too.
    defs = json.loads(report_schema_text())["$defs"]
    assert defs["outcome"]["enum"] == [o.value for o in Outcome]
    assert defs["tier"]["enum"] == [t.value for t in Tier]
    assert defs["profile"]["enum"] == [p.value for p in Profile]
    assert defs["reason"]["enum"] == [*(r.value for r in Reason), None], "add the new reason code to report.schema.json"


@pytest.mark.parametrize("size", [0, 1, 2, 3])
def test_schema_run_outcome_precedence_matches_the_model(size: int) -> None:
    # The schema states §9 precedence as if/then rules; for every combination of check outcomes exactly the
    # model's run outcome is valid.
    data = json.loads(render_json(report()))
    run_outcomes = [o.value for o in Outcome if o is not Outcome.SKIPPED]
    for outcomes in itertools.product(list(Outcome), repeat=size):
        checks = [check(f"c{i}", o, Reason.IDLE) for i, o in enumerate(outcomes)]
        data["checks"] = [c.to_dict() for c in checks]
        valid = set()
        for candidate in run_outcomes:
            data["outcome"] = candidate
            if not report_problems(data):
                valid.add(candidate)
        assert valid == {run_outcome(checks).value}, outcomes


def test_schema_ships_with_the_package_and_the_cli_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import main

    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(report_schema_text())


# --- terminal table and progress lines ---------------------------------------------------------------


def test_table_lists_every_check_with_its_outcome_and_reason() -> None:
    rep = all_outcomes_report()
    text = render_table(rep, color=False)
    for result in rep.checks:
        row = next(line for line in text.splitlines() if line.startswith(result.id + " "))
        assert result.outcome.value in row
        assert (result.reason.value if result.reason else "-") in row
    assert "CHECK" in text and "REASON" in text and "MESSAGE" in text


def test_table_summary_line_counts_outcomes_and_names_the_run() -> None:
    summary = render_table(all_outcomes_report(), color=False).rstrip("\n").splitlines()[-1]
    assert summary.startswith("Run ERROR | 6 checks: 1 PASSED, 1 DEGRADED, 1 FAILED, 1 ERROR, 1 SKIPPED, 1 INCOMPLETE")
    assert "run run-7f3a" in summary
    assert "12.35 s" in summary
    assert "$0.000412" in summary


def test_table_shows_retries_column_only_when_a_check_retried() -> None:
    assert "RETRIES" in render_table(all_outcomes_report(), color=False)
    assert "RETRIES" not in render_table(report(check("ecs.cluster", Outcome.PASSED)), color=False)


def test_table_right_aligns_durations() -> None:
    text = render_table(all_outcomes_report(), color=False)
    rows = [line for line in text.splitlines()[1:7]]
    ends = {line.index(" ms") for line in rows}
    assert len(ends) == 1, rows


@pytest.mark.parametrize("width", [80, 120])
def test_table_truncates_messages_to_the_terminal_width(width: int) -> None:
    # GIVEN messages far wider than the terminal, including wide CJK characters
    rep = report(
        check("ecs.services", Outcome.FAILED, Reason.DESIRED_RUNNING_MISMATCH, message="running 0 of 2; " * 30),
        check("alb.targets", Outcome.FAILED, Reason.UNHEALTHY_TARGETS, message="日本語のメッセージ" * 20),
    )
    text = render_table(rep, color=False, width=width)
    rows = text.splitlines()[1:3]
    # THEN each row fits and shows it was cut
    assert all(display_width(row) <= width for row in rows)
    assert all(row.endswith("…") for row in rows)
    assert render_table(rep, color=False, width=width, ascii_only=True).splitlines()[1].endswith("...")


def test_table_neutralises_terminal_escapes_and_newlines_from_the_target() -> None:
    rep = report(check("http.routing", Outcome.FAILED, Reason.ROUTE_DEFAULT, message=f"{ANSI_RED}evil\nsecond line"))
    text = render_table(rep, color=False)
    assert "\x1b" not in text
    assert "\\x1b[31mevil second line" in text


def test_table_colour_is_optional() -> None:
    rep = all_outcomes_report()
    assert "\x1b[" not in render_table(rep, color=False)
    coloured = render_table(rep, color=True)
    assert "\x1b[31mFAILED" in coloured and "\x1b[35mERROR" in coloured
    # Colour codes do not shift columns: stripped, the coloured table equals the plain one.
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == render_table(rep, color=False)


def test_table_for_a_run_without_checks() -> None:
    text = render_table(report(), color=False)
    assert "(no checks ran)" in text
    assert "Run PASSED | 0 checks |" in text


def test_progress_line_shows_symbol_outcome_id_and_duration() -> None:
    result = check("http.hermes_health", Outcome.PASSED, duration_ms=123)
    assert re.fullmatch(r"✔ PASSED +http\.hermes_health  123 ms", progress_line(result))
    assert progress_line(result, ascii_only=True).startswith("+ PASSED ")


def test_progress_line_carries_retries_reason_and_message_within_width() -> None:
    result = check(
        "session.lifecycle", Outcome.FAILED, Reason.NOT_READY, message="container never ready " * 20, retries=1
    )
    line = progress_line(result, width=100)
    assert "retries=1" in line and "not_ready" in line and "container never ready" in line
    assert display_width(line) <= 100 and line.endswith("…")


@pytest.mark.parametrize("outcome", list(Outcome))
def test_progress_line_ascii_fallback_is_pure_ascii(outcome: Outcome) -> None:
    result = check("x.y", outcome, Reason.IDLE, message="stopped at step " * 20)
    line = progress_line(result, ascii_only=True, width=60)
    assert line.isascii()
    assert outcome.value in line
    coloured = progress_line(result, color=True)
    assert coloured.startswith("\x1b[") and re.sub(r"\x1b\[[0-9;]*m", "", coloured) == progress_line(result)


# --- JUnit XML ---------------------------------------------------------------------------------------


def _junit(rep: RunReport) -> ET.Element:
    return ET.fromstring(render_junit(rep).encode("utf-8"))


def _case(root: ET.Element, name: str) -> ET.Element:
    found = root.find(f".//testcase[@name='{name}']")
    assert found is not None
    return found


def test_junit_parses_with_counts_per_outcome() -> None:
    root = _junit(all_outcomes_report())
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    for element in (root, suite):
        # FAILED -> failure; ERROR and INCOMPLETE -> error; SKIPPED -> skipped
        assert element.attrib["tests"] == "6"
        assert element.attrib["failures"] == "1"
        assert element.attrib["errors"] == "2"
        assert element.attrib["skipped"] == "1"
        assert element.attrib["time"] == "12.345"
    assert suite.attrib["name"] == "canary.staging"
    assert len(suite.findall("testcase")) == 6
    assert len(suite.findall("testcase/failure")) == 1
    assert len(suite.findall("testcase/error")) == 2
    assert len(suite.findall("testcase/skipped")) == 1
    properties = {p.attrib["name"]: p.attrib["value"] for p in suite.iter("property")}
    assert properties["run_id"] == "run-7f3a" and properties["outcome"] == "ERROR"


def test_junit_testcase_attributes_and_verdict_elements() -> None:
    root = _junit(all_outcomes_report())
    failed = _case(root, "session.lifecycle")
    assert failed.attrib == {"classname": "journey.session-platform", "name": "session.lifecycle", "time": "2.000"}
    failure = failed.find("failure")
    assert failure is not None
    assert failure.attrib == {"message": "http_5xx: preview answered 502", "type": "http_5xx"}

    error = _case(root, "aws.credentials").find("error")
    assert error is not None and error.attrib["type"] == "credentials_expired"

    deadline = _case(root, "latency.baseline").find("error")
    assert deadline is not None and deadline.attrib["type"] == "deadline"

    skipped = _case(root, "efs.filesystem").find("skipped")
    assert skipped is not None
    assert skipped.attrib["message"] == "not_configured: EFS_FILE_SYSTEM_ID unset"


def test_junit_degraded_passes_with_a_note_and_retries_are_visible() -> None:
    root = _junit(all_outcomes_report())
    degraded = _case(root, "alb.targets")
    assert [child.tag for child in degraded] == ["system-out"]
    assert (degraded.findtext("system-out") or "").startswith("DEGRADED (passed, counted as passed): deploying:")
    assert "PASSED after 1 retry" in (_case(root, "http.hermes_health").findtext("system-out") or "")


def test_junit_system_out_lists_steps_and_evidence_as_json() -> None:
    out = _case(_junit(all_outcomes_report()), "session.lifecycle").findtext("system-out") or ""
    assert "  - activate: PASSED 400 ms (dns 10.0 ms, connect 30.0 ms, tls 60.0 ms, ttfb 280.0 ms" in out
    assert "  - preview: FAILED 300 ms [http_5xx] GET /session/x/ -> 502" in out
    evidence = json.loads(out.split("evidence:\n", 1)[1])
    # The hostile string survives intact as data (escaped in the file, unescaped by the parser).
    assert evidence["body"] == HOSTILE
    assert evidence["note"] == "Grüße, 日本語 ✓"


def test_junit_stays_parseable_with_characters_xml_forbids() -> None:
    # GIVEN a message with ESC, NUL and a lone surrogate (e.g. from a broken response body)
    nasty = f"{ANSI_RED}bad\x00byte \ud800 end"
    rep = report(check("http.routing", Outcome.FAILED, Reason.BODY_INVALID, message=nasty, evidence={"b": nasty}))
    text = render_junit(rep)
    # THEN the document encodes as UTF-8 and parses, the characters shown escaped
    root = ET.fromstring(text.encode("utf-8"))
    failure = _case(root, "http.routing").find("failure")
    assert failure is not None
    assert failure.text == "\\x1b[31mbad\\x00byte \\ud800 end"


# --- HTML --------------------------------------------------------------------------------------------

VOID_TAGS = frozenset({"meta", "br", "hr", "img", "input", "link", "wbr"})


class _Collector(HTMLParser):
    """Records tags, checks nesting, and collects latency bars with the row they belong to."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.row: tuple[str, str] = ("", "")  # (tr class, check id)
        self.bars: list[tuple[str, str, str, float, float]] = []  # (row class, check id, css, width %, ms)
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag not in VOID_TAGS:
            self.stack.append(tag)
        css = attributes.get("class") or ""
        if tag == "tr" and css in ("check", "details"):
            check_id = (attributes.get("id") or "").removeprefix("check-") if css == "check" else self.row[1]
            self.row = (css, check_id)
        if "fill" in css.split():
            width = re.fullmatch(r"width:([0-9.]+)%", attributes.get("style") or "")
            assert width, attributes
            self.bars.append((self.row[0], self.row[1], css, float(width.group(1)), float(attributes["data-ms"] or 0)))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(document: str) -> _Collector:
    collector = _Collector()
    collector.feed(document)
    collector.close()
    assert collector.stack == []
    return collector


def test_html_escapes_hostile_evidence_and_keeps_unicode() -> None:
    document = render_html(all_outcomes_report())
    parsed = _parse(document)  # balanced: the hostile </pre></details></td> closed nothing
    assert "<script" not in document.lower()
    # (inside JSON the quotes are backslash-escaped, then HTML-escaped)
    assert "&lt;script&gt;alert(\\&quot;x\\&quot;)&lt;/script&gt;" in document
    assert not any(tag == "script" for tag, _ in parsed.tags)
    # The parser gives the hostile text back verbatim as text, inside the evidence <pre>.
    assert any(HOSTILE.replace('"', '\\"') in chunk for chunk in parsed.text)
    assert "Grüße, 日本語 ✓" in document


def test_html_escapes_hostile_ids_messages_and_control_characters() -> None:
    rep = report(check('x"><img src=y>', Outcome.FAILED, Reason.BODY_INVALID, message=f"<b>{ANSI_RED}\ud800"))
    document = render_html(rep)
    parsed = _parse(document)
    assert not any(tag in ("img", "b") for tag, _ in parsed.tags)
    document.encode("utf-8")  # lone surrogate neutralised
    assert "\\x1b[31m" in document and "\\ud800" in document


def test_html_is_self_contained() -> None:
    parsed = _parse(render_html(all_outcomes_report()))
    tags = {tag for tag, _ in parsed.tags}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed"}
    assert not any(name in ("src", "href") for _, attrs in parsed.tags for name in attrs)
    assert "style" in tags


def test_html_header_names_the_run() -> None:
    text = " ".join(_parse(render_html(all_outcomes_report())).text)
    for expected in ("ERROR", "staging", "run-7f3a", "2026-11-25T10:00:00+00:00", "12.35 s", "$0.000412"):
        assert expected in text


def test_html_check_bars_are_proportional_to_the_slowest_check() -> None:
    rep = all_outcomes_report()
    bars = [bar for bar in _parse(render_html(rep)).bars if bar[0] == "check"]
    assert [bar[1] for bar in bars] == [c.id for c in rep.checks]
    slowest = max(c.duration_ms for c in rep.checks)
    for _, check_id, _, width, ms in bars:
        assert width == pytest.approx(ms * 100 / slowest, abs=0.01), check_id
    assert max(bar[3] for bar in bars) == 100.0
    assert {bar[1]: bar[3] for bar in bars}["efs.filesystem"] == 0.0


def test_html_step_bars_are_scaled_to_their_check_and_show_http_phases() -> None:
    bars = _parse(render_html(all_outcomes_report())).bars
    steps = [
        bar for bar in bars if bar[0] == "details" and bar[1] == "session.lifecycle" and bar[2].startswith("fill o-")
    ]
    assert [bar[4] for bar in steps] == [400, 1_200, 300, 100]
    for _, _, _, width, ms in steps:
        assert width == pytest.approx(ms * 100 / 2_000, abs=0.01)
    phases = [bar for bar in bars if bar[1] == "session.lifecycle" and "ph-" in bar[2]]
    assert [bar[2] for bar in phases] == [
        "fill ph-dns",
        "fill ph-connect",
        "fill ph-tls",
        "fill ph-ttfb",
        "fill ph-transfer",
    ]
    assert [bar[3] for bar in phases] == pytest.approx([0.5, 1.5, 3.0, 14.0, 1.0])


def test_html_opens_details_for_checks_that_need_attention() -> None:
    parsed = _parse(render_html(all_outcomes_report()))
    opened = [attrs for tag, attrs in parsed.tags if tag == "details"]
    # One <details> per check with something to show (efs.filesystem has neither steps nor evidence).
    assert ["open" in attrs for attrs in opened] == [False, False, True, True, True]
    summaries = re.findall(r"<summary>(.*?)</summary>", render_html(all_outcomes_report()))
    assert summaries == ["1 step", "evidence", "4 steps and evidence", "evidence", "2 steps"]


def test_html_for_a_run_without_checks() -> None:
    text = " ".join(_parse(render_html(report())).text)
    assert "No checks ran." in text


@pytest.mark.parametrize(
    ("value", "scale", "expected"),
    [(50, 200, 25.0), (0, 200, 0.0), (300, 200, 100.0), (10, 0, 0.0), (-5, 100, 0.0)],
)
def test_bar_percent_is_proportional_and_clamped(value: float, scale: float, expected: float) -> None:
    assert bar_percent(value, scale) == expected
