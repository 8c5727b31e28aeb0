"""No import cycles between the project's modules, in-function (lazy) imports included.

A cycle hidden behind a lazy import still means two modules each need the other: one rule
split across both, or a rule in the wrong place. Imports under `if TYPE_CHECKING:` are left
out (they never run).
"""

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_APPS = {"tests", "bench", "scripts", "docs", "locale", "templates", "var"}


def project_modules() -> dict[str, Path]:
    """Dotted module name -> file, for every Python module of the project's packages."""
    modules = {}
    for package in sorted(ROOT.iterdir()):
        if package.name in NOT_APPS or not (package / "__init__.py").exists():
            continue
        for path in package.rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """ast.walk, without the bodies of `if TYPE_CHECKING:` blocks."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))


def imported_names(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Every dotted name an import statement in `tree` may load, lazy ones included."""
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        targets = set()
        for name in imported_names(tree, module, path.name == "__init__.py"):
            # The longest project module the name starts with: `from billing import money`
            # loads billing.money; `from billing.money import SEK` loads billing.money.
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_checker_finds_a_lazy_import_cycle_and_ignores_type_checking_imports():
    sources = {
        "shop.orders": "from shop import payments\nif TYPE_CHECKING:\n    import shop.invoices\n",
        "shop.payments": "def pay():\n    from shop.orders import total\n",
        "shop.invoices": "from shop.orders import total\n",
    }
    graph = {
        module: {
            name for name in imported_names(ast.parse(source), module, False) if name in sources
        }
        for module, source in sources.items()
    }
    assert cycles(graph) == [["shop.orders", "shop.payments"]]


def test_no_import_cycles_between_project_modules():
    graph = import_graph()
    assert "stations.ocpp.consumer" in graph  # the walk found the project
    assert cycles(graph) == []
