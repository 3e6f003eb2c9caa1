"""The layering of DESIGN §2: ``harness`` is a pure library, so the CLI, the Lambda and tests all run the same code.

Two guards: import-linter with the contracts in pyproject.toml (covers every layer, indirect imports included),
and a direct scan of ``harness/**/*.py`` whose failure message names the file, line and import to remove.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HARNESS = REPO / "harness"
FORBIDDEN = ("handlers", "infra", "sandbox", "cli", "aws_lambda_powertools", "aws_cdk", "constructs", "cdk_nag")


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) for every import statement and every ``import_module("x")``/``__import__("x")`` call."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def forbidden_imports(root: Path, repo: Path = REPO) -> list[str]:
    violations = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, module in _imported_modules(tree):
            if module.split(".")[0] in FORBIDDEN:
                violations.append(f"{path.relative_to(repo)}:{line}: imports {module}")
    return violations


def test_harness_imports_no_handlers_infra_sandbox_cli_powertools_or_cdk() -> None:
    files = list(HARNESS.rglob("*.py"))
    assert len(files) > 10, "the scan found no harness modules: wrong root?"
    violations = forbidden_imports(HARNESS)
    assert violations == [], ("harness must stay a pure library (DESIGN §2); move this code to the composition "
                              "root (cli/ or handlers/) and inject it:\n" + "\n".join(violations))


def test_the_scan_catches_every_import_form(tmp_path: Path) -> None:
    """The guard itself: each way of importing a forbidden package is reported with its line."""
    package = tmp_path / "harness"
    package.mkdir()
    (package / "bad.py").write_text(
        "import os\n"
        "import sandbox.runtime\n"
        "from aws_lambda_powertools import Metrics\n"
        "def late():\n"
        "    from cli import main\n"
        "    import importlib\n"
        "    return importlib.import_module('aws_cdk.aws_lambda'), __import__('handlers')\n"
        "from harness.contract import NAMESPACE\n",
        encoding="utf-8",
    )
    assert forbidden_imports(package, tmp_path) == [
        "harness/bad.py:2: imports sandbox.runtime",
        "harness/bad.py:3: imports aws_lambda_powertools",
        "harness/bad.py:5: imports cli",
        "harness/bad.py:7: imports aws_cdk.aws_lambda",
        "harness/bad.py:7: imports handlers",
    ]


def test_import_linter_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    assert lint_imports.exists(), f"import-linter is a dev dependency; expected {lint_imports}"
    proc = subprocess.run([str(lint_imports), "--no-cache", "--no-logo"], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "0 broken" in output, output
    assert "harness is a pure library" in output and "KEPT" in output


# infra may read of harness only its stdlib-only contract layer (issue 12 #3): an allow-list, so a harness module
# that infra starts to import fails here until it is deliberately added (and is itself stdlib only).
INFRA = REPO / "infra"
INFRA_MAY_IMPORT = ("harness.contract", "harness.iam_actions", "harness.spec", "harness.settings")


def harness_imports_outside(root: Path, allowed: tuple[str, ...], repo: Path = REPO) -> list[str]:
    """Every import of a ``harness`` module under ``root`` that is not one of ``allowed`` (or inside one)."""
    violations = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, module in _imported_modules(tree):
            if module.split(".")[0] != "harness":
                continue
            if not any(module == ok or module.startswith(ok + ".") for ok in allowed):
                violations.append(f"{path.relative_to(repo)}:{line}: imports {module}")
    return violations


def test_infra_imports_of_harness_only_the_contract_layer() -> None:
    files = list(INFRA.rglob("*.py"))
    assert len(files) > 10, "the scan found no infra modules: wrong root?"
    violations = harness_imports_outside(INFRA, INFRA_MAY_IMPORT)
    assert violations == [], (
        "infra may import of harness only " + ", ".join(INFRA_MAY_IMPORT) + " (stdlib only, no boto3): move what "
        "infra needs into the contract layer, spelled `from harness.contract import ...`:\n" + "\n".join(violations))


def test_the_contract_layer_infra_reads_is_stdlib_only() -> None:
    layer = [REPO / (name.replace(".", "/") + ".py") for name in INFRA_MAY_IMPORT]
    present = [path for path in layer if path.exists()]
    assert REPO / "harness/contract.py" in present
    violations = []
    for path in present:
        for line, module in _imported_modules(ast.parse(path.read_text(encoding="utf-8"))):
            top = module.split(".")[0]
            allowed_harness = module in INFRA_MAY_IMPORT
            if top != "__future__" and top not in sys.stdlib_module_names and not allowed_harness:
                violations.append(f"{path.relative_to(REPO)}:{line}: imports {module}")
    assert violations == [], "the contract layer must stay stdlib only (infra imports it):\n" + "\n".join(violations)


def test_the_infra_allow_list_catches_any_other_harness_module(tmp_path: Path) -> None:
    """The guard itself: the allowed modules pass, any other harness module (or the bare package) is reported."""
    package = tmp_path / "infra"
    package.mkdir()
    (package / "ok.py").write_text(
        "from harness.contract import NAMESPACE\nimport harness.iam_actions\nfrom harness.spec import CheckSpec\n",
        encoding="utf-8",
    )
    (package / "bad.py").write_text(
        "from harness.config import CanaryConfig\n"
        "from harness import contract\n"
        "import harness.contracts\n"
        "def late():\n"
        "    import importlib\n"
        "    return importlib.import_module('harness.core.runner')\n",
        encoding="utf-8",
    )
    assert harness_imports_outside(package, INFRA_MAY_IMPORT, tmp_path) == [
        "infra/bad.py:1: imports harness.config",
        "infra/bad.py:2: imports harness",
        "infra/bad.py:3: imports harness.contracts",
        "infra/bad.py:6: imports harness.core.runner",
    ]
