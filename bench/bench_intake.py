"""Durable intake throughput: POST /v1/incidents against the intake service run as a process.

The service runs as ``python -m sievert_intake`` (uvicorn, one process unless ``--replicas``)
on a database and a topic prefix of its own, with its outbox relay publishing to Kafka as in
production. For each concurrency level, N keep-alive clients post incidents back to back
(closed loop) for a fixed count after a warm-up. A 202 means the event, its outbox row and
the answer are committed, so the figure is committed events per second: rows added to
``events`` over the elapsed time. After each level the bench waits for the relay to publish
the whole outbox, so a level never inherits the previous one's backlog.

The load generator is a minimal HTTP/1.1 client over asyncio streams (no extra dependency):
it uses a few per cent of a core where httpx would compete with the service for the CPU.
This module also holds the helpers the other benchmarks share: scratch databases and topics,
service processes, the HTTP client, percentiles and a CPU meter.

Bulk intake is measured last: ``--batch-files`` NDJSON files of ``--batch-lines`` reports each,
posted to ``POST /v1/incidents:batch`` by ``--batch-clients`` clients (after one warm-up file);
every line must come back 202, and the figure is again committed events per second, with the
CPU each event cost.

    .venv/bin/python bench/bench_intake.py [--requests 5000] [--warmup 500] [--concurrency 32 64]
        [--replicas 1] [--idempotency-key] [--service-env INTAKE_DATABASE_POOL_MAX=20] [--json PATH]
        [--batch-lines 5000] [--batch-files 6] [--batch-clients 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import math
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: bench/ is not a package

from sievert_shared.loop import run as run  # the benches run on it, and import it from here
from sievert_shared.testing import devstack
from tests.support.samples import ct_overexposure

TARGET_EVENTS_PER_SECOND = 3000
#: Bulk intake (POST /v1/incidents:batch): committed events per second from NDJSON files.
TARGET_BULK_EVENTS_PER_SECOND = 30_000
T = TypeVar("T")


# --- running, printing and reporting -------------------------------------------------------


def say(message: str) -> None:
    print(message, flush=True)


def interrupt_on_sigterm() -> None:
    """``make`` and ``run_all`` stop a bench with a signal: unwind so ``finally`` cleans up."""

    def _raise(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _raise)


def percentiles(samples: Sequence[float], *quantiles: float) -> list[float]:
    """Nearest-rank percentiles; NaN for no samples."""
    if not samples:
        return [math.nan for _ in quantiles]
    ordered = sorted(samples)
    return [ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))] for q in quantiles]


def ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def latency_ms(samples: Sequence[float]) -> dict[str, float]:
    p50, p95, p99, p100 = percentiles(samples, 50, 95, 99, 100)
    return {"p50": p50 * 1000, "p95": p95 * 1000, "p99": p99 * 1000, "max": p100 * 1000}


def verdict(ok: bool) -> str:
    return "meets" if ok else "BELOW"


def write_json(path: str | None, bench: str, figures: Mapping[str, Any], rows: list[list[str]]) -> None:
    """Figures for ``run_all``'s table: ``rows`` are [measure, result, target, verdict]."""
    if path:
        Path(path).write_text(json.dumps({"bench": bench, "figures": figures, "rows": rows}, indent=1))


async def ticker(every: float, report: Callable[[], str]) -> None:
    """Print a progress line every ``every`` seconds until cancelled."""
    while True:
        await asyncio.sleep(every)
        say(report())


# --- the stack, scratch databases and topics -----------------------------------------------


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    admin_database_url: str  # any database on the server; the role may CREATE DATABASE

    @classmethod
    def from_env(cls) -> Infra:
        missing = [k for k in ("KAFKA_BOOTSTRAP_SERVERS", "INTAKE_DATABASE_URL") if not os.environ.get(k)]
        if missing:
            raise SystemExit(
                f"{' and '.join(missing)} not set: run `make bench`, or `bash scripts/stack.sh up` "
                'then `eval "$(bash scripts/stack.sh env)"`'
            )
        return cls(os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["INTAKE_DATABASE_URL"])


def database_url(base: str, name: str) -> str:
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


@dataclass(frozen=True)
class Scratch:
    run_id: str
    prefix: str
    database_urls: dict[str, str]


async def _create_databases(admin_url: str, names: Sequence[str]) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        for name in names:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def _drop_databases(admin_url: str, names: Sequence[str]) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        ours = [t for t in await admin.list_topics() if t.startswith(f"{prefix}.")]
        if ours:
            await admin.delete_topics(ours)
    finally:
        await admin.close()


