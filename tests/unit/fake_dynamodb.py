"""An in-memory DynamoDB table for property tests of the code that writes to the sessions table.

It speaks the low-level client's shapes (typed items) for the calls the canary makes, paginates scans in
small pages, and evaluates the small expression grammar the canary uses (comparisons, ``begins_with``,
``attribute_exists``/``attribute_not_exists``, ``IN``, ``AND``/``OR``/``NOT``, parentheses). It can be made
adversarial: ``honour_filters=False`` returns every item whatever the FilterExpression says, and
``enforce_conditions=False`` ignores ConditionExpressions, so the client-side guard alone is what is tested.
Every write is logged.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(r"\s*(?:(?P<op><=|>=|<>|=|<|>|\(|\)|,)|(?P<word>[#:]?[A-Za-z_][A-Za-z0-9_]*))")


class ConditionalCheckFailed(Exception):
    """Shaped like botocore's ClientError for the canary's ``_condition_failed``."""

    def __init__(self) -> None:
        super().__init__("The conditional request failed")
        self.response = {"Error": {"Code": "ConditionalCheckFailedException", "Message": "failed"}}


def _tokens(expression: str) -> list[str]:
    out: list[str] = []
    pos = 0
    expression = expression.strip()
    while pos < len(expression):
        match = _TOKEN.match(expression, pos)
        if not match or match.end() == pos:
            raise ValueError(f"cannot parse expression at {expression[pos:]!r}")
        out.append(match.group("op") or match.group("word"))
        pos = match.end()
    return out


def _scalar(value: Mapping[str, Any] | None) -> Any:
    if not value:
        return None
    (kind, raw), = value.items()
    if kind == "N":
        return float(raw)
    if kind in ("S", "BOOL"):
        return raw
    return repr(raw)


class _Evaluator:
    """Recursive descent over: or := and (OR and)*; and := not (AND not)*; not := NOT not | atom."""

    def __init__(self, expression: str, names: Mapping[str, str], values: Mapping[str, Any],
                 item: Mapping[str, Any] | None) -> None:
        self.tokens = _tokens(expression)
        self.pos = 0
        self.names = names
        self.values = values
        self.item = item or {}

    def run(self) -> bool:
        result = self._or()
        if self.pos != len(self.tokens):
            raise ValueError(f"trailing tokens {self.tokens[self.pos:]}")
        return result

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> str:
        token = self.tokens[self.pos]
        if expected is not None and token.upper() != expected.upper():
            raise ValueError(f"expected {expected}, got {token}")
        self.pos += 1
        return token

    def _or(self) -> bool:
        result = self._and()
        while (self._peek() or "").upper() == "OR":
            self._take()
            right = self._and()
            result = result or right
        return result

    def _and(self) -> bool:
        result = self._not()
        while (self._peek() or "").upper() == "AND":
            self._take()
            right = self._not()
            result = result and right
        return result

    def _not(self) -> bool:
        if (self._peek() or "").upper() == "NOT":
            self._take()
            return not self._not()
        return self._atom()

    def _name(self) -> str:
        token = self._take()
        return self.names[token] if token.startswith("#") else token

    def _operand(self) -> Any:
        token = self._peek() or ""
        if token.startswith(":"):
            self._take()
            return _scalar(self.values[token])
        return _scalar(self.item.get(self._name()))

    def _atom(self) -> bool:
        token = self._peek() or ""
        if token == "(":
            self._take("(")
            result = self._or()
            self._take(")")
            return result
        lowered = token.lower()
        if lowered in ("attribute_exists", "attribute_not_exists"):
            self._take()
            self._take("(")
            name = self._name()
            self._take(")")
            return (name in self.item) == (lowered == "attribute_exists")
        if lowered == "begins_with":
            self._take()
            self._take("(")
            subject = self._operand()
            self._take(",")
            prefix = self._operand()
            self._take(")")
            return isinstance(subject, str) and isinstance(prefix, str) and subject.startswith(prefix)
        left = self._operand()
        op = self._take()
        if op.upper() == "IN":
            self._take("(")
            options = [self._operand()]
            while self._peek() == ",":
                self._take(",")
                options.append(self._operand())
            self._take(")")
            return left in options
        right = self._operand()
        if left is None or right is None or type(left) is not type(right):
            return op == "<>" and left != right
        return bool({"=": left == right, "<>": left != right, "<": left < right, ">": left > right,
                     "<=": left <= right, ">=": left >= right}[op])


def evaluate(expression: str, item: Mapping[str, Any] | None, names: Mapping[str, str] | None = None,
             values: Mapping[str, Any] | None = None) -> bool:
    return _Evaluator(expression, names or {}, values or {}, item).run()


@dataclass
class FakeTable:
    """One table; ``items`` maps the key tuple to the typed item."""

    name: str
    partition: str
    sort: str | None = None
    page_size: int = 3
    honour_filters: bool = True
    enforce_conditions: bool = True
    items: dict[tuple[str, ...], dict[str, Any]] = field(default_factory=dict)
    writes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def key_of(self, item: Mapping[str, Any]) -> tuple[str, ...]:
        attrs = (self.partition,) if self.sort is None else (self.partition, self.sort)
        return tuple(str(_scalar(item[a])) for a in attrs)

    def add(self, item: Mapping[str, Any]) -> None:
        self.items[self.key_of(item)] = copy.deepcopy(dict(item))


class FakeDynamoDB:
    """The subset of the low-level DynamoDB client the canary calls, over FakeTables."""

    def __init__(self, *tables: FakeTable) -> None:
        self.tables = {t.name: t for t in tables}

    def _table(self, name: str) -> FakeTable:
        return self.tables[name]

    def describe_table(self, *, TableName: str) -> dict[str, Any]:
        table = self._table(TableName)
        schema = [{"AttributeName": table.partition, "KeyType": "HASH"}]
        if table.sort:
            schema.append({"AttributeName": table.sort, "KeyType": "RANGE"})
        return {"Table": {"TableName": TableName, "KeySchema": schema, "TableStatus": "ACTIVE",
                          "AttributeDefinitions": [{"AttributeName": s["AttributeName"], "AttributeType": "S"}
                                                   for s in schema]}}

    def _page(self, table: FakeTable, items: list[dict[str, Any]], start: Any) -> dict[str, Any]:
        # Resume after the start key's position, whether or not that item still exists (as DynamoDB does).
        offset = sum(1 for i in items if table.key_of(i) <= table.key_of(start)) if start else 0
        page = items[offset:offset + table.page_size]
        out: dict[str, Any] = {"Items": copy.deepcopy(page), "Count": len(page)}
        if offset + table.page_size < len(items):
            last = page[-1]
            out["LastEvaluatedKey"] = {a: last[a] for a in ((table.partition,) if not table.sort
                                                            else (table.partition, table.sort))}
        return out

    def scan(self, *, TableName: str, FilterExpression: str | None = None,
             ExpressionAttributeNames: Mapping[str, str] | None = None,
             ExpressionAttributeValues: Mapping[str, Any] | None = None,
             ExclusiveStartKey: Mapping[str, Any] | None = None, **_: Any) -> dict[str, Any]:
        table = self._table(TableName)
        items = sorted(table.items.values(), key=table.key_of)
        # DynamoDB filters after paging; the page boundaries do not depend on the filter.
        out = self._page(table, items, ExclusiveStartKey)
        if FilterExpression and table.honour_filters:
            out["Items"] = [i for i in out["Items"] if evaluate(FilterExpression, i, ExpressionAttributeNames,
                                                                 ExpressionAttributeValues)]
        return out

    def query(self, *, TableName: str, KeyConditionExpression: str,
              ExpressionAttributeNames: Mapping[str, str] | None = None,
              ExpressionAttributeValues: Mapping[str, Any] | None = None,
              ExclusiveStartKey: Mapping[str, Any] | None = None, **_: Any) -> dict[str, Any]:
        table = self._table(TableName)
        matching = [i for i in sorted(table.items.values(), key=table.key_of)
                    if evaluate(KeyConditionExpression, i, ExpressionAttributeNames, ExpressionAttributeValues)]
        return self._page(table, matching, ExclusiveStartKey)

    def get_item(self, *, TableName: str, Key: Mapping[str, Any], **_: Any) -> dict[str, Any]:
        table = self._table(TableName)
        found = table.items.get(table.key_of(Key))
        return {"Item": copy.deepcopy(found)} if found else {}

    def _conditional(self, table: FakeTable, key: tuple[str, ...], condition: str | None,
                     names: Mapping[str, str] | None, values: Mapping[str, Any] | None) -> None:
        if condition and table.enforce_conditions and not evaluate(condition, table.items.get(key), names, values):
            raise ConditionalCheckFailed()

    def delete_item(self, *, TableName: str, Key: Mapping[str, Any], ConditionExpression: str | None = None,
                    ExpressionAttributeNames: Mapping[str, str] | None = None,
                    ExpressionAttributeValues: Mapping[str, Any] | None = None, **_: Any) -> dict[str, Any]:
        table = self._table(TableName)
        key = table.key_of(Key)
        self._conditional(table, key, ConditionExpression, ExpressionAttributeNames, ExpressionAttributeValues)
        table.writes.append(("delete", dict(Key)))
        table.items.pop(key, None)
        return {}

    def put_item(self, *, TableName: str, Item: Mapping[str, Any], ConditionExpression: str | None = None,
                 ExpressionAttributeNames: Mapping[str, str] | None = None,
                 ExpressionAttributeValues: Mapping[str, Any] | None = None, **_: Any) -> dict[str, Any]:
        table = self._table(TableName)
        key = table.key_of(Item)
        self._conditional(table, key, ConditionExpression, ExpressionAttributeNames, ExpressionAttributeValues)
        table.writes.append(("put", dict(Item)))
        table.items[key] = copy.deepcopy(dict(Item))
        return {}

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        raise AssertionError(f"the canary never updates items: {kwargs}")
