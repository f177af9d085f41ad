"""Projects the event log into reporting's incident read model.

Events about one incident arrive on three topics with no order between them, so each handler
only touches the columns its event owns and version checks keep a late, older event from
overwriting a newer one.
"""

from __future__ import annotations

import uuid

from sievert_reporting.domain.documents import Findings, merge_findings
from sievert_shared.consumer import Handler
from sievert_shared.db import Connection
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import (
    DeadlineCancelled,
    DeadlineExtended,
    DeadlineMet,
    DeadlineMissed,
    DeadlineScheduled,
    Event,
    IncidentClassified,
    IncidentFactsAmended,
    IncidentLinkedToTheme,
    IncidentReclassified,
    IncidentReported,
    IncidentUnlinkedFromTheme,
    InvestigationFindingsRecorded,
    InvestigationReportSubmitted,
    NotificationSubmitted,
    SubmissionAcknowledged,
    SubmissionDrafted,
    SubmissionIssued,
    ThemeOpened,
    ThemeShared,
)
from sievert_shared.events.reporting import SubmissionKind
from sievert_shared.topics import Topics

#: The producer name on reporting's own envelopes (its runtime's name).
OWN_PRODUCER = "reporting"
_SUBMISSION_NAMESPACE = uuid.UUID("6f1f8a52-64c4-4c0b-9d53-5e7f3e0c2a11")


def submission_id_for(incident_id: uuid.UUID, kind: SubmissionKind) -> uuid.UUID:
    """One submission per incident and kind: the id is derived, so a repeat finds the first, and a
    submission made outside Sievert lands on the same row."""
    return uuid.uuid5(_SUBMISSION_NAMESPACE, f"{incident_id}/{kind.value}")


_ENSURE_ROW = """INSERT INTO incidents (incident_id, trust, site, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (incident_id) DO NOTHING"""


async def _ensure(conn: Connection, envelope: EventEnvelope) -> None:
    await conn.execute(
        _ENSURE_ROW, envelope.stream_id, envelope.tenant.trust, envelope.tenant.site, envelope.recorded_at
    )


async def on_facts(conn: Connection, envelope: EventEnvelope, event: Event) -> None:
    assert isinstance(event, IncidentReported | IncidentFactsAmended)
    await _ensure(conn, envelope)
    facts = event.facts
    await conn.execute(
        """UPDATE incidents SET nation = $2, modality = $3, exposure_kind = $4, discovered_on = $5,
                  occurred_on = $6, facts = $7, facts_version = $8, updated_at = $9,
                  reported_at = COALESCE(reported_at, $10)
           WHERE incident_id = $1 AND facts_version < $8""",
        envelope.stream_id,
        facts.nation.value,
        facts.modality.value,
        facts.exposure_kind.value,
        facts.discovered_on,
        facts.occurred_on,
        facts.model_dump(mode="json", exclude_none=True),
        envelope.stream_version,
        envelope.recorded_at,
        envelope.recorded_at if isinstance(event, IncidentReported) else None,
    )


async def on_classification(conn: Connection, envelope: EventEnvelope, event: Event) -> None:
    assert isinstance(event, IncidentClassified | IncidentReclassified)
    await _ensure(conn, envelope)
    decision = event.decision
    await conn.execute(
        """UPDATE incidents SET notifiable = $2, codes = $3, authority = $4, csaue = $5, ruleset = $6,
                  decision = $7, updated_at = $8
           WHERE incident_id = $1
             AND COALESCE((decision ->> 'facts_version')::int, 0) <= $9""",
        envelope.stream_id,
        decision.notifiable,
        list(decision.codes),
        _value(decision.authority),
        decision.csaue,
        decision.ruleset,
        {**decision.model_dump(mode="json"), "facts_version": event.facts_version},
        envelope.recorded_at,
        event.facts_version,
    )


async def on_deadline(conn: Connection, envelope: EventEnvelope, event: Event) -> None:
    assert isinstance(
        event, DeadlineScheduled | DeadlineMet | DeadlineMissed | DeadlineExtended | DeadlineCancelled
    )
    await _ensure(conn, envelope)
    status = {
        DeadlineScheduled: "open",
        DeadlineExtended: "open",
        DeadlineMissed: "missed",
        DeadlineMet: "met",
        DeadlineCancelled: "cancelled",
    }[type(event)]
    entry = {"due_at": event.due_at.isoformat(), "status": status, "stream_version": envelope.stream_version}
    await conn.execute(
        """UPDATE incidents SET deadlines = jsonb_set(deadlines, ARRAY[$2::text], $3::jsonb), updated_at = $4
           WHERE incident_id = $1
             AND COALESCE((deadlines -> $2::text ->> 'stream_version')::int, 0) < $5""",
        envelope.stream_id,
        event.window.value,
        entry,
        envelope.recorded_at,
        envelope.stream_version,
    )


def _value(item: object) -> object:
    return getattr(item, "value", item)