@contextlib.contextmanager
def scratch(infra: Infra, services: Sequence[str]) -> Iterator[Scratch]:
    """A database per service and a topic prefix, all dropped afterwards, whatever happens."""
    run_id = uuid.uuid4().hex[:8]
    names = {s: f"bench_{s}_{run_id}" for s in services}
    prefix = f"bench-{run_id}"
    try:
        if names:
            asyncio.run(_create_databases(infra.admin_database_url, list(names.values())))
        yield Scratch(
            run_id, prefix, {s: database_url(infra.admin_database_url, n) for s, n in names.items()}
        )
    finally:
        with contextlib.suppress(Exception):
            asyncio.run(delete_topics(infra.kafka_bootstrap, prefix))
        if names:
            asyncio.run(_drop_databases(infra.admin_database_url, list(names.values())))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def services_running(
    infra: Infra,
    where: Scratch,
    replicas: Mapping[str, int],
    *,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[dict[str, list[devstack.RunningService]]]:
    """Start services as processes (``replicas`` of each, on ports of their own), wait until
    each answers /readyz, and stop them all afterwards. On failure, show each one's log tail."""
    log_dir = Path(tempfile.mkdtemp(prefix=f"sievert-bench-{where.run_id}-"))
    base = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "KAFKA_TOPIC_PREFIX": where.prefix,
        **(extra_env or {}),
    }
    started: dict[str, list[devstack.RunningService]] = {}
    failed = True
    try:
        for name, count in replicas.items():
            for replica in range(count):
                port = free_port()
                env = devstack.service_env(
                    base, database_urls={name: where.database_urls[name]}, ports={name: port}
                )
                service = devstack.start(name, env, port, log_dir / f"{name}-{replica}")
                started.setdefault(name, []).append(service)
        devstack.wait_ready([s for group in started.values() for s in group], timeout=60)
        yield started
        failed = False
    finally:
        for group in started.values():
            for service in group:
                devstack.stop(service)
        if failed:
            for group in started.values():
                for service in group:
                    tail = "\n    ".join(line[:300] for line in service.log_lines()[-12:])
                    say(f"--- {service.name} log ({service.log_path}):\n    {tail}")
        else:
            shutil.rmtree(log_dir, ignore_errors=True)


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


# --- a minimal HTTP/1.1 load-generating client ----------------------------------------------


