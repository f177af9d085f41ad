"""Run the four services as local processes: used by ``make demo`` and the e2e tests.

Readiness is polled on each service's ``/readyz``; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

SERVICES: dict[str, int] = {"intake": 8000, "classifier": 8001, "deadlines": 8002, "reporting": 8003}


@dataclass
class RunningService:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []


def service_env(
    base: Mapping[str, str], *, database_urls: Mapping[str, str], ports: Mapping[str, int]
) -> dict[str, str]:
    env = dict(base)
    for name, port in ports.items():
        prefix = name.upper()
        env[f"{prefix}_HTTP_PORT"] = str(port)
        env[f"{prefix}_DATABASE_URL"] = database_urls[name]
    return env


def start(
    name: str, env: Mapping[str, str], port: int, log_dir: Path, *, module: str | None = None
) -> RunningService:
    """``module``: what ``python -m`` runs, when not the service's package (``sievert_<name>``)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log_file = log_path.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", module or f"sievert_{name}"],
        env=dict(env),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log_file.close()
    return RunningService(name, f"http://127.0.0.1:{port}", process, log_path)


def wait_ready(services: list[RunningService], *, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    pending = {s.name: s for s in services}
    with httpx.Client(timeout=2.0) as client:
        while pending:
            for name, service in list(pending.items()):
                if service.process.poll() is not None:
                    tail = "\n".join(service.log_lines()[-20:])
                    raise RuntimeError(f"{name} exited with {service.process.returncode}:\n{tail}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{service.url}/readyz").status_code == 200:
                        del pending[name]
            if time.monotonic() > deadline:
                raise TimeoutError(f"not ready after {timeout:.0f}s: {sorted(pending)}")
            time.sleep(0.1)  # a poll interval, not a wait for readiness


def stop(service: RunningService, *, timeout: float = 15.0) -> None:
    if service.process.poll() is None:
        os.killpg(service.process.pid, signal.SIGTERM)
        try:
            service.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait()


@contextlib.contextmanager
def running(
    env: Mapping[str, str],
    *,
    ports: Mapping[str, int] = SERVICES,
    log_dir: Path,
    names: list[str] | None = None,
) -> Iterator[dict[str, RunningService]]:
    started: dict[str, RunningService] = {}
    try:
        for name in names or list(ports):
            started[name] = start(name, env, ports[name], log_dir)
        wait_ready(list(started.values()))
        yield started
    finally:
        for service in started.values():
            stop(service)
