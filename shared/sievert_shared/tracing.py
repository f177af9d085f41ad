"""OpenTelemetry traces: one incident is one trace, from the POST to the last projection.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set; then
spans go by OTLP over HTTP with the SDK's own ``OTEL_*`` settings (sampler, headers, timeout). When
off, every helper here is a no-op and costs nothing on the hot paths.

How the context travels:

- **HTTP**: a server span per request, the child of the caller's W3C ``traceparent`` if it sent
  one. A request without ``X-Correlation-ID`` gets the trace id as its correlation id; one with a
  correlation id that is a UUID or 32 hex digits (and no ``traceparent``) gets that as its trace
  id. Either way the correlation id in the logs and events is the trace id.
- **Outbox**: ``enqueue`` stores the current span's ``traceparent`` with the outbox row (the
  ``trace_context`` column), and the relay's publish span is its child. The envelope is not
  touched: the context rides in the Kafka headers (``traceparent``), beside ``correlation_id``.
  A row without a stored context (a timer that fired weeks later, a group commit) is published
  in the trace its correlation id names, so it still joins the incident's trace.
- **Kafka consumers**: a span per event, the child of the message's ``traceparent``, around the
  handler; what the handler emits carries that span on.
- **PostgreSQL**: a span per statement inside a traced operation (asyncpg's query logger), with
  the parameterised SQL only, never its arguments.

Log lines inside a span carry ``trace_id`` and ``span_id`` (``add_trace_ids``).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TRACEPARENT = "traceparent"
_CORRELATION_HEADER = b"x-correlation-id"
_W3C = TraceContextTextMapPropagator()
_wanted_trace_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("wanted_trace_id", default=None)
_provider: TracerProvider | None = None


class CorrelatedIds(RandomIdGenerator):
    """A root span takes the trace id its correlation id names (``rooted_at``), else a random one."""

    def generate_trace_id(self) -> int:
        wanted = _wanted_trace_id.get()
        return wanted if wanted else super().generate_trace_id()


def provider_for(service: str, exporter: SpanExporter, *, batch: bool = True) -> TracerProvider:
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"sievert-{service}", "service.namespace": "sievert"}),
        id_generator=CorrelatedIds(),
    )
    provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    return provider


def configure_tracing(service: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Export by OTLP when an endpoint is configured; False (tracing off) otherwise."""
    traces_endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    base_endpoint = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not (traces_endpoint or base_endpoint) or environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    # As the specification says: the signal's own endpoint as given, the base one + /v1/traces.
    endpoint = traces_endpoint or f"{str(base_endpoint).rstrip('/')}/v1/traces"
    use_provider(provider_for(service, OTLPSpanExporter(endpoint=endpoint)))
    return True


def use_provider(provider: TracerProvider | None) -> None:
    """Turn tracing on with this provider (None: off). One per process, as the services run."""
    global _provider
    _provider = provider


def current_provider() -> TracerProvider | None:
    return _provider


def enabled() -> bool:
    return _provider is not None


def tracer(service: str) -> trace.Tracer:
    assert _provider is not None
    return _provider.get_tracer(f"sievert.{service}")


def derived_trace_id(correlation_id: str | None) -> int | None:
    """The trace id a correlation id names: its 128 bits if it is a UUID or 32 hex digits."""
    if not correlation_id:
        return None
    try:
        value = uuid.UUID(correlation_id).int
    except ValueError:
        return None
    return value or None


def trace_id_hex(span: Span) -> str:
    return format(span.get_span_context().trace_id, "032x")


@contextlib.contextmanager
def _rooted_at(trace_id: int | None) -> Iterator[None]:
    token = _wanted_trace_id.set(trace_id)
    try:
        yield
    finally:
        _wanted_trace_id.reset(token)


def _parent(traceparent: str | None, correlation_id: str | None) -> tuple[otel_context.Context, int | None]:
    """The context to start a span in: the carried ``traceparent`` if valid, else a root in the
    trace the correlation id names."""
    if traceparent:
        carried = _W3C.extract({TRACEPARENT: traceparent}, context=otel_context.Context())
        if trace.get_current_span(carried).get_span_context().is_valid:
            return carried, None
    return otel_context.Context(), derived_trace_id(correlation_id)


