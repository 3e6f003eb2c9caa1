"""Opt-in, read-only check against a live stack: `make test` never selects it (marker ``e2e``).

Run it with credentials and the platform's environment variables (see README "Pointing the CLI at a live
stack"):  ``.venv/bin/python -m pytest -m e2e tests/e2e``. It runs the probe tier only (no writes) and
asserts that the canary itself works there: no ERROR outcome (credentials, permissions, config) and a report
that honours the §9 contract. FAILED checks are the platform's business and are printed, not asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.report_contract import report_problems

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def test_probe_tier_runs_cleanly_against_the_live_stack() -> None:
    assert os.environ.get("WEBORDINARY_BASE_URL"), "set the live stack's environment (README) before -m e2e"
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}  # never the sandbox's endpoint
    proc = subprocess.run([sys.executable, "-m", "cli.main", "run", "--tiers", "probe", "--json"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    report = json.loads(proc.stdout)
    assert report_problems(report) == []
    errors = {c["id"]: (c["reason"], c["message"]) for c in report["checks"] if c["outcome"] == "ERROR"}
    assert errors == {}, errors
    print(proc.stderr)
