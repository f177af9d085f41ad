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

The consumer hands each event to a handler, which only decides what needs no database (the
decision without themes, so facts that cannot be classified are dead-lettered on their own) and
keeps the event; the batch's ``after_batch`` then does the database work of every event the
consumer applied, in their order, in the batch's transaction (``service_layer/decisions.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sievert_classifier.domain import classify
from sievert_classifier.service_layer.decisions import (
    Kept,
    about,
    apply_theme_individuals,
    decide_on_facts,
    notifiable_only_by_theme,
)
from sievert_shared.db import Connection
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import IncidentFactsAmended, IncidentReported, ThemeIndividualsCounted
from sievert_shared.handlers import EventHandlers
from sievert_shared.outbox import Emitter
from sievert_shared.tracing import current_traceparent

__all__ = ["IncidentHandlers", "consumer_handlers", "notifiable_only_by_theme"]


def consumer_handlers(emitter: Emitter) -> EventHandlers:
    """What the classifier's one consumer does with each event type it reads."""
    incidents = IncidentHandlers(emitter)
    handlers = EventHandlers(after_batch=incidents.after_batch)
    handlers.add(IncidentReported, incidents.on_incident_facts)
    handlers.add(IncidentFactsAmended, incidents.on_incident_facts)
    handlers.add(ThemeIndividualsCounted, incidents.on_theme_individuals)
    return handlers


class IncidentHandlers:
    def __init__(self, emitter: Emitter) -> None:
        self._emitter = emitter
        # By event id: after_batch applies those of the envelopes the consumer says took effect,
        # so what a rolled-back attempt kept is never applied (its retry keeps them again), and
        # it is dropped at the next batch's end. One set of handlers per consumer (the runtime
        # builds them so), which applies one batch at a time.
        self._kept: dict[uuid.UUID, Kept] = {}

    async def on_incident_facts(
        self, conn: Connection, envelope: EventEnvelope, event: IncidentReported | IncidentFactsAmended
    ) -> None:
        """Decide on the facts without themes (facts that cannot be classified fail here, and are
        dead-lettered alone); the rest is the batch's (``after_batch``)."""
        without_theme = classify(event.facts, reporting_trust=envelope.tenant.trust)
        self._kept[envelope.event_id] = Kept(event, without_theme, current_traceparent())

    async def on_theme_individuals(
        self, conn: Connection, envelope: EventEnvelope, event: ThemeIndividualsCounted
    ) -> None:
        self._kept[envelope.event_id] = Kept(event, None, current_traceparent())

    async def after_batch(self, conn: Connection, envelopes: Sequence[EventEnvelope]) -> None:
        """Apply the events the handlers kept, in the batch's order: runs of facts events
        together, each theme count on its own (a theme count changes what the next facts event
        of its incident reads)."""
        kept, self._kept = self._kept, {}
        run: list[tuple[EventEnvelope, Kept]] = []
        for envelope in envelopes:
            item = kept.get(envelope.event_id)
            if item is None:  # another handler's event (dose records)
                continue
            if isinstance(item.event, ThemeIndividualsCounted):
                await decide_on_facts(self._emitter, conn, run)
                run = []
                with about(envelope):
                    await apply_theme_individuals(
                        self._emitter, conn, envelope, item.event, item.trace_context
                    )
            else:
                run.append((envelope, item))
        await decide_on_facts(self._emitter, conn, run)
