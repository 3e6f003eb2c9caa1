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
