"""Container-ownership claims (``webordinary-container-ownership``, key ``projectKey`` = ``project#user``).

A claim tells the state machine that a container owns a project+user, so it sends no CLAIM_REQUEST: a claim
that outlived its container strands that user's email in the input queue. Stale means:

- past its TTL: the TTL attribute (discovered with DescribeTimeToLive, ``ttl`` by default) is in the past, or,
  without one, ``lastActivity``/``claimedAt`` is older than ``CANARY_CLAIM_TTL_S``. DynamoDB deletes expired
  items lazily (up to days later) and a GetItem still returns them, so an expired row is not harmless;
- naming a task (``taskArn``, or a ``containerId`` that is an ECS task id/ARN) that ECS reports STOPPED or no
  longer knows;
- live, naming a container that is not an ECS task (``container-<ms>-<rand>``), while the edit service runs
  no task at all: no container can hold it.

Read-only: DescribeTable, DescribeTimeToLive, Scan (paginated, projected), DescribeServices, DescribeTasks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from harness.core.check import CheckContext, check
from harness.core.model import Reason
from harness.platform import queue_platform as qp

EVIDENCE_CLAIMS = 20
_TASK_ID = re.compile(r"^[0-9a-f]{32}$")
_TASK_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:ecs:[a-z0-9-]+:\d{12}:task/.+$")
_FIELDS = ("containerId", "taskArn", "claimedAt", "lastActivity")


@dataclass(frozen=True)
class Claim:
    key: str
    expires: datetime | None  # from the TTL attribute
    last_seen: datetime | None  # lastActivity, else claimedAt
    task: str | None  # an ECS task ARN or id, if the claim names one
    container: str | None


def _value(attr: Mapping[str, Any] | None) -> Any:
    """A DynamoDB attribute value (``{"S": ...}`` / ``{"N": ...}``) as str or float."""
    if not attr:
        return None
    if "N" in attr:
        try:
            return float(attr["N"])
        except ValueError:
            return None
    if "S" in attr:
        return str(attr["S"])
    return None


def parse_claim(item: Mapping[str, Any], key_name: str, ttl_name: str) -> Claim:
    ttl = _value(item.get(ttl_name))
    expires = qp.as_utc(ttl) if isinstance(ttl, float) else None
    seen = [qp.as_utc(v) for v in (_value(item.get("lastActivity")), _value(item.get("claimedAt")))
            if isinstance(v, float)]
    task_arn, container = _value(item.get("taskArn")), _value(item.get("containerId"))
    task = None
    for candidate in (task_arn, container):
        if isinstance(candidate, str) and (_TASK_ARN.match(candidate) or _TASK_ID.match(candidate)):
            task = candidate
            break
    return Claim(key=str(_value(item.get(key_name))), expires=expires, last_seen=next(iter(seen), None),
                 task=task, container=container if isinstance(container, str) else None)


@check("ownership.claims", timeout_s=30)
def ownership_claims(ctx: CheckContext) -> None:
    table = str(ctx.config.ownership_table)
    with ctx.step("describe_table"):
        schema = ctx.aws.dynamodb.describe_table(TableName=table)["Table"]
        key_name = next((k["AttributeName"] for k in schema.get("KeySchema", []) if k.get("KeyType") == "HASH"),
                        "projectKey")
        ttl_desc = ctx.aws.dynamodb.describe_time_to_live(TableName=table).get("TimeToLiveDescription", {})
        ttl_name = str(ttl_desc.get("AttributeName") or "ttl")
    ctx.evidence.update({"table": table, "key": key_name, "ttl_attribute": ttl_name,
                         "ttl_status": ttl_desc.get("TimeToLiveStatus")})
    claims: list[Claim] = []
    with ctx.step("scan"):
        names = {f"#a{i}": n for i, n in enumerate(dict.fromkeys((key_name, ttl_name, *_FIELDS)))}
        paginator = ctx.aws.dynamodb.get_paginator("scan")
        for page in paginator.paginate(TableName=table, ProjectionExpression=", ".join(names),
                                       ExpressionAttributeNames=names):
            claims.extend(parse_claim(item, key_name, ttl_name) for item in page.get("Items", []))
    ctx.evidence["claims"] = len(claims)
    if not claims:
        ctx.note("no claims (no container owns a project)")
        return
    now = qp.now_utc()
    stale: dict[str, str] = {}
    for claim in claims:
        if claim.expires is not None and claim.expires < now:
            stale[claim.key] = f"expired {qp.human_duration((now - claim.expires).total_seconds())} ago"
        elif claim.expires is None and claim.last_seen is not None:
            idle = (now - claim.last_seen).total_seconds()
            if idle > ctx.config.claim_ttl_s:
                stale[claim.key] = f"no activity for {qp.human_duration(idle)} and no TTL"
    live = [c for c in claims if c.key not in stale]
    undated = [c.key for c in claims if c.expires is None and c.last_seen is None]
    if ctx.config.ecs_cluster and live:
        _judge_containers(ctx, live, stale)
    elif live:
        ctx.note("task liveness not checked: ECS_CLUSTER unset")
    if undated:
        ctx.evidence["undated_claims"] = undated[:EVIDENCE_CLAIMS]
    if stale:
        listed = sorted(stale.items())
        ctx.evidence["stale_claims"] = [{"projectKey": k, "why": why} for k, why in listed[:EVIDENCE_CLAIMS]]
        named = "; ".join(f"{k} ({why})" for k, why in listed[:3])
        more = f"; and {len(stale) - 3} more" if len(stale) > 3 else ""
        raise ctx.fail(Reason.STALE_CLAIMS, f"{len(stale)} of {len(claims)} ownership claim(s) stale: {named}{more}")
    ctx.note(f"{len(claims)} claim(s), all live")


def _judge_containers(ctx: CheckContext, live: list[Claim], stale: dict[str, str]) -> None:
    """Mark live claims whose task is stopped/unknown, or whose container cannot exist (no edit task runs)."""
    with_task = [c for c in live if c.task]
    if with_task:
        with ctx.step("describe_tasks"):
            states = qp.describe_tasks(ctx, [str(c.task) for c in with_task])
        for claim in with_task:
            state = states.get(str(claim.task))
            task_id = str(claim.task).rsplit("/", 1)[-1]
            if state is None:
                stale[claim.key] = f"task {task_id} unknown to ECS"
            elif not state.alive:
                stale[claim.key] = f"task {task_id} {state.last_status}" + (
                    f": {state.stopped_reason[:80]}" if state.stopped_reason else "")
    opaque = [c for c in live if not c.task]
    if opaque and ctx.config.edit_service:
        with ctx.step("edit_service"):
            service = qp.edit_service(ctx)
        if service.running + service.pending == 0:
            for claim in opaque:
                stale[claim.key] = f"container {claim.container or '?'} claimed, but {service.name} runs 0 tasks"
