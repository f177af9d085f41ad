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
from dataclasses import dataclass
from typing import Any

import asyncpg

from sievert_reporting.adapters import read_model, submissions_store
from sievert_reporting.adapters.render import sha256_of
from sievert_reporting.domain import completeness, documents
from sievert_reporting.domain.completeness import DocumentInputs
from sievert_reporting.domain.documents import Findings, SimilarIncidentsConfirmation
from sievert_reporting.domain.submissions import (
    STATUS_AFTER,
    IncidentState,
    IncompleteDocumentError,
    SubmissionExistsError,
    no_copy_of,
    refuse_identifiers,
    refuse_unless_decision_allows,
    refuse_unless_this_trust_notifies,
    sent_outside,
    submission_id_for,
)
from sievert_reporting.service_layer.cases import correspondence_for_report
from sievert_reporting.service_layer.own_events import OwnEventsService
from sievert_shared.db import Connection
from sievert_shared.envelope import Tenant
from sievert_shared.errors import ConflictError
from sievert_shared.events import (
    Event,
    InvestigationFindingsRecorded,
    InvestigationReportSubmitted,
    NotificationSubmitted,
    SimilarIncidentsConfirmed,
    SubmissionAcknowledged,
    SubmissionDrafted,
    SubmissionIssued,
)
from sievert_shared.events.reporting import DocumentParticulars, SubmissionKind, SubmissionStatusChanged
from sievert_shared.metrics import DocumentMetrics


@dataclass(frozen=True)
class SimilarIncidentsAnswer:
    proposed: str
    confirmation: SimilarIncidentsConfirmation | None


def _free_text(particulars: DocumentParticulars) -> dict[str, object]:
    """The particulars' words, for the identifier scan (numbers and dates cannot name anyone;
    an individual's notes can)."""
    words = particulars.model_dump(
        mode="json", exclude_none=True, exclude={"individual_doses", "arsac_notified_on", "licence_missing"}
    )
    fields: dict[str, object] = {f"particulars/{name}": value for name, value in words.items()}
    for n, dose in enumerate(particulars.individual_doses or []):
        if dose.notes:
            fields[f"particulars/individual_doses/{n}/notes"] = dose.notes
    return fields


def _submitted(issued: SubmissionIssued) -> dict[str, Any]:
    return {
        "authority": issued.authority,
        "submitted_at": issued.submitted_at,
        "submitted_by_role": issued.submitted_by_role,
    }


