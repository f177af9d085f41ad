"""End-to-end: POST /v1/incidents to the incident's open windows and its reporting row, with
the CPU each process spent per incident.

All four services (intake, classifier, deadlines, reporting) run as processes on databases and
a topic prefix of their own. The bench offers a fixed rate open-loop (each POST is scheduled by
the clock, never by the previous answer), stamps each with an ``X-Correlation-ID`` that every
service copies into the envelope and the Kafka headers, and reads the topics with a consumer in
this process, matching records by that header without decoding them. Latency is (the time the
record is read here) - (the time the POST was written to the socket):

- IncidentClassified: intake's commit and relay, the classifier's consumer, transaction and relay;
- DeadlineScheduled: then deadlines' consumer, its transaction and relay (the open windows);
- DeadlineCountsChanged on the dashboard topic: reporting emits one per consumed batch and trust,
  in the transaction that projects the batch's deadline events, with the correlation id of the
  trust's last deadline event in it. Its latency is therefore a sample (the last incident of each
  batch), not every incident's; whether every incident reached its row is counted in reporting's
  database, and so is the number of rows reporting completed during the run.

After the measured incidents have all arrived (or the drain timeout passed), the rows of
reporting's read model with a decision and windows are counted, and each process's CPU time
over the run is divided by the incidents carried through: CPU milliseconds per incident, per
service, for PostgreSQL and Kafka, and for the whole pipeline (not the load generator).

Before measuring, one probe incident must reach its reporting row (every consumer group has
joined); then the pipeline's CPU with no load is measured, and a short warm-up at the offered
rate is discarded.

    .venv/bin/python bench/bench_e2e_latency.py [--rate 100 500] [--seconds 20] [--warmup 3]
        [--idle 5] [--round-trips] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: bench/ is not a package

from bench.bench_intake import (
    CpuMeter,
    HttpConnection,
    Infra,
    PostgresPids,
    Scratch,
    describe_cpu,
    describe_per_event,
    host_port,
    http_request,
    incident_body,
    interrupt_on_sigterm,
    latency_ms,
    percentiles,
    run,
    say,
    scratch,
    service_pids,
    services_running,
    ticker,
    verdict,
    write_json,
)
from sievert_shared.testing import devstack
from sievert_shared.topics import Topics

TARGET_P99_MS = 250.0
TARGET_CPU_MS_PER_INCIDENT = 1.5  # the whole pipeline: four services, PostgreSQL and Kafka
SERVICES = ("intake", "classifier", "deadlines", "reporting")
PIPELINE = (*SERVICES, "postgres", "kafka")  # what an incident costs; the bench is the client
# A reporting row is whole once the decision and the windows are projected into it.
COMPLETE_ROWS = "SELECT count(*) FROM incidents WHERE decision IS NOT NULL AND deadlines <> '{}'::jsonb"
MAX_CONNECTIONS = 2000  # open loop: a stalled service shows as latency, not as unbounded sockets


class ConnectionPool:
    """Keep-alive connections to one service: an idle one if there is one, else a new one,
    so an open-loop sender never waits for an earlier answer before sending."""

    # uvicorn closes a keep-alive connection after 5 s idle; retire ours well before that.
    MAX_IDLE_SECONDS = 2.0

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._idle: list[tuple[float, HttpConnection]] = []
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)
        self.opened = 0

    async def _open(self) -> HttpConnection:
        self.opened += 1
        return await HttpConnection.open(self._host, self._port)

    async def warm(self, count: int) -> None:
        for _ in range(count):
            self._idle.append((time.monotonic(), await self._open()))

    def _take(self) -> HttpConnection | None:
        while self._idle:
            since, conn = self._idle.pop()
            if time.monotonic() - since < self.MAX_IDLE_SECONDS:
                return conn
            conn.close()
        return None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        async with self._slots:
            conn = self._take()
            try:
                if conn is None:
                    conn = await self._open()
                    answer = await conn.request(raw)
                else:
                    try:
                        answer = await conn.request(raw)
                    except asyncio.IncompleteReadError as exc:
                        if exc.partial:
                            raise
                        # closed by the server while idle, before it read the request: resend
                        conn.close()
                        conn = await self._open()
                        answer = await conn.request(raw)
            except BaseException:
                if conn is not None:
                    conn.close()
                raise
            self._idle.append((time.monotonic(), conn))
            return answer

    def close(self) -> None:
        for _, conn in self._idle:
            conn.close()


@dataclass
class Tracker:
    """What happened to each correlation id, in perf_counter seconds."""

    scheduled: dict[str, float] = field(default_factory=dict)
    sent: dict[str, float] = field(default_factory=dict)
    answered: dict[str, float] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    reported: dict[str, float] = field(default_factory=dict)
    classified: dict[str, float] = field(default_factory=dict)
    scheduled_windows: dict[str, float] = field(default_factory=dict)  # first DeadlineScheduled
    windows: dict[str, int] = field(default_factory=dict)  # DeadlineScheduled records read
    reported_row: dict[str, float] = field(default_factory=dict)  # first DeadlineCountsChanged
    first_error: str | None = None


async def follow(consumer: AIOKafkaConsumer, topics: Topics, seen: Tracker, stop: asyncio.Event) -> None:
    """Stamp the read time of each IncidentReported, IncidentClassified, DeadlineScheduled and
    DeadlineCountsChanged, by correlation id. The headers carry both the id and the event
    type, so nothing is decoded."""
    while not stop.is_set():
        batches = await consumer.getmany(timeout_ms=100)
        now = time.perf_counter()
        for records in batches.values():
            for record in records:
                headers = dict(record.headers)
                cid = headers.get("correlation_id", b"").decode()
                kind = headers.get("event_type")
                if record.topic == topics.incidents:
                    seen.reported.setdefault(cid, now)
                elif kind == b"IncidentClassified":
                    seen.classified.setdefault(cid, now)
                elif kind == b"DeadlineScheduled":
                    seen.scheduled_windows.setdefault(cid, now)
                    seen.windows[cid] = seen.windows.get(cid, 0) + 1
                elif kind == b"DeadlineCountsChanged":
                    seen.reported_row.setdefault(cid, now)


async def offer(
    pool: ConnectionPool, host: str, seen: Tracker, *, rate: float, seconds: float, label: str, tag: str
) -> list[str]:
    """Send ``rate`` POSTs a second for ``seconds``, each at its scheduled time whatever the
    earlier ones are doing. Returns the correlation ids sent."""
    count = round(rate * seconds)
    ids = [f"{tag}-{n}" for n in range(count)]
    pending: set[asyncio.Task[None]] = set()

    async def send(cid: str) -> None:
        raw = http_request("POST", host, "/v1/incidents", incident_body(), {"X-Correlation-ID": cid})
        seen.sent[cid] = time.perf_counter()
        try:
            status, body = await pool.request(raw)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            status, body = 0, repr(exc).encode()
        seen.answered[cid] = time.perf_counter()
        seen.status[cid] = status
        if status != 202 and seen.first_error is None:
            seen.first_error = f"{status}: {body[:300]!r}"

    started = time.perf_counter()

    def progress() -> str:
        elapsed = time.perf_counter() - started
        done = sum(1 for c in ids if c in seen.classified)
        windows = sum(1 for c in ids if c in seen.scheduled_windows)
        return (
            f"  {label}: {elapsed:4.1f}s, {len(pending)} in flight, "
            f"{sum(1 for c in ids if c in seen.answered):,} answered, {done:,} classified, "
            f"{windows:,} windows open"
        )

    progress_task = asyncio.create_task(ticker(5.0, progress))
    try:
        for n, cid in enumerate(ids):
            due = started + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            seen.scheduled[cid] = due
            task = asyncio.create_task(send(cid))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.gather(*pending)
    finally:
        progress_task.cancel()
    return ids


async def wait_until(predicate: Any, *, timeout: float, what: str) -> float:
    """Seconds until ``predicate()`` holds, polled; raises on the deadline."""
    started = time.perf_counter()
    while not predicate():
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"{what}: not within {timeout:.0f}s")
        await asyncio.sleep(0.05)  # a poll interval
    return time.perf_counter() - started


def _lat_cell(lat: dict[str, float]) -> str:
    return f"{lat['p50']:.0f} / {lat['p95']:.0f} / {lat['p99']:.0f} / {lat['max']:.0f} ms"


def _lat_line(name: str, lat: dict[str, float]) -> str:
    return f"{name}: p50 {lat['p50']:.1f} / p95 {lat['p95']:.1f} / p99 {lat['p99']:.1f} / max {lat['max']:.1f} ms"


def _slash(values: dict[str, float], keys: Sequence[str], fmt: str = "{:.2f}") -> str:
    return " / ".join(fmt.format(values.get(k, math.nan)) for k in keys)


def _pipeline_total(values: dict[str, float]) -> float:
    return sum(values.get(k, 0.0) for k in PIPELINE)


def stage_counts(seen: Tracker, start: float, end: float) -> dict[str, float]:
    """Incidents each service finished between ``start`` and ``end`` (perf_counter seconds),
    any run's: intake's relayed IncidentReported, the classifier's decision, deadlines' first
    window. Reporting announces once per batch, so its rows are counted in its database."""
    marks = {
        "intake": seen.reported,
        "classifier": seen.classified,
        "deadlines": seen.scheduled_windows,
    }
    return {name: sum(1 for t in stamps.values() if start <= t <= end) for name, stamps in marks.items()}


async def complete_rows(conn: asyncpg.Connection, expected: int, *, timeout: float) -> int:
    """Rows of reporting's read model with a decision and windows, once there are ``expected``
    of them or ``timeout`` has passed (polled)."""
    started = time.perf_counter()
    while True:
        rows = int(await conn.fetchval(COMPLETE_ROWS))
        if rows >= expected or time.perf_counter() - started > timeout:
            return rows
        await asyncio.sleep(0.2)  # a poll interval


@dataclass
class Probes:
    """The connections the bench reads the pipeline's state through."""

    postgres: PostgresPids
    monitor: asyncpg.Connection  # any of our databases: to list PostgreSQL's pids
    reporting: asyncpg.Connection
    round_trips: RoundTrips | None = None


