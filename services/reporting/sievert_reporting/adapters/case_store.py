"""The case records in PostgreSQL: the local investigation, the authority's queries and closure,
the case's status and people's tasks, as the projection stores them (the rules are in
``domain.local_investigation`` and ``domain.case_record``), and as the commands and the API read
them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from sievert_reporting.domain.case_record import CaseState, TaskState
from sievert_reporting.domain.correspondence import Closure, Notified, Query
from sievert_reporting.domain.local_investigation import LocalInvestigation
from sievert_reporting.domain.taxonomy import IncidentBasis
from sievert_shared.db import Connection
from sievert_shared.errors import NotFoundError
from sievert_shared.events import ErrorCategory, RadiotherapyEventCoding
from sievert_shared.facts import ExposureKind, Modality

# -- the incident a command acts on ---------------------------------------------------------------


async def incident_for_case(conn: Connection, trust: str, incident_id: uuid.UUID) -> tuple[str, dt.date]:
    """The trust's incident's (site, discovery day), its row locked: a command's transaction, so
    two commands on one incident's case run one after the other. 404 before its facts arrive."""
    row = await conn.fetchrow(
        """SELECT site, discovered_on FROM incidents
           WHERE incident_id = $1 AND trust = $2 AND facts IS NOT NULL FOR UPDATE""",
        incident_id,
        trust,
    )
    if row is None:
        raise NotFoundError(f"no incident {incident_id} for trust {trust} (yet)")
    return row["site"], row["discovered_on"]


async def incident_basis(
    conn: Connection, trust: str, incident_id: uuid.UUID, *, lock: bool = True
) -> tuple[str, IncidentBasis]:
    """The trust's incident's site and what its investigation's coding depends on (its discovery
    day, modality, exposure kind and whether it is notifiable), its row locked as
    ``incident_for_case`` locks it unless only read (``lock=False``). 404 before its facts arrive."""
    row = await conn.fetchrow(
        """SELECT site, discovered_on, modality, exposure_kind, notifiable FROM incidents
           WHERE incident_id = $1 AND trust = $2 AND facts IS NOT NULL"""
        + (" FOR UPDATE" if lock else ""),
        incident_id,
        trust,
    )
    if row is None:
        raise NotFoundError(f"no incident {incident_id} for trust {trust} (yet)")
    return row["site"], IncidentBasis(
        discovered_on=row["discovered_on"],
        modality=Modality(row["modality"]),
        exposure_kind=ExposureKind(row["exposure_kind"]),
        notifiable=row["notifiable"],
    )


# -- the local investigation ---------------------------------------------------------------------


async def investigation(conn: Connection, incident_id: uuid.UUID) -> tuple[LocalInvestigation, int]:
    """The incident's investigation (an open one with no owner if nothing was recorded) and the
    stream version of its last event (0: none)."""
    row = await conn.fetchrow("SELECT * FROM local_investigations WHERE incident_id = $1", incident_id)
    if row is None:
        return LocalInvestigation(), 0
    state = LocalInvestigation(
        owner_role=row["owner_role"],
        status=row["status"],
        version=row["version"],
        closed_on=row["closed_on"],
        closed_by_role=row["closed_by_role"],
        findings=row["findings"],
        error_duty_holder=row["error_duty_holder"],
        error_process_step=row["error_process_step"],
        corrective_actions=tuple(row["corrective_actions"]),
        error_category=_error_category(row),
        radiotherapy_event=_radiotherapy_event(row),
        history=tuple(row["history"]),
    )
    return state, row["stream_version"]


def _error_category(row: asyncpg.Record) -> ErrorCategory | None:
    if row["error_taxonomy_version"] is None:
        return None
    return ErrorCategory(
        taxonomy_version=row["error_taxonomy_version"],
        duty_holder=row["error_tier1_duty_holder"],
        pathway_point=row["error_tier2_pathway_point"],
        what_went_wrong=row["error_tier3_what_went_wrong"],
    )


