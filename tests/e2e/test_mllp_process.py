"""The standalone MLLP listener (``sievert-intake-mllp``) as a process over real Kafka and
PostgreSQL: like every process of Sievert it says when it is alive and ready and has its counters
scraped, it takes HL7 v2 over MLLP, and it stops cleanly when asked."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sievert_shared.kafka import delete_topics_with_prefix
from sievert_shared.settings import KafkaSettings
from sievert_shared.testing import devstack
from tests.fixtures.intake_support import MllpClient, hl7_fixture
from tests.support.infra import Infra
from tests.support.kafka import envelopes, read_topic
from tests.support.processes import free_port, service_databases

pytestmark = pytest.mark.e2e


def acks_sent(metrics_text: str, code: str) -> float:
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "sievert_mllp_acks_total" and sample.labels.get("code") == code:
                return sample.value
    return 0.0


@pytest.fixture
async def databases(infra: Infra) -> AsyncIterator[dict[str, str]]:
    async with service_databases(infra.admin_database_url, "mllp") as urls:
        yield urls


async def test_the_standalone_listener_answers_health_readiness_and_metrics_and_takes_hl7(
    infra: Infra, databases: dict[str, str], tmp_path: Path
) -> None:
    prefix = f"mllp-{uuid.uuid4().hex[:8]}"
    http_port, mllp_port = free_port(), free_port()
    env = devstack.service_env(
        {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
            "KAFKA_TOPIC_PREFIX": prefix,
            "INTAKE_MLLP_PORT": str(mllp_port),
        },
        database_urls={"intake": databases["intake"]},
        ports={"intake": http_port},
    )
    listener = devstack.start(
        "intake", env, http_port, tmp_path, module="sievert_intake.entrypoints.mllp_main"
    )
    try:
        await asyncio.to_thread(devstack.wait_ready, [listener])
        async with httpx.AsyncClient(base_url=listener.url, timeout=5) as http:
            assert (await http.get("/healthz")).status_code == 200
            assert (await http.get("/readyz")).status_code == 200
            before = acks_sent((await http.get("/metrics")).text, "AA")
            # The port is for operators, not for incidents: intake's API is not served here.
            assert (await http.post("/v1/incidents", json={})).status_code == 404

            engine = await MllpClient.connect(mllp_port)
            try:
                ack = await engine.request(hl7_fixture("pex_p07_ct_overexposure.hl7"))
            finally:
                await engine.close()
            assert ack.code == "AA", ack.segments
            assert acks_sent((await http.get("/metrics")).text, "AA") == before + 1

        reported = envelopes(
            await read_topic(
                infra.kafka_bootstrap,
                f"{prefix}.incidents.v1",
                until=lambda records: any(e.event_type == "IncidentReported" for e in envelopes(records)),
                timeout=60,
            )
        )
        assert [e.payload["channel"] for e in reported if e.event_type == "IncidentReported"] == ["hl7v2"]

        # Asked to stop, it closes the listener and its connections before it exits (uvicorn
        # then re-raises the SIGTERM it caught, as the other services do).
        devstack.stop(listener)
        lines = listener.log_lines()
        assert listener.process.returncode in (0, -signal.SIGTERM), "\n".join(lines[-20:])
        assert any('"service.stopped"' in line for line in lines), "\n".join(lines[-20:])
    finally:
        if listener.process.poll() is None:
            devstack.stop(listener)
        await delete_topics_with_prefix(KafkaSettings(bootstrap_servers=infra.kafka_bootstrap), prefix)
