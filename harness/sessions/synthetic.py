"""What is synthetic, and the only way the canary writes to the sessions table (DESIGN §1).

An item is synthetic when the attribute that holds the user (``userId``) is a string starting with the test
prefix. Nothing else makes an item synthetic: a ``canary_run_id`` or a lock marker only says *which* run made
it. Every delete or overwrite the canary (cleanup, sweeper, run lock) performs goes through
``SyntheticStore``, which checks the predicate on the item it read *and* sends the same test to DynamoDB as a
``ConditionExpression``, so a race or a wrong key can never reach a platform item.

Key schemas are discovered (DescribeTable), never assumed: the seed era keyed sessions on sessionId + userId,
sprint 4 on sessionId alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from harness.core.errors import CanaryError, CheckFailed, Verdict
from harness.core.model import Reason

USER_ATTRIBUTE = "userId"  # the attribute that holds the user in every schema the platform has used
SESSION_ATTRIBUTE = "sessionId"
RUN_ID_ATTRIBUTE = "canary_run_id"
LOCK_ATTRIBUTE = "canary_lock"  # present (true) only on run-lock items
EXPIRES_ATTRIBUTE = "ttl"  # epoch seconds; the platform's TTL attribute
CANARY_USER_MARK = "canary-"  # TEST_canary-<run id>[+<tag>]@canary.webordinary.invalid
MIN_PREFIX_LEN = 2

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
_CONDITION_FAILED = "ConditionalCheckFailedException"


def _checked_prefix(prefix: str) -> str:
    """An empty or one-character prefix would make (almost) every item synthetic: refuse it outright."""
    if not isinstance(prefix, str) or len(prefix) < MIN_PREFIX_LEN:
        raise CanaryError(Reason.CONFIG_INVALID, f"test prefix {prefix!r} is too short to mark synthetic data safely")
    return prefix


def attribute_text(value: Any) -> str | None:
    """A string attribute's value, whether plain (``"x"``) or DynamoDB-typed (``{"S": "x"}``); else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and set(value) == {"S"} and isinstance(value["S"], str):
        return value["S"]
    return None


def is_synthetic(item: Mapping[str, Any] | None, prefix: str, *, user_attribute: str = USER_ATTRIBUTE) -> bool:
    """THE predicate: the item's user attribute is a string that starts with the test prefix (case-sensitive)."""
    prefix = _checked_prefix(prefix)
    if not item:
        return False
    user = attribute_text(item.get(user_attribute))
    return user is not None and user.startswith(prefix)


def is_lock(item: Mapping[str, Any]) -> bool:
    """A run-lock item (synthetic by its userId; this marker only tells it apart from sessions)."""
    value = item.get(LOCK_ATTRIBUTE)
    return value is True or value == {"BOOL": True}


def run_id_of(item: Mapping[str, Any], prefix: str) -> str | None:
    """The canary run that made a synthetic item: ``canary_run_id`` or the run id inside the user id."""
    if not is_synthetic(item, prefix):
        return None
    explicit = attribute_text(item.get(RUN_ID_ATTRIBUTE))
    if explicit:
        return explicit
    user = attribute_text(item.get(USER_ATTRIBUTE)) or ""
    rest = user[len(prefix):]
    if not rest.startswith(CANARY_USER_MARK):
        return None
    run = rest[len(CANARY_USER_MARK):]
    for stop in ("+", "@"):
        run = run.split(stop, 1)[0]
    return run or None


