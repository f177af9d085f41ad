"""PostgreSQL storage of people's tasks: the aggregate, its flattened tasks, its timers, and the
reads of the work queue."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter
from pydantic_core import to_json

from sievert_deadlines.adapters.store import claim_due_ids
from sievert_deadlines.domain.tasks import IncidentTasks, TaskStatus, TaskTimer, task_document
from sievert_deadlines.domain.timers import TimerKind
from sievert_shared.db import Connection, Where
from sievert_shared.envelope import Tenant
from sievert_shared.events import TaskKind

_STATE = TypeAdapter(IncidentTasks)


@dataclass(frozen=True)
class Loaded:
    case: IncidentTasks
    tenant: Tenant
    correlation_id: str


async def load(conn: Connection, incident_id: uuid.UUID) -> Loaded | None:
    """The aggregate, locked for this transaction, with its tenant and correlation id."""
    row = await conn.fetchrow(
        "SELECT trust, site, correlation_id, state FROM incident_tasks WHERE incident_id = $1 FOR UPDATE",
        incident_id,
    )
    if row is None:
        return None
    return Loaded(
        _STATE.validate_python(row["state"]),
        Tenant(trust=row["trust"], site=row["site"]),
        row["correlation_id"],
    )


async def load_many(conn: Connection, incident_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Loaded]:
    """``load`` for many incidents in one statement, locked in the order of their ids."""
    rows = await conn.fetch(
        """SELECT incident_id, trust, site, correlation_id, state::text AS state FROM incident_tasks
           WHERE incident_id = ANY($1::uuid[]) ORDER BY incident_id FOR UPDATE""",
        list(incident_ids),
    )
    return {
        r["incident_id"]: Loaded(
            _STATE.validate_json(r["state"]), Tenant(trust=r["trust"], site=r["site"]), r["correlation_id"]
        )
        for r in rows
    }


async def save_many(conn: Connection, cases: Sequence[Loaded], now: dt.datetime) -> None:
    """Store cases and rewrite their flattened tasks: three statements for any number of
    incidents (each may appear once)."""
    if not cases:
        return
    cases = sorted(cases, key=lambda c: c.case.incident_id)  # one row lock order everywhere
    ids = [c.case.incident_id for c in cases]
    await conn.execute(
        """INSERT INTO incident_tasks (incident_id, trust, site, correlation_id, state, updated_at)
           SELECT incident_id, trust, site, correlation_id, state::jsonb, $6
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
                AS batch (incident_id, trust, site, correlation_id, state)
           ON CONFLICT (incident_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at""",
        ids,
        [c.tenant.trust for c in cases],
        [c.tenant.site for c in cases],
        [c.correlation_id for c in cases],
        [_STATE.dump_json(c.case).decode() for c in cases],
        now,
    )
    await conn.execute("DELETE FROM tasks WHERE incident_id = ANY($1::uuid[])", ids)
    rows = [
        (
            t.task_id,
            c.case.incident_id,
            t.kind.value,
            c.tenant.trust,
            c.tenant.site,
            t.status.value,
            t.due_at,
            t.owner_role,
            to_json(task_document(t)).decode(),
        )
        for c in cases
        for t in c.case.tasks
    ]
    if not rows:
        return
    await conn.execute(
        """INSERT INTO tasks (task_id, incident_id, kind, trust, site, status, due_at, owner_role, task)
           SELECT task_id, incident_id, kind, trust, site, status, due_at, owner_role, task::jsonb
           FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                       $7::timestamptz[], $8::text[], $9::text[])
                AS t (task_id, incident_id, kind, trust, site, status, due_at, owner_role, task)""",
        *(list(column) for column in zip(*rows, strict=True)),
    )


async def cancel_timers_of(conn: Connection, pairs: Sequence[tuple[uuid.UUID, str]]) -> None:
    """``cancel_timers`` for many incidents in one statement: ``(incident, task_kind)`` pairs."""
    if pairs:
        await conn.execute(
            """DELETE FROM task_timers t USING unnest($1::uuid[], $2::text[]) AS c (incident_id, task_kind)
               WHERE t.incident_id = c.incident_id AND t.task_kind = c.task_kind""",
            [incident for incident, _ in pairs],
            [kind for _, kind in pairs],
        )


async def schedule_timers(conn: Connection, timers: Sequence[TaskTimer]) -> None:
    if not timers:
        return
    await conn.execute(
        """INSERT INTO task_timers (incident_id, task_kind, kind, fire_at, due_at, days_before)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[],
                                $6::int[])""",
        [t.incident_id for t in timers],
        [t.task_kind.value for t in timers],
        [t.kind.value for t in timers],
        [t.fire_at for t in timers],
        [t.due_at for t in timers],
        [t.days_before for t in timers],
    )


async def claim_due(conn: Connection, now: dt.datetime, limit: int) -> list[Loaded]:
    """Cases with a due task timer, with their aggregates, locked so another replica skips them.

    The case's ``incident_deadlines`` row is claimed first with ``SKIP LOCKED``, exactly as the
    window timers claim it: every path that changes tasks holds that row first, so a claimed case's
    tasks row is free, and a firing of task timers and one of window timers never share a case.
    """
    claimed = await claim_due_ids(conn, "task_timers", now, limit)
    if not claimed:
        return []
    locked = await conn.fetch(
        """SELECT trust, site, correlation_id, state::text AS state FROM incident_tasks
           WHERE incident_id = ANY($1::uuid[])
           FOR UPDATE""",
        claimed,
    )
    return [
        Loaded(
            _STATE.validate_json(r["state"]),
            Tenant(trust=r["trust"], site=r["site"]),
            r["correlation_id"],
        )
        for r in locked
    ]


async def due_timers(
    conn: Connection, incident_ids: Sequence[uuid.UUID], now: dt.datetime
) -> list[tuple[int, TaskTimer]]:
    rows = await conn.fetch(
        """SELECT timer_id, incident_id, task_kind, kind, fire_at, due_at, days_before
           FROM task_timers WHERE incident_id = ANY($1::uuid[]) AND fire_at <= $2
           ORDER BY incident_id, fire_at, timer_id""",
        list(incident_ids),
        now,
    )
    return [
        (
            r["timer_id"],
            TaskTimer(
                incident_id=r["incident_id"],
                task_kind=TaskKind(r["task_kind"]),
                kind=TimerKind(r["kind"]),
                fire_at=r["fire_at"],
                due_at=r["due_at"],
                days_before=r["days_before"],
            ),
        )
        for r in rows
    ]


async def delete_timers(conn: Connection, timer_ids: Sequence[int]) -> None:
    await conn.execute("DELETE FROM task_timers WHERE timer_id = ANY($1::bigint[])", list(timer_ids))


# -- reads ------------------------------------------------------------------------------------------


class TaskFilter(enum.StrEnum):
    OPEN = "open"
    OVERDUE = "overdue"
    DONE = "done"
    CANCELLED = "cancelled"


async def tenant_of(conn: Connection, incident_id: uuid.UUID) -> str | None:
    """The trust of the case, if its tasks are kept here."""
    trust: str | None = await conn.fetchval(
        "SELECT trust FROM incident_tasks WHERE incident_id = $1", incident_id
    )
    return trust


async def incident_tasks(conn: Connection, incident_id: uuid.UUID, now: dt.datetime) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT incident_id, trust, site, task FROM tasks WHERE incident_id = $1
           ORDER BY due_at NULLS LAST, kind""",
        incident_id,
    )
    return [_task(dict(r.items()), now) for r in rows]


