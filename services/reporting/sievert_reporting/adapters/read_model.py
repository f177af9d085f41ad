"""The incident read model in PostgreSQL: its rows as the projection stores them, and the reads
the API, the documents, the annual report and the dashboard make of it."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg
import msgspec

from sievert_reporting.adapters.case_store import CASE_STATUS, CASE_SUMMARY, INVESTIGATION_CODING
from sievert_reporting.domain.analysis import Clock
from sievert_reporting.domain.annual import Period, Row
from sievert_reporting.domain.dashboard import DUE_SOON
from sievert_reporting.domain.incident_row import IncidentChange, IncidentRow
from sievert_reporting.domain.rte_export import CodedEvent
from sievert_reporting.domain.shared_incidents import SharedIncidentRow
from sievert_reporting.domain.submissions import IncidentState
from sievert_shared.db import Connection, Where
from sievert_shared.decision import ClassificationDecision, upcast_decision_v1
from sievert_shared.errors import NotFoundError, UnprocessableError
from sievert_shared.events import DeadlineCountsChanged
from sievert_shared.facts import IncidentFacts

# -- the projection's writes ---------------------------------------------------------------------

#: The columns of ``incident_record``, in its order.
INCIDENT_COLUMNS = [
    "incident_id",
    "trust",
    "site",
    "nation",
    "modality",
    "exposure_kind",
    "discovered_on",
    "occurred_on",
    "facts",
    "facts_version",
    "reported_at",
    "notifiable",
    "codes",
    "authority",
    "csaue",
    "ruleset",
    "decision",
    "deadlines",
    "updated_at",
]
_encode = msgspec.json.Encoder().encode


def incident_record(row: IncidentRow) -> tuple[Any, ...]:
    """The row as ``INCIDENT_COLUMNS`` for a new incident; for a stored one, the parts to merge
    (``MERGE_SET``: facts, decision: NULL where nothing was applied; deadlines: the windows to
    set). jsonb values are JSON text, as bytes."""
    facts, decision = row.facts, row.decision
    deadlines = _encode(
        {
            w: {"due_at": d, "status": s, "stream_version": v, **row.deadline_details.get(w, {})}
            for w, (d, s, v) in row.deadlines.items()
        }
    )
    return (
        row.incident_id,
        row.trust,
        row.site,
        facts.nation if facts else None,
        facts.modality if facts else None,
        facts.exposure_kind if facts else None,
        facts.discovered_on if facts else None,
        facts.occurred_on if facts else None,
        facts.json if facts else None,
        row.facts_version if facts else 0,
        row.reported_at,
        decision.notifiable if decision else None,
        decision.codes if decision else [],
        decision.authority if decision else None,
        decision.csaue if decision else None,
        decision.ruleset if decision else None,
        decision.json if decision else None,
        deadlines,
        row.last_at,
    )


#: A stored incident takes only what was applied since (``incident_record``'s parts) from ``b``;
#: the guards ran before (``apply_change``), against the versions stored. A window's entry is
#: merged key by key: a met window keeps the day its clock counted from, which only its
#: scheduling said.
MERGE_SET = """
    nation = CASE WHEN b.facts IS NULL THEN i.nation ELSE b.nation END,
    modality = CASE WHEN b.facts IS NULL THEN i.modality ELSE b.modality END,
    exposure_kind = CASE WHEN b.facts IS NULL THEN i.exposure_kind ELSE b.exposure_kind END,
    discovered_on = CASE WHEN b.facts IS NULL THEN i.discovered_on ELSE b.discovered_on END,
    occurred_on = CASE WHEN b.facts IS NULL THEN i.occurred_on ELSE b.occurred_on END,
    facts = COALESCE(b.facts, i.facts),
    facts_version = CASE WHEN b.facts IS NULL THEN i.facts_version ELSE b.facts_version END,
    reported_at = CASE WHEN b.facts IS NULL THEN i.reported_at ELSE COALESCE(i.reported_at, b.reported_at) END,
    notifiable = CASE WHEN b.decision IS NULL THEN i.notifiable ELSE b.notifiable END,
    codes = CASE WHEN b.decision IS NULL THEN i.codes ELSE b.codes END,
    authority = CASE WHEN b.decision IS NULL THEN i.authority ELSE b.authority END,
    csaue = CASE WHEN b.decision IS NULL THEN i.csaue ELSE b.csaue END,
    ruleset = CASE WHEN b.decision IS NULL THEN i.ruleset ELSE b.ruleset END,
    decision = COALESCE(b.decision, i.decision),
    deadlines = i.deadlines || COALESCE(
        (SELECT jsonb_object_agg(d.key, COALESCE(i.deadlines -> d.key, '{}'::jsonb) || d.value)
         FROM jsonb_each(b.deadlines) d), '{}'::jsonb),
    updated_at = b.updated_at"""

_ONE_ROW = """SELECT $1::uuid AS incident_id, $2::text AS trust, $3::text AS site, $4::text AS nation,
       $5::text AS modality, $6::text AS exposure_kind, $7::date AS discovered_on,
       $8::date AS occurred_on, $9::text::jsonb AS facts, $10::int AS facts_version,
       $11::timestamptz AS reported_at, $12::bool AS notifiable, $13::text[] AS codes,
       $14::text AS authority, $15::bool AS csaue, $16::text AS ruleset,
       $17::text::jsonb AS decision, $18::text::jsonb AS deadlines, $19::timestamptz AS updated_at"""
_MERGE_ONE = f"UPDATE incidents i SET {MERGE_SET} FROM ({_ONE_ROW}) b WHERE i.incident_id = b.incident_id"

_ENSURE_ROW = """INSERT INTO incidents (incident_id, trust, site, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (incident_id) DO NOTHING"""
#: What the guards need of a row (``IncidentRow``'s versions).
_VERSION_COLUMNS = """facts_version, (decision ->> 'facts_version')::int AS decision_version,
    (SELECT COALESCE(jsonb_object_agg(key, (value ->> 'stream_version')::int), '{}')
     FROM jsonb_each(deadlines)) AS deadline_versions,
    reported_at IS NOT NULL AS has_reported_at"""
_VERSIONS = f"SELECT {_VERSION_COLUMNS} FROM incidents WHERE incident_id = $1 FOR UPDATE"
#: ``_ENSURE_ROW`` and ``_VERSIONS`` for many incidents in one statement. The rows it makes come
#: from its ``RETURNING``, the rest from its snapshot, locked in the order of their ids: a
#: data-modifying CTE's rows are not visible to the rest of its statement. A row another
#: transaction made after that snapshot is in neither, and is left to ``load_incident_row``.
_ENSURE_ROWS = f"""WITH made AS (
        INSERT INTO incidents (incident_id, trust, site, updated_at)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) ORDER BY 1
        ON CONFLICT (incident_id) DO NOTHING
        RETURNING incident_id, {_VERSION_COLUMNS}
    ), stored AS (
        SELECT incident_id, {_VERSION_COLUMNS} FROM incidents
        WHERE incident_id = ANY($1::uuid[]) ORDER BY incident_id FOR UPDATE
    )
    SELECT * FROM made UNION ALL SELECT * FROM stored"""


async def load_incident_row(conn: Connection, change: IncidentChange) -> IncidentRow:
    """The incident's row with its versions, locked; the first event about an incident makes it."""
    await conn.execute(_ENSURE_ROW, change.stream_id, change.trust, change.site, change.recorded_at)
    stored = await conn.fetchrow(_VERSIONS, change.stream_id)
    assert stored is not None  # made just above, and rows of this table are never deleted live
    return IncidentRow(
        change.stream_id,
        change.trust,
        change.site,
        facts_version=stored["facts_version"],
        decision_version=stored["decision_version"],
        deadline_versions=dict(stored["deadline_versions"]),
        has_reported_at=stored["has_reported_at"],
    )


