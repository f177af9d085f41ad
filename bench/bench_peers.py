"""Peers side by side: Sievert's event store and durable timers against two open-source peers.

Same PostgreSQL server (the local stack's), a fresh database for each side, run one after the
other in the same process run:

1. **Appends/s**: intake's real append path (``event_store.append`` and its outbox row in one
   transaction, used directly, not over HTTP) against the PostgreSQL application recorder of
   ``eventsourcing`` (``insert_events``: the event and its notification id in one transaction).
   The same ~1.6 KB IncidentReported envelope, the same streams and events per stream, the same
   number of connections and writers (asyncio tasks for Sievert, threads for the synchronous
   recorder), one committed transaction per event on both sides (synchronous_commit as the server
   has it).
2. **Timers fired/s and lateness**: the deadlines process (its real timer loop and claim path,
   driven as ``bench_deadlines.py`` drives it: a wave of timers due at a steady rate, lateness =
   the event seen committed in the outbox minus the timer's instant) against ``procrastinate``
   jobs deferred with ``schedule_at`` for the same instants and run by an in-process worker
   (lateness = the task starting minus its instant; the task does nothing, so the peer's
   figure carries no work of its own while Sievert's includes firing the domain rules and
   writing events).

    .venv/bin/python bench/bench_peers.py [--streams 1000] [--events-per-stream 3] [--writers 8]
                                          [--timer-rate 5000] [--timer-seconds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: bench/ is not a package

from bench.bench_deadlines import database_url, deadlines_process, pct, wave
from bench.bench_intake import incident_facts
from sievert_intake.adapters import event_store
from sievert_shared.db import create_pool, migrate
from sievert_shared.envelope import EventEnvelope, Tenant
from sievert_shared.events import IncidentReported
from sievert_shared.facts import IncidentFacts
from sievert_shared.kafka import delete_topics_with_prefix
from sievert_shared.outbox import build_envelope, enqueue
from sievert_shared.settings import KafkaSettings
from sievert_shared.testing import devstack
from sievert_shared.topics import Topics

APPEND_TARGET_RATIO = 1.5
TIMER_TARGET_RATIO = 2.0
T0 = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s] {message}", flush=True)


def template() -> EventEnvelope:
    facts = IncidentFacts.model_validate(incident_facts(dt.date(2025, 6, 2)))
    return build_envelope(
        IncidentReported(facts=facts, channel="json", source_message_id=f"bench-{uuid.uuid4().hex}"),
        stream_id=uuid.uuid4(),
        stream_version=1,
        tenant=Tenant(trust="RXX", site="RXX01"),
        correlation_id=f"bench-peers-{uuid.uuid4()}",
        producer="intake",
        now=dt.datetime.now(dt.UTC),
    )


def stamped(base: EventEnvelope, stream: uuid.UUID, version: int) -> EventEnvelope:
    """The template as a new event of ``stream``: its own id and source message id (intake keeps
    a sender's message id unique per trust)."""
    event_id = uuid.uuid4()
    payload = {**base.payload, "source_message_id": f"bench-{event_id.hex}"}
    return base.model_copy(
        update={"event_id": event_id, "stream_id": stream, "stream_version": version, "payload": payload}
    )


def plan(streams: int, per_stream: int, writers: int) -> list[list[tuple[uuid.UUID, int]]]:
    """Each writer's (stream, version) list: streams split between writers, so no two writers
    append to one stream (neither side is measured on its conflict path), versions in order,
    streams interleaved so each writer's appends spread over its streams."""
    ids = [uuid.uuid4() for _ in range(streams)]
    shares: list[list[tuple[uuid.UUID, int]]] = [[] for _ in range(writers)]
    for version in range(1, per_stream + 1):
        for i, stream in enumerate(ids):
            shares[i % writers].append((stream, version))
    return shares


async def sievert_appends(url: str, shares: list[list[tuple[uuid.UUID, int]]]) -> float:
    pool = await create_pool(url, max_size=len(shares))
    topics = Topics()
    base = template()
    try:
        await migrate(pool, "sievert_intake.migrations")

        async def writer(share: list[tuple[uuid.UUID, int]]) -> None:
            for stream, version in share:
                envelope = stamped(base, stream, version)
                async with pool.acquire() as conn, conn.transaction():
                    await event_store.append(conn, [envelope])
                    await enqueue(conn, topics, [envelope])

        started = time.perf_counter()
        await asyncio.gather(*(writer(share) for share in shares))
        seconds = time.perf_counter() - started
        stored = await pool.fetchval("SELECT count(*) FROM events")
        queued = await pool.fetchval("SELECT count(*) FROM outbox")
        total = sum(len(s) for s in shares)
        assert stored == total and queued == total, (stored, queued, total)
        return total / seconds
    finally:
        await pool.close()


def eventsourcing_appends(url: str, shares: list[list[tuple[uuid.UUID, int]]]) -> float:
    from eventsourcing.persistence import StoredEvent
    from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

    parts = urlsplit(url)
    datastore = PostgresDatastore(
        dbname=parts.path.lstrip("/"),
        host=parts.hostname or "localhost",
        port=parts.port or 5432,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        pool_size=len(shares),
        max_overflow=0,
    )
    try:
        recorder = PostgresApplicationRecorder(datastore)
        recorder.create_table()
        base = template()
        errors: list[BaseException] = []

        def writer(share: list[tuple[uuid.UUID, int]]) -> None:
            try:
                for stream, version in share:
                    envelope = stamped(base, stream, version)
                    state = json.dumps(envelope.model_dump(mode="json")).encode()
                    recorder.insert_events([StoredEvent(stream, version, "IncidentReported", state)])
            except BaseException as exc:  # reported after the join, not lost in the thread
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(share,)) for share in shares]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - started
        if errors:
            raise errors[0]
        total = sum(len(s) for s in shares)
        stored = len(recorder.select_notifications(start=None, limit=total + 1))
        assert stored == total, (stored, total)
        return total / seconds
    finally:
        datastore.close()


