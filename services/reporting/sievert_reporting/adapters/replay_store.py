"""The replay's fold of the events that change incidents' rows (the hot events): the same rule
as the live consumer's (``domain.incident_row.apply_change``), applied in memory in log order and
written with a few set-based statements instead of two or three per event.

A full replay is bound by round trips when it goes through the handlers (one or two statements
per event: about 1,700 events/s), and then, folded per fetch, by PostgreSQL rewriting each
incident's row once per fetch that touched it (an incident's facts, decision and deadlines come
from three topics, read at different speeds): 60 s of a 114 s replay was that UPDATE (measured).
So the hot events (incident facts, decisions and deadline windows: nearly all of a real log) are
folded here, in log order, into one row per incident by ``apply_change``, across fetches, and
written when the fold holds ``max_rows`` incidents or the log ends: a COPY of the incidents not
written before, and one UPDATE (``read_model.MERGE_SET``, as the live consumer's) of those that
were, from a COPY'd temporary table. Incidents that already have facts, a decision and a deadline
window are also written before that, in chunks in the background while the log is read
(``write_early``); a later event about one merges as above. Other events (submissions, findings,
themes) touch other tables and go through the live consumer's handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from sievert_reporting.adapters.read_model import INCIDENT_COLUMNS, MERGE_SET, incident_record
from sievert_reporting.domain.incident_row import IncidentChange, IncidentRow, apply_change
from sievert_shared.db import Connection


@dataclass
class Fold:
    """Hot events folded per incident, with their ``processed_events`` rows, until written."""

    consumer: str
    #: by ``incident_id.int``: hashing a UUID is Python code, hashing an int is not (profiled)
    rows: dict[int, IncidentRow] = field(default_factory=dict)
    #: incidents with something to write, and whether their row was written before
    pending: dict[int, bool] = field(default_factory=dict)
    processed: list[tuple[str, uuid.UUID, str, int, int]] = field(default_factory=list)
    #: new incidents holding facts, a decision and a deadline window, in the order they got them:
    #: written early (``write_early``), while the log is still being read
    ready: dict[int, None] = field(default_factory=dict)
    #: ``write_early``'s COPY in flight on each writer connection, by its index
    copying: dict[int, asyncio.Task[None]] = field(default_factory=dict)

    def add(self, change: IncidentChange, topic: str, partition: int, offset: int) -> None:
        """Fold one first-seen event into its incident's row as it stands."""
        self.processed.append((self.consumer, change.event_id, topic, partition, offset))
        key = change.stream_id.int
        row = self.rows.get(key)
        if row is None:  # as ``load_incident_row``: the first event about an incident makes its row
            row = self.rows[key] = IncidentRow(change.stream_id, change.trust, change.site)
            self.pending[key] = False
        if not apply_change(row, change):
            return
        known = self.pending.get(key)
        if known is None:
            self.pending[key] = True
        elif not known and row.facts is not None and row.decision is not None and row.deadlines:
            self.ready[key] = None

    def write_early(self, conns: Sequence[asyncpg.Connection], chunk: int) -> None:
        """Start writing ``chunk`` of the ready incidents on each writer connection with nothing
        in flight, in the background. Written now, PostgreSQL inserts them while the replay reads
        on, instead of all of them after the log ends with the replay idle (10 to 15 s of a 33 to
        39 s replay, measured). An incident with all three kinds of event seldom gets another one;
        when it does, the fold merges it into the row written, as after any write."""
        for index, conn in enumerate(conns):
            task = self.copying.get(index)
            if task is not None:
                if not task.done():
                    continue
                task.result()  # a failed COPY stops the replay
            if len(self.ready) < chunk:
                return
            records = []
            ready, pending, rows = self.ready, self.pending, self.rows
            for key in list(itertools.islice(ready, chunk)):
                del ready[key]
                del pending[key]
                row = rows[key]
                records.append(incident_record(row))
                row.stored()
            self.copying[index] = asyncio.create_task(_insert(conn, records))

    async def settle(self) -> None:
        """Wait for the early writes in flight (their connections are free again)."""
        tasks, self.copying = list(self.copying.values()), {}
        await asyncio.gather(*tasks)

    def cancel(self) -> None:
        for task in self.copying.values():
            task.cancel()

    async def write(self, conns: Sequence[asyncpg.Connection]) -> None:
        """Write what the fold holds, on connections from ``writer``, and keep only the versions
        for the guards. The new incidents are split over the connections: PostgreSQL parses,
        compresses and indexes them on as many cores (one COPY took 16 s of a 40 s replay, with
        the replay's own process idle). Each connection commits its share; a replay that fails
        half way leaves a half-built projection either way, to be replayed again."""
        # the merges below need the early rows committed, and each connection runs one statement
        await self.settle()
        self.ready = {}
        new = [incident_record(self.rows[key]) for key, known in self.pending.items() if not known]
        known = [incident_record(self.rows[key]) for key, known in self.pending.items() if known]
        processed, self.processed = self.processed, []
        share = -(-len(new) // len(conns))

        async def one(index: int, conn: asyncpg.Connection) -> None:
            async with conn.transaction():
                if index == 0 and processed:
                    await conn.copy_records_to_table(
                        "processed_events", records=processed, columns=PROCESSED_COLUMNS
                    )
                if part := new[index * share : (index + 1) * share]:
                    await conn.copy_records_to_table("incidents", records=part, columns=INCIDENT_COLUMNS)
                if index == 0 and known:
                    await conn.execute(_STAGE)
                    await conn.copy_records_to_table("replay_rows", records=known, columns=INCIDENT_COLUMNS)
                    await conn.execute(_MERGE)

        await asyncio.gather(*(one(i, conn) for i, conn in enumerate(conns)))
        for key in self.pending:
            self.rows[key].stored()
        self.pending = {}


async def _insert(conn: asyncpg.Connection, records: list[tuple[Any, ...]]) -> None:
    async with conn.transaction():
        await conn.copy_records_to_table("incidents", records=records, columns=INCIDENT_COLUMNS)


PROCESSED_COLUMNS = ["consumer", "event_id", "topic", "kafka_partition", "kafka_offset"]


async def writer(dsn: str) -> asyncpg.Connection:
    """A connection for ``Fold.write``: jsonb goes as the JSON text already encoded (binary COPY
    format: a version byte, then the text), not through the pool's ``json.dumps`` codec."""
    conn = await asyncpg.connect(dsn)
    # lz4 compresses the decisions' TOASTed jsonb faster than the default pglz (a quarter off the
    # rows' COPY, measured); the values read back are the same, and PostgreSQL reads both
    with contextlib.suppress(asyncpg.PostgresError):  # a server built without lz4 keeps pglz
        await conn.execute("SET default_toast_compression = lz4")
    await conn.set_type_codec(
        "jsonb", encoder=lambda raw: b"\x01" + raw, decoder=bytes, schema="pg_catalog", format="binary"
    )
    return conn


_STAGE = """CREATE TEMPORARY TABLE replay_rows ON COMMIT DROP AS SELECT * FROM incidents WITH NO DATA"""

_MERGE = f"UPDATE incidents i SET {MERGE_SET} FROM replay_rows b WHERE i.incident_id = b.incident_id"


# -- the rest of a replay's reads and writes ---------------------------------------------------


async def reset(pool: asyncpg.Pool, tables: Sequence[str], consumer: str) -> None:
    """Empty the projection's tables and forget what its consumer processed."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"TRUNCATE {', '.join(tables)}")
        await conn.execute("DELETE FROM processed_events WHERE consumer = $1", consumer)


ProcessedRow = tuple[str, uuid.UUID, str, int, int]


async def copy_processed(pool: asyncpg.Pool, rows: list[ProcessedRow]) -> None:
    # in key order, the primary key's inserts walk its pages once: the reader waited 0.6 s for
    # these copies instead of 4.2 s unsorted (one run each, measured)
    rows.sort(key=_by_event_id)
    async with pool.acquire() as conn, conn.transaction():
        await conn.copy_records_to_table("processed_events", records=rows, columns=PROCESSED_COLUMNS)


async def copy_processed_in(conn: Connection, rows: list[ProcessedRow]) -> None:
    """``processed_events`` rows in the caller's transaction."""
    await conn.copy_records_to_table("processed_events", records=rows, columns=PROCESSED_COLUMNS)


def _by_event_id(row: ProcessedRow) -> int:
    return row[1].int


async def stream_tenants(pool: asyncpg.Pool) -> dict[int, str]:
    """stream id (as int) -> the trust the live consumers bound it to."""
    rows = await pool.fetch("SELECT stream_id, trust FROM stream_tenants")
    return {row["stream_id"].int: row["trust"] for row in rows}


async def bind_streams(pool: asyncpg.Pool, bindings: list[tuple[int, str]]) -> None:
    """Record streams a replay saw first, as the live consumers would have."""
    if bindings:
        async with pool.acquire() as conn:
            # as hex text, which asyncpg's COPY parses in C: a ``uuid.UUID`` each is built in
            # Python, and this runs after every process has finished (4% of the command's
            # process's samples, profiled)
            await conn.copy_records_to_table(
                "stream_tenants",
                records=[(f"{stream:032x}", trust) for stream, trust in bindings],
                columns=("stream_id", "trust"),
            )
