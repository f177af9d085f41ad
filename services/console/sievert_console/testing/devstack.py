"""Run the console beside the four services on one machine: ``make console`` and the browser tests.

A fresh development key is made for the run (``write_dev_key``). The services get its public half
(``AUTH_JWKS_FILE``, ``AUTH_ISSUER``, ``AUTH_AUDIENCE``) and stay in development auth mode, so they
verify every token the console sends, by role and trust, exactly as they would an identity
provider's; the console gets the private half. Processes are started and polled for readiness by
``sievert_shared.testing.devstack``, as ``make demo`` and the e2e tests do.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from sievert_console.adapters.dev_tokens import DevKeyFiles, write_dev_key
from sievert_console.settings import DEV_ISSUER
from sievert_shared.testing import devstack

CONSOLE_PORT = 8004


def services_env(base: Mapping[str, str], key: DevKeyFiles) -> dict[str, str]:
    """The services trust the console's development key (and nothing else changes for them)."""
    return {
        **base,
        "AUTH_ISSUER": DEV_ISSUER,
        "AUTH_AUDIENCE": "sievert",
        "AUTH_JWKS_FILE": str(key.jwks),
    }


def console_env(
    base: Mapping[str, str], key: DevKeyFiles, services: Mapping[str, str], port: int
) -> dict[str, str]:
    env = {
        **base,
        "CONSOLE_HTTP_PORT": str(port),
        "CONSOLE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CONSOLE_DEV_SIGNING_KEY_FILE": str(key.private_key),
    }
    for name, url in services.items():
        env[f"CONSOLE_SERVICES__{name.upper()}"] = url
    return env


@dataclass
class ConsoleRun:
    services: dict[str, devstack.RunningService]
    console: devstack.RunningService
    #: How the console was started: another console can be started beside it (tests).
    console_env: dict[str, str]


@contextlib.contextmanager
def running_with_console(
    base: Mapping[str, str],
    *,
    ports: Mapping[str, int],
    console_port: int,
    log_dir: Path,
    key_dir: Path,
) -> Iterator[ConsoleRun]:
    """The four services (``base`` names their databases, ports and topic prefix), then the
    console once they are ready."""
    key = write_dev_key(key_dir)
    with devstack.running(services_env(base, key), ports=ports, log_dir=log_dir) as services:
        urls = {name: service.url for name, service in services.items()}
        env = console_env(base, key, urls, console_port)
        console = devstack.start("console", env, console_port, log_dir)
        try:
            devstack.wait_ready([console])
            yield ConsoleRun(services, console, env)
        finally:
            devstack.stop(console)