HANDLERS: dict[str, Handler] = {
    IncidentReported.event_type: on_facts,
    IncidentFactsAmended.event_type: on_facts,
    IncidentClassified.event_type: on_classification,
    IncidentReclassified.event_type: on_classification,
    DeadlineScheduled.event_type: on_deadline,
    DeadlineExtended.event_type: on_deadline,
    DeadlineMissed.event_type: on_deadline,
    DeadlineMet.event_type: on_deadline,
    DeadlineCancelled.event_type: on_deadline,
}


# -- reporting's own events (topic: submissions) ---------------------------------------------------


async def on_submission_drafted(conn: Connection, envelope: EventEnvelope, event: Event) -> None:
    """A draft, or a change to it. On a row recorded as submitted outside Sievert (the external
    submission came first in the log, though reporting drafted before it had consumed it) the
    draft's words are kept but the row stays submitted: the same state as when the draft came
    first, so a replay gives what incremental processing gave."""
    assert isinstance(event, SubmissionDrafted)
    await conn.execute(
        """INSERT INTO submissions (submission_id, incident_id, trust, site, kind, authority, status,
                                    contact_role, summary, stream_version, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, 'draft', $7, $8, $9, $10)
           ON CONFLICT (submission_id) DO UPDATE
              SET authority = $6, contact_role = $7, summary = $8, stream_version = $9,
                  updated_at = CASE WHEN submissions.channel = 'external'
                                    THEN GREATEST(submissions.updated_at, $10) ELSE $10 END
            WHERE (submissions.status = 'draft' OR submissions.channel = 'external')
              AND submissions.stream_version < $9""",
        event.submission_id,
        envelope.stream_id,
        envelope.tenant.trust,
        envelope.tenant.site,
        event.kind.value,
        event.authority,
        event.contact_role,
        event.summary,
        envelope.stream_version,
        envelope.recorded_at,
    )


async def on_findings(conn: Connection, envelope: EventEnvelope, event: Event) -> None:
    assert isinstance(event, InvestigationFindingsRecorded)
    row = await conn.fetchrow(
        "SELECT findings, stream_version FROM findings WHERE incident_id = $1 FOR UPDATE", envelope.stream_id
    )
    if row is not None and row["stream_version"] >= envelope.stream_version:
        return
    current = Findings.model_validate(row["findings"]) if row else Findings()
    merged = merge_findings(current, event).model_dump(mode="json")
    await conn.execute(
        """INSERT INTO findings (incident_id, trust, site, findings, recorded_by_roles, stream_version,
                                 updated_at)
           VALUES ($1, $2, $3, $4, ARRAY[$5::text], $6, $7)
           ON CONFLICT (incident_id) DO UPDATE
              SET findings = $4, stream_version = $6, updated_at = $7,
                  recorded_by_roles = CASE WHEN $5::text = ANY(findings.recorded_by_roles)
                                           THEN findings.recorded_by_roles
                                           ELSE findings.recorded_by_roles || $5::text END""",
        envelope.stream_id,
        envelope.tenant.trust,
        envelope.tenant.site,
        merged,
        event.recorded_by_role,
        envelope.stream_version,
        envelope.recorded_at,
    )


async def on_submission_issued(conn: Connection, envelope: EventEnvelope, event: Event) -> None:
    """Sievert's own issue wins over a submission recorded outside it, whichever the log has first:
    reporting applied its issue before it consumed the external one, which it then ignored."""
    assert isinstance(event, SubmissionIssued)
    await conn.execute(
        """UPDATE submissions SET status = 'submitted', channel = 'sievert', reference = NULL,
                  document = $2, document_sha256 = $3, submitted_at = $4, submitted_by_role = $5,
                  stream_version = $6, updated_at = $7
           WHERE submission_id = $1 AND stream_version < $6""",
        event.submission_id,
        event.document,
        event.document_sha256,
        event.submitted_at,
        event.submitted_by_role,
        envelope.stream_version,
        envelope.recorded_at,
    )


async def on_submission_acknowledged(conn: Connection, envelope: EventEnvelope, event: Event) -> None:
    assert isinstance(event, SubmissionAcknowledged)
    await conn.execute(
        """UPDATE submissions SET status = 'acknowledged', reference = $2, acknowledged_at = $3,
                  stream_version = $4, updated_at = $5
           WHERE submission_id = $1 AND stream_version < $4""",
        event.submission_id,
        event.reference,
        event.acknowledged_at,
        envelope.stream_version,
        envelope.recorded_at,
    )