@dataclass(frozen=True)
class FirstSeen:
    """An incident a batch of events is about, as its first event there names it: what makes
    its row if it has none, as ``load_incident_row`` would for that event."""

    incident_id: uuid.UUID
    trust: str
    site: str
    recorded_at: dt.datetime


async def load_incident_rows(
    conn: Connection, incidents: Sequence[FirstSeen]
) -> dict[uuid.UUID, IncidentRow]:
    """``load_incident_row`` for many incidents (each once) in one round trip: their rows made if
    need be, locked, with their versions. An incident missing from the answer (its row made by
    another transaction meanwhile) is read by ``load_incident_row``."""
    rows = await conn.fetch(
        _ENSURE_ROWS,
        [i.incident_id for i in incidents],
        [i.trust for i in incidents],
        [i.site for i in incidents],
        [i.recorded_at for i in incidents],
    )
    by_id = {i.incident_id: i for i in incidents}
    return {
        r["incident_id"]: IncidentRow(
            r["incident_id"],
            by_id[r["incident_id"]].trust,
            by_id[r["incident_id"]].site,
            facts_version=r["facts_version"],
            decision_version=r["decision_version"],
            deadline_versions=dict(r["deadline_versions"]),
            has_reported_at=r["has_reported_at"],
        )
        for r in rows
    }