async def sievert_timers(
    url: str, env: dict[str, str], count: int, rate: float, cap: float
) -> dict[str, float]:
    pool = await create_pool(url, max_size=2)
    logs = tempfile.TemporaryDirectory(prefix="bench-peers-")
    try:
        await migrate(pool, "sievert_deadlines.migrations")
        with deadlines_process({**env, "DEADLINES_DATABASE_URL": url}, Path(logs.name)) as process:
            await asyncio.to_thread(devstack.wait_ready, [process.service])
            async with pool.acquire() as conn:
                result = await wave(conn, process, count, rate, cap)
        return {
            "fired": result.fired,
            "per_second": result.throughput,
            "p50": pct(result.lateness, 0.50),
            "p99": pct(result.lateness, 0.99),
            "early": result.early,
        }
    finally:
        await pool.close()
        logs.cleanup()


async def procrastinate_timers(
    url: str, count: int, rate: float, cap: float, concurrency: int
) -> dict[str, float]:
    import procrastinate

    parts = urlsplit(url)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))
    started: dict[int, float] = {}

    @app.task(name="timer", pass_context=False)
    async def timer(i: int) -> None:
        started.setdefault(i, time.time())

    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        # Deferred per 50 ms slot, one round trip each (at 10 ms, a busy machine took longer to
        # defer them than the lead); each job's instant is its slot's.
        lead = 15.0
        start = time.time() + lead
        due: dict[int, float] = {}
        slots: dict[float, list[int]] = {}
        for i in range(count):
            slot = start + 0.05 * int(i / rate / 0.05)
            slots.setdefault(slot, []).append(i)
            due[i] = slot
        for slot, members in slots.items():
            at = dt.datetime.fromtimestamp(slot, dt.UTC)
            jobs: list[dict[str, Any]] = [{"i": i} for i in members]
            await timer.configure(schedule_at=at).batch_defer_async(*jobs)
        left = start - time.time()
        say(f"procrastinate: {count:,} jobs deferred on {parts.path.lstrip('/')}, first due in {left:.1f}s")
        assert left > 0, "deferring took longer than the lead time"
        worker = asyncio.create_task(
            app.run_worker_async(
                concurrency=concurrency,
                wait=True,
                fetch_job_polling_interval=0.05,
                install_signal_handlers=False,
                delete_jobs="successful",
            )
        )
        deadline = start + count / rate + cap
        last_report = time.time()
        while len(started) < count and time.time() < deadline:
            await asyncio.sleep(0.05)
            if time.time() - last_report >= 5:
                last_report = time.time()
                now = time.time()
                behind = sum(1 for t in due.values() if t <= now) - len(started)
                say(f"procrastinate: {len(started):,} fired, {behind:,} behind")
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    lateness = sorted(started[i] - due[i] for i in started)
    last = max(started.values(), default=start)
    return {
        "fired": len(started),
        "per_second": len(started) / max(last - start, 1e-9),
        "p50": pct(lateness, 0.50),
        "p99": pct(lateness, 0.99),
        "early": sum(1 for x in lateness if x < 0),
    }


