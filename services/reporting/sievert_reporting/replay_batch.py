"""The replay's fold of the hot events: the same effect as applying each one through the
projection handlers in log order, written with a few set-based statements instead of one or two
per event.

A full replay is bound by round trips when it goes through the handlers (one or two statements
per event: about 1,700 events/s), and then, folded per fetch, by PostgreSQL rewriting each
incident's row once per fetch that touched it (an incident's facts, decision and deadlines come
from three topics, read at different speeds): 60 s of a 114 s replay was that UPDATE (measured).
So the hot events (incident facts, decisions and deadline windows: nearly all of a real log) are
folded here, in log order, into one row per incident with the handlers' own guards (facts: higher
stream version wins; decision: ``facts_version`` equal or higher wins; each deadline window:
higher stream version wins), across fetches, and written when the fold holds ``max_rows``
incidents or the log ends: COPY into a temporary table, one INSERT of the incidents not written
before, and one UPDATE (the same guards, in SQL) of those that were. Incidents that already
have facts, a decision and a deadline window are also written before that, in chunks in the
background while the log is read (``write_early``); a later event about one merges as above.
Other events (submissions, findings, themes) touch other tables and go through their handlers
as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec

from sievert_reporting.replay_decode import DecisionPart, FactsPart, Hot
from sievert_shared.events import IncidentReported

_REPORTED = IncidentReported.event_type


@dataclass(slots=True)
class _Row:
    """One incident: the versions its row holds (written or not), for the guards, and what the
    fold changed since the row was last written."""

    incident_id: uuid.UUID
    trust: str
    site: str
    facts_version: int = 0
    decision_version: int | None = None
    deadline_versions: dict[str, int] = field(default_factory=dict)
    has_reported_at: bool = False
    # not written yet:
    facts: FactsPart | None = None
    reported_at: dt.datetime | None = None
    decision: DecisionPart | None = None
    #: window -> (due_at, status, stream_version), as ``on_deadline`` stores it
    deadlines: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    #: ``recorded_at`` of the last event applied: the handlers' ``updated_at``; None: nothing to write
    last_at: dt.datetime | None = None


@dataclass
class Fold:
    """Hot events folded per incident, with their ``processed_events`` rows, until written."""

    consumer: str
    #: by ``incident_id.int``: hashing a UUID is Python code, hashing an int is not (profiled)
    rows: dict[int, _Row] = field(default_factory=dict)
    #: incidents with something to write, and whether their row was written before
    pending: dict[int, bool] = field(default_factory=dict)
    processed: list[tuple[str, uuid.UUID, str, int, int]] = field(default_factory=list)
    #: new incidents holding facts, a decision and a deadline window, in the order they got them:
    #: written early (``write_early``), while the log is still being read
    ready: dict[int, None] = field(default_factory=dict)
    #: ``write_early``'s COPY in flight on each writer connection, by its index
    copying: dict[int, asyncio.Task[None]] = field(default_factory=dict)

    def add(self, hot: Hot, topic: str, partition: int, offset: int) -> None:
        """Fold one first-seen event, as its handler would apply it to the row as it stands."""
        self.processed.append((self.consumer, hot.event_id, topic, partition, offset))
        key = hot.stream_id.int
        row = self.rows.get(key)
        if row is None:  # _ensure: the first event about an incident makes its row
            row = self.rows[key] = _Row(hot.stream_id, hot.trust, hot.site)
            self.pending[key] = False
        part = hot.part
        if isinstance(part, FactsPart):
            if hot.stream_version <= row.facts_version:
                return  # on_facts: WHERE facts_version < $8
            row.facts_version, row.facts = hot.stream_version, part
            if hot.event_type == _REPORTED and not row.has_reported_at:
                row.reported_at, row.has_reported_at = hot.recorded_at, True
        elif isinstance(part, DecisionPart):
            if row.decision_version is not None and part.facts_version < row.decision_version:
                return  # on_classification: WHERE facts_version <= $9
            row.decision_version, row.decision = part.facts_version, part
        else:
            if row.deadline_versions.get(part.window, 0) >= hot.stream_version:
                return  # on_deadline: WHERE stream_version < $5
            row.deadline_versions[part.window] = hot.stream_version
            row.deadlines[part.window] = (part.due_at, part.status, hot.stream_version)
        row.last_at = hot.recorded_at
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
                records.append(_record(row))
                row.facts = row.decision = row.reported_at = row.last_at = None
                row.deadlines = {}
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
        new = [_record(self.rows[key]) for key, known in self.pending.items() if not known]
        known = [_record(self.rows[key]) for key, known in self.pending.items() if known]
        processed, self.processed = self.processed, []
        share = -(-len(new) // len(conns))

        async def one(index: int, conn: asyncpg.Connection) -> None:
            async with conn.transaction():
                if index == 0 and processed:
                    await conn.copy_records_to_table(
                        "processed_events", records=processed, columns=PROCESSED_COLUMNS
                    )
                if part := new[index * share : (index + 1) * share]:
                    await conn.copy_records_to_table("incidents", records=part, columns=_COLUMNS)
                if index == 0 and known:
                    await conn.execute(_STAGE)
                    await conn.copy_records_to_table("replay_rows", records=known, columns=_COLUMNS)
                    await conn.execute(_MERGE)

        await asyncio.gather(*(one(i, conn) for i, conn in enumerate(conns)))
        for key in self.pending:
            row = self.rows[key]
            row.facts = row.decision = row.reported_at = row.last_at = None
            row.deadlines = {}
        self.pending = {}


async def _insert(conn: asyncpg.Connection, records: list[tuple[Any, ...]]) -> None:
    async with conn.transaction():
        await conn.copy_records_to_table("incidents", records=records, columns=_COLUMNS)


PROCESSED_COLUMNS = ["consumer", "event_id", "topic", "kafka_partition", "kafka_offset"]
_COLUMNS = [
    "incident_id",
    "trust",
    "site",
    "nation",
    "modality",
    "exposure_kind",
    "discovered_on",
    "occurred_on",
    "facts",
    "facts_version",
    "reported_at",
    "notifiable",
    "codes",
    "authority",
    "csaue",
    "ruleset",
    "decision",
    "deadlines",
    "updated_at",
]


def _record(row: _Row) -> tuple[Any, ...]:
    """The row as the handlers leave it, for a new incident; for a written one, the parts to set
    (facts, decision: NULL where the fold has none; deadlines: the windows to set)."""
    facts, decision = row.facts, row.decision
    deadlines = _encode(
        {w: {"due_at": d, "status": s, "stream_version": v} for w, (d, s, v) in row.deadlines.items()}
    )
    return (
        row.incident_id,
        row.trust,
        row.site,
        facts.nation if facts else None,
        facts.modality if facts else None,
        facts.exposure_kind if facts else None,
        facts.discovered_on if facts else None,
        facts.occurred_on if facts else None,
        facts.json if facts else None,
        row.facts_version if facts else 0,
        row.reported_at,
        decision.notifiable if decision else None,
        decision.codes if decision else [],
        decision.authority if decision else None,
        decision.csaue if decision else None,
        decision.ruleset if decision else None,
        decision.json if decision else None,
        deadlines,
        row.last_at,
    )


_encode = msgspec.json.Encoder().encode


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

# A written incident: only what the fold changed since, and it changed it past the row's
# versions (the guards ran in the fold, against the versions written).
_MERGE = """
UPDATE incidents i SET
    nation = CASE WHEN b.facts IS NULL THEN i.nation ELSE b.nation END,
    modality = CASE WHEN b.facts IS NULL THEN i.modality ELSE b.modality END,
    exposure_kind = CASE WHEN b.facts IS NULL THEN i.exposure_kind ELSE b.exposure_kind END,
    discovered_on = CASE WHEN b.facts IS NULL THEN i.discovered_on ELSE b.discovered_on END,
    occurred_on = CASE WHEN b.facts IS NULL THEN i.occurred_on ELSE b.occurred_on END,
    facts = COALESCE(b.facts, i.facts),
    facts_version = CASE WHEN b.facts IS NULL THEN i.facts_version ELSE b.facts_version END,
    reported_at = CASE WHEN b.facts IS NULL THEN i.reported_at ELSE COALESCE(i.reported_at, b.reported_at) END,
    notifiable = CASE WHEN b.decision IS NULL THEN i.notifiable ELSE b.notifiable END,
    codes = CASE WHEN b.decision IS NULL THEN i.codes ELSE b.codes END,
    authority = CASE WHEN b.decision IS NULL THEN i.authority ELSE b.authority END,
    csaue = CASE WHEN b.decision IS NULL THEN i.csaue ELSE b.csaue END,
    ruleset = CASE WHEN b.decision IS NULL THEN i.ruleset ELSE b.ruleset END,
    decision = COALESCE(b.decision, i.decision),
    deadlines = i.deadlines || b.deadlines,
    updated_at = b.updated_at
FROM replay_rows b WHERE i.incident_id = b.incident_id"""