class HttpConnection:
    """One keep-alive HTTP/1.1 connection; its requests go one after another.

    Enough HTTP for uvicorn's answers (a status line, headers and a Content-Length body) and
    cheap enough that the load generator is not what a figure measures.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConnection:
        reader, writer = await asyncio.open_connection(host, port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self._writer.write(raw)
        await self._writer.drain()
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            lowered = name.strip().lower()
            if lowered == b"content-length":
                length = int(value)
            elif lowered == b"transfer-encoding":
                raise RuntimeError("chunked responses are not supported by the bench client")
        body = await self._reader.readexactly(length) if length else b""
        return status, body

    def close(self) -> None:
        self._writer.close()


def http_request(
    method: str, host: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def incident_facts(discovered_on: dt.date) -> dict[str, Any]:
    """The tests' CT overexposure (notifiable, CQC table code 2.2), so the classifier does its full
    work; every bench uses these facts, so their figures are for the same incident."""
    facts: dict[str, Any] = ct_overexposure(discovered_on=discovered_on)["facts"]
    return facts


def incident_body(*, discovered_on: dt.date | None = None) -> bytes:
    """England, adult CT given 12x the intended 1 mSv: notifiable, CQC table code 2.2 (10x or
    more), so the classifier does its full work and emits IncidentClassified. Each body has a
    source message id of its own: intake refuses a second report of the same message."""
    discovered = discovered_on or dt.datetime.now(dt.UTC).date()
    return json.dumps(
        {
            "trust": "RXX",
            "site": "RXX01",
            "source_message_id": f"bench-{uuid.uuid4().hex}",
            "facts": incident_facts(discovered),
        },
        separators=(",", ":"),
    ).encode()


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    first_error: str | None = None
    elapsed: float = 0.0

    @property
    def done(self) -> int:
        return sum(self.statuses.values())


async def closed_loop(
    targets: Sequence[tuple[str, int]],
    *,
    clients: int,
    count: int,
    make_request: Callable[[int, str], bytes],
    label: str,
    expect: int = 202,
) -> LoadResult:
    """``clients`` connections (spread over ``targets``), each sending its next request as soon
    as the previous answer arrives, until ``count`` requests are answered."""
    connections = [await HttpConnection.open(*targets[k % len(targets)]) for k in range(clients)]
    result = LoadResult()
    numbers = itertools.count()

    async def client(k: int) -> None:
        conn = connections[k]
        target = targets[k % len(targets)]
        host = "%s:%d" % target  # noqa: UP031 - the Host header value
        while (n := next(numbers)) < count:
            raw = make_request(n, host)
            started = time.perf_counter()
            try:
                status, body = await conn.request(raw)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                # uvicorn drops the connection after an unhandled error: count it, reconnect.
                status, body = 0, repr(exc).encode()
                conn.close()
                conn = connections[k] = await HttpConnection.open(*target)
            result.latencies.append(time.perf_counter() - started)
            result.statuses[status] += 1
            if status != expect and result.first_error is None:
                result.first_error = f"{status}: {body[:300]!r}"

    started = time.perf_counter()

    def progress() -> str:
        elapsed = time.perf_counter() - started
        return f"  {label}: {result.done:,}/{count:,} answered, {result.done / elapsed:,.0f} req/s"

    progress_task = asyncio.create_task(ticker(2.0, progress))
    try:
        await asyncio.gather(*(client(k) for k in range(clients)))
    finally:
        result.elapsed = time.perf_counter() - started
        progress_task.cancel()
        for conn in connections:
            conn.close()
    return result


# --- CPU accounting ---------------------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_ticks(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))


def _pids_named(comm: str, cmdline_contains: str | None = None) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != comm:
                continue
            if cmdline_contains and cmdline_contains not in (entry / "cmdline").read_bytes().decode(
                errors="replace"
            ):
                continue
        except OSError:
            continue
        pids.append(int(entry.name))
    return pids


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except OSError:
        return 0, 0
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


Sample = tuple[float, dict[str, dict[int, int]], tuple[int, int]]


class CpuMeter:
    """CPU used per process group between two samples, in per cent of one core, to say what a
    figure was limited by, and how much of the machine other processes took (the noise of a
    shared machine). Linux /proc only; elsewhere it reports nothing."""

    def __init__(
        self,
        groups: Mapping[str, Callable[[], list[int]]],
        *,
        postgres: Callable[[], list[int]] = lambda: _pids_named("postgres"),
    ) -> None:
        self._groups: dict[str, Callable[[], list[int]]] = {
            **groups,
            "postgres": postgres,
            "kafka": lambda: _pids_named("java", "kafka"),
            "bench": lambda: [os.getpid()],
        }

    def sample(self) -> Sample:
        ticks = {name: {p: _proc_ticks(p) for p in pids()} for name, pids in self._groups.items()}
        return time.perf_counter(), ticks, _machine_ticks()

    @staticmethod
    def _ticks(before: Sample, after: Sample) -> dict[str, int]:
        used = {}
        for name, pids in after[1].items():
            # A process that exited in between is lost; one that started counts from zero.
            earlier = before[1].get(name, {})
            used[name] = max(0, sum(t - earlier.get(pid, 0) for pid, t in pids.items()))
        return used

    @classmethod
    def usage(cls, before: Sample, after: Sample) -> dict[str, float]:
        elapsed = after[0] - before[0]
        if elapsed <= 0:
            return {}
        used = {name: 100 * ticks / _TICKS / elapsed for name, ticks in cls._ticks(before, after).items()}
        busy = after[2][0] - before[2][0]
        total = after[2][1] - before[2][1]
        if total > 0:
            ours = sum(used.values())
            machine = 100 * busy / total
            used["machine"] = machine
            used["other"] = max(0.0, machine * (os.cpu_count() or 1) - ours)
        return used

    @classmethod
    def per_event(cls, before: Sample, after: Sample, events: int) -> dict[str, float]:
        """CPU milliseconds each process group spent per event: what an event costs, and so
        how many a second the machine's cores could carry at most."""
        if events <= 0:
            return {}
        return {name: 1000 * ticks / _TICKS / events for name, ticks in cls._ticks(before, after).items()}


