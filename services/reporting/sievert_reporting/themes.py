"""Thematic reviews: open a theme, link incidents across the trust's sites (and unlink them),
share an anonymised summary with other trusts, and see what consenting trusts shared.

Commands follow ``service.py``: one transaction checks the read model, writes the events to the
outbox and applies them through the projection handlers. A link that takes the theme past one
individual also emits ``ThemeIndividualsCounted`` for every linked incident, which the classifier
turns into code M (guidance line 276-281); an unlink from a theme that was past one individual
sends the new count to every incident that had it, so M goes when the theme falls to one.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from sievert_reporting.domain import themes
from sievert_reporting.service import (
    ConflictError,
    NotFoundError,
    _correlation_id,
    apply_own,
    emit_and_apply,
    refuse_identifiers,
)
from sievert_shared.db import Connection
from sievert_shared.envelope import Tenant
from sievert_shared.events import (
    IncidentLinkedToTheme,
    IncidentUnlinkedFromTheme,
    ThemeIndividualsCounted,
    ThemeOpened,
    ThemeUpdated,
)
from sievert_shared.outbox import Emission
from sievert_shared.runtime import ServiceRuntime


class ThemeService:
    def __init__(self, runtime: ServiceRuntime) -> None:
        self._runtime = runtime

    @property
    def _pool(self) -> asyncpg.Pool:
        return self._runtime.pool

    async def open(
        self, trust: str, *, site: str, title: str, description: str, opened_by_role: str, actor: str | None
    ) -> uuid.UUID:
        refuse_identifiers({"title": title, "description": description, "opened_by_role": opened_by_role})
        theme_id = uuid.uuid4()
        opened = ThemeOpened(
            theme_id=theme_id, title=title, description=description, opened_by_role=opened_by_role
        )
        updated = ThemeUpdated(theme_id=theme_id, title=title, incidents=0, individuals=0, sites=0)
        async with self._pool.acquire() as conn, conn.transaction():
            await emit_and_apply(
                self._runtime,
                conn,
                [opened, updated],
                stream_id=theme_id,
                tenant=Tenant(trust=trust, site=site),
                actor=actor,
            )
        return theme_id

    async def link(
        self,
        trust: str,
        theme_id: uuid.UUID,
        incident_id: uuid.UUID,
        *,
        linked_by_role: str,
        actor: str | None,
    ) -> bool:
        """Link an incident; False if it was linked already (nothing is emitted)."""
        refuse_identifiers({"linked_by_role": linked_by_role})
        async with self._pool.acquire() as conn, conn.transaction():
            # The lock orders concurrent links to one theme, so each counts the others.
            theme = await self._theme(conn, trust, theme_id, lock=True)
            incident = await conn.fetchrow(
                "SELECT site FROM incidents WHERE incident_id = $1 AND trust = $2 AND facts IS NOT NULL",
                incident_id,
                trust,
            )
            if incident is None:
                raise NotFoundError(f"no incident {incident_id} for trust {trust} (yet)")
            if await conn.fetchval(
                "SELECT 1 FROM theme_incidents WHERE theme_id = $1 AND incident_id = $2",
                theme_id,
                incident_id,
            ):
                return False
            linked = IncidentLinkedToTheme(
                theme_id=theme_id,
                incident_id=incident_id,
                site=incident["site"],
                linked_by_role=linked_by_role,
            )
            tenant = Tenant(trust=trust, site=theme["site"])
            await emit_and_apply(
                self._runtime, conn, [linked], stream_id=theme_id, tenant=tenant, actor=actor
            )
            await self._counted(conn, theme, tenant, before=None, left=None, actor=actor)
        return True

    async def unlink(
        self,
        trust: str,
        theme_id: uuid.UUID,
        incident_id: uuid.UUID,
        *,
        reason: str,
        unlinked_by_role: str,
        actor: str | None,
    ) -> bool:
        """Take an incident out of a theme; False if it was not linked (nothing is emitted).
        Another trust's theme or incident is ``NotFoundError``, as if it did not exist."""
        refuse_identifiers({"reason": reason, "unlinked_by_role": unlinked_by_role})
        async with self._pool.acquire() as conn, conn.transaction():
            # The same lock as ``link``: links and unlinks of a theme are counted one at a time.
            theme = await self._theme(conn, trust, theme_id, lock=True)
            if not await conn.fetchval(
                "SELECT 1 FROM incidents WHERE incident_id = $1 AND trust = $2", incident_id, trust
            ):
                raise NotFoundError(f"no incident {incident_id} for trust {trust}")
            site = await conn.fetchval(
                "SELECT site FROM theme_incidents WHERE theme_id = $1 AND incident_id = $2",
                theme_id,
                incident_id,
            )
            if site is None:
                return False
            before = themes.figures(await linked_incidents(conn, theme_id))
            unlinked = IncidentUnlinkedFromTheme(
                theme_id=theme_id,
                incident_id=incident_id,
                site=site,
                reason=reason,
                unlinked_by_role=unlinked_by_role,
            )
            tenant = Tenant(trust=trust, site=theme["site"])
            await emit_and_apply(
                self._runtime, conn, [unlinked], stream_id=theme_id, tenant=tenant, actor=actor
            )
            await self._counted(conn, theme, tenant, before=before, left=(incident_id, site), actor=actor)
        return True

    async def _counted(
        self,
        conn: Connection,
        theme: asyncpg.Record,
        tenant: Tenant,
        *,
        before: themes.ThemeFigures | None,
        left: tuple[uuid.UUID, str] | None,
        actor: str | None,
    ) -> None:
        """After a link or unlink: ``ThemeUpdated`` for dashboards and, when the classifier must
        hear it, the theme's count for each incident in it and for the one that ``left``, whose
        event lists the theme's incidents without it."""
        theme_id: uuid.UUID = theme["theme_id"]
        members = await linked_incidents(conn, theme_id)
        found = themes.figures(members)
        updated = ThemeUpdated(
            theme_id=theme_id,
            title=theme["title"],
            incidents=found.incidents,
            individuals=found.individuals,
            sites=len(found.by_site),
        )
        await emit_and_apply(self._runtime, conn, [updated], stream_id=theme_id, tenant=tenant, actor=actor)
        if not themes.classifier_must_hear(before or found, found):
            return
        ids = [m.incident_id for m in members]
        told = [(m.incident_id, m.site) for m in members] + ([left] if left is not None else [])
        counted = [
            Emission(
                stream_id=incident_id,
                tenant=Tenant(trust=tenant.trust, site=site),
                correlation_id=_correlation_id(),
                events=[
                    ThemeIndividualsCounted(
                        theme_id=theme_id, individuals=found.individuals, incident_ids=ids
                    )
                ],
            )
            for incident_id, site in told
        ]
        await self._runtime.emitter.emit_many(conn, counted)

    async def share(self, trust: str, theme_id: uuid.UUID, *, actor: str | None) -> dict[str, Any]:
        async with self._pool.acquire() as conn, conn.transaction():
            theme = await self._theme(conn, trust, theme_id, lock=True)
            found = themes.figures(await linked_incidents(conn, theme_id))
            summary = themes.shared_summary(theme_id, theme["title"], theme["description"], found)
            envelopes = await self._runtime.emitter.emit(
                conn,
                [summary],
                stream_id=theme_id,
                tenant=Tenant(trust=trust, site=theme["site"]),
                correlation_id=_correlation_id(),
                actor=actor,
            )
            await apply_own(self._runtime, conn, envelopes, [summary])
        return summary.model_dump(mode="json")

    # -- reads -----------------------------------------------------------------------------------

    async def view(self, conn: Connection, trust: str, theme_id: uuid.UUID) -> dict[str, Any]:
        """One view across every site of the trust: the theme, its incidents, counts per site."""
        theme = await self._theme(conn, trust, theme_id, lock=False)
        members = await linked_incidents(conn, theme_id)
        found = themes.figures(members)
        return {
            "theme_id": str(theme_id),
            "trust": theme["trust"],
            "opened_at_site": theme["site"],
            "title": theme["title"],
            "description": theme["description"],
            "opened_by_role": theme["opened_by_role"],
            "opened_at": theme["opened_at"].isoformat(),
            "incidents": [
                {
                    "incident_id": str(m.incident_id),
                    "site": m.site,
                    "modality": m.modality,
                    "codes": list(m.codes),
                }
                for m in members
            ],
            "counts": {
                "incidents": found.incidents,
                "individuals": found.individuals,
                "by_site": found.by_site,
                "by_modality": found.by_modality,
                "by_code": found.by_code,
                "by_equipment_type": found.by_equipment_type,
            },
            "code_m_applies": found.reaches_more_than_one_individual,
        }

    async def list_themes(self, conn: Connection, trust: str) -> list[dict[str, Any]]:
        rows = await conn.fetch(
            """SELECT t.theme_id, t.title, t.site, t.opened_at, count(ti.incident_id) AS incidents
               FROM themes t LEFT JOIN theme_incidents ti USING (theme_id)
               WHERE t.trust = $1 GROUP BY t.theme_id ORDER BY t.opened_at DESC, t.theme_id LIMIT 500""",
            trust,
        )
        return [
            {
                "theme_id": str(r["theme_id"]),
                "title": r["title"],
                "opened_at_site": r["site"],
                "opened_at": r["opened_at"].isoformat(),
                "incidents": r["incidents"],
                "links": {"self": f"/v1/themes/{r['theme_id']}"},
            }
            for r in rows
        ]

    async def set_consent(self, trust: str, consent: bool) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO trust_settings (trust, shared_themes_consent) VALUES ($1, $2)
                   ON CONFLICT (trust) DO UPDATE SET shared_themes_consent = $2""",
                trust,
                consent,
            )

    async def consent(self, conn: Connection, trust: str) -> bool:
        return bool(
            await conn.fetchval("SELECT shared_themes_consent FROM trust_settings WHERE trust = $1", trust)
        )

    async def shared_with(self, conn: Connection, trust: str) -> list[dict[str, Any]]:
        """Other trusts' shared summaries, only for a trust that consented; otherwise nothing."""
        if not await self.consent(conn, trust):
            return []
        rows = await conn.fetch(
            """SELECT source_trust, summary, shared_at FROM shared_themes WHERE source_trust <> $1
               ORDER BY shared_at DESC, theme_id LIMIT 500""",
            trust,
        )
        return [
            {**r["summary"], "shared_by": r["source_trust"], "shared_at": r["shared_at"].isoformat()}
            for r in rows
        ]

    async def _theme(
        self, conn: Connection, trust: str, theme_id: uuid.UUID, *, lock: bool
    ) -> asyncpg.Record:
        row = await conn.fetchrow(
            f"SELECT * FROM themes WHERE theme_id = $1 AND trust = $2 {'FOR UPDATE' if lock else ''}",
            theme_id,
            trust,
        )
        if row is None:
            raise NotFoundError(f"no theme {theme_id} for trust {trust}")
        return row


async def linked_incidents(conn: Connection, theme_id: uuid.UUID) -> list[themes.LinkedIncident]:
    rows = await conn.fetch(
        """SELECT ti.incident_id, ti.site, i.modality, i.exposure_kind, i.codes, i.facts
           FROM theme_incidents ti JOIN incidents i USING (incident_id)
           WHERE ti.theme_id = $1 ORDER BY ti.linked_at, ti.incident_id""",
        theme_id,
    )
    return [themes.linked_incident(dict(r.items())) for r in rows]


__all__ = ["ConflictError", "NotFoundError", "ThemeService"]
