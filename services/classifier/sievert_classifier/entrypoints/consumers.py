"""The classifier's reaction to intake's and reporting's events: decide, store, and emit through
the outbox.

A thematic review in reporting may find that a theme reached more than one individual; code M
then applies to every incident in it (guidance line 276-281). The classifier keeps the latest
facts and each theme's count per incident, so either event can arrive first and the decision is
the same. A theme's count may also fall, when an incident is unlinked: below two individuals M no
longer applies, and the incidents are re-decided without it.
"""

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
    ThemeIndividualsCounted,
)
from sievert_shared.facts import IncidentFacts
from sievert_shared.logging import get_logger
from sievert_shared.outbox import Emitter

log = get_logger(__name__)


class IncidentHandlers:
    def __init__(self, emitter: Emitter) -> None:
        self._emitter = emitter

    async def on_incident_facts(self, conn: Connection, envelope: EventEnvelope, event: Event) -> None:
        assert isinstance(event, IncidentReported | IncidentFactsAmended)
        facts = event.facts
        previous = await conn.fetchrow(
            """SELECT facts_version, discovered_on, decision FROM classifications
               WHERE incident_id = $1 FOR UPDATE""",
            envelope.stream_id,
        )
        if previous is not None and previous["facts_version"] >= envelope.stream_version:
            log.info("classifier.stale_facts_ignored", facts_version=envelope.stream_version)
            return
        decision = classify(facts, theme_individuals=await _theme_individuals(conn, envelope.stream_id))
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
                                                 notifiable, codes, decision, classified_at, facts)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
               ON CONFLICT (incident_id) DO UPDATE SET
                   facts_version = excluded.facts_version, discovered_on = excluded.discovered_on,
                   notifiable = excluded.notifiable, codes = excluded.codes,
                   decision = excluded.decision, classified_at = excluded.classified_at,
                   facts = excluded.facts""",
            envelope.stream_id,
            envelope.tenant.trust,
            envelope.tenant.site,
            envelope.stream_version,
            facts.discovered_on,
            decision.notifiable,
            list(decision.codes),
            decision.model_dump(mode="json"),
            self._emitter.clock.now(),
            facts.model_dump(mode="json", exclude_none=True),
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

    async def on_theme_individuals(self, conn: Connection, envelope: EventEnvelope, event: Event) -> None:
        """Re-decide an incident with its theme's count; announce only a changed outcome.

        Counts for one incident come keyed by it, so in the order reporting wrote them, and a
        redelivery is skipped by the consumer: the latest count replaces the one before, down as
        well as up. An incident missing from ``incident_ids`` was unlinked: the theme no longer
        counts for it."""
        assert isinstance(event, ThemeIndividualsCounted)
        incident_id = envelope.stream_id
        in_theme = incident_id in event.incident_ids
        if in_theme:
            await conn.execute(
                """INSERT INTO incident_themes (incident_id, theme_id, individuals) VALUES ($1, $2, $3)
                   ON CONFLICT (incident_id, theme_id) DO UPDATE SET individuals = excluded.individuals""",
                incident_id,
                event.theme_id,
                event.individuals,
            )
        else:
            await conn.execute(
                "DELETE FROM incident_themes WHERE incident_id = $1 AND theme_id = $2",
                incident_id,
                event.theme_id,
            )
        row = await conn.fetchrow(
            """SELECT facts_version, discovered_on, decision, facts FROM classifications
               WHERE incident_id = $1 FOR UPDATE""",
            incident_id,
        )
        if row is None or row["facts"] is None:
            # Not classified yet (the facts come on another topic), or classified before facts were
            # kept: the count is stored and the next decision on facts uses it.
            log.info(
                "classifier.theme_count_stored", incident_id=str(incident_id), individuals=event.individuals
            )
            return
        facts = IncidentFacts.model_validate(row["facts"])
        decision = classify(facts, theme_individuals=await _theme_individuals(conn, incident_id))
        before = ClassificationDecision.model_validate(row["decision"])
        changes = decision_changes(before, row["discovered_on"], decision, facts.discovered_on)
        if not changes:
            return
        await conn.execute(
            """UPDATE classifications SET notifiable = $2, codes = $3, decision = $4, classified_at = $5
               WHERE incident_id = $1""",
            incident_id,
            decision.notifiable,
            list(decision.codes),
            decision.model_dump(mode="json"),
            self._emitter.clock.now(),
        )
        reclassified = IncidentReclassified(
            decision=decision,
            discovered_on=facts.discovered_on,
            facts_version=row["facts_version"],  # the same facts, re-decided with the theme
            previous_notifiable=before.notifiable,
            previous_codes=list(before.codes),
            previous_discovered_on=row["discovered_on"],
            changes=[
                *changes,
                f"theme {event.theme_id}: {event.individuals} individuals"
                if in_theme
                else f"theme {event.theme_id}: incident unlinked",
            ],
        )
        await self._emitter.emit_caused_by(conn, envelope, [reclassified])
        log.info(
            "classifier.decided",
            incident_id=str(incident_id),
            emitted=reclassified.event_type,
            notifiable=decision.notifiable,
            codes=list(decision.codes),
            theme_id=str(event.theme_id),
        )


async def _theme_individuals(conn: Connection, incident_id: object) -> int | None:
    """The largest theme the incident is in, or None outside any theme."""
    value = await conn.fetchval(
        "SELECT max(individuals) FROM incident_themes WHERE incident_id = $1", incident_id
    )
    return int(value) if value is not None else None