async def fresh(admin: asyncpg.Connection, base: str, name: str, made: list[str]) -> str:
    await admin.execute(f'CREATE DATABASE "{name}"')
    made.append(name)
    url: str = database_url(base, name)
    return url


def attempt(label: str, run: Callable[[], Any]) -> Any:
    """A peer that cannot be imported or run is reported as such, with the reason, not as a figure."""
    try:
        return run()
    except Exception as exc:
        say(f"{label}: could not run: {type(exc).__name__}: {exc}")
        return f"{type(exc).__name__}: {exc}"


async def run(args: argparse.Namespace) -> dict[str, Any]:
    base = os.environ.get("INTAKE_DATABASE_URL") or os.environ.get("DEADLINES_DATABASE_URL")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not base or not bootstrap:
        raise SystemExit('run inside the local stack\'s environment: eval "$(bash scripts/stack.sh env)"')
    tag = uuid.uuid4().hex[:8]
    prefix = f"bench-{tag}"
    env = {**os.environ, "KAFKA_TOPIC_PREFIX": prefix, "DEADLINES_ENVIRONMENT": "test"}
    admin = await asyncpg.connect(base)
    made: list[str] = []
    figures: dict[str, Any] = {"bench": "peers"}
    try:
        shares = plan(args.streams, args.events_per_stream, args.writers)
        total = args.streams * args.events_per_stream
        sample = template()
        size, payload = len(sample.model_dump_json()), len(json.dumps(sample.payload))
        say(
            f"appends: {total:,} events ({size:,} B envelope, {payload:,} B payload) on {args.streams:,} streams, "
            f"{args.writers} writers and connections each"
        )
        url = await fresh(admin, base, f"bench_peers_{tag}_sievert", made)
        ours = await sievert_appends(url, shares)
        say(f"appends: sievert {ours:,.0f}/s")
        url = await fresh(admin, base, f"bench_peers_{tag}_es", made)
        theirs = await asyncio.to_thread(attempt, "eventsourcing", lambda: eventsourcing_appends(url, shares))
        if isinstance(theirs, float):
            say(f"appends: eventsourcing {theirs:,.0f}/s")
        figures["appends"] = {"sievert": ours, "eventsourcing": theirs}

        count = int(args.timer_rate * args.timer_seconds)
        say(f"timers: {count:,} due at {args.timer_rate:,.0f}/s for {args.timer_seconds:.0f}s")
        url = await fresh(admin, base, f"bench_peers_{tag}_timers", made)
        our_timers = await sievert_timers(url, env, count, args.timer_rate, args.cap)
        say(f"timers: sievert {our_timers['fired']:,.0f} fired, {our_timers['per_second']:,.0f}/s")
        url = await fresh(admin, base, f"bench_peers_{tag}_procrastinate", made)
        try:
            their_timers: dict[str, float] | str = await procrastinate_timers(
                url, count, args.timer_rate, args.cap, args.worker_concurrency
            )
        except Exception as exc:
            their_timers = f"{type(exc).__name__}: {exc}"
            say(f"procrastinate: could not run: {their_timers}")
        figures["timers"] = {"sievert": our_timers, "procrastinate": their_timers}
        report(args, total, figures)
        return figures
    finally:
        for name in made:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        await delete_topics_with_prefix(KafkaSettings(bootstrap_servers=bootstrap), prefix)