async def store_incident_row(conn: Connection, row: IncidentRow) -> None:
    """Merge what was applied to a row ``load_incident_row`` gave."""
    record = [value.decode() if isinstance(value, bytes) else value for value in incident_record(row)]
    await conn.execute(_MERGE_ONE, *record)
    row.stored()


#: ``_MERGE_ONE`` for many rows, each a column of arrays (``unnest``). A row's codes are one
#: array each, which an array of arrays would flatten: they go as a JSON list instead.
_MERGE_MANY = f"""UPDATE incidents i SET {MERGE_SET} FROM (
        SELECT u.incident_id, u.nation, u.modality, u.exposure_kind, u.discovered_on, u.occurred_on,
               u.facts::jsonb AS facts, u.facts_version, u.reported_at, u.notifiable,
               ARRAY(SELECT jsonb_array_elements_text(u.codes::jsonb)) AS codes, u.authority, u.csaue,
               u.ruleset, u.decision::jsonb AS decision, u.deadlines::jsonb AS deadlines, u.updated_at
        FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::date[], $6::date[], $7::text[],
                    $8::int[], $9::timestamptz[], $10::bool[], $11::text[], $12::text[], $13::bool[],
                    $14::text[], $15::text[], $16::text[], $17::timestamptz[])
            AS u (incident_id, nation, modality, exposure_kind, discovered_on, occurred_on, facts,
                  facts_version, reported_at, notifiable, codes, authority, csaue, ruleset, decision,
                  deadlines, updated_at)
    ) b WHERE i.incident_id = b.incident_id"""


async def store_incident_rows(conn: Connection, rows: Sequence[IncidentRow]) -> None:
    """``store_incident_row`` for many rows (each once), in one statement."""
    if not rows:
        return
    columns: list[list[Any]] = [[] for _ in INCIDENT_COLUMNS]
    for row in rows:
        for column, value in zip(columns, incident_record(row), strict=True):
            column.append(value.decode() if isinstance(value, bytes) else value)
    codes = columns[INCIDENT_COLUMNS.index("codes")]
    codes[:] = [_encode(list(c)).decode() for c in codes]
    skipped = {INCIDENT_COLUMNS.index("trust"), INCIDENT_COLUMNS.index("site")}
    await conn.execute(_MERGE_MANY, *(c for i, c in enumerate(columns) if i not in skipped))
    for row in rows:
        row.stored()


# -- reads: incidents, with keyset pagination (stable under concurrent inserts) -----------------


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
    #: open, withdrawal_requested or closed (an incident no case event touched is open)
    case_status: str | None = None


class BadCursorError(UnprocessableError):
    def __init__(self) -> None:
        detail = "cursor is not one this service issued"
        super().__init__(detail, errors=[{"path": "query/cursor", "message": detail}])


