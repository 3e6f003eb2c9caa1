"""Small readers over synthesized CloudFormation templates (dicts), shared by the infra tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


def render(value: Any) -> str:
    """A CloudFormation string value with intrinsics spelled out (``${Ref:X}``, ``${X.Arn}``), for reading."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, items = value["Fn::Join"]
            return delimiter.join(render(i) for i in items)
        if "Ref" in value:
            return "${Ref:" + value["Ref"] + "}"
        if "Fn::GetAtt" in value:
            return "${" + ".".join(value["Fn::GetAtt"]) + "}"
        if "Fn::Sub" in value:
            return str(value["Fn::Sub"])
    raise AssertionError(f"unexpected intrinsic {value!r}")


def resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def by_property(template: dict[str, Any], resource_type: str, prop: str) -> dict[str, dict[str, Any]]:
    """Resources of a type keyed by one of their (string) properties, e.g. alarms by AlarmName (resources without
    it, such as CDK's own custom-resource provider functions, are left out)."""
    return {v["Properties"][prop]: v["Properties"] for v in resources(template, resource_type).values()
            if prop in v.get("Properties", {})}


def logical_id(template: dict[str, Any], resource_type: str, prop: str, value: str) -> str:
    (found,) = [k for k, v in resources(template, resource_type).items() if v["Properties"].get(prop) == value]
    return found


def function_by_name(template: dict[str, Any], name: str) -> dict[str, Any]:
    props: dict[str, Any] = by_property(template, "AWS::Lambda::Function", "FunctionName")[name]
    return props


def role_of(template: dict[str, Any], function_name: str) -> str:
    """Logical id of a function's role."""
    role: str = function_by_name(template, function_name)["Role"]["Fn::GetAtt"][0]
    return role


def dimensions(alarm: dict[str, Any]) -> dict[str, str]:
    return {d["Name"]: render(d["Value"]) for d in alarm.get("Dimensions", [])}


def statements_by_role(template: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Policy statements of each role (logical id of the role -> statements of every policy attached to it)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for policy in resources(template, "AWS::IAM::Policy").values():
        for role in policy["Properties"]["Roles"]:
            out.setdefault(role["Ref"], []).extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return out


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def iter_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for role, statements in statements_by_role(template).items():
        for statement in statements:
            yield role, statement


def dashboard_body(template: dict[str, Any]) -> dict[str, Any]:
    (dashboard,) = resources(template, "AWS::CloudWatch::Dashboard").values()
    body: dict[str, Any] = json.loads(render(dashboard["Properties"]["DashboardBody"]))
    return body
