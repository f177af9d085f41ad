"""Intake's layers point one way: domain <- adapters <- service layer <- entrypoints <- bootstrap.

The domain is pure rules and models, so it imports none of intake's other layers; adapters (the
database, crypto) know the domain but neither the use cases nor the doors that call them.
Checked on the source, so a new module is covered without being listed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "services" / "intake" / "sievert_intake"

ADAPTERS = "sievert_intake.adapters"
ENTRYPOINTS = "sievert_intake.entrypoints"
SERVICE_LAYER = "sievert_intake.service_layer"
BOOTSTRAP = "sievert_intake.bootstrap"

#: layer -> the modules it must not import.
FORBIDDEN = {
    "domain": (ADAPTERS, ENTRYPOINTS, SERVICE_LAYER, BOOTSTRAP),
    "adapters": (ENTRYPOINTS, BOOTSTRAP, SERVICE_LAYER),
    "service_layer": (ENTRYPOINTS, BOOTSTRAP),
}


def intake_imports(source: str, package: str) -> set[str]:
    """The ``sievert_intake`` names a module of ``package`` imports (relative imports resolved)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "sievert_intake" or name.startswith("sievert_intake.")}


def forbidden_imports(source: str, package: str, layer: str) -> list[str]:
    return sorted(
        name
        for name in intake_imports(source, package)
        if any(name == module or name.startswith(module + ".") for module in FORBIDDEN[layer])
    )


def offenders(layer: str) -> dict[str, list[str]]:
    found = {}
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        package = ".".join(("sievert_intake", *path.relative_to(PACKAGE).parent.parts))
        bad = forbidden_imports(path.read_text(), package, layer)
        if bad:
            found[str(path.relative_to(PACKAGE))] = bad
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_from_the_layers_above_it(layer: str) -> None:
    assert list((PACKAGE / layer).rglob("*.py")), f"no modules under {layer}/"
    assert offenders(layer) == {}


@pytest.mark.parametrize(
    ("source", "package", "layer", "expected"),
    [
        pytest.param(
            "from sievert_intake.bootstrap import build",
            ADAPTERS,
            "adapters",
            ["sievert_intake.bootstrap", "sievert_intake.bootstrap.build"],
            id="absolute-import-of-bootstrap",
        ),
        pytest.param(
            "from ..entrypoints import app",
            ADAPTERS,
            "adapters",
            ["sievert_intake.entrypoints", "sievert_intake.entrypoints.app"],
            id="relative-import-of-entrypoints",
        ),
        pytest.param(
            "import sievert_intake.service_layer.intake",
            "sievert_intake.domain",
            "domain",
            ["sievert_intake.service_layer.intake"],
            id="plain-import-of-the-service-layer",
        ),
        pytest.param(
            "from sievert_intake.adapters import event_store",
            "sievert_intake.domain",
            "domain",
            ["sievert_intake.adapters", "sievert_intake.adapters.event_store"],
            id="domain-importing-an-adapter",
        ),
        pytest.param(
            "from sievert_intake.domain.inbound import Submission\nfrom . import idempotency",
            ADAPTERS,
            "adapters",
            [],
            id="adapters-may-import-the-domain-and-each-other",
        ),
    ],
)
def test_the_check_finds_imports_from_above(
    source: str, package: str, layer: str, expected: list[str]
) -> None:
    assert forbidden_imports(source, package, layer) == expected
