"""Thematic reviews in PostgreSQL: themes, their incidents, the summaries other trusts shared, and
each trust's consent to see them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg

from sievert_reporting.domain import themes
from sievert_shared.db import Connection
from sievert_shared.errors import NotFoundError

# -- the projection's writes ---------------------------------------------------------------------


async def store_theme(
    conn: Connection,
    *,
    theme_id: uuid.UUID,
    trust: str,
    site: str,
    title: str,
    description: str,
    opened_by_role: str,
    opened_at: dt.datetime,
    identified_on: dt.date,
) -> None:
    await conn.execute(
        """INSERT INTO themes (theme_id, trust, site, title, description, opened_by_role, opened_at,
                               identified_on)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (theme_id) DO NOTHING""",
        theme_id,
        trust,
        site,
        title,
        description,
        opened_by_role,
        opened_at,
        identified_on,
    )


async def store_link(
    conn: Connection,
    *,
    theme_id: uuid.UUID,
    incident_id: uuid.UUID,
    trust: str,
    site: str,
    linked_at: dt.datetime,
) -> None:
    await conn.execute(
        """INSERT INTO theme_incidents (theme_id, incident_id, trust, site, linked_at)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
        theme_id,
        incident_id,
        trust,
        site,
        linked_at,
    )


async def delete_link(conn: Connection, theme_id: uuid.UUID, incident_id: uuid.UUID) -> None:
    await conn.execute(
        "DELETE FROM theme_incidents WHERE theme_id = $1 AND incident_id = $2", theme_id, incident_id
    )


async def store_share(
    conn: Connection,
    *,
    theme_id: uuid.UUID,
    source_trust: str,
    summary: dict[str, Any],
    shared_at: dt.datetime,
    stream_version: int,
) -> None:
    """A later share of the theme replaces the summary; another trust cannot overwrite it."""
    await conn.execute(
        """INSERT INTO shared_themes (theme_id, source_trust, summary, shared_at, stream_version)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (theme_id) DO UPDATE SET summary = $3, shared_at = $4, stream_version = $5
            WHERE shared_themes.stream_version < $5 AND shared_themes.source_trust = $2""",
        theme_id,
        source_trust,
        summary,
        shared_at,
        stream_version,
    )


# -- reads -------------------------------------------------------------------------------------


async def theme(conn: Connection, trust: str, theme_id: uuid.UUID, *, lock: bool) -> asyncpg.Record:
    """The trust's theme; ``lock`` orders a command against the theme's other links and unlinks."""
    row = await conn.fetchrow(
        f"SELECT * FROM themes WHERE theme_id = $1 AND trust = $2 {'FOR UPDATE' if lock else ''}",
        theme_id,
        trust,
    )
    if row is None:
        raise NotFoundError(f"no theme {theme_id} for trust {trust}")
    return row


async def is_linked(conn: Connection, theme_id: uuid.UUID, incident_id: uuid.UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM theme_incidents WHERE theme_id = $1 AND incident_id = $2", theme_id, incident_id
        )
    )


async def linked_site(conn: Connection, theme_id: uuid.UUID, incident_id: uuid.UUID) -> str | None:
    """The site the incident was linked from, or None if it is not linked."""
    site: str | None = await conn.fetchval(
        "SELECT site FROM theme_incidents WHERE theme_id = $1 AND incident_id = $2", theme_id, incident_id
    )
    return site


async def linked_incidents(conn: Connection, theme_id: uuid.UUID) -> list[themes.LinkedIncident]:
    rows = await conn.fetch(
        """SELECT ti.incident_id, ti.site, i.modality, i.exposure_kind, i.codes, i.facts
           FROM theme_incidents ti JOIN incidents i USING (incident_id)
           WHERE ti.theme_id = $1 ORDER BY ti.linked_at, ti.incident_id""",
        theme_id,
    )
    return [themes.linked_incident(dict(r.items())) for r in rows]


async def themes_of(conn: Connection, trust: str) -> list[asyncpg.Record]:
    """The trust's themes, newest first, with how many incidents each has."""
    return list(
        await conn.fetch(
            """SELECT t.theme_id, t.title, t.site, t.opened_at, count(ti.incident_id) AS incidents
               FROM themes t LEFT JOIN theme_incidents ti USING (theme_id)
               WHERE t.trust = $1 GROUP BY t.theme_id ORDER BY t.opened_at DESC, t.theme_id LIMIT 500""",
            trust,
        )
    )


async def store_consent(conn: Connection, trust: str, consent: bool) -> None:
    await conn.execute(
        """INSERT INTO trust_settings (trust, shared_themes_consent) VALUES ($1, $2)
           ON CONFLICT (trust) DO UPDATE SET shared_themes_consent = $2""",
        trust,
        consent,
    )


async def consent(conn: Connection, trust: str) -> bool:
    return bool(
        await conn.fetchval("SELECT shared_themes_consent FROM trust_settings WHERE trust = $1", trust)
    )


async def shared_by_others(conn: Connection, trust: str) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            """SELECT source_trust, summary, shared_at FROM shared_themes WHERE source_trust <> $1
               ORDER BY shared_at DESC, theme_id LIMIT 500""",
            trust,
        )
    )
