"""The classifier's reaction to intake's dose records: keep each person's totals, and announce a
dose limit (or the trust's investigation level) exceeded, once, or withdrawn after a correction.

Inside the idempotent consumer's transaction: the record, the announced exceedances and the
outbox rows commit together. A person's records are keyed by their dose history stream, so
they arrive in the order intake stored them; the advisory lock covers a rebalance.
"""

from __future__ import annotations

from collections.abc import Sequence

from sievert_classifier.adapters import doses
from sievert_classifier.domain.cumulative import Assessment, CountedRecord, annual_totals, assess, changes
from sievert_classifier.domain.dose_limits import TRUST_LEVELS, DosePolicy
from sievert_shared.db import Connection
from sievert_shared.decision import Citation, OtherBody
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import (
    DoseRecordCorrected,
    DoseRecordReceived,
    WorkerDoseExceedanceWithdrawn,
    WorkerDoseLimitExceeded,
    WorkerInvestigationLevelExceeded,
)
from sievert_shared.events.doses import PersonCategory, worker_year_stream
from sievert_shared.events.registry import Event
from sievert_shared.facts import Nation
from sievert_shared.handlers import EventHandlers
from sievert_shared.logging import get_logger
from sievert_shared.outbox import Emitter

log = get_logger(__name__)

#: CQC guidance lines 393-401: a worker's or a member of the public's over-exposure is reported to
#: HSE under IRR17 regulation 26; HSENI in Northern Ireland.
NOTIFY_CITATION = Citation(lines=(393, 395, 399, 401))


def dose_handlers(emitter: Emitter, policy: DosePolicy) -> EventHandlers:
    """What the classifier's dose consumer does with each event type it reads."""
    handler = DoseHandlers(emitter, policy)
    handlers = EventHandlers()
    handlers.add(DoseRecordReceived, handler.on_dose_record)
    handlers.add(DoseRecordCorrected, handler.on_dose_record)
    return handlers


class DoseHandlers:
    def __init__(self, emitter: Emitter, policy: DosePolicy) -> None:
        self._emitter = emitter
        self._policy = policy

    async def on_dose_record(
        self, conn: Connection, envelope: EventEnvelope, event: DoseRecordReceived | DoseRecordCorrected
    ) -> None:
        """Add the record (a correction replaces the records it names), re-assess the person's
        totals, and announce what changed: per person and calendar year, one stream."""
        trust, person = envelope.tenant.trust, event.person_pseudonym
        await doses.lock_person(conn, trust, person)
        await doses.add_record(conn, trust, event, self._emitter.clock.now())
        records = await doses.records_in_force(conn, trust, person)
        assessments = assess(records, lambda year: self._policy.limits_for(trust, year))
        announced = await doses.announced(conn, trust, person)
        found = changes(assessments, announced)
        by_year: dict[int, list[Event]] = {}
        for assessment in found.exceeded:
            by_year.setdefault(assessment.year, []).append(
                _exceeded(assessment, person, records, event.category, event.nation)
            )
        for key, now in found.withdrawn:
            before = announced[key]
            by_year.setdefault(before.year, []).append(
                WorkerDoseExceedanceWithdrawn(
                    person_pseudonym=person,
                    category=event.category,
                    year=before.year,
                    limit=before.limit,
                    total_msv=float(now.total_msv) if now is not None else 0.0,
                    totals_msv=_totals(records, before.year),
                    records=list(now.records) if now is not None else [],
                )
            )
        for year, events in sorted(by_year.items()):
            await self._emitter.emit(
                conn,
                events,
                stream_id=worker_year_stream(trust, person, year),
                tenant=envelope.tenant,
                correlation_id=envelope.correlation_id,
                causation_id=envelope.event_id,
                actor=envelope.actor,
            )
        await doses.record_announced(
            conn,
            trust,
            person,
            [(a.key, doses.Announced(a.year, a.limit.cited(a.table))) for a in found.exceeded],
        )
        await doses.record_withdrawn(conn, trust, person, [key for key, _ in found.withdrawn])
        log.info(
            "classifier.dose_record_assessed",
            record_id=str(event.record_id),
            exceeded=[":".join(a.key) for a in found.exceeded],
            withdrawn=[":".join(key) for key, _ in found.withdrawn],
        )


def _totals(records: Sequence[CountedRecord], year: int) -> dict[str, float]:
    return {quantity.value: float(total) for quantity, total in annual_totals(records, year).items()}


def _exceeded(
    assessment: Assessment,
    person: str,
    records: Sequence[CountedRecord],
    category: PersonCategory,
    nation: Nation,
) -> WorkerDoseLimitExceeded | WorkerInvestigationLevelExceeded:
    """The announcement of a limit exceeded (to HSE, or HSENI) or of the trust's level (local)."""
    fields = {
        "person_pseudonym": person,
        "category": category,
        "year": assessment.year,
        "limit": assessment.limit.cited(assessment.table),
        "total_msv": float(assessment.total_msv),
        "totals_msv": _totals(records, assessment.year),
        "records": list(assessment.records),
    }
    if assessment.table == TRUST_LEVELS:
        return WorkerInvestigationLevelExceeded.model_validate(fields)
    return WorkerDoseLimitExceeded.model_validate(
        {
            **fields,
            "notify": OtherBody.HSENI if nation is Nation.NORTHERN_IRELAND else OtherBody.HSE,
            "notify_citation": NOTIFY_CITATION,
        }
    )
