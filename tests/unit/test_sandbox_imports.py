"""The sandbox's modules import one another without a cycle, so each can be read (and imported) on its own.

Every import counts: top-level, inside functions and under ``TYPE_CHECKING`` (a cycle hidden in a function is
still a cycle to a reader). ``pyproject.toml``'s ``acyclic_siblings`` contract says the same to ``lint-imports``.
"""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def sibling_imports(package_dir: Path) -> dict[str, set[str]]:
    """module -> the package's modules it imports (``from pkg import mod`` and ``from pkg.mod import x`` alike)."""
    package = package_dir.name
    modules = {path.stem for path in package_dir.glob("*.py") if path.stem != "__init__"}
    graph: dict[str, set[str]] = {}
    for module in modules:
        tree = ast.parse((package_dir / f"{module}.py").read_text(encoding="utf-8"))
        imported: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                parts = node.module.split(".")
                if parts[0] != package:
                    continue
                if len(parts) > 1:
                    imported.add(parts[1])
                else:
                    imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    if parts[0] == package and len(parts) > 1:
                        imported.add(parts[1])
        graph[module] = (imported & modules) - {module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return None


def test_the_sandbox_has_no_import_cycle() -> None:
    graph = sibling_imports(ROOT / "sandbox")
    assert len(graph) > 10  # the walk saw the package
    assert find_cycle(graph) is None, f"import cycle in sandbox: {' -> '.join(find_cycle(graph) or [])}"


def test_the_cycle_finder_sees_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    package = tmp_path / "toy"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from toy.b import B\n")
    (package / "b.py").write_text("def later():\n    from toy import c\n")
    (package / "c.py").write_text("import toy.a\n")
    cycle = find_cycle(sibling_imports(package))
    assert cycle is not None and set(cycle) == {"a", "b", "c"}


@pytest.mark.parametrize("module", sorted(p.stem for p in (ROOT / "sandbox").glob("*.py") if p.stem != "__main__"))
def test_each_sandbox_module_imports_on_its_own(module: str) -> None:
    # A fresh interpreter per module: an import that only works after another module was imported fails here.
    result = subprocess.run([sys.executable, "-c", f"import sandbox.{module}"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