def _radiotherapy_event(row: asyncpg.Record) -> RadiotherapyEventCoding | None:
    if row["rte_taxonomy_version"] is None:
        return None
    return RadiotherapyEventCoding(
        taxonomy_version=row["rte_taxonomy_version"],
        level=row["rte_level"],
        level_basis=row["rte_level_basis"],
        **{f: list(row[f"rte_{f}"]) for f in RTE_FIELDS},
    )


#: The RTE code lists, as ``RadiotherapyEventCoding`` names them (``rte_<name>`` in the table).
RTE_FIELDS = (
    "process_subcodes",
    "failed_safety_barriers",
    "effective_safety_barriers",
    "causative_factors",
    "detection_methods",
)


async def store_investigation(
    conn: Connection,
    *,
    incident_id: uuid.UUID,
    trust: str,
    site: str,
    state: LocalInvestigation,
    stream_version: int,
    recorded_at: dt.datetime,
) -> None:
    category, coding = state.error_category, state.radiotherapy_event
    await conn.execute(
        """INSERT INTO local_investigations (incident_id, trust, site, owner_role, status, version, closed_on,
                closed_by_role, findings, error_duty_holder, error_process_step, corrective_actions,
                history, stream_version, updated_at,
                error_taxonomy_version, error_tier1_duty_holder, error_tier2_pathway_point,
                error_tier3_what_went_wrong, rte_taxonomy_version, rte_level, rte_level_basis,
                rte_process_subcodes, rte_failed_safety_barriers, rte_effective_safety_barriers,
                rte_causative_factors, rte_detection_methods)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                   $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27)
           ON CONFLICT (incident_id) DO UPDATE SET
               owner_role = $4, status = $5, version = $6, closed_on = $7, closed_by_role = $8,
               findings = $9, error_duty_holder = $10, error_process_step = $11,
               corrective_actions = $12, history = $13, stream_version = $14, updated_at = $15,
               error_taxonomy_version = $16, error_tier1_duty_holder = $17,
               error_tier2_pathway_point = $18, error_tier3_what_went_wrong = $19,
               rte_taxonomy_version = $20, rte_level = $21, rte_level_basis = $22,
               rte_process_subcodes = $23, rte_failed_safety_barriers = $24,
               rte_effective_safety_barriers = $25, rte_causative_factors = $26,
               rte_detection_methods = $27""",
        incident_id,
        trust,
        site,
        state.owner_role,
        state.status,
        state.version,
        state.closed_on,
        state.closed_by_role,
        state.findings,
        state.error_duty_holder,
        state.error_process_step,
        list(state.corrective_actions),
        list(state.history),
        stream_version,
        recorded_at,
        category.taxonomy_version if category else None,
        category.duty_holder if category else None,
        category.pathway_point if category else None,
        category.what_went_wrong if category else None,
        coding.taxonomy_version if coding else None,
        coding.level if coding else None,
        coding.level_basis if coding else None,
        *[getattr(coding, f) if coding else [] for f in RTE_FIELDS],
    )


# -- the authority's correspondence --------------------------------------------------------------


async def notified(conn: Connection, incident_id: uuid.UUID) -> Notified | None:
    """The incident's notification as sent (in Sievert or recorded as sent outside it), or None."""
    row = await conn.fetchrow(
        """SELECT authority, submitted_at, channel, reference FROM submissions
           WHERE incident_id = $1 AND kind = 'notification' AND status IN ('submitted', 'acknowledged')""",
        incident_id,
    )
    if row is None:
        return None
    submitted_at: dt.datetime = row["submitted_at"]
    return Notified(
        row["authority"], submitted_at.astimezone(dt.UTC).date(), row["channel"], row["reference"]
    )


def _query(row: asyncpg.Record) -> Query:
    return Query(
        query_id=row["query_id"],
        received_on=row["received_on"],
        summary=row["summary"],
        recorded_by_role=row["recorded_by_role"],
        answered_on=row["answered_on"],
        answer=row["answer"],
        answered_by_role=row["answered_by_role"],
    )


