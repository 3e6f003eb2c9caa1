"""The one fault catalogue: each fault says where it is injected, and that place implements it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.faults import FAULT_CATALOGUE, FAULT_CLASSES, STEP_FAULTS, Faults, Side, UnknownFault
from sandbox.journey_support import StepFaults

SANDBOX = Path(__file__).resolve().parents[2] / "sandbox"
IMPLEMENTED_IN: dict[Side, tuple[str, ...]] = {
    Side.AWS_STATE: ("platform_state.py", "session_metric.py"),
    Side.AWS_PROXY: ("proxy_faults.py",),
    Side.HTTP: ("alb.py", "tls.py", "hermes.py", "edit_container.py"),
    Side.QUEUE: ("queue_side.py",),
    Side.JOURNEY_STEP: ("journey_support.py",),
}


@pytest.mark.parametrize("name", sorted(FAULT_CATALOGUE))
def test_a_fault_is_implemented_where_it_says_it_is_injected(name: str) -> None:
    fault = FAULT_CATALOGUE[name]
    sources = {module: (SANDBOX / module).read_text(encoding="utf-8") for module in IMPLEMENTED_IN[fault.side]}
    assert any(f'"{name}"' in text for text in sources.values()), \
        f"{name} is declared {fault.side.value} but none of {sorted(sources)} switches on it"


def test_journey_step_faults_name_their_step_and_no_other_fault_does() -> None:
    for fault in FAULT_CATALOGUE.values():
        assert (fault.expected_step is not None) == (fault.side is Side.JOURNEY_STEP), fault.name


def test_the_two_switchboards_split_the_catalogue() -> None:
    assert set(FAULT_CLASSES) | set(STEP_FAULTS) == set(FAULT_CATALOGUE)
    assert not set(FAULT_CLASSES) & set(STEP_FAULTS)
    with pytest.raises(UnknownFault):
        Faults().enable("status_mismatch")  # a journey-step fault is switched on the journey support
    with pytest.raises(ValueError, match="unknown step fault"):
        StepFaults().enable("hermes_5xx")
