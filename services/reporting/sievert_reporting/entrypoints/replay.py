"""``sievert replay reporting``: rebuild every reporting projection from the start of the log.

Stop the reporting service first: the rebuild empties the projection tables, then applies every
event on the projected topics with the live consumer's decoding, skipping and deduplication, and
the handlers' effects, so the result is what incremental processing gave. The events that change
incidents' rows (the hot events) are decoded by ``adapters.replay_decode`` (pydantic decides
whatever it does not accept) and folded by ``adapters.replay_store`` with the live consumer's
rule (``domain.incident_row.apply_change``); the others go through the projection's handlers.
A replay that stops half way leaves a half-built projection: run it again.

The log is replayed by several processes at once (``replay_workers``), each decoding, folding
and writing its own streams: every record is keyed by its stream and the topics have as many
partitions each, so partition *p* of every topic holds the same streams. Each process takes
whole partitions, as many as the others; the partitions left over (three among two processes:
one) are read by every process, each applying the records whose key falls to it
(``key_share``), so a stream's events are all in one process, in their order, and the processes
do even shares of the work. A log where that does not hold (a stream seen by two processes) is
replayed again in one process.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import multiprocessing
import os
import sys
import time
import uuid
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import ValidationError

from sievert_reporting.adapters.replay_decode import FastDecoder
from sievert_reporting.adapters.replay_store import (
    Fold,
    bind_streams,
    copy_processed,
    copy_processed_in,
    reset,
    stream_tenants,
    writer,
)
from sievert_reporting.domain.incident_row import INCIDENT_ROW_EVENTS, incident_change
from sievert_reporting.entrypoints.consumers import (
    PROJECTION,
    PROJECTION_TABLES,
    processed_key,
    projected_topics,
)
from sievert_reporting.settings import ReportingSettings
from sievert_shared.db import Connection, create_pool, migrate
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import REGISTRY, Event, UndecodableEventError, UnknownEventError
from sievert_shared.kafka import log_starts, partitions_of
from sievert_shared.logging import configure_logging, get_logger
from sievert_shared.loop import run as run_on_service_loop

SERVICE = "reporting"
log = get_logger(__name__)

Progress = Callable[[int, int], None]

#: Memory an incident folded but not written takes, about (with a decision: 1.8 GB peak for
#: 250,000 incidents, measured). Past ``max_rows`` of them, the fold is written and later events
#: merge into the rows written (UPDATE), which is slower than writing each row once.
ROW_BYTES = 4096
#: records per fetch at most
FETCH_RECORDS = 20_000
#: bytes per fetch at most (all partitions, then one partition), below the memory setting's share
FETCH_BYTES = 64 * 1024 * 1024
PARTITION_FETCH_BYTES = 16 * 1024 * 1024
#: records decoded between two turns of the event loop
READ_SLICE = 2_000
#: processed_events rows per COPY while reading
PROCESSED_CHUNK = 50_000
#: connections writing the folded rows at once (the machine this was measured on has 2 cores)
WRITERS = 2
#: incidents per early COPY (``Fold.write_early``), one in flight per writer connection
EARLY_CHUNK = 10_000
#: what each replay process beyond the first takes of the memory setting: its interpreter and
#: imports (about 70 MB resident, measured), so that the setting bounds the processes together
PROCESS_MB = 64
#: the least share of the setting a process replays with
SHARE_MB = 16


def register_replay(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("replay", help="rebuild a service's projections from the event log")
    parser.add_argument("service", choices=[SERVICE], help="the service whose projections to rebuild")
    parser.add_argument(
        "--max-rows",
        type=int,
        default=None,
        help="incidents folded in memory before they are written (about 4 KB each; default: "
        "half of REPORTING_REPLAY_MEMORY_MB)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes replaying partitions at once (default: REPORTING_REPLAY_WORKERS, else the "
        "cores this process may use, at most one per partition)",
    )
    parser.add_argument(
        "--accept-missing-history",
        action="store_true",
        help="rebuild even though the broker has deleted the oldest events of some topics "
        "(their retention): the projections then lack every incident those events were about",
    )
    parser.set_defaults(func=run)


class HistoryMissingError(Exception):
    """The log no longer starts at its first event: a rebuild from it would silently lack
    whatever the deleted events said."""

    def __init__(self, deleted: dict[TopicPartition, int]) -> None:
        self.deleted = deleted
        where = ", ".join(f"{tp.topic}[{tp.partition}]: {count:,}" for tp, count in sorted(deleted.items()))
        super().__init__(
            f"the broker has deleted the first events of the log ({where}), most likely by the topics' "
            "retention (KAFKA_TOPIC_RETENTION_MS, -1 keeps them for ever; docs/reporting.md). "
            "Nothing was changed. A rebuild now would lack every incident those events were about; "
            "run it with --accept-missing-history to rebuild from what is left."
        )


def run(args: argparse.Namespace) -> int:
    # A replay applies every event in the log: one info line per event (the consumer's
    # "event applied") would cost more than applying it. Warnings and errors still show.
    configure_logging(SERVICE, "warning")
    started = time.monotonic()
    settings = ReportingSettings()
    if args.workers is not None:
        settings = settings.model_copy(update={"replay_workers": args.workers})
    try:
        done = run_on_service_loop(
            rebuild(
                settings,
                progress=_progress_bar(started),
                max_rows=args.max_rows,
                accept_missing_history=args.accept_missing_history,
            )
        )
    except HistoryMissingError as exc:
        print(f"sievert replay reporting: refused: {exc}", file=sys.stderr)
        return 2
    elapsed = time.monotonic() - started
    print(
        f"\nreplayed {done.events} events in {elapsed:.1f}s ({done.events / max(elapsed, 1e-9):,.0f} "
        f"events/s, {done.workers} process{'es' if done.workers > 1 else ''})",
        file=sys.stderr,
    )
    return 0


async def replay(
    settings: ReportingSettings,
    *,
    progress: Progress | None = None,
    max_rows: int | None = None,
    early_chunk: int = EARLY_CHUNK,
    accept_missing_history: bool = False,
) -> int:
    """Rebuild the projections; the events replayed (``rebuild``)."""
    done = await rebuild(
        settings,
        progress=progress,
        max_rows=max_rows,
        early_chunk=early_chunk,
        accept_missing_history=accept_missing_history,
    )
    return done.events


@dataclass(frozen=True)
class Usage:
    """What a worker process used: CPU seconds and its peak resident memory (``VmHWM``)."""

    cpu_s: float
    peak_rss_mb: float


@dataclass(frozen=True)
class Replayed:
    """A replay's outcome: the events replayed, by how many processes, and what the worker
    processes other than the caller's used (the caller's own is the caller's to measure);
    ``split``: the events each process replayed, the caller's first."""

    events: int
    workers: int
    children: list[Usage]
    split: list[int] = field(default_factory=list)


