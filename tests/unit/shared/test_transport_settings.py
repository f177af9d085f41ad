"""Production refuses plaintext Kafka and PostgreSQL connections that leave the host: events and
rows are health data about incidents, so off the host they travel only encrypted, to a server whose
certificate was checked."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sievert_classifier.settings import ClassifierSettings
from sievert_shared.settings import KafkaSettings, plaintext_transport_problems

REMOTE_DB = "postgresql://svc:s3cret@db.trust.example:5432/sievert_classifier"
VERIFIED = "?sslmode=verify-full&sslrootcert=/etc/sievert/postgres-ca/ca.crt"
REMOTE_KAFKA = "kafka-0.trust.example:9093,kafka-1.trust.example:9093"


@pytest.mark.parametrize(
    ("database_url", "bootstrap", "protocol", "expected"),
    [
        (REMOTE_DB + VERIFIED, REMOTE_KAFKA, "SASL_SSL", []),
        (REMOTE_DB + "?sslmode=verify-ca&sslrootcert=/ca.crt", REMOTE_KAFKA, "SSL", []),
        (REMOTE_DB, REMOTE_KAFKA, "SASL_SSL", ["sslmode=(none)"]),
        # require encrypts but checks no certificate: a man in the middle still reads everything.
        (REMOTE_DB + "?sslmode=require", REMOTE_KAFKA, "SASL_SSL", ["sslmode=require"]),
        (REMOTE_DB + VERIFIED, REMOTE_KAFKA, "SASL_PLAINTEXT", ["KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT"]),
        (REMOTE_DB, REMOTE_KAFKA, "PLAINTEXT", ["sslmode=(none)", "KAFKA_SECURITY_PROTOCOL=PLAINTEXT"]),
        # Loopback and unix sockets never leave the host.
        ("postgresql://svc:s3cret@127.0.0.1:5432/db", "127.0.0.1:9092", "PLAINTEXT", []),
        ("postgresql://svc:s3cret@localhost/db", "localhost:9092,[::1]:9092", "PLAINTEXT", []),
        ("postgresql://svc@/db?host=/var/run/postgresql", "127.0.0.1:9092", "PLAINTEXT", []),
        # One remote broker is enough to need TLS.
        (REMOTE_DB + VERIFIED, "127.0.0.1:9092,kafka-0.trust.example:9093", "PLAINTEXT", ["PLAINTEXT"]),
    ],
)
def test_plaintext_transport_problems(
    database_url: str, bootstrap: str, protocol: str, expected: list[str]
) -> None:
    kafka = KafkaSettings(bootstrap_servers=bootstrap, security_protocol=protocol)
    problems = plaintext_transport_problems(database_url, kafka)
    assert len(problems) == len(expected)
    for problem, fragment in zip(problems, expected, strict=True):
        assert fragment in problem


def test_production_refuses_plaintext_and_names_the_way_out() -> None:
    with pytest.raises(ValidationError) as caught:
        ClassifierSettings(
            environment="production",
            database_url=REMOTE_DB,
            http_port=8001,
            kafka=KafkaSettings(bootstrap_servers=REMOTE_KAFKA),
        )
    message = str(caught.value)
    assert "sslmode=verify-full" in message
    assert "KAFKA_SECURITY_PROTOCOL=PLAINTEXT" in message
    assert "CLASSIFIER_TRANSPORT_PLAINTEXT_ALLOWED=true" in message


def test_production_accepts_verified_tls_or_an_explicit_private_network() -> None:
    secure = ClassifierSettings(
        environment="production",
        database_url=REMOTE_DB + VERIFIED,
        http_port=8001,
        kafka=KafkaSettings(bootstrap_servers=REMOTE_KAFKA, security_protocol="SASL_SSL"),
    )
    assert secure.kafka.security_protocol == "SASL_SSL"
    private = ClassifierSettings(
        environment="production",
        database_url=REMOTE_DB,
        http_port=8001,
        transport_plaintext_allowed=True,
        kafka=KafkaSettings(bootstrap_servers=REMOTE_KAFKA),
    )
    assert private.transport_plaintext_allowed


def test_development_never_refuses_plaintext() -> None:
    settings = ClassifierSettings(
        database_url=REMOTE_DB, http_port=8001, kafka=KafkaSettings(bootstrap_servers=REMOTE_KAFKA)
    )
    assert settings.environment == "development"
