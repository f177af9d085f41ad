"""Deadline timers at scale: the deadlines service as a process over a million pending timers.

1. Load: run the service's migrations in a throwaway database, then schedule 1,000,000
   pending timers with their incidents and windows. The rows are the domain's own plans
   (``on_classified`` over a mix of notifiable and local incidents discovered 0-89 days ago),
   stamped out per incident in SQL. About 100,000 of them belong to incidents planned before
   the last London midnight and not fired since, as after an outage over midnight: mostly
   daily overdue ticks of missed windows, some reminders and dues.
2. Backlog (b): start the process and time until no overdue timer is left (then the relay
   until every event is on Kafka).
3. Wave (a): with a fresh process running, schedule timers coming due at 1,000 a second for
   30 s (reminders, dues and overdue ticks in equal parts) and watch the outbox: lateness is
   when the event became visible (committed) minus the timer's ``fire_at``, and never early
   means no event was built before its instant (``recorded_at >= fire_at``).
4. Memory (c): the process's RSS (and peak), and PostgreSQL's table and index sizes.

    eval "$(bash scripts/stack.sh env)"
    .venv/bin/python bench/bench_deadlines.py [--timers 1000000] [--backlog 100000]
        [--rate 1000] [--seconds 30] [--cap 75] [--drain 45] [--json PATH]

``--statements N`` measures something else instead, in this process: the statements the
consumer's handlers send (asyncpg's query logger; BEGIN and COMMIT included, the consumer's own
two per batch not), the process's CPU and its PostgreSQL backend's, per incident, for N IncidentClassified of the e2e bench's
incident, applied as the consumer applies them: batches of ``--statement-batch`` events in one
transaction each, its ``before_batch`` first and its ``after_batch`` last. It runs on whatever tree ``PYTHONPATH`` names, so the
same command counts main's per-event writes and a batched branch's.

The waits are capped (``--cap`` for the backlog, ``--drain`` after the wave's last timer), so
the whole run stays within ~4 minutes even when a target is missed; a missed target is
reported with the rate reached and the time it would take.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import socket
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from pydantic import TypeAdapter

from sievert_deadlines.domain import DEFAULT_POLICY, LONDON, IncidentDeadlines, on_classified
from sievert_shared.db import Connection, create_pool, migrate
from sievert_shared.kafka import delete_topics_with_prefix
from sievert_shared.settings import KafkaSettings
from sievert_shared.testing import devstack

TARGET_P99_S = 1.0
# The performance goal: a backlog of 100,000 overdue timers (the full form) cleared within 5 s of
# the restart. The quick form loads fewer, so it meets this more easily.
TARGET_BACKLOG_S = 5.0
OFFSETS = range(90)  # discovered 0-89 days ago
CLASSES = 10  # of every 10 incidents, 7 notifiable (both windows) and 3 local
PLACEHOLDER = uuid.UUID(int=0)
_STATE = TypeAdapter(IncidentDeadlines)

started_at = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - started_at:6.1f}s] {message}", flush=True)


# -- plans made by the domain, stamped out in SQL --------------------------------------------


@dataclass(frozen=True)
class Templates:
    """One incident's rows per (discovery offset, class); incident ``i`` takes template ``i % n``."""

    states: list[tuple[int, str]]
    windows: list[tuple[int, str, str, dt.date, dt.datetime, str | None]]
    timers: list[tuple[int, str, str, dt.datetime, dt.datetime, int | None, int | None]]
    due_by: dt.datetime

    @property
    def count(self) -> int:
        return len(self.states)

    def timers_per_template(self, *, due: bool) -> list[int]:
        counts = [0] * self.count
        for tpl, _, _, fire_at, *_ in self.timers:
            if (fire_at <= self.due_by) is due:
                counts[tpl] += 1
        return counts


def templates(today: dt.date, planned_at: dt.datetime, due_by: dt.datetime) -> Templates:
    """Plans as ``on_classified`` made them at ``planned_at``: the timers it leaves are exactly the
    ones pending at that instant. Those with ``fire_at <= due_by`` are overdue now."""
    states: list[tuple[int, str]] = []
    windows: list[tuple[int, str, str, dt.date, dt.datetime, str | None]] = []
    timers: list[tuple[int, str, str, dt.datetime, dt.datetime, int | None, int | None]] = []
    for offset in OFFSETS:
        for cls in range(CLASSES):
            tpl = len(states)
            notifiable = cls < 7
            decision = on_classified(
                None,
                incident_id=PLACEHOLDER,
                notifiable=notifiable,
                authority="cqc" if notifiable else None,
                discovered_on=today - dt.timedelta(days=offset),
                policy=DEFAULT_POLICY,
                now=planned_at,
            )
            assert decision.deadlines is not None
            states.append((tpl, json.dumps(_STATE.dump_python(decision.deadlines, mode="json"))))
            windows.extend(
                (tpl, w.window.value, w.status.value, w.discovered_on, w.due_at, w.authority)
                for w in decision.deadlines.windows
            )
            timers.extend(
                (tpl, t.window_kind, t.kind.value, t.fire_at, t.due_at, t.days_before, t.days_overdue)
                for t in decision.schedule_timers
            )
    return Templates(states, windows, timers, due_by)