ROUND_TRIPS_MODULE = Path(__file__).resolve().parent / "round_trips"


class RoundTrips:
    """The services' round trips as ``round_trips/sitecustomize.py`` counts them in each process:
    PostgreSQL statements, and Kafka requests by kind. They do not depend on how fast the machine
    is, as CPU time does, but they follow batch sizes, which follow timing: compare runs, not
    single figures."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def env(self) -> dict[str, str]:
        """What the services need to count: the module first on their path, and where to write."""
        path = os.environ.get("PYTHONPATH", "")
        return {
            "SIEVERT_BENCH_ROUND_TRIPS_DIR": str(self.directory),
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROUND_TRIPS_MODULE), path) if p),
        }

    async def sample(self) -> dict[str, Counter[str]]:
        """Each service's counts so far, replicas summed."""
        await asyncio.sleep(0.3)  # every process has written what it counted up to now
        counts: dict[str, Counter[str]] = {name: Counter() for name in SERVICES}
        for path in self.directory.glob("*.json"):
            written = json.loads(path.read_text())
            argv = " ".join(written["argv"])
            for name in SERVICES:
                if f"sievert_{name}" in argv:
                    counts[name].update(written["counts"])
        return counts

    @staticmethod
    def per_incident(
        before: dict[str, Counter[str]], after: dict[str, Counter[str]], incidents: int
    ) -> dict[str, dict[str, float]]:
        return {
            name: {kind: (after[name][kind] - before[name][kind]) / incidents for kind in after[name]}
            for name in SERVICES
            if incidents
        }