async def list_tasks(
    conn: Connection,
    *,
    now: dt.datetime,
    trust: str | None,
    site: str | None,
    status: TaskFilter | None,
    kind: TaskKind | None,
    limit: int,
) -> list[dict[str, Any]]:
    where = Where()
    add = where.add
    if trust is not None:
        add("trust = ?", trust)
    if site is not None:
        add("site = ?", site)
    if kind is not None:
        add("kind = ?", kind.value)
    match status:
        case TaskFilter.OPEN:
            add("status = 'open'")
        case TaskFilter.OVERDUE:
            add("status = 'open' AND due_at <= ?", now)
        case TaskFilter.DONE:
            add("status = 'done'")
        case TaskFilter.CANCELLED:
            add("status = 'cancelled'")
    limit_param = where.param(limit)
    rows = await conn.fetch(
        f"""SELECT incident_id, trust, site, task FROM tasks {where.sql}
            ORDER BY due_at NULLS LAST, incident_id, kind LIMIT {limit_param}""",
        *where.args,
    )
    return [_task(dict(r.items()), now) for r in rows]


def _task(row: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    task: dict[str, Any] = row["task"]
    # Instants as the window routes write them (``+00:00``), not pydantic's ``Z``.
    due_at = dt.datetime.fromisoformat(task["due_at"]) if task["due_at"] else None
    opened_at = dt.datetime.fromisoformat(task["opened_at"])
    return {
        "incident_id": str(row["incident_id"]),
        "trust": row["trust"],
        "site": row["site"],
        **task,
        "due_at": due_at.isoformat() if due_at else None,
        "opened_at": opened_at.isoformat(),
        "overdue": task["status"] == TaskStatus.OPEN.value and due_at is not None and due_at <= now,
    }
