"""Submissions to the authorities: draft, record findings, issue and acknowledge, and the
documents as issued or as they would be issued now.

Each command runs in one transaction that checks the read model, writes its events to the
outbox and applies them to the read model (``OwnEvents``), with every status change announced
to dashboards in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from sievert_reporting.adapters import read_model, submissions_store
from sievert_reporting.adapters.render import sha256_of
from sievert_reporting.domain import documents
from sievert_reporting.domain.documents import Findings
from sievert_reporting.domain.submissions import (
    STATUS_AFTER,
    IncidentState,
    IncompleteReportError,
    SubmissionExistsError,
    no_copy_of,
    refuse_identifiers,
    sent_outside,
    submission_id_for,
)
from sievert_reporting.service_layer.cases import correspondence_for_report
from sievert_reporting.service_layer.own_events import OwnEvents
from sievert_shared.db import Connection
from sievert_shared.envelope import Tenant
from sievert_shared.errors import ConflictError
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


class ReportingService:
    def __init__(self, own_events: OwnEvents) -> None:
        self._own = own_events
        self._runtime = own_events.runtime

    @property
    def pool(self) -> asyncpg.Pool:
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
        actor: str | None,
    ) -> uuid.UUID:
        refuse_identifiers({"contact_role": contact_role, "summary": summary})
        async with self.pool.acquire() as conn, conn.transaction():
            incident = await read_model.classified_incident(conn, trust, incident_id, lock=True)
            if not incident.decision.notifiable:
                raise ConflictError(
                    f"incident {incident_id} is not notifiable ({', '.join(incident.decision.needs_facts) or 'no criterion met'}); "
                    "it is investigated locally under Regulation 8(3)"
                )
            submission_id = submission_id_for(incident_id, kind)
            existing = await submissions_store.any_submission(conn, submission_id)
            if existing is not None and existing["channel"] == "external":
                raise SubmissionExistsError(sent_outside(existing), submission_id)
            if existing is not None:
                raise SubmissionExistsError(
                    f"incident {incident_id} already has a {kind.value}", submission_id
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
        async with self.pool.acquire() as conn, conn.transaction():
            row = await submissions_store.submission(conn, trust, submission_id, lock=True)
            if row["channel"] == "external":
                raise ConflictError(sent_outside(row))
            if row["status"] != "draft":
                raise ConflictError(f"submission {submission_id} is {row['status']}; only a draft changes")
            incident = await read_model.classified_incident(conn, trust, row["incident_id"], lock=True)
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
        async with self.pool.acquire() as conn, conn.transaction():
            incident = await read_model.classified_incident(conn, trust, incident_id, lock=True)
            report = submission_id_for(incident_id, SubmissionKind.INVESTIGATION_REPORT)
            status = await submissions_store.status_of(conn, report)
            if status in ("submitted", "acknowledged"):
                raise ConflictError(f"the investigation report for {incident_id} is already {status}")
            await self._emit(conn, incident, [event], actor)

    async def issue(
        self, trust: str, submission_id: uuid.UUID, *, submitted_by_role: str, actor: str | None
    ) -> None:
        refuse_identifiers({"submitted_by_role": submitted_by_role})
        async with self.pool.acquire() as conn, conn.transaction():
            row = await submissions_store.submission(conn, trust, submission_id, lock=True)
            if row["channel"] == "external":
                raise ConflictError(sent_outside(row))
            if row["status"] != "draft":
                raise ConflictError(f"submission {submission_id} is already {row['status']}")
            incident = await read_model.classified_incident(conn, trust, row["incident_id"], lock=True)
            document = await self.build_document(conn, row, incident)
            now = self._runtime.clock.now()
            kind = SubmissionKind(row["kind"])
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

    async def acknowledge(
        self,
        trust: str,
        submission_id: uuid.UUID,
        *,
        reference: str,
        acknowledged_at: dt.datetime | None,
        actor: str | None,
    ) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await submissions_store.submission(conn, trust, submission_id, lock=True)
            if row["status"] == "acknowledged" and row["reference"] == reference:
                return  # the same acknowledgement again changes nothing
            if row["status"] != "submitted":
                raise ConflictError(
                    f"submission {submission_id} is {row['status']}; only a submitted one is acknowledged"
                )
            incident = await read_model.classified_incident(conn, trust, row["incident_id"], lock=True)
            event = SubmissionAcknowledged(
                submission_id=submission_id,
                kind=SubmissionKind(row["kind"]),
                authority=row["authority"],
                reference=reference,
                acknowledged_at=acknowledged_at or self._runtime.clock.now(),
            )
            await self._emit(conn, incident, [event], actor, channel=row["channel"])

    # -- reads ---------------------------------------------------------------------------------

    async def submission(
        self, trust: str, submission_id: uuid.UUID
    ) -> tuple[asyncpg.Record, list[Any] | None]:
        """The submission, and for a draft report the items it still lacks (else None)."""
        async with self.pool.acquire() as conn:
            row = await submissions_store.submission(conn, trust, submission_id, lock=False)
            if row["kind"] != SubmissionKind.INVESTIGATION_REPORT or row["status"] != "draft":
                return row, None
            return row, await self._missing(conn, trust, row["incident_id"])

    async def findings(self, trust: str, incident_id: uuid.UUID) -> tuple[Findings, list[dict[str, str]]]:
        """The incident's findings merged so far, and the report items they still lack."""
        async with self.pool.acquire() as conn:
            incident = await read_model.classified_incident(conn, trust, incident_id, lock=False)
            findings = await submissions_store.findings(conn, incident_id)
        return findings, documents.missing_report_items(findings, incident.facts)

    async def document(self, trust: str, submission_id: uuid.UUID) -> dict[str, Any]:
        """The document as issued, or for a draft as it would be issued now."""
        async with self.pool.acquire() as conn:
            row = await submissions_store.submission(conn, trust, submission_id, lock=False)
            if row["document"] is not None:
                content: dict[str, Any] = row["document"]
                return content
            incident = await read_model.classified_incident(conn, trust, row["incident_id"], lock=False)
            return await self.build_document(conn, row, incident)

    async def list_submissions(
        self,
        trust: str,
        *,
        site: str | None,
        kind: SubmissionKind | None,
        status: str | None,
        incident_id: uuid.UUID | None,
    ) -> list[asyncpg.Record]:
        async with self.pool.acquire() as conn:
            return await submissions_store.list_submissions(
                conn,
                trust,
                site=site,
                kind=kind.value if kind else None,
                status=status,
                incident_id=incident_id,
            )

    async def build_document(
        self, conn: Connection, row: asyncpg.Record, incident: IncidentState
    ) -> dict[str, Any]:
        """The document as it would be issued now (for a draft) from the read model."""
        if row["channel"] == "external":
            raise no_copy_of(row)
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
        findings = await submissions_store.findings(conn, incident.incident_id)
        missing = documents.missing_report_items(findings, incident.facts)
        if missing:
            raise IncompleteReportError(missing)
        similar = await self._similar(conn, incident)
        return documents.investigation_report(
            **common,
            findings=findings,
            similar=similar,
            correspondence=await correspondence_for_report(conn, incident.incident_id),
        ).model_dump(mode="json")

    async def _missing(self, conn: Connection, trust: str, incident_id: uuid.UUID) -> list[dict[str, str]]:
        incident = await read_model.classified_incident(conn, trust, incident_id, lock=False)
        findings = await submissions_store.findings(conn, incident_id)
        return documents.missing_report_items(findings, incident.facts)

    async def _similar(self, conn: Connection, incident: IncidentState) -> documents.SimilarIncidents:
        discovered_on = incident.facts.discovered_on
        start = discovered_on.replace(year=discovered_on.year - 3, day=1)
        candidates = await read_model.incidents_discovered(
            conn, incident.trust, start, discovered_on, besides=incident.incident_id
        )
        return documents.similar_incidents(
            this_incident=incident.incident_id,
            discovered_on=discovered_on,
            modality=incident.facts.modality.value,
            codes=list(incident.decision.codes),
            candidates=candidates,
        )

    async def _emit(
        self,
        conn: Connection,
        incident: IncidentState,
        events: Sequence[Event],
        actor: str | None,
        *,
        channel: str = "sievert",
    ) -> None:
        # Dashboards hear of every status change in the transaction that makes it, so a dashboard
        # subscribes instead of polling and never shows a change that was rolled back.
        dashboard: list[Event] = [
            SubmissionStatusChanged(
                submission_id=e.submission_id,
                kind=e.kind,
                status=STATUS_AFTER[type(e)],
                channel="external" if channel == "external" else "sievert",
            )
            for e in events
            if isinstance(e, SubmissionDrafted | SubmissionIssued | SubmissionAcknowledged)
        ]
        await self._own.emit_and_apply(
            conn,
            [*events, *dashboard],
            stream_id=incident.incident_id,
            tenant=Tenant(trust=incident.trust, site=incident.site),
            actor=actor,
        )
