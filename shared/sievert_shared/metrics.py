"""Prometheus metrics: one registry per service runtime, served on ``GET /metrics``.

Each process keeps its own registry (no shared multiprocess directory): every replica is its own
scrape target, and Prometheus sums across replicas. The gauges that need a query (outbox rows
waiting, timers pending, windows overdue, readiness) are computed when Prometheus scrapes, by the
refreshers registered with ``on_scrape``, each with a short timeout. Gauges read from a database
read the same rows on every replica of a service: aggregate those with ``max``, not ``sum``.

Labels are bounded: route templates (never a raw path), event types the registry knows, topic
names, consumer names, a trust's code. Never an incident id, a person or anything from a patient.
``docs/operability.md`` lists every metric.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sievert_shared.events import REGISTRY, UnknownEventError
from sievert_shared.logging import get_logger

log = get_logger(__name__)

Refresh = Callable[[], Awaitable[None]]

#: Seconds: HTTP answers are milliseconds; a PDF or an annual report can take seconds.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Seconds a timer fired after it was due: the alert is at one minute.
LATENESS_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)
BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_REFRESH_TIMEOUT = 2.0
_LAG_SAMPLE_SECONDS = 1.0

UNKNOWN_TYPE = "unknown"


class ServiceMetrics:
    """The metrics every service has: HTTP, consumers, outbox, readiness, and its process."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.http_requests = Counter(
            "sievert_http_requests", "HTTP requests answered.", ["method", "route", "status"], registry=r
        )
        self.http_duration = Histogram(
            "sievert_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["method", "route", "status"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.consumer_lag = Gauge(
            "sievert_consumer_lag_messages",
            "Messages on a partition not yet consumed by the consumer group (high water - position).",
            ["consumer", "topic", "partition"],
            registry=r,
        )
        self.events_handled = Counter(
            "sievert_consumer_events_handled",
            "Events whose effect a consumer committed.",
            ["consumer", "event_type"],
            registry=r,
        )
        self.events_duplicate = Counter(
            "sievert_consumer_events_duplicate",
            "Redelivered events a consumer recognised and skipped.",
            ["consumer", "event_type"],
            registry=r,
        )
        self.events_retried = Counter(
            "sievert_consumer_events_retried",
            "Events applied again: one at a time after a poison event in their batch, or after a "
            "transient failure of the database or Kafka.",
            ["consumer", "event_type", "reason"],
            registry=r,
        )
        self.events_dead_lettered = Counter(
            "sievert_consumer_events_dead_lettered",
            "Events sent to the dead-letter topic (event_type 'unknown' when it could not be read).",
            ["consumer", "event_type"],
            registry=r,
        )
        self.batch_duration = Histogram(
            "sievert_consumer_batch_duration_seconds",
            "Time to apply one batch of one partition, commit included.",
            ["consumer"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.outbox_published = Counter(
            "sievert_outbox_published_events",
            "Outbox rows the relay published to Kafka.",
            ["topic"],
            registry=r,
        )
        self.outbox_purged = Counter(
            "sievert_outbox_purged_events",
            "Published outbox rows deleted after <SERVICE>_OUTBOX_KEEP_PUBLISHED_HOURS.",
            registry=r,
        )
        self.outbox_waiting = Gauge(
            "sievert_outbox_waiting_events", "Outbox rows not yet published (read at scrape).", registry=r
        )
        self.outbox_oldest_age = Gauge(
            "sievert_outbox_oldest_waiting_age_seconds",
            "Age of the oldest outbox row not yet published; 0 when none waits (read at scrape).",
            registry=r,
        )
        self.ready = Gauge(
            "sievert_ready", "1 when every readiness check answers (as /readyz), else 0.", registry=r
        )
        self.readiness_check = Gauge(
            "sievert_readiness_check_up", "1 when this readiness check answers.", ["check"], registry=r
        )
        self.refresh_failures = Counter(
            "sievert_metrics_refresh_failures",
            "Scrape-time gauges that could not be read (their previous value is served).",
            ["source"],
            registry=r,
        )
        self._refreshers: list[tuple[str, Refresh]] = []
        self._sections: dict[type[Any], Any] = {}
        self._lag_sampled: dict[str, float] = {}
        self._lag_labels: dict[str, set[tuple[str, int]]] = {}

    # -- scrape-time gauges ----------------------------------------------------------------------

    def on_scrape(self, source: str, refresh: Refresh) -> None:
        """``refresh`` sets its gauges before each scrape is rendered."""
        self._refreshers.append((source, refresh))

    async def exposition(self) -> bytes:
        await asyncio.gather(*(self._refresh(source, refresh) for source, refresh in self._refreshers))
        return generate_latest(self.registry)

    async def _refresh(self, source: str, refresh: Refresh) -> None:
        try:
            await asyncio.wait_for(refresh(), timeout=_REFRESH_TIMEOUT)
        except Exception as exc:  # a scrape must answer even when a dependency does not
            self.refresh_failures.labels(source).inc()
            log.warning("metrics.refresh_failed", source=source, error=type(exc).__name__)

    async def readiness(self, checks: Iterable[tuple[str, Callable[[], Awaitable[None]]]]) -> None:
        results: list[bool] = []
        for name, check in checks:
            try:
                await asyncio.wait_for(check(), timeout=1.5)
                ok = True
            except Exception:  # any failure is "not ready", as /readyz says
                ok = False
            self.readiness_check.labels(name).set(1 if ok else 0)
            results.append(ok)
        self.ready.set(1 if results and all(results) else 0)

    # -- consumers -------------------------------------------------------------------------------

    def handled(self, consumer: str, event_types: Iterable[str]) -> None:
        for event_type in event_types:
            self.events_handled.labels(consumer, event_type).inc()

    def duplicates(self, consumer: str, event_types: Iterable[str]) -> None:
        for event_type in event_types:
            self.events_duplicate.labels(consumer, event_type).inc()

    def retried(self, consumer: str, event_types: Iterable[str], reason: str) -> None:
        for event_type in event_types:
            self.events_retried.labels(consumer, event_type, reason).inc()

    def dead_lettered(self, consumer: str, record: ConsumerRecord[bytes, bytes]) -> None:
        self.events_dead_lettered.labels(consumer, known_event_type(record)).inc()

    async def sample_lag(self, consumer: str, kafka: AIOKafkaConsumer) -> None:
        """Lag of every assigned partition, at most once a second per consumer. Partitions given
        up in a rebalance stop being reported."""
        now = time.monotonic()
        if now - self._lag_sampled.get(consumer, 0.0) < _LAG_SAMPLE_SECONDS:
            return
        self._lag_sampled[consumer] = now
        assigned: set[tuple[str, int]] = set()
        for tp in kafka.assignment():
            highwater = kafka.highwater(tp)
            if highwater is None:
                continue  # nothing fetched from it yet
            position = await kafka.position(tp)
            self.consumer_lag.labels(consumer, tp.topic, str(tp.partition)).set(max(0, highwater - position))
            assigned.add((tp.topic, tp.partition))
        for topic, partition in self._lag_labels.get(consumer, set()) - assigned:
            self.consumer_lag.remove(consumer, topic, str(partition))
        self._lag_labels[consumer] = assigned


Section = TypeVar("Section", bound="_Section")


class _Section:
    """Metrics of one service only, registered in its registry once: ``of`` makes the section on
    first use (the service's bootstrap, so /metrics lists them from the start) and then returns it."""

    def __init__(self, registry: CollectorRegistry) -> None:
        """Each section registers its own metrics in ``registry``."""

    @classmethod
    def of(cls: type[Section], metrics: ServiceMetrics) -> Section:
        section = metrics._sections.get(cls)
        if section is None:
            section = metrics._sections[cls] = cls(metrics.registry)
        assert isinstance(section, cls)
        return section


class TimerMetrics(_Section):
    """The deadlines service's timer wheel and windows."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.fired = Counter("sievert_timers_fired", "Timers fired.", ["kind"], registry=r)
        self.lateness = Histogram(
            "sievert_timer_lateness_seconds",
            "How long after its due instant a timer fired.",
            ["kind"],
            buckets=LATENESS_BUCKETS,
            registry=r,
        )
        self.pending = Gauge("sievert_timers_pending", "Timers waiting to fire (read at scrape).", registry=r)
        self.oldest_due_age = Gauge(
            "sievert_timers_oldest_due_age_seconds",
            "How long the oldest timer that is due has waited to fire; 0 when none is due (read at scrape).",
            registry=r,
        )
        self.windows_overdue = Gauge(
            "sievert_deadline_windows_overdue",
            "Open Regulation 8 windows past their due instant, by trust and window (read at scrape).",
            ["trust", "window"],
            registry=r,
        )

    def observe_fired(self, kind: str, lateness_seconds: float) -> None:
        self.fired.labels(kind).inc()
        self.lateness.labels(kind).observe(max(0.0, lateness_seconds))


class DocumentMetrics(_Section):
    """Reporting's regulator documents."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.drafted = Counter(
            "sievert_documents_drafted", "Documents drafted, by kind.", ["document_type"], registry=registry
        )
        self.issued = Counter(
            "sievert_documents_issued",
            "Documents issued to an authority, by kind.",
            ["document_type"],
            registry=registry,
        )


class MllpMetrics(_Section):
    """Intake's HL7 v2 listener."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.frames = Counter(
            "sievert_mllp_messages",
            "MLLP frames received: a message, or one refused as oversized or truncated.",
            ["frame"],
            registry=registry,
        )
        self.acks = Counter(
            "sievert_mllp_acks", "HL7 ACKs sent, by acknowledgement code.", ["code"], registry=registry
        )


def known_event_type(record: ConsumerRecord[bytes, bytes]) -> str:
    """The record's event type if the registry knows it (a bounded label), else 'unknown'."""
    for name, value in record.headers or ():
        if name == "event_type":
            event_type = bytes(value).decode(errors="replace")
            try:
                REGISTRY.latest_version(event_type)
            except UnknownEventError:
                return UNKNOWN_TYPE
            return event_type
    return UNKNOWN_TYPE


# -- HTTP ------------------------------------------------------------------------------------------


class HttpMetrics:
    """Counts and times every HTTP answer by method, route template and status (plain ASGI, as
    the correlation middleware, to stay cheap)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            labels = (scope["method"], route_template(scope), str(status))
            self.metrics.http_requests.labels(*labels).inc()
            self.metrics.http_duration.labels(*labels).observe(time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """The matched route's template (``/v1/incidents/{incident_id}``), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    root = scope.get("app_root_path") or scope.get("root_path")
    return f"{root}/*" if root else "unmatched"


def install_metrics(app: FastAPI, metrics: ServiceMetrics) -> None:
    """``GET /metrics`` (Prometheus text format, no credentials, like the probes) and the HTTP
    middleware."""
    app.state.metrics = metrics
    app.add_middleware(HttpMetrics, metrics=metrics)
    app.include_router(metrics_router())


def metrics_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
    )
    async def prometheus_metrics(request: Request) -> Response:
        """Prometheus metrics of this process (docs/operability.md): counts by route template, event
        type, topic and trust code, never an incident id or anything of a patient."""
        metrics: ServiceMetrics = request.app.state.metrics
        return Response(await metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return router