def plain(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB-typed item as plain Python (numbers as int/float)."""
    return {k: _plain_value(_deserializer.deserialize(v)) for k, v in item.items()}


_TYPE_CODES = frozenset({"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"})


def is_typed(item: Mapping[str, Any]) -> bool:
    """True for a DynamoDB-typed item (every value a one-key ``{"S": ...}``-style map)."""
    return bool(item) and all(isinstance(v, Mapping) and len(v) == 1 and next(iter(v)) in _TYPE_CODES
                              for v in item.values())


def typed(values: Mapping[str, Any]) -> dict[str, Any]:
    """Plain values as a DynamoDB-typed item (None values dropped)."""
    return {k: _serializer.serialize(v) for k, v in values.items() if v is not None}


def _plain_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain_value(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain_value(v) for v in value]
    return value


def item_created_epoch(item: Mapping[str, Any]) -> float | None:
    """When a session (``createdAt`` ISO, else ``lastActivity`` ms) or lock (``created_at``) was made."""
    data = plain(item) if is_typed(item) else dict(item)
    for name in ("createdAt", "created_at"):
        text = data.get(name)
        if isinstance(text, str):
            try:
                return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    activity = data.get("lastActivity")
    if isinstance(activity, int | float) and not isinstance(activity, bool):
        return float(activity) / 1000.0
    return None


def item_age_s(item: Mapping[str, Any], now_epoch: float | None = None) -> float:
    """Seconds since the item was made; unknown age counts as infinitely old (the sweeper may take it)."""
    created = item_created_epoch(item)
    if created is None:
        return float("inf")
    return max(0.0, (time.time() if now_epoch is None else now_epoch) - created)


@dataclass(frozen=True)
class KeySchema:
    """The sessions table's key as DescribeTable reports it."""

    partition: str
    sort: str | None
    types: Mapping[str, str]  # attribute -> S | N | B

    @property
    def attributes(self) -> tuple[str, ...]:
        return (self.partition,) if self.sort is None else (self.partition, self.sort)

    def key_of(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """The typed key of a typed item; CheckFailed(schema_mismatch) if the item lacks a key attribute."""
        missing = [a for a in self.attributes if a not in item]
        if missing:
            raise CheckFailed(Reason.SCHEMA_MISMATCH, f"item lacks key attribute(s) {', '.join(missing)}",
                              {"key_schema": self.describe()})
        return {a: item[a] for a in self.attributes}

    def key_from(self, values: Mapping[str, str]) -> dict[str, Any] | None:
        """A typed key from known string values (e.g. sessionId, userId); None if one is unknown."""
        if not all(a in values for a in self.attributes):
            return None
        return {a: {"S": values[a]} for a in self.attributes}

    def require_string_keys(self) -> None:
        """The canary writes string keys only (it has no sensible value for a numeric or binary key)."""
        odd = {a: t for a, t in self.types.items() if a in self.attributes and t != "S"}
        if odd:
            raise CheckFailed(Reason.SCHEMA_MISMATCH, f"sessions table has non-string key attribute(s) {odd}",
                              {"key_schema": self.describe()})

    def describe(self) -> dict[str, Any]:
        return {"partition": self.partition, "sort": self.sort}


def discover_key_schema(ddb: Any, table: str) -> KeySchema:
    """DescribeTable -> KeySchema (``ddb`` is a bound or plain DynamoDB client)."""
    description = ddb.describe_table(TableName=table)["Table"]
    types = {d["AttributeName"]: d["AttributeType"] for d in description.get("AttributeDefinitions", [])}
    partition = sort = None
    for element in description.get("KeySchema", []):
        if element["KeyType"] == "HASH":
            partition = element["AttributeName"]
        elif element["KeyType"] == "RANGE":
            sort = element["AttributeName"]
    if partition is None:
        raise CheckFailed(Reason.SCHEMA_MISMATCH, f"table {table} reports no partition key", {"table": table})
    return KeySchema(partition=partition, sort=sort, types=types)


class WriteOutcome(StrEnum):
    DONE = "done"
    REFUSED = "refused"  # the guard said the item is not synthetic: nothing was sent
    CONDITION_FAILED = "condition_failed"  # DynamoDB refused: item gone, changed or not synthetic


class SyntheticStore:
    """Guarded access to the sessions table: reads anything, writes only synthetic items.

    ``ddb`` is a DynamoDB client (the harness passes a deadline-bound one, whose errors arrive as verdicts).
    """

    def __init__(self, ddb: Any, table: str, schema: KeySchema, prefix: str,
                 *, user_attribute: str = USER_ATTRIBUTE) -> None:
        self.ddb = ddb
        self.table = table
        self.schema = schema
        self.prefix = _checked_prefix(prefix)
        self.user_attribute = user_attribute

    @classmethod
    def discover(cls, ddb: Any, table: str, prefix: str) -> SyntheticStore:
        return cls(ddb, table, discover_key_schema(ddb, table), prefix)

    def is_synthetic(self, item: Mapping[str, Any] | None) -> bool:
        return is_synthetic(item, self.prefix, user_attribute=self.user_attribute)

    # -- reads -------------------------------------------------------------------------------------------------
    def records_for_session(self, session_id: str, user_id: str | None = None) -> list[dict[str, Any]]:
        """Typed items of a session: GetItem when the whole key is known, else Query on the partition key."""
        known = {SESSION_ATTRIBUTE: session_id}
        if user_id is not None:
            known[self.user_attribute] = user_id
        key = self.schema.key_from(known)
        if key is not None:
            found = self.ddb.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
            return [found] if found else []
        if self.schema.partition != SESSION_ATTRIBUTE:
            raise CheckFailed(Reason.SCHEMA_MISMATCH,
                              f"sessions table is keyed on {self.schema.describe()}: a session cannot be found by "
                              "its id", {"key_schema": self.schema.describe()})
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table, "KeyConditionExpression": "#p = :p", "ConsistentRead": True,
            "ExpressionAttributeNames": {"#p": self.schema.partition},
            "ExpressionAttributeValues": {":p": {"S": session_id}},
        }
        while True:
            page = self.ddb.query(**kwargs)
            items.extend(page.get("Items", []))
            if not page.get("LastEvaluatedKey"):
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def only_synthetic_under(self, session_id: str) -> bool:
        """True if no non-synthetic record shares this session id (then Hermes, which looks sessions up by id
        alone, cannot be steered onto a platform item by a deactivate)."""
        if self.schema.partition != SESSION_ATTRIBUTE:
            return False
        return all(self.is_synthetic(item) for item in self.records_for_session(session_id))

    def scan_synthetic(self) -> Iterator[dict[str, Any]]:
        """Every synthetic item, all pages (the seed read one page only); re-checked client-side."""
        kwargs: dict[str, Any] = {
            "TableName": self.table, "ConsistentRead": True,
            "FilterExpression": "begins_with(#u, :prefix)",
            "ExpressionAttributeNames": {"#u": self.user_attribute},
            "ExpressionAttributeValues": {":prefix": {"S": self.prefix}},
        }
        while True:
            page = self.ddb.scan(**kwargs)
            for item in page.get("Items", []):
                if self.is_synthetic(item):
                    yield item
            if not page.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- writes (guarded twice: here, and by DynamoDB's condition) ---------------------------------------------
    def _guard_condition(self) -> tuple[str, dict[str, str], dict[str, Any]]:
        return ("begins_with(#guard_user, :guard_prefix)", {"#guard_user": self.user_attribute},
                {":guard_prefix": {"S": self.prefix}})

    def delete(self, item: Mapping[str, Any], *, extra_condition: str = "",
               extra_names: Mapping[str, str] | None = None,
               extra_values: Mapping[str, Any] | None = None) -> WriteOutcome:
        """Delete a typed item the caller read, if (and only if) it is synthetic, here and on the server."""
        if not self.is_synthetic(item):
            return WriteOutcome.REFUSED
        condition, names, values = self._guard_condition()
        if extra_condition:
            condition = f"({condition}) AND ({extra_condition})"
        try:
            self.ddb.delete_item(TableName=self.table, Key=self.schema.key_of(item), ConditionExpression=condition,
                                 ExpressionAttributeNames={**names, **(extra_names or {})},
                                 ExpressionAttributeValues={**values, **(extra_values or {})})
        except Exception as exc:
            if _condition_failed(exc):
                return WriteOutcome.CONDITION_FAILED
            raise
        return WriteOutcome.DONE

    def put(self, item: Mapping[str, Any], *, replace_condition: str = "",
            extra_names: Mapping[str, str] | None = None,
            extra_values: Mapping[str, Any] | None = None) -> WriteOutcome:
        """Write a new synthetic typed item; an existing item under its key may only be replaced when it is
        synthetic too and ``replace_condition`` holds (e.g. a stale lock)."""
        if not self.is_synthetic(item):
            return WriteOutcome.REFUSED
        self.schema.require_string_keys()
        guard, names, values = self._guard_condition()
        absent = " AND ".join(f"attribute_not_exists(#k{i})" for i in range(len(self.schema.attributes)))
        names.update({f"#k{i}": a for i, a in enumerate(self.schema.attributes)})
        condition = absent
        if replace_condition:
            condition = f"({absent}) OR ({guard} AND ({replace_condition}))"
        else:
            values = {}
            names = {k: v for k, v in names.items() if k != "#guard_user"}
        try:
            self.ddb.put_item(TableName=self.table, Item=dict(item), ConditionExpression=condition,
                              ExpressionAttributeNames={**names, **(extra_names or {})},
                              **({"ExpressionAttributeValues": {**values, **(extra_values or {})}}
                                 if values or extra_values else {}))
        except Exception as exc:
            if _condition_failed(exc):
                return WriteOutcome.CONDITION_FAILED
            raise
        return WriteOutcome.DONE


def _condition_failed(exc: BaseException) -> bool:
    """DynamoDB refused a conditional write (raw botocore error, or the harness's classified verdict)."""
    if isinstance(exc, Verdict):
        return exc.evidence.get("aws_error_code") == _CONDITION_FAILED
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        return bool(response.get("Error", {}).get("Code") == _CONDITION_FAILED)
    return False
