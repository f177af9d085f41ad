"""Each service's layers import only downwards: ``domain`` nothing of the service's ``adapters``,
``service_layer``, ``entrypoints`` or ``bootstrap``; ``adapters`` nothing of ``service_layer``,
``entrypoints`` or ``bootstrap``; ``service_layer`` nothing of ``entrypoints`` or ``bootstrap``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SERVICES = {"sievert_reporting": REPO / "services" / "reporting" / "sievert_reporting"}
#: each layer, and the layers of the same service above it, which it must not import
ABOVE = {
    "domain": ("adapters", "service_layer", "entrypoints", "bootstrap"),
    "adapters": ("service_layer", "entrypoints", "bootstrap"),
    "service_layer": ("entrypoints", "bootstrap"),
}


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, and for ``from m import n`` also ``m.n`` (n may be a module)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def upward_imports(root: Path, package: str, layer: str) -> dict[str, list[str]]:
    """Modules under ``root/layer`` (``root`` is the package ``package``) importing a layer above."""
    forbidden = tuple(f"{package}.{above}" for above in ABOVE[layer])
    found = {}
    for path in sorted((root / layer).rglob("*.py")):
        bad = sorted(
            name
            for name in imported_modules(path)
            if any(name == f or name.startswith(f"{f}.") for f in forbidden)
        )
        if bad:
            found[str(path.relative_to(root))] = bad
    return found


@pytest.mark.parametrize("layer", sorted(ABOVE))
@pytest.mark.parametrize("package", sorted(SERVICES))
def test_a_layer_imports_nothing_from_the_layers_above_it(package: str, layer: str) -> None:
    root = SERVICES[package]
    assert (root / layer).is_dir()
    assert upward_imports(root, package, layer) == {}


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    domain = tmp_path / "domain"
    domain.mkdir()
    (domain / "rule.py").write_text(
        "import sievert_example.bootstrap\n"
        "from sievert_example.adapters.store import load\n"
        "from sievert_example.domain.other import fine\n"
    )
    (domain / "ok.py").write_text("from sievert_example.domain import rule\n")
    assert upward_imports(tmp_path, "sievert_example", "domain") == {
        "domain/rule.py": [
            "sievert_example.adapters.store",
            "sievert_example.adapters.store.load",
            "sievert_example.bootstrap",
        ]
    }