def incidents_for(counts: list[int], target: int) -> int:
    """How many incidents, taking templates in turn, make ``target`` timers (or just over)."""
    per_cycle = sum(counts)
    cycles = target // per_cycle
    n, total = cycles * len(counts), cycles * per_cycle
    while total < target:
        total += counts[n % len(counts)]
        n += 1
    return n


_INCIDENT = "md5($1 || i)::uuid"


async def stamp(conn: Connection, tag: str, tpl: Templates, first: int, last: int) -> None:
    """Insert incidents ``first..last`` (tagged ``tag``) from ``tpl``: aggregate, windows, timers."""
    await conn.execute(
        """CREATE TEMP TABLE IF NOT EXISTS tpl_state (tpl int, state text);
           CREATE TEMP TABLE IF NOT EXISTS tpl_window (tpl int, window_kind text, status text,
               discovered_on date, due_at timestamptz, authority text);
           CREATE TEMP TABLE IF NOT EXISTS tpl_timer (tpl int, window_kind text, kind text,
               fire_at timestamptz, due_at timestamptz, days_before int, days_overdue int);
           TRUNCATE tpl_state, tpl_window, tpl_timer"""
    )
    await conn.copy_records_to_table("tpl_state", records=[(t, s) for t, s in tpl.states])
    await conn.copy_records_to_table("tpl_window", records=tpl.windows)
    await conn.copy_records_to_table("tpl_timer", records=tpl.timers)
    span = (tag, first, last, tpl.count)
    await conn.execute(
        f"""INSERT INTO incident_deadlines (incident_id, trust, site, correlation_id, state, updated_at)
            SELECT {_INCIDENT}, trust, trust || '0' || (1 + i % 2), $1 || '-' || i,
                   jsonb_set(s.state::jsonb, '{{incident_id}}', to_jsonb({_INCIDENT}::text)), now()
            FROM generate_series($2::int, $3::int) AS i
            CROSS JOIN LATERAL (SELECT (ARRAY['RXX', 'RYY', 'RZZ'])[1 + i % 3] AS trust) AS t
            JOIN tpl_state s ON s.tpl = i % $4""",
        *span,
    )
    await conn.execute(
        f"""INSERT INTO windows (incident_id, window_kind, trust, site, status, discovered_on, due_at,
                                 authority)
            SELECT {_INCIDENT}, w.window_kind, t.trust, t.trust || '0' || (1 + i % 2), w.status,
                   w.discovered_on, w.due_at, w.authority
            FROM generate_series($2::int, $3::int) AS i
            CROSS JOIN LATERAL (SELECT (ARRAY['RXX', 'RYY', 'RZZ'])[1 + i % 3] AS trust) AS t
            JOIN tpl_window w ON w.tpl = i % $4""",
        *span,
    )
    await conn.execute(
        f"""INSERT INTO timers (incident_id, window_kind, kind, fire_at, due_at, days_before, days_overdue)
            SELECT {_INCIDENT}, m.window_kind, m.kind, m.fire_at, m.due_at, m.days_before, m.days_overdue
            FROM generate_series($2::int, $3::int) AS i JOIN tpl_timer m ON m.tpl = i % $4""",
        *span,
    )


def london_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=LONDON).astimezone(dt.UTC)


# -- the wave: timers coming due at a steady rate ---------------------------------------------

# For each kind, the window's due_at given the timer's fire_at, so that the domain's own rules
# make the timer speak: a P1D reminder a London day before due, the due itself, the first
# overdue tick a London day after due.
_WAVE_DUE_AT = """CASE w.kind
    WHEN 'reminder' THEN ((w.fire_at AT TIME ZONE 'Europe/London') + interval '1 day') AT TIME ZONE 'Europe/London'
    WHEN 'due' THEN w.fire_at
    ELSE ((w.fire_at AT TIME ZONE 'Europe/London') - interval '1 day') AT TIME ZONE 'Europe/London' END"""


