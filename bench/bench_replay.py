"""Events per second, CPU per event and peak memory of a full ``sievert replay reporting``.

The full form replays 500,000 events (125,000 incidents): a million took more than the three
minutes a full bench may take on the shared 2-core machine, most of it generating the log.

1. generate: a realistic log for reporting's projections, 4 events per incident (IncidentReported
   on incidents, IncidentClassified on classifications, and the notification and 12-week
   DeadlineScheduled on deadlines), on fresh three-partition topics. Each kind of envelope is
   built and validated once through the real models, then stamped with a fresh event id and
   incident id per message (a byte replace), and sent pre-serialised by a batching producer, so
   generating a million events takes seconds rather than minutes.
2. replay: ``sievert_reporting.entrypoints.replay.replay`` (what ``sievert replay reporting`` runs) on a fresh
   database; the figure is events read / wall time, including the reset and the migration check.
3. check: the read model holds every incident with its decision and both deadlines.

Peak RSS is the replay's: this process's high-water mark is reset (``/proc/self/clear_refs``)
once the log is generated, and read (``VmHWM``) after the replay, plus the high-water mark of
each worker process the replay started (the sum of the peaks: at least the peak of the sum);
the peak of the sum is also sampled (this process and its children, every 100 ms). CPU is this
process's and the workers', per event.

    .venv/bin/python bench/bench_replay.py [--events 500000] [--memory-mb 128] [--workers N] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: bench/ is not a package

from bench.bench_intake import (
    Infra,
    Scratch,
    incident_facts,
    interrupt_on_sigterm,
    run,
    say,
    scratch,
    ticker,
    write_json,
)
from sievert_classifier.domain import classify
from sievert_reporting.entrypoints.replay import default_workers, rebuild
from sievert_reporting.settings import ReportingSettings
from sievert_shared.envelope import Tenant
from sievert_shared.events import DeadlineScheduled, Event, IncidentClassified, IncidentReported, Window
from sievert_shared.facts import IncidentFacts
from sievert_shared.kafka import ensure_topics
from sievert_shared.logging import configure_logging
from sievert_shared.outbox import build_envelope
from sievert_shared.settings import KafkaSettings

TARGET = 50_000  # events/s: the replay's target (bench/README.md)
RSS_TARGET_MB = 500  # peak resident memory of the replay, whatever the log's size
_STREAM = uuid.UUID("11111111-1111-4111-8111-111111111111")
_EVENT = uuid.UUID("22222222-2222-4222-8222-222222222222")


def templates(topics: KafkaSettings) -> list[tuple[str, bytes, list[tuple[str, bytes]]]]:
    """(topic, envelope bytes with placeholder ids, headers) for each event of one incident."""
    facts = IncidentFacts.model_validate(incident_facts(dt.date(2025, 6, 2)))
    now = dt.datetime(2025, 6, 2, 9, 0, tzinfo=dt.UTC)
    events: list[tuple[str, Event, str]] = [
        (topics.topics.incidents, IncidentReported(facts=facts, channel="json"), "intake"),
        (
            topics.topics.classifications,
            IncidentClassified(decision=classify(facts), discovered_on=facts.discovered_on, facts_version=1),
            "classifier",
        ),
        (
            topics.topics.deadlines,
            DeadlineScheduled(
                window=Window.NOTIFICATION,
                due_at=now + dt.timedelta(days=14),
                discovered_on=facts.discovered_on,
                authority="cqc",
            ),
            "deadlines",
        ),
        (
            topics.topics.deadlines,
            DeadlineScheduled(
                window=Window.INVESTIGATION_REPORT,
                due_at=now + dt.timedelta(weeks=12),
                discovered_on=facts.discovered_on,
                authority="cqc",
            ),
            "deadlines",
        ),
    ]
    out = []
    for version, (topic, event, producer) in enumerate(events, start=1):
        envelope = build_envelope(
            event,
            stream_id=_STREAM,
            stream_version=1 if producer != "deadlines" else version - 2,
            tenant=Tenant(trust="RXX", site="RXX01"),
            correlation_id="bench-replay",
            producer=producer,
            now=now,
        )
        value = json.dumps(envelope.model_dump(mode="json"), separators=(",", ":")).encode()
        value = value.replace(str(envelope.event_id).encode(), str(_EVENT).encode())
        headers = [
            ("event_type", envelope.event_type.encode()),
            ("schema_version", b"1"),
            ("correlation_id", b"bench-replay"),
            ("content-type", b"application/json"),
        ]
        out.append((topic, value, headers))
    return out


async def generate(kafka: KafkaSettings, events: int) -> tuple[int, float]:
    await ensure_topics(kafka, kafka.topics.all())
    kinds = templates(kafka)
    incidents = events // len(kinds) + (1 if events % len(kinds) else 0)
    producer = AIOKafkaProducer(
        linger_ms=50,
        max_batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024,
        acks=1,
        **kafka.client_kwargs(),
    )
    sent = 0
    started = time.perf_counter()
    progress = asyncio.create_task(
        ticker(
            2.0,
            lambda: (
                f"  generate: {sent:,}/{incidents * len(kinds):,} sent, "
                f"{sent / (time.perf_counter() - started):,.0f}/s"
            ),
        )
    )
    await producer.start()
    try:
        stream_placeholder, event_placeholder = str(_STREAM).encode(), str(_EVENT).encode()
        pending = []
        for _ in range(incidents):
            incident = str(uuid.uuid4()).encode()
            for topic, value, headers in kinds:
                body = value.replace(stream_placeholder, incident).replace(
                    event_placeholder, str(uuid.uuid4()).encode()
                )
                pending.append(await producer.send(topic, value=body, key=incident, headers=headers))
                sent += 1
            if len(pending) >= 50_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        progress.cancel()
        await producer.stop()
    return incidents, time.perf_counter() - started


async def measure(args: argparse.Namespace, infra: Infra, space: Scratch) -> None:
    if True:  # the scratch space is made (and dropped) outside the event loop
        kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=space.prefix)
        settings = ReportingSettings(
            database_url=space.database_urls["reporting"],
            kafka=kafka,
            environment="test",
            replay_memory_mb=args.memory_mb,
            replay_workers=args.workers,
        )
        say(f"generating {args.events:,} events on {space.prefix}.*")
        incidents, took = await generate(kafka, args.events)
        say(f"generated {incidents * 4:,} events for {incidents:,} incidents in {took:.1f}s")

        state = {"done": 0, "total": 0}

        def progress(done: int, total: int) -> None:
            state["done"], state["total"] = done, total

        _reset_peak_rss()
        rss_start = _rss_mb("VmRSS:")
        load_before = _loadavg()
        cpu_before = time.process_time()
        started = time.perf_counter()
        sampled = {"peak": 0.0}

        async def sample() -> None:
            while True:
                sampled["peak"] = max(sampled["peak"], _tree_rss_mb())
                await asyncio.sleep(0.1)

        sampling = asyncio.create_task(sample())
        ticking = asyncio.create_task(
            ticker(
                2.0,
                lambda: (
                    f"  replay: {state['done']:,}/{state['total']:,} events, "
                    f"{state['done'] / (time.perf_counter() - started):,.0f}/s"
                ),
            )
        )
        try:
            done = await rebuild(settings, progress=progress)
        finally:
            ticking.cancel()
            sampling.cancel()
        elapsed = time.perf_counter() - started
        count = done.events
        own_cpu = time.process_time() - cpu_before
        own_peak = _rss_mb("VmHWM:")
        cpu = own_cpu + sum(child.cpu_s for child in done.children)
        peak_mb = own_peak + sum(child.peak_rss_mb for child in done.children)
        rate = count / elapsed
        cpu_ms = cpu * 1000 / max(count, 1)
        conn = await asyncpg.connect(space.database_urls["reporting"])
        try:
            complete = await conn.fetchval(
                "SELECT count(*) FROM incidents WHERE decision IS NOT NULL AND jsonb_typeof(deadlines) = 'object'"
                " AND deadlines ? 'notification' AND deadlines ? 'investigation_report' AND facts IS NOT NULL"
            )
        finally:
            await conn.close()
        say(
            f"replayed {count:,} events in {elapsed:.1f}s: {rate:,.0f} events/s (target {TARGET:,}),"
            f" {done.workers} process(es)"
            + (f", events each: {' / '.join(f'{n:,}' for n in done.split)}" if done.workers > 1 else "")
        )
        if done.children:
            say(
                f"  this process: {own_cpu:.1f}s cpu, peak {own_peak:,.0f} MB; workers: "
                + ", ".join(f"{c.cpu_s:.1f}s cpu, peak {c.peak_rss_mb:,.0f} MB" for c in done.children)
            )
        say(f"read model: {complete:,} of {incidents:,} incidents complete")
        # PostgreSQL, Kafka and anything else on the machine share its cores with the replay
        say(
            f"replay process cpu: {cpu:.1f}s ({cpu_ms:.3f} ms/event); peak RSS {peak_mb:,.0f} MB"
            f" (sampled peak of the processes' sum {sampled['peak']:,.0f} MB)"
            f" (goal <= {RSS_TARGET_MB}, REPORTING_REPLAY_MEMORY_MB={args.memory_mb}; {rss_start:,.0f} MB"
            " resident before the replay);"
            f" load average before {load_before}, after {_loadavg()}"
        )
        ok = rate >= TARGET and complete == incidents
        rss_ok = peak_mb <= RSS_TARGET_MB
        write_json(
            args.json,
            "replay",
            {
                "events": count,
                "seconds": elapsed,
                "events_per_s": rate,
                "complete": complete,
                "cpu_s": cpu,
                "cpu_ms_per_event": cpu_ms,
                "peak_rss_mb": peak_mb,
                "sampled_peak_rss_mb": sampled["peak"],
                "memory_mb": args.memory_mb,
                "workers": done.workers,
                "events_per_process": done.split,
            },
            [
                ["full replay, events/s", f"{rate:,.0f}", f">= {TARGET:,}", "ok" if ok else "below"],
                ["replay, CPU ms/event", f"{cpu_ms:.3f}", "", ""],
                [
                    "replay, peak RSS MB",
                    f"{peak_mb:,.0f}",
                    f"<= {RSS_TARGET_MB}",
                    "ok" if rss_ok else "above",
                ],
            ],
        )


def _reset_peak_rss() -> None:
    """Start the high-water mark of resident memory again: the generation's is not the replay's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        say("  (peak RSS could not be reset: it includes generating the log)")


def _rss_mb(field: str) -> float:
    """``VmRSS:`` (now) or ``VmHWM:`` (the peak since the reset) of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


def _tree_rss_mb() -> float:
    """Resident memory of this process and its children (the replay's workers), now, in MB."""
    pids = [str(os.getpid())]
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            pids += (task / "children").read_text().split()
    total = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass  # ended meanwhile
    return total


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument(
        "--memory-mb", type=int, default=128, help="REPORTING_REPLAY_MEMORY_MB for the replay (default 128)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help=f"REPORTING_REPLAY_WORKERS for the replay (default: unset, so {default_workers()} here)",
    )
    parser.add_argument("--json", help="write the figures here for run_all")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    interrupt_on_sigterm()
    configure_logging("reporting", "warning")  # as `sievert replay reporting` does
    args = parse_args(argv)
    infra = Infra.from_env()
    with scratch(infra, ["reporting"]) as space:
        run(measure(args, infra, space))


if __name__ == "__main__":
    main()
