"""The tests' watchdog: a hung test ends the run, saying which test and which await it hangs on."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

HUNG = """
import asyncio


async def parked_forever(released: asyncio.Event) -> None:
    await released.wait()


async def test_that_hangs() -> None:
    await asyncio.create_task(parked_forever(asyncio.Event()), name="the parked task")


def test_that_passes() -> None:
    assert True
"""


def run_pytest(folder: Path, limit: str, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    (folder / "conftest.py").write_text(
        "from tests.support import watchdog\n\n\ndef pytest_configure(config):\n    watchdog.install(config)\n"
    )
    (folder / "test_hung.py").write_text(textwrap.dedent(HUNG))
    env = {**os.environ, "PYTHONPATH": str(REPO), "SIEVERT_TEST_LIMIT_SECONDS": limit}
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-o",
            "asyncio_mode=auto",
            *args,
            str(folder),
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done, time.monotonic() - started


def test_a_hung_test_ends_the_run_naming_the_test_and_the_await_it_waits_on(tmp_path: Path) -> None:
    done, took = run_pytest(tmp_path, limit="2")
    assert done.returncode == 3, done.stdout + done.stderr
    report = done.stderr
    assert "test_hung.py::test_that_hangs has not finished after 2 s" in report
    assert "the parked task" in report and "parked_forever" in report, report
    assert "await released.wait()" in report, report
    assert "stopping the run" in report
    assert took < 60


def test_a_test_within_the_limit_is_left_alone(tmp_path: Path) -> None:
    done, _took = run_pytest(tmp_path, "2", "-k", "test_that_passes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "watchdog" not in done.stdout + done.stderr