async def rebuild(
    settings: ReportingSettings,
    *,
    progress: Progress | None = None,
    max_rows: int | None = None,
    early_chunk: int = EARLY_CHUNK,
    accept_missing_history: bool = False,
) -> Replayed:
    """Rebuild the projections; ``max_rows``: incidents folded in memory before they are written
    (default: ``memory_budget``'s, split between the workers); ``early_chunk``: incidents per
    early write of those that look complete.

    Raises ``HistoryMissingError``, before anything is changed, when the log no longer starts at
    its first event, unless ``accept_missing_history``."""
    partitions = await partitions_of(settings.kafka, projected_topics(settings.kafka.topics))
    deleted = {tp: start for tp, start in (await log_starts(settings.kafka, partitions)).items() if start > 0}
    if deleted:
        if not accept_missing_history:
            raise HistoryMissingError(deleted)
        log.warning(
            "replay.history_missing", deleted={f"{tp.topic}[{tp.partition}]": n for tp, n in deleted.items()}
        )
    wanted = min(settings.replay_workers or default_workers(), affordable_workers(settings.replay_memory_mb))
    portions = split_partitions(partitions, wanted)
    shares = [_share(settings, portion, max_rows, early_chunk) for portion in portions]
    pool = await create_pool(settings.database_url.get_secret_value(), max_size=3)
    try:
        if len(shares) > 1:
            # the other processes start (and import) while this one migrates and resets
            with _Workers(len(shares) - 1) as workers:
                await migrate(pool, "sievert_reporting.migrations")
                await reset(pool, PROJECTION_TABLES, _CONSUMER)
                try:
                    results, children = await workers.run(shares, progress)
                except _StreamsShared as exc:
                    log.warning("replay.again_in_one_process", reason=str(exc))
                else:
                    await bind_streams(pool, [b for result in results for b in result.bindings])
                    split = [r.events for r in results]
                    return Replayed(sum(split), len(shares), children, split)
            await reset(pool, PROJECTION_TABLES, _CONSUMER)
            shares = [_share(settings, Portion.whole(partitions), max_rows, early_chunk)]
        else:
            await migrate(pool, "sievert_reporting.migrations")
            await reset(pool, PROJECTION_TABLES, _CONSUMER)
        if not shares:
            return Replayed(0, 1, [])
        counters = _Counters(1)
        ticking = _tick(counters, progress)
        try:
            result = await _replay_share(shares[0], counters, 0)
        finally:
            ticking.cancel()
        _report(counters, progress)
        await bind_streams(pool, result.bindings)
        return Replayed(result.events, 1, [], [result.events])
    finally:
        await pool.close()


