"""operations/ only listens: the apps below it never import it (#11, docs/architecture.md).

They reach it only through settings naming a function (CHARGE_POINT_POLICIES,
OCPP_AFTER_BOOT, CHARGING_POLICIES), which operations fills in."""

import ast

import pytest
from django.conf import settings


def imported_modules(package: str) -> dict[str, set[str]]:
    """{file: modules it imports}, imports inside functions included."""
    found = {}
    for path in sorted((settings.BASE_DIR / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        modules = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module)
        found[str(path.relative_to(settings.BASE_DIR))] = modules
    return found


@pytest.mark.parametrize("package", ["users", "stations", "billing", "charging"])
def test_the_apps_operations_listens_to_never_import_it(package):
    importing = {
        path: sorted(m for m in modules if m == "operations" or m.startswith("operations."))
        for path, modules in imported_modules(package).items()
    }
    assert {path: names for path, names in importing.items() if names} == {}
