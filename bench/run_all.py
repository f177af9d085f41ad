"""Run every benchmark in turn and print one table of figures: ``make bench``.

Each benchmark runs as its own process (its own event loop, its own services, databases and
topics, cleaned up by itself), with its progress lines passed through, prefixed with its
name, and a time limit: past it the bench is interrupted (SIGINT, so it cleans up) and then
killed. The figures are printed and never asserted; the process fails only when a benchmark
could not run at all.

    .venv/bin/python bench/run_all.py [--quick] [--only intake e2e kafka-raw classifier]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
PIPELINE_TARGET_RATIO = 0.30


@dataclass
class Bench:
    name: str
    script: str
    args: list[str]
    quick_args: list[str]
    limit_seconds: float
    takes_json: bool = True
    figures: dict[str, Any] = field(default_factory=dict)
    rows: list[list[str]] = field(default_factory=list)
    output: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0


def benches() -> list[Bench]:
    found = [
        Bench(
            "intake",
            "bench_intake.py",
            [],
            ["--requests", "1000", "--warmup", "200", "--ceiling", "500", "--batch-files", "2"],
            210,
        ),
        Bench(
            "e2e",
            "bench_e2e_latency.py",
            ["--rate", "100", "500", "--drain-timeout", "15"],
            [
                "--rate",
                "100",
                "500",
                "--seconds",
                "5",
                "--warmup",
                "1",
                "--idle",
                "2",
                "--drain-timeout",
                "5",
            ],
            240,
        ),
        Bench("kafka-raw", "bench_kafka_raw.py", [], ["--messages", "20000", "--seconds", "2"], 90),
    ]
    found.append(
        Bench(
            "deadlines",
            "bench_deadlines.py",
            [],
            # The backlog the goal names (100,000), not a smaller one scaled up: a claim's cost
            # grows with what waits, so a tenth of the backlog understates the time.
            ["--timers", "200000", "--backlog", "100000", "--seconds", "10", "--cap", "120"],
            420,
        )
    )
    found.append(
        Bench(
            "peers",
            "bench_peers.py",
            [],
            [
                "--streams",
                "1000",
                "--events-per-stream",
                "1",
                "--timer-rate",
                "2000",
                "--timer-seconds",
                "1",
                "--cap",
                "10",
            ],
            240,
        )
    )
    found.append(Bench("mllp", "bench_mllp.py", [], ["--messages", "1000"], 150, takes_json=False))
    found.append(Bench("replay", "bench_replay.py", [], ["--events", "100000"], 240))
    if (BENCH / "bench_classifier.py").exists():  # another engineer's; run as it is, output as it is
        found.append(Bench("classifier", "bench_classifier.py", [], ["--rounds", "3"], 120, takes_json=False))
    return found


def _stop(process: subprocess.Popen[str], bench: Bench) -> None:
    """Past the limit: SIGINT first (the bench unwinds and drops its databases), then SIGKILL."""
    if process.poll() is not None:
        return
    bench.error = f"stopped after its {bench.limit_seconds:.0f}s limit"
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def run_bench(bench: Bench, *, quick: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="sievert-bench-") as tmp:
        out = Path(tmp) / "figures.json"
        command = [sys.executable, str(BENCH / bench.script), *(bench.quick_args if quick else bench.args)]
        if bench.takes_json:
            command += ["--json", str(out)]
        print(f"\n=== {bench.name}: {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        watchdog = threading.Timer(bench.limit_seconds, _stop, (process, bench))
        watchdog.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                bench.output.append(line.rstrip("\n"))
                print(f"[{bench.name}] {line}", end="", flush=True)
            process.wait()
        except KeyboardInterrupt:
            _stop(process, bench)
            raise
        finally:
            watchdog.cancel()
            bench.seconds = time.perf_counter() - started
        if process.returncode != 0 and bench.error is None:
            bench.error = f"exited with {process.returncode}"
        if bench.takes_json and out.exists():
            result = json.loads(out.read_text())
            bench.figures, bench.rows = result["figures"], result["rows"]
        elif bench.takes_json and bench.error is None:
            bench.error = "wrote no figures"


def classifier_rows(bench: Bench) -> list[list[str]]:
    """``bench_classifier.py`` prints a line, not JSON: lift its figure into the table."""
    for line in bench.output:
        match = re.search(r"classify: ([\d,]+) decisions/s.*target ([\d,]+)/s: (\w+)", line)
        if match:
            return [["classify(), pure, one core", f"{match[1]}/s", f">= {match[2]}/s", match[3]]]
    return [["(see its output above)", "", "", ""]] if bench.output else []


def pipeline_ratio(by_name: dict[str, Bench]) -> list[list[str]]:
    """Durable intake throughput (HTTP -> PostgreSQL -> outbox -> Kafka) over raw produce."""
    intake, raw = by_name.get("intake"), by_name.get("kafka-raw")
    if not intake or not raw or not intake.figures or not raw.figures:
        return []
    pipeline = intake.figures.get("best_committed_per_second", 0.0)
    ceiling = raw.figures.get("raw_per_second", 0.0)
    if not ceiling:
        return []
    ratio = pipeline / ceiling
    return [
        [
            "intake committed/s over raw produce msg/s",
            f"{pipeline:,.0f} / {ceiling:,.0f} = {ratio:.1%}",
            f">= {PIPELINE_TARGET_RATIO:.0%}",
            "meets" if ratio >= PIPELINE_TARGET_RATIO else "BELOW",
        ]
    ]


def noise_note(results: list[Bench]) -> str | None:
    """How much CPU other processes took while we measured: on a shared machine they make every
    figure pessimistic, so say so next to the table."""
    worst = 0.0
    for bench in results:
        for part in ("levels", "rates"):
            for entry in bench.figures.get(part, []):
                worst = max(worst, entry.get("cpu_percent", {}).get("other", 0.0))
    if worst < 25:
        return None
    return (
        f"note: other processes on this machine used up to {worst:.0f}% of a core while figures were "
        "measured; the throughput and tail figures are pessimistic (see the 'other' cpu column)"
    )


def machine() -> str:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ""
    if hasattr(os, "getloadavg"):
        load = f", load average {os.getloadavg()[0]:.1f} at the end"
    return f"{os.cpu_count()} cores {model}, Python {platform.python_version()}{load}"


def print_table(results: list[Bench]) -> None:
    by_name = {b.name: b for b in results}
    sections: list[tuple[str, list[list[str]]]] = []
    for bench in results:
        if bench.takes_json:
            rows = bench.rows
        elif bench.name == "classifier":
            rows = classifier_rows(bench)
        else:  # a bench that prints its figures as lines (bench_mllp.py)
            rows = [[line.split(": ", 1)[-1], "", "", ""] for line in bench.output if "msg/s" in line]
        if bench.error:
            rows = [*rows, ["did not complete", bench.error, "", "FAIL"]]
        sections.append((f"{bench.name} ({bench.seconds:.0f}s)", rows))
    ratio = pipeline_ratio(by_name)
    if ratio:
        sections.append(("pipeline / raw", ratio))

    header = ["measure", "result", "target", ""]
    all_rows = [header] + [row for _, rows in sections for row in rows]
    widths = [max(len(str(row[i])) for row in all_rows) for i in range(4)]

    def fmt(row: list[str]) -> str:
        return "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()

    rule = "-" * len(fmt(["x" * w for w in widths]))
    print(f"\n=== Sievert benchmarks, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {machine()}")
    print(rule)
    print(fmt(header))
    for title, rows in sections:
        print(rule)
        print(f"[{title}]")
        for row in rows:
            print(fmt(row))
    print(rule)
    note = noise_note(results)
    if note:
        print(note)
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts: a smoke run, not figures")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="intake, e2e, kafka-raw, classifier")
    args = parser.parse_args()

    selected = [b for b in benches() if not args.only or b.name in args.only]
    if not selected:
        raise SystemExit(f"nothing to run: choose from {[b.name for b in benches()]}")
    started = time.perf_counter()
    for bench in selected:
        run_bench(bench, quick=args.quick)
    print_table(selected)
    print(f"total {time.perf_counter() - started:.0f}s")
    if any(b.error for b in selected):
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
