"""A pipeline fault run: the four services with two replicas each as processes, a steady load of
incidents and amendments, timers coming due, and faults (SIGKILL of a replica, a pause past the
session timeout, optionally PostgreSQL and Kafka restarts). At the end it checks from the
databases and topics that nothing was lost, doubled or reordered, and measures the longest stall
of a partition with work waiting and the time to catch up after the last fault.

Used by ``tests/e2e/test_chaos_short.py`` (a few faults, in ``make test``) and
``scripts/chaos.py`` (``make chaos``: 100+ kills). Findings: docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import signal
import subprocess
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaClient, AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from sievert_classifier.bootstrap import build as build_classifier
from sievert_classifier.settings import ClassifierSettings
from sievert_deadlines.bootstrap import build as build_deadlines
from sievert_deadlines.domain.calendar import overdue_instant, reminder_instant
from sievert_deadlines.settings import DeadlinesSettings
from sievert_intake.bootstrap import build as build_intake
from sievert_intake.settings import IntakeSettings
from sievert_reporting.bootstrap import build as build_reporting
from sievert_reporting.settings import ReportingSettings
from sievert_shared.kafka import partitions_of
from sievert_shared.runtime import ServiceRuntime
from sievert_shared.settings import KafkaSettings
from sievert_shared.testing import devstack

SERVICES = list(devstack.SERVICES)
# Settled facts: without them a decision stays undecided, and its window provisional.
SETTLED = {"individuals_affected": 1, "clinically_significant": False, "equipment_fault": False}
DOWNGRADE = {"total_effective_dose_msv": 1.2, **SETTLED}  # 1.2x: not notifiable, investigated locally


@dataclass
class ChaosPlan:
    seconds: float = 60.0  # how long the load runs; the faults happen within it
    rate: float = 10.0  # incidents per second
    amend_share: float = 0.25  # of the incidents, amended a few seconds later (notifiable -> local)
    kills: int = 4
    pauses: int = 1
    pause_seconds: float = 10.0  # past the 6 s session timeout
    restart_postgres: str | None = None  # a command that restarts PostgreSQL, run once mid-load
    restart_kafka: str | None = None  # likewise for Kafka
    replicas: int = 2
    static_membership: bool = False
    seed: int = 20
    settle_timeout: float = 180.0


@dataclass
class Fault:
    at: float  # seconds into the load
    kind: str  # kill, pause, postgres, kafka
    target: str
    ended: float = 0.0  # restarted (kill), resumed (pause), back (postgres, kafka)
    ready_after: float | None = None  # seconds from ended to /readyz 200 (kill, pause)
    said: list[str] = field(default_factory=list)  # what a dependency's restart command printed
    back: float | None = None  # a restarted dependency answered again (s into the load)

    @property
    def over(self) -> float:
        """When the fault stopped holding the pipeline back: a dependency's first answer after it
        went down (its restart command may wait for more before it returns), else ``ended``."""
        return self.back if self.back is not None else self.ended


@dataclass
class ChaosReport:
    plan: ChaosPlan
    accepted_incidents: int = 0
    accepted_amendments: int = 0
    retried_requests: int = 0
    answers: Counter[int] = field(default_factory=Counter)
    faults: list[Fault] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    longest_stall: dict[str, float] = field(default_factory=dict)
    catch_up_seconds: float = float("nan")
    worst_stall: dict[str, str] = field(default_factory=dict)  # where and when (s into the load)
    #: the longest stall per group counted from a restarted dependency being ready again: the part
    #: of a stall while PostgreSQL or the only Kafka broker was down is an outage, not recovery
    stall_after_dependency: dict[str, float] = field(default_factory=dict)
    #: of those, only the stalls that spanned a restarted dependency's outage: its recovery
    recovery_after_dependency: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # what the run found wrong
    notes: list[str] = field(default_factory=list)  # what did not go to plan, not a failure

    def summary(self) -> str:
        kinds = Counter(f.kind for f in self.faults)
        ready = [f.ready_after for f in self.faults if f.ready_after is not None]
        lines = [
            f"load: {self.accepted_incidents} incidents, {self.accepted_amendments} amendments accepted "
            f"over {self.plan.seconds:.0f} s ({self.retried_requests} requests retried; answers "
            f"{dict(sorted(self.answers.items()))})",
            "faults: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())),
            f"a restarted or resumed replica ready (/readyz 200) after: median {_median(ready):.1f} s, "
            f"longest {max(ready, default=float('nan')):.1f} s",
            "counts: " + ", ".join(f"{k} {v}" for k, v in self.counts.items()),
            "longest stall of a partition with work waiting: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in self.longest_stall.items()),
            "  (partition, began s into the load: "
            + ", ".join(f"{k} {v}" for k, v in self.worst_stall.items())
            + "; faults at "
            + ", ".join(f"{f.at:.0f} s {f.kind} {f.target}" for f in sorted(self.faults, key=lambda f: f.at))
            + ")",
            *self._dependency_lines(),
            f"caught up {self.catch_up_seconds:.1f} s after the last fault and the end of the load",
            "notes: "
            + ("none" if not self.notes else "; ".join(f"{n} x {k}" for k, n in Counter(self.notes).items())),
            "problems: " + ("none" if not self.problems else "\n  - " + "\n  - ".join(self.problems)),
        ]
        return "\n".join(lines)

    def _dependency_lines(self) -> list[str]:
        restarts = [f for f in self.faults if f.kind in ("postgres", "kafka")]
        if not restarts:
            return []
        return [
            "restarted dependencies: "
            + ", ".join(
                f"{f.kind} from {f.at:.1f} s, answering again {f.over - f.at:.1f} s later "
                f"(the restart command returned after {f.ended - f.at:.1f} s)"
                for f in restarts
            ),
            *(f"  {f.kind}: {line}" for f in restarts for line in f.said),
            "longest stall with the time the dependency was down taken off: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in self.stall_after_dependency.items()),
            "  of which stalls across its outage, from its first answer to progress: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in self.recovery_after_dependency.items()),
        ]


def stalls_after_outages(
    stalls: list[tuple[str, str, float, float]], outages: list[tuple[float, float]], groups: list[str]
) -> tuple[dict[str, float], dict[str, float]]:
    """The longest stall per group with the time a dependency was down taken off (a stall that
    began before a dependency answered again counts from when it did), and the longest among
    the stalls that spanned an outage: how long each group took to move after it."""
    longest = dict.fromkeys(groups, 0.0)
    recovery = dict.fromkeys(groups, 0.0)
    for name, _where, began, ended in stalls:
        spanned = False
        for down, back in outages:
            if began < back and ended > down:
                began = max(began, back)
                spanned = True
        longest[name] = max(longest.get(name, 0.0), ended - began)
        if spanned:
            recovery[name] = max(recovery.get(name, 0.0), ended - began)
    return longest, recovery


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else float("nan")


# -- processes ----------------------------------------------------------------------------------


@dataclass
class Replica:
    service: str
    index: int
    env: dict[str, str]
    port: int
    log_dir: Path
    running: devstack.RunningService | None = None
    paused: bool = False
    ready: bool = False  # answered /readyz 200 since it last (re)started or resumed

    @property
    def name(self) -> str:
        return f"{self.service}-{self.index}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.ready = False
        self.running = devstack.start(self.service, self.env, self.port, self.log_dir)

    async def wait_ready(self, timeout: float = 180.0) -> float:
        """Poll /readyz until 200: its database and Kafka answer and its consumers own their
        partitions and have caught up. Returns the seconds it took."""
        began = time.monotonic()
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() - began < timeout and self.alive():
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        self.ready = True
                        break
                await asyncio.sleep(0.25)
        return time.monotonic() - began

    def alive(self) -> bool:
        return self.running is not None and self.running.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, transactions are cut off mid-flight."""
        assert self.running is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.running.process.pid, signal.SIGKILL)
        self.running.process.wait(timeout=10)

    def signal(self, sig: signal.Signals) -> None:
        assert self.running is not None
        os.killpg(self.running.process.pid, sig)

    def stop(self) -> None:
        if self.running is not None:
            if self.paused:
                with contextlib.suppress(ProcessLookupError):
                    self.signal(signal.SIGCONT)
            devstack.stop(self.running)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_replicas(
    base_env: Mapping[str, str], database_urls: Mapping[str, str], log_dir: Path, plan: ChaosPlan
) -> list[Replica]:
    replicas = []
    for service in SERVICES:
        for index in range(plan.replicas):
            port = free_port()
            env = devstack.service_env(base_env, database_urls=database_urls, ports={service: port})
            upper = service.upper()
            env[f"{upper}_ENVIRONMENT"] = "development"  # requests without credentials are served
            if service == "intake":
                env["INTAKE_MLLP_PORT"] = str(free_port())
            if plan.static_membership:
                env["KAFKA_GROUP_INSTANCE_ID"] = f"{service}-{index}"
            replicas.append(Replica(service, index, env, port, log_dir / f"{service}-{index}"))
    return replicas