def encode_cursor(discovered_on: dt.date | None, incident_id: uuid.UUID) -> str:
    raw = json.dumps([discovered_on.isoformat() if discovered_on else None, str(incident_id)])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[dt.date, uuid.UUID]:
    try:
        day, incident = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return (dt.date.fromisoformat(day) if day else dt.date.min), uuid.UUID(incident)
    except (ValueError, TypeError) as exc:
        raise BadCursorError() from exc


_COLUMNS = f"""incident_id, trust, site, nation, modality, exposure_kind, discovered_on, occurred_on,
              notifiable, codes, authority, csaue, ruleset, deadlines, reported_at, updated_at,
              {CASE_SUMMARY}, {INVESTIGATION_CODING}"""


async def list_incidents(
    conn: Connection, where: IncidentFilter, *, limit: int, cursor: str | None
) -> dict[str, Any]:
    sql = Where()
    add = sql.add
    # each filter given narrows the list; one not given (None) leaves it as it is
    conditions: tuple[tuple[str, object], ...] = (
        ("trust = ?", where.trust),
        ("site = ?", where.site),
        ("notifiable = ?", where.notifiable),
        ("authority = ?", where.authority),
        ("? = ANY(codes)", where.code),
        ("modality = ?", where.modality),
        ("discovered_on >= ?", where.discovered_from),
        ("discovered_on <= ?", where.discovered_to),
        (f"{CASE_STATUS} = ?", where.case_status),
    )
    for condition, value in conditions:
        if value is not None:
            add(condition, value)
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
    return {"items": [json_row(r) for r in page], "next_cursor": next_cursor}


async def get_incident(conn: Connection, incident_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS}, facts, decision FROM incidents WHERE incident_id = $1", incident_id
    )
    return json_row(row) if row else None


def json_row(row: asyncpg.Record) -> dict[str, Any]:
    """A row with its dates, timestamps and ids as JSON strings."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dt.datetime | dt.date):
            out[key] = value.isoformat()
        elif isinstance(value, uuid.UUID):
            out[key] = str(value)
        else:
            out[key] = value
    return out


Owned = Literal["incidents", "submissions", "themes"]
_KEYS: dict[Owned, str] = {"incidents": "incident_id", "submissions": "submission_id", "themes": "theme_id"}


async def owner_of(conn: Connection, table: Owned, key: uuid.UUID) -> tuple[str, str] | None:
    """The (trust, site) a row belongs to, or None: what the routes check the caller against
    before they act on the row."""
    row = await conn.fetchrow(f"SELECT trust, site FROM {table} WHERE {_KEYS[table]} = $1", key)
    return (row["trust"], row["site"]) if row else None


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


async def classified_incident(
    conn: Connection, trust: str, incident_id: uuid.UUID, *, lock: bool
) -> IncidentState:
    """The trust's incident with its facts and decision; ``lock``: for a command's transaction."""
    row = await conn.fetchrow(
        f"""SELECT incident_id, trust, site, facts, decision FROM incidents
            WHERE incident_id = $1 AND trust = $2 {"FOR UPDATE" if lock else ""}""",
        incident_id,
        trust,
    )
    if row is None or row["facts"] is None or row["decision"] is None:
        raise NotFoundError(f"no classified incident {incident_id} for trust {trust} (yet)")
    decision = {k: v for k, v in row["decision"].items() if k != "facts_version"}
    return IncidentState(
        incident_id=row["incident_id"],
        trust=row["trust"],
        site=row["site"],
        facts=IncidentFacts.model_validate(row["facts"]),
        decision=ClassificationDecision.model_validate(upcast_decision_v1(decision)),
    )


async def site_with_facts(conn: Connection, trust: str, incident_id: uuid.UUID) -> str | None:
    """The site of the trust's incident once its facts are projected, else None."""
    site: str | None = await conn.fetchval(
        "SELECT site FROM incidents WHERE incident_id = $1 AND trust = $2 AND facts IS NOT NULL",
        incident_id,
        trust,
    )
    return site


