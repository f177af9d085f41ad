"""Kafka over SASL_SSL and PostgreSQL over verified TLS, through settings alone: a site turns transport security on without code changes.

The local stack serves both in the clear on loopback and, beside that, a Kafka SASL_SSL listener
and PostgreSQL TLS with a throwaway CA (``scripts/stack.sh``). Intake and the classifier run here
with nothing but settings changed: the incident is stored, published, consumed and classified
over encrypted, authenticated connections, and a server whose certificate the CA did not sign,
or a wrong SASL password, is refused.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from pydantic import SecretStr

from sievert_classifier.bootstrap import build as build_classifier
from sievert_classifier.settings import ClassifierSettings
from sievert_intake.bootstrap import build as build_intake
from sievert_intake.settings import IntakeSettings
from sievert_shared.settings import KafkaSettings
from tests.support.infra import Infra
from tests.support.kafka import envelopes, eventually, read_topic
from tests.support.samples import ct_overexposure

pytestmark = pytest.mark.integration

# A CA bundle that cannot have signed the stack's certificate.
FOREIGN_CA_BUNDLE = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"


@dataclass(frozen=True)
class SecureEndpoints:
    ca_file: str
    kafka_sasl_ssl: str
    sasl_username: str
    sasl_password: str

    def kafka(self, topic_prefix: str, *, password: str | None = None) -> KafkaSettings:
        return KafkaSettings(
            bootstrap_servers=self.kafka_sasl_ssl,
            topic_prefix=topic_prefix,
            security_protocol="SASL_SSL",
            sasl_mechanism="PLAIN",
            sasl_username=self.sasl_username,
            sasl_password=SecretStr(password or self.sasl_password),
            ssl_cafile=self.ca_file,
        )

    def database(self, plain_url: str, *, ca_file: str | None = None) -> str:
        query = urlencode({"sslmode": "verify-full", "sslrootcert": ca_file or self.ca_file})
        return f"{plain_url}?{query}"


@pytest.fixture
def secure(infra: Infra) -> SecureEndpoints:
    names = (
        "SIEVERT_STACK_TLS_CA",
        "SIEVERT_STACK_KAFKA_SASL_SSL",
        "SIEVERT_STACK_KAFKA_SASL_USER",
        "SIEVERT_STACK_KAFKA_SASL_PASSWORD",
    )
    values = [os.environ.get(name) for name in names]
    if infra.mode == "testcontainers" or not all(values):
        # Only the local stack (scripts/stack.sh env) publishes TLS endpoints; make test uses it.
        pytest.skip(f"no TLS endpoints for these servers (set {', '.join(names)})")
    ca, kafka, user, password = (value or "" for value in values)
    return SecureEndpoints(ca, kafka, user, password)


async def test_an_incident_is_stored_published_and_classified_over_tls_only(
    secure: SecureEndpoints, infra: Infra, topic_prefix: str, make_database: Callable[[str], Any]
) -> None:
    kafka = secure.kafka(topic_prefix)
    intake_db = secure.database(await make_database("intake"))
    classifier_db = secure.database(await make_database("classifier"))
    intake_runtime, intake_app = build_intake(
        IntakeSettings(database_url=intake_db, kafka=kafka, environment="test")
    )
    classifier_runtime, classifier_app = build_classifier(
        ClassifierSettings(database_url=classifier_db, kafka=kafka, environment="test", http_port=0)
    )
    async with intake_runtime.lifespan(intake_app), classifier_runtime.lifespan(classifier_app):
        transport = httpx.ASGITransport(app=intake_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:

            async def ready() -> None:  # once its consumer's group has given it its partitions
                assert (await client.get("/readyz")).status_code == 200

            await eventually(ready)
            response = await client.post("/v1/incidents", json=ct_overexposure())
            assert response.status_code == 202, response.text
            incident_id = response.json()["incident_id"]

        records = await read_topic(
            infra.kafka_bootstrap, kafka.topics.classifications, until=lambda r: len(r) >= 1, timeout=60
        )
        (decision,) = envelopes(records)
        assert str(decision.stream_id) == incident_id
        assert decision.event_type == "IncidentClassified"

        # Every session the two services hold on their databases is encrypted.
        admin = await asyncpg.connect(infra.admin_database_url)
        try:
            sessions = await admin.fetch(
                """SELECT a.datname, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
                   WHERE a.datname = ANY($1::text[])""",
                [intake_db.split("/")[-1].split("?")[0], classifier_db.split("/")[-1].split("?")[0]],
            )
        finally:
            await admin.close()
        assert {row["datname"] for row in sessions} == {
            intake_db.split("/")[-1].split("?")[0],
            classifier_db.split("/")[-1].split("?")[0],
        }
        assert all(row["ssl"] for row in sessions), sessions


async def test_a_database_certificate_from_another_ca_is_refused(
    secure: SecureEndpoints, make_database: Callable[[str], Any]
) -> None:
    url = secure.database(await make_database("intake"), ca_file=FOREIGN_CA_BUNDLE)
    with pytest.raises(ssl.SSLCertVerificationError):
        await asyncpg.connect(url)


async def test_a_wrong_sasl_password_is_refused(secure: SecureEndpoints, topic_prefix: str) -> None:
    producer = AIOKafkaProducer(**secure.kafka(topic_prefix, password="not-the-password").client_kwargs())
    with pytest.raises(KafkaConnectionError):
        await producer.start()
    await producer.stop()