# -- what each consumer group reads: from the services' own wiring -------------------------------


def consumer_groups(kafka: KafkaSettings) -> dict[str, tuple[str, list[str]]]:
    """service -> (consumer group, topics it reads), from each service's composition root."""
    url = "postgresql://unused@127.0.0.1:1/unused"  # nothing connects: build() only wires
    runtimes: dict[str, ServiceRuntime] = {
        "intake": build_intake(IntakeSettings(database_url=url, kafka=kafka))[0],
        "classifier": build_classifier(ClassifierSettings(database_url=url, kafka=kafka))[0],
        "deadlines": build_deadlines(DeadlinesSettings(database_url=url, kafka=kafka))[0],
        "reporting": build_reporting(ReportingSettings(database_url=url, kafka=kafka))[0],
    }
    groups = {}
    for service, runtime in runtimes.items():
        for spec in runtime.consumers:
            groups[f"{service}.{spec.name}"] = (
                f"{kafka.topic_prefix}.{service}.{spec.name}",
                spec.topics(runtime.settings),
            )
    return groups


class ProgressMonitor:
    """Samples each group's committed offsets and the partitions' ends every half second. A
    partition stalls while it has work waiting and its committed offset does not move.

    A sample is timed when its answers arrive, and a request that takes more than 3 s fails it
    (aiokafka would otherwise wait out a broker restart and the sample would carry the time it
    was asked). A stall ends at the last sample that saw the offset unmoved, unless the samples
    after it failed (Kafka itself down): then at the first sample that sees it moved, since when
    in between it moved is not known. Before, a stall across failed samples was not counted at
    all: the offset had moved by the next good sample, which started a new stall. Every stall is
    kept, so the report can say how much of it a restarted dependency being down accounts for."""

    def __init__(self, kafka: KafkaSettings, groups: Mapping[str, tuple[str, list[str]]]) -> None:
        self._kafka = kafka
        self._groups = groups
        self.longest: dict[str, float] = dict.fromkeys(groups, 0.0)
        self._since: dict[tuple[str, TopicPartition], float | None] = {}
        self._last: dict[tuple[str, TopicPartition], int] = {}
        self.lag: dict[str, int] = dict.fromkeys(groups, 0)
        self.at_zero_since: float | None = None
        self.measuring = True
        self._partitions: dict[str, list[TopicPartition]] = {}
        self.started = time.monotonic()
        self.worst: dict[str, tuple[float, str]] = {}  # group -> (stall began, s after start; partition)
        #: (group, partition, began, ended), monotonic, every stall
        self.stalls: list[tuple[str, str, float, float]] = []
        self._read_at: dict[str, float] = {}  # group -> when its last good sample was answered
        self._blind: set[str] = set()  # groups whose samples failed since their last good one

    async def run(self, stop: asyncio.Event) -> None:
        self._partitions = {
            name: await partitions_of(self._kafka, topics) for name, (_, topics) in self._groups.items()
        }
        admin = AIOKafkaAdminClient(bootstrap_servers=self._kafka.bootstrap_servers)
        ends = AIOKafkaConsumer(bootstrap_servers=self._kafka.bootstrap_servers, enable_auto_commit=False)
        await admin.start()
        await ends.start()
        try:
            while not stop.is_set():
                with contextlib.suppress(Exception):  # Kafka itself may be restarting
                    await self._sample(admin, ends)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=0.5)
            self._close_open_stalls(time.monotonic())
        finally:
            await ends.stop()
            await admin.close()

    def _stall(self, name: str, tp: TopicPartition, since: float, until: float, *, ended: bool) -> None:
        if not self.measuring:
            return
        if until - since > self.longest[name]:
            self.longest[name] = until - since
            self.worst[name] = (since - self.started, self._where(tp))
        if ended and until > since:
            self.stalls.append((name, self._where(tp), since, until))

    def _close_open_stalls(self, now: float) -> None:
        for (name, tp), since in self._since.items():
            if since is not None:
                self._stall(name, tp, since, now, ended=True)

    async def _sample(self, admin: AIOKafkaAdminClient, ends: AIOKafkaConsumer) -> None:
        total = 0
        for name, (group, _topics) in self._groups.items():
            partitions = self._partitions[name]
            try:
                end = await asyncio.wait_for(ends.end_offsets(partitions), timeout=3)
                committed = await asyncio.wait_for(admin.list_consumer_group_offsets(group), timeout=3)
            except Exception:
                self._blind.add(name)
                raise
            now = time.monotonic()
            previous = self._read_at.get(name, now)
            blind = name in self._blind
            lag = 0
            for tp in partitions:
                done = committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0
                waiting = end[tp] - done
                lag += max(0, waiting)
                key = (name, tp)
                since = self._since.get(key)
                moved = self._last.get(key) != done
                if since is not None and (moved or waiting <= 0):
                    # it ended between the last good sample and this one
                    self._stall(name, tp, since, now if blind else previous, ended=True)
                if waiting <= 0:
                    self._since[key] = None
                elif moved or since is None:
                    self._since[key] = now
                else:
                    self._stall(name, tp, since, now, ended=False)
                self._last[key] = done
            self.lag[name] = lag
            total += lag
            self._read_at[name] = now
            self._blind.discard(name)
        if total == 0:
            self.at_zero_since = self.at_zero_since or time.monotonic()
        else:
            self.at_zero_since = None

    @staticmethod
    def _where(tp: TopicPartition) -> str:
        return f"{tp.topic.rsplit('.', 2)[-2]}/{tp.partition}"


