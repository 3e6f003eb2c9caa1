"""SIGTERM and Ctrl-C during `canary run` mid-journey (issue 14.5), as an operator or a container runtime sends them.

Before: SIGTERM killed the process at once (exit -15), leaving the synthetic session and the run lock; SIGINT waited
out the readiness timeout and died with a KeyboardInterrupt traceback (exit -2). Now both cancel the run: the
readiness wait ends at once, the journey's undos run LIFO within the cleanup reserve, the run lock is released and
the exit code is a DESIGN §9 code (3 INCOMPLETE; 2 if a cleanup had failed), with no traceback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sandbox.journey_support import JourneySupport
from tests.integration.sandbox_items import synthetic_items, wait_for

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 60  # the journey would wait this long for a container that never gets ready
CLEANUP_RESERVE_S = 15








@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_journey_cancels_the_wait_cleans_up_and_exits_with_a_design_code(
        sandbox: Any, support: JourneySupport, signum: signal.Signals) -> None:
    # GIVEN `canary run` of the journey, waiting for a container that never gets ready
    sandbox.faults.enable("container_never_ready")
    env = {**os.environ, **sandbox.environment(), "CANARY_TIERS": "probe,journey",
           "CONTAINER_READY_TIMEOUT_S": str(READY_TIMEOUT_S), "CANARY_CLEANUP_RESERVE_S": str(CLEANUP_RESERVE_S)}
    child = subprocess.Popen([sys.executable, "-m", "cli.main", "run", "--checks", "session.lifecycle", "--json"],
                             cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: len(synthetic_items(sandbox)) == 2, timeout_s=60), "no session + lock appeared"
        time.sleep(0.5)  # inside the readiness poll
        # WHEN the signal arrives
        child.send_signal(signum)
        # THEN the process ends long before the readiness wait would have (cleanup reserve + a margin)
        stdout, stderr = child.communicate(timeout=CLEANUP_RESERVE_S + 15)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    assert child.returncode == 3, (child.returncode, stderr[-3000:])
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert f"{signum.name} received" in stderr
    report = json.loads(stdout)
    (journey,) = report["checks"]
    assert (journey["outcome"], journey["reason"]) == ("INCOMPLETE", "deadline")
    assert f"run cancelled ({signum.name})" in journey["message"]
    cleanups = [(s["name"], s["outcome"]) for s in journey["steps"] if s["name"].startswith("cleanup:")]
    assert cleanups and all(outcome == "PASSED" for _, outcome in cleanups), cleanups
    # AND nothing synthetic is left: the session was retired and the run lock released
    assert synthetic_items(sandbox) == []