def describe_round_trips(per_incident: dict[str, dict[str, float]]) -> list[str]:
    statements = {name: kinds.get("postgres", 0.0) for name, kinds in per_incident.items()}
    kafka: Counter[str] = Counter()
    for kinds in per_incident.values():
        kafka.update({k.removeprefix("kafka."): v for k, v in kinds.items() if k.startswith("kafka.")})
    return [
        "round trips per incident: PostgreSQL statements "
        + ", ".join(f"{name} {n:.2f}" for name, n in statements.items())
        + f" = {sum(statements.values()):.2f}",
        f"  Kafka requests {sum(kafka.values()):.2f}: "
        + ", ".join(f"{kind} {n:.2f}" for kind, n in kafka.most_common() if n >= 0.005),
    ]


async def measure_idle(
    meter: CpuMeter, probes: Probes, seconds: float
) -> tuple[dict[str, Any], list[list[str]]]:
    """CPU the pipeline spends with no load, per second: consumers' polls, relays' and timers'
    loops, Kafka's own work. At a low rate this fixed cost is spread over few incidents."""
    say(f"idle: {seconds:g}s with no load")
    await probes.postgres.refresh(probes.monitor)
    before = meter.sample()
    await asyncio.sleep(seconds)  # the measured interval itself, not a wait for anything
    await probes.postgres.refresh(probes.monitor)
    after = meter.sample()
    elapsed = after[0] - before[0]
    per_second = {k: v / elapsed for k, v in CpuMeter.per_event(before, after, 1).items()}
    total = _pipeline_total(per_second)
    say(
        "  cpu ms per second: "
        + ", ".join(f"{k} {per_second.get(k, math.nan):.1f}" for k in PIPELINE)
        + f" = {total:.1f} ms/s ({total / 10:.1f}% of a core)"
    )
    rows = [
        [
            "pipeline cpu with no load, ms per second (intake/classifier/deadlines/reporting/postgres/kafka)",
            _slash(per_second, PIPELINE, "{:.1f}") + f" = {total:.1f}",
            "",
            "",
        ]
    ]
    return {"seconds": elapsed, "cpu_ms_per_second": per_second, "pipeline_ms_per_second": total}, rows


