"""Intake's PostgreSQL storage of dose records: the periods in force per person, and each record's
event. One person's records are read and written under a transaction-scoped advisory lock on the
person, so two overlapping records sent at once cannot both be stored."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sievert_intake.domain.dose_records import DoseRecordReport, HeldRecord
from sievert_shared.db import Connection
from sievert_shared.envelope import EventEnvelope


async def lock_person(conn: Connection, trust: str, person: str) -> None:
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"doses\x1f{trust}\x1f{person}"
    )


async def in_force(conn: Connection, trust: str, person: str) -> list[HeldRecord]:
    rows = await conn.fetch(
        """SELECT record_id, period_start, period_end FROM dose_records
           WHERE trust = $1 AND person_pseudonym = $2 AND superseded_by IS NULL
           ORDER BY period_start""",
        trust,
        person,
    )
    return [HeldRecord(row["record_id"], row["period_start"], row["period_end"]) for row in rows]


async def add(
    conn: Connection,
    record_id: uuid.UUID,
    report: DoseRecordReport,
    envelope: EventEnvelope,
    supersedes: Sequence[uuid.UUID],
) -> None:
    """Store the record and mark the records it supersedes, inside the caller's transaction."""
    await conn.execute(
        """INSERT INTO dose_records (record_id, event_id, trust, site, person_pseudonym, period_start,
                                     period_end, recorded_at, envelope)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        record_id,
        envelope.event_id,
        envelope.tenant.trust,
        envelope.tenant.site,
        report.person_pseudonym,
        report.period_start,
        report.period_end,
        envelope.recorded_at,
        envelope.model_dump(mode="json"),
    )
    if supersedes:
        await conn.execute(
            "UPDATE dose_records SET superseded_by = $1 WHERE record_id = ANY($2::uuid[])",
            record_id,
            list(supersedes),
        )