async def is_incident_of(conn: Connection, trust: str, incident_id: uuid.UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM incidents WHERE incident_id = $1 AND trust = $2", incident_id, trust
        )
    )


async def incidents_discovered(
    conn: Connection, trust: str, start: dt.date, end: dt.date, *, besides: uuid.UUID
) -> list[dict[str, Any]]:
    """The trust's other incidents discovered from ``start`` to ``end``: candidates for "similar"."""
    rows = await conn.fetch(
        """SELECT incident_id, site, modality, codes, notifiable, discovered_on FROM incidents
           WHERE trust = $1 AND discovered_on BETWEEN $2 AND $3 AND incident_id <> $4""",
        trust,
        start,
        end,
        besides,
    )
    return [dict(r.items()) for r in rows]


async def annual_rows(conn: Connection, trust: str, period: Period) -> list[Row]:
    """The trust's incidents discovered in ``period``, with their findings' error categories and
    their investigation's coding in the published taxonomies."""
    records = await conn.fetch(
        """SELECT i.site, i.modality, i.exposure_kind, i.codes, i.notifiable, i.discovered_on,
                  f.findings ->> 'error_duty_holder' AS duty_holder,
                  f.findings ->> 'error_process_step' AS process_step,
                  l.error_tier1_duty_holder AS cqc_duty_holder,
                  l.error_tier2_pathway_point AS cqc_pathway_point,
                  l.error_tier3_what_went_wrong AS cqc_what_went_wrong,
                  l.rte_level::text AS rte_level
           FROM incidents i LEFT JOIN findings f USING (incident_id)
                LEFT JOIN local_investigations l USING (incident_id)
           WHERE i.trust = $1 AND i.discovered_on BETWEEN $2 AND $3""",
        trust,
        period.start,
        period.end,
    )
    return [Row(**{**dict(r.items()), "codes": tuple(r["codes"])}) for r in records]


async def rte_events(conn: Connection, trust: str, start: dt.date, end: dt.date) -> list[CodedEvent]:
    """The trust's radiotherapy incidents discovered from ``start`` to ``end`` whose investigation's
    close-out coded them in the radiotherapy event taxonomy."""
    records = await conn.fetch(
        """SELECT i.site, i.discovered_on, l.rte_taxonomy_version, l.rte_level, l.rte_level_basis,
                  l.rte_process_subcodes, l.rte_failed_safety_barriers, l.rte_effective_safety_barriers,
                  l.rte_causative_factors, l.rte_detection_methods
           FROM local_investigations l JOIN incidents i USING (incident_id)
           WHERE l.trust = $1 AND l.rte_level IS NOT NULL AND i.discovered_on BETWEEN $2 AND $3""",
        trust,
        start,
        end,
    )
    return [
        CodedEvent(
            site=r["site"],
            discovered_on=r["discovered_on"],
            taxonomy_version=r["rte_taxonomy_version"],
            level=r["rte_level"],
            level_basis=r["rte_level_basis"],
            process_subcodes=tuple(r["rte_process_subcodes"]),
            failed_safety_barriers=tuple(r["rte_failed_safety_barriers"]),
            effective_safety_barriers=tuple(r["rte_effective_safety_barriers"]),
            causative_factors=tuple(r["rte_causative_factors"]),
            detection_methods=tuple(r["rte_detection_methods"]),
        )
        for r in records
    ]


async def analysis_clocks(conn: Connection, trust: str, period: Period) -> list[Clock]:
    """The notification and report windows of the trust's incidents discovered in ``period``, as
    their clocks' events left them (``DeadlinePart``'s timeliness, merged per window)."""
    rows = await conn.fetch(
        """SELECT i.incident_id, i.site, d.key AS window, d.value ->> 'status' AS status,
                  (d.value ->> 'due_at')::timestamptz AS due_at,
                  COALESCE((d.value ->> 'clock_from')::date, i.discovered_on) AS clock_from,
                  (d.value ->> 'met_at')::timestamptz AS met_at, (d.value ->> 'days_late')::int AS days_late
           FROM incidents i, jsonb_each(i.deadlines) d
           WHERE i.trust = $1 AND i.discovered_on BETWEEN $2 AND $3
             AND d.key IN ('notification', 'investigation_report')
           ORDER BY i.discovered_on, i.incident_id, d.key""",
        trust,
        period.start,
        period.end,
    )
    return [Clock(**{**dict(r.items()), "incident_id": str(r["incident_id"])}) for r in rows]


