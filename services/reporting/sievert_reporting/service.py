"""Reporting's use cases: draft, record findings, issue and acknowledge submissions.

Each command runs in one transaction that checks the read model, writes its events to the
outbox and applies them to the read model through the same projection handlers the consumer
uses, recording their ids as processed, so the copy that comes back from Kafka changes nothing
and a replay of the log rebuilds exactly this state.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from sievert_reporting.domain import documents
from sievert_reporting.domain.anonymity import IdentifierFound, scan_fields
from sievert_reporting.domain.documents import Findings
from sievert_reporting.projection import HANDLERS, submission_id_for
from sievert_shared.db import Connection
from sievert_shared.decision import ClassificationDecision
from sievert_shared.envelope import EventEnvelope, Tenant
from sievert_shared.events import (
    Event,
    InvestigationFindingsRecorded,
    InvestigationReportSubmitted,
    NotificationSubmitted,
    SubmissionAcknowledged,
    SubmissionDrafted,
    SubmissionIssued,
)
from sievert_shared.events.reporting import SubmissionKind, SubmissionStatusChanged
from sievert_shared.facts import IncidentFacts
from sievert_shared.outbox import topic_of
from sievert_shared.runtime import ServiceRuntime

#: The consumer whose processed_events the commands write into (``runtime`` names it so).
PROJECTION_CONSUMER = "reporting.incident-projection"


class NotFoundError(LookupError):
    pass


class ConflictError(Exception):
    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.extra = extra


class IdentifiersFoundError(ValueError):
    def __init__(self, found: list[IdentifierFound]) -> None:
        super().__init__("free text looks like it carries identifiers")
        self.found = found


class IncompleteReportError(ValueError):
    def __init__(self, missing: list[dict[str, str]]) -> None:
        super().__init__("the investigation report lacks items the guidance requires")
        self.missing = missing


def sent_outside(row: asyncpg.Record) -> str:
    """Why reporting will not draft or issue a submission the trust already made outside Sievert."""
    reference = f", reference {row['reference']}" if row["reference"] else ""
    return (
        f"the {row['kind'].replace('_', ' ')} for incident {row['incident_id']} was submitted outside "
        f"Sievert ({row['authority']}, {row['submitted_at'].isoformat()}, by {row['submitted_by_role']}"
        f"{reference}); Sievert does not draft or issue a second one"
    )


@dataclass(frozen=True)
class IncidentState:
    incident_id: uuid.UUID
    trust: str
    site: str
    facts: IncidentFacts
    decision: ClassificationDecision
    correlation_id: str


def refuse_identifiers(fields: dict[str, object]) -> None:
    found = scan_fields(fields)
    if found:
        raise IdentifiersFoundError(found)


class ReportingService:
    def __init__(self, runtime: ServiceRuntime) -> None:
        self._runtime = runtime

    @property
    def _pool(self) -> asyncpg.Pool:
        return self._runtime.pool

    # -- commands ------------------------------------------------------------------------------

    async def draft(
        self,
        trust: str,
        incident_id: uuid.UUID,
        kind: SubmissionKind,
        *,
        contact_role: str,
        summary: str | None,
        correlation_id: str,
        actor: str | None,
    ) -> uuid.UUID:
        refuse_identifiers({"contact_role": contact_role, "summary": summary})
        async with self._pool.acquire() as conn, conn.transaction():
            incident = await self._incident(conn, trust, incident_id)
            if not incident.decision.notifiable:
                raise ConflictError(
                    f"incident {incident_id} is not notifiable ({', '.join(incident.decision.needs_facts) or 'no criterion met'}); "
                    "it is investigated locally under Regulation 8(3)"
                )
            submission_id = submission_id_for(incident_id, kind)
            existing = await conn.fetchrow(
                "SELECT * FROM submissions WHERE submission_id = $1", submission_id
            )
            if existing is not None and existing["channel"] == "external":
                raise ConflictError(sent_outside(existing), submission_id=str(submission_id))
            if existing is not None:
                raise ConflictError(
                    f"incident {incident_id} already has a {kind.value}", submission_id=str(submission_id)
                )
            event = SubmissionDrafted(
                submission_id=submission_id,
                kind=kind,
                authority=incident.decision.authority.value,
                contact_role=contact_role,
                summary=summary,
            )
            await self._emit(conn, incident, [event], actor)
        return submission_id

    async def redraft(
        self,
        trust: str,
        submission_id: uuid.UUID,
        *,
        contact_role: str | None,
        summary: str | None,
        actor: str | None,
    ) -> None:
        refuse_identifiers({"contact_role": contact_role, "summary": summary})
        async with self._pool.acquire() as conn, conn.transaction():
            row = await self._submission(conn, trust, submission_id, lock=True)
            if row["channel"] == "external":
                raise ConflictError(sent_outside(row))
            if row["status"] != "draft":
                raise ConflictError(f"submission {submission_id} is {row['status']}; only a draft changes")
            incident = await self._incident(conn, trust, row["incident_id"])
            event = SubmissionDrafted(
                submission_id=submission_id,
                kind=SubmissionKind(row["kind"]),
                authority=incident.decision.authority.value,
                contact_role=contact_role or row["contact_role"],
                summary=summary if summary is not None else row["summary"],
            )
            await self._emit(conn, incident, [event], actor)

    async def record_findings(
        self, trust: str, incident_id: uuid.UUID, event: InvestigationFindingsRecorded, actor: str | None
    ) -> None:
        refuse_identifiers(event.model_dump(mode="json", exclude_none=True))
        async with self._pool.acquire() as conn, conn.transaction():
            incident = await self._incident(conn, trust, incident_id)
            report = submission_id_for(incident_id, SubmissionKind.INVESTIGATION_REPORT)
            status = await conn.fetchval("SELECT status FROM submissions WHERE submission_id = $1", report)
            if status in ("submitted", "acknowledged"):
                raise ConflictError(f"the investigation report for {incident_id} is already {status}")
            await self._emit(conn, incident, [event], actor)

    async def issue(
        self, trust: str, submission_id: uuid.UUID, *, submitted_by_role: str, actor: str | None
    ) -> dict[str, Any]:
        refuse_identifiers({"submitted_by_role": submitted_by_role})
        async with self._pool.acquire() as conn, conn.transaction():
            row = await self._submission(conn, trust, submission_id, lock=True)
            if row["channel"] == "external":
                raise ConflictError(sent_outside(row))
            if row["status"] != "draft":
                raise ConflictError(f"submission {submission_id} is already {row['status']}")
            incident = await self._incident(conn, trust, row["incident_id"])
            document = await self.build_document(conn, row, incident)
            now = self._runtime.clock.now()
            kind = SubmissionKind(row["kind"])
            from sievert_reporting.adapters.render import sha256_of

            issued = SubmissionIssued(
                submission_id=submission_id,
                kind=kind,
                authority=incident.decision.authority.value,
                submitted_at=now,
                submitted_by_role=submitted_by_role,
                document=document,
                document_sha256=sha256_of(document),
            )
            deadline_event: Event = (
                NotificationSubmitted if kind is SubmissionKind.NOTIFICATION else InvestigationReportSubmitted
            )(authority=issued.authority, submitted_at=now, submitted_by_role=submitted_by_role)
            await self._emit(conn, incident, [issued, deadline_event], actor)
            return document

    async def acknowledge(
        self,
        trust: str,
        submission_id: uuid.UUID,
        *,
        reference: str,
        acknowledged_at: dt.datetime | None,
        actor: str | None,
    ) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            row = await self._submission(conn, trust, submission_id, lock=True)
            if row["status"] == "acknowledged" and row["reference"] == reference:
                return  # the same acknowledgement again changes nothing
            if row["status"] != "submitted":
                raise ConflictError(
                    f"submission {submission_id} is {row['status']}; only a submitted one is acknowledged"
                )
            incident = await self._incident(conn, trust, row["incident_id"])
            event = SubmissionAcknowledged(
                submission_id=submission_id,
                kind=SubmissionKind(row["kind"]),
                authority=row["authority"],
                reference=reference,
                acknowledged_at=acknowledged_at or self._runtime.clock.now(),
            )
            await self._emit(conn, incident, [event], actor, channel=row["channel"])

    # -- documents -----------------------------------------------------------------------------

    async def build_document(
        self, conn: Connection, row: asyncpg.Record, incident: IncidentState
    ) -> dict[str, Any]:
        """The document as it would be issued now (for a draft) from the read model."""
        if row["channel"] == "external":
            # Sent outside Sievert: the document the authority has is not Sievert's to show, and
            # building one now would pass off today's read model as what was sent.
            raise NotFoundError(f"{sent_outside(row)}; Sievert holds no copy of its document")
        kind = SubmissionKind(row["kind"])
        common = {
            "submission_id": row["submission_id"],
            "incident_id": incident.incident_id,
            "trust": incident.trust,
            "site": incident.site,
            "facts": incident.facts,
            "decision": incident.decision,
            "contact_role": row["contact_role"],
        }
        if kind is SubmissionKind.NOTIFICATION:
            return documents.notification(**common, summary=row["summary"]).model_dump(mode="json")
        findings = await self.findings(conn, incident.incident_id)
        missing = documents.missing_report_items(findings, incident.facts)
        if missing:
            raise IncompleteReportError(missing)
        similar = await self.similar(conn, incident)
        return documents.investigation_report(**common, findings=findings, similar=similar).model_dump(
            mode="json"
        )

    async def findings(self, conn: Connection, incident_id: uuid.UUID) -> Findings:
        raw = await conn.fetchval("SELECT findings FROM findings WHERE incident_id = $1", incident_id)
        return Findings.model_validate(raw) if raw else Findings()

    async def similar(self, conn: Connection, incident: IncidentState) -> documents.SimilarIncidents:
        start = incident.facts.discovered_on.replace(year=incident.facts.discovered_on.year - 3, day=1)
        rows = await conn.fetch(
            """SELECT incident_id, site, modality, codes, notifiable, discovered_on FROM incidents
               WHERE trust = $1 AND discovered_on BETWEEN $2 AND $3 AND incident_id <> $4""",
            incident.trust,
            start,
            incident.facts.discovered_on,
            incident.incident_id,
        )
        return documents.similar_incidents(
            this_incident=incident.incident_id,
            discovered_on=incident.facts.discovered_on,
            modality=incident.facts.modality.value,
            codes=list(incident.decision.codes),
            candidates=[dict(r.items()) for r in rows],
        )

    # -- shared ----------------------------------------------------------------------------------

    async def load_incident(self, conn: Connection, trust: str, incident_id: uuid.UUID) -> IncidentState:
        return await self._incident(conn, trust, incident_id, lock=False)

    async def load_submission(self, conn: Connection, trust: str, submission_id: uuid.UUID) -> asyncpg.Record:
        return await self._submission(conn, trust, submission_id, lock=False)

    async def _incident(
        self, conn: Connection, trust: str, incident_id: uuid.UUID, *, lock: bool = True
    ) -> IncidentState:
        row = await conn.fetchrow(
            f"""SELECT incident_id, trust, site, facts, decision FROM incidents
                WHERE incident_id = $1 AND trust = $2 {"FOR UPDATE" if lock else ""}""",
            incident_id,
            trust,
        )
        if row is None or row["facts"] is None or row["decision"] is None:
            raise NotFoundError(f"no classified incident {incident_id} for trust {trust} (yet)")
        decision = {k: v for k, v in row["decision"].items() if k != "facts_version"}
        return IncidentState(
            incident_id=row["incident_id"],
            trust=row["trust"],
            site=row["site"],
            facts=IncidentFacts.model_validate(row["facts"]),
            decision=ClassificationDecision.model_validate(decision),
            correlation_id=f"reporting-{incident_id}",
        )

    async def _submission(
        self, conn: Connection, trust: str, submission_id: uuid.UUID, *, lock: bool
    ) -> asyncpg.Record:
        row = await conn.fetchrow(
            f"""SELECT * FROM submissions WHERE submission_id = $1 AND trust = $2
                {"FOR UPDATE" if lock else ""}""",
            submission_id,
            trust,
        )
        if row is None:
            raise NotFoundError(f"no submission {submission_id} for trust {trust}")
        return row

    async def _emit(
        self,
        conn: Connection,
        incident: IncidentState,
        events: Sequence[Event],
        actor: str | None,
        *,
        channel: str = "sievert",
    ) -> None:
        # Dashboards hear of every status change in the same transaction (issue 6, item 9).
        status = {
            SubmissionDrafted: "draft",
            SubmissionIssued: "submitted",
            SubmissionAcknowledged: "acknowledged",
        }
        dashboard: list[Event] = [
            SubmissionStatusChanged(
                submission_id=e.submission_id,
                kind=e.kind,
                status=status[type(e)],
                channel="external" if channel == "external" else "sievert",
            )
            for e in events
            if isinstance(e, SubmissionDrafted | SubmissionIssued | SubmissionAcknowledged)
        ]
        await emit_and_apply(
            self._runtime,
            conn,
            [*events, *dashboard],
            stream_id=incident.incident_id,
            tenant=Tenant(trust=incident.trust, site=incident.site),
            actor=actor,
        )


async def emit_and_apply(
    runtime: ServiceRuntime,
    conn: Connection,
    events: Sequence[Event],
    *,
    stream_id: uuid.UUID,
    tenant: Tenant,
    actor: str | None,
) -> list[EventEnvelope]:
    """Write events to the outbox and apply the projected ones now, recording them as processed,
    so their copy consumed back from Kafka changes nothing."""
    envelopes = await runtime.emitter.emit(
        conn, events, stream_id=stream_id, tenant=tenant, correlation_id=_correlation_id(), actor=actor
    )
    await apply_own(runtime, conn, envelopes, events)
    return envelopes


async def apply_own(
    runtime: ServiceRuntime, conn: Connection, envelopes: Sequence[EventEnvelope], events: Sequence[Event]
) -> None:
    for envelope, event in zip(envelopes, events, strict=True):
        handler = HANDLERS.get(envelope.event_type)
        if handler is None:
            continue  # NotificationSubmitted, dashboard events etc.: for other consumers
        await conn.execute(
            """INSERT INTO processed_events (consumer, event_id, topic, kafka_partition, kafka_offset)
               VALUES ($1, $2, $3, -1, -1)""",
            PROJECTION_CONSUMER,
            envelope.event_id,
            topic_of(event, runtime.settings.kafka.topics),
        )
        await handler(conn, envelope, event)


def _correlation_id() -> str:
    import structlog

    bound = structlog.contextvars.get_contextvars().get("correlation_id")
    return str(bound) if bound else str(uuid.uuid4())