# -- the load -----------------------------------------------------------------------------------


class Load:
    """Incidents at a steady rate, and amendments of some of them, each request retried on
    another replica with the same Idempotency-Key until it is answered."""

    def __init__(self, replicas: list[Replica], plan: ChaosPlan, report: ChaosReport, rng: random.Random):
        self._intakes = [r for r in replicas if r.service == "intake"]
        self._plan = plan
        self._report = report
        self._rng = rng
        self.incidents: dict[str, dict[str, Any]] = {}  # id -> the body accepted
        self.amended: set[str] = set()
        self._http = httpx.AsyncClient(timeout=10)
        self._tasks: set[asyncio.Task[None]] = set()
        self._avoid_until: dict[str, float] = {}

    async def run(self) -> None:
        today = dt.datetime.now(dt.UTC).date()
        interval = 1.0 / self._plan.rate
        started = time.monotonic()
        sent = 0
        while time.monotonic() - started < self._plan.seconds:
            # Discovered 8-20 days ago: the 2-week window's reminders are due at once or soon
            # after, and some windows are already missed, so timers fire during the faults.
            discovered = today - dt.timedelta(days=self._rng.randint(8, 20))
            amend = self._rng.random() < self._plan.amend_share
            task = asyncio.create_task(self._one_incident(discovered, amend))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            sent += 1
            await asyncio.sleep(max(0.0, started + sent * interval - time.monotonic()))
        await asyncio.gather(*self._tasks)
        await self._http.aclose()

    async def _one_incident(self, discovered: dt.date, amend: bool) -> None:
        body = {
            "trust": "RXX",
            "site": "RXX01",
            "facts": {
                "nation": "england",
                "discovered_on": discovered.isoformat(),
                "occurred_on": (discovered - dt.timedelta(days=3)).isoformat(),
                "exposure_kind": "unintended",
                "modality": "ct",
                "patient_age_years": 54,
                "intended_effective_dose_msv": 1.0,
                "total_effective_dose_msv": 12.0,
                **SETTLED,
            },
        }
        answer = await self._post("/v1/incidents", body)
        if answer is None:
            return
        incident = answer["incident_id"]
        self.incidents[incident] = body
        self._report.accepted_incidents += 1
        if not amend:
            return
        await asyncio.sleep(self._rng.uniform(1, 4))
        amendment = {"expected_version": 1, "facts": DOWNGRADE, "reason": "dose re-estimated"}
        if await self._post(f"/v1/incidents/{incident}/amendments", amendment) is not None:
            self.amended.add(incident)
            self._report.accepted_amendments += 1

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        key = str(uuid.uuid4())
        for attempt in range(60):
            now = time.monotonic()
            live = [
                r
                for r in self._intakes
                if r.alive() and not r.paused and self._avoid_until.get(r.name, 0.0) <= now
            ] or self._intakes
            replica = live[attempt % len(live)] if attempt else self._rng.choice(live)
            try:
                response = await self._http.post(
                    f"{replica.url}{path}", json=body, headers={"Idempotency-Key": key}
                )
            except httpx.HTTPError:
                # as a load balancer would: leave a replica that did not answer alone for a moment
                self._avoid_until[replica.name] = time.monotonic() + 2.0
                self._report.retried_requests += 1
                await asyncio.sleep(0.2)
                continue
            self._report.answers[response.status_code] += 1
            if response.status_code in (502, 503, 504):
                self._report.retried_requests += 1
                await asyncio.sleep(0.2)
                continue
            if response.status_code >= 300:
                self._report.problems.append(
                    f"POST {path} answered {response.status_code}: {response.text[:300]}"
                )
                return None
            result: dict[str, Any] = response.json()
            return result
        self._report.problems.append(f"POST {path} never answered after 60 attempts")
        return None


