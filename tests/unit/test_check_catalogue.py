"""The lazy catalogue (cold start, issue 13): every check declared once, in the contract and in its module alike,
and a run imports only the modules of the checks it selects."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys

import harness.checks
from harness import contract
from harness.checks import CATALOGUE
from harness.core.check import Check


def test_the_catalogue_is_the_contracts_ids_in_report_order() -> None:
    assert tuple(c.id for c in CATALOGUE) == contract.all_check_ids()


def test_each_entry_matches_its_declaration() -> None:
    for entry in CATALOGUE:
        declared = entry.load()  # type: ignore[attr-defined]
        assert isinstance(declared, Check) and declared.id == entry.id
        assert (entry.tier, set(entry.profiles)) == (declared.tier, set(declared.profiles)), entry.id
        assert entry.fn is declared.fn and entry.requires == declared.requires  # every other field reads through


def test_no_declared_check_is_missing_from_the_catalogue() -> None:
    declared = set()
    for info in pkgutil.iter_modules(harness.checks.__path__):
        module = importlib.import_module(f"harness.checks.{info.name}")
        declared |= {value.id for value in vars(module).values() if isinstance(value, Check)}
    assert declared == {c.id for c in CATALOGUE}


def _modules_after(code: str) -> list[str]:
    script = (f"import json, sys\n{code}\n"
              "print(json.dumps(sorted(m for m in sys.modules if m.startswith('harness.checks.'))))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    modules: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return modules


def test_a_probe_run_loads_only_the_modules_of_the_probes_it_selects() -> None:
    selected = _modules_after(
        "from harness.net.aws import AwsClients\n"
        "from harness.checks import CATALOGUE\n"
        "from harness.config import CanaryConfig\n"
        "from harness.net.http import HttpClient\n"
        "from harness.core.runner import Runner\n"
        "runner = Runner(CATALOGUE, config=CanaryConfig(), aws=AwsClients(factory=lambda s: None), http=HttpClient())\n"
        "selection = runner.select(tiers=['probe'])\n"
        "assert selection.to_run and all(c.tier.value == 'probe' for c in selection.to_run)")
    assert selected, "the selected probes' modules are loaded"
    for never in ("journeys", "destructive", "stepfunctions", "sqs", "s3_site", "ownership", "ecs_idle"):
        assert f"harness.checks.{never}" not in selected, selected
    assert _modules_after("import harness.checks") == []
