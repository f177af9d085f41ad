"""The classifier's decisions, stored and announced inside the idempotent consumer's transaction.

A batch of facts events costs a fixed number of statements, whatever its size: one locks the
decisions of its incidents, one reads their themes, one saves the new decisions and two emit the
announcements (each event used to cost five round trips of its own). Events of one incident are
decided in their order, each on the decision before it, stored or made earlier in the batch.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

import structlog

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
from sievert_shared.logging import get_logger
from sievert_shared.outbox import Emission, Emitter

log = get_logger(__name__)


@dataclass(frozen=True)
class Kept:
    """An event the consumer's handler took, for its batch to apply."""

    event: IncidentReported | IncidentFactsAmended | ThemeIndividualsCounted
    #: facts events: the decision without themes, made when the event was handled
    without_theme: ClassificationDecision | None
    #: the span the event was handled in, which its announcement continues
    trace_context: str | None


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


def decide_with_themes(
    facts: IncidentFacts, trust: str, without_theme: ClassificationDecision, themes: store.Themes | None
) -> tuple[ClassificationDecision, dt.date | None]:
    """``decide`` from what was read for a batch: the decision without themes, already made, and
    the incident's themes (None: in none)."""
    if themes is None:
        return without_theme, None
    decision = classify(facts, theme_individuals=themes.individuals, reporting_trust=trust)
    if not notifiable_only_by_theme(decision, without_theme):
        return decision, None
    return decision, themes.identified_on


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


async def decide_on_facts(
    emitter: Emitter, conn: Connection, run: Sequence[tuple[EventEnvelope, Kept]]
) -> None:
    """Decide on each facts event of ``run``; announce the first decision on an incident, and a
    later one only if it changed. Facts older than those decided on are ignored."""
    if not run:
        return
    incident_ids = list(dict.fromkeys(envelope.stream_id for envelope, _ in run))
    latest = await store.lock_decisions(conn, incident_ids)
    themes = await store.themes_of(conn, incident_ids)
    to_save: dict[uuid.UUID, store.DecisionToSave] = {}
    emissions: list[Emission] = []
    for envelope, item in run:
        assert isinstance(item.event, IncidentReported | IncidentFactsAmended)
        assert item.without_theme is not None
        facts = item.event.facts
        incident_id = envelope.stream_id
        previous = latest.get(incident_id)
        with about(envelope):
            if previous is not None and previous.facts_version >= envelope.stream_version:
                log.info("classifier.stale_facts_ignored", facts_version=envelope.stream_version)
                continue
            decision, theme_on = decide_with_themes(
                facts, envelope.tenant.trust, item.without_theme, themes.get(incident_id)
            )
            out: IncidentClassified | IncidentReclassified | None
            if previous is None:
                out = IncidentClassified(
                    decision=decision,
                    discovered_on=facts.discovered_on,
                    facts_version=envelope.stream_version,
                    theme_identified_on=theme_on,
                )
            else:
                out = reclassification(
                    previous, decision, facts.discovered_on, theme_on, envelope.stream_version
                )
            # a later event of the batch on this incident reads this decision, not the stored one
            latest[incident_id] = store.Classified(
                envelope.stream_version, facts.discovered_on, decision, theme_on
            )
            to_save[incident_id] = store.DecisionToSave(
                incident_id, envelope.tenant, envelope.stream_version, facts, decision, theme_on
            )
            if out is None:
                continue
            emissions.append(
                Emission(
                    incident_id,
                    envelope.tenant,
                    envelope.correlation_id,
                    [out],
                    causation_id=envelope.event_id,
                    actor=envelope.actor,
                    trace_context=item.trace_context,
                )
            )
            log.info(
                "classifier.decided",
                incident_id=str(incident_id),
                emitted=out.event_type,
                notifiable=decision.notifiable,
                codes=list(decision.codes),
                ruleset=decision.ruleset,
            )
    await store.save_decisions(conn, list(to_save.values()), emitter.clock.now())
    await emitter.emit_many(conn, emissions)


async def apply_theme_individuals(
    emitter: Emitter,
    conn: Connection,
    envelope: EventEnvelope,
    event: ThemeIndividualsCounted,
    trace_context: str | None,
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
        log.info("classifier.theme_count_stored", incident_id=str(incident_id), individuals=event.individuals)
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
    await store.replace_decision(conn, incident_id, decision, theme_on, emitter.clock.now())
    await emitter.emit_many(
        conn,
        [
            Emission(
                incident_id,
                envelope.tenant,
                envelope.correlation_id,
                [reclassified],
                causation_id=envelope.event_id,
                actor=envelope.actor,
                trace_context=trace_context,
            )
        ],
    )
    log.info(
        "classifier.decided",
        incident_id=str(incident_id),
        emitted=reclassified.event_type,
        notifiable=decision.notifiable,
        codes=list(decision.codes),
        theme_id=str(event.theme_id),
    )


def about(envelope: EventEnvelope) -> AbstractContextManager[None]:
    """The log context the consumer binds around a handler, for work done on its event later."""
    return structlog.contextvars.bound_contextvars(
        correlation_id=envelope.correlation_id,
        event_id=str(envelope.event_id),
        event_type=envelope.event_type,
    )