async def schedule_wave(conn: Connection, start: dt.datetime, count: int, rate: float) -> None:
    await conn.execute(
        """CREATE TABLE IF NOT EXISTS bench_wave (incident_id uuid PRIMARY KEY, kind text NOT NULL,
               fire_at timestamptz NOT NULL, due_at timestamptz)"""
    )
    async with conn.transaction():
        await conn.execute(
            """INSERT INTO bench_wave (incident_id, kind, fire_at)
               SELECT md5('wave-' || i)::uuid, (ARRAY['reminder', 'due', 'overdue'])[1 + i % 3],
                      $1::timestamptz + make_interval(secs => i / $3::float8)
               FROM generate_series(0, $2::int - 1) AS i""",
            start,
            count,
            rate,
        )
        await conn.execute(f"UPDATE bench_wave w SET due_at = {_WAVE_DUE_AT}")
        await conn.execute(
            """INSERT INTO incident_deadlines (incident_id, trust, site, correlation_id, state, updated_at)
               SELECT w.incident_id, 'RXX', 'RXX01', 'bench-wave',
                      jsonb_build_object(
                          'incident_id', w.incident_id::text, 'notifiable', true, 'authority', 'cqc',
                          'discovered_on', d.discovered_on,
                          'windows', jsonb_build_array(jsonb_build_object(
                              'window', 'notification', 'status', 'open', 'discovered_on', d.discovered_on,
                              'due_at', to_char(w.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                              'authority', 'cqc', 'extensions', '[]'::jsonb, 'met_at', NULL))),
                      now()
               FROM bench_wave w
               CROSS JOIN LATERAL (SELECT ((w.due_at AT TIME ZONE 'Europe/London')::date - 15)::text
                                   AS discovered_on) AS d"""
        )
        await conn.execute(
            """INSERT INTO windows (incident_id, window_kind, trust, site, status, discovered_on, due_at, authority)
               SELECT incident_id, 'notification', 'RXX', 'RXX01', 'open',
                      (due_at AT TIME ZONE 'Europe/London')::date - 15, due_at, 'cqc'
               FROM bench_wave"""
        )
        await conn.execute(
            """INSERT INTO timers (incident_id, window_kind, kind, fire_at, due_at, days_before, days_overdue)
               SELECT incident_id, 'notification', kind, fire_at, due_at,
                      CASE WHEN kind = 'reminder' THEN 1 END, CASE WHEN kind = 'overdue' THEN 1 END
               FROM bench_wave"""
        )


