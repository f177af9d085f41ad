"""Which modules of a service import from a layer they must not depend on.

A service package has ``domain/`` (pure rules) -> ``adapters/`` (PostgreSQL, Kafka, files) ->
``service_layer/`` (the use cases, where a service has any) -> ``entrypoints/`` (HTTP, consumers,
CLI), wired in ``bootstrap.py``. Dependencies point inwards only:

- ``domain/`` imports nothing of its own service outside ``domain/``: not the adapters, the
  service layer, the entrypoints, the bootstrap, nor the settings. Shared code
  (``sievert_shared``) and the standard library are fine.
- ``adapters/`` imports nothing from ``service_layer/``, ``entrypoints/``, ``bootstrap`` or
  ``__main__``.
- ``service_layer/`` imports nothing from ``entrypoints/``, ``bootstrap`` or ``__main__``.

Usage, for any service: ``assert layer_violations(REPO / "services/x/sievert_x") == {}``.
"""

from __future__ import annotations

import ast
from pathlib import Path

#: For each layer outside the domain, the outer layers (first name under the package) it must not
#: import. The domain is stricter: nothing of its service outside ``domain/``.
MUST_NOT_IMPORT = {
    "adapters": ("service_layer", "entrypoints", "bootstrap", "__main__"),
    "service_layer": ("entrypoints", "bootstrap", "__main__"),
}


def layer_violations(package_dir: Path) -> dict[str, list[str]]:
    """Every module under ``domain/``, ``adapters/`` or ``service_layer/`` of the service package at ``package_dir``
    that imports from a layer outside it, mapped to the modules it imports from there (sorted).
    Keys are paths relative to the package's parent, e.g. ``sievert_x/domain/rules.py``. Empty
    when the layers hold. Relative imports and ``from package import module`` count too."""
    package = package_dir.name
    violations: dict[str, list[str]] = {}
    for layer in ("domain", *MUST_NOT_IMPORT):
        for path in sorted((package_dir / layer).rglob("*.py")):
            offending = sorted(
                name for name in _imported_modules(path, package_dir) if _forbidden(package, layer, name)
            )
            if offending:
                violations[str(path.relative_to(package_dir.parent))] = offending
    return violations


def _forbidden(package: str, layer: str, module: str) -> bool:
    parts = module.split(".")
    if parts[0] != package or len(parts) < 2:
        return False
    if layer == "domain":
        return parts[1] != "domain"
    return parts[1] in MUST_NOT_IMPORT[layer]


def _imported_modules(path: Path, package_dir: Path) -> set[str]:
    """Absolute names of what ``path`` imports; for ``from a import b`` both ``a`` and ``a.b``,
    since ``b`` may be a module."""
    relative = path.relative_to(package_dir.parent).with_suffix("").parts
    # The package a relative import starts from: the module's own package (an __init__ is its own).
    current_package = list(relative[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = current_package[: len(current_package) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names if alias.name != "*")
    return names