async def queries(conn: Connection, incident_id: uuid.UUID) -> dict[uuid.UUID, Query]:
    rows = await conn.fetch("SELECT * FROM authority_queries WHERE incident_id = $1", incident_id)
    return {row["query_id"]: _query(row) for row in rows}


async def store_query_received(
    conn: Connection,
    *,
    query_id: uuid.UUID,
    incident_id: uuid.UUID,
    trust: str,
    site: str,
    authority: str,
    received_on: dt.date,
    summary: str,
    recorded_by_role: str,
    stream_version: int,
    recorded_at: dt.datetime,
) -> None:
    """The query's id is derived from what was asked: the same query again is the same row."""
    await conn.execute(
        """INSERT INTO authority_queries (query_id, incident_id, trust, site, authority, received_on, summary,
                                          recorded_by_role, stream_version, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (query_id) DO NOTHING""",
        query_id,
        incident_id,
        trust,
        site,
        authority,
        received_on,
        summary,
        recorded_by_role,
        stream_version,
        recorded_at,
    )


async def store_query_answered(
    conn: Connection,
    *,
    query_id: uuid.UUID,
    answered_on: dt.date,
    answer: str,
    answered_by_role: str,
    stream_version: int,
    recorded_at: dt.datetime,
) -> None:
    """The first answer stands (the authority has it); a later one is refused by the command."""
    await conn.execute(
        """UPDATE authority_queries SET answered_on = $2, answer = $3, answered_by_role = $4,
                  stream_version = $5, updated_at = $6
           WHERE query_id = $1 AND answered_on IS NULL AND stream_version < $5""",
        query_id,
        answered_on,
        answer,
        answered_by_role,
        stream_version,
        recorded_at,
    )


async def closure(conn: Connection, incident_id: uuid.UUID) -> tuple[Closure | None, dt.datetime | None]:
    """The authority's closure as recorded, and when the case was last reopened."""
    row = await conn.fetchrow(
        "SELECT authority_closure, reopened_at FROM incident_cases WHERE incident_id = $1", incident_id
    )
    if row is None:
        return None, None
    recorded = row["authority_closure"]
    if recorded is None:
        return None, row["reopened_at"]
    return (
        Closure(
            authority=recorded["authority"],
            closed_on=dt.date.fromisoformat(recorded["closed_on"]),
            reference=recorded["reference"],
            recorded_by_role=recorded["recorded_by_role"],
            recorded_at=dt.datetime.fromisoformat(recorded["recorded_at"]),
        ),
        row["reopened_at"],
    )


_ENSURE_CASE = """INSERT INTO incident_cases (incident_id, trust, site, updated_at) VALUES ($1, $2, $3, $4)
                  ON CONFLICT (incident_id) DO NOTHING"""


async def store_authority_closure(
    conn: Connection,
    *,
    incident_id: uuid.UUID,
    trust: str,
    site: str,
    closure: Closure,
    stream_version: int,
) -> None:
    recorded = {
        "authority": closure.authority,
        "closed_on": closure.closed_on.isoformat(),
        "reference": closure.reference,
        "recorded_by_role": closure.recorded_by_role,
        "recorded_at": closure.recorded_at.isoformat(),
    }
    await conn.execute(_ENSURE_CASE, incident_id, trust, site, closure.recorded_at)
    await conn.execute(
        """UPDATE incident_cases SET authority_closure = $2, authority_version = $3,
                  updated_at = GREATEST(updated_at, $4)
           WHERE incident_id = $1 AND authority_version < $3""",
        incident_id,
        recorded,
        stream_version,
        closure.recorded_at,
    )


# -- the case's status and people's tasks (the deadlines service's events) -------------------------


async def case_state(
    conn: Connection, incident_id: uuid.UUID, trust: str, site: str, recorded_at: dt.datetime
) -> CaseState:
    """The case, its row made if this is the first event about it, and locked."""
    await conn.execute(_ENSURE_CASE, incident_id, trust, site, recorded_at)
    row = await conn.fetchrow("SELECT * FROM incident_cases WHERE incident_id = $1 FOR UPDATE", incident_id)
    assert row is not None  # made just above
    return CaseState(
        status=row["status"],
        closure_basis=row["closure_basis"],
        closed_on=row["closed_on"],
        retain_until=row["retain_until"],
        retention_expired=row["retention_expired"],
        reopen_reason=row["reopen_reason"],
        reopened_at=row["reopened_at"],
        withdrawal=row["withdrawal"],
        version=row["case_version"],
    )


