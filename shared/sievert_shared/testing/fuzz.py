"""Fuzz the four services as processes over the real stack: schemathesis over each OpenAPI
document, and the MLLP listener fed malformed frames. ``make fuzz`` runs the long form
(``scripts/fuzz.py``); ``tests/integration/test_fuzz_short.py`` runs a short one.

A run fails on any 5xx, any answer the OpenAPI document does not describe (status, content
type, headers, body schema), a crash (a service that exits) or a hang (a request or an MLLP
frame without an answer within its timeout). The seed is fixed, so a run is reproducible.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from sievert_shared.testing import devstack

#: Checks that judge the answer against the document, plus "never 5xx". Left out: the checks
#: that presume every schema-valid request succeeds (``positive_data_acceptance``: an unknown
#: incident id is valid by the schema and rightly 404) or that authentication is enforced
#: (``ignored_auth``: the services run in development mode here, where a request without
#: credentials is the development principal by design), and the stateful resource checks, which
#: need links the documents do not declare.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
)

VT, FS, CR = b"\x0b", b"\x1c", b"\r"


@dataclass(frozen=True)
class Budget:
    """How much to generate: schemathesis' examples per operation (``per_service`` overrides it
    for a service with few operations, so each gets a like number of cases) and MLLP frames."""

    max_examples: int
    mllp_frames: int
    seed: int = 20260220
    request_timeout: float = 20.0
    per_service: Mapping[str, int] = field(default_factory=dict)
    #: schemathesis' phases: the long form runs them all (the coverage phase alone generates
    #: hundreds of boundary cases per operation); the short form only the random fuzzing.
    phases: tuple[str, ...] = ("examples", "coverage", "fuzzing", "stateful")
    #: Cases each service must get: while fewer were generated, another round of the fuzzing
    #: phase runs with the next seed (seed + 1, + 2…), so a run stays reproducible. A service
    #: with few operations (the classifier has one that takes a body) needs several rounds.
    min_cases: int = 0
    max_rounds: int = 8

    def examples(self, service: str) -> int:
        return self.per_service.get(service, self.max_examples)


#: The long form (``make fuzz``): at least 5,000 generated cases per service.
LONG = Budget(
    max_examples=150,
    mllp_frames=2000,
    per_service={"classifier": 1000, "deadlines": 200, "reporting": 100},
    min_cases=5000,
)
#: The short form in the test suite: about a minute.
SHORT = Budget(max_examples=10, mllp_frames=100, phases=("fuzzing",))

#: Log events that mean a request or message met an error nobody answered for.
UNHANDLED = ("http.unhandled_error", "intake.hl7_failed", "Traceback")


@dataclass
class ServiceResult:
    name: str
    cases: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    server_errors: int = 0
    exit_code: int = 0
    output: str = ""
    rounds: int = 1

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.failures and self.server_errors == 0


@dataclass
class MllpResult:
    frames: int = 0
    answered: int = 0
    closed: int = 0
    hangs: int = 0
    replies: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return self.hangs == 0


@dataclass
class FuzzReport:
    services: list[ServiceResult]
    mllp: MllpResult
    crashed: list[str]
    #: service -> log lines of errors nobody answered for (a 500, an AR "send it again").
    unhandled: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (
            not self.crashed
            and not any(self.unhandled.values())
            and self.mllp.ok
            and all(s.ok for s in self.services)
        )

    def lines(self) -> list[str]:
        out = []
        for s in self.services:
            failed = ", ".join(f"{k} {v}" for k, v in sorted(s.failures.items())) or "none"
            out.append(
                f"{s.name}: {s.cases} generated cases ({s.rounds} rounds), {s.server_errors} 5xx, "
                f"conformance failures: {failed}"
            )
        m = self.mllp
        out.append(
            f"mllp: {m.frames} malformed frames, {m.answered} answered, {m.closed} closed by the listener, "
            f"{m.hangs} hangs, replies {dict(sorted(m.replies.items()))}"
        )
        out.append(f"crashed: {', '.join(self.crashed) or 'none'}")
        counts = {name: len(lines) for name, lines in self.unhandled.items() if lines}
        out.append(f"unhandled errors in the service logs: {counts or 'none'}")
        return out


def _database_url(base: str, name: str) -> str:
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


@contextlib.contextmanager
def _databases(admin_url: str) -> Iterator[dict[str, str]]:
    names = {s: f"fuzz_{s}_{uuid.uuid4().hex[:8]}" for s in devstack.SERVICES}

    async def each(statement: str) -> None:
        admin = await asyncpg.connect(admin_url)
        try:
            for name in names.values():
                await admin.execute(statement.format(name=name))
        finally:
            await admin.close()

    asyncio.run(each('CREATE DATABASE "{name}"'))
    try:
        yield {s: _database_url(admin_url, n) for s, n in names.items()}
    finally:
        asyncio.run(each('DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(budget: Budget, work_dir: Path, environ: Mapping[str, str] | None = None) -> FuzzReport:
    """Start the four services (throwaway databases, a topic prefix of their own), fuzz them and
    stop them. ``environ`` must point at Kafka and PostgreSQL (``scripts/stack.sh env``)."""
    base = dict(environ if environ is not None else os.environ)
    admin_url = base["INTAKE_DATABASE_URL"]
    ports = {name: _free_port() for name in devstack.SERVICES}
    mllp_port = _free_port()
    prefix = f"fuzz-{uuid.uuid4().hex[:8]}"
    with _databases(admin_url) as urls:
        env = devstack.service_env(
            {**base, "KAFKA_TOPIC_PREFIX": prefix, "INTAKE_MLLP_PORT": str(mllp_port)},
            database_urls=urls,
            ports=ports,
        )
        with devstack.running(env, ports=ports, log_dir=work_dir / "logs") as services:
            results = [_schemathesis(name, svc.url, budget, work_dir) for name, svc in services.items()]
            mllp = asyncio.run(fuzz_mllp(mllp_port, budget.mllp_frames, budget.seed))
            crashed = [name for name, svc in services.items() if svc.process.poll() is not None]
            unhandled = {
                name: [line for line in svc.log_lines() if any(mark in line for mark in UNHANDLED)]
                for name, svc in services.items()
            }
    return FuzzReport(results, mllp, crashed, unhandled)


def _schemathesis(name: str, url: str, budget: Budget, work_dir: Path) -> ServiceResult:
    """The first round with every phase, then fuzzing rounds until ``budget.min_cases``."""
    total = _round(name, url, budget, work_dir, budget.seed, budget.phases)
    for offset in range(1, budget.max_rounds):
        if total.cases >= budget.min_cases or not total.ok:
            break
        more = _round(name, url, budget, work_dir, budget.seed + offset, ("fuzzing",))
        total.cases += more.cases
        total.server_errors += more.server_errors
        total.failures.update(more.failures)
        total.exit_code = total.exit_code or more.exit_code
        total.output += more.output
        total.rounds += 1
    return total


def _round(
    name: str, url: str, budget: Budget, work_dir: Path, seed: int, phases: tuple[str, ...]
) -> ServiceResult:
    events = work_dir / f"{name}-{seed}.ndjson"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--seed",
        str(seed),
        "--max-examples",
        str(budget.examples(name)),
        "--workers",
        "1",
        "--phases",
        ",".join(phases),
        "--continue-on-failure",
        "--suppress-health-check",
        "all",
        "--request-timeout",
        str(budget.request_timeout),
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(events),
        "--output-truncate",
        "true",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=work_dir)
    result = ServiceResult(name, exit_code=done.returncode, output=done.stdout + done.stderr)
    _count(result, result.output)
    return result


_GENERATED = re.compile(r"^\s*(\d+) generated", re.MULTILINE)
_FAILED_CHECK = re.compile(r"^\s*❌ (\S+) ([^:\n]+): (\d+)\s*$", re.MULTILINE)
#: schemathesis' codes for a 5xx answer (ST102: to a request with an undeclared Content-Type).
_SERVER_ERRORS = {"ST101", "ST102"}


def _count(result: ServiceResult, output: str) -> None:
    """Cases and failures per check from schemathesis' summary (``❌ <code> <check>: <n>``)."""
    generated = _GENERATED.findall(output)
    result.cases = int(generated[-1]) if generated else 0
    for code, name, count in _FAILED_CHECK.findall(output):
        label = f"{code} {name.strip()}"
        if code in _SERVER_ERRORS:
            result.server_errors += int(count)
        else:
            result.failures[label] += int(count)


