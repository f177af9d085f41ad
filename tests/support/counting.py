"""A real connection that counts the statements sent through it: how a test tells how many
round trips a piece of code makes, without a fake of the driver."""

from __future__ import annotations

from typing import Any

from sievert_shared.db import Connection


class CountingConnection:
    _SENDING = frozenset({"execute", "executemany", "fetch", "fetchrow", "fetchval"})

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.sent = 0

    def __getattr__(self, name: str) -> Any:
        if name in self._SENDING:
            self.sent += 1
        return getattr(self._conn, name)
