"""The classifier's PostgreSQL storage of dose records and the exceedances it has announced.

One person's records are read and changed under a transaction-scoped advisory lock on the person,
so two records of one person (on different partitions after a rebalance, say) are totted up one
after the other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sievert_classifier.domain.cumulative import CountedRecord
from sievert_shared.db import Connection
from sievert_shared.events.doses import (
    DoseLimitCited,
    DoseRecordCorrected,
    DoseRecordReceived,
    PersonalDoses,
    PersonCategory,
)

ExceedanceKey = tuple[str, str, str]


@dataclass(frozen=True)
class Announced:
    """An exceedance announced and not withdrawn."""

    year: int
    limit: DoseLimitCited


async def lock_person(conn: Connection, trust: str, person: str) -> None:
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"doses\x1f{trust}\x1f{person}"
    )


async def add_record(
    conn: Connection, trust: str, record: DoseRecordReceived | DoseRecordCorrected, now: dt.datetime
) -> None:
    """Store a record and, for a correction, mark the records it replaces."""
    await conn.execute(
        """INSERT INTO worker_dose_records (record_id, trust, person_pseudonym, category, nation,
               period_start, period_end, doses, pregnancy_declared_on, received_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (record_id) DO NOTHING""",
        record.record_id,
        trust,
        record.person_pseudonym,
        record.category.value,
        record.nation.value,
        record.period_start,
        record.period_end,
        record.doses.model_dump(mode="json", exclude_none=True),
        record.pregnancy_declared_on,
        now,
    )
    if isinstance(record, DoseRecordCorrected):
        await conn.execute(
            """UPDATE worker_dose_records SET superseded_by = $3
               WHERE trust = $1 AND record_id = ANY($2::uuid[]) AND superseded_by IS NULL""",
            trust,
            record.supersedes,
            record.record_id,
        )


async def records_in_force(conn: Connection, trust: str, person: str) -> list[CountedRecord]:
    rows = await conn.fetch(
        """SELECT record_id, category, period_end, doses, pregnancy_declared_on FROM worker_dose_records
           WHERE trust = $1 AND person_pseudonym = $2 AND superseded_by IS NULL
           ORDER BY period_end, record_id""",
        trust,
        person,
    )
    return [
        CountedRecord(
            record_id=row["record_id"],
            category=PersonCategory(row["category"]),
            period_end=row["period_end"],
            doses=PersonalDoses.model_validate(row["doses"]),
            pregnancy_declared_on=row["pregnancy_declared_on"],
        )
        for row in rows
    ]


async def announced(conn: Connection, trust: str, person: str) -> dict[ExceedanceKey, Announced]:
    """The exceedances announced and not withdrawn: the year each was announced in, and its limit."""
    rows = await conn.fetch(
        """SELECT limit_table, limit_key, period_key, year, limit_cited FROM worker_dose_exceedances
           WHERE trust = $1 AND person_pseudonym = $2""",
        trust,
        person,
    )
    return {
        (row["limit_table"], row["limit_key"], row["period_key"]): Announced(
            row["year"], DoseLimitCited.model_validate(row["limit_cited"])
        )
        for row in rows
    }


async def record_announced(
    conn: Connection, trust: str, person: str, exceeded: Sequence[tuple[ExceedanceKey, Announced]]
) -> None:
    await conn.executemany(
        """INSERT INTO worker_dose_exceedances
               (trust, person_pseudonym, limit_table, limit_key, period_key, year, limit_cited)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING""",
        [(trust, person, *key, item.year, item.limit.model_dump(mode="json")) for key, item in exceeded],
    )


async def record_withdrawn(conn: Connection, trust: str, person: str, keys: Sequence[ExceedanceKey]) -> None:
    await conn.executemany(
        """DELETE FROM worker_dose_exceedances
           WHERE trust = $1 AND person_pseudonym = $2 AND limit_table = $3 AND limit_key = $4
             AND period_key = $5""",
        [(trust, person, *key) for key in keys],
    )
