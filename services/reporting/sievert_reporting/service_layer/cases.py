"""The case records reporting keeps: the local investigation (Regulation 8(3), guidance lines
223-227) and the enforcing authority's correspondence and closure (lines 116-131).

Each command runs in one transaction that locks the incident's row (two commands on one case run
one after the other), decides with the pure rules (``domain.local_investigation``,
``domain.correspondence``), writes the event to the outbox and applies it to the read model
(``OwnEvents``). A repeat of what is recorded already emits nothing and answers the same.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from sievert_reporting.adapters import case_store
from sievert_reporting.domain import correspondence, local_investigation, taxonomy
from sievert_reporting.domain.correspondence import AuthorityCorrespondence
from sievert_reporting.domain.local_investigation import CloseOut, LocalInvestigation
from sievert_reporting.domain.submissions import refuse_identifiers
from sievert_reporting.domain.taxonomy import IncidentBasis
from sievert_reporting.service_layer.own_events import OwnEventsService
from sievert_shared.db import Connection
from sievert_shared.envelope import Tenant
from sievert_shared.events import Event


class CaseService(OwnEventsService):
    def _today(self) -> dt.date:
        return self._runtime.clock.now().astimezone(dt.UTC).date()

    # -- the local investigation ---------------------------------------------------------------

    async def assign_owner(
        self,
        trust: str,
        incident_id: uuid.UUID,
        *,
        owner_role: str,
        assigned_by_role: str,
        expected_version: int | None,
        actor: str | None,
    ) -> dict[str, Any]:
        refuse_identifiers({"owner_role": owner_role, "assigned_by_role": assigned_by_role})
        return await self._change_investigation(
            trust,
            incident_id,
            lambda state, _incident: local_investigation.assign_owner(
                state,
                owner_role=owner_role,
                assigned_by_role=assigned_by_role,
                expected_version=expected_version,
                today=self._today(),
            ),
            actor,
        )

    async def close_investigation(
        self, trust: str, incident_id: uuid.UUID, command: CloseOut, actor: str | None
    ) -> dict[str, Any]:
        refuse_identifiers(
            {
                "findings": command.findings,
                "closed_by_role": command.closed_by_role,
                "owner_role": command.owner_role,
                **{f"corrective_actions/{i}": a for i, a in enumerate(command.corrective_actions)},
            }
        )
        return await self._change_investigation(
            trust,
            incident_id,
            lambda state, incident: local_investigation.close(
                state, command, incident=incident, today=self._today(), taxonomies=taxonomy.packaged()
            ),
            actor,
        )

    async def reopen_investigation(
        self,
        trust: str,
        incident_id: uuid.UUID,
        *,
        reason: str,
        reopened_by_role: str,
        expected_version: int,
        actor: str | None,
    ) -> dict[str, Any]:
        refuse_identifiers({"reason": reason, "reopened_by_role": reopened_by_role})
        return await self._change_investigation(
            trust,
            incident_id,
            lambda state, _incident: local_investigation.reopen(
                state,
                reason=reason,
                reopened_by_role=reopened_by_role,
                expected_version=expected_version,
                today=self._today(),
            ),
            actor,
        )

    async def _change_investigation(
        self,
        trust: str,
        incident_id: uuid.UUID,
        decide: Callable[[LocalInvestigation, IncidentBasis], Event | None],
        actor: str | None,
    ) -> dict[str, Any]:
        """One transaction for every change to the local investigation: the incident's row locked
        (``incident_basis``), the rule decided on the investigation as recorded and what its coding
        depends on (the discovery day, modality, exposure kind, decision), its event emitted and
        applied, and the investigation as it now is."""
        async with self.pool.acquire() as conn, conn.transaction():
            site, incident = await case_store.incident_basis(conn, trust, incident_id)
            state, _ = await case_store.investigation(conn, incident_id)
            event = decide(state, incident)
            await self._emit(conn, trust, site, incident_id, event, actor)
            return local_investigation.view((await case_store.investigation(conn, incident_id))[0])

    async def investigation(self, incident_id: uuid.UUID) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            state, _ = await case_store.investigation(conn, incident_id)
        return {"incident_id": str(incident_id), **local_investigation.view(state)}

    async def coding_choices(self, trust: str, incident_id: uuid.UUID) -> dict[str, Any]:
        """What the incident's close-out may be coded with: the taxonomies' versions in force on
        its discovery day, and its radiotherapy event level where that follows from the incident."""
        async with self.pool.acquire() as conn:
            _, incident = await case_store.incident_basis(conn, trust, incident_id, lock=False)
        return {"incident_id": str(incident_id), **taxonomy.choices(taxonomy.packaged(), incident)}

    # -- the authority's correspondence ------------------------------------------------------------

    async def record_query(
        self,
        trust: str,
        incident_id: uuid.UUID,
        *,
        received_on: dt.date,
        summary: str,
        recorded_by_role: str,
        actor: str | None,
    ) -> tuple[uuid.UUID, bool]:
        """The query's id, and whether it was recorded now (False: it was recorded already)."""
        refuse_identifiers({"summary": summary, "recorded_by_role": recorded_by_role})
        async with self.pool.acquire() as conn, conn.transaction():
            site, _ = await case_store.incident_for_case(conn, trust, incident_id)
            query_id, event = correspondence.receive_query(
                incident_id,
                await case_store.notified(conn, incident_id),
                await case_store.queries(conn, incident_id),
                received_on=received_on,
                summary=summary,
                recorded_by_role=recorded_by_role,
                today=self._today(),
            )
            await self._emit(conn, trust, site, incident_id, event, actor)
        return query_id, event is not None

    async def answer_query(
        self,
        trust: str,
        incident_id: uuid.UUID,
        query_id: uuid.UUID,
        *,
        answered_on: dt.date,
        summary: str,
        answered_by_role: str,
        actor: str | None,
    ) -> None:
        refuse_identifiers({"summary": summary, "answered_by_role": answered_by_role})
        async with self.pool.acquire() as conn, conn.transaction():
            site, _ = await case_store.incident_for_case(conn, trust, incident_id)
            known = await case_store.queries(conn, incident_id)
            event = correspondence.answer_query(
                known.get(query_id),
                query_id,
                answered_on=answered_on,
                summary=summary,
                answered_by_role=answered_by_role,
                today=self._today(),
            )
            await self._emit(conn, trust, site, incident_id, event, actor)

    async def record_closure(
        self,
        trust: str,
        incident_id: uuid.UUID,
        *,
        closed_on: dt.date,
        reference: str | None,
        recorded_by_role: str,
        actor: str | None,
    ) -> None:
        refuse_identifiers({"recorded_by_role": recorded_by_role})
        async with self.pool.acquire() as conn, conn.transaction():
            site, _ = await case_store.incident_for_case(conn, trust, incident_id)
            current, reopened_at = await case_store.closure(conn, incident_id)
            event = correspondence.record_closure(
                incident_id,
                await case_store.notified(conn, incident_id),
                current,
                case_reopened_at=reopened_at,
                closed_on=closed_on,
                reference=reference,
                recorded_by_role=recorded_by_role,
                today=self._today(),
            )
            await self._emit(conn, trust, site, incident_id, event, actor)

    async def authority(self, incident_id: uuid.UUID) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            notified = await case_store.notified(conn, incident_id)
            known = await case_store.queries(conn, incident_id)
            current, _ = await case_store.closure(conn, incident_id)
        return {
            "incident_id": str(incident_id),
            **correspondence.authority_view(notified, list(known.values()), current),
        }

    async def _emit(
        self,
        conn: Connection,
        trust: str,
        site: str,
        incident_id: uuid.UUID,
        event: Event | None,
        actor: str | None,
    ) -> None:
        if event is None:
            return  # recorded already: the same answer, no second event
        await self._own.emit_and_apply(
            conn, [event], stream_id=incident_id, tenant=Tenant(trust=trust, site=site), actor=actor
        )


async def correspondence_for_report(
    conn: Connection, incident_id: uuid.UUID
) -> AuthorityCorrespondence | None:
    """The authority's reference and correspondence for the 12-week report; None if the incident
    was never notified."""
    notified = await case_store.notified(conn, incident_id)
    if notified is None:
        return None
    known = await case_store.queries(conn, incident_id)
    return correspondence.correspondence(notified, list(known.values()))
