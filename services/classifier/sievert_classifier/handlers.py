"""The classifier's reaction to intake's events: decide, store, and emit through the outbox."""

from __future__ import annotations

from sievert_classifier.changes import decision_changes
from sievert_classifier.domain import classify
from sievert_shared.db import Connection
from sievert_shared.decision import ClassificationDecision
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import (
    Event,
    IncidentClassified,
    IncidentFactsAmended,
    IncidentReclassified,
    IncidentReported,
)
from sievert_shared.logging import get_logger
from sievert_shared.outbox import Emitter

log = get_logger(__name__)


class IncidentHandlers:
    def __init__(self, emitter: Emitter) -> None:
        self._emitter = emitter

    async def on_incident_facts(self, conn: Connection, envelope: EventEnvelope, event: Event) -> None:
        assert isinstance(event, IncidentReported | IncidentFactsAmended)
        facts = event.facts
        decision = classify(facts)
        previous = await conn.fetchrow(
            """SELECT facts_version, discovered_on, decision FROM classifications
               WHERE incident_id = $1 FOR UPDATE""",
            envelope.stream_id,
        )
        if previous is not None and previous["facts_version"] >= envelope.stream_version:
            log.info("classifier.stale_facts_ignored", facts_version=envelope.stream_version)
            return
        out: Event | None
        if previous is None:
            out = IncidentClassified(
                decision=decision, discovered_on=facts.discovered_on, facts_version=envelope.stream_version
            )
        else:
            before = ClassificationDecision.model_validate(previous["decision"])
            changes = decision_changes(before, previous["discovered_on"], decision, facts.discovered_on)
            reclassified = IncidentReclassified(
                decision=decision,
                discovered_on=facts.discovered_on,
                facts_version=envelope.stream_version,
                previous_notifiable=before.notifiable,
                previous_codes=list(before.codes),
                previous_discovered_on=previous["discovered_on"],
                changes=changes,
            )
            out = reclassified if changes else None
        await conn.execute(
            """INSERT INTO classifications AS c (incident_id, trust, site, facts_version, discovered_on,
                                                 notifiable, codes, decision, classified_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
               ON CONFLICT (incident_id) DO UPDATE SET
                   facts_version = excluded.facts_version, discovered_on = excluded.discovered_on,
                   notifiable = excluded.notifiable, codes = excluded.codes,
                   decision = excluded.decision, classified_at = excluded.classified_at""",
            envelope.stream_id,
            envelope.tenant.trust,
            envelope.tenant.site,
            envelope.stream_version,
            facts.discovered_on,
            decision.notifiable,
            list(decision.codes),
            decision.model_dump(mode="json"),
            self._emitter.clock.now(),
        )
        if out is not None:
            await self._emitter.emit_caused_by(conn, envelope, [out])
            log.info(
                "classifier.decided",
                incident_id=str(envelope.stream_id),
                emitted=out.event_type,
                notifiable=decision.notifiable,
                codes=list(decision.codes),
                ruleset=decision.ruleset,
            )
