"""DynamoDB check: the sessions table is ACTIVE, keyed by ``sessionId`` (schema discovered, never assumed), TTL on.

The seed-era harness hard-coded the key (and a ``userId`` that Hermes itself could not supply); the platform's
documents disagree about the key. The schema read here is shared with the journeys via ``sessions_key_schema``.
"""

from __future__ import annotations

from typing import Any

from harness.core.check import CheckContext, check
from harness.core.errors import CheckFailed, CheckSkipped
from harness.core.model import Reason

SESSION_KEY_ATTRIBUTE = "sessionId"
_FACT_KEY = "sessions_key_schema"
_SERVING_TABLE = ("ACTIVE", "UPDATING")  # UPDATING (e.g. a GSI being added) still serves reads and writes
_TTL_ON = ("ENABLED", "ENABLING")


def _describe_table(ctx: CheckContext) -> dict[str, Any]:
    table = ctx.config.sessions_table
    if not table:
        raise CheckSkipped(Reason.NOT_CONFIGURED, "not configured: set SESSIONS_TABLE")
    return dict(ctx.aws.dynamodb.describe_table(TableName=table)["Table"])


def _key_schema(description: dict[str, Any]) -> tuple[str, str | None]:
    partition = sort = None
    for key in description.get("KeySchema", []):
        if key.get("KeyType") == "HASH":
            partition = str(key["AttributeName"])
        elif key.get("KeyType") == "RANGE":
            sort = str(key["AttributeName"])
    if partition is None:  # DescribeTable always has a HASH key; guard against a malformed answer
        raise CheckFailed(Reason.SCHEMA_MISMATCH, "DescribeTable reported no partition key for the sessions table",
                          {"key_schema": description.get("KeySchema")})
    return partition, sort


def sessions_key_schema(ctx: CheckContext) -> tuple[str, str | None]:
    """(partition key, sort key or None) of the sessions table, discovered once per run with DescribeTable."""
    return ctx.facts.once(_FACT_KEY, lambda: _key_schema(_describe_table(ctx)))


@check("dynamodb.sessions_table", timeout_s=20)
def dynamodb_sessions_table(ctx: CheckContext) -> None:
    table = ctx.config.sessions_table
    with ctx.step("dynamodb.describe_table"):
        description = _describe_table(ctx)
    status = str(description.get("TableStatus", ""))
    partition, sort = _key_schema(description)
    ctx.facts.once(_FACT_KEY, lambda: (partition, sort))
    ctx.evidence.update({
        "table": table, "status": status,
        "key_schema": {"partition": partition, "sort": sort},
        "gsis": [{"name": g.get("IndexName"), "status": g.get("IndexStatus"),
                  "keys": [f"{k.get('AttributeName')}:{k.get('KeyType')}" for k in g.get("KeySchema", [])]}
                 for g in description.get("GlobalSecondaryIndexes", []) or []],
        "billing_mode": (description.get("BillingModeSummary") or {}).get("BillingMode"),
    })
    if status not in _SERVING_TABLE:
        raise ctx.fail(Reason.RESOURCE_UNAVAILABLE, f"table {table} is {status or 'in an unknown state'}, not ACTIVE")
    if SESSION_KEY_ATTRIBUTE not in (partition, sort):
        raise ctx.fail(Reason.SCHEMA_MISMATCH, f"table {table} is keyed by {partition}"
                                               f"{'/' + sort if sort else ''}, not by {SESSION_KEY_ATTRIBUTE}")
    with ctx.step("dynamodb.describe_time_to_live"):
        ttl = ctx.aws.dynamodb.describe_time_to_live(TableName=table).get("TimeToLiveDescription", {})
    ttl_status = str(ttl.get("TimeToLiveStatus", "DISABLED"))
    ctx.evidence["ttl"] = {"status": ttl_status, "attribute": ttl.get("AttributeName")}
    if ttl_status not in _TTL_ON:
        raise ctx.fail(Reason.SCHEMA_MISMATCH, f"TTL is off ({ttl_status}) on {table}: sessions never expire")
    key = f"{partition}" + (f" + {sort}" if sort else "")
    ctx.note(f"{table} {status}, key {key}, TTL on {ttl.get('AttributeName')!s}")

CHECKS = (dynamodb_sessions_table,)