# -- the faults ---------------------------------------------------------------------------------


async def run_faults(
    replicas: list[Replica],
    plan: ChaosPlan,
    report: ChaosReport,
    rng: random.Random,
    started: float,
    probes: Mapping[str, Callable[[], Awaitable[None]]],
) -> None:
    """Kills spread over the load, a pause or two, and the dependency restarts, then quiet for
    the last few seconds of the load so the catch-up is measured from the last fault."""
    window = max(plan.seconds - 8.0, 5.0)
    schedule: list[tuple[float, str]] = [(rng.uniform(3, window), "kill") for _ in range(plan.kills)]
    schedule += [((i + 1) * window / (plan.pauses + 1), "pause") for i in range(plan.pauses)]
    if plan.restart_postgres:
        schedule.append((window / 3, "postgres"))
    if plan.restart_kafka:
        schedule.append((2 * window / 3, "kafka"))
    schedule.sort()
    pending: set[asyncio.Task[None]] = set()
    for at, kind in schedule:
        await asyncio.sleep(max(0.0, started + at - time.monotonic()))
        if kind == "kill":
            task = asyncio.create_task(_kill_and_restart(replicas, report, rng, started))
        elif kind == "pause":
            task = asyncio.create_task(_pause(replicas, plan, report, rng, started))
        else:
            command = plan.restart_postgres if kind == "postgres" else plan.restart_kafka
            assert command is not None
            answers = probes[kind]
            task = asyncio.create_task(_restart_dependency(kind, command, answers, report, started))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)


