"""Live changes: a Kafka subscriber that hands each change to the open pages of its trust.

The subscriber has no consumer group and starts at the latest offset: the console keeps no
state, so what happened before it started is what the pages read from the APIs when they load
(or re-fetch when their stream reconnects). Each open page holds one ``Subscription``, a bounded
queue; a page too slow to drain it is told to re-fetch everything instead of being sent a
backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from sievert_console.domain.live import Change, change_of
from sievert_shared.envelope import EventEnvelope
from sievert_shared.logging import get_logger
from sievert_shared.settings import KafkaSettings

log = get_logger(__name__)

RESYNC = "resync"


@dataclass(eq=False)
class Subscription:
    trust: str
    queue: asyncio.Queue[Change | str] = field(default_factory=lambda: asyncio.Queue(maxsize=256))

    def offer(self, change: Change) -> None:
        try:
            self.queue.put_nowait(change)
        except asyncio.QueueFull:
            # Too far behind: drop the backlog and ask the page to read everything again.
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(RESYNC)


class LiveHub:
    """Fan-out of changes to subscriptions, by trust: a page never hears of another trust."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._last_change: dict[str, float] = {}
        self.connected = False

    @contextlib.contextmanager
    def subscribe(self, trust: str) -> Iterator[Subscription]:
        subscription = Subscription(trust)
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)

    def changed_after(self, trust: str, since: float) -> bool:
        """Whether a change of ``trust`` arrived after ``since`` (seconds since the epoch), or
        the feed was down meanwhile, so changes may have been missed."""
        return self._last_change.get(trust, 0.0) > since or self._last_change.get("*", 0.0) > since

    def publish(self, change: Change) -> int:
        self._last_change[change.trust] = time.time()
        delivered = 0
        for subscription in list(self._subscriptions):
            if subscription.trust == change.trust:
                subscription.offer(change)
                delivered += 1
        return delivered

    def resync_all(self) -> None:
        self._last_change["*"] = time.time()
        for subscription in list(self._subscriptions):
            with contextlib.suppress(asyncio.QueueFull):
                subscription.queue.put_nowait(RESYNC)

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)


def decode_change(raw: bytes | None) -> Change | None:
    if raw is None:
        return None
    try:
        envelope = EventEnvelope.from_json_bytes(raw)
    except ValueError:
        return None  # the services dead-letter what they cannot read; a page just skips it
    return change_of(envelope.event_type, envelope.tenant.trust, str(envelope.stream_id), envelope.payload)


async def follow(kafka: KafkaSettings, topics: list[str], hub: LiveHub, stop: asyncio.Event) -> None:
    """Read ``topics`` from their end until ``stop``; reconnect after a broker outage, and then
    tell every page to re-fetch, since changes may have been missed meanwhile."""
    delay = 0.5
    while not stop.is_set():
        consumer = AIOKafkaConsumer(
            *topics,
            **kafka.client_kwargs(),
            group_id=None,
            auto_offset_reset="latest",
            enable_auto_commit=False,
            fetch_max_wait_ms=100,
            metadata_max_age_ms=5000,  # topics the services create after the console starts
        )
        try:
            await consumer.start()
            hub.connected = True
            if delay > 0.5:
                hub.resync_all()
            delay = 0.5
            log.info("console.live_connected", topics=topics)
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        change = decode_change(record.value)
                        if change is not None:
                            hub.publish(change)
        except KafkaError as exc:
            log.warning("console.live_unavailable", error=str(exc), retry_in=delay)
        finally:
            hub.connected = False
            with contextlib.suppress(KafkaError):
                await consumer.stop()
        if not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)  # back off, unless stopping
            delay = min(delay * 2, 10.0)
