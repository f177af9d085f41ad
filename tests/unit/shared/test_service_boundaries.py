"""Services share only ``sievert_shared``: no service imports another, and shared imports none."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PACKAGES = {
    "sievert_shared": REPO / "shared" / "sievert_shared",
    "sievert_intake": REPO / "services" / "intake" / "sievert_intake",
    "sievert_classifier": REPO / "services" / "classifier" / "sievert_classifier",
    "sievert_deadlines": REPO / "services" / "deadlines" / "sievert_deadlines",
    "sievert_reporting": REPO / "services" / "reporting" / "sievert_reporting",
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(PACKAGES)


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_a_package_imports_only_itself_and_shared(package: str) -> None:
    allowed = {package, "sievert_shared"}
    offenders = {
        str(path.relative_to(REPO)): sorted(imported_packages(path) - allowed)
        for path in PACKAGES[package].rglob("*.py")
        if imported_packages(path) - allowed
    }
    assert offenders == {}


def test_every_domain_package_is_free_of_io() -> None:
    io_modules = {"asyncpg", "aiokafka", "fastapi", "httpx", "uvicorn", "os", "socket", "subprocess"}
    for domain in REPO.glob("services/*/sievert_*/domain"):
        for path in domain.rglob("*.py"):
            tree = ast.parse(path.read_text())
            used = {
                alias.name.split(".")[0]
                for node in ast.walk(tree)
                if isinstance(node, ast.Import)
                for alias in node.names
            } | {
                node.module.split(".")[0]
                for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
            }
            assert not used & io_modules, f"{path.relative_to(REPO)} imports {sorted(used & io_modules)}"