async def apply_external_submission(conn: Connection, envelope: EventEnvelope, event: Event) -> bool:
    """Record a notification or report the trust sent outside Sievert (the deadlines service's
    submissions API). True if the submission row changed.

    Reporting's own ``NotificationSubmitted`` / ``InvestigationReportSubmitted`` follow its
    ``SubmissionIssued`` in the same transaction and add nothing to it, so they change nothing
    here (and the consumed copy is skipped anyway: the command recorded it as processed). An
    external one fills the incident's row for that kind if there is none yet, or a draft (which
    then can no longer be issued). A row already submitted or acknowledged stays as it is: the
    first submission is the one the authority has."""
    assert isinstance(event, NotificationSubmitted | InvestigationReportSubmitted)
    if envelope.producer == OWN_PRODUCER:
        return False
    kind = (
        SubmissionKind.NOTIFICATION
        if isinstance(event, NotificationSubmitted)
        else SubmissionKind.INVESTIGATION_REPORT
    )
    # stream_version stays 0: the envelope's version counts the deadlines service's stream, not
    # reporting's, so it must not guard reporting's own events on this row.
    changed = await conn.fetchval(
        """INSERT INTO submissions (submission_id, incident_id, trust, site, kind, authority, status,
                                    channel, submitted_at, submitted_by_role, reference, stream_version,
                                    updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, 'submitted', 'external', $7, $8, $9, 0, $10)
           ON CONFLICT (submission_id) DO UPDATE
              SET status = 'submitted', channel = 'external', submitted_at = $7, submitted_by_role = $8,
                  reference = $9, updated_at = GREATEST(submissions.updated_at, $10)
            WHERE submissions.status = 'draft'
           RETURNING true""",
        submission_id_for(envelope.stream_id, kind),
        envelope.stream_id,
        envelope.tenant.trust,
        envelope.tenant.site,
        kind.value,
        event.authority.lower(),
        event.submitted_at,
        event.submitted_by_role,
        event.reference,
        envelope.recorded_at,
    )
    return bool(changed)


async def on_external_submission(conn: Connection, envelope: EventEnvelope, event: Event) -> None:
    await apply_external_submission(conn, envelope, event)


HANDLERS.update(
    {
        SubmissionDrafted.event_type: on_submission_drafted,
        InvestigationFindingsRecorded.event_type: on_findings,
        SubmissionIssued.event_type: on_submission_issued,
        SubmissionAcknowledged.event_type: on_submission_acknowledged,
        NotificationSubmitted.event_type: on_external_submission,
        InvestigationReportSubmitted.event_type: on_external_submission,
    }
)


# -- thematic reviews (topics: themes, shared_themes) ----------------------------------------------


async def on_theme_opened(conn: Connection, envelope: EventEnvelope, event: Event) -> None:
    assert isinstance(event, ThemeOpened)
    await conn.execute(
        """INSERT INTO themes (theme_id, trust, site, title, description, opened_by_role, opened_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (theme_id) DO NOTHING""",
        event.theme_id,
        envelope.tenant.trust,
        envelope.tenant.site,
        event.title,
        event.description,
        event.opened_by_role,
        envelope.recorded_at,
    )


async def on_incident_linked(conn: Connection, envelope: EventEnvelope, event: Event) -> None:
    assert isinstance(event, IncidentLinkedToTheme)
    await conn.execute(
        """INSERT INTO theme_incidents (theme_id, incident_id, trust, site, linked_at)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
        event.theme_id,
        event.incident_id,
        envelope.tenant.trust,
        event.site,
        envelope.recorded_at,
    )


async def on_incident_unlinked(conn: Connection, envelope: EventEnvelope, event: Event) -> None:
    """Links and unlinks of one theme are written under the theme's lock and keyed by the theme,
    so they arrive in the order they were made: a later link adds the incident again."""
    assert isinstance(event, IncidentUnlinkedFromTheme)
    await conn.execute(
        "DELETE FROM theme_incidents WHERE theme_id = $1 AND incident_id = $2",
        event.theme_id,
        event.incident_id,
    )


async def on_theme_shared(conn: Connection, envelope: EventEnvelope, event: Event) -> None:
    """Every trust's shares are kept; who may see them is decided when they are read (consent),
    so giving consent later shows themes shared before, and a replay needs no consent history."""
    assert isinstance(event, ThemeShared)
    await conn.execute(
        """INSERT INTO shared_themes (theme_id, source_trust, summary, shared_at, stream_version)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (theme_id) DO UPDATE SET summary = $3, shared_at = $4, stream_version = $5
            WHERE shared_themes.stream_version < $5 AND shared_themes.source_trust = $2""",
        event.theme_id,
        envelope.tenant.trust,
        event.model_dump(mode="json"),
        envelope.recorded_at,
        envelope.stream_version,
    )


HANDLERS.update(
    {
        ThemeOpened.event_type: on_theme_opened,
        IncidentLinkedToTheme.event_type: on_incident_linked,
        IncidentUnlinkedFromTheme.event_type: on_incident_unlinked,
        ThemeShared.event_type: on_theme_shared,
    }
)

#: Tables this projection owns: a replay empties them and rebuilds them from the log.
PROJECTION_TABLES = ("incidents", "submissions", "findings", "themes", "theme_incidents", "shared_themes")


#: The projection's consumer name within the reporting service (its ``processed_events`` key is
#: ``reporting.<name>``); replay resets exactly that.
PROJECTION_CONSUMER = "incident-projection"


def projected_topics(topics: Topics) -> list[str]:
    return [
        topics.incidents,
        topics.classifications,
        topics.deadlines,
        topics.submissions,
        topics.themes,
        topics.shared_themes,
    ]