async def measure_rate(
    pool: ConnectionPool,
    host: str,
    seen: Tracker,
    meter: CpuMeter,
    probes: Probes,
    rate: float,
    args: argparse.Namespace,
) -> tuple[dict[str, Any], list[list[str]]]:
    if args.warmup > 0:
        say(f"{rate:g}/s: warm-up for {args.warmup:g}s (discarded)")
        warm = await offer(
            pool, host, seen, rate=rate, seconds=args.warmup, label="warm-up", tag=f"warm{rate:g}"
        )
        with contextlib.suppress(TimeoutError):
            await wait_until(
                lambda: all(c in seen.scheduled_windows for c in warm if seen.status.get(c) == 202),
                timeout=min(args.drain_timeout, 10.0),
                what="warm-up windows",
            )
        warm_rows = sum(1 for status in seen.status.values() if status == 202)
        await complete_rows(probes.reporting, warm_rows, timeout=min(args.drain_timeout, 10.0))

    say(f"{rate:g}/s: measuring, open loop for {args.seconds:g}s")
    await probes.postgres.refresh(probes.monitor)
    rows_before = int(await probes.reporting.fetchval(COMPLETE_ROWS))
    cpu_before = meter.sample()
    trips_before = await probes.round_trips.sample() if probes.round_trips else None
    ids = await offer(
        pool, host, seen, rate=rate, seconds=args.seconds, label=f"{rate:g}/s", tag=f"run{rate:g}"
    )
    accepted = [c for c in ids if seen.status.get(c) == 202]
    drain_started = time.perf_counter()
    try:
        await wait_until(
            lambda: all(c in seen.scheduled_windows for c in accepted),
            timeout=args.drain_timeout,
            what="windows of the measured incidents",
        )
    except TimeoutError as exc:
        say(f"  {exc}")
    # Every incident accepted so far, the probe and the warm-ups included, should have its row.
    expected_rows = sum(1 for status in seen.status.values() if status == 202)
    drain_left = max(args.drain_timeout - (time.perf_counter() - drain_started), 5.0)
    rows_complete = await complete_rows(probes.reporting, expected_rows, timeout=drain_left)
    await probes.postgres.refresh(probes.monitor)  # backends the pools opened meanwhile count from zero
    cpu_after = meter.sample()
    trips_after = await probes.round_trips.sample() if probes.round_trips else None
    cpu = CpuMeter.usage(cpu_before, cpu_after)
    classified_ids = [c for c in accepted if c in seen.classified]
    opened_ids = [c for c in accepted if c in seen.scheduled_windows]
    row_ids = [c for c in accepted if c in seen.reported_row]
    # An incident is carried through once its windows are open; its cost is everything the
    # pipeline's processes spent over the run, the drain to the reporting rows included.
    cost = CpuMeter.per_event(cpu_before, cpu_after, len(opened_ids))
    pipeline_cost = _pipeline_total(cost)
    # Behind its load, a service's cost per incident it actually handled in the run says more
    # than one charged to the few incidents that made it all the way through.
    handled = stage_counts(seen, cpu_before[0], cpu_after[0])
    handled["reporting"] = rows_complete - rows_before
    ticks_ms = CpuMeter.per_event(cpu_before, cpu_after, 1)
    stage_cost = {k: ticks_ms.get(k, math.nan) / n if n else math.nan for k, n in handled.items()}

    sends = sorted(seen.sent[c] for c in ids)
    achieved = (len(sends) - 1) / (sends[-1] - sends[0]) if len(sends) > 1 else math.nan
    lag_p99, lag_max = percentiles([seen.sent[c] - seen.scheduled[c] for c in ids], 99, 100)
    http = latency_ms([seen.answered[c] - seen.sent[c] for c in accepted])
    reported = latency_ms([seen.reported[c] - seen.sent[c] for c in accepted if c in seen.reported])
    classified = latency_ms([seen.classified[c] - seen.sent[c] for c in classified_ids])
    windows = latency_ms([seen.scheduled_windows[c] - seen.sent[c] for c in opened_ids])
    row = latency_ms([seen.reported_row[c] - seen.sent[c] for c in row_ids])
    windows_each = sum(seen.windows[c] for c in opened_ids) / len(opened_ids) if opened_ids else math.nan
    missing = len(accepted) - len(opened_ids)
    errors = len(ids) - len(accepted)
    ok = windows["p99"] <= TARGET_P99_MS and missing == 0 and errors == 0
    cost_ok = pipeline_cost <= TARGET_CPU_MS_PER_INCIDENT and missing == 0
    figures = {
        "offered_rate": rate,
        "achieved_rate": achieved,
        "seconds": args.seconds,
        "sent": len(ids),
        "accepted": len(accepted),
        "errors": errors,
        "missing": missing,
        "not_classified": len(accepted) - len(classified_ids),
        "windows_per_incident": windows_each,
        "reporting_rows_complete": rows_complete,
        "reporting_rows_expected": expected_rows,
        "sender_lag_ms": {"p99": lag_p99 * 1000, "max": lag_max * 1000},
        "http_ms": http,
        "reported_ms": reported,
        "classified_ms": classified,
        "deadline_scheduled_ms": windows,
        "reporting_row_ms": row,
        "cpu_percent": cpu,
        "cpu_ms_per_event": cost,
        "cpu_ms_per_incident_pipeline": pipeline_cost,
        "handled_in_run": handled,
        "cpu_ms_per_incident_handled": stage_cost,
    }
    trips: dict[str, dict[str, float]] | None = None
    if trips_before is not None and trips_after is not None:
        # Charged to the incidents carried through, as the CPU is.
        trips = RoundTrips.per_incident(trips_before, trips_after, len(opened_ids))
        figures["round_trips_per_incident"] = trips
    say(
        f"  sent {len(ids):,} at {achieved:,.0f}/s (sender lag p99 {lag_p99 * 1000:.1f} ms), "
        f"{len(accepted):,} accepted, {errors} errors, {len(accepted) - len(classified_ids)} not classified, "
        f"{missing} without windows ({windows_each:.1f} windows each), "
        f"reporting rows {rows_complete:,} of {expected_rows:,}"
    )
    say("  " + _lat_line("POST -> 202 answer", http))
    say("  " + _lat_line("POST -> IncidentReported read", reported))
    say("  " + _lat_line("POST -> IncidentClassified read", classified))
    say(
        "  "
        + _lat_line("POST -> DeadlineScheduled read", windows)
        + f" ({verdict(ok)} p99 <= {TARGET_P99_MS:.0f} ms)"
    )
    say("  " + _lat_line("POST -> reporting's batch announcement (DeadlineCountsChanged, sampled)", row))
    say(f"  {describe_cpu(cpu)}")
    say(f"  {describe_per_event(cost)}")
    say(
        f"  cpu ms per incident, whole pipeline (services + postgres + kafka): {pipeline_cost:.2f} "
        f"({verdict(cost_ok)} <= {TARGET_CPU_MS_PER_INCIDENT} ms)"
    )
    say(
        "  cpu ms per incident each service handled in the run: "
        + ", ".join(f"{k} {stage_cost[k]:.2f} ({handled[k]:,.0f})" for k in SERVICES)
    )
    if trips is not None:
        for line in describe_round_trips(trips):
            say(f"  {line}")
    if seen.first_error:
        say(f"  first error: {seen.first_error}")
    rows = [
        [
            f"POST -> DeadlineScheduled p50/p95/p99/max at {rate:g}/s",
            _lat_cell(windows),
            f"p99 <= {TARGET_P99_MS:.0f} ms",
            verdict(ok),
        ],
        ["  POST -> IncidentClassified", _lat_cell(classified), "", ""],
        [
            "  POST -> reporting batch announced (a sample: last incident of each batch)",
            _lat_cell(row),
            "",
            "",
        ],
        ["  POST -> IncidentReported read (intake + its relay)", _lat_cell(reported), "", ""],
        ["  POST -> 202 answer", _lat_cell(http), "", ""],
        [
            "  achieved send rate / accepted / errors / without windows / reporting rows",
            f"{achieved:,.0f}/s / {len(accepted):,} / {errors} / {missing} / "
            f"{rows_complete:,} of {expected_rows:,}",
            "",
            "",
        ],
        [
            f"cpu ms per incident, whole pipeline, at {rate:g}/s",
            # Work spent on incidents still in flight is charged to those carried through.
            f"{pipeline_cost:.2f}" + (f" (overstated: {missing:,} still in flight)" if missing else ""),
            f"<= {TARGET_CPU_MS_PER_INCIDENT} ms",
            verdict(cost_ok),
        ],
        ["  intake / classifier / deadlines / reporting", _slash(cost, SERVICES), "", ""],
        ["  postgres / kafka (bench, not counted)", _slash(cost, ("postgres", "kafka", "bench")), "", ""],
        [
            "  per incident each service handled in the run: intake/classifier/deadlines/reporting",
            _slash(stage_cost, SERVICES) + " (" + _slash(handled, SERVICES, "{:,.0f}") + " handled)",
            "",
            "",
        ],
        [
            "  cpu % of a core: intake/classifier/deadlines/reporting/postgres/kafka/bench/other",
            _slash(cpu, (*PIPELINE, "bench", "other"), "{:.0f}"),
            "",
            "",
        ],
    ]
    return figures, rows