# -- the process ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Process:
    service: devstack.RunningService
    peak_rss_mb: float = 0.0

    def rss_mb(self) -> tuple[float, float]:
        """(current, peak) resident set size of the process, in MiB."""
        fields = {}
        for line in Path(f"/proc/{self.service.process.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        now = int(fields["VmRSS"].split()[0]) / 1024
        self.peak_rss_mb = max(self.peak_rss_mb, int(fields["VmHWM"].split()[0]) / 1024)
        return now, self.peak_rss_mb


@contextmanager
def deadlines_process(env: dict[str, str], log_dir: Path) -> Iterator[Process]:
    port = free_port()
    service = devstack.start("deadlines", {**env, "DEADLINES_HTTP_PORT": str(port)}, port, log_dir)
    try:
        yield Process(service)
    finally:
        devstack.stop(service)


async def poll(
    check: Callable[[], object],
    *,
    every: float,
    cap: float,
    report: Callable[[float], str],
    report_every: float,
) -> bool:
    """Run ``check`` every ``every`` s until it returns true or ``cap`` s pass; print progress."""
    begin = time.monotonic()
    last_report = begin
    while True:
        done = check()
        if asyncio.iscoroutine(done):
            done = await done
        now = time.monotonic()
        if done:
            return True
        if now - begin > cap:
            return False
        if now - last_report >= report_every:
            say(report(now - begin))
            last_report = now
        await asyncio.sleep(every)  # a poll interval, not a wait for an outcome


# -- the phases -------------------------------------------------------------------------------


@dataclass
class Loaded:
    incidents: int
    timers: int
    overdue: int
    overdue_by_kind: dict[str, int]
    seconds: float


@asynccontextmanager
async def bulk_load(conn: Connection, tables: list[str]) -> AsyncIterator[None]:
    """Load without per-row foreign-key checks and index upkeep, then put the foreign keys and
    secondary indexes back exactly as the migrations made them (their definitions are read from
    the catalogue first)."""
    constraints = await conn.fetch(
        """SELECT conrelid::regclass::text AS tbl, conname, pg_get_constraintdef(oid) AS def
           FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = ANY($1)""",
        tables,
    )
    indexes = await conn.fetch(
        """SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
           FROM pg_index i WHERE i.indrelid::regclass::text = ANY($1) AND NOT i.indisprimary""",
        tables,
    )
    for c in constraints:
        await conn.execute(f'ALTER TABLE {c["tbl"]} DROP CONSTRAINT "{c["conname"]}"')
    for i in indexes:
        await conn.execute(f"DROP INDEX {i['name']}")
    yield
    for i in indexes:
        await conn.execute(i["def"])
    for c in constraints:
        await conn.execute(f'ALTER TABLE {c["tbl"]} ADD CONSTRAINT "{c["conname"]}" {c["def"]}')


async def load(conn: Connection, target: int, overdue_target: int, now: dt.datetime) -> Loaded:
    """``target`` pending timers in all, ``overdue_target`` of them overdue now.

    Most incidents are planned now, so nothing of theirs is due before the next London midnight.
    The rest are planned an hour before the last London midnight and not fired since (the
    process was down over midnight): their timers at that midnight are the overdue backlog,
    mostly the daily overdue ticks of missed windows, some reminders and dues.
    """
    say(f"load: planning templates ({len(OFFSETS)} discovery days x {CLASSES} classes)")
    begin = time.monotonic()
    today = now.astimezone(LONDON).date()
    outage_planned = london_midnight(today) - dt.timedelta(hours=1)
    outage = templates(outage_planned.astimezone(LONDON).date(), outage_planned, due_by=now)
    outage_due = outage.timers_per_template(due=True)
    outage_all = [a + b for a, b in zip(outage_due, outage.timers_per_template(due=False), strict=True)]
    n_outage = incidents_for(outage_due, overdue_target)
    outage_timers = sum(outage_all[i % outage.count] for i in range(n_outage))
    background = templates(today, now, due_by=now)
    n_background = incidents_for(background.timers_per_template(due=False), target - outage_timers)
    say(f"load: {n_background:,} incidents planned now, {n_outage:,} planned before the last midnight")
    async with bulk_load(conn, ["timers", "windows"]):
        for tag, tpl, n in (("bench-bg", background, n_background), ("bench-outage", outage, n_outage)):
            for first in range(0, n, 100_000):
                await stamp(conn, tag, tpl, first, min(n, first + 100_000) - 1)
                say(f"load: {tag} {min(n, first + 100_000):,}/{n:,} incidents")
        say("load: rebuilding indexes and foreign keys")
    await conn.execute("ANALYZE")
    timers = await conn.fetchval("SELECT count(*) FROM timers")
    by_kind = {
        r["kind"]: r["count"]
        for r in await conn.fetch("SELECT kind, count(*) FROM timers WHERE fire_at <= $1 GROUP BY kind", now)
    }
    tomorrow = london_midnight(today + dt.timedelta(days=1))
    between = await conn.fetchval(
        "SELECT count(*) FROM timers WHERE fire_at > $1 AND fire_at < $2", now, tomorrow
    )
    assert between == 0, "nothing but the backlog may come due during the bench"
    return Loaded(n_background + n_outage, timers, sum(by_kind.values()), by_kind, time.monotonic() - begin)


@dataclass
class Backlog:
    overdue: int
    ready_s: float
    cleared_s: float | None
    published_s: float | None
    remaining: int
    rate: float
    peak_rss_mb: float
    cpu_s: float
    """CPU time of the deadlines process from ready to cleared (or the cap): on a shared machine
    the figure to compare, as the wall time moves with everyone else's load."""


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def backlog(
    conn: Connection, env: dict[str, str], log_dir: Path, now: dt.datetime, cap: float
) -> Backlog:
    """Start the process over the overdue backlog and time until no timer due at ``now`` is left."""
    overdue: int = await conn.fetchval("SELECT count(*) FROM timers WHERE fire_at <= $1", now)
    say(f"backlog: {overdue:,} overdue timers; starting the process")

    async def due() -> int:
        left: int = await conn.fetchval("SELECT count(*) FROM timers WHERE fire_at <= $1", now)
        return left

    async def all_published() -> bool:
        left: int = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        return left == 0

    with deadlines_process(env, log_dir / "backlog") as process:
        spawned = time.monotonic()
        await asyncio.to_thread(devstack.wait_ready, [process.service])
        ready_s = time.monotonic() - spawned
        say(f"backlog: ready after {ready_s:.1f}s")
        cpu_at_ready = cpu_seconds(process.service.process.pid)
        remaining = overdue

        async def cleared() -> bool:
            nonlocal remaining
            remaining = await due()
            process.rss_mb()
            return remaining == 0

        def progress(elapsed: float) -> str:
            rss, _ = process.rss_mb()
            return f"backlog: {overdue - remaining:,}/{overdue:,} fired, RSS {rss:.0f} MiB"

        done = await poll(cleared, every=0.2, cap=cap, report=progress, report_every=5)
        cleared_s = time.monotonic() - spawned if done else None
        elapsed = time.monotonic() - spawned
        rate = (overdue - remaining) / max(elapsed - ready_s, 1e-9)
        cpu_s = cpu_seconds(process.service.process.pid) - cpu_at_ready
        per_thousand = cpu_s * 1e6 / max(overdue - remaining, 1)
        say(
            f"backlog: deadlines process CPU {cpu_s:.1f}s while firing, {per_thousand:.0f} ms per 1,000 timers"
        )
        published_s = None
        if done:
            say(f"backlog: cleared after {cleared_s:.1f}s; waiting for the relay")
            if await poll(
                all_published,
                every=0.2,
                cap=20,
                report=lambda _: "backlog: relay publishing",
                report_every=5,
            ):
                published_s = time.monotonic() - spawned
        else:
            say(f"backlog: NOT cleared after {cap:.0f}s of firing: {remaining:,} left")
        _, peak = process.rss_mb()
        return Backlog(overdue, ready_s, cleared_s, published_s, remaining, rate, peak, cpu_s)


@dataclass
class Wave:
    scheduled: int
    fired: int
    early: int
    lateness: list[float]
    built_lateness: list[float]
    throughput: float


async def wave(conn: Connection, process: Process, count: int, rate: float, cap: float) -> Wave:
    start = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    await schedule_wave(conn, start, count, rate)
    lead = (start - dt.datetime.now(dt.UTC)).total_seconds()
    say(f"wave: {count:,} timers, {rate:,.0f}/s from {start:%H:%M:%S.%f}Z ({lead:.1f}s from now)")
    assert lead > 0, "scheduling the wave took longer than its lead time"
    fire_at = {
        r["incident_id"]: r["fire_at"]
        for r in await conn.fetch("SELECT incident_id, fire_at FROM bench_wave")
    }
    position = await conn.fetchval("SELECT coalesce(max(position), 0) FROM outbox")
    seen: dict[uuid.UUID, dt.datetime] = {}
    built: dict[uuid.UUID, dt.datetime] = {}

    async def observe() -> bool:
        # One process fires in one loop, one transaction after another, so outbox rows become
        # visible in position order and each poll only needs the rows after the last one seen.
        nonlocal position
        rows = await conn.fetch(
            """SELECT position, (envelope->>'stream_id')::uuid AS incident,
                      (envelope->>'recorded_at')::timestamptz AS recorded_at
               FROM outbox WHERE position > $1 ORDER BY position""",
            position,
        )
        at = dt.datetime.now(dt.UTC)
        for r in rows:
            if r["incident"] in fire_at and r["incident"] not in seen:
                seen[r["incident"]] = at
                built[r["incident"]] = r["recorded_at"]
        if rows:
            position = max(position, rows[-1]["position"])
        process.rss_mb()
        return len(seen) == count

    def progress(_: float) -> str:
        now = dt.datetime.now(dt.UTC)
        due = sum(1 for t in fire_at.values() if t <= now)
        rss, _peak = process.rss_mb()
        return f"wave: {due:,} due, {len(seen):,} fired, {due - len(seen):,} behind, RSS {rss:.0f} MiB"

    end = start + dt.timedelta(seconds=count / rate)
    budget = (end - dt.datetime.now(dt.UTC)).total_seconds() + cap
    done = await poll(observe, every=0.02, cap=budget, report=progress, report_every=5)
    if not done:
        say(f"wave: NOT all fired {cap:.0f}s after the last came due: {count - len(seen):,} left")
    lateness = sorted((seen[i] - fire_at[i]).total_seconds() for i in seen)
    built_lateness = sorted((built[i] - fire_at[i]).total_seconds() for i in built)
    last = max(seen.values(), default=start)
    return Wave(
        scheduled=count,
        fired=len(seen),
        early=sum(1 for x in built_lateness if x < 0),
        lateness=lateness,
        built_lateness=built_lateness,
        throughput=len(seen) / max((last - start).total_seconds(), 1e-9),
    )


def pct(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return float("nan")
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def sizes(conn: Connection) -> list[tuple[str, int, int]]:
    rows = await conn.fetch(
        """SELECT c.relname, pg_table_size(c.oid) AS tbl, pg_indexes_size(c.oid) AS idx
           FROM pg_class c WHERE c.relname = ANY($1) ORDER BY c.relname""",
        ["timers", "incident_deadlines", "windows", "outbox"],
    )
    return [(r["relname"], r["tbl"], r["idx"]) for r in rows]


# -- main -------------------------------------------------------------------------------------


def database_url(base: str, name: str) -> str:
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


async def run(args: argparse.Namespace) -> None:
    base_url = os.environ.get("DEADLINES_DATABASE_URL")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not base_url or not bootstrap:
        raise SystemExit('run inside the local stack\'s environment: eval "$(bash scripts/stack.sh env)"')
    now = dt.datetime.now(dt.UTC)
    to_midnight = london_midnight(now.astimezone(LONDON).date() + dt.timedelta(days=1)) - now
    if to_midnight < dt.timedelta(minutes=6):
        say("warning: a London midnight falls within the run; every overdue window ticks then")
    name = f"bench_deadlines_{uuid.uuid4().hex[:8]}"
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    url = database_url(base_url, name)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA_TOPIC_PREFIX": prefix,
        "DEADLINES_DATABASE_URL": url,
        "DEADLINES_ENVIRONMENT": "test",
    }
    admin = await asyncpg.connect(base_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    pool = await create_pool(url, max_size=2)
    logs = tempfile.TemporaryDirectory(prefix="bench-deadlines-")
    log_dir = Path(logs.name)
    try:
        await migrate(pool, "sievert_deadlines.migrations")
        async with pool.acquire() as conn:
            loaded = await load(conn, args.timers, args.backlog, now)
            say(
                f"load: {loaded.timers:,} pending timers on {loaded.incidents:,} incidents in "
                f"{loaded.seconds:.1f}s; overdue {loaded.overdue:,} {loaded.overdue_by_kind}"
            )
            loaded_sizes = await sizes(conn)

            outage = await backlog(conn, env, log_dir, now, args.cap)
            if outage.remaining:
                # Left over, it would be fired during the wave and hide the wave's own figures.
                await conn.execute("DELETE FROM timers WHERE fire_at <= $1", now)
                say(f"backlog: dropped the {outage.remaining:,} timers left so the wave starts clean")

            with deadlines_process(env, log_dir / "wave") as process:
                await asyncio.to_thread(devstack.wait_ready, [process.service])
                pending = await conn.fetchval("SELECT count(*) FROM timers")
                say(f"wave: process ready; {pending:,} timers pending")
                steady = await wave(conn, process, int(args.rate * args.seconds), args.rate, args.drain)
                rss, peak = process.rss_mb()
            final_sizes = await sizes(conn)
            database = await conn.fetchval("SELECT pg_database_size(current_database())")
        report(args, loaded, loaded_sizes, outage, steady, rss, peak, final_sizes, database)
        if args.json:
            write_json(args.json, args, loaded, loaded_sizes, outage, steady, max(peak, outage.peak_rss_mb))
    finally:
        await pool.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        await delete_topics_with_prefix(KafkaSettings(bootstrap_servers=bootstrap), prefix)
        logs.cleanup()


def report(
    args: argparse.Namespace,
    loaded: Loaded,
    loaded_sizes: list[tuple[str, int, int]],
    outage: Backlog,
    steady: Wave,
    rss: float,
    peak: float,
    final_sizes: list[tuple[str, int, int]],
    database: int,
) -> None:
    mib = 1024 * 1024
    print()
    print(
        f"deadlines timers: {loaded.timers:,} pending on {loaded.incidents:,} incidents, "
        f"{loaded.overdue:,} of them overdue at the start (loaded in {loaded.seconds:.0f}s)"
    )
    late = steady.lateness
    p50, p95, p99 = pct(late, 0.50), pct(late, 0.95), pct(late, 0.99)
    ok = "meets" if steady.fired == steady.scheduled and p99 <= TARGET_P99_S else "MISSES"
    print(
        f"(a) {args.rate:,.0f} timers/s due for {args.seconds:.0f}s: {steady.fired:,}/{steady.scheduled:,} fired, "
        f"throughput {steady.throughput:,.0f} timers/s"
    )
    print(
        f"    lateness (committed - fire_at): p50 {p50:.3f}s  p95 {p95:.3f}s  p99 {p99:.3f}s  "
        f"max {max(late, default=float('nan')):.3f}s  (target p99 <= {TARGET_P99_S:.0f}s: {ok})"
    )
    built = steady.built_lateness
    print(
        f"    never early: {'yes' if steady.early == 0 else f'NO, {steady.early} early'} "
        f"(event built at fire_at + {min(built, default=float('nan')):.3f}s at the earliest; "
        f"p50 {pct(built, 0.5):.3f}s)"
    )
    if outage.cleared_s is not None:
        verdict = "meets" if outage.cleared_s <= TARGET_BACKLOG_S else "MISSES"
        published = f"; all published to Kafka after {outage.published_s:.1f}s" if outage.published_s else ""
        print(
            f"(b) overdue backlog of {outage.overdue:,}: cleared {outage.cleared_s:.1f}s after the (re)start "
            f"(ready after {outage.ready_s:.1f}s; {outage.rate:,.0f} timers/s){published} "
            f"(target <= {TARGET_BACKLOG_S:.0f}s: {verdict})"
        )
    else:
        eta = outage.ready_s + outage.overdue / max(outage.rate, 1e-9)
        print(
            f"(b) overdue backlog of {outage.overdue:,}: NOT cleared within the {args.cap:.0f}s cap, "
            f"{outage.remaining:,} left; {outage.rate:,.0f} timers/s, so about {eta:.0f}s in all "
            f"(target <= {TARGET_BACKLOG_S:.0f}s: MISSES)"
        )
    print(
        f"(c) process RSS: {outage.peak_rss_mb:.0f} MiB peak through the backlog; {rss:.0f} MiB after the wave, "
        f"{peak:.0f} MiB peak; PostgreSQL database {database / mib:,.0f} MiB"
    )
    for label, rows in (("after load", loaded_sizes), ("at the end", final_sizes)):
        parts = [f"{n} {t / mib:,.0f}+{i / mib:,.0f}" for n, t, i in rows]
        print(f"    table+index MiB {label}: {', '.join(parts)}")


def write_json(
    path: str,
    args: argparse.Namespace,
    loaded: Loaded,
    loaded_sizes: list[tuple[str, int, int]],
    outage: Backlog,
    steady: Wave,
    peak_rss_mb: float,
) -> None:
    """Figures and table rows (measure, result, target, verdict) for ``bench/run_all.py``."""
    late = steady.lateness
    p50, p95, p99 = pct(late, 0.50), pct(late, 0.95), pct(late, 0.99)
    timers_mib = next(((t + i) / 2**20 for n, t, i in loaded_sizes if n == "timers"), 0.0)
    wave_ok = steady.fired == steady.scheduled and p99 <= TARGET_P99_S
    cleared = outage.cleared_s
    figures = {
        "timers": loaded.timers,
        "wave_rate": args.rate,
        "wave_fired": steady.fired,
        "wave_scheduled": steady.scheduled,
        "wave_throughput_per_second": steady.throughput,
        "lateness_p50_s": p50,
        "lateness_p95_s": p95,
        "lateness_p99_s": p99,
        "early": steady.early,
        "backlog": outage.overdue,
        "backlog_cleared_s": cleared,
        "backlog_per_second": outage.rate,
        "backlog_left": outage.remaining,
        "rss_peak_mib": peak_rss_mb,
        "timers_table_and_index_mib": timers_mib,
    }
    backlog_result = (
        f"{cleared:.1f}s ({outage.rate:,.0f}/s)"
        if cleared is not None
        else f"not in {args.cap:.0f}s: {outage.remaining:,} left ({outage.rate:,.0f}/s)"
    )
    rows = [
        [
            f"timers due at {args.rate:,.0f}/s: lateness p99 (p50, p95)",
            f"{p99:.3f}s ({p50:.3f}s, {p95:.3f}s)",
            f"<= {TARGET_P99_S:.0f}s",
            "meets" if wave_ok else "MISSES",
        ],
        ["timers fired before fire_at", f"{steady.early}", "0", "meets" if steady.early == 0 else "MISSES"],
        [f"timer firing throughput at {args.rate:,.0f}/s due", f"{steady.throughput:,.0f}/s", "", ""],
        [
            f"overdue backlog of {outage.overdue:,} cleared after a restart",
            backlog_result,
            f"<= {TARGET_BACKLOG_S:.0f}s",
            "meets" if cleared is not None and cleared <= TARGET_BACKLOG_S else "MISSES",
        ],
        ["deadlines process RSS, peak", f"{peak_rss_mb:.0f} MiB", "", ""],
        [f"timers table+indexes at {loaded.timers:,}", f"{timers_mib:.0f} MiB", "", ""],
    ]
    Path(path).write_text(json.dumps({"bench": "deadlines", "figures": figures, "rows": rows}, indent=1))


async def count_statements(incidents: int, batch: int) -> None:
    """``--statements``: statements and process CPU per incident on the consumer's apply path."""
    import inspect

    from bench.bench_intake import incident_facts
    from sievert_classifier.domain import classify
    from sievert_deadlines.entrypoints.consumers import consumer_handlers
    from sievert_deadlines.service_layer.deadlines import DeadlinesService
    from sievert_deadlines.service_layer.tasks import TasksService
    from sievert_deadlines.settings import DeadlinesSettings
    from sievert_shared.clock import SystemClock
    from sievert_shared.envelope import Tenant
    from sievert_shared.events import REGISTRY, IncidentClassified
    from sievert_shared.facts import IncidentFacts
    from sievert_shared.outbox import build_envelope
    from sievert_shared.runtime import ServiceRuntime

    base_url = os.environ.get("DEADLINES_DATABASE_URL")
    if not base_url:
        raise SystemExit('run inside the local stack\'s environment: eval "$(bash scripts/stack.sh env)"')
    name = f"bench_deadlines_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(base_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        runtime = ServiceRuntime(
            name="deadlines",
            settings=DeadlinesSettings(database_url=database_url(base_url, name), environment="test"),
            migrations_package="sievert_deadlines.migrations",
            clock=SystemClock(),
            relay=False,
        )
        tasks = TasksService(runtime)
        service = DeadlinesService(runtime, observers=[tasks.on_window_events])
        batched = "batched" in inspect.signature(consumer_handlers).parameters
        handlers = consumer_handlers(service, tasks, **({"batched": True} if batched else {}))
        after_batch = getattr(handlers, "after_batch", None)
        before_batch = getattr(handlers, "before_batch", None)
        today = dt.datetime.now(dt.UTC).date()
        decision = classify(IncidentFacts.model_validate(incident_facts(today)))
        envelopes = [
            build_envelope(
                IncidentClassified(decision=decision, discovered_on=today, facts_version=1),
                stream_id=incident,
                stream_version=2,
                tenant=Tenant(trust="RXX", site="RXX01"),
                correlation_id=f"bench-{incident}",
                producer="classifier",
                now=dt.datetime.now(dt.UTC),
            )
            for incident in (uuid.uuid4() for _ in range(incidents))
        ]
        sent = 0

        def counted(_record: object) -> None:
            nonlocal sent
            sent += 1

        async with runtime.lifespan(), runtime.pool.acquire() as conn:
            # the pool's proxy does not pass the query logger API through
            raw = cast(asyncpg.Connection, getattr(conn, "_con", conn))
            raw.add_query_logger(counted)
            backend = await conn.fetchval("SELECT pg_backend_pid()")
            backend_cpu = cpu_seconds(backend)
            cpu = time.process_time()
            for first in range(0, len(envelopes), batch):
                chunk = envelopes[first : first + batch]
                async with conn.transaction():
                    if before_batch is not None:
                        await before_batch(conn, chunk)
                    for envelope in chunk:
                        await handlers[envelope.event_type](conn, envelope, REGISTRY.decode(envelope))
                    if after_batch is not None:
                        await after_batch(conn, chunk)
            cpu = time.process_time() - cpu
            backend_cpu = cpu_seconds(backend) - backend_cpu
            raw.remove_query_logger(counted)
            rows = await conn.fetchval("SELECT count(*) FROM outbox")
        say(
            f"statements: {incidents:,} IncidentClassified in batches of {batch} "
            f"({'batched' if after_batch else 'per event'}): {sent:,} statements, "
            f"{sent / incidents:.1f} per incident; {rows:,} events emitted; "
            f"cpu ms per incident: process {1000 * cpu / incidents:.2f}, "
            f"its PostgreSQL backend {1000 * backend_cpu / incidents:.2f}"
        )
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--timers", type=int, default=1_000_000, help="pending timers to load")
    parser.add_argument("--backlog", type=int, default=100_000, help="overdue timers at the restart")
    parser.add_argument("--rate", type=float, default=1_000, help="timers coming due per second")
    parser.add_argument("--seconds", type=float, default=30, help="how long they keep coming due")
    parser.add_argument("--cap", type=float, default=75, help="longest wait for the backlog, seconds")
    parser.add_argument("--drain", type=float, default=45, help="longest wait after the wave, seconds")
    parser.add_argument("--json", help="write the figures here for run_all")
    parser.add_argument(
        "--statements", type=int, default=0, help="instead: count the consumer's statements for N incidents"
    )
    parser.add_argument("--statement-batch", type=int, default=20, help="events per batch for --statements")
    args = parser.parse_args()
    try:
        if args.statements:
            asyncio.run(count_statements(args.statements, args.statement_batch))
            return
        asyncio.run(run(args))
    except KeyboardInterrupt:
        say("interrupted; the process, database and topics were cleaned up")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