class PostgresPids:
    """The backends of our databases and the server's own processes (WAL writer, checkpointer,
    autovacuum...), not other people's sessions on a shared server. Refresh before sampling."""

    def __init__(self, databases: Sequence[str]) -> None:
        self._databases = [urlsplit(url).path.lstrip("/") for url in databases]
        self._pids: list[int] = []

    async def refresh(self, conn: asyncpg.Connection) -> None:
        rows = await conn.fetch(
            """SELECT pid FROM pg_stat_activity
               WHERE datname = ANY($1::text[]) OR backend_type <> 'client backend'""",
            self._databases,
        )
        self._pids = [int(r["pid"]) for r in rows]

    def __call__(self) -> list[int]:
        return self._pids


def describe_per_event(cost: Mapping[str, float]) -> str:
    total = sum(cost.values())
    parts = [f"{name} {ms:.2f}" for name, ms in cost.items()]
    cores = os.cpu_count() or 1
    ceiling = f", at most {1000 * cores / total:,.0f} events/s on {cores} cores" if total else ""
    return f"cpu ms per event: {', '.join(parts)} = {total:.2f} ms{ceiling}"


def describe_cpu(usage: Mapping[str, float]) -> str:
    parts = [f"{name} {pct:.0f}%" for name, pct in usage.items() if name not in ("machine", "other")]
    if "machine" in usage:
        parts.append(f"other processes {usage['other']:.0f}%")
        parts.append(f"(machine {usage['machine']:.0f}% busy of {os.cpu_count()} cores)")
    return "cpu, % of one core: " + ", ".join(parts)


def service_pids(
    services: Mapping[str, Sequence[devstack.RunningService]], name: str
) -> Callable[[], list[int]]:
    return lambda: [s.process.pid for s in services[name]]


# --- the intake benchmark ---------------------------------------------------------------------


async def _count(conn: asyncpg.Connection, sql: str) -> int:
    return int(await conn.fetchval(sql))


async def wait_for_outbox(conn: asyncpg.Connection, *, timeout: float = 60.0) -> float:
    """Seconds until the relay has published every outbox row (polled, with a deadline)."""
    started = time.perf_counter()
    while await _count(conn, "SELECT count(*) FROM outbox WHERE published_at IS NULL"):
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"the outbox relay did not catch up within {timeout:.0f}s")
        await asyncio.sleep(0.05)  # a poll interval
    return time.perf_counter() - started


