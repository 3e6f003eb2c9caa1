"""Snapshot of each synthesized template (syrupy), asset hashes masked: any drift shows up as a reviewable diff.

Regenerate after an intended change with ``pytest tests/infra/test_cdk_snapshot.py --snapshot-update`` and commit
``__snapshots__/`` together with the change.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.infra.conftest import PRODUCTION, QUEUE, STAGING, Synthesized

# The asset hash is a sha256 of the harness/handlers sources: it changes with every code change, by design.
ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")
# A function version's logical id ends in a hash of the function's configuration, code asset included.
VERSION_HASH = re.compile(r"(CurrentVersion[0-9A-F]{8})[0-9a-f]{32}\b")


def masked(template: dict[str, Any]) -> dict[str, Any]:
    """The template with its volatile hashes replaced, in values and in logical ids (keys) alike."""
    text = ASSET_HASH.sub("<asset-hash>", json.dumps(template))
    result: dict[str, Any] = json.loads(VERSION_HASH.sub(r"\1<version-hash>", text))
    return result


@pytest.fixture
def template_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """One reviewable JSON file per stack."""
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("stack", [PRODUCTION, STAGING, QUEUE])
def test_template_matches_snapshot(synthesized: Synthesized, stack: str, template_snapshot: SnapshotAssertion) -> None:
    current = masked(synthesized.json(stack))
    assert "<asset-hash>.zip" in json.dumps(current)  # the mask found the code asset
    assert current == template_snapshot
