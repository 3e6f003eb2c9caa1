"""Builds the CDK app from context: cdk.json defaults, overridden by the CLI's ``-c`` values or a test's dict.

``python app.py`` gets no context from the CDK CLI, so the ``cdk.json`` context is loaded here too; context
that the CLI passes takes precedence over it (``cdk.App`` semantics), so ``npx cdk deploy -c key=value`` and
``python app.py`` build the same stacks from the same defaults.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from infra.config import environments_from_context
from infra.packaging import PROJECT_ROOT
from infra.stack import CanaryStack

CDK_JSON = PROJECT_ROOT / "cdk.json"


def cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """The ``context`` object of cdk.json (feature flags and the canary's defaults)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    context = data.get("context", {})
    if not isinstance(context, dict):
        raise ValueError(f"{path}: 'context' must be an object")
    return context


def build_app(context: Mapping[str, Any] | None = None, *, outdir: str | None = None) -> cdk.App:
    """An app with one CanaryStack per configured (environment, region); raises InfraConfigError."""
    app = cdk.App(context={**cdk_json_context(), **dict(context or {})}, outdir=outdir)
    for cfg in environments_from_context(app.node.try_get_context):
        CanaryStack(app, cfg)
    return app


def canary_stacks(app: cdk.App) -> list[CanaryStack]:
    return [child for child in app.node.children if isinstance(child, CanaryStack)]
