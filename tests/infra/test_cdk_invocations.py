"""Issues 11.6-11.8 in the template: a quiet first deploy (each function runs once, before the alarms exist),
optional reserved concurrency, and failed or dropped async invocations recorded in the schedule DLQ."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match

from tests.infra.conftest import PRODUCTION, QUEUE, STAGING, TEST_CONTEXT, Synthesized
from tests.infra.template_tools import as_list, by_property, logical_id, resources, statements_by_role

STACKS = [PRODUCTION, STAGING, QUEUE]
# function kind -> (invocation type of its deploy-time run, max event age = its schedule period, s)
KINDS = {"probe": ("RequestResponse", 900), "journey": ("RequestResponse", 3600),
         "sweeper": ("RequestResponse", 3600), "destructive": ("Event", 21600)}


def _functions(template: dict[str, Any]) -> dict[str, str]:
    """kind -> logical id of the canary function."""
    names = by_property(template, "AWS::Lambda::Function", "FunctionName")
    return {name.rsplit("-", 1)[1]: logical_id(template, "AWS::Lambda::Function", "FunctionName", name)
            for name in names}


def _version_of(template: dict[str, Any], fn_id: str) -> str:
    (version,) = [k for k, v in resources(template, "AWS::Lambda::Version").items()
                  if v["Properties"]["FunctionName"] == {"Ref": fn_id}]
    return version


@pytest.mark.parametrize("stack", STACKS)
def test_each_function_runs_once_at_deploy_before_any_alarm_exists(synthesized: Synthesized, stack: str) -> None:
    template = synthesized.json(stack)
    functions = _functions(template)
    triggers = resources(template, "Custom::Trigger")
    assert len(triggers) == len(functions) >= 1
    by_handler = {t["Properties"]["HandlerArn"]["Ref"]: t for t in triggers.values()}
    for kind, fn_id in functions.items():
        trigger = by_handler[_version_of(template, fn_id)]
        assert trigger["Properties"]["InvocationType"] == KINDS[kind][0], kind
        assert trigger["Properties"]["ExecuteOnHandlerChange"] is True
        assert fn_id in trigger["DependsOn"]  # the function, its schedule and its async settings exist first
    alarms = {**resources(template, "AWS::CloudWatch::Alarm"), **resources(template, "AWS::CloudWatch::CompositeAlarm")}
    assert alarms
    for alarm_id, alarm in alarms.items():
        assert set(triggers) <= set(as_list(alarm.get("DependsOn", []))), alarm_id


@pytest.mark.parametrize("stack", STACKS)
def test_the_alarms_the_first_run_keeps_quiet_still_see_a_stopped_canary(synthesized: Synthesized, stack: str) -> None:
    # The mechanism is the deploy-time run, not a laxer alarm: missing data still breaches afterwards.
    alarms = by_property(synthesized.json(stack), "AWS::CloudWatch::Alarm", "AlarmName")
    watched = {n: a for n, a in alarms.items() if n.endswith(("-heartbeat", "-not-invoked"))}
    assert len(watched) == len(_functions(synthesized.json(stack))) + 1
    assert all(a["TreatMissingData"] == "breaching" for a in watched.values())


def test_a_run_too_long_for_the_trigger_is_invoked_async_with_the_functions_async_settings(
        synthesized: Synthesized) -> None:
    template = synthesized.json(STAGING)
    fn_id = _functions(template)["destructive"]
    dlq = logical_id(template, "AWS::SQS::Queue", "QueueName", "webordinary-canary-staging-schedule-dlq")
    synthesized.templates[STAGING].has_resource_properties("AWS::Lambda::EventInvokeConfig", {
        "FunctionName": {"Ref": fn_id},
        "Qualifier": {"Fn::GetAtt": [_version_of(template, fn_id), "Version"]},
        "MaximumRetryAttempts": 0,
        "MaximumEventAgeInSeconds": KINDS["destructive"][1],
        "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [dlq, "Arn"]}}},
    })


@pytest.mark.parametrize("stack", STACKS)
def test_failed_or_expired_async_invocations_go_to_the_schedule_dlq(synthesized: Synthesized, stack: str) -> None:
    template = synthesized.json(stack)
    prefix = {PRODUCTION: "production", STAGING: "staging", QUEUE: "queue"}[stack]
    dlq = logical_id(template, "AWS::SQS::Queue", "QueueName", f"webordinary-canary-{prefix}-schedule-dlq")
    roles = statements_by_role(template)
    for kind, fn_id in _functions(template).items():
        synthesized.templates[stack].has_resource_properties("AWS::Lambda::EventInvokeConfig", {
            "FunctionName": {"Ref": fn_id},
            "Qualifier": "$LATEST",
            "MaximumRetryAttempts": 0,
            # A throttled run waits at most one schedule period, then its record lands in the DLQ.
            "MaximumEventAgeInSeconds": KINDS[kind][1],
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [dlq, "Arn"]}}},
        })
        role = template["Resources"][fn_id]["Properties"]["Role"]["Fn::GetAtt"][0]
        sends = [s for s in roles[role] if "sqs:SendMessage" in as_list(s["Action"])]
        assert [s["Resource"] for s in sends] == [{"Fn::GetAtt": [dlq, "Arn"]}], kind


def test_the_dlq_runbook_says_what_really_arrives(synthesized: Synthesized) -> None:
    alarm = by_property(synthesized.json(PRODUCTION), "AWS::CloudWatch::Alarm", "AlarmName")[
        "webordinary-canary-production-schedule-dlq-depth"]
    text = alarm["AlarmDescription"]
    for phrase in ("on-failure record", "expired", "throttled", "EventBridge could not deliver", "EventAgeExceeded"):
        assert phrase in text


@pytest.mark.parametrize("stack", STACKS)
def test_no_concurrency_is_reserved_unless_the_context_asks(synthesized: Synthesized, stack: str) -> None:
    synthesized.templates[stack].has_resource_properties("AWS::Lambda::Function", {
        "FunctionName": Match.any_value(), "ReservedConcurrentExecutions": Match.absent()})
    assert all("ReservedConcurrentExecutions" not in f for f in
               by_property(synthesized.json(stack), "AWS::Lambda::Function", "FunctionName").values())


def test_reserved_concurrency_from_context_reaches_every_function(tmp_path: Any) -> None:
    from aws_cdk.assertions import Template

    from infra.stacks import build_app, canary_stacks

    (queue,) = [e for e in TEST_CONTEXT["environments"] if e["name"] == "queue"]
    app = build_app({**TEST_CONTEXT, "environments": [{**queue, "reserved_concurrency": 2}]}, outdir=str(tmp_path))
    (stack,) = canary_stacks(app)
    functions = by_property(Template.from_stack(stack).to_json(), "AWS::Lambda::Function", "FunctionName")
    assert functions and {f["ReservedConcurrentExecutions"] for f in functions.values()} == {2}