async def fuzz_mllp(port: int, frames: int, seed: int, timeout: float = 10.0) -> MllpResult:
    """Send ``frames`` malformed frames, each on its own connection; every one must be answered
    (an ACK frame) or the connection closed by the listener within ``timeout``: never a hang."""
    rng = random.Random(seed)
    result = MllpResult()
    for _ in range(frames):
        payload = malformed_frame(rng)
        result.frames += 1
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        except (OSError, TimeoutError):
            result.hangs += 1
            continue
        try:
            writer.write(payload)
            await writer.drain()
            with contextlib.suppress(OSError):
                writer.write_eof()
            answer = await asyncio.wait_for(reader.read(1 << 20), timeout)
            if answer:
                result.answered += 1
                result.replies[_ack_code(answer)] += 1
            else:
                result.closed += 1
        except TimeoutError:
            result.hangs += 1
        except OSError:
            result.closed += 1
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
    return result


def _ack_code(answer: bytes) -> str:
    """MSA-1 of an ACK, read with the separator its MSH uses (it echoes the message's)."""
    text = answer.strip(VT + FS + CR).decode("utf-8", errors="replace")
    separator = text[3:4] or "|"  # one character, which may take more than one byte
    for segment in text.split("\r"):
        if segment.startswith("MSA"):
            parts = segment.split(separator)
            return parts[1] if len(parts) > 1 else "MSA?"
    return "other"


