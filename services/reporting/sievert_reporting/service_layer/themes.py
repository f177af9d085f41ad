"""Thematic reviews: open a theme, link incidents across the trust's sites (and unlink them),
share an anonymised summary with other trusts, and see what consenting trusts shared.

Commands follow ``submissions``: one transaction checks the read model, writes the events to the
outbox and applies them (``OwnEvents``). A link that takes the theme past one individual also
emits ``ThemeIndividualsCounted`` for every linked incident, which the classifier turns into
code M (guidance line 276-281); an unlink from a theme that was past one individual sends the
new count to every incident that had it, so M goes when the theme falls to one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg

from sievert_reporting.adapters import read_model, themes_store
from sievert_reporting.domain import themes
from sievert_reporting.domain.submissions import refuse_identifiers
from sievert_reporting.service_layer.own_events import OwnEventsService, correlation_id
from sievert_shared.db import Connection
from sievert_shared.envelope import Tenant
from sievert_shared.errors import NotFoundError
from sievert_shared.events import (
    IncidentLinkedToTheme,
    IncidentUnlinkedFromTheme,
    ThemeIndividualsCounted,
    ThemeOpened,
    ThemeUpdated,
)
from sievert_shared.outbox import Emission


class ThemeService(OwnEventsService):
    async def open(
        self,
        trust: str,
        *,
        site: str,
        title: str,
        description: str,
        opened_by_role: str,
        identified_on: dt.date | None,
        actor: str | None,
    ) -> uuid.UUID:
        """Open a theme, identified on ``identified_on`` as a person states it, else today (line
        278: code M's windows run from that day)."""
        refuse_identifiers({"title": title, "description": description, "opened_by_role": opened_by_role})
        today = self._own.runtime.clock.now().astimezone(dt.UTC).date()
        themes.refuse_identified_on(identified_on, today)
        theme_id = uuid.uuid4()
        opened = ThemeOpened(
            theme_id=theme_id,
            title=title,
            description=description,
            opened_by_role=opened_by_role,
            identified_on=identified_on or today,
        )
        updated = ThemeUpdated(theme_id=theme_id, title=title, incidents=0, individuals=0, sites=0)
        async with self.pool.acquire() as conn, conn.transaction():
            await self._own.emit_and_apply(
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
        async with self.pool.acquire() as conn, conn.transaction():
            # The lock orders concurrent links to one theme, so each counts the others.
            theme = await themes_store.theme(conn, trust, theme_id, lock=True)
            site = await read_model.site_with_facts(conn, trust, incident_id)
            if site is None:
                raise NotFoundError(f"no incident {incident_id} for trust {trust} (yet)")
            if await themes_store.is_linked(conn, theme_id, incident_id):
                return False
            linked = IncidentLinkedToTheme(
                theme_id=theme_id, incident_id=incident_id, site=site, linked_by_role=linked_by_role
            )
            tenant = Tenant(trust=trust, site=theme["site"])
            await self._own.emit_and_apply(conn, [linked], stream_id=theme_id, tenant=tenant, actor=actor)
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
        async with self.pool.acquire() as conn, conn.transaction():
            # The same lock as ``link``: links and unlinks of a theme are counted one at a time.
            theme = await themes_store.theme(conn, trust, theme_id, lock=True)
            if not await read_model.is_incident_of(conn, trust, incident_id):
                raise NotFoundError(f"no incident {incident_id} for trust {trust}")
            site = await themes_store.linked_site(conn, theme_id, incident_id)
            if site is None:
                return False
            before = themes.figures(await themes_store.linked_incidents(conn, theme_id))
            unlinked = IncidentUnlinkedFromTheme(
                theme_id=theme_id,
                incident_id=incident_id,
                site=site,
                reason=reason,
                unlinked_by_role=unlinked_by_role,
            )
            tenant = Tenant(trust=trust, site=theme["site"])
            await self._own.emit_and_apply(conn, [unlinked], stream_id=theme_id, tenant=tenant, actor=actor)
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
        members = await themes_store.linked_incidents(conn, theme_id)
        found = themes.figures(members)
        updated = ThemeUpdated(
            theme_id=theme_id,
            title=theme["title"],
            incidents=found.incidents,
            individuals=found.individuals,
            sites=len(found.by_site),
        )
        await self._own.emit_and_apply(conn, [updated], stream_id=theme_id, tenant=tenant, actor=actor)
        if not themes.classifier_must_hear(before or found, found):
            return
        ids = [m.incident_id for m in members]
        told = [(m.incident_id, m.site) for m in members] + ([left] if left is not None else [])
        counted = [
            Emission(
                stream_id=incident_id,
                tenant=Tenant(trust=tenant.trust, site=site),
                correlation_id=correlation_id(),
                events=[
                    ThemeIndividualsCounted(
                        theme_id=theme_id,
                        individuals=found.individuals,
                        incident_ids=ids,
                        theme_identified_on=theme["identified_on"],
                    )
                ],
            )
            for incident_id, site in told
        ]
        await self._own.emit_many(conn, counted)

    async def share(self, trust: str, theme_id: uuid.UUID, *, actor: str | None) -> dict[str, Any]:
        async with self.pool.acquire() as conn, conn.transaction():
            theme = await themes_store.theme(conn, trust, theme_id, lock=True)
            found = themes.figures(await themes_store.linked_incidents(conn, theme_id))
            summary = themes.shared_summary(theme_id, theme["title"], theme["description"], found)
            await self._own.emit_and_apply(
                conn,
                [summary],
                stream_id=theme_id,
                tenant=Tenant(trust=trust, site=theme["site"]),
                actor=actor,
            )
        return summary.model_dump(mode="json")

    # -- reads -----------------------------------------------------------------------------------

    async def view(self, trust: str, theme_id: uuid.UUID) -> dict[str, Any]:
        """One view across every site of the trust: the theme, its incidents, counts per site."""
        async with self.pool.acquire() as conn:
            theme = await themes_store.theme(conn, trust, theme_id, lock=False)
            members = await themes_store.linked_incidents(conn, theme_id)
        return themes.theme_view(dict(theme.items()), members)

    async def list_themes(self, trust: str) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            rows = await themes_store.themes_of(conn, trust)
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
        async with self.pool.acquire() as conn:
            await themes_store.store_consent(conn, trust, consent)

    async def shared_with(self, trust: str) -> tuple[bool, list[dict[str, Any]]]:
        """The trust's consent and other trusts' shared summaries: only for a trust that
        consented; otherwise nothing."""
        async with self.pool.acquire() as conn:
            if not await themes_store.consent(conn, trust):
                return False, []
            rows = await themes_store.shared_by_others(conn, trust)
        return True, [
            {**r["summary"], "shared_by": r["source_trust"], "shared_at": r["shared_at"].isoformat()}
            for r in rows
        ]