def _whole_services(replicas: list[Replica]) -> list[Replica]:
    """Replicas whose every peer is up and ready: a fault takes at most one replica of a service
    down, so a stall measures recovery, not an outage of the whole service."""
    down = {r.service for r in replicas if not r.alive() or r.paused or not r.ready}
    return [r for r in replicas if r.service not in down]


async def _victim(replicas: list[Replica], rng: random.Random) -> Replica | None:
    """A random replica whose service is whole, waiting a while for one (a restarted replica
    takes seconds to be ready again on a busy machine)."""
    for _ in range(240):
        candidates = _whole_services(replicas)
        if candidates:
            victim = rng.choice(candidates)
            victim.ready = False  # taken: no other fault picks its service meanwhile
            return victim
        await asyncio.sleep(0.25)
    return None


async def _kill_and_restart(
    replicas: list[Replica], report: ChaosReport, rng: random.Random, t0: float
) -> None:
    victim = await _victim(replicas, rng)
    if victim is None:
        report.notes.append("a kill found no service with both replicas ready within 60 s: skipped")
        return
    fault = Fault(time.monotonic() - t0, "kill", victim.name)
    report.faults.append(fault)
    victim.kill()
    await asyncio.sleep(rng.uniform(0.2, 2.0))
    victim.start()
    fault.ended = time.monotonic() - t0
    fault.ready_after = await victim.wait_ready()


async def _pause(
    replicas: list[Replica], plan: ChaosPlan, report: ChaosReport, rng: random.Random, t0: float
) -> None:
    victim = await _victim(replicas, rng)
    if victim is None:
        report.notes.append("a pause found no service with both replicas ready within 60 s: skipped")
        return
    fault = Fault(time.monotonic() - t0, "pause", victim.name)
    report.faults.append(fault)
    victim.paused = True
    victim.signal(signal.SIGSTOP)
    try:
        await asyncio.sleep(plan.pause_seconds)
    finally:
        victim.signal(signal.SIGCONT)
        victim.paused = False
    fault.ended = time.monotonic() - t0
    fault.ready_after = await victim.wait_ready()


