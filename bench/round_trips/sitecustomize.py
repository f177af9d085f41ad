"""Counts a service's round trips, for ``bench_e2e_latency.py --round-trips`` only.

Python imports a ``sitecustomize`` module at start-up from the first directory on ``sys.path``
that has one; the bench puts this directory first on the services' ``PYTHONPATH`` and names a
directory in ``SIEVERT_BENCH_ROUND_TRIPS_DIR``. Nothing happens without that variable.

Counted: every statement a connection sends to PostgreSQL (``execute``, ``fetch``, ``fetchrow``,
``fetchval``, ``executemany``, ``copy_records_to_table``; a transaction's BEGIN and COMMIT are
``execute`` calls too), and every request the aiokafka client sends, by kind (Produce, Fetch,
OffsetCommit, Heartbeat...). The process writes its counts to ``<dir>/<pid>.json`` four times a
second, so the bench reads them at the edges of its measured window. These are the figures that
do not move with the machine's load: CPU per incident follows from how many round trips it
takes and what each costs.
"""

from __future__ import annotations

import atexit
import collections
import functools
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

_DIR = os.environ.get("SIEVERT_BENCH_ROUND_TRIPS_DIR")
_counts: collections.Counter[str] = collections.Counter()
_PG_METHODS = ("execute", "fetch", "fetchrow", "fetchval", "executemany", "copy_records_to_table")


def _dump() -> None:
    if _DIR is None:
        return
    path = os.path.join(_DIR, f"{os.getpid()}.json")
    with open(path + ".tmp", "w") as out:
        json.dump({"argv": sys.argv, "counts": dict(_counts)}, out)
    os.replace(path + ".tmp", path)  # the bench never reads half a file


def _dump_every_quarter_second() -> None:
    while True:
        time.sleep(0.25)
        _dump()


def _counted(method: Callable[..., Any], name: str) -> Callable[..., Any]:
    @functools.wraps(method)
    async def counting(*args: Any, **kwargs: Any) -> Any:
        _counts[name] += 1
        return await method(*args, **kwargs)

    return counting


def _install() -> None:
    from aiokafka.client import AIOKafkaClient
    from asyncpg.connection import Connection

    for method in _PG_METHODS:
        setattr(Connection, method, _counted(getattr(Connection, method), "postgres"))
    send = AIOKafkaClient.send

    @functools.wraps(send)
    async def counting_send(
        self: AIOKafkaClient, node_id: int, request: Any, *args: Any, **kwargs: Any
    ) -> Any:
        # Request classes are named like ProduceRequest_v7: count by kind, not by version.
        _counts["kafka." + type(request).__name__.split("_")[0].removesuffix("Request")] += 1
        return await send(self, node_id, request, *args, **kwargs)

    AIOKafkaClient.send = counting_send
    threading.Thread(target=_dump_every_quarter_second, name="round-trip-counts", daemon=True).start()
    atexit.register(_dump)


if _DIR is not None:
    _install()
