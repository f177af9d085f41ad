"""Reads of the incident read model, with keyset pagination (stable under concurrent inserts)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from sievert_shared.db import Connection, Where


@dataclass(frozen=True)
class IncidentFilter:
    trust: str | None = None
    site: str | None = None
    notifiable: bool | None = None
    authority: str | None = None
    code: str | None = None
    modality: str | None = None
    discovered_from: dt.date | None = None
    discovered_to: dt.date | None = None


class BadCursorError(ValueError):
    pass


def encode_cursor(discovered_on: dt.date | None, incident_id: uuid.UUID) -> str:
    raw = json.dumps([discovered_on.isoformat() if discovered_on else None, str(incident_id)])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[dt.date, uuid.UUID]:
    try:
        day, incident = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return (dt.date.fromisoformat(day) if day else dt.date.min), uuid.UUID(incident)
    except (ValueError, TypeError) as exc:
        raise BadCursorError("cursor is not one this service issued") from exc


_COLUMNS = """incident_id, trust, site, nation, modality, exposure_kind, discovered_on, occurred_on,
              notifiable, codes, authority, csaue, ruleset, deadlines, reported_at, updated_at"""


async def list_incidents(
    conn: Connection, where: IncidentFilter, *, limit: int, cursor: str | None
) -> dict[str, Any]:
    sql = Where()
    add = sql.add
    if where.trust is not None:
        add("trust = ?", where.trust)
    if where.site is not None:
        add("site = ?", where.site)
    if where.notifiable is not None:
        add("notifiable = ?", where.notifiable)
    if where.authority is not None:
        add("authority = ?", where.authority)
    if where.code is not None:
        add("? = ANY(codes)", where.code)
    if where.modality is not None:
        add("modality = ?", where.modality)
    if where.discovered_from is not None:
        add("discovered_on >= ?", where.discovered_from)
    if where.discovered_to is not None:
        add("discovered_on <= ?", where.discovered_to)
    if cursor is not None:
        day, incident_id = decode_cursor(cursor)
        add("(COALESCE(discovered_on, '-infinity'::date), incident_id) < (?, ?)", day, incident_id)
    limit_param = sql.param(limit + 1)
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM incidents {sql.sql}
            ORDER BY COALESCE(discovered_on, '-infinity'::date) DESC, incident_id DESC
            LIMIT {limit_param}""",
        *sql.args,
    )
    page = rows[:limit]
    next_cursor = (
        encode_cursor(page[-1]["discovered_on"], page[-1]["incident_id"]) if len(rows) > limit else None
    )
    return {"items": [_row(r) for r in page], "next_cursor": next_cursor}


async def get_incident(conn: Connection, incident_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS}, facts, decision FROM incidents WHERE incident_id = $1", incident_id
    )
    return _row(row) if row else None


Owned = Literal["incidents", "submissions", "themes"]
_KEYS: dict[Owned, str] = {"incidents": "incident_id", "submissions": "submission_id", "themes": "theme_id"}


async def owner_of(conn: Connection, table: Owned, key: uuid.UUID) -> tuple[str, str] | None:
    """The (trust, site) a row belongs to, or None: what the routes check the caller against
    before they act on the row."""
    row = await conn.fetchrow(f"SELECT trust, site FROM {table} WHERE {_KEYS[table]} = $1", key)
    return (row["trust"], row["site"]) if row else None


async def list_submissions(
    conn: Connection,
    trust: str,
    *,
    site: str | None,
    kind: str | None,
    status: str | None,
    incident_id: uuid.UUID | None,
) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            """SELECT * FROM submissions WHERE trust = $1 AND ($2::text IS NULL OR site = $2)
                 AND ($3::text IS NULL OR kind = $3) AND ($4::text IS NULL OR status = $4)
                 AND ($5::uuid IS NULL OR incident_id = $5)
               ORDER BY updated_at DESC, submission_id LIMIT 500""",
            trust,
            site,
            kind,
            status,
            incident_id,
        )
    )


def _row(row: asyncpg.Record) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dt.datetime | dt.date):
            out[key] = value.isoformat()
        elif isinstance(value, uuid.UUID):
            out[key] = str(value)
        else:
            out[key] = value
    return out


async def sites_of_other_trusts(conn: Connection, trust: str, sites: list[str]) -> list[str]:
    """Those of ``sites`` another trust's incidents came from. People are trust-wide, so their
    credentials cannot say which site codes are theirs: the incidents can (a site code belongs to
    one trust, as ODS codes do). Only on rare writes (themes, activity counts): no index needed."""
    rows = await conn.fetch(
        "SELECT DISTINCT site FROM incidents WHERE site = ANY($1::text[]) AND trust <> $2 ORDER BY site",
        sites,
        trust,
    )
    return [row["site"] for row in rows]
