"""CPU per deadline event of reporting's live projection consumer, for a trust with a long history.

Every deadline event reaching reporting's live consumer updates the incident's row and tells
dashboards the trust's deadline counts (DeadlineCountsChanged). How those counts are read decides
whether the cost of an event grows with the trust's history, so this bench:

1. seeds ``--history`` incidents of one trust, each with two deadline windows, in a fresh
   reporting database (one INSERT ... SELECT, seconds);
2. applies ``--events`` DeadlineScheduled events (two per new incident, as the deadlines service
   sends them) through the consumer's own apply path (``IdempotentConsumer._process`` with the
   live handlers, batches of ``--batch`` records as one ``getmany`` hands them over), over a
   one-connection pool, so the PostgreSQL backend doing the work is known;
3. prints the bench process's CPU and that backend's CPU (``/proc/<pid>/stat``) per event.

``--kind tasks`` applies people's task events instead, four per new incident as the deadlines
service's tasks make them (two tasks opened, one assigned, one overdue), on the cases topic: the
cost of projecting a task event, which reads and writes the ``case_tasks`` row.

No Kafka is needed: the records are built in memory; the outbox rows the live handlers write are
left for no relay. Figures are printed, never asserted.

    .venv/bin/python bench/bench_reporting_live.py [--history 20000] [--events 2000] [--batch 100]
        [--kind deadlines|tasks]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from aiokafka import ConsumerRecord, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: bench/ is not a package

from bench.bench_intake import Infra, Scratch, interrupt_on_sigterm, run, say, scratch, write_json
from sievert_reporting.bootstrap import build
from sievert_reporting.entrypoints.consumers import live_handlers, processed_key
from sievert_reporting.settings import ReportingSettings
from sievert_shared.consumer import IdempotentConsumer
from sievert_shared.db import create_pool, migrate
from sievert_shared.envelope import Tenant
from sievert_shared.events import (
    DeadlineScheduled,
    Event,
    TaskAssigned,
    TaskKind,
    TaskOpened,
    TaskOverdue,
    Window,
)
from sievert_shared.logging import configure_logging
from sievert_shared.outbox import build_envelope
from sievert_shared.settings import KafkaSettings
from tests.support.clock import FakeClock

NOW = dt.datetime(2025, 6, 5, 9, 0, tzinfo=dt.UTC)
TRUST = "RXX"


def _backend_cpu_s(pid: int) -> float:
    """utime + stime of a local process, in seconds (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _records(topic: str, events: int) -> list[ConsumerRecord[bytes, bytes]]:
    """``events`` DeadlineScheduled records, two per new incident (notification, then report)."""
    out: list[ConsumerRecord[bytes, bytes]] = []
    for n in range(events):
        incident = uuid.UUID(int=(n // 2) + 1)
        window = Window.NOTIFICATION if n % 2 == 0 else Window.INVESTIGATION_REPORT
        scheduled = DeadlineScheduled(
            window=window,
            due_at=NOW + dt.timedelta(days=3 if n % 2 == 0 else 84),
            discovered_on=NOW.date(),
            authority="cqc",
        )
        out.append(_record(topic, n, incident, scheduled, version=1 + n % 2))
    return out


def _record(
    topic: str, offset: int, incident: uuid.UUID, event: Event, *, version: int
) -> ConsumerRecord[bytes, bytes]:
    """``event`` as the deadlines service logs it on the incident's stream, at ``offset``."""
    envelope = build_envelope(
        event,
        stream_id=incident,
        stream_version=version,
        tenant=Tenant(trust=TRUST, site="RXX01"),
        correlation_id="bench-reporting-live",
        producer="deadlines",
        now=NOW,
    )
    value = envelope.to_json_bytes()
    return ConsumerRecord(topic, 0, offset, 0, 0, incident.bytes, value, None, 16, len(value), [])


def _task_records(topic: str, events: int) -> list[ConsumerRecord[bytes, bytes]]:
    """``events`` task events, four per new incident: two tasks opened, the first assigned, the
    second overdue."""
    out: list[ConsumerRecord[bytes, bytes]] = []
    for n in range(events):
        incident = uuid.UUID(int=(n // 4) + 1)
        candour = uuid.uuid5(incident, "duty_of_candour")
        inform = uuid.uuid5(incident, "regulation_8_1_inform")
        event = (
            TaskOpened(task_id=candour, kind=TaskKind.DUTY_OF_CANDOUR, reason="Line 85."),
            TaskOpened(task_id=inform, kind=TaskKind.REGULATION_8_1_INFORM, reason="Line 78."),
            TaskAssigned(task_id=candour, owner_role="Ward manager", assigned_by_role="RPL"),
            TaskOverdue(task_id=inform, kind=TaskKind.REGULATION_8_1_INFORM, due_at=NOW),
        )[n % 4]
        out.append(_record(topic, n, incident, event, version=1 + n % 4))
    return out


_SEED = """
INSERT INTO incidents (incident_id, trust, site, updated_at, deadlines)
SELECT gen_random_uuid(), $1, 'RXX01', $2::timestamptz,
       jsonb_build_object(
           'notification', jsonb_build_object(
               'due_at', $2::timestamptz - make_interval(days => g % 30), 'status',
               CASE WHEN g % 3 = 0 THEN 'met' ELSE 'missed' END, 'stream_version', 2),
           'investigation_report', jsonb_build_object(
               'due_at', $2::timestamptz + make_interval(days => g % 90), 'status',
               CASE WHEN g % 5 = 0 THEN 'met' ELSE 'open' END, 'stream_version', 1))
FROM generate_series(1, $3) g"""


async def measure(args: argparse.Namespace, infra: Infra, space: Scratch) -> None:
    kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=space.prefix)
    settings = ReportingSettings(
        database_url=space.database_urls["reporting"], kafka=kafka, environment="test"
    )
    runtime, _app = build(settings, FakeClock(NOW))
    topic = kafka.topics.cases if args.kind == "tasks" else kafka.topics.deadlines
    pool = await create_pool(space.database_urls["reporting"], max_size=1)
    try:
        await migrate(pool, "sievert_reporting.migrations")
        async with pool.acquire() as conn:
            await conn.execute(_SEED, TRUST, NOW, args.history)
            await conn.execute("ANALYZE incidents")
            backend = await conn.fetchval("SELECT pg_backend_pid()")
        say(f"seeded {args.history:,} incidents of trust {TRUST} (two windows each)")
        consumer = IdempotentConsumer(
            processed_key(runtime.name),
            pool=pool,
            kafka=kafka,
            topics=[topic],
            handlers=live_handlers(runtime),
            dead_letter_producer=None,  # no event here is poison: nothing is dead-lettered
        )
        tp = TopicPartition(topic, 0)
        records = (_task_records if args.kind == "tasks" else _records)(tp.topic, args.events)
        batches = [records[i : i + args.batch] for i in range(0, len(records), args.batch)]
        cpu_before, pg_before = time.process_time(), _backend_cpu_s(backend)
        started = time.perf_counter()
        for batch in batches:
            await consumer._process(tp, batch)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_before
        pg = _backend_cpu_s(backend) - pg_before
        async with pool.acquire() as conn:
            counts = await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE envelope ->> 'event_type' = 'DeadlineCountsChanged'"
            )
    finally:
        await pool.close()
    per = 1000 / args.events
    say(
        f"{args.events:,} {'task' if args.kind == 'tasks' else 'deadline'} events in batches of {args.batch} over {args.history:,} incidents of "
        f"history: {elapsed:.1f}s, {args.events / elapsed:,.0f} events/s, "
        f"{counts:,} DeadlineCountsChanged emitted"
    )
    say(f"CPU ms per event: reporting {cpu * per:.2f}, postgres {pg * per:.2f}, total {(cpu + pg) * per:.2f}")
    say(f"load average: {_loadavg()}")
    write_json(
        args.json,
        "reporting_live",
        {"events": args.events, "history": args.history, "cpu_ms": cpu * per, "pg_cpu_ms": pg * per},
        [["reporting live, CPU ms/deadline event (reporting + postgres)", f"{(cpu + pg) * per:.2f}", "", ""]],
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--history", type=int, default=20_000, help="incidents the trust already holds")
    parser.add_argument("--events", type=int, default=2_000, help="deadline events to apply")
    parser.add_argument("--batch", type=int, default=100, help="records per consumer batch")
    parser.add_argument(
        "--kind", choices=("deadlines", "tasks"), default="deadlines", help="which events to apply"
    )
    parser.add_argument("--json", help="write the figures here for run_all")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    interrupt_on_sigterm()
    configure_logging("reporting", "warning")
    args = parse_args(argv)
    infra = Infra.from_env()
    with scratch(infra, ["reporting"]) as space:
        run(measure(args, infra, space))


if __name__ == "__main__":
    main()