@contextlib.contextmanager
def _span(
    service: str,
    name: str,
    *,
    kind: SpanKind,
    traceparent: str | None,
    correlation_id: str | None,
    attributes: Mapping[str, Any],
) -> Iterator[Span]:
    parent, root_trace_id = _parent(traceparent, correlation_id)
    with _rooted_at(root_trace_id):
        span = tracer(service).start_span(name, context=parent, kind=kind, attributes=attributes)
    with trace.use_span(span, end_on_exit=True):
        yield span


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, to store with an outbox row."""
    if _provider is None:
        return None
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier.get(TRACEPARENT)


# -- Kafka -----------------------------------------------------------------------------------------


class PublishSpans:
    """The relay's producer spans for one batch: started per row, ended when Kafka acknowledged."""

    def __init__(self, service: str) -> None:
        self._service = service
        self._spans: list[Span] = []

    def start(self, topic: str, envelope: Mapping[str, Any], stored: str | None) -> list[tuple[str, bytes]]:
        """The Kafka headers that carry the new span (none when tracing is off)."""
        if _provider is None:
            return []
        correlation_id = str(envelope.get("correlation_id") or "")
        parent, root_trace_id = _parent(stored, correlation_id)
        with _rooted_at(root_trace_id):
            span = tracer(self._service).start_span(
                f"{topic} publish",
                context=parent,
                kind=SpanKind.PRODUCER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.operation.type": "send",
                    "messaging.destination.name": topic,
                    "messaging.message.id": str(envelope.get("event_id")),
                    "sievert.event_type": str(envelope.get("event_type")),
                    "sievert.correlation_id": correlation_id,
                },
            )
        self._spans.append(span)
        carrier: dict[str, str] = {}
        _W3C.inject(carrier, context=trace.set_span_in_context(span))
        return [(name, value.encode()) for name, value in carrier.items()]

    def end(self, error: BaseException | None = None) -> None:
        for span in self._spans:
            if error is not None:
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            span.end()
        self._spans.clear()


def _header(headers: Sequence[tuple[str, bytes]] | None, name: str) -> str | None:
    for key, value in headers or ():
        if key == name:
            return bytes(value).decode(errors="replace")
    return None


@contextlib.contextmanager
def consuming(
    service: str, headers: Sequence[tuple[str, bytes]] | None, topic: str, envelope: Any
) -> Iterator[None]:
    """A consumer span around one event's handler, the child of the message's ``traceparent``."""
    if _provider is None:
        yield
        return
    with _span(
        service,
        f"{envelope.event_type} process",
        kind=SpanKind.CONSUMER,
        traceparent=_header(headers, TRACEPARENT),
        correlation_id=envelope.correlation_id,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": topic,
            "messaging.message.id": str(envelope.event_id),
            "sievert.event_type": envelope.event_type,
            "sievert.correlation_id": envelope.correlation_id,
        },
    ):
        yield


# -- PostgreSQL ------------------------------------------------------------------------------------


def watch_queries(conn: Any) -> None:
    """A span per statement of this connection, when tracing is on (asyncpg's query logger)."""
    if _provider is not None:
        conn.add_query_logger(_query_span)


def _query_span(record: Any) -> None:
    """Called just after a statement, in a copy of the context that ran it: the span is recorded
    after the fact, only inside a traced operation (not the relay's or the timers' polling)."""
    if _provider is None or not trace.get_current_span().get_span_context().is_valid:
        return
    end = time.time_ns()
    text = str(record.query)
    verb = text.lstrip().split(None, 1)[0].upper() if text.strip() else "SQL"
    params = record.conn_params
    database = getattr(params, "database", None) if params is not None else None
    span = tracer("postgresql").start_span(
        f"{verb} {database}" if database else verb,
        kind=SpanKind.CLIENT,
        start_time=end - int(record.elapsed * 1e9),
        attributes={
            "db.system.name": "postgresql",
            "db.namespace": str(database or ""),
            "db.query.text": text[:2000],
        },
    )
    if record.exception is not None:
        span.set_status(Status(StatusCode.ERROR, type(record.exception).__name__))
    span.end(end_time=end)


# -- HTTP ------------------------------------------------------------------------------------------


class HttpTracing:
    """A server span per request. Outside the correlation middleware, so a request without a
    correlation id is given the trace id as one."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _provider is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        correlation_id = headers.get("x-correlation-id")
        method = scope["method"]
        with _span(
            self.service,
            method,
            kind=SpanKind.SERVER,
            traceparent=headers.get(TRACEPARENT),
            correlation_id=correlation_id,
            attributes={"http.request.method": method, "url.path": scope["path"]},
        ) as span:
            if not correlation_id or len(correlation_id) > 128:
                scope = dict(scope)
                kept = [(k, v) for k, v in scope["headers"] if k != _CORRELATION_HEADER]
                scope["headers"] = [*kept, (_CORRELATION_HEADER, trace_id_hex(span).encode())]

            async def send_with_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            try:
                await self.app(scope, receive, send_with_status)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if isinstance(route, str):
                    span.set_attribute("http.route", route)
                    span.update_name(f"{method} {route}")


async def propagate_trace(request: Any) -> None:
    """httpx request hook: the current span's ``traceparent`` on an outgoing request (the console's
    calls to the services), so the service's server span is its child."""
    traceparent = current_traceparent()
    if traceparent is not None and TRACEPARENT not in request.headers:
        request.headers[TRACEPARENT] = traceparent


def add_trace_ids(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the current span's trace and span ids on every log line inside it."""
    if _provider is not None:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
            event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict
