"""Settings shared by every service, read through pydantic-settings.

Each service defines one settings class that composes these. Unknown keys passed in code are
rejected (``extra="forbid"``); secrets are refused at their development default outside
development.
"""

from __future__ import annotations

import ssl
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sievert_shared.topics import DEFAULT_PREFIX, Topics

DEV_DATABASE_PASSWORD = "sievert"


class KafkaSettings(BaseSettings):
    """How to reach Kafka. Environment variables: ``KAFKA_*``."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="forbid")

    bootstrap_servers: str = Field(default="127.0.0.1:59092", description="Comma-separated host:port list.")
    topic_prefix: str = Field(default=DEFAULT_PREFIX, description="Prefix of every topic name.")
    topic_partitions: int = Field(default=3, ge=1, description="Partitions of topics Sievert creates.")
    topic_replication_factor: int = Field(
        default=1,
        ge=1,
        description="Replication of topics Sievert creates: 3 on a real multi-broker cluster.",
    )
    topic_retention_ms: int = Field(
        default=-1,
        ge=-1,
        description="retention.ms of the topics Sievert creates. -1, the default, keeps every event "
        "for ever: the topics are the log that `sievert replay reporting` rebuilds from and that a "
        "consumer back from a long outage resumes from, so a time limit (the broker's own default "
        "is 7 days) silently drops history from both. A limit suits throwaway environments only.",
    )
    # How fast a consumer group notices a member that died without leaving (SIGKILL, a lost node):
    # its partitions wait for the session to time out. 6 s is the broker's default minimum
    # (group.min.session.timeout.ms); docs/reliability.md has the measurements.
    consumer_session_timeout_ms: int = Field(default=6000, ge=1000, le=300_000)
    consumer_heartbeat_interval_ms: int = Field(default=1000, ge=100, le=100_000)
    group_instance_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Static group membership (KIP-345): a name stable across restarts and unique per "
        "replica (e.g. the pod's name). A restarted replica then takes its partitions back at once, "
        "without a rebalance; a replica that stays down still loses them after the session timeout.",
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments common to aiokafka producers, consumers and admin clients."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            context = ssl.create_default_context(cafile=self.ssl_cafile)
            if self.ssl_certfile:
                context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
            kwargs["ssl_context"] = context
        if self.security_protocol.startswith("SASL"):
            kwargs["sasl_mechanism"] = self.sasl_mechanism or "PLAIN"
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else None
            )
        return kwargs


class ServiceSettings(BaseSettings):
    """Fields every service has. Subclasses set ``env_prefix`` (e.g. ``INTAKE_``)."""

    model_config = SettingsConfigDict(extra="forbid", env_nested_delimiter="__")

    environment: Literal["development", "test", "production"] = "development"
    database_url: SecretStr = Field(description="postgresql:// URL of this service's own database.")
    database_pool_max: int = Field(default=10, ge=1)
    database_acquire_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How long a request or consumer waits for a free database connection before "
        "it is answered 503 with Retry-After (a consumer retries the batch in place).",
    )
    http_host: str = "127.0.0.1"
    http_port: int = Field(ge=0, le=65535)
    outbox_keep_published_hours: float = Field(
        default=168.0,
        ge=0,
        description="How long the outbox keeps a row after publishing it to Kafka (default a week). "
        "Kafka holds the event from then on; the row only tells what was published and when. "
        "Older ones are deleted by the relay every five minutes, so the table stays the size of "
        "a week's events instead of growing with the log.",
    )
    shutdown_seconds: float = Field(
        default=20.0,
        gt=0,
        description="How long stopping may take once asked (SIGTERM): requests in flight get half "
        "of it, then the consumers, loops, Kafka producer and database pool share the rest. What "
        "is still running then is cut off: its transaction rolls back, and a consumer's batch not "
        "yet committed is read again by the partition's next owner. Keep it under the "
        "orchestrator's grace period (30 s in deploy/k8s).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    ready_max_consumer_lag: int = Field(
        default=1000,
        ge=0,
        description="/readyz answers ready once each consumer has joined its group and is at most "
        "this many events behind the partitions it owns.",
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    transport_plaintext_allowed: bool = Field(
        default=False,
        description="Production only: accept plaintext connections to Kafka and PostgreSQL beyond "
        "loopback. Only where the network itself is private and encrypted (one host's compose "
        "network, a service mesh with mTLS).",
    )

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> ServiceSettings:
        url = self.database_url.get_secret_value()
        if self.environment == "production" and f":{DEV_DATABASE_PASSWORD}@" in url:
            raise ValueError("the development database password is not allowed in production")
        return self

    @model_validator(mode="after")
    def _refuse_plaintext_transport_in_production(self) -> ServiceSettings:
        # Events and rows are special-category health data about incidents: in production they
        # cross a network only encrypted, and only to a server whose certificate was checked.
        if self.environment != "production" or self.transport_plaintext_allowed:
            return self
        problems = plaintext_transport_problems(self.database_url.get_secret_value(), self.kafka)
        if problems:
            prefix = self.model_config.get("env_prefix", "")
            raise ValueError(
                "; ".join(problems) + f" (or set {prefix}TRANSPORT_PLAINTEXT_ALLOWED=true where the "
                "network itself is private and encrypted)"
            )
        return self


_VERIFYING_SSLMODES = frozenset({"verify-ca", "verify-full"})
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def plaintext_transport_problems(database_url: str, kafka: KafkaSettings) -> list[str]:
    """What would cross a network unencrypted or to an unverified server. Loopback and unix
    sockets never leave the host, so they are accepted in the clear."""
    problems = []
    parts = urlsplit(database_url)
    query = parse_qs(parts.query)
    socket_host = query.get("host", [""])[0].startswith("/")
    on_host = socket_host or not parts.hostname or parts.hostname in _LOOPBACK
    sslmode = query.get("sslmode", [""])[0]
    if not on_host and sslmode not in _VERIFYING_SSLMODES:
        problems.append(
            f"the database URL has sslmode={sslmode or '(none)'}: use sslmode=verify-full "
            "(or verify-ca) with sslrootcert"
        )
    brokers = [server.rsplit(":", 1)[0].strip("[]") for server in kafka.bootstrap_servers.split(",")]
    brokers_on_host = all(broker in _LOOPBACK for broker in brokers)
    if not brokers_on_host and kafka.security_protocol not in ("SSL", "SASL_SSL"):
        problems.append(f"KAFKA_SECURITY_PROTOCOL={kafka.security_protocol}: use SASL_SSL or SSL")
    return problems
