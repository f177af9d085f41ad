"""Reads of deadline windows for people and dashboards, from the flattened ``windows`` table."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sievert_shared.db import Connection, Where


class StatusFilter(enum.StrEnum):
    OPEN = "open"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    MET = "met"
    CANCELLED = "cancelled"


async def list_windows(
    conn: Connection,
    *,
    now: dt.datetime,
    trust: str | None,
    site: str | None,
    status: StatusFilter | None,
    window: str | None,
    due_soon_days: int,
    limit: int,
) -> list[dict[str, Any]]:
    where = Where()
    add = where.add
    if trust is not None:
        add("trust = ?", trust)
    if site is not None:
        add("site = ?", site)
    if window is not None:
        add("window_kind = ?", window)
    match status:
        case StatusFilter.OPEN:
            add("status = 'open'")
        case StatusFilter.DUE_SOON:
            add("status = 'open' AND due_at > ? AND due_at <= ?", now, now + dt.timedelta(days=due_soon_days))
        case StatusFilter.OVERDUE:
            add("status = 'open' AND due_at <= ?", now)
        case StatusFilter.MET:
            add("status = 'met'")
        case StatusFilter.CANCELLED:
            add("status = 'cancelled'")
    limit_param = where.param(limit)
    rows = await conn.fetch(
        f"""SELECT incident_id, window_kind, trust, site, status, discovered_on, due_at, authority, met_at,
                   extensions
            FROM windows {where.sql} ORDER BY due_at, incident_id LIMIT {limit_param}""",
        *where.args,
    )
    return [_window(dict(r.items()), now) for r in rows]


async def incident_windows(
    conn: Connection, incident_id: uuid.UUID, now: dt.datetime
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT incident_id, window_kind, trust, site, status, discovered_on, due_at, authority, met_at,
                  extensions
           FROM windows WHERE incident_id = $1 ORDER BY due_at""",
        incident_id,
    )
    return [_window(dict(r.items()), now) for r in rows]


def _window(row: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    due_at: dt.datetime = row["due_at"]
    open_ = row["status"] == "open"
    return {
        "incident_id": str(row["incident_id"]),
        "window": row["window_kind"],
        "trust": row["trust"],
        "site": row["site"],
        "status": row["status"],
        "overdue": open_ and due_at <= now,
        "discovered_on": row["discovered_on"].isoformat(),
        "due_at": due_at.isoformat(),
        "seconds_remaining": int((due_at - now).total_seconds()) if open_ else None,
        "authority": row["authority"],
        "met_at": row["met_at"].isoformat() if row["met_at"] else None,
        "extensions": row["extensions"],
    }
