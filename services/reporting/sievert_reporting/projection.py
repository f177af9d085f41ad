"""Projects the event log into reporting's incident read model.

Events about one incident arrive on three topics with no order between them, so each handler
only touches the columns its event owns and version checks keep a late, older event from
overwriting a newer one.
"""

from __future__ import annotations

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
    IncidentReclassified,
    IncidentReported,
)

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


HANDLERS = {
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
