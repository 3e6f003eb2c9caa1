"""harness.platform.ecs_state: the shared ECS view (parsing DescribeServices, deploy-awareness, stopped-task evidence).

Fixtures are plain dicts in the shape boto3 returns; no mocks.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from harness.platform.ecs_state import (
    EVENTS_KEPT,
    ServiceState,
    ServiceStates,
    assess_deploy,
    deploy_status,
    failed_stops,
    summarise_stopped_tasks,
    target_group_name,
)

NOW = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)
GRACE = 1200.0
HERMES_TG = "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/hermes-api-tg/7724df2c6b7ae8e4"
EDIT_TG = "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/edit-api-tg/0a1b2c3d4e5f6789"


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def deployment(status: str = "PRIMARY", rollout: str | None = "COMPLETED", *, created_s: float = 86_400,
               updated_s: float | None = None, desired: int = 1, running: int = 1, pending: int = 0,
               failed: int = 0, dep_id: str = "ecs-svc/1") -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": dep_id, "status": status, "desiredCount": desired, "runningCount": running,
        "pendingCount": pending, "failedTasks": failed, "createdAt": ago(created_s),
        "updatedAt": ago(created_s if updated_s is None else updated_s),
    }
    if rollout is not None:
        raw["rolloutState"] = rollout
        raw["rolloutStateReason"] = f"ECS deployment {dep_id} {rollout.lower()}."
    return raw


def service(*, name: str = "webordinary-hermes-service", desired: int = 1, running: int = 1, pending: int = 0,
            deployments: list[dict[str, Any]] | None = None, events: list[dict[str, Any]] | None = None,
            target_groups: tuple[str, ...] = (HERMES_TG,), status: str = "ACTIVE") -> ServiceState:
    raw = {
        "serviceName": name, "status": status, "desiredCount": desired, "runningCount": running,
        "pendingCount": pending,
        "deployments": deployments if deployments is not None else [deployment(desired=desired, running=running)],
        "events": events or [],
        "loadBalancers": [{"targetGroupArn": arn, "containerName": "c", "containerPort": 3000}
                          for arn in target_groups],
    }
    return ServiceState.from_description(raw, read_at=NOW)


# -- parsing ---------------------------------------------------------------------------------------------------
def test_from_description_reads_counts_target_groups_and_keeps_the_newest_events() -> None:
    # GIVEN a service with more events than kept, listed out of order, and a target group attached twice
    events = [{"id": str(i), "createdAt": ago(600 - i * 60), "message": f"event {i}"} for i in range(8)]
    raw = {
        "serviceName": "webordinary-edit-service", "status": "ACTIVE", "desiredCount": 2, "runningCount": 1,
        "pendingCount": 1, "deployments": [deployment(desired=2, running=1, pending=1)],
        "events": list(reversed(events[:4])) + events[4:],
        "loadBalancers": [{"targetGroupArn": EDIT_TG, "containerPort": 8080},
                          {"targetGroupArn": EDIT_TG, "containerPort": 8080}],
    }
    # WHEN it is parsed
    state = ServiceState.from_description(raw, read_at=NOW)
    # THEN counts are read, the target group once, and only the newest events, newest first
    assert (state.name, state.desired, state.running, state.pending) == ("webordinary-edit-service", 2, 1, 1)
    assert state.target_groups == (EDIT_TG,)
    assert [e.message for e in state.events] == [f"event {i}" for i in (7, 6, 5, 4, 3)]
    assert len(state.events) == EVENTS_KEPT


def test_from_description_accepts_iso_strings_and_naive_datetimes() -> None:
    raw = {"serviceName": "s", "status": "ACTIVE", "desiredCount": 1, "runningCount": 1, "pendingCount": 0,
           "deployments": [{"id": "d", "status": "PRIMARY", "rolloutState": "IN_PROGRESS",
                            "createdAt": "2026-01-15T11:50:00Z", "updatedAt": datetime(2026, 1, 15, 11, 55)}]}
    state = ServiceState.from_description(raw, read_at=NOW)
    primary = state.primary
    assert primary is not None
    assert state.age_s(primary.created_at) == 600
    assert state.age_s(primary.updated_at) == 300


def test_evidence_is_json_ready_with_deployment_ages_and_target_group_names() -> None:
    state = service(deployments=[deployment(rollout="IN_PROGRESS", created_s=90)],
                    events=[{"createdAt": ago(30), "message": "(service x) has started 1 tasks"}])
    evidence = state.evidence()
    json.dumps(evidence)  # must serialise as is
    assert evidence["deployments"][0]["age_s"] == 90
    assert evidence["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    assert evidence["events"][0]["message"] == "(service x) has started 1 tasks"
    assert evidence["target_groups"] == ["hermes-api-tg"]


def test_idle_means_desired_zero_only() -> None:
    assert service(desired=0, running=0).idle
    assert service(desired=0, running=1).idle  # scaling in to zero: still idle by intent
    assert not service(desired=1, running=0).idle


# -- deploy status ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("case", "state", "expected"),
    [
        ("steady", service(), "stable"),
        ("idle", service(desired=0, running=0, deployments=[deployment(desired=0, running=0)]), "stable"),
        ("young rollout", service(deployments=[deployment(rollout="IN_PROGRESS", created_s=120, running=0,
                                                          pending=1, dep_id="ecs-svc/2"),
                                               deployment("ACTIVE", created_s=86_400)]), "deploying"),
        ("young rollout, rolloutState only",
         service(deployments=[deployment(rollout="IN_PROGRESS", created_s=60)]), "deploying"),
        ("old rollout", service(deployments=[deployment(rollout="IN_PROGRESS", created_s=GRACE + 1)]), "stuck"),
        ("rollout with failed tasks",
         service(deployments=[deployment(rollout="IN_PROGRESS", created_s=60, failed=2, dep_id="ecs-svc/2"),
                              deployment("ACTIVE")]), "stuck"),
        ("rollout FAILED", service(deployments=[deployment(rollout="FAILED", created_s=60)]), "stuck"),
        ("two deployments without rolloutState (old API shape)",
         service(deployments=[deployment(rollout=None, created_s=300, dep_id="ecs-svc/2"),
                              deployment("ACTIVE", rollout=None)]), "deploying"),
        ("old ACTIVE deployment's failed tasks are history",
         service(deployments=[deployment(rollout="IN_PROGRESS", created_s=60, dep_id="ecs-svc/2"),
                              deployment("ACTIVE", failed=3)]), "deploying"),
        ("scale-out with tasks pending",
         service(desired=1, running=0, pending=1,
                 deployments=[deployment(created_s=86_400, updated_s=30, desired=1, running=0, pending=1)]),
         "deploying"),
        ("scale-out pending beyond the grace",
         service(desired=1, running=0, pending=1,
                 deployments=[deployment(created_s=86_400, updated_s=GRACE + 60, desired=1, running=0,
                                         pending=1)]), "stuck"),
        ("running below desired, nothing pending: not a rollout (the caller's mismatch)",
         service(desired=1, running=0, pending=0,
                 deployments=[deployment(created_s=86_400, updated_s=10, desired=1, running=0)]), "stable"),
    ],
)
def test_deploy_status(case: str, state: ServiceState, expected: str) -> None:
    assert deploy_status(state, GRACE) == expected, case


def test_grace_boundary_is_inclusive_of_a_rollout_exactly_grace_old() -> None:
    at_grace = service(deployments=[deployment(rollout="IN_PROGRESS", created_s=GRACE)])
    assert deploy_status(at_grace, GRACE) == "deploying"
    assert deploy_status(at_grace, GRACE - 1) == "stuck"


def test_assessment_explains_itself() -> None:
    failed = service(deployments=[deployment(rollout="IN_PROGRESS", created_s=60, failed=2)])
    assert "2 failed task(s)" in assess_deploy(failed, GRACE).why
    old = service(deployments=[deployment(rollout="IN_PROGRESS", created_s=5000)])
    assert "5000 s ago" in assess_deploy(old, GRACE).why


# -- target groups -------------------------------------------------------------------------------------------
def test_owner_of_finds_the_service_attaching_a_target_group() -> None:
    hermes = service()
    edit = service(name="webordinary-edit-service", desired=0, running=0, target_groups=(EDIT_TG,))
    states = ServiceStates(found={hermes.name: hermes, edit.name: edit}, missing={})
    assert states.owner_of(EDIT_TG) is edit
    assert states.owner_of(HERMES_TG) is hermes
    assert states.owner_of(HERMES_TG.replace("hermes-api-tg", "other-tg")) is None
    assert states.get(None) is None


@pytest.mark.parametrize(("arn", "name"), [
    (HERMES_TG, "hermes-api-tg"),
    ("arn:aws-cn:elasticloadbalancing:cn-north-1:123456789012:targetgroup/x/1", "x"),
    ("not-an-arn", "not-an-arn"),
])
def test_target_group_name(arn: str, name: str) -> None:
    assert target_group_name(arn) == name


# -- stopped tasks -------------------------------------------------------------------------------------------
def stopped_task(task_id: str, *, stopped_s: float, code: str, group: str = "service:webordinary-edit-service",
                 reason: str = "Essential container in task exited", exit_code: int | None = 1) -> dict[str, Any]:
    return {
        "taskArn": f"arn:aws:ecs:us-west-2:123456789012:task/webordinary-edit-cluster/{task_id}",
        "group": group, "stopCode": code, "stoppedReason": reason, "stoppedAt": ago(stopped_s),
        "containers": [{"name": "claude-code-astro", "exitCode": exit_code, "reason": "spawn node ENOENT"}],
    }


def test_stopped_tasks_are_this_services_newest_first_and_limited() -> None:
    tasks = [stopped_task(f"t{i}", stopped_s=100 * i, code="EssentialContainerExited") for i in range(7)]
    tasks.append(stopped_task("other", stopped_s=1, code="TaskFailedToStart", group="service:webordinary-hermes"))
    summary = summarise_stopped_tasks(tasks, "webordinary-edit-service", limit=5)
    assert [t["task"] for t in summary] == ["t0", "t1", "t2", "t3", "t4"]
    assert summary[0]["containers"] == [{"name": "claude-code-astro", "exitCode": 1, "reason": "spawn node ENOENT"}]
    assert summary[0]["stoppedAt"] == NOW.isoformat()
    json.dumps(summary)


def test_failed_stops_ignore_scale_in_and_old_failures() -> None:
    summary = summarise_stopped_tasks([
        stopped_task("scale-in", stopped_s=10, code="ServiceSchedulerInitiated", exit_code=0),
        stopped_task("crash", stopped_s=60, code="EssentialContainerExited"),
        stopped_task("efs", stopped_s=120, code="TaskFailedToStart", reason="ResourceInitializationError: EFS"),
        stopped_task("old-crash", stopped_s=GRACE + 60, code="EssentialContainerExited"),
    ], "webordinary-edit-service")
    broken = failed_stops(summary, since=ago(GRACE))
    assert [t["task"] for t in broken] == ["crash", "efs"]
