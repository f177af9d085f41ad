"""Operability over real Kafka and PostgreSQL: the four services in process, one incident through
the pipeline (HTTP and HL7 v2 over MLLP), and what Prometheus and a trace backend would see.

- Each service's ``/metrics`` moves: HTTP requests by route template, events handled by type,
  consumer lag, outbox rows published and waiting, timers fired and late, a window overdue by
  trust, documents drafted and issued, MLLP frames and ACK codes, and a dead letter.
- One incident is one trace: the POST's correlation id is the trace id, and the spans of all four
  services (HTTP, Kafka publish and process, PostgreSQL) carry it, each consumer's span the child
  of the publish span that sent its message.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import http.server
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from sievert_classifier.bootstrap import build as build_classifier
from sievert_classifier.settings import ClassifierSettings
from sievert_deadlines.bootstrap import build as build_deadlines
from sievert_deadlines.settings import DeadlinesSettings
from sievert_intake.bootstrap import build as build_intake
from sievert_intake.settings import IntakeSettings
from sievert_reporting.bootstrap import build as build_reporting
from sievert_reporting.settings import ReportingSettings
from sievert_shared import tracing
from sievert_shared.settings import KafkaSettings
from tests.fixtures.intake_support import MllpClient, hl7_fixture
from tests.support.clock import FakeClock
from tests.support.infra import Infra
from tests.support.kafka import eventually, produce
from tests.support.samples import NOTIFICATION_PARTICULARS, ct_overexposure, one_individual

pytestmark = pytest.mark.integration

SERVICES = ("intake", "classifier", "deadlines", "reporting")
DISCOVERED = dt.date(2025, 6, 2)


@dataclass
class Pipeline:
    clients: dict[str, httpx.AsyncClient]
    apps: dict[str, FastAPI]
    clock: FakeClock
    spans: InMemorySpanExporter
    prefix: str
    bootstrap: str

    async def scrape(self, service: str) -> str:
        answer = await self.clients[service].get("/metrics")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/plain")
        return answer.text


def value(exposition: str, name: str, **labels: str) -> float | None:
    """The sample ``name`` with these labels (and any others), summed; None if there is none."""
    found = [
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    ]
    return sum(found) if found else None


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.use_provider(tracing.provider_for("test", exporter, batch=False))
    try:
        yield exporter
    finally:
        tracing.use_provider(None)


@contextlib.asynccontextmanager
async def running(
    infra: Infra, prefix: str, make_database: Callable[[str], Any], exporter: InMemorySpanExporter
) -> AsyncIterator[Pipeline]:
    clock = FakeClock(dt.datetime(2025, 6, 5, 9, 0, tzinfo=dt.UTC))
    common: dict[str, Any] = {
        "kafka": KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_prefix=prefix),
        "environment": "test",
    }
    urls = {service: await make_database(service) for service in SERVICES}
    built = {
        "intake": build_intake(IntakeSettings(database_url=urls["intake"], mllp_port=0, **common), clock),
        "classifier": build_classifier(ClassifierSettings(database_url=urls["classifier"], **common), clock),
        "deadlines": build_deadlines(DeadlinesSettings(database_url=urls["deadlines"], **common), clock)[:2],
        "reporting": build_reporting(ReportingSettings(database_url=urls["reporting"], **common), clock),
    }
    async with contextlib.AsyncExitStack() as stack:
        clients: dict[str, httpx.AsyncClient] = {}
        for service, (runtime, app) in built.items():
            await stack.enter_async_context(runtime.lifespan(app))
            clients[service] = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{service}")
            )
        for runtime, _app in built.values():
            for consumer in runtime.running_consumers:
                await eventually(functools.partial(_assigned, consumer), timeout=60)
        apps = {service: app for service, (_runtime, app) in built.items()}
        yield Pipeline(clients, apps, clock, exporter, prefix, infra.kafka_bootstrap)


def _assigned(consumer: Any) -> None:
    assert consumer.assigned.is_set()


async def test_metrics_move_for_an_incident_through_the_pipeline(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any], spans: InMemorySpanExporter
) -> None:
    async with running(infra, topic_prefix, make_database, spans) as p:
        posted = await p.clients["intake"].post(
            "/v1/incidents", json=one_individual(ct_overexposure(discovered_on=DISCOVERED))
        )
        assert posted.status_code == 202, posted.text
        incident_id = posted.json()["incident_id"]
        await _until_projected(p, incident_id)

        intake = await p.scrape("intake")
        assert value(intake, "sievert_http_requests_total", route="/v1/incidents", status="202") == 1
        assert value(intake, "sievert_http_request_duration_seconds_count", route="/v1/incidents") == 1
        assert value(intake, "sievert_outbox_published_events_total", topic=f"{p.prefix}.incidents.v1") == 1
        assert value(intake, "sievert_outbox_waiting_events") == 0
        assert value(intake, "sievert_outbox_oldest_waiting_age_seconds") == 0
        assert value(intake, "sievert_ready") == 1
        assert incident_id not in intake  # never an incident id in a label

        classifier = await p.scrape("classifier")
        handled = {"consumer": "classifier.incidents", "event_type": "IncidentReported"}
        assert value(classifier, "sievert_consumer_events_handled_total", **handled) == 1

        async def caught_up() -> None:  # lag is sampled at most once a second
            scraped = await p.scrape("classifier")
            assert value(scraped, "sievert_consumer_lag_messages", topic=f"{p.prefix}.incidents.v1") == 0

        await eventually(caught_up, timeout=30)

        deadlines = await p.scrape("deadlines")
        classified = {"consumer": "deadlines.windows", "event_type": "IncidentClassified"}
        assert value(deadlines, "sievert_consumer_events_handled_total", **classified) == 1
        pending = value(deadlines, "sievert_timers_pending")
        assert pending is not None and pending > 0
        assert value(deadlines, "sievert_deadline_windows_overdue") is None  # nothing overdue yet

        # Past the 2-week notification window: its timers fire (late, by the clock's jump) and
        # the window is overdue for the trust.
        p.clock.set(dt.datetime(2025, 6, 17, 9, 0, tzinfo=dt.UTC))

        async def overdue() -> None:
            scraped = await p.scrape("deadlines")
            assert value(scraped, "sievert_deadline_windows_overdue", trust="RXX", window="notification") == 1
            fired = value(scraped, "sievert_timers_fired_total", kind="due")
            assert fired is not None and fired >= 1
            assert (value(scraped, "sievert_timer_lateness_seconds_count") or 0) >= 1
            late = value(scraped, "sievert_timer_lateness_seconds_bucket", le="60.0") or 0
            assert late < (value(scraped, "sievert_timer_lateness_seconds_count") or 0)

        await eventually(overdue, timeout=30)

        await _issue_notification(p, incident_id)
        reporting = await p.scrape("reporting")
        assert value(reporting, "sievert_documents_drafted_total", document_type="notification") == 1
        assert value(reporting, "sievert_documents_issued_total", document_type="notification") == 1
        assert (
            value(reporting, "sievert_http_requests_total", route="/v1/submissions/{submission_id}/issue")
            == 1
        )

        async def met() -> None:
            scraped = await p.scrape("deadlines")
            assert value(scraped, "sievert_deadline_windows_overdue", window="notification") is None
            submitted = {"consumer": "deadlines.windows", "event_type": "NotificationSubmitted"}
            assert value(scraped, "sievert_consumer_events_handled_total", **submitted) == 1

        await eventually(met, timeout=30)

        await _mllp_message(p)
        await _dead_letter(p)


async def _until_projected(p: Pipeline, incident_id: str) -> None:
    async def projected() -> None:
        answer = await p.clients["reporting"].get("/v1/incidents", params={"trust": "RXX"})
        assert answer.status_code == 200, answer.text
        rows = [i for i in answer.json()["items"] if i["incident_id"] == incident_id]
        assert rows and rows[0]["deadlines"].get("notification", {}).get("status") == "open", rows

    await eventually(projected, timeout=60)


async def _issue_notification(p: Pipeline, incident_id: str) -> None:
    reporting = p.clients["reporting"]
    created = await reporting.post(
        "/v1/submissions",
        json={
            "incident_id": incident_id,
            "kind": "notification",
            "contact_role": "Radiation protection lead",
            "summary": "Wrong CT protocol selected.",
            "particulars": NOTIFICATION_PARTICULARS,
        },
    )
    assert created.status_code == 201, created.text
    issued = await reporting.post(
        f"{created.headers['Location']}/issue", json={"submitted_by_role": "Radiation protection lead"}
    )
    assert issued.status_code == 200, issued.text


async def _mllp_message(p: Pipeline) -> None:
    listener = p.apps["intake"].state.mllp
    await listener.started.wait()
    engine = await MllpClient.connect(listener.port)
    try:
        ack = await engine.request(hl7_fixture("pex_p07_ct_overexposure.hl7"))
    finally:
        await engine.close()
    assert ack.code == "AA", ack.segments
    intake = await p.scrape("intake")
    assert value(intake, "sievert_mllp_messages_total", frame="message") == 1
    assert value(intake, "sievert_mllp_acks_total", code="AA") == 1


async def _dead_letter(p: Pipeline) -> None:
    await produce(p.bootstrap, f"{p.prefix}.incidents.v1", [(uuid.uuid4().bytes, b"not an envelope")])

    async def dead_lettered() -> None:
        scraped = await p.scrape("classifier")
        dead = {"consumer": "classifier.incidents", "event_type": "unknown"}
        assert value(scraped, "sievert_consumer_events_dead_lettered_total", **dead) == 1

    await eventually(dead_lettered, timeout=30)


# -- traces ----------------------------------------------------------------------------------------


async def test_one_incident_is_one_trace_across_the_four_services(
    infra: Infra, topic_prefix: str, make_database: Callable[[str], Any], spans: InMemorySpanExporter
) -> None:
    async with running(infra, topic_prefix, make_database, spans) as p:
        posted = await p.clients["intake"].post(
            "/v1/incidents", json=one_individual(ct_overexposure(discovered_on=DISCOVERED))
        )
        assert posted.status_code == 202, posted.text
        await _until_projected(p, posted.json()["incident_id"])
        # The correlation id the caller was given is the trace id, in W3C's form.
        trace_id = int(posted.headers["X-Correlation-ID"], 16)

        async def traced() -> None:
            mine = [s for s in spans.get_finished_spans() if s.context.trace_id == trace_id]
            scopes = {s.instrumentation_scope.name for s in mine if s.instrumentation_scope}
            assert {f"sievert.{name}" for name in SERVICES} | {"sievert.postgresql"} <= scopes, scopes
            for service in ("classifier", "deadlines", "reporting"):
                assert _consumed(mine, f"sievert.{service}"), service

        await eventually(traced, timeout=30)

    mine = [s for s in spans.get_finished_spans() if s.context.trace_id == trace_id]
    by_id = {s.context.span_id: s for s in mine}
    (server,) = [s for s in mine if s.kind is SpanKind.SERVER and s.name == "POST /v1/incidents"]
    assert server.attributes is not None and server.attributes["http.response.status_code"] == 202
    # Every consumer span is the child of the publish span that carried its message.
    for consumed in (s for s in mine if s.kind is SpanKind.CONSUMER):
        assert consumed.parent is not None
        assert by_id[consumed.parent.span_id].kind is SpanKind.PRODUCER, consumed.name
    # The classifier's decision was published from within its consumer span.
    (decided,) = [
        s for s in mine if s.kind is SpanKind.PRODUCER and s.name.endswith("classifications.v1 publish")
    ]
    assert decided.parent is not None
    assert by_id[decided.parent.span_id].instrumentation_scope.name == "sievert.classifier"  # type: ignore[union-attr]
    statements = [
        s for s in mine if s.instrumentation_scope and s.instrumentation_scope.name == "sievert.postgresql"
    ]
    assert statements and all(s.parent is not None for s in statements)
    # The statement's text only: never its arguments (a patient's identifiers are arguments).
    assert all(
        set(s.attributes or {}) <= {"db.system.name", "db.namespace", "db.query.text"} for s in statements
    )


def _consumed(spans: list[ReadableSpan], scope: str) -> bool:
    return any(
        s.kind is SpanKind.CONSUMER and s.instrumentation_scope and s.instrumentation_scope.name == scope
        for s in spans
    )


def test_spans_are_exported_by_otlp_over_http_when_an_endpoint_is_set() -> None:
    """The exporter really sends: a collector stand-in on loopback receives the spans as OTLP
    protobuf at ``<endpoint>/v1/traces``."""
    received: list[tuple[str, str]] = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_port}"
        assert tracing.configure_tracing("intake", {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint})
        with tracing.tracer("intake").start_as_current_span("exported"):
            pass
        provider = tracing.current_provider()
        assert provider is not None and provider.force_flush(timeout_millis=10_000)
        provider.shutdown()
    finally:
        tracing.use_provider(None)
        server.shutdown()
    assert received == [("/v1/traces", "application/x-protobuf")]
