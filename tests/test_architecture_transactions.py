"""The transaction rule (docs/decisions.md, "One transaction rule"), read from the code itself.

Views never commit: the service function a view calls is the unit of work and commits once. Private
helpers (`_name`) never commit: a helper is part of its caller's unit of work. A flow with two units of
work (the submission, then its receipt; the outbox's counted attempt, then the back office's call) names
each one as a public function.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("portal", "backoffice_adapter")

# (module, function) pairs allowed to break the rule, each with its reason. Keep it short.
ALLOWED: set[tuple[str, str]] = set()


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            yield path.relative_to(REPO).as_posix(), ast.parse(path.read_text(encoding="utf-8"), str(path))


def _is_views_module(tree: ast.Module) -> bool:
    """A module that makes a Blueprint serves requests: views.py, portal/api, the inbound events …"""
    return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute)
               and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr) == "Blueprint"
               for node in ast.walk(tree))


def _commits(node: ast.AST, functions: tuple[str, ...] = ()) -> Iterator[tuple[int, tuple[str, ...]]]:
    """Each `.commit()` call under `node`: its line, and the names of the functions it is inside."""
    for child in ast.iter_child_nodes(node):
        inside = functions
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            inside = (*functions, child.name)
        elif (isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute)
              and child.func.attr == "commit"):
            yield child.lineno, functions
        yield from _commits(child, inside)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_view_commits() -> None:
    found = [f"{module}:{line} in {'.'.join(functions) or 'the module'}"
             for module, tree in _modules() if _is_views_module(tree)
             for line, functions in _commits(tree)]
    assert not found, "views never commit; the service function they call does:\n" + "\n".join(found)


def test_no_private_helper_commits() -> None:
    found = [f"{module}:{line} in {'.'.join(functions)}"
             for module, tree in _modules()
             for line, functions in _commits(tree)
             if any(_private(name) for name in functions)
             and not any((module, name) in ALLOWED for name in functions)]
    assert not found, ("a private helper is part of its caller's unit of work and never commits; "
                       "a unit of work of its own is a public, named function:\n" + "\n".join(found))


def test_the_rule_sees_what_it_checks() -> None:
    """The walk finds views modules and commits at all (a test that sees nothing proves nothing)."""
    modules = dict(_modules())
    assert _is_views_module(modules["portal/signing/views.py"])
    assert _is_views_module(modules["portal/status/inbound.py"])
    assert not _is_views_module(modules["portal/signing/service.py"])
    inbox_units = {functions[-1] for _, functions in _commits(modules["portal/inbox/service.py"])}
    assert {"store", "ensure_receipt"} <= inbox_units
    for module, name in ALLOWED:
        assert any(name in functions for _, functions in _commits(modules[module])), \
            f"{module} {name} no longer commits: take it off the allowed list"
