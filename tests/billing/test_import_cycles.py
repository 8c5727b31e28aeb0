"""The billing modules import each other in one direction only: no cycle, counting the
imports made inside functions (those only hide a cycle until the function runs)."""

import ast
from pathlib import Path

BILLING = Path(__file__).resolve().parents[2] / "billing"


def billing_imports(path: Path) -> set[str]:
    """The billing modules a file imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "billing":
            found |= {f"billing.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("billing."):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("billing.")}
    return found


def cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    """A path of imports from `start` back to itself, if there is one."""
    stack = [(start, [start])]
    seen = set()
    while stack:
        module, path = stack.pop()
        for imported in sorted(graph.get(module, ())):
            if imported == start:
                return [*path, start]
            if imported not in seen:
                seen.add(imported)
                stack.append((imported, [*path, imported]))
    return None


def test_billing_modules_import_each_other_without_cycles():
    graph = {f"billing.{path.stem}": billing_imports(path) for path in BILLING.glob("*.py")}
    cycles = [cycle for module in sorted(graph) if (cycle := cycle_from(module, graph))]
    assert cycles == []
