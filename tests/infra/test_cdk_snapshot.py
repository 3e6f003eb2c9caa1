"""Snapshot of each synthesized template, asset hashes masked: any drift shows up as a reviewable diff.

Regenerate after an intended change with ``UPDATE_SNAPSHOTS=1 pytest tests/infra/test_cdk_snapshot.py`` and
commit the JSON together with the change.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import PRODUCTION, QUEUE, STAGING, Synthesized

SNAPSHOTS = Path(__file__).parent / "snapshots"
# The asset hash is a sha256 of the harness/handlers sources: it changes with every code change, by design.
ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")
# A function version's logical id ends in a hash of the function's configuration, code asset included.
VERSION_HASH = re.compile(r"(CurrentVersion[0-9A-F]{8})[0-9a-f]{32}\b")
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"


def masked(template: dict[str, Any]) -> str:
    text = ASSET_HASH.sub("<asset-hash>", json.dumps(template, indent=1, sort_keys=True))
    return VERSION_HASH.sub(r"\1<version-hash>", text) + "\n"


@pytest.mark.parametrize("stack", [PRODUCTION, STAGING, QUEUE])
def test_template_matches_snapshot(synthesized: Synthesized, stack: str) -> None:
    current = masked(synthesized.json(stack))
    assert "<asset-hash>.zip" in current  # the mask found the code asset
    path = SNAPSHOTS / f"{stack}.json"
    if UPDATE:
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(current, encoding="utf-8")
    assert path.exists(), f"no snapshot {path.name}: run with UPDATE_SNAPSHOTS=1 and commit it"
    stored = path.read_text(encoding="utf-8")
    if stored != current:
        diff = "".join(difflib.unified_diff(stored.splitlines(True), current.splitlines(True), "snapshot", "now",
                                            n=2))
        pytest.fail(f"{stack} drifted from its snapshot (UPDATE_SNAPSHOTS=1 to accept):\n{diff[:6000]}")
