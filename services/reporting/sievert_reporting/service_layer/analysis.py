"""Read what the trend analysis needs in one snapshot and analyse it: the CLI (``sievert report
annual``) and the HTTP route (``GET /v1/trusts/{trust}/analysis``) give the same figures."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sievert_reporting.adapters.activity_store import activity_of
from sievert_reporting.adapters.read_model import analysis_clocks, annual_rows
from sievert_reporting.domain.analysis import YEARS, analysis, analysis_span
from sievert_reporting.domain.annual import Period
from sievert_shared.db import Connection


async def read_analysis(conn: Connection, trust: str, period: Period, as_of: dt.date) -> dict[str, Any]:
    """The analysis of ``period`` for ``trust`` as the read model stands (one repeatable-read
    transaction, so the counts, rates and clocks agree); ``as_of``: today, for overdue windows."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        rows = await annual_rows(conn, trust, analysis_span(period))
        activity: dict[str, dict[tuple[str, str], int]] = {}
        year = period
        for _ in range(YEARS):
            counts = await activity_of(conn, trust, year)
            activity[year.label] = {(c["site"], c["modality"]): c["examinations"] for c in counts}
            year = year.previous()
        clocks = await analysis_clocks(conn, trust, period)
    return analysis(trust, period, rows, activity, clocks, as_of)