async def measure(
    services: dict[str, list[devstack.RunningService]],
    infra: Infra,
    where: Scratch,
    args: argparse.Namespace,
    round_trips: RoundTrips | None = None,
) -> tuple[dict[str, Any], list[list[str]]]:
    topics = Topics(where.prefix)
    intake_host, intake_port = host_port(services["intake"][0].url)
    host = f"{intake_host}:{intake_port}"
    seen = Tracker()
    stop = asyncio.Event()
    postgres = PostgresPids(list(where.database_urls.values()))
    meter = CpuMeter({name: service_pids(services, name) for name in SERVICES}, postgres=postgres)
    probes = Probes(
        postgres,
        await asyncpg.connect(where.database_urls["intake"]),
        await asyncpg.connect(where.database_urls["reporting"]),
        round_trips,
    )
    consumer = AIOKafkaConsumer(
        topics.incidents,
        topics.classifications,
        topics.deadlines,
        topics.dashboard,
        bootstrap_servers=infra.kafka_bootstrap,
        group_id=None,  # every partition, no group to join
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    pool = ConnectionPool(intake_host, intake_port)
    following = asyncio.create_task(follow(consumer, topics, seen, stop))
    figures: dict[str, Any] = {"rates": []}
    rows: list[list[str]] = []
    try:
        await pool.warm(32)
        say("probe: one incident through all four services (every consumer group has joined)")
        probe = f"probe-{uuid.uuid4().hex[:8]}"
        await offer(pool, host, seen, rate=1, seconds=1, label="probe", tag=probe)
        ready_after = await wait_until(
            lambda: f"{probe}-0" in seen.reported_row, timeout=90, what="the probe's reporting row"
        )
        say(f"  reporting row {ready_after:.2f}s after its 202")
        if args.idle > 0:
            figures["idle"], idle_rows = await measure_idle(meter, probes, args.idle)
        for rate in args.rate:
            rate_figures, rate_rows = await measure_rate(pool, host, seen, meter, probes, rate, args)
            figures["rates"].append(rate_figures)
            rows += rate_rows
        if args.idle > 0:
            rows += idle_rows
    finally:
        stop.set()
        await following
        await consumer.stop()
        await probes.monitor.close()
        await probes.reporting.close()
        pool.close()
    figures["connections_opened"] = pool.opened
    return figures, rows


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--rate", type=float, nargs="+", default=[500], help="POSTs offered per second, one run each"
    )
    parser.add_argument("--seconds", type=float, default=20, help="measured duration of each rate")
    parser.add_argument("--warmup", type=float, default=3, help="discarded seconds at the rate first")
    parser.add_argument(
        "--idle", type=float, default=5, help="seconds of no load to measure the idle cost (0: skip)"
    )
    parser.add_argument("--drain-timeout", type=float, default=30, help="wait this long for stragglers")
    parser.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for every service",
    )
    parser.add_argument(
        "--round-trips",
        action="store_true",
        help="also count each service's PostgreSQL statements and Kafka requests per incident "
        "(a module on the services' path wraps their clients; costs them a little CPU)",
    )
    parser.add_argument("--json", help="write the figures here for run_all")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    interrupt_on_sigterm()
    infra = Infra.from_env()
    extra_env = dict(item.split("=", 1) for item in args.service_env)
    with scratch(infra, SERVICES) as where, tempfile.TemporaryDirectory(prefix="sievert-trips-") as counts:
        round_trips = RoundTrips(Path(counts)) if args.round_trips else None
        if round_trips is not None:
            extra_env = {**round_trips.env(), **extra_env}
        say(f"e2e bench: {', '.join(SERVICES)}, databases bench_*_{where.run_id}, topics {where.prefix}.*")
        with services_running(infra, where, dict.fromkeys(SERVICES, 1), extra_env=extra_env) as services:
            figures, rows = run(measure(services, infra, where, args, round_trips))
    write_json(args.json, "e2e", figures, rows)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
