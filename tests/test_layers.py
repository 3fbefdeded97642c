"""The layers of DESIGN §2 import only downward (checked from the source)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent / "occo"

# What each part of occo may import from occo (besides itself and occo.errors).
PLUGINS = {"occo.resources", "occo.health", "occo.context", "occo.configure"}
BELOW_ENGINE = PLUGINS | {"occo.model", "occo.store", "occo.registry"}
ALLOWED: dict[str, set[str]] = {
    "occo.store": {"occo.model.states"},          # the store refuses illegal transitions
    "occo.model": set(),
    "occo.resources": {"occo.model", "occo.store", "occo.context", "occo.configure"},
    "occo.health": {"occo.model"},
    "occo.context": {"occo.model", "occo.configure"},   # user data carries config jobs
    "occo.configure": {"occo.model", "occo.context"},
    "occo.registry": {"occo.resources", "occo.health", "occo.configure"},
    "occo.reportlog": set(),
    "occo.periodic": set(),
    "occo.logsetup": set(),
    "occo.config": {"occo.model"},
    "occo.engine": BELOW_ENGINE,
    "occo.api": BELOW_ENGINE | {"occo.engine", "occo.config", "occo.reportlog"},
    "occo.cli": set(),
    "occo.rest": set(),
}
# Interfaces go through the API; they may name its data types and vocabulary only.
INTERFACE = {"occo.api", "occo.config", "occo.cli", "occo.rest", "occo.model",
             "occo.periodic", "occo.logsetup",
             "occo.store.records", "occo.engine.executions", "occo.engine.groups",
             "occo.engine.tasks", "occo.engine.maintainer", "occo.engine.triggers",
             "occo.context.auth"}
ALLOWED["occo.cli"] = ALLOWED["occo.rest"] = INTERFACE


def _part(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return [(line, name) for line, name in found if name.startswith("occo.")]


MODULES = sorted(p for p in ROOT.rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(ROOT)) for p in MODULES])
def test_imports_go_downward(path: Path) -> None:
    module = "occo." + ".".join(path.relative_to(ROOT).with_suffix("").parts)
    part = _part(module)
    if part == "occo.__init__" or part == "occo.errors":
        assert not [n for _, n in _imports(path) if n != "occo.errors"]
        return
    allowed = ALLOWED[part] | {part, "occo.errors"}
    bad = [(line, name) for line, name in _imports(path)
           if not any(name == a or name.startswith(a + ".") for a in allowed)]
    assert not bad, f"{path.relative_to(ROOT.parent)} reaches upward: {bad}"


@pytest.mark.parametrize("path", [p for p in MODULES if p.parent.name in ("cli", "rest")],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_interfaces_do_not_reach_into_the_store(path: Path) -> None:
    text = path.read_text()
    assert ".store." not in text.replace("occo.store.records", ""), \
        f"{path.relative_to(ROOT.parent)} uses the store directly instead of the API"
