"""ALB rule evaluation as documented: priority order, default last, all conditions AND-ed, values OR-ed, path
case-sensitive and host case-insensitive, ``*`` and ``?`` wildcards; unjudgeable conditions never match."""

from __future__ import annotations

from typing import Any

import pytest

from harness.platform.listener_rules import Request, Rule, first_match, wildcard_matches

HERMES, ASTRO = "arn:aws:elasticloadbalancing:us-west-2:1:targetgroup/hermes-api-tg/1", \
    "arn:aws:elasticloadbalancing:us-west-2:1:targetgroup/edit-astro-tg/2"


def rule(priority: str, *, paths: list[str] | None = None, hosts: list[str] | None = None, tg: str | None = HERMES,
         extra: list[dict[str, Any]] | None = None) -> Rule:
    conditions: list[dict[str, Any]] = list(extra or [])
    if paths is not None:
        conditions.append({"Field": "path-pattern", "PathPatternConfig": {"Values": paths}})
    if hosts is not None:
        conditions.append({"Field": "host-header", "Values": hosts})  # the legacy single-value form
    actions = ([{"Type": "forward", "TargetGroupArn": tg}] if tg else
               [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}])
    return Rule.from_description({"Priority": priority, "Conditions": conditions, "Actions": actions,
                                  "IsDefault": priority == "default"})


DEFAULT = rule("default", tg=None)


@pytest.mark.parametrize(("pattern", "value", "expected"), [
    ("/hermes/*", "/hermes/health", True), ("/hermes/*", "/hermes/", True), ("/hermes/*", "/hermes", False),
    ("/hermes*", "/hermes/health", True), ("/Hermes/*", "/hermes/health", False), ("/ws/hm?", "/ws/hmr", True),
    ("/ws/hm?", "/ws/hm", False), ("/a.b/*", "/aXb/c", False),
])
def test_path_wildcards_are_case_sensitive(pattern: str, value: str, expected: bool) -> None:
    assert wildcard_matches(pattern, value) is expected


def test_rules_are_evaluated_lowest_priority_value_first_and_the_default_last() -> None:
    rules = [DEFAULT, rule("20", paths=["/hermes/*"], tg=ASTRO), rule("5", paths=["/hermes/*"])]
    assert first_match(rules, Request("/hermes/health")).rule is rules[2]
    assert first_match(rules, Request("/other")).rule is DEFAULT
    # priorities compare as numbers, not strings ("10" after "9")
    numeric = [rule("10", paths=["/*"], tg=ASTRO), rule("9", paths=["/*"])]
    assert first_match(numeric, Request("/x")).rule is numeric[1]


def test_all_conditions_must_match_and_hosts_compare_case_insensitively() -> None:
    preview = rule("1", paths=["/*"], hosts=["edit.*.webordinary.com"], tg=ASTRO)
    hermes = rule("5", paths=["/hermes/*"])
    rules = [preview, hermes, DEFAULT]
    # the preview host's rule captures everything on that host ...
    assert first_match(rules, Request("/hermes/health", "EDIT.amelia.webordinary.com")).rule is preview
    # ... and nothing on the canary's host
    assert first_match(rules, Request("/hermes/health", "app.webordinary.com")).rule is hermes


def test_a_condition_that_cannot_be_judged_does_not_match_and_is_reported() -> None:
    by_host = rule("1", paths=["/*"], hosts=["edit.amelia.webordinary.com"], tg=ASTRO)
    by_ip = rule("2", paths=["/*"], tg=ASTRO, extra=[{"Field": "source-ip",
                                                      "SourceIpConfig": {"Values": ["10.0.0.0/8"]}}])
    hermes = rule("5", paths=["/hermes/*"])
    answer = first_match([by_host, by_ip, hermes], Request("/hermes/health", host=None))
    assert answer.rule is hermes and answer.not_evaluated == (by_host, by_ip)


def test_method_query_and_header_conditions() -> None:
    post_only = rule("1", paths=["/*"], tg=ASTRO, extra=[{"Field": "http-request-method",
                                                          "HttpRequestMethodConfig": {"Values": ["POST"]}}])
    with_query = rule("2", paths=["/*"], tg=ASTRO, extra=[{"Field": "query-string", "QueryStringConfig": {
        "Values": [{"Key": "v", "Value": "2"}]}}])
    hermes = rule("5", paths=["/hermes/*"])
    assert first_match([post_only, with_query, hermes], Request("/hermes/health")).rule is hermes
    assert first_match([post_only, hermes], Request("/hermes/health", method="POST")).rule is post_only


def test_regex_values_are_honoured() -> None:
    regex = Rule.from_description({"Priority": "1", "Actions": [{"Type": "forward", "TargetGroupArn": ASTRO}],
                                   "Conditions": [{"Field": "path-pattern",
                                                   "PathPatternConfig": {"RegexValues": ["^/herm"]}}]})
    assert first_match([regex, rule("5", paths=["/hermes/*"])], Request("/hermes/health")).rule is regex


def test_the_terminal_action_and_forward_config_targets() -> None:
    weighted = Rule.from_description({"Priority": "3", "Conditions": [], "Actions": [
        {"Type": "authenticate-oidc", "Order": 1},
        {"Type": "forward", "Order": 2, "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": HERMES},
                                                                           {"TargetGroupArn": ASTRO}]}}]})
    assert weighted.action_type() == "forward" and weighted.forward_targets() == [HERMES, ASTRO]
    assert DEFAULT.action_type() == "fixed-response" and DEFAULT.forward_targets() == []