async def store_case_state(
    conn: Connection, incident_id: uuid.UUID, state: CaseState, recorded_at: dt.datetime
) -> None:
    await conn.execute(
        """UPDATE incident_cases SET status = $2, closure_basis = $3, closed_on = $4, retain_until = $5,
                  retention_expired = $6, reopen_reason = $7, reopened_at = $8, withdrawal = $9,
                  case_version = $10, updated_at = GREATEST(updated_at, $11)
           WHERE incident_id = $1""",
        incident_id,
        state.status,
        state.closure_basis,
        state.closed_on,
        state.retain_until,
        state.retention_expired,
        state.reopen_reason,
        state.reopened_at,
        state.withdrawal,
        state.version,
        recorded_at,
    )


async def task(conn: Connection, task_id: uuid.UUID) -> TaskState | None:
    row = await conn.fetchrow("SELECT * FROM case_tasks WHERE task_id = $1 FOR UPDATE", task_id)
    return None if row is None else _task_state(row)


async def tasks(conn: Connection, task_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, TaskState]:
    """The tasks of ``task_ids`` that exist, locked, in one statement (in id order, so that two
    transactions locking some of the same tasks cannot deadlock)."""
    rows = await conn.fetch(
        "SELECT * FROM case_tasks WHERE task_id = ANY($1::uuid[]) ORDER BY task_id FOR UPDATE",
        list(task_ids),
    )
    return {row["task_id"]: _task_state(row) for row in rows}


def _task_state(row: asyncpg.Record) -> TaskState:
    return TaskState(
        task_id=row["task_id"],
        kind=row["kind"],
        status=row["status"],
        owner_role=row["owner_role"],
        due_at=row["due_at"],
        overdue=row["overdue"],
        reason=row["reason"],
        completed_on=row["completed_on"],
        version=row["stream_version"],
    )


async def store_task(
    conn: Connection,
    *,
    incident_id: uuid.UUID,
    trust: str,
    site: str,
    state: TaskState,
    recorded_at: dt.datetime,
) -> None:
    await conn.execute(
        """INSERT INTO case_tasks (task_id, incident_id, trust, site, kind, status, owner_role, due_at,
                                   overdue, reason, completed_on, stream_version, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
           ON CONFLICT (task_id) DO UPDATE SET
               kind = $5, status = $6, owner_role = $7, due_at = $8, overdue = $9, reason = $10,
               completed_on = $11, stream_version = $12, updated_at = GREATEST(case_tasks.updated_at, $13)""",
        state.task_id,
        incident_id,
        trust,
        site,
        state.kind,
        state.status,
        state.owner_role,
        state.due_at,
        state.overdue,
        state.reason,
        state.completed_on,
        state.version,
        recorded_at,
    )


@dataclass(frozen=True)
class StoredTask:
    """A task as ``store_task`` writes it: its state, its incident, and when it last changed."""

    state: TaskState
    incident_id: uuid.UUID
    trust: str
    site: str
    recorded_at: dt.datetime