async def _restart_dependency(
    kind: str, command: str, answers: Callable[[], Awaitable[None]], report: ChaosReport, t0: float
) -> None:
    """Run the restart command, and meanwhile ask the dependency every 0.1 s whether it answers:
    the first answer after it stopped answering is when it was back. The command may wait for
    more than that (``stack.sh`` waits for the broker to serve every consumer group), which
    consumers need not wait for; counting from its return would flatter their recovery."""
    fault = Fault(time.monotonic() - t0, kind, command)
    report.faults.append(fault)
    process = await asyncio.create_subprocess_shell(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watch = asyncio.create_task(_back_after_down(answers))
    out, err = await process.communicate()
    if process.returncode != 0:
        report.problems.append(f"{command} failed: {err.decode(errors='replace')[-500:]}")
    fault.ended = time.monotonic() - t0
    fault.said = out.decode(errors="replace").splitlines()[-6:]
    try:
        fault.back = await asyncio.wait_for(watch, timeout=30) - t0
    except TimeoutError:
        report.notes.append(f"{kind} never answered again after its restart, as far as the harness saw")


async def _back_after_down(answers: Callable[[], Awaitable[None]]) -> float:
    """The monotonic instant the dependency first answers after failing to (its restart takes a
    moment to begin)."""
    down = False
    while True:
        try:
            await asyncio.wait_for(answers(), timeout=1.0)
        except Exception:  # refused, reset, timed out, still loading: down
            down = True
        else:
            if down:
                return time.monotonic()
        await asyncio.sleep(0.1)


def dependency_probes(bootstrap: str, database_url: str) -> dict[str, Callable[[], Awaitable[None]]]:
    """One round trip to each dependency on a fresh connection: a Kafka metadata request, a
    PostgreSQL ``SELECT 1``."""

    async def kafka() -> None:
        client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=1000)
        try:
            await client.bootstrap()
            await client.fetch_all_metadata()
        finally:
            await client.close()

    async def postgres() -> None:
        conn = await asyncpg.connect(database_url, timeout=1)
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()

    return {"kafka": kafka, "postgres": postgres}


# -- the checks ---------------------------------------------------------------------------------


