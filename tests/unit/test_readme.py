"""The README documents every check id and every sandbox fault (they are operator-facing contracts)."""

from __future__ import annotations

import io
from pathlib import Path

from cli.main import main
from harness.checks import CATALOGUE
from harness.contract import all_check_ids
from harness.reporting.check_table import HEADER, markdown_table
from sandbox.faults import FAULT_CLASSES

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_every_check_id_has_a_readme_row() -> None:
    missing = [c for c in all_check_ids() if f"| `{c}` |" not in README]
    assert missing == []


def test_the_check_table_is_the_one_rendered_from_the_specs() -> None:
    """The README's catalogue table is generated (``canary list --markdown``): a row edited by hand, or a spec
    whose row was not regenerated, fails here."""
    start = README.index(HEADER[0])
    table = README[start:README.index("\n\n", start) + 1]
    assert table == markdown_table(), "regenerate the table with `canary list --markdown` (README 'Adding a check')"


def test_canary_list_markdown_prints_the_rendered_table() -> None:
    out = io.StringIO()
    assert main(["list", "--markdown"], out=out, err=io.StringIO()) == 0
    assert out.getvalue() == markdown_table()
    queue = io.StringIO()
    assert main(["list", "--markdown", "--profile", "queue-platform"], out=queue, err=io.StringIO()) == 0
    assert "`ecs.cluster`" not in queue.getvalue() and "| `s3.site` | probe | queue-platform |" in queue.getvalue()


def test_catalogue_and_contract_list_the_same_checks() -> None:
    assert {c.id for c in CATALOGUE} == set(all_check_ids())


def test_every_fault_has_a_readme_row() -> None:
    missing = [f for f in FAULT_CLASSES if f"| `{f}` |" not in README]
    assert missing == []


def test_readme_has_exactly_the_two_setup_commands() -> None:
    assert "make run\n" in README and "make test\n" in README
