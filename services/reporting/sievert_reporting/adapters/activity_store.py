"""Activity counts in reporting's database (not a projection: a replay leaves them alone)."""

from __future__ import annotations

from typing import Any

from sievert_reporting.domain.activity import ActivityCount
from sievert_reporting.domain.annual import Period
from sievert_shared.db import Connection


async def store_activity(conn: Connection, trust: str, period: Period, counts: list[ActivityCount]) -> None:
    """A site and modality loaded again for the same period replaces the earlier count."""
    await conn.executemany(
        """INSERT INTO activity_counts (trust, site, modality, year_start, year_end, examinations)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (trust, site, modality, year_start) DO UPDATE SET examinations = $6, year_end = $5""",
        [(trust, c.site, c.modality, period.start, period.end, c.examinations) for c in counts],
    )


async def activity_of(conn: Connection, trust: str, period: Period) -> list[dict[str, Any]]:
    """The trust's counts for the period, by site and modality."""
    rows = await conn.fetch(
        """SELECT site, modality, examinations FROM activity_counts
           WHERE trust = $1 AND year_start = $2 ORDER BY site, modality""",
        trust,
        period.start,
    )
    return [dict(r.items()) for r in rows]
