"""What a caller asks intake to do: one command per way of changing an incident.

Every door (JSON over HTTP, FHIR, HL7 v2 over MLLP) turns its request into one of these and hands
it to ``service_layer.intake.IntakeService.execute``, the one path to the event store and outbox.
Commands are named in the imperative; the events they record are named in the past tense.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sievert_intake.domain.inbound import Submission
from sievert_intake.domain.incident import Amendment, IncidentReport


@dataclass(frozen=True)
class RequestContext:
    """Who asked, and under which key their answer is kept.

    ``idempotency_key`` is already scoped to the caller's trust; ``request_hash`` is the hash of
    the request's meaning, which a replay under the same key must match."""

    correlation_id: str
    actor: str | None
    idempotency_key: str | None
    request_hash: str


@dataclass(frozen=True)
class ReportIncident:
    """``POST /v1/incidents``: record a new incident from validated JSON facts."""

    report: IncidentReport
    context: RequestContext


@dataclass(frozen=True)
class AmendIncident:
    """``POST /v1/incidents/{id}/amendments``: correct an incident's facts at a known version."""

    incident_id: uuid.UUID
    amendment: Amendment
    context: RequestContext


@dataclass(frozen=True)
class RecordMessage:
    """An HL7 v2 or FHIR message: a new incident, or an amendment of the incident its sender's
    reference names (only the event store knows which)."""

    submission: Submission
    context: RequestContext


Command = ReportIncident | AmendIncident | RecordMessage
