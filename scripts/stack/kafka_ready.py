"""Wait until the local Kafka broker answers a real metadata request.

Used by scripts/stack.sh when .venv/bin/python has aiokafka. Polls (no fixed
sleeps beyond a short back-off between attempts) until the broker lists itself
in a Metadata response and has a controller (with --groups: and answers
ListGroups, i.e. has loaded every consumer group), or the deadline passes.

Exit status: 0 ready, 1 not ready by the deadline, 2 aiokafka missing,
3 the broker process (--pid) exited while we waited.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time


async def groups_served(bootstrap: str, timeout_s: float) -> bool:
    """The group coordinator has loaded every group: a broker answers metadata seconds before it
    has read its __consumer_offsets partitions, and until then consumers can neither join, fetch
    their offsets nor commit (ListGroups says COORDINATOR_LOAD_IN_PROGRESS)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=max(1000, int(timeout_s * 1000))
    )
    try:
        await asyncio.wait_for(admin.start(), timeout=timeout_s)
        await asyncio.wait_for(admin.list_consumer_groups(), timeout=timeout_s)
        return True
    finally:
        await admin.close()


async def probe(bootstrap: str, timeout_s: float, *, groups: bool = False) -> bool:
    from aiokafka import AIOKafkaClient  # imported here so a missing module exits 2 below

    client = AIOKafkaClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=max(1000, int(timeout_s * 1000)),
        retry_backoff_ms=100,
        metadata_max_age_ms=60_000,
    )
    try:
        await asyncio.wait_for(client.bootstrap(), timeout=timeout_s)
        cluster = await asyncio.wait_for(client.fetch_all_metadata(), timeout=timeout_s)
        if not (cluster.brokers() and cluster.controller is not None):
            return False
    finally:
        await client.close()
    return not groups or await groups_served(bootstrap, timeout_s)


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return state not in ("Z", "X")


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", default="127.0.0.1:59092")
    parser.add_argument("--timeout", type=float, default=90.0, help="total seconds to wait")
    parser.add_argument("--once", action="store_true", help="one attempt, no waiting")
    parser.add_argument("--pid", type=int, default=0, help="give up at once if this process exits")
    parser.add_argument(
        "--groups", action="store_true", help="also wait until the broker serves consumer groups"
    )
    args = parser.parse_args()

    # aiokafka logs every refused connection at ERROR; the caller prints its own messages.
    logging.disable(logging.CRITICAL)
    try:
        import aiokafka  # noqa: F401
    except ImportError:
        return 2

    deadline = time.monotonic() + args.timeout
    backoff = 0.1
    while True:
        remaining = deadline - time.monotonic()
        try:
            if await probe(args.bootstrap, max(0.5, min(5.0, remaining)), groups=args.groups):
                return 0
        except Exception:  # connection refused, timeouts, broker still fenced...
            pass
        if args.once or time.monotonic() + backoff >= deadline:
            return 1
        if args.pid and not alive(args.pid):
            return 3
        await asyncio.sleep(backoff)
        backoff = min(backoff * 1.5, 1.0)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