class ReportingService(OwnEventsService):
    # -- commands ------------------------------------------------------------------------------

    async def draft(
        self,
        trust: str,
        incident_id: uuid.UUID,
        kind: SubmissionKind,
        *,
        contact_role: str,
        summary: str | None,
        particulars: DocumentParticulars,
        actor: str | None,
    ) -> uuid.UUID:
        refuse_identifiers({"contact_role": contact_role, "summary": summary, **_free_text(particulars)})
        async with self.pool.acquire() as conn, conn.transaction():
            incident = await read_model.classified_incident(conn, trust, incident_id, lock=True)
            refuse_unless_decision_allows(kind, incident)
            refuse_unless_this_trust_notifies(kind, incident)
            submission_id = submission_id_for(incident_id, kind)
            existing = await submissions_store.any_submission(conn, submission_id)
            if existing is not None and existing["channel"] == "external":
                raise SubmissionExistsError(sent_outside(existing), submission_id)
            if existing is not None:
                raise SubmissionExistsError(
                    f"incident {incident_id} already has a {kind.value.replace('_', ' ')}", submission_id
                )
            event = SubmissionDrafted(
                submission_id=submission_id,
                kind=kind,
                authority=incident.decision.authority.value,
                contact_role=contact_role,
                summary=summary,
                particulars=particulars,
            )
            await self._emit(conn, incident, [event], actor)
        DocumentMetrics.of(self._runtime.metrics).drafted.labels(kind.value).inc()
        return submission_id

    async def redraft(
        self,
        trust: str,
        submission_id: uuid.UUID,
        *,
        contact_role: str | None,
        summary: str | None,
        particulars: DocumentParticulars | None,
        actor: str | None,
    ) -> None:
        """Change a draft; particulars given replace those items, the others are kept."""
        more = _free_text(particulars) if particulars is not None else {}
        refuse_identifiers({"contact_role": contact_role, "summary": summary, **more})
        async with self.pool.acquire() as conn, conn.transaction():
            row = await submissions_store.submission(conn, trust, submission_id, lock=True)
            if row["channel"] == "external":
                raise ConflictError(sent_outside(row))
            if row["status"] != "draft":
                raise ConflictError(f"submission {submission_id} is {row['status']}; only a draft changes")
            incident = await read_model.classified_incident(conn, trust, row["incident_id"], lock=True)
            stored = DocumentParticulars.model_validate(row["particulars"])
            event = SubmissionDrafted(
                submission_id=submission_id,
                kind=SubmissionKind(row["kind"]),
                authority=incident.decision.authority.value,
                contact_role=contact_role or row["contact_role"],
                summary=summary if summary is not None else row["summary"],
                particulars=documents.merge_particulars(stored, particulars or DocumentParticulars()),
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
        """Send the document: the current decision is checked again (it may have changed since the
        draft), then every item the document needs; a refusal lists every missing item."""
        refuse_identifiers({"submitted_by_role": submitted_by_role})
        async with self.pool.acquire() as conn, conn.transaction():
            row = await submissions_store.submission(conn, trust, submission_id, lock=True)
            if row["channel"] == "external":
                raise ConflictError(sent_outside(row))
            if row["status"] != "draft":
                raise ConflictError(f"submission {submission_id} is already {row['status']}")
            incident = await read_model.classified_incident(conn, trust, row["incident_id"], lock=True)
            kind = SubmissionKind(row["kind"])
            refuse_unless_decision_allows(kind, incident)
            refuse_unless_this_trust_notifies(kind, incident)
            document = await self.build_document(conn, row, incident)
            now = self._runtime.clock.now()
            issued = SubmissionIssued(
                submission_id=submission_id,
                kind=kind,
                authority=incident.decision.authority.value,
                submitted_at=now,
                submitted_by_role=submitted_by_role,
                document=document,
                document_sha256=sha256_of(document),
            )
            events: list[Event] = [issued]
            # Only the Regulation 8(4) documents meet a window (lines 219, 221); the voluntary and
            # licensing-breach notifications have none for the deadlines service to close.
            if kind is SubmissionKind.NOTIFICATION:
                events.append(NotificationSubmitted(**_submitted(issued)))
            elif kind is SubmissionKind.INVESTIGATION_REPORT:
                events.append(InvestigationReportSubmitted(**_submitted(issued)))
            await self._emit(conn, incident, events, actor)
        DocumentMetrics.of(self._runtime.metrics).issued.labels(kind.value).inc()

    async def confirm_similar_incidents(
        self, trust: str, incident_id: uuid.UUID, *, summary: str, confirmed_by_role: str, actor: str | None
    ) -> SimilarIncidentsAnswer:
        """A person confirms (or edits and confirms) the report's similar previous incidents (line
        234). The same text confirmed again changes nothing and emits nothing."""
        refuse_identifiers({"summary": summary, "confirmed_by_role": confirmed_by_role})
        async with self.pool.acquire() as conn, conn.transaction():
            incident = await read_model.classified_incident(conn, trust, incident_id, lock=True)
            refuse_unless_decision_allows(SubmissionKind.INVESTIGATION_REPORT, incident)
            report = submission_id_for(incident_id, SubmissionKind.INVESTIGATION_REPORT)
            status = await submissions_store.status_of(conn, report)
            if status in ("submitted", "acknowledged"):
                raise ConflictError(f"the investigation report for {incident_id} is already {status}")
            findings = await submissions_store.findings(conn, incident_id)
            proposed = documents.proposed_similar_summary(await self._similar(conn, incident))
            current = findings.similar_incidents_confirmation
            if current is None or current.summary != summary:
                event = SimilarIncidentsConfirmed(
                    confirmed_by_role=confirmed_by_role,
                    confirmed_on=self._runtime.clock.now().date(),
                    summary=summary,
                    edited=summary != proposed,
                )
                await self._own.emit_and_apply(
                    conn,
                    [event],
                    stream_id=incident.incident_id,
                    tenant=Tenant(trust=incident.trust, site=incident.site),
                    actor=actor,
                )
                findings = await submissions_store.findings(conn, incident_id)
        return SimilarIncidentsAnswer(proposed, findings.similar_incidents_confirmation)

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
        """The submission, and for a draft the items its document still lacks (else None)."""
        async with self.pool.acquire() as conn:
            row = await submissions_store.submission(conn, trust, submission_id, lock=False)
            return row, await self._missing(conn, trust, row)

    async def _missing(self, conn: Connection, trust: str, row: asyncpg.Record) -> list[Any] | None:
        """What a draft's document still lacks; None for one sent (here or outside Sievert)."""
        if row["status"] != "draft" or row["channel"] == "external":
            return None
        incident = await read_model.classified_incident(conn, trust, row["incident_id"], lock=False)
        inputs = await self._inputs(conn, SubmissionKind(row["kind"]), incident)
        return completeness.missing_items(SubmissionKind(row["kind"]), inputs)

    async def findings(
        self, trust: str, incident_id: uuid.UUID
    ) -> tuple[Findings, list[dict[str, Any]], str]:
        """The incident's findings merged so far, the report items still missing, and the similar
        incidents' text proposed for a person to confirm."""
        async with self.pool.acquire() as conn:
            incident = await read_model.classified_incident(conn, trust, incident_id, lock=False)
            inputs = await self._inputs(conn, SubmissionKind.INVESTIGATION_REPORT, incident)
            proposed = documents.proposed_similar_summary(await self._similar(conn, incident))
        assert inputs.findings is not None
        missing = completeness.missing_items(SubmissionKind.INVESTIGATION_REPORT, inputs)
        return inputs.findings, missing, proposed

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
    ) -> list[tuple[asyncpg.Record, list[Any] | None]]:
        """The trust's submissions, each draft with what it still lacks (as ``submission``)."""
        async with self.pool.acquire() as conn:
            rows = await submissions_store.list_submissions(
                conn,
                trust,
                site=site,
                kind=kind.value if kind else None,
                status=status,
                incident_id=incident_id,
            )
            return [(row, await self._missing(conn, trust, row)) for row in rows]

    async def build_document(
        self, conn: Connection, row: asyncpg.Record, incident: IncidentState
    ) -> dict[str, Any]:
        """The document as it would be issued now (for a draft) from the read model; refused with
        every missing item while incomplete."""
        if row["channel"] == "external":
            raise no_copy_of(row)
        kind = SubmissionKind(row["kind"])
        inputs = await self._inputs(conn, kind, incident)
        missing = completeness.missing_items(kind, inputs)
        if missing:
            raise IncompleteDocumentError(kind, missing)
        common: dict[str, Any] = {
            "submission_id": row["submission_id"],
            "incident_id": incident.incident_id,
            "trust": incident.trust,
            "site": incident.site,
            "inputs": inputs,
            "contact_role": row["contact_role"],
        }
        if kind is SubmissionKind.INVESTIGATION_REPORT:
            similar = await self._similar(conn, incident)
            return documents.investigation_report(
                **common,
                similar=similar,
                correspondence=await correspondence_for_report(conn, incident.incident_id),
            ).model_dump(mode="json")
        if kind is SubmissionKind.LICENSING_BREACH_NOTIFICATION:
            return documents.licensing_breach(**common, summary=row["summary"]).model_dump(mode="json")
        return documents.notification(**common, kind=kind, summary=row["summary"]).model_dump(mode="json")

    async def _inputs(
        self, conn: Connection, kind: SubmissionKind, incident: IncidentState
    ) -> DocumentInputs:
        """What the document of ``kind`` is written from. The report restates what the
        notification said (its particulars, under the report's own)."""
        by_kind = await submissions_store.particulars_by_kind(conn, incident.incident_id)
        layers = [kind]
        if kind is SubmissionKind.INVESTIGATION_REPORT:
            layers = [SubmissionKind.NOTIFICATION, kind]
        particulars = documents.merge_particulars(*(by_kind[k] for k in layers if k in by_kind))
        findings = (
            await submissions_store.findings(conn, incident.incident_id)
            if kind is SubmissionKind.INVESTIGATION_REPORT
            else None
        )
        return DocumentInputs(incident.facts, incident.decision, particulars, findings)

    async def _similar(self, conn: Connection, incident: IncidentState) -> documents.SimilarIncidents:
        discovered_on = incident.facts.discovered_on
        start = dt.date(discovered_on.year - 3, discovered_on.month, 1)
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