_SAMPLE = (
    b"MSH|^~\\&|RIS|RXX|SIEVERT|RXX|20250610120000||PEX^P07^PEX_P07|MSG{n}|P|2.5\r"
    b"EVN|P07|20250610120000\r"
    b"PID|1||1234567^^^RXX^MR||DOE^JANE||19800101|F\r"
    b"PV1|1|O|^^^RXX01\r"
    b"PES|||||REF{n}||||20250609\r"
    b"PEO||unintended^^99SVT|20250608\r"
    b"PCR||^^|ct^^99SVT\r"
    b"OBX|1|CE|nation^^99SVT||england\r"
)


def malformed_frame(rng: random.Random) -> bytes:
    """One framed message broken in one of the ways engines and networks break them."""
    message = _SAMPLE.replace(b"{n}", str(rng.randrange(10**9)).encode())
    kind = rng.randrange(10)
    if kind == 0:  # random bytes in a frame
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2000)))
    elif kind == 1:  # a NUL in a field that is stored
        body = message.replace(b"REF", b"R\x00F")
    elif kind == 2:  # bytes flipped at random
        raw = bytearray(message)
        for _ in range(rng.randrange(1, 20)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        body = bytes(raw)
    elif kind == 3:  # truncated
        body = message[: rng.randrange(len(message))]
    elif kind == 4:  # LF instead of CR
        body = message.replace(CR, b"\n")
    elif kind == 5:  # impossible dates
        body = message.replace(b"20250609", rng.choice([b"99991231", b"00010101", b"20251399", b"0"]))
    elif kind == 6:  # junk full of start and end bytes
        body = bytes(rng.choice([0x0B, 0x1C, 0x0D, 0x41]) for _ in range(rng.randrange(1, 5000)))
    elif kind == 7:  # separators changed
        body = message.replace(b"MSH|^~\\&", b"MSH" + bytes([rng.randrange(256)]) + b"^~\\&")
    elif kind == 8:  # a segment repeated many times
        body = message + b"OBX|2|NM|foetal_dose^^99SVT||1|mGy\r" * rng.randrange(1, 300)
    else:  # a field of many components and repetitions
        body = message.replace(b"DOE^JANE", b"~".join([b"^" * 50] * rng.randrange(1, 200)))
    return VT + body + FS + CR
