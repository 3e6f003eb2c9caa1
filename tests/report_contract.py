"""Validate a parsed run report against the shipped §9 JSON Schema, as an operator's tool would.

The schema says everything but one rule JSON Schema cannot express: check ids are unique (they are metric
dimensions), so that is checked here too.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from harness.reporting import report_schema_text


@cache
def report_validator() -> Draft202012Validator:
    schema = json.loads(report_schema_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def report_problems(data: Any) -> list[str]:
    """``"<json path>: <what is wrong>"`` for each violation; an empty list means a valid report."""
    errors = sorted(report_validator().iter_errors(data), key=lambda e: (e.json_path, e.message))
    problems = [f"{error.json_path}: {error.message}" for error in errors]
    checks = data.get("checks") if isinstance(data, dict) else None
    if isinstance(checks, list):
        ids = Counter(c.get("id") for c in checks if isinstance(c, dict))
        problems.extend(f"$.checks: duplicate check id {i!r}" for i, n in ids.items() if n > 1)
    return problems
