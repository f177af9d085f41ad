"""Reads of deadline windows and cases for people and dashboards, from the flattened ``windows``
table (and, for one incident's case, its aggregate)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sievert_shared.db import Connection, Where

_COLUMNS = """incident_id, window_kind, trust, site, status, discovered_on, due_at, authority, met_at,
    extensions, provisional, needs_facts, clock_from, binding_due_at, days_late, cancelled_reason,
    extension_detail, case_status"""


class StatusFilter(enum.StrEnum):
    OPEN = "open"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    MET = "met"
    CANCELLED = "cancelled"
    PROVISIONAL = "provisional"
    """Open windows of undecided incidents (the notification runs while facts are awaited)."""
    WITHDRAWAL_REQUESTED = "withdrawal_requested"
    """Windows of cases whose notification awaits the authority's agreement to withdraw it."""
    CLOSED = "closed"
    """Windows of closed cases."""


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
        case StatusFilter.PROVISIONAL:
            add("status = 'open' AND provisional")
        case StatusFilter.WITHDRAWAL_REQUESTED:
            add("case_status = 'withdrawal_requested'")
        case StatusFilter.CLOSED:
            add("case_status = 'closed'")
    limit_param = where.param(limit)
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM windows {where.sql} ORDER BY due_at, incident_id LIMIT {limit_param}""",
        *where.args,
    )
    return [_window(dict(r.items()), now) for r in rows]


async def incident_windows(
    conn: Connection, incident_id: uuid.UUID, now: dt.datetime
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM windows WHERE incident_id = $1 ORDER BY due_at""",
        incident_id,
    )
    return [_window(dict(r.items()), now) for r in rows]


def _window(row: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """One window as people read it: due, met on, late by how many days, extended by whom and
    why, provisional or firm, counted from which day, and the case's status."""
    due_at: dt.datetime = row["due_at"]
    binding: dt.datetime = row["binding_due_at"] or due_at
    open_ = row["status"] == "open"
    met_at: dt.datetime | None = row["met_at"]
    reached = met_at if met_at is not None else (now if open_ else None)
    missed = reached is not None and reached >= binding
    return {
        "incident_id": str(row["incident_id"]),
        "window": row["window_kind"],
        "trust": row["trust"],
        "site": row["site"],
        "status": row["status"],
        "case_status": row["case_status"],
        "provisional": row["provisional"],
        "needs_facts": row["needs_facts"],
        "overdue": open_ and due_at <= now,
        "discovered_on": row["discovered_on"].isoformat(),
        "counted_from": (row["clock_from"] or row["discovered_on"]).isoformat(),
        "due_at": due_at.isoformat(),
        "binding_due_at": binding.isoformat(),
        "seconds_remaining": int((due_at - now).total_seconds()) if open_ else None,
        "authority": row["authority"],
        "met_at": met_at.isoformat() if met_at else None,
        "days_late": row["days_late"],
        "missed_at": binding.isoformat() if missed else None,
        "cancelled_reason": row["cancelled_reason"],
        "extensions": row["extensions"],
        "extended": row["extension_detail"],
    }