async def deadline_counts(
    conn: Connection, trusts: Sequence[str], now: dt.datetime
) -> dict[str, DeadlineCountsChanged]:
    """The deadline counts of each of ``trusts`` (``domain.dashboard.deadline_counts``, counted
    here so the windows never leave PostgreSQL); a trust with no window counts zeros."""
    rows = await conn.fetch(
        """SELECT i.trust,
                  count(*) FILTER (WHERE d.value ->> 'status' = 'open') AS open,
                  count(*) FILTER (WHERE d.value ->> 'status' = 'missed') AS missed,
                  count(*) FILTER (WHERE d.value ->> 'status' = 'met') AS met,
                  count(*) FILTER (WHERE d.value ->> 'status' = 'open'
                                   AND (d.value ->> 'due_at')::timestamptz BETWEEN $2 AND $3) AS due_soon
           FROM incidents i, jsonb_each(i.deadlines) d WHERE i.trust = ANY($1::text[])
           GROUP BY i.trust""",
        list(trusts),
        now,
        now + DUE_SOON,
    )
    counted = {
        r["trust"]: DeadlineCountsChanged(
            trust=r["trust"],
            open=r["open"],
            missed=r["missed"],
            met=r["met"],
            due_within_7_days=r["due_soon"],
        )
        for r in rows
    }
    return {
        t: counted.get(t) or DeadlineCountsChanged(trust=t, open=0, missed=0, met=0, due_within_7_days=0)
        for t in trusts
    }


async def mark_processed(conn: Connection, consumer: str, event_id: uuid.UUID, topic: str) -> None:
    """An event applied in the transaction that emitted it: its copy consumed back is skipped."""
    await conn.execute(
        """INSERT INTO processed_events (consumer, event_id, topic, kafka_partition, kafka_offset)
           VALUES ($1, $2, $3, -1, -1)""",
        consumer,
        event_id,
        topic,
    )


_SHARED = """SELECT i.incident_id, i.discovered_on, i.modality, i.facts -> 'employers' AS employers,
                    s.status, s.authority, s.reference
               FROM incidents i
               LEFT JOIN submissions s ON s.incident_id = i.incident_id AND s.kind = 'notification'
              WHERE i.facts -> 'employers' @> jsonb_build_array(jsonb_build_object('trust_code', $1::text))
                AND i.trust <> $1"""


def _shared_row(row: asyncpg.Record) -> SharedIncidentRow:
    return SharedIncidentRow(
        incident_id=row["incident_id"],
        discovered_on=row["discovered_on"],
        modality=row["modality"],
        employers=row["employers"],
        notification_status=row["status"],
        notification_authority=row["authority"],
        notification_reference=row["reference"],
    )


async def shared_incidents(conn: Connection, trust: str, *, limit: int) -> list[SharedIncidentRow]:
    """Incidents other trusts reported that name ``trust`` among their employers (migration 0010's
    index), newest discovery first."""
    rows = await conn.fetch(
        f"{_SHARED} ORDER BY COALESCE(i.discovered_on, '-infinity'::date) DESC, i.incident_id DESC LIMIT $2",
        trust,
        limit,
    )
    return [_shared_row(r) for r in rows]


async def shared_incident(conn: Connection, trust: str, incident_id: uuid.UUID) -> SharedIncidentRow | None:
    """One of them, or None (not shared with ``trust``, or ``trust``'s own incident)."""
    row = await conn.fetchrow(f"{_SHARED} AND i.incident_id = $2", trust, incident_id)
    return _shared_row(row) if row else None
