"""The classifier's reaction to intake's and reporting's events: decide, store, and emit through
the outbox, inside the idempotent consumer's transaction.

A thematic review in reporting may find that a theme reached more than one individual; code M
then applies to every incident in it (guidance line 276-281). The classifier keeps the latest
facts and each theme's count per incident, so either event can arrive first and the decision is
the same. A theme's count may also fall, when an incident is unlinked: below two individuals M no
longer applies, and the incidents are re-decided without it.

When the theme's count is what makes an incident notifiable (code M from the theme, not from the
incident's own individuals), the decision carries the day the theme was identified
(``theme_identified_on``, line 278: "a theme has been identified over a number of incidents"), and
the deadlines service counts the incident's windows from it. A change of that day alone is a
reclassification.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sievert_classifier.adapters import store
from sievert_classifier.domain import classify
from sievert_classifier.domain.changes import decision_changes
from sievert_shared.db import Connection
from sievert_shared.decision import ClassificationDecision
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import (
    IncidentClassified,
    IncidentFactsAmended,
    IncidentReclassified,
    IncidentReported,
    ThemeIndividualsCounted,
)
from sievert_shared.facts import IncidentFacts
from sievert_shared.handlers import EventHandlers
from sievert_shared.logging import get_logger
from sievert_shared.outbox import Emitter

log = get_logger(__name__)


def notifiable_only_by_theme(
    with_theme: ClassificationDecision, without_theme: ClassificationDecision
) -> bool:
    """Whether the theme's count is what makes the incident notifiable: notifiable with it, not
    without it. Then code M comes from the theme, not from the incident's own individuals (which
    would give M without the theme too), nor is it notifiable on its own criteria anyway, whose
    windows run from discovery (line 219)."""
    return with_theme.notifiable and not without_theme.notifiable


async def decide(
    conn: Connection, incident_id: uuid.UUID, facts: IncidentFacts, trust: str
) -> tuple[ClassificationDecision, dt.date | None]:
    """The decision with the incident's themes, and the day of the theme that made it notifiable
    (None if none did, or its day is unknown). ``trust`` is the incident's: the reason naming who
    of several employers notifies says whether it is this trust."""
    individuals = await store.theme_individuals(conn, incident_id)
    decision = classify(facts, theme_individuals=individuals, reporting_trust=trust)
    if individuals is None or not notifiable_only_by_theme(decision, classify(facts, reporting_trust=trust)):
        return decision, None
    return decision, await store.theme_identified_on(conn, incident_id)


def reclassification(
    previous: store.Classified,
    decision: ClassificationDecision,
    discovered_on: dt.date,
    theme_on: dt.date | None,
    facts_version: int,
    why: str | None = None,
) -> IncidentReclassified | None:
    """The reclassification from ``previous`` to ``decision``, with ``why`` after the changes if
    given; None when nothing an authority or a deadline reads has changed."""
    changes = decision_changes(
        previous.decision,
        previous.discovered_on,
        decision,
        discovered_on,
        previous.theme_identified_on,
        theme_on,
    )
    if not changes:
        return None
    return IncidentReclassified(
        decision=decision,
        discovered_on=discovered_on,
        facts_version=facts_version,
        previous_notifiable=previous.decision.notifiable,
        previous_codes=list(previous.decision.codes),
        previous_discovered_on=previous.discovered_on,
        changes=[*changes, why] if why is not None else changes,
        theme_identified_on=theme_on,
    )


def consumer_handlers(emitter: Emitter) -> EventHandlers:
    """What the classifier's one consumer does with each event type it reads."""
    incidents = IncidentHandlers(emitter)
    handlers = EventHandlers()
    handlers.add(IncidentReported, incidents.on_incident_facts)
    handlers.add(IncidentFactsAmended, incidents.on_incident_facts)
    handlers.add(ThemeIndividualsCounted, incidents.on_theme_individuals)
    return handlers


class IncidentHandlers:
    def __init__(self, emitter: Emitter) -> None:
        self._emitter = emitter

    async def on_incident_facts(
        self, conn: Connection, envelope: EventEnvelope, event: IncidentReported | IncidentFactsAmended
    ) -> None:
        """Decide on the facts; announce the first decision, and a later one only if it changed."""
        facts = event.facts
        incident_id = envelope.stream_id
        previous = await store.lock_decision(conn, incident_id)
        if previous is not None and previous.facts_version >= envelope.stream_version:
            log.info("classifier.stale_facts_ignored", facts_version=envelope.stream_version)
            return
        decision, theme_on = await decide(conn, incident_id, facts, envelope.tenant.trust)
        out: IncidentClassified | IncidentReclassified | None
        if previous is None:
            out = IncidentClassified(
                decision=decision,
                discovered_on=facts.discovered_on,
                facts_version=envelope.stream_version,
                theme_identified_on=theme_on,
            )
        else:
            out = reclassification(previous, decision, facts.discovered_on, theme_on, envelope.stream_version)
        await store.save_decision(
            conn,
            incident_id,
            envelope.tenant,
            facts_version=envelope.stream_version,
            facts=facts,
            decision=decision,
            theme_identified_on=theme_on,
            now=self._emitter.clock.now(),
        )
        if out is not None:
            await self._emitter.emit_caused_by(conn, envelope, [out])
            log.info(
                "classifier.decided",
                incident_id=str(incident_id),
                emitted=out.event_type,
                notifiable=decision.notifiable,
                codes=list(decision.codes),
                ruleset=decision.ruleset,
            )

    async def on_theme_individuals(
        self, conn: Connection, envelope: EventEnvelope, event: ThemeIndividualsCounted
    ) -> None:
        """Re-decide an incident with its theme's count; announce only a changed outcome.

        Counts for one incident come keyed by it, so in the order reporting wrote them, and a
        redelivery is skipped by the consumer: the latest count replaces the one before, down as
        well as up. An incident missing from ``incident_ids`` was unlinked: the theme no longer
        counts for it."""
        incident_id = envelope.stream_id
        in_theme = incident_id in event.incident_ids
        if in_theme:
            await store.set_theme_individuals(
                conn, incident_id, event.theme_id, event.individuals, event.theme_identified_on
            )
        else:
            await store.leave_theme(conn, incident_id, event.theme_id)
        stored = await store.lock_decision_and_facts(conn, incident_id)
        if stored is None:
            # Not classified yet (the facts come on another topic), or classified before facts were
            # kept: the count is stored and the next decision on facts uses it.
            log.info(
                "classifier.theme_count_stored", incident_id=str(incident_id), individuals=event.individuals
            )
            return
        previous, facts = stored
        decision, theme_on = await decide(conn, incident_id, facts, envelope.tenant.trust)
        why = (
            f"theme {event.theme_id}: {event.individuals} individuals"
            if in_theme
            else f"theme {event.theme_id}: incident unlinked"
        )
        # the same facts, re-decided with the theme: the facts' version stays the one decided on
        reclassified = reclassification(
            previous, decision, facts.discovered_on, theme_on, previous.facts_version, why=why
        )
        if reclassified is None:
            return
        await store.replace_decision(conn, incident_id, decision, theme_on, self._emitter.clock.now())
        await self._emitter.emit_caused_by(conn, envelope, [reclassified])
        log.info(
            "classifier.decided",
            incident_id=str(incident_id),
            emitted=reclassified.event_type,
            notifiable=decision.notifiable,
            codes=list(decision.codes),
            theme_id=str(event.theme_id),
        )