async def read_all(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` up to its end now."""
    partitions = await partitions_of(KafkaSettings(bootstrap_servers=bootstrap), [topic])
    if not partitions:
        return []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord[bytes, bytes]] = []
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            for batch in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


def _streams(records: list[ConsumerRecord[bytes, bytes]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Each producer's stream per incident in topic order, a republished event kept once."""
    seen: set[str] = set()
    streams: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        envelope = json.loads(record.value or b"{}")
        if envelope["event_id"] in seen:
            continue
        seen.add(envelope["event_id"])
        streams[(envelope["stream_id"], envelope["producer"])].append(envelope)
    return streams


def check_streams(by_topic: Mapping[str, list[ConsumerRecord[bytes, bytes]]], problems: list[str]) -> int:
    """Per incident and producer: in order on each topic, and versions 1..n across the topics a
    producer writes (a service numbers one stream per incident over all its topics): none lost."""
    union: dict[tuple[str, str], set[int]] = defaultdict(set)
    for topic, records in by_topic.items():
        for key, events in _streams(records).items():
            versions = [e["stream_version"] for e in events]
            if versions != sorted(set(versions)):
                problems.append(f"{topic}: {key[1]}'s stream {key[0]} out of order: {versions}")
            union[key].update(versions)
    for (stream, producer), numbers in union.items():
        if numbers != set(range(1, max(numbers) + 1)):
            problems.append(f"{producer}'s stream {stream} lost versions: has {sorted(numbers)}")
    return sum(len(v) for v in union.values())


def _firing_instant(envelope: dict[str, Any]) -> dt.datetime | None:
    payload = envelope["payload"]
    due = dt.datetime.fromisoformat(payload["due_at"])
    if envelope["event_type"] == "DeadlineMissed":
        return due
    if envelope["event_type"] == "DeadlineOverdue":
        return overdue_instant(due, int(payload["days_overdue"]))
    if envelope["event_type"] == "DeadlineApproaching" and not payload.get("early"):
        return reminder_instant(due, int(payload["reminder"].removeprefix("P").removesuffix("D")))
    return None


async def check_outcome(
    bootstrap: str, prefix: str, databases: Mapping[str, str], load: Load, report: ChaosReport
) -> None:
    problems = report.problems
    names = [
        t.removeprefix(f"{prefix}.").removesuffix(".v1")
        for t in KafkaSettings(topic_prefix=prefix).topics.all()
    ]
    topics = {name: await read_all(bootstrap, f"{prefix}.{name}.v1") for name in names}
    report.counts["events on the topics"] = check_streams(
        {n: r for n, r in topics.items() if n != "dead-letter"}, problems
    )

    conns = {s: await asyncpg.connect(url) for s, url in databases.items()}
    try:
        versions = {
            str(r["stream_id"]): r["version"]
            for r in await conns["intake"].fetch(
                "SELECT stream_id, max(stream_version) AS version FROM events GROUP BY 1"
            )
        }
        for incident in load.incidents:
            want = 2 if incident in load.amended else 1
            if versions.get(incident) != want:
                problems.append(
                    f"intake: incident {incident} at version {versions.get(incident)}, not {want}"
                )

        decided = {
            str(r["incident_id"]): r["facts_version"]
            for r in await conns["classifier"].fetch("SELECT incident_id, facts_version FROM classifications")
        }
        classified = _by_incident(topics["classifications"])
        for incident, version in versions.items():
            if decided.get(incident) != version:
                problems.append(
                    f"classifier: {incident} decided on version {decided.get(incident)}, not {version}"
                )
            kinds = Counter(
                (e["event_type"], e["payload"].get("facts_version")) for e in classified.get(incident, [])
            )
            if kinds[("IncidentClassified", 1)] != 1 or any(n > 1 for n in kinds.values()):
                problems.append(f"classifications of {incident}: {dict(kinds)}")
            if (version == 2) != (kinds[("IncidentReclassified", 2)] == 1):
                problems.append(f"reclassification of {incident} (version {version}): {dict(kinds)}")
        report.counts["incidents classified"] = len(decided)

        windows = _by_incident(topics["deadlines"])
        fired: Counter[tuple[Any, ...]] = Counter()
        early = 0
        for incident, version in versions.items():
            scheduled = Counter(
                e["payload"]["window"]
                for e in windows.get(incident, [])
                if e["event_type"] == "DeadlineScheduled"
            )
            expected = {"notification", "investigation_report"} | (
                {"local_investigation"} if version == 2 else set()
            )
            if set(scheduled) != expected or any(n != 1 for n in scheduled.values()):
                problems.append(f"windows of {incident} (version {version}): {dict(scheduled)}")
            for e in windows.get(incident, []):
                instant = (
                    _firing_instant(e)
                    if e["event_type"] in ("DeadlineApproaching", "DeadlineMissed", "DeadlineOverdue")
                    else None
                )
                if e["event_type"] in ("DeadlineApproaching", "DeadlineMissed", "DeadlineOverdue"):
                    p = e["payload"]
                    fired[
                        (
                            incident,
                            e["event_type"],
                            p["window"],
                            p["due_at"],
                            p.get("reminder"),
                            p.get("days_overdue"),
                        )
                    ] += 1
                if instant is not None and dt.datetime.fromisoformat(e["recorded_at"]) < instant:
                    early += 1
                    problems.append(
                        f"deadlines: {e['event_type']} of {incident} recorded {e['recorded_at']}, due {instant}"
                    )
        twice = {k: n for k, n in fired.items() if n > 1}
        if twice:
            problems.append(f"deadlines: {len(twice)} timers fired more than once, e.g. {next(iter(twice))}")
        report.counts["windows opened"] = sum(
            1 for es in windows.values() for e in es if e["event_type"] == "DeadlineScheduled"
        )
        report.counts["reminders and misses fired"] = sum(fired.values())
        if not fired:
            problems.append("deadlines: no timer fired during the run; the check would prove nothing")
        overdue_left = await conns["deadlines"].fetchval(
            "SELECT count(*) FROM timers WHERE fire_at <= now() - interval '5 seconds'"
        )
        if overdue_left:
            problems.append(f"deadlines: {overdue_left} timers due and not fired")

        rows = {
            str(r["incident_id"]): (r["facts_version"], r["notifiable"])
            for r in await conns["reporting"].fetch(
                "SELECT incident_id, facts_version, notifiable FROM incidents"
            )
        }
        for incident, version in versions.items():
            if rows.get(incident) != (version, version == 1):
                problems.append(f"reporting: {incident} projected as {rows.get(incident)}, version {version}")
        report.counts["incidents projected"] = len(rows)

        for service, conn in conns.items():
            left = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            if left:
                problems.append(f"{service}: {left} outbox rows never published")
    finally:
        for conn in conns.values():
            await conn.close()

    report.counts["dead letters"] = len(topics["dead-letter"])
    for record in topics["dead-letter"]:
        headers = dict(record.headers)
        problems.append(
            f"dead letter from {headers.get('dlq_consumer')}: {headers.get('dlq_reason', b'')[:200]!r}"
        )


def _by_incident(records: list[ConsumerRecord[bytes, bytes]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for envelopes in _streams(records).values():
        for e in envelopes:
            out[e["stream_id"]].append(e)
    return out


# -- the run ------------------------------------------------------------------------------------


async def _settled(databases: Mapping[str, str], monitor: ProgressMonitor) -> bool:
    if monitor.at_zero_since is None:
        return False
    for url in databases.values():
        conn = await asyncpg.connect(url)
        try:
            if await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
                return False
        finally:
            await conn.close()
    return monitor.at_zero_since is not None


async def run_chaos(
    plan: ChaosPlan,
    *,
    bootstrap: str,
    databases: Mapping[str, str],
    prefix: str,
    log_dir: Path,
    progress: Callable[[str], object] = print,
) -> ChaosReport:
    rng = random.Random(plan.seed)
    report = ChaosReport(plan)
    kafka = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix)
    base_env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "KAFKA_TOPIC_PREFIX": prefix}
    replicas = make_replicas(base_env, databases, log_dir, plan)
    monitor = ProgressMonitor(kafka, consumer_groups(kafka))
    stop_monitor = asyncio.Event()
    try:
        for replica in replicas:
            replica.start()
        await asyncio.gather(*(r.wait_ready() for r in replicas))
        if not all(r.ready for r in replicas):
            raise RuntimeError(f"not ready: {[r.name for r in replicas if not r.ready]}")
        progress(f"{len(replicas)} replicas ready; load for {plan.seconds:.0f} s with faults")
        monitor_task = asyncio.create_task(monitor.run(stop_monitor))
        load = Load(replicas, plan, report, rng)
        started = time.monotonic()
        probes = dependency_probes(bootstrap, databases["intake"])
        await asyncio.gather(load.run(), run_faults(replicas, plan, report, rng, started, probes))
        quiet_from = max(time.monotonic(), started + max((f.over for f in report.faults), default=0.0))
        progress(f"load over: {report.accepted_incidents} incidents; waiting for the pipeline to settle")
        deadline = time.monotonic() + plan.settle_timeout
        while not await _settled(databases, monitor):
            if time.monotonic() > deadline:
                report.problems.append(
                    f"not settled {plan.settle_timeout:.0f} s after the load: lag {monitor.lag}"
                )
                break
            await asyncio.sleep(0.25)
        else:
            # every group at its partitions' ends and every outbox published
            report.catch_up_seconds = max(0.0, time.monotonic() - quiet_from)
        report.longest_stall = dict(monitor.longest)
        report.worst_stall = {
            name: f"{topic} from {at - (started - monitor.started):.1f} s"
            for name, (at, topic) in monitor.worst.items()
        }
        stop_monitor.set()
        await monitor_task
        report.stall_after_dependency, report.recovery_after_dependency = stalls_after_outages(
            monitor.stalls,
            [(started + f.at, started + f.over) for f in report.faults if f.kind in ("postgres", "kafka")],
            list(report.longest_stall),
        )
        for replica in replicas:
            if not replica.alive():
                report.problems.append(f"{replica.name} is not running at the end")
        await check_outcome(bootstrap, prefix, databases, load, report)
        report.counts.update(_log_counts(replicas))
        return report
    finally:
        stop_monitor.set()
        for replica in replicas:
            replica.stop()


def _log_counts(replicas: list[Replica]) -> dict[str, int]:
    """How many log lines the replicas wrote, and how many of them were errors."""
    lines = errors = 0
    for replica in replicas:
        if replica.running is None:
            continue
        for line in replica.running.log_lines():
            lines += 1
            if '"level": "error"' in line or '"level":"error"' in line:
                errors += 1
    return {"log lines": lines, "error log lines": errors}
