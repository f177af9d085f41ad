"""A watchdog over every test: one that has not finished (set-up, body and tear-down) within its
limit is reported with where each thread and each asyncio task is waiting, and the run stops.

A test that hangs on an await (a lock nobody releases, a shutdown waiting for a connection that
is never returned) prints nothing: the tier would sit silent until CI's own limit ended it, with
no clue where it stood. pytest-timeout reports threads only, and here every hang of interest is
a task parked on an event loop whose thread is idle in ``select``, so this prints the tasks too.

``SIEVERT_TEST_LIMIT_SECONDS`` sets the limit (default 480 s: the slowest test, the tenancy
matrix, takes about 70 s here and a few times that on a loaded machine).
"""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import os
import sys
import threading
from collections.abc import Iterator
from typing import TextIO

import pytest

DEFAULT_LIMIT_SECONDS = 480.0
# How long a loop has to answer the request for its tasks' stacks; one that does not is blocked
# in code, not on an await, and the thread stacks above show where.
LOOP_ANSWER_SECONDS = 10.0


def limit_seconds() -> float:
    return float(os.environ.get("SIEVERT_TEST_LIMIT_SECONDS", DEFAULT_LIMIT_SECONDS))


def running_loops() -> list[asyncio.AbstractEventLoop]:
    """The event loops running in any thread (the running loop is per thread, so another thread
    cannot ask for it; the garbage collector knows every loop object)."""
    return [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop) and o.is_running()]


def dump_tasks(loop: asyncio.AbstractEventLoop, out: TextIO) -> bool:
    """Print every task of ``loop`` with the stack it is suspended in, from the loop's own thread.
    False when the loop did not get to it in time."""
    answered = threading.Event()

    def dump() -> None:
        tasks = asyncio.all_tasks(loop)
        print(f"--- {len(tasks)} asyncio tasks ---", file=out)
        for task in sorted(tasks, key=lambda t: t.get_name()):
            task.print_stack(file=out)
        answered.set()

    loop.call_soon_threadsafe(dump)
    return answered.wait(LOOP_ANSWER_SECONDS)


def report_hang(nodeid: str, limit: float, out: TextIO) -> None:
    print(f"\n\nwatchdog: {nodeid} has not finished after {limit:.0f} s; where it waits:", file=out)
    faulthandler.dump_traceback(file=out, all_threads=True)
    for loop in running_loops():
        if not dump_tasks(loop, out):
            print(f"--- {loop!r} did not answer within {LOOP_ANSWER_SECONDS:.0f} s ---", file=out)
    print(f"watchdog: stopping the run: {nodeid} hung", file=out, flush=True)


class Watchdog:
    def __init__(self, config: pytest.Config, limit: float) -> None:
        self.config = config
        self.limit = limit

    def bark(self, nodeid: str) -> None:
        try:
            # pytest holds the test's output (file descriptor 2 included) until it ends, which it
            # never will: give the descriptors back, and say what the test had printed first.
            capture = self.config.pluginmanager.getplugin("capturemanager")
            if capture is not None:
                capture.suspend_global_capture(in_=True)
                printed, errors = capture.read_global_capture()
                for name, text in (("stdout", printed), ("stderr", errors)):
                    if text:
                        print(f"--- the test's {name} so far ---\n{text}", file=sys.stderr)
            report_hang(nodeid, self.limit, sys.stderr)
        finally:
            # The hung test's thread cannot be interrupted safely from here, and waiting any
            # longer only spends CI's time: end the run, failed, with the report above.
            os._exit(3)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Iterator[None]:
        timer = threading.Timer(self.limit, self.bark, args=(item.nodeid,))
        timer.daemon = True
        timer.name = "test watchdog"
        timer.start()
        try:
            yield
        finally:
            timer.cancel()


def install(config: pytest.Config) -> None:
    config.pluginmanager.register(Watchdog(config, limit_seconds()), "sievert-watchdog")