async def store_tasks(conn: Connection, stored: Sequence[StoredTask]) -> None:
    """``store_task`` for several tasks in one statement; each task once."""
    await conn.execute(
        """INSERT INTO case_tasks (task_id, incident_id, trust, site, kind, status, owner_role, due_at,
                                   overdue, reason, completed_on, stream_version, updated_at)
           SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                                $7::text[], $8::timestamptz[], $9::bool[], $10::text[], $11::date[],
                                $12::int[], $13::timestamptz[])
           ON CONFLICT (task_id) DO UPDATE SET
               kind = EXCLUDED.kind, status = EXCLUDED.status, owner_role = EXCLUDED.owner_role,
               due_at = EXCLUDED.due_at, overdue = EXCLUDED.overdue, reason = EXCLUDED.reason,
               completed_on = EXCLUDED.completed_on, stream_version = EXCLUDED.stream_version,
               updated_at = GREATEST(case_tasks.updated_at, EXCLUDED.updated_at)""",
        [t.state.task_id for t in stored],
        [t.incident_id for t in stored],
        [t.trust for t in stored],
        [t.site for t in stored],
        [t.state.kind for t in stored],
        [t.state.status for t in stored],
        [t.state.owner_role for t in stored],
        [t.state.due_at for t in stored],
        [t.state.overdue for t in stored],
        [t.state.reason for t in stored],
        [t.state.completed_on for t in stored],
        [t.state.version for t in stored],
        [t.recorded_at for t in stored],
    )


# -- reads of the incident read model ----------------------------------------------------------

#: The incident's case as ``GET /v1/incidents`` shows it, a column of the ``incidents`` query.
CASE_SUMMARY = '''(SELECT jsonb_build_object(
        'status', COALESCE(c.status, 'open'),
        'closure', CASE WHEN c.status = 'closed' THEN jsonb_build_object(
            'basis', c.closure_basis, 'closed_on', c.closed_on, 'retain_until', c.retain_until,
            'retention_expired', c.retention_expired) END,
        'withdrawal', c.withdrawal,
        'local_investigation', COALESCE(l.status, 'open'),
        'investigation_owner_role', l.owner_role,
        'open_queries', (SELECT count(*) FROM authority_queries q
                         WHERE q.incident_id = incidents.incident_id AND q.answered_on IS NULL),
        'authority_closed_on', c.authority_closure ->> 'closed_on',
        'open_tasks', (SELECT count(*) FROM case_tasks t
                       WHERE t.incident_id = incidents.incident_id AND t.status = 'open'))
    FROM (SELECT 1) AS one
    LEFT JOIN incident_cases c ON c.incident_id = incidents.incident_id
    LEFT JOIN local_investigations l ON l.incident_id = incidents.incident_id) AS "case"'''

#: The local investigation's coding in the published taxonomies, on the incident's row as
#: ``investigation_coding`` (null until a close-out coded it), under the table's column names.
INVESTIGATION_CODING = """(SELECT jsonb_build_object(
        'error_taxonomy_version', l.error_taxonomy_version,
        'error_tier1_duty_holder', l.error_tier1_duty_holder,
        'error_tier2_pathway_point', l.error_tier2_pathway_point,
        'error_tier3_what_went_wrong', l.error_tier3_what_went_wrong,
        'rte_taxonomy_version', l.rte_taxonomy_version,
        'rte_level', l.rte_level,
        'rte_level_basis', l.rte_level_basis,
        'rte_process_subcodes', l.rte_process_subcodes,
        'rte_failed_safety_barriers', l.rte_failed_safety_barriers,
        'rte_effective_safety_barriers', l.rte_effective_safety_barriers,
        'rte_causative_factors', l.rte_causative_factors,
        'rte_detection_methods', l.rte_detection_methods)
    FROM local_investigations l
    WHERE l.incident_id = incidents.incident_id
      AND (l.error_taxonomy_version IS NOT NULL OR l.rte_taxonomy_version IS NOT NULL)
    ) AS investigation_coding"""

#: The incident's case status, for the ``case_status`` filter (an incident with no case event is open).
CASE_STATUS = """COALESCE((SELECT c.status FROM incident_cases c WHERE c.incident_id = incidents.incident_id),
                          'open')"""


async def open_tasks(conn: Connection, incident_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT task_id, kind, owner_role, due_at, overdue FROM case_tasks
           WHERE incident_id = $1 AND status = 'open' ORDER BY due_at NULLS LAST, task_id""",
        incident_id,
    )
    return [
        {
            "task_id": str(r["task_id"]),
            "kind": r["kind"],
            "owner_role": r["owner_role"],
            "due_at": r["due_at"].isoformat() if r["due_at"] else None,
            "overdue": r["overdue"],
        }
        for r in rows
    ]
