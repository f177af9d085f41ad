"""The HTTP side of metrics and traces, in process: route templates (never raw paths) as labels,
the correlation id that is the trace id, and the trace ids on log lines."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
import structlog
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from sievert_shared import tracing
from sievert_shared.http import install_http_conventions
from sievert_shared.metrics import ServiceMetrics, install_metrics

INCIDENT = "5b0a3c3e-4f7e-4d7a-9d4b-2f0c1a6b8e11"
log = structlog.get_logger(__name__)


def app() -> FastAPI:
    made = FastAPI()
    install_http_conventions(made)
    install_metrics(made, ServiceMetrics("test"))
    made.add_middleware(tracing.HttpTracing, service="test")

    @made.get("/v1/incidents/{incident_id}")
    async def incident(incident_id: str) -> dict[str, str]:
        log.info("test.read", incident_id=incident_id)
        return {"incident_id": incident_id}

    return made


def client(made: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=made), base_url="http://test")


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.use_provider(tracing.provider_for("test", exporter, batch=False))
    try:
        yield exporter
    finally:
        tracing.use_provider(None)


def samples(text: str, name: str) -> list[dict[str, str]]:
    return [
        sample.labels
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


async def test_requests_are_counted_by_route_template_never_by_path() -> None:
    async with client(app()) as http:
        assert (await http.get(f"/v1/incidents/{INCIDENT}")).status_code == 200
        assert (await http.get("/no/such/page")).status_code == 404
        exposition = (await http.get("/metrics")).text
    counted = samples(exposition, "sievert_http_requests_total")
    assert {"method": "GET", "route": "/v1/incidents/{incident_id}", "status": "200"} in counted
    assert {"method": "GET", "route": "unmatched", "status": "404"} in counted
    assert INCIDENT not in exposition and "/no/such/page" not in exposition


@pytest.mark.parametrize(
    ("correlation_id", "trace_id"),
    [
        pytest.param(str(uuid.UUID(int=0xABC)), 0xABC, id="a UUID names its trace"),
        pytest.param("0" * 31 + "f", 0xF, id="32 hex digits name their trace"),
        pytest.param("engine-42", None, id="any other id names none"),
        pytest.param("", None, id="no id"),
        pytest.param(str(uuid.UUID(int=0)), None, id="the zero UUID is no trace"),
    ],
)
def test_the_trace_a_correlation_id_names(correlation_id: str, trace_id: int | None) -> None:
    assert tracing.derived_trace_id(correlation_id) == trace_id


async def test_a_request_without_a_correlation_id_gets_its_trace_id(spans: InMemorySpanExporter) -> None:
    async with client(app()) as http:
        answer = await http.get(f"/v1/incidents/{INCIDENT}")
    (server,) = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert answer.headers["X-Correlation-ID"] == format(server.context.trace_id, "032x")
    assert server.name == "GET /v1/incidents/{incident_id}"
    assert server.attributes is not None and server.attributes["http.response.status_code"] == 200


async def test_a_callers_uuid_correlation_id_is_the_trace_id(spans: InMemorySpanExporter) -> None:
    given = str(uuid.uuid4())
    async with client(app()) as http:
        answer = await http.get(f"/v1/incidents/{INCIDENT}", headers={"X-Correlation-ID": given})
    assert answer.headers["X-Correlation-ID"] == given
    (server,) = spans.get_finished_spans()
    assert server.context.trace_id == uuid.UUID(given).int
    assert server.parent is None


async def test_a_callers_traceparent_is_the_parent(spans: InMemorySpanExporter) -> None:
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    async with client(app()) as http:
        answer = await http.get(
            f"/v1/incidents/{INCIDENT}", headers={"traceparent": f"00-{trace_id}-{parent_id}-01"}
        )
    (server,) = spans.get_finished_spans()
    assert format(server.context.trace_id, "032x") == trace_id == answer.headers["X-Correlation-ID"]
    assert server.parent is not None and format(server.parent.span_id, "016x") == parent_id


def test_log_lines_inside_a_span_carry_its_ids(spans: InMemorySpanExporter) -> None:
    with tracing.tracer("test").start_as_current_span("work") as span:
        inside = tracing.add_trace_ids(None, "info", {"event": "x"})
    outside = tracing.add_trace_ids(None, "info", {"event": "y"})
    assert inside["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert inside["span_id"] == format(span.get_span_context().span_id, "016x")
    assert "trace_id" not in outside


def test_tracing_is_off_unless_an_endpoint_is_configured() -> None:
    assert tracing.configure_tracing("test", environ={}) is False
    assert tracing.configure_tracing("test", environ={"OTEL_EXPORTER_OTLP_ENDPOINT": ""}) is False
    disabled = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}
    assert tracing.configure_tracing("test", environ=disabled) is False
    assert not tracing.enabled()


async def test_the_consoles_calls_carry_the_current_trace(spans: InMemorySpanExporter) -> None:
    outside = httpx.Request("GET", "http://deadlines/v1/deadlines")
    await tracing.propagate_trace(outside)
    assert "traceparent" not in outside.headers
    with tracing.tracer("console").start_as_current_span("GET /incidents/{incident_id}") as span:
        inside = httpx.Request("GET", "http://deadlines/v1/deadlines")
        await tracing.propagate_trace(inside)
    context = span.get_span_context()
    version, trace_id, parent_id, flags = inside.headers["traceparent"].split("-")
    assert (version, trace_id, parent_id) == ("00", f"{context.trace_id:032x}", f"{context.span_id:016x}")
    assert int(flags, 16) & 1  # sampled
