"""The §9 JSON output contract: render it, and ship its JSON Schema (``report.schema.json`` next to this file).

Other tools parse this output, so the schema is the executable form of the contract: the tests validate
every rendered report against it, and operators' tools can use it (``canary schema`` prints it) to reject a
report they do not understand.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from importlib import resources
from typing import Any

from harness.core.model import RunReport

REPORT_SCHEMA_FILE = "report.schema.json"


def json_default(value: object) -> Any:
    """Encode what boto3 and DynamoDB put in evidence (datetime, Decimal, sets, bytes) instead of crashing.

    A report that cannot be serialised would lose the whole run at the last moment; evidence is for
    people, so an unknown object is shown by its ``repr``.
    """
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if isinstance(value, bytes | bytearray):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    return repr(value)


def render_json(report: RunReport) -> str:
    """The run report as the §9 JSON document (ASCII-only, keys in contract order)."""
    return json.dumps(report.to_dict(), indent=2, sort_keys=False, default=json_default)


def dumps_evidence(evidence: Mapping[str, Any]) -> str:
    """Pretty, human-oriented JSON of a check's evidence (unicode kept, keys sorted)."""
    return json.dumps(dict(evidence), indent=2, sort_keys=True, ensure_ascii=False, default=json_default)


def report_schema_text() -> str:
    """The JSON Schema (draft 2020-12) of the §9 report, as shipped in the package."""
    return resources.files("harness.reporting").joinpath(REPORT_SCHEMA_FILE).read_text(encoding="utf-8")
