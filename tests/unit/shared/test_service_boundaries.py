"""Services share only ``sievert_shared``: no service imports another, and shared imports none.
Within a service, dependencies point inwards: domain <- adapters <- entrypoints, wired in bootstrap."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.layers import layer_violations

REPO = Path(__file__).resolve().parents[3]
PACKAGES = {
    "sievert_shared": REPO / "shared" / "sievert_shared",
    "sievert_intake": REPO / "services" / "intake" / "sievert_intake",
    "sievert_classifier": REPO / "services" / "classifier" / "sievert_classifier",
    "sievert_deadlines": REPO / "services" / "deadlines" / "sievert_deadlines",
    "sievert_reporting": REPO / "services" / "reporting" / "sievert_reporting",
    "sievert_console": REPO / "services" / "console" / "sievert_console",
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


@pytest.mark.parametrize("package", sorted(set(PACKAGES) - {"sievert_shared"}))
def test_a_service_s_layers_depend_only_inwards(package: str) -> None:
    assert layer_violations(PACKAGES[package]) == {}


def test_the_layer_check_finds_imports_outwards_however_they_are_written(tmp_path: Path) -> None:
    service = tmp_path / "sievert_example"
    files = {
        "__init__.py": "",
        "bootstrap.py": "",
        "settings.py": "",
        "service_layer/__init__.py": "",
        "service_layer/cases.py": "from sievert_example.entrypoints.api import create_app\n",
        "domain/__init__.py": "from . import rules\n",
        "domain/rules.py": "from sievert_shared.events import Event\nfrom .model import Case\n",
        "domain/model.py": "",
        "domain/reads_settings.py": "from sievert_example.settings import ExampleSettings\n",
        "domain/calls_service.py": "from ..service_layer.cases import ExampleService\n",
        "domain/stores.py": "import sievert_example.adapters.store\n",
        "domain/nested/__init__.py": "from ...entrypoints import api\n",
        "adapters/__init__.py": "",
        "adapters/store.py": "from sievert_example.domain import rules\nfrom sievert_example import service_layer\n",
        "adapters/wires.py": "from sievert_example import bootstrap\n",
        "adapters/serves.py": "from ..entrypoints.api import create_app\n",
        "entrypoints/__init__.py": "",
        "entrypoints/api.py": "from sievert_example.adapters import store\nfrom sievert_example import bootstrap\n",
    }
    for name, text in files.items():
        (service / name).parent.mkdir(parents=True, exist_ok=True)
        (service / name).write_text(text)

    assert layer_violations(service) == {
        "sievert_example/domain/calls_service.py": [
            "sievert_example.service_layer.cases",
            "sievert_example.service_layer.cases.ExampleService",
        ],
        "sievert_example/domain/nested/__init__.py": [
            "sievert_example.entrypoints",
            "sievert_example.entrypoints.api",
        ],
        "sievert_example/domain/reads_settings.py": [
            "sievert_example.settings",
            "sievert_example.settings.ExampleSettings",
        ],
        "sievert_example/domain/stores.py": ["sievert_example.adapters.store"],
        "sievert_example/adapters/serves.py": [
            "sievert_example.entrypoints.api",
            "sievert_example.entrypoints.api.create_app",
        ],
        "sievert_example/adapters/store.py": ["sievert_example.service_layer"],
        "sievert_example/adapters/wires.py": ["sievert_example.bootstrap"],
        "sievert_example/service_layer/cases.py": [
            "sievert_example.entrypoints.api",
            "sievert_example.entrypoints.api.create_app",
        ],
    }


def test_no_service_imports_the_development_tools() -> None:
    """``sievert_shared.testing`` starts services as processes for demos, benchmarks and tests;
    a service that imported it would ship a way to spawn processes it never needs. Only a
    package's own ``testing`` subpackage (development tools, like the console's) may use it."""
    for package in PACKAGES:
        if package == "sievert_shared":
            continue
        for path in PACKAGES[package].rglob("*.py"):
            if "testing" in path.relative_to(PACKAGES[package]).parts:
                continue
            assert "sievert_shared.testing" not in path.read_text(), path.relative_to(REPO)


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


#: Entrypoints translate (a request, an event, a command line) and hand over to the service layer;
#: a function longer than this is doing the service layer's work where the next reader won't look.
ENTRYPOINT_FUNCTION_MAX_LINES = 60


def test_entrypoint_functions_stay_short() -> None:
    long_ones = {
        f"{path.relative_to(REPO)}:{node.name}": node.end_lineno - node.lineno + 1
        for path in REPO.glob("services/*/sievert_*/entrypoints/**/*.py")
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > ENTRYPOINT_FUNCTION_MAX_LINES
    }
    assert long_ones == {}
