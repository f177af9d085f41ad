"""The projection consumer's handlers: each event applied to reporting's read model, and, live
only, what dashboards hear of the change.

An incident's events arrive on three topics with no order between them; the rule that keeps a
late, older one from overwriting a newer one is ``domain.incident_row.apply_change``, the same
a replay folds with. Submissions, findings and themes hold their guards in their statements
(``adapters.submissions_store``, ``adapters.themes_store``), which a replay applies through these
very handlers.

``PROJECTION`` is what a replay applies: rebuilding the read model announces nothing new.
``live_handlers`` adds the announcements of changes that reach reporting through the consumer
(deadline counts, once per batch and trust, and submissions the trust made outside Sievert,
recorded through the deadlines service), written to the outbox in the same transaction as the
projected change; commands add their own announcements (``service_layer``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import get_args

from sievert_reporting.adapters import read_model, submissions_store, themes_store
from sievert_reporting.domain.dashboard import trust_stream
from sievert_reporting.domain.documents import Findings, confirm_similar_incidents, merge_findings
from sievert_reporting.domain.incident_row import (
    DeadlineEvent,
    IncidentEvent,
    IncidentRow,
    apply_change,
    incident_change,
)
from sievert_reporting.domain.submissions import OWN_PRODUCER, kind_submitted, submission_id_for
from sievert_reporting.entrypoints.case_consumers import TASK_EVENTS, TasksReadAhead, register_case_handlers
from sievert_shared.db import Connection
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import (
    IncidentLinkedToTheme,
    IncidentUnlinkedFromTheme,
    InvestigationFindingsRecorded,
    InvestigationReportSubmitted,
    NotificationSubmitted,
    SimilarIncidentsConfirmed,
    SubmissionAcknowledged,
    SubmissionDrafted,
    SubmissionIssued,
    ThemeOpened,
    ThemeShared,
)
from sievert_shared.events.reporting import SubmissionKind, SubmissionStatusChanged
from sievert_shared.handlers import EventHandlers
from sievert_shared.runtime import ServiceRuntime
from sievert_shared.topics import Topics

#: The projection's consumer within the reporting service. Its ``processed_events`` rows are
#: keyed ``reporting.incident-projection`` (``processed_key``): the runtime prefixes the service.
PROJECTION_CONSUMER = "incident-projection"
#: Tables the projection owns: a replay empties them and rebuilds them from the log.
PROJECTION_TABLES = (
    "incidents",
    "submissions",
    "findings",
    "themes",
    "theme_incidents",
    "shared_themes",
    "local_investigations",
    "authority_queries",
    "incident_cases",
    "case_tasks",
)

ExternalSubmission = NotificationSubmitted | InvestigationReportSubmitted


def processed_key(service: str) -> str:
    """The projection's key in ``processed_events`` within ``service`` (its runtime's name)."""
    return f"{service}.{PROJECTION_CONSUMER}"


def projected_topics(topics: Topics) -> list[str]:
    return [
        topics.incidents,
        topics.classifications,
        topics.deadlines,
        topics.submissions,
        topics.cases,
        topics.themes,
        topics.shared_themes,
    ]


PROJECTION = EventHandlers()
on = PROJECTION.on


# -- incidents (topics: incidents, classifications, deadlines) ------------------------------------


async def on_incident_event(conn: Connection, envelope: EventEnvelope, event: IncidentEvent) -> None:
    change = incident_change(envelope, event)
    row = await read_model.load_incident_row(conn, change)
    if apply_change(row, change):
        await read_model.store_incident_row(conn, row)


class RowsReadAhead:
    """The incident rows a batch's events are about, made if need be, locked and read in one
    statement before the first of them (the consumer's ``before_batch``), where each event read
    its own in two round trips. Each handler then takes its row from here and changes it here,
    for the batch's next event about the incident, and the rows changed are written together
    once the handlers are done (``write``, the consumer's ``after_batch``, before anything there
    reads them), where each event wrote its own in a round trip.

    What it holds is only ever what the transaction in progress read and changed since its
    handlers started: each pass of the consumer over a batch starts afresh here, and a pass that
    isolates events in savepoints reads nothing ahead, so there each handler reads and writes its
    own row within its savepoint, and no change outlives a rollback of the event that made it."""

    def __init__(self) -> None:
        self._conn: Connection | None = None
        self._rows: dict[uuid.UUID, IncidentRow] = {}
        self._changed: dict[uuid.UUID, IncidentRow] = {}

    async def read(self, conn: Connection, envelopes: Sequence[EventEnvelope]) -> None:
        self._conn, self._rows, self._changed = None, {}, {}
        firsts: dict[uuid.UUID, read_model.FirstSeen] = {}
        for e in envelopes:
            if e.event_type in _INCIDENT_TYPES and e.stream_id not in firsts:
                firsts[e.stream_id] = read_model.FirstSeen(
                    e.stream_id, e.tenant.trust, e.tenant.site, e.recorded_at
                )
        if firsts:
            self._rows = await read_model.load_incident_rows(conn, list(firsts.values()))
            self._conn = conn  # a pass that read ahead: its rows are written at its end

    async def on_incident_event(
        self, conn: Connection, envelope: EventEnvelope, event: IncidentEvent
    ) -> None:
        change = incident_change(envelope, event)
        if conn is not self._conn:  # nothing read ahead (a pass in savepoints): as the projection
            await on_incident_event(conn, envelope, event)
            return
        row = self._rows.get(change.stream_id)
        if row is None:  # made by another transaction after the read ahead's snapshot
            row = self._rows[change.stream_id] = await read_model.load_incident_row(conn, change)
        if apply_change(row, change):
            self._changed[row.incident_id] = row

    async def write(self, conn: Connection, applied: Sequence[EventEnvelope]) -> None:
        """Write the rows the pass's handlers changed, in one statement (an ``after_batch``)."""
        if conn is not self._conn or not self._changed:
            return
        changed, self._changed = list(self._changed.values()), {}
        await read_model.store_incident_rows(conn, changed)


# The events are their unions' members (``get_args``): an event added to the union the rule
# applies is registered with it, never listed a second time here.
DEADLINE_EVENTS: tuple[type[DeadlineEvent], ...] = get_args(DeadlineEvent)
INCIDENT_EVENTS: tuple[type[IncidentEvent], ...] = get_args(IncidentEvent)
for _incident_event in INCIDENT_EVENTS:
    PROJECTION.add(_incident_event, on_incident_event)
_INCIDENT_TYPES = frozenset(e.event_type for e in INCIDENT_EVENTS)


# -- reporting's own events and submissions made outside Sievert (topic: submissions) -------------


def _new_submission(
    envelope: EventEnvelope, submission_id: uuid.UUID, kind: SubmissionKind, authority: str
) -> submissions_store.NewSubmission:
    """The submission row of the envelope's incident, in the envelope's trust and site."""
    return submissions_store.NewSubmission(
        submission_id=submission_id,
        incident_id=envelope.stream_id,
        trust=envelope.tenant.trust,
        site=envelope.tenant.site,
        kind=kind,
        authority=authority,
    )


@on(SubmissionDrafted)
async def on_submission_drafted(conn: Connection, envelope: EventEnvelope, event: SubmissionDrafted) -> None:
    await submissions_store.store_draft(
        conn,
        _new_submission(envelope, event.submission_id, event.kind, event.authority),
        contact_role=event.contact_role,
        summary=event.summary,
        particulars=event.particulars,
        stream_version=envelope.stream_version,
        recorded_at=envelope.recorded_at,
    )


async def _change_findings(
    conn: Connection,
    envelope: EventEnvelope,
    change: Callable[[Findings], Findings],
    recorded_by_role: str,
) -> None:
    """Apply ``change`` to the incident's findings behind the incident's stream version: the
    findings and the confirmed similar incidents share one row, so one guard serves both."""
    stored = await submissions_store.findings_for_update(conn, envelope.stream_id)
    if stored is not None and stored[1] >= envelope.stream_version:
        return  # recorded already, or an older record arriving late
    current = stored[0] if stored is not None else Findings()
    await submissions_store.store_findings(
        conn,
        incident_id=envelope.stream_id,
        trust=envelope.tenant.trust,
        site=envelope.tenant.site,
        findings=change(current),
        recorded_by_role=recorded_by_role,
        stream_version=envelope.stream_version,
        recorded_at=envelope.recorded_at,
    )


@on(InvestigationFindingsRecorded)
async def on_findings(
    conn: Connection, envelope: EventEnvelope, event: InvestigationFindingsRecorded
) -> None:
    await _change_findings(
        conn, envelope, lambda current: merge_findings(current, event), event.recorded_by_role
    )


@on(SimilarIncidentsConfirmed)
async def on_similar_incidents_confirmed(
    conn: Connection, envelope: EventEnvelope, event: SimilarIncidentsConfirmed
) -> None:
    """The report's similar incidents as a person confirmed them (line 234), kept with the findings
    and guarded like them by the incident's stream version."""
    await _change_findings(
        conn, envelope, lambda current: confirm_similar_incidents(current, event), event.confirmed_by_role
    )


@on(SubmissionIssued)
async def on_submission_issued(conn: Connection, envelope: EventEnvelope, event: SubmissionIssued) -> None:
    await submissions_store.store_issue(
        conn,
        submission_id=event.submission_id,
        document=event.document,
        document_sha256=event.document_sha256,
        submitted_at=event.submitted_at,
        submitted_by_role=event.submitted_by_role,
        stream_version=envelope.stream_version,
        recorded_at=envelope.recorded_at,
    )


@on(SubmissionAcknowledged)
async def on_submission_acknowledged(
    conn: Connection, envelope: EventEnvelope, event: SubmissionAcknowledged
) -> None:
    await submissions_store.store_acknowledgement(
        conn,
        submission_id=event.submission_id,
        reference=event.reference,
        acknowledged_at=event.acknowledged_at,
        stream_version=envelope.stream_version,
        recorded_at=envelope.recorded_at,
    )


async def apply_external_submission(
    conn: Connection, envelope: EventEnvelope, event: ExternalSubmission
) -> bool:
    """Record a notification or report the trust sent outside Sievert (the deadlines service's
    submissions API). True if the submission row changed.

    Reporting's own ``NotificationSubmitted`` / ``InvestigationReportSubmitted`` follow its
    ``SubmissionIssued`` in the same transaction and add nothing to it, so they change nothing
    here (and the consumed copy is skipped anyway: the command recorded it as processed). An
    external one fills the incident's row for that kind if there is none yet, or a draft (which
    then can no longer be issued)."""
    if envelope.producer == OWN_PRODUCER:
        return False
    kind = kind_submitted(event)
    return await submissions_store.store_external(
        conn,
        _new_submission(envelope, submission_id_for(envelope.stream_id, kind), kind, event.authority.lower()),
        submitted_at=event.submitted_at,
        submitted_by_role=event.submitted_by_role,
        reference=event.reference,
        recorded_at=envelope.recorded_at,
    )


@on(NotificationSubmitted, InvestigationReportSubmitted)
async def on_external_submission(
    conn: Connection, envelope: EventEnvelope, event: ExternalSubmission
) -> None:
    await apply_external_submission(conn, envelope, event)


# -- case records (topic: cases): the local investigation, the authority's correspondence, the
# case's status and people's tasks (``entrypoints.case_consumers``)

register_case_handlers(PROJECTION)


# -- thematic reviews (topics: themes, shared_themes) --------------------------------------------


@on(ThemeOpened)
async def on_theme_opened(conn: Connection, envelope: EventEnvelope, event: ThemeOpened) -> None:
    await themes_store.store_theme(
        conn,
        theme_id=event.theme_id,
        trust=envelope.tenant.trust,
        site=envelope.tenant.site,
        title=event.title,
        description=event.description,
        opened_by_role=event.opened_by_role,
        opened_at=envelope.recorded_at,
        # a theme opened before themes stated the day (v1) was identified the day it was opened
        identified_on=event.identified_on or envelope.recorded_at.astimezone(dt.UTC).date(),
    )


@on(IncidentLinkedToTheme)
async def on_incident_linked(conn: Connection, envelope: EventEnvelope, event: IncidentLinkedToTheme) -> None:
    await themes_store.store_link(
        conn,
        theme_id=event.theme_id,
        incident_id=event.incident_id,
        trust=envelope.tenant.trust,
        site=event.site,
        linked_at=envelope.recorded_at,
    )


@on(IncidentUnlinkedFromTheme)
async def on_incident_unlinked(
    conn: Connection, envelope: EventEnvelope, event: IncidentUnlinkedFromTheme
) -> None:
    """Links and unlinks of one theme are written under the theme's lock and keyed by the theme,
    so they arrive in the order they were made: a later link adds the incident again."""
    await themes_store.delete_link(conn, event.theme_id, event.incident_id)


@on(ThemeShared)
async def on_theme_shared(conn: Connection, envelope: EventEnvelope, event: ThemeShared) -> None:
    """Every trust's shares are kept; who may see them is decided when they are read (consent),
    so giving consent later shows themes shared before, and a replay needs no consent history."""
    await themes_store.store_share(
        conn,
        theme_id=event.theme_id,
        source_trust=envelope.tenant.trust,
        summary=event.model_dump(mode="json"),
        shared_at=envelope.recorded_at,
        stream_version=envelope.stream_version,
    )


# -- live only: what dashboards hear -------------------------------------------------------------


def live_handlers(runtime: ServiceRuntime) -> EventHandlers:
    """The projection, and, in the same transaction (topic ``dashboard``): the deadline counts of
    each trust whose windows a batch changed, once per batch (``announce_deadline_counts``), and
    the status of a submission made outside Sievert. The incident rows and the people's tasks a
    batch changes are read ahead of it and written after it (``RowsReadAhead``,
    ``TasksReadAhead``), as a replay folds and writes its own."""

    ahead = RowsReadAhead()
    tasks_ahead = TasksReadAhead()

    async def read_ahead(conn: Connection, envelopes: Sequence[EventEnvelope]) -> None:
        await ahead.read(conn, envelopes)
        await tasks_ahead.read(conn, envelopes)

    async def counted(conn: Connection, applied: Sequence[EventEnvelope]) -> None:
        await ahead.write(conn, applied)  # first: the counts read the rows it writes
        await tasks_ahead.write(conn)
        await announce_deadline_counts(runtime, conn, applied)

    announcing = EventHandlers(after_batch=counted, before_batch=read_ahead)
    for incident_event in INCIDENT_EVENTS:
        announcing.add(incident_event, ahead.on_incident_event)
    for task_event in TASK_EVENTS:
        announcing.add(task_event, tasks_ahead.on_task_event)

    @announcing.on(NotificationSubmitted, InvestigationReportSubmitted)
    async def _announced(conn: Connection, envelope: EventEnvelope, event: ExternalSubmission) -> None:
        await on_external_submission_and_announce(runtime, conn, envelope, event)

    return PROJECTION.extended(announcing)


_DEADLINE_TYPES = frozenset(e.event_type for e in DEADLINE_EVENTS)


async def announce_deadline_counts(
    runtime: ServiceRuntime, conn: Connection, applied: Sequence[EventEnvelope]
) -> None:
    """One DeadlineCountsChanged per trust whose deadline windows the batch changed, as they
    stand after the whole batch, caused by that trust's last deadline event in it. Counting once
    per batch, in PostgreSQL, keeps the cost of an event from growing with the trust's history."""
    last_by_trust = {e.tenant.trust: e for e in applied if e.event_type in _DEADLINE_TYPES}
    if not last_by_trust:
        return
    counts = await read_model.deadline_counts(conn, list(last_by_trust), runtime.clock.now())
    for trust, cause in last_by_trust.items():
        await runtime.emitter.emit(
            conn,
            [counts[trust]],
            stream_id=trust_stream(trust),
            tenant=cause.tenant,
            correlation_id=cause.correlation_id,
            causation_id=cause.event_id,
        )


async def on_external_submission_and_announce(
    runtime: ServiceRuntime, conn: Connection, envelope: EventEnvelope, event: ExternalSubmission
) -> None:
    if not await apply_external_submission(conn, envelope, event):
        return
    kind = kind_submitted(event)
    changed = SubmissionStatusChanged(
        submission_id=submission_id_for(envelope.stream_id, kind),
        kind=kind,
        status="submitted",
        channel="external",
    )
    await runtime.emitter.emit(
        conn,
        [changed],
        stream_id=envelope.stream_id,
        tenant=envelope.tenant,
        correlation_id=envelope.correlation_id,
        causation_id=envelope.event_id,
        actor=envelope.actor,
    )
