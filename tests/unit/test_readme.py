"""The README documents every check id and every sandbox fault (they are operator-facing contracts)."""

from __future__ import annotations

from pathlib import Path

from harness.checks import CATALOGUE
from harness.contract import all_check_ids
from sandbox.faults import FAULT_CLASSES

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_every_check_id_has_a_readme_row() -> None:
    missing = [c for c in all_check_ids() if f"| `{c}` |" not in README]
    assert missing == []


def test_catalogue_and_contract_list_the_same_checks() -> None:
    assert {c.id for c in CATALOGUE} == set(all_check_ids())


def test_every_fault_has_a_readme_row() -> None:
    missing = [f for f in FAULT_CLASSES if f"| `{f}` |" not in README]
    assert missing == []


def test_readme_has_exactly_the_two_setup_commands() -> None:
    assert "make run\n" in README and "make test\n" in README