async def measure(
    services: dict[str, list[devstack.RunningService]],
    database: str,
    args: argparse.Namespace,
) -> tuple[dict[str, Any], list[list[str]]]:
    targets = [host_port(s.url) for s in services["intake"]]
    postgres = PostgresPids([database])
    meter = CpuMeter({"intake": service_pids(services, "intake")}, postgres=postgres)
    figures: dict[str, Any] = {"replicas": args.replicas, "levels": []}
    rows: list[list[str]] = []
    procs = f"{args.replicas} process{'es' if args.replicas > 1 else ''}"

    def post(n: int, host: str) -> bytes:
        headers = {"X-Correlation-ID": f"bench-intake-{n}"}
        if args.idempotency_key:
            headers["Idempotency-Key"] = f"bench-{uuid.uuid4()}"
        return http_request("POST", host, "/v1/incidents", incident_body(), headers)

    conn = await asyncpg.connect(database)
    try:
        if args.ceiling:
            say(f"HTTP ceiling: GET /healthz, {args.ceiling:,} requests, 32 clients (no database)")
            ceiling = await closed_loop(
                targets,
                clients=32,
                count=args.ceiling,
                make_request=lambda _n, host: http_request("GET", host, "/healthz"),
                label="healthz",
                expect=200,
            )
            figures["healthz_per_second"] = ceiling.done / ceiling.elapsed
            say(f"  {figures['healthz_per_second']:,.0f} req/s")
            rows.append(
                [
                    f"HTTP ceiling, GET /healthz, {procs}",
                    f"{figures['healthz_per_second']:,.0f} req/s",
                    "",
                    "",
                ]
            )

        for clients in args.concurrency:
            label = f"{clients} clients"
            say(f"{label}: warm-up {args.warmup:,} requests")
            await closed_loop(targets, clients=clients, count=args.warmup, make_request=post, label=label)
            await wait_for_outbox(conn)

            say(f"{label}: measuring {args.requests:,} requests")
            before = await _count(conn, "SELECT count(*) FROM events")
            await postgres.refresh(conn)
            cpu_before = meter.sample()
            load = await closed_loop(
                targets, clients=clients, count=args.requests, make_request=post, label=label
            )
            await postgres.refresh(conn)  # backends the pool opened meanwhile count from zero
            cpu_after = meter.sample()
            cpu = CpuMeter.usage(cpu_before, cpu_after)
            committed = await _count(conn, "SELECT count(*) FROM events") - before
            drain = await wait_for_outbox(conn)
            cost = CpuMeter.per_event(cpu_before, cpu_after, committed)
            rate = committed / load.elapsed
            published_rate = committed / (load.elapsed + drain)
            lat = latency_ms(load.latencies)
            errors = load.done - load.statuses[202]
            level = {
                "clients": clients,
                "requests": load.done,
                "errors": errors,
                "committed": committed,
                "elapsed_s": load.elapsed,
                "committed_per_second": rate,
                "relay_drain_s": drain,
                "published_per_second": published_rate,
                "latency_ms": lat,
                "cpu_percent": cpu,
                "cpu_ms_per_event": cost,
            }
            figures["levels"].append(level)
            say(
                f"  {committed:,} events committed in {load.elapsed:.2f}s = {rate:,.0f} events/s "
                f"({verdict(rate >= TARGET_EVENTS_PER_SECOND)} {TARGET_EVENTS_PER_SECOND:,}/s); "
                f"latency p50 {lat['p50']:.1f} / p95 {lat['p95']:.1f} / p99 {lat['p99']:.1f} ms; "
                f"{errors} errors"
            )
            say(f"  outbox published {drain:.2f}s after the last answer ({published_rate:,.0f} events/s)")
            say(f"  {describe_cpu(cpu)}")
            say(f"  {describe_per_event(cost)}")
            if load.first_error:
                say(f"  first error: {load.first_error}")
            rows += [
                [
                    f"committed events/s, {label}, {procs}",
                    f"{rate:,.0f}/s",
                    f">= {TARGET_EVENTS_PER_SECOND:,}/s",
                    verdict(rate >= TARGET_EVENTS_PER_SECOND),
                ],
                [
                    f"  request latency p50/p95/p99, {label}",
                    f"{lat['p50']:.1f} / {lat['p95']:.1f} / {lat['p99']:.1f} ms",
                    "",
                    "",
                ],
                [f"  relay caught up after last answer, {label}", f"{drain:.2f} s", "", ""],
                [
                    f"  cpu ms per event: intake/postgres/kafka/bench, {label}",
                    " / ".join(
                        f"{cost.get(k, math.nan):.2f}" for k in ("intake", "postgres", "kafka", "bench")
                    ),
                    "",
                    "",
                ],
                [
                    f"  cpu % of a core: intake/postgres/kafka/bench/other, {label}",
                    " / ".join(
                        f"{cpu.get(k, math.nan):.0f}"
                        for k in ("intake", "postgres", "kafka", "bench", "other")
                    ),
                    "",
                    "",
                ],
            ]
            if errors:
                rows.append([f"  errors, {label}", f"{errors:,} (first: {load.first_error})", "0", "FAIL"])
        if args.batch_files:
            bulk, bulk_rows = await measure_bulk(targets, conn, meter, postgres, args)
            figures["bulk"] = bulk
            rows += bulk_rows
    finally:
        await conn.close()
    best = max((lvl["committed_per_second"] for lvl in figures["levels"]), default=0.0)
    figures["best_committed_per_second"] = best
    return figures, rows


def ndjson_file(lines: int) -> Callable[[int, str], bytes]:
    """A request maker for ``closed_loop``: each call a new NDJSON file of ``lines`` reports
    (a file key of its own: each line is stored with its answer, as an engine's would be)."""

    def make(n: int, host: str) -> bytes:
        body = b"\n".join(incident_body() for _ in range(lines)) + b"\n"
        head = [
            "POST /v1/incidents:batch HTTP/1.1",
            f"Host: {host}",
            "Content-Type: application/x-ndjson",
            f"Content-Length: {len(body)}",
            f"X-Correlation-ID: bench-intake-bulk-{n}",
            f"Idempotency-Key: bench-bulk-{uuid.uuid4()}",
        ]
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body

    return make


