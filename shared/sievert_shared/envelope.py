"""The one envelope every Sievert event travels in.

The envelope is the public interface of the event log: dashboards and other trusts read it
straight off Kafka, so its fields are described for the generated JSON Schema and AsyncAPI
document, and it never changes shape without a new ``envelope_version``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

ENVELOPE_VERSION = 1


_ORGANISATION_CODE = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"

TrustId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=_ORGANISATION_CODE,
        description="Trust identifier, e.g. the NHS ODS code 'RXX'.",
    ),
]
SiteId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=_ORGANISATION_CODE,
        description="Site identifier within the trust, e.g. the ODS site code 'RXX01'.",
    ),
]


class Tenant(BaseModel):
    """Who an event belongs to: an NHS trust (or independent provider) and one of its sites."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trust: TrustId
    site: SiteId


class EventEnvelope(BaseModel):
    """Metadata common to every event, around a payload whose shape is fixed by
    ``(event_type, schema_version)``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    envelope_version: int = Field(default=ENVELOPE_VERSION, description="Version of this envelope's shape.")
    event_id: uuid.UUID = Field(description="Unique id of this event; consumers deduplicate on it.")
    event_type: str = Field(description="Past-tense event name, e.g. 'IncidentReported'.")
    schema_version: int = Field(ge=1, description="Version of the payload's shape for this event type.")
    stream_id: uuid.UUID = Field(description="The incident id: every event about one incident shares it.")
    stream_version: int = Field(
        ge=1, description="Position of this event within its emitting service's stream for the incident."
    )
    occurred_at: AwareDatetime = Field(description="When the fact happened in the world (UTC).")
    recorded_at: AwareDatetime = Field(description="When Sievert recorded the event (UTC).")
    tenant: Tenant
    correlation_id: str = Field(
        min_length=1,
        max_length=128,
        description="Carried from the originating request through every service.",
    )
    causation_id: uuid.UUID | None = Field(
        default=None, description="The event id that caused this one; null for events caused by a request."
    )
    actor: str | None = Field(
        default=None, description="Client or user id that caused the event, for the audit trail."
    )
    producer: str = Field(description="Service that emitted the event, e.g. 'intake'.")
    payload: dict[str, Any] = Field(
        description="Event body; its JSON Schema is contracts/events/<type>.v<n>.json."
    )

    @property
    def key(self) -> bytes:
        """Kafka message key: the incident id, so one incident's events keep their order."""
        return str(self.stream_id).encode()

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json_bytes(cls, raw: bytes) -> EventEnvelope:
        return cls.model_validate_json(raw)


def utc(dt: datetime) -> datetime:
    """Reject naive datetimes early: every instant in the log is timezone-aware."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: every instant in Sievert is timezone-aware")
    return dt