def rows(figures: dict[str, Any]) -> list[list[str]]:
    appends, timers = figures["appends"], figures["timers"]
    ours, theirs = appends["sievert"], appends["eventsourcing"]
    out = [["appends/s sievert", f"{ours:,.0f}", "", ""]]
    if isinstance(theirs, float):
        out.append(["appends/s eventsourcing", f"{theirs:,.0f}", "", ""])
        ratio = ours / theirs
        verdict = "meets" if ratio >= APPEND_TARGET_RATIO else "MISSES"
        out.append(
            ["appends ratio sievert/eventsourcing", f"{ratio:.2f}x", f">= {APPEND_TARGET_RATIO}x", verdict]
        )
    else:
        out.append(["appends/s eventsourcing", f"not run: {theirs}"[:80], "", ""])
    st, pt = timers["sievert"], timers["procrastinate"]
    out.append(
        [
            "timers/s sievert (p50/p99 late)",
            f"{st['per_second']:,.0f} ({st['p50']:.3f}/{st['p99']:.3f}s)",
            "",
            "",
        ]
    )
    if isinstance(pt, dict):
        out.append(
            [
                "timers/s procrastinate (p50/p99 late)",
                f"{pt['per_second']:,.0f} ({pt['p50']:.3f}/{pt['p99']:.3f}s)",
                "",
                "",
            ]
        )
        ratio = st["per_second"] / pt["per_second"]
        verdict = "meets" if ratio >= TIMER_TARGET_RATIO and st["p99"] <= pt["p99"] else "MISSES"
        out.append(
            ["timers ratio sievert/procrastinate", f"{ratio:.2f}x", f">= {TIMER_TARGET_RATIO}x", verdict]
        )
    else:
        out.append(["timers/s procrastinate", f"not run: {pt}"[:80], "", ""])
    return out


def report(args: argparse.Namespace, total: int, figures: dict[str, Any]) -> None:
    print()
    print(
        f"peers: {total:,} appends on {args.streams:,} streams, {args.writers} writers; "
        f"{int(args.timer_rate * args.timer_seconds):,} timers at {args.timer_rate:,.0f}/s, "
        f"procrastinate worker concurrency {args.worker_concurrency}"
    )
    for name, value, target, verdict in rows(figures):
        print(f"  {name:<40} {value:<30} {target:<10} {verdict}")
    timers = figures["timers"]
    for side in ("sievert", "procrastinate"):
        t = timers[side]
        if isinstance(t, dict):
            print(f"  {side}: {t['fired']:,.0f} fired, {t['early']:,.0f} early")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--streams", type=int, default=1_000)
    parser.add_argument("--events-per-stream", type=int, default=3)
    parser.add_argument("--writers", type=int, default=8, help="connections and writers, each side")
    parser.add_argument("--timer-rate", type=float, default=5_000, help="timers coming due per second")
    parser.add_argument("--timer-seconds", type=float, default=2, help="how long they keep coming due")
    parser.add_argument("--worker-concurrency", type=int, default=10, help="procrastinate's worker")
    parser.add_argument("--cap", type=float, default=20, help="longest wait after the last timer, seconds")
    parser.add_argument("--json", help="write the figures here for run_all")
    args = parser.parse_args()
    try:
        figures = asyncio.run(run(args))
    except KeyboardInterrupt:
        say("interrupted; the databases and topics were cleaned up")
        raise SystemExit(130) from None
    if args.json:
        Path(args.json).write_text(json.dumps({"bench": "peers", "figures": figures, "rows": rows(figures)}))


if __name__ == "__main__":
    main()
