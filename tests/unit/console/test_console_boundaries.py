"""The console is a client of the services' public APIs: it imports no service's code (only
``sievert_shared``), and nothing imports it."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
CONSOLE = REPO / "services" / "console" / "sievert_console"


def sievert_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return {name for name in names if name.startswith("sievert_")}


def test_the_console_imports_only_itself_and_shared() -> None:
    offenders = {
        str(path.relative_to(REPO)): sorted(sievert_imports(path) - {"sievert_console", "sievert_shared"})
        for path in CONSOLE.rglob("*.py")
        if sievert_imports(path) - {"sievert_console", "sievert_shared"}
    }
    assert offenders == {}


def test_no_service_and_not_shared_imports_the_console() -> None:
    others = [*REPO.glob("services/*/sievert_*/**/*.py"), *(REPO / "shared").rglob("*.py")]
    offenders = [
        str(p.relative_to(REPO))
        for p in others
        if CONSOLE not in p.parents and "sievert_console" in sievert_imports(p)
    ]
    assert offenders == []