async def measure_bulk(
    targets: Sequence[tuple[str, int]],
    conn: asyncpg.Connection,
    meter: CpuMeter,
    postgres: PostgresPids,
    args: argparse.Namespace,
) -> tuple[dict[str, Any], list[list[str]]]:
    """Committed events per second through ``POST /v1/incidents:batch``, and their CPU cost.
    The files are built before the clock starts: the bench's JSON encoding is not the service's
    cost. Every file must be answered 200 with every line 202."""
    lines, files, clients = args.batch_lines, args.batch_files, args.batch_clients
    label = f"bulk NDJSON, {lines:,} lines/file, {clients} client(s)"
    make = ndjson_file(lines)
    say(f"{label}: warm-up 1 file")
    await closed_loop(targets, clients=1, count=1, make_request=make, label="bulk", expect=200)
    await wait_for_outbox(conn)
    ready = [make(n, f"{host}:{port}") for n, (host, port) in zip(range(files), itertools.cycle(targets))]
    say(f"{label}: measuring {files} files ({files * lines:,} reports)")
    before = await _count(conn, "SELECT count(*) FROM events")
    await postgres.refresh(conn)
    cpu_before = meter.sample()
    load = await closed_loop(
        targets,
        clients=clients,
        count=files,
        make_request=lambda n, _host: ready[n],
        label="bulk",
        expect=200,
    )
    await postgres.refresh(conn)
    cpu_after = meter.sample()
    committed = await _count(conn, "SELECT count(*) FROM events") - before
    drain = await wait_for_outbox(conn, timeout=300)
    cpu = CpuMeter.usage(cpu_before, cpu_after)
    cost = CpuMeter.per_event(cpu_before, cpu_after, committed)
    rate = committed / load.elapsed
    errors = load.done - load.statuses[200] + (files * lines - committed)
    lat = latency_ms(load.latencies)
    ok = rate >= TARGET_BULK_EVENTS_PER_SECOND
    say(
        f"  {committed:,} events committed in {load.elapsed:.2f}s = {rate:,.0f} events/s "
        f"({verdict(ok)} {TARGET_BULK_EVENTS_PER_SECOND:,}/s); file latency p50 {lat['p50']:.0f} / "
        f"max {lat['max']:.0f} ms; {errors} errors"
    )
    say(f"  outbox published {drain:.2f}s after the last answer")
    say(f"  {describe_cpu(cpu)}")
    say(f"  {describe_per_event(cost)}")
    if load.first_error:
        say(f"  first error: {load.first_error}")
    figures = {
        "lines_per_file": lines,
        "files": files,
        "clients": clients,
        "committed": committed,
        "elapsed_s": load.elapsed,
        "committed_per_second": rate,
        "relay_drain_s": drain,
        "file_latency_ms": lat,
        "cpu_percent": cpu,
        "cpu_ms_per_event": cost,
        "errors": errors,
    }
    rows = [
        [
            f"committed events/s, {label}",
            f"{rate:,.0f}/s",
            f">= {TARGET_BULK_EVENTS_PER_SECOND:,}/s",
            verdict(ok),
        ],
        [
            f"  cpu ms per event: intake/postgres/kafka/bench, {label}",
            " / ".join(f"{cost.get(k, math.nan):.3f}" for k in ("intake", "postgres", "kafka", "bench")),
            "",
            "",
        ],
        [f"  relay caught up after last answer, {label}", f"{drain:.2f} s", "", ""],
    ]
    if errors:
        rows.append([f"  errors, {label}", f"{errors:,} (first: {load.first_error})", "0", "FAIL"])
    return figures, rows


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="measured requests per level")
    parser.add_argument("--warmup", type=int, default=500, help="unmeasured requests before each level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 64], help="clients per level")
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="intake processes on one database (the relay's advisory lock lets one publish at a time)",
    )
    parser.add_argument("--ceiling", type=int, default=3000, help="GET /healthz requests first (0: skip)")
    parser.add_argument("--idempotency-key", action="store_true", help="send a fresh Idempotency-Key each")
    parser.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the service, e.g. INTAKE_DATABASE_POOL_MAX=20",
    )
    parser.add_argument("--batch-lines", type=int, default=5000, help="reports per bulk NDJSON file")
    parser.add_argument("--batch-files", type=int, default=6, help="measured bulk files (0: skip bulk)")
    parser.add_argument("--batch-clients", type=int, default=2, help="clients posting bulk files")
    parser.add_argument("--json", help="write the figures here for run_all")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    interrupt_on_sigterm()
    infra = Infra.from_env()
    extra_env = dict(item.split("=", 1) for item in args.service_env)
    with scratch(infra, ["intake"]) as where:
        say(
            f"intake bench: {args.replicas} intake process(es), database bench_intake_{where.run_id}, "
            f"topics {where.prefix}.*{', env ' + str(extra_env) if extra_env else ''}"
        )
        with services_running(infra, where, {"intake": args.replicas}, extra_env=extra_env) as services:
            figures, rows = run(measure(services, where.database_urls["intake"], args))
    write_json(args.json, "intake", figures, rows)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