_CONSUMER = processed_key(SERVICE)


def default_workers() -> int:
    """The cores this process may use (``split_partitions`` caps it at the partitions)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def affordable_workers(memory_mb: int) -> int:
    """The most processes the memory setting pays for: each one beyond the first costs
    ``PROCESS_MB``, and each keeps at least ``SHARE_MB`` to replay with (2 at the default 128)."""
    return max(1, (memory_mb + PROCESS_MB) // (PROCESS_MB + SHARE_MB))


@dataclass(frozen=True)
class Portion:
    """What one of ``of`` processes replays: the partitions it reads, all of whose records it
    applies but on the ``shared`` partition numbers, read by every process, where it applies the
    records whose key falls to it (``key_share``: to process ``index``)."""

    partitions: list[TopicPartition]
    shared: frozenset[int]
    index: int
    of: int

    @classmethod
    def whole(cls, partitions: Sequence[TopicPartition]) -> Portion:
        """Everything, for one process."""
        return cls(list(partitions), frozenset(), 0, 1)

    def applies(self, partition: int, key: bytes | None) -> bool:
        return partition not in self.shared or key_share(key, self.of) == self.index

    def select(
        self, fetched: dict[TopicPartition, list[Record]], end: dict[TopicPartition, int]
    ) -> list[tuple[TopicPartition, Record]]:
        """The records of a fetch this process applies: those before the end the replay set, and
        on a shared partition those whose key falls to it (the others are not decoded)."""
        if not self.shared:
            return [(tp, r) for tp, records in fetched.items() for r in records if r.offset < end[tp]]
        applies = self.applies
        return [
            (tp, r)
            for tp, records in fetched.items()
            for r in records
            if r.offset < end[tp] and applies(tp.partition, r.key)
        ]

    def expected(self, start: dict[TopicPartition, int], end: dict[TopicPartition, int]) -> int:
        """About how many records it applies (a shared partition's by its part of the keys)."""
        return sum(
            (end[tp] - start[tp]) // (self.of if tp.partition in self.shared else 1) for tp in self.partitions
        )


def split_partitions(partitions: Sequence[TopicPartition], workers: int) -> list[Portion]:
    """Even shares of the log for up to ``workers`` processes (at most one per partition number).

    Partition *p* of every topic holds the same streams (records are keyed by their stream, and
    the topics have as many partitions each), so the partitions go by number: each process takes
    as many whole ones as the others, and the numbers left over (with three partitions and two
    processes, one) are read by every process, each applying the records whose key falls to it.
    A record skipped costs its share of the fetch, not its decoding, folding or writing: by whole
    partitions alone one process did twice the other's work. Topics of different partition counts
    do not line up: one process then replays them all."""
    if not partitions:
        return []
    counts = {tp.topic: 0 for tp in partitions}
    for tp in partitions:
        counts[tp.topic] += 1
    numbers = sorted({tp.partition for tp in partitions})
    n = min(workers, len(numbers))
    if n <= 1 or len(set(counts.values())) > 1:
        return [Portion.whole(partitions)]
    whole = len(numbers) - len(numbers) % n
    place = {number: index % n for index, number in enumerate(numbers[:whole])}
    shared = frozenset(numbers[whole:])
    return [
        Portion(
            [tp for tp in partitions if tp.partition in shared or place[tp.partition] == worker],
            shared,
            worker,
            n,
        )
        for worker in range(n)
    ]


def key_share(key: bytes | None, workers: int) -> int:
    """Which of ``workers`` processes applies a record of a shared partition: by its key, the
    stream's id, so that a stream's events are all in one process. CRC-32 rather than the
    producer's murmur2, whose value already decided the partition (with four partitions and two
    processes, murmur2 would send every record of a partition to one process). A record without
    a key goes to the first process (if its stream's other events are elsewhere, the streams
    check replays the log in one process)."""
    return 0 if key is None else zlib.crc32(key) % workers


@dataclass(frozen=True)
class _Share:
    """What one worker replays, and how (sent to another process: everything here pickles)."""

    settings: ReportingSettings
    portion: Portion
    budget: Budget
    early_chunk: int
    writers: int
    #: the module's tunables as they stand when the replay starts (tests change them)
    fetch_records: int
    read_slice: int
    processed_chunk: int
    #: a worker among several reports the streams it saw, so that none was seen by two
    parallel: bool


def _share(
    settings: ReportingSettings,
    portion: Portion,
    max_rows: int | None,
    early_chunk: int,
) -> _Share:
    """One of ``portion.of`` shares: of the memory setting once the other processes' interpreters
    are paid for, of ``max_rows`` and of the writers."""
    workers = portion.of
    budget = memory_budget(max(1, (settings.replay_memory_mb - PROCESS_MB * (workers - 1)) // workers))
    if max_rows is not None:
        budget = Budget(max(1, max_rows // workers), budget.fetch_bytes, budget.partition_fetch_bytes)
    writers = max(1, WRITERS // workers)
    # an early write's rows are held until its COPY ends, beside the fold: within the fold's half
    # of the memory setting, half of it over the writers
    early_chunk = max(1, min(early_chunk, budget.max_rows // (2 * writers)))
    return _Share(
        settings,
        portion,
        budget,
        early_chunk,
        writers,
        FETCH_RECORDS,
        READ_SLICE,
        PROCESSED_CHUNK,
        workers > 1,
    )


@dataclass
class _Result:
    """What a worker sends back: a count, the streams it first bound (the caller records them),
    the streams it saw (only among several workers), and what it used."""

    events: int
    bindings: list[tuple[int, str]]
    streams: set[int]
    usage: Usage


class _StreamsShared(Exception):
    """Two workers saw one stream: the partitions are not independent, so the result could differ
    from one process's replay (which then replays the log)."""


class _Stopped(Exception):
    """Another worker failed: this one stops too."""


class _Counters:
    """Shared with the worker processes: each one's events done and total (-1 until known), and a
    flag that tells them to stop."""

    def __init__(self, workers: int, context: Any = None) -> None:
        initial = [0, -1] * workers + [0]
        if context is None:
            self.values: Any = (ctypes.c_int64 * len(initial))(*initial)
        else:  # shared memory, inherited by the processes it starts
            self.values = context.RawArray(ctypes.c_int64, initial)
        self.workers = workers

    def set(self, worker: int, done: int, total: int) -> None:
        self.values[2 * worker], self.values[2 * worker + 1] = done, total

    def totals(self) -> tuple[int, int] | None:
        """Events done and in total, once every worker knows its total."""
        done = total = 0
        for worker in range(self.workers):
            if self.values[2 * worker + 1] < 0:
                return None
            done += self.values[2 * worker]
            total += self.values[2 * worker + 1]
        return done, total

    @property
    def stopped(self) -> bool:
        return bool(self.values[2 * self.workers])

    def stop(self) -> None:
        self.values[2 * self.workers] = 1


def _report(counters: _Counters, progress: Progress | None) -> None:
    if progress is not None and (totals := counters.totals()) is not None:
        progress(*totals)


def _tick(counters: _Counters, progress: Progress | None) -> asyncio.Task[None]:
    async def tick() -> None:
        while True:
            await asyncio.sleep(0.25)
            _report(counters, progress)

    return asyncio.create_task(tick())


class _Workers:
    """The processes replaying all shares but the first, which this process replays itself.

    Spawned, not forked: a fork would copy the running event loop, its sockets and its threads."""

    def __init__(self, others: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.counters = _Counters(others + 1, context)
        self.pool = ProcessPoolExecutor(
            others, mp_context=context, initializer=_start_worker, initargs=(self.counters,)
        )
        for _ in range(others):  # start them now: each imports for a second or two
            self.pool.submit(_warm)

    def __enter__(self) -> _Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    async def run(self, shares: list[_Share], progress: Progress | None) -> tuple[list[_Result], list[Usage]]:
        """Every share replayed; the results in the shares' order, and the other processes'
        usage. Raises ``_StreamsShared`` if a stream was in two shares."""
        loop = asyncio.get_running_loop()
        runs: list[asyncio.Future[_Result]] = [
            asyncio.ensure_future(_replay_share(shares[0], self.counters, 0)),
            *(
                asyncio.wrap_future(self.pool.submit(_replay_in_worker, share, index), loop=loop)
                for index, share in enumerate(shares[1:], start=1)
            ),
        ]
        ticking = _tick(self.counters, progress)
        try:
            finished, _ = await asyncio.wait(runs, return_when=asyncio.FIRST_EXCEPTION)
            if any(run.exception() is not None for run in finished):
                self.counters.stop()
                await asyncio.wait(runs)
                failures = [e for run in runs if (e := run.exception()) is not None]
                real = [e for e in failures if not isinstance(e, _Stopped | _StreamsShared)]
                raise real[0] if real else next(e for e in failures if isinstance(e, _StreamsShared))
        finally:
            ticking.cancel()
        results = [run.result() for run in runs]
        _report(self.counters, progress)
        seen: set[int] = set()
        for result in results:
            if not seen.isdisjoint(result.streams):
                raise _StreamsShared("a stream's events are on partitions replayed by two workers")
            seen |= result.streams
        return results, [result.usage for result in results[1:]]


_WORKER_COUNTERS: _Counters | None = None


def _start_worker(counters: _Counters) -> None:
    global _WORKER_COUNTERS
    _WORKER_COUNTERS = counters
    # as ``run`` configures the command's process
    configure_logging(SERVICE, "warning")


def _warm() -> None:
    """Nothing: the pool starts a process for it, which imports this module meanwhile."""


def _replay_in_worker(share: _Share, index: int) -> _Result:
    assert _WORKER_COUNTERS is not None
    cpu = time.process_time()
    result = run_on_service_loop(_replay_share(share, _WORKER_COUNTERS, index))
    result.usage = Usage(time.process_time() - cpu, _peak_rss_mb())
    return result


def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


async def _replay_share(share: _Share, counters: _Counters, index: int) -> _Result:
    """Replay ``share``'s partitions into the tables (emptied before)."""
    settings = share.settings
    dsn = settings.database_url.get_secret_value()
    pool = await create_pool(dsn, max_size=3)
    # A batch holds tens of thousands of fresh, acyclic objects (envelopes, events); the
    # cyclic collector would rescan them over and over (half the replay's time, profiled), and
    # reference counting frees them all anyway.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        writers = [await writer(dsn) for _ in range(share.writers)]
        try:
            return await _read_and_apply(share, pool, writers, counters, index)
        except (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError) as exc:
            if share.parallel:  # another worker wrote the same row: a stream in two shares
                raise _StreamsShared(str(exc)) from None
            raise
        finally:
            for each in writers:
                await each.close()
    finally:
        if gc_was_enabled:
            gc.enable()
        await pool.close()


async def _read_and_apply(
    share: _Share,
    pool: asyncpg.Pool,
    writers: list[asyncpg.Connection],
    counters: _Counters,
    index: int,
) -> _Result:
    """Every record on the share's partitions from the first offset to the end as it stands now.

    Like the live consumer (and ``IdempotentConsumer.replay``): the same decoding, the same
    events skipped (undecodable or unknown: they were dead-lettered when first consumed), each
    event id recorded in ``processed_events`` and applied once. Unlike it, the hot events are
    folded across fetches and written set-wise (``Fold``), other events are applied one
    transaction per fetch, and the live group's offsets are untouched."""
    budget = share.budget
    consumer = _consumer(share)
    applier = _Applier(
        pool, writers, _CONSUMER, budget.max_rows, share.early_chunk, share.read_slice, share.processed_chunk
    )
    portion = share.portion
    partitions = portion.partitions
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        start = await consumer.beginning_offsets(partitions)
        end = await consumer.end_offsets(partitions)
        total = portion.expected(start, end)
        remaining = {tp for tp in partitions if end[tp] > start[tp]}
        reader = _Reader(
            FastDecoder.build(),
            applier.fold,
            await stream_tenants(pool),
            streams=set() if share.parallel else None,
        )
        bound_before = len(reader.tenants)
        read = 0
        counters.set(index, read, total)
        while remaining:
            if counters.stopped:
                raise _Stopped
            batches = await consumer.getmany(*remaining, timeout_ms=500, max_records=share.fetch_records)
            batch = portion.select(batches, end)
            if batch:
                await applier.apply(reader, batch)
                read += len(batch)
            for tp in batches:
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
            counters.set(index, read, max(read, total))
        counters.set(index, read, read)
        await applier.finish()
        # dicts keep insertion order: the preloaded bindings come first
        bindings = list(reader.tenants.items())[bound_before:]
        return _Result(read, bindings, reader.streams or set(), Usage(0.0, float("nan")))
    finally:
        applier.cancel()
        await consumer.stop()


def _consumer(share: _Share) -> AIOKafkaConsumer:
    """A consumer outside any group (the live group's offsets stay as they are), fetching at most
    the share's budget."""
    return AIOKafkaConsumer(
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        fetch_max_bytes=share.budget.fetch_bytes,
        max_partition_fetch_bytes=share.budget.partition_fetch_bytes,
        **share.settings.kafka.client_kwargs(),
    )


@dataclass(frozen=True)
class Budget:
    """What the replay holds at once: incidents folded and not written, and bytes per fetch."""

    max_rows: int
    fetch_bytes: int
    partition_fetch_bytes: int


def memory_budget(memory_mb: int) -> Budget:
    """Half of ``memory_mb`` for the incidents folded, an eighth for a fetch (aiokafka holds the
    next fetch while this one's records and what they decode to are alive: two to three times its
    bytes); the rest is the interpreter, the event ids seen and the versions kept for the guards,
    which grow with the log (a few hundred bytes per incident)."""
    memory = memory_mb * 1024 * 1024
    fetch = max(1024 * 1024, min(FETCH_BYTES, memory // 8))
    return Budget(max(1, memory // 2 // ROW_BYTES), fetch, min(PARTITION_FETCH_BYTES, fetch))


@dataclass
class _Applier:
    """Applies what a fetch holds: folds the hot events, applies the others through their
    handlers, and writes to PostgreSQL in the background while the log is read on."""

    pool: asyncpg.Pool
    writers: list[asyncpg.Connection]
    consumer_name: str
    max_rows: int
    early_chunk: int
    read_slice: int
    processed_chunk: int
    fold: Fold = field(init=False)
    #: processed_events rows are final as soon as they are read: PostgreSQL writes them while
    #: the fold goes on (one COPY in flight), instead of after it
    copying: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.fold = Fold(self.consumer_name)

    async def apply(self, reader: _Reader, batch: list[tuple[TopicPartition, Record]]) -> None:
        others = []
        for at in range(0, len(batch), self.read_slice):
            others += reader.read(batch[at : at + self.read_slice])
            # the COPYs in the background are fed by this event loop: without a turn between
            # slices, PostgreSQL waits while a whole fetch is decoded
            await asyncio.sleep(0)
        if others:
            async with self.pool.acquire() as conn, conn.transaction():
                await _apply_others(conn, self.consumer_name, others)
        if len(self.fold.processed) >= self.processed_chunk:
            chunk, self.fold.processed = self.fold.processed, []
            if self.copying is not None:
                await self.copying
            self.copying = asyncio.create_task(copy_processed(self.pool, chunk))
        if len(self.fold.pending) >= self.max_rows:
            await self.fold.write(self.writers)
        self.fold.write_early(self.writers, self.early_chunk)

    async def finish(self) -> None:
        if self.copying is not None:
            await self.copying
        await self.fold.write(self.writers)

    def cancel(self) -> None:
        if self.copying is not None and not self.copying.done():
            self.copying.cancel()
        self.fold.cancel()


Record: TypeAlias = "ConsumerRecord[bytes, bytes]"
Other: TypeAlias = tuple[TopicPartition, Record, EventEnvelope, Event]


@dataclass
class _Reader:
    """Decodes records (fast path first, pydantic for the rest), drops repeats of an event id
    (the first copy in the log applies, as with ``processed_events``), folds the hot events and
    returns the others for their handlers."""

    fast: FastDecoder
    fold: Fold
    #: stream id (as int) -> the trust it is bound to: ``stream_tenants`` as the live consumer left
    #: it, then streams first seen here, in order (the consumer's tenancy wall, replayed)
    tenants: dict[int, str] = field(default_factory=dict)
    #: event ids as integers: ``UUID.__hash__`` is Python code, ``int`` hashing is not (profiled)
    seen: set[int] = field(default_factory=set)
    #: the streams of the events applied, when several workers replay (none may share one)
    streams: set[int] | None = None

    def _foreign(self, stream_id: uuid.UUID, trust: str, tp: TopicPartition, record: Record) -> bool:
        """An event naming another trust than its stream's: the live consumer dead-lettered it.
        (The record's place is formatted only then: for every event it cost 1% of the replay.)"""
        if self.streams is not None:
            self.streams.add(stream_id.int)
        bound = self.tenants.setdefault(stream_id.int, trust)
        if bound == trust:
            return False
        log.warning(
            "replay.skipped",
            source=_source(tp, record),
            reason=f"tenant mismatch: stream {stream_id} belongs to trust {bound}",
        )
        return True

    def read(self, batch: list[tuple[TopicPartition, Record]]) -> list[Other]:
        others: list[Other] = []
        fast, fold, seen = self.fast.decode, self.fold.add, self.seen
        for tp, record in batch:
            raw = record.value or b""
            change = fast(raw, _event_type(record))
            if change is None:
                try:
                    envelope = EventEnvelope.from_json_bytes(raw)
                    if envelope.event_type not in PROJECTION:
                        REGISTRY.latest_version(envelope.event_type)  # known but not projected: ignored
                        continue
                    event = REGISTRY.decode(envelope)
                except (ValidationError, UnknownEventError, UndecodableEventError) as exc:
                    log.warning(
                        "replay.skipped",
                        source=f"{tp.topic}/{tp.partition}/{record.offset}",
                        reason=str(exc)[:500],
                    )
                    continue
                if envelope.event_type not in INCIDENT_ROW_EVENTS:
                    if envelope.event_id.int not in seen:
                        seen.add(envelope.event_id.int)
                        if self._foreign(envelope.stream_id, envelope.tenant.trust, tp, record):
                            self._record_skipped(envelope.event_id, tp, record)
                            continue
                        others.append((tp, record, envelope, event))
                    continue
                change = incident_change(envelope, event)
            if (event_id := change.event_id.int) not in seen:
                seen.add(event_id)
                if self._foreign(change.stream_id, change.trust, tp, record):
                    self._record_skipped(change.event_id, tp, record)
                    continue
                fold(change, tp.topic, tp.partition, record.offset)
        return others

    def _record_skipped(self, event_id: uuid.UUID, tp: TopicPartition, record: Record) -> None:
        # as the live consumer does: a dead-lettered event's id is processed, its effect is none
        self.fold.processed.append((self.fold.consumer, event_id, tp.topic, tp.partition, record.offset))


def _source(tp: TopicPartition, record: Record) -> str:
    return f"{tp.topic}/{tp.partition}/{record.offset}"


def _event_type(record: Record) -> str | None:
    for key, value in record.headers:
        if key == "event_type":
            return str(value.decode(errors="replace"))
    return None


async def _apply_others(conn: Connection, consumer_name: str, others: list[Other]) -> None:
    await copy_processed_in(
        conn,
        [
            (consumer_name, envelope.event_id, tp.topic, tp.partition, r.offset)
            for tp, r, envelope, _ in others
        ],
    )
    for _tp, _record, envelope, event in others:
        await PROJECTION[envelope.event_type](conn, envelope, event)


def _progress_bar(started: float) -> Progress:
    last = 0.0

    def show(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < 0.25 and done < total:
            return
        last = now
        width = 30
        filled = int(width * done / total) if total else width
        rate = done / max(now - started, 1e-9)
        bar = "#" * filled + "-" * (width - filled)
        print(
            f"\rreplay reporting [{bar}] {done}/{total} events {rate:,.0f}/s",
            end="",
            file=sys.stderr,
            flush=True,
        )

    return show
