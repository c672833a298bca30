"""One-way imports: no module imports itself back through others, and the delivery package stands apart.

Imports made inside functions count too (grimp reads every import statement), so a cycle cannot hide behind
one. `make lint` checks the same layers with import-linter ([tool.importlinter] in pyproject.toml).
"""

from __future__ import annotations

import grimp
import pytest

# What the delivery package may use of the portal: its infrastructure, nothing of its domains.
PORTAL_INFRASTRUCTURE = {"portal.clock", "portal.config", "portal.db_types", "portal.extensions", "portal.ops.metrics"}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("portal", "backoffice_adapter", "sandbox", cache_dir=None)


def test_no_module_imports_itself_back(graph: grimp.ImportGraph) -> None:
    cycles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                cycles.append(" -> ".join((importer, *back)))
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_delivery_package_uses_only_the_portals_infrastructure(graph: grimp.ImportGraph) -> None:
    used = {imported for module in graph.find_descendants("backoffice_adapter") | {"backoffice_adapter"}
            for imported in graph.find_modules_directly_imported_by(module) if imported.split(".")[0] == "portal"}
    assert used <= PORTAL_INFRASTRUCTURE, used - PORTAL_INFRASTRUCTURE
