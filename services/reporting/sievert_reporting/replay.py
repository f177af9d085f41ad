"""``sievert replay reporting``: rebuild every reporting projection from the start of the log.

Stop the reporting service first: the rebuild empties the projection tables, then applies every
event on the projected topics through the same handlers and the same idempotent path as live
consumption, so the result is what incremental processing gave.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable

from sievert_reporting.projection import HANDLERS, PROJECTION_CONSUMER, PROJECTION_TABLES, projected_topics
from sievert_reporting.settings import ReportingSettings
from sievert_shared.consumer import IdempotentConsumer
from sievert_shared.db import create_pool, migrate

SERVICE = "reporting"

Progress = Callable[[int, int], None]


def register_replay(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("replay", help="rebuild a service's projections from the event log")
    parser.add_argument("service", choices=[SERVICE], help="the service whose projections to rebuild")
    parser.set_defaults(func=run)


def run(_args: argparse.Namespace) -> int:
    started = time.monotonic()
    count = asyncio.run(replay(ReportingSettings(), progress=_progress_bar(started)))
    elapsed = time.monotonic() - started
    print(
        f"\nreplayed {count} events in {elapsed:.1f}s ({count / max(elapsed, 1e-9):,.0f} events/s)",
        file=sys.stderr,
    )
    return 0


async def replay(settings: ReportingSettings, *, progress: Progress | None = None) -> int:
    pool = await create_pool(settings.database_url.get_secret_value(), max_size=2)
    try:
        await migrate(pool, "sievert_reporting.migrations")
        consumer_name = f"{SERVICE}.{PROJECTION_CONSUMER}"
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(f"TRUNCATE {', '.join(PROJECTION_TABLES)}")
            await conn.execute("DELETE FROM processed_events WHERE consumer = $1", consumer_name)
        consumer = IdempotentConsumer(
            consumer_name,
            pool=pool,
            kafka=settings.kafka,
            topics=projected_topics(settings.kafka.topics),
            handlers=HANDLERS,
            dead_letter_producer=None,
        )
        return await consumer.replay(progress)
    finally:
        await pool.close()


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
