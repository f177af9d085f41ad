"""deploy/compose.yaml checked offline against the Compose Specification's JSON Schema (vendored
in deploy/schemas/compose-spec/ with its licence and source), and the files it mounts exist."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def validator() -> jsonschema.Draft7Validator:
    schema = json.loads((DEPLOY / "schemas" / "compose-spec" / "compose-spec.json").read_text())
    return jsonschema.Draft7Validator(schema)


def test_the_compose_file_follows_the_compose_specification() -> None:
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(compose())
    ]
    assert not errors, errors


def test_a_misspelt_key_is_refused() -> None:
    """The schema forbids unknown keys: the check above would catch a typo."""
    broken = compose()
    broken["services"]["intake"]["helthcheck"] = broken["services"]["intake"].pop("healthcheck")
    assert list(validator().iter_errors(broken))


@pytest.mark.parametrize("service", ["intake", "classifier", "deadlines", "reporting"])
def test_each_service_has_health_checks(service: str) -> None:
    check = " ".join(compose()["services"][service]["healthcheck"]["test"])
    assert "/healthz" in check and "/readyz" in check


def test_every_file_the_compose_file_mounts_exists() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), (name, source)
