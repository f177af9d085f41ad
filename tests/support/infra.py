"""Where the tests' Kafka and PostgreSQL come from, in order of preference:

1. environment variables (``KAFKA_BOOTSTRAP_SERVERS`` and ``INTAKE_DATABASE_URL``), which is how
   ``make test`` points at the local stack and how a site points at its own servers;
2. testcontainers, when a Docker engine is reachable;
3. the project's local stack, started with ``scripts/stack.sh up``.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    admin_database_url: str  # a database on the server where tests may CREATE DATABASE
    mode: str


def _docker_engine_reachable() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _stack_env() -> dict[str, str]:
    subprocess.run(["bash", str(REPO / "scripts/stack.sh"), "up"], check=True)
    out = subprocess.run(
        ["bash", str(REPO / "scripts/stack.sh"), "env"], check=True, capture_output=True, text=True
    ).stdout
    env: dict[str, str] = {}
    for line in out.splitlines():
        line = line.removeprefix("export ").strip()
        if "=" in line:
            key, value = line.split("=", 1)
            env[key] = shlex.split(value)[0] if value else ""
    return env


@contextlib.contextmanager
def provide_infra() -> Iterator[Infra]:
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    database = os.environ.get("INTAKE_DATABASE_URL")
    if kafka and database:
        yield Infra(kafka, database, "environment")
        return
    if _docker_engine_reachable():
        from testcontainers.kafka import KafkaContainer
        from testcontainers.postgres import PostgresContainer

        with (
            KafkaContainer("confluentinc/cp-kafka:7.7.1").with_kraft() as kafka_container,
            PostgresContainer("postgres:15", driver=None) as pg,
        ):
            yield Infra(kafka_container.get_bootstrap_server(), pg.get_connection_url(), "testcontainers")
        return
    env = _stack_env()
    yield Infra(env["KAFKA_BOOTSTRAP_SERVERS"], env["INTAKE_DATABASE_URL"], "local-stack")
