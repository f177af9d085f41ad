"""Submissions and investigation findings in PostgreSQL: as the projection stores them, and as
the commands and the API read them.

Each statement's WHERE holds the guard of its event (a version, or the row's status and
channel), so an event applied twice, late or out of order changes the row as the log's order
would: the live consumer and a replay apply these same statements.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from sievert_reporting.domain.documents import Findings
from sievert_shared.db import Connection
from sievert_shared.errors import NotFoundError
from sievert_shared.events.reporting import DocumentParticulars, SubmissionKind

# -- the projection's writes ---------------------------------------------------------------------


@dataclass(frozen=True)
class NewSubmission:
    """What a submission row is and whose it is: a draft and a submission made outside Sievert
    both create the row with these, the statements' first six parameters."""

    submission_id: uuid.UUID
    incident_id: uuid.UUID
    trust: str
    site: str
    kind: SubmissionKind
    authority: str

    def parameters(self) -> tuple[uuid.UUID, uuid.UUID, str, str, str, str]:
        return (self.submission_id, self.incident_id, self.trust, self.site, self.kind.value, self.authority)


async def store_draft(
    conn: Connection,
    new: NewSubmission,
    *,
    contact_role: str,
    summary: str | None,
    particulars: DocumentParticulars,
    stream_version: int,
    recorded_at: dt.datetime,
) -> None:
    """A draft, or a change to it. On a row recorded as submitted outside Sievert (the external
    submission came first in the log, though reporting drafted before it had consumed it) the
    draft's words are kept but the row stays submitted: the same state as when the draft came
    first, so a replay gives what incremental processing gave."""
    await conn.execute(
        """INSERT INTO submissions (submission_id, incident_id, trust, site, kind, authority, status,
                                    contact_role, summary, stream_version, updated_at, particulars)
           VALUES ($1, $2, $3, $4, $5, $6, 'draft', $7, $8, $9, $10, $11)
           ON CONFLICT (submission_id) DO UPDATE
              SET authority = $6, contact_role = $7, summary = $8, stream_version = $9, particulars = $11,
                  updated_at = CASE WHEN submissions.channel = 'external'
                                    THEN GREATEST(submissions.updated_at, $10) ELSE $10 END
            WHERE (submissions.status = 'draft' OR submissions.channel = 'external')
              AND submissions.stream_version < $9""",
        *new.parameters(),
        contact_role,
        summary,
        stream_version,
        recorded_at,
        particulars.model_dump(mode="json", exclude_none=True),
    )


async def store_issue(
    conn: Connection,
    *,
    submission_id: uuid.UUID,
    document: dict[str, Any],
    document_sha256: str,
    submitted_at: dt.datetime,
    submitted_by_role: str,
    stream_version: int,
    recorded_at: dt.datetime,
) -> None:
    """Sievert's own issue wins over a submission recorded outside it, whichever the log has first:
    reporting applied its issue before it consumed the external one, which it then ignored."""
    await conn.execute(
        """UPDATE submissions SET status = 'submitted', channel = 'sievert', reference = NULL,
                  document = $2, document_sha256 = $3, submitted_at = $4, submitted_by_role = $5,
                  stream_version = $6, updated_at = $7
           WHERE submission_id = $1 AND stream_version < $6""",
        submission_id,
        document,
        document_sha256,
        submitted_at,
        submitted_by_role,
        stream_version,
        recorded_at,
    )


async def store_acknowledgement(
    conn: Connection,
    *,
    submission_id: uuid.UUID,
    reference: str,
    acknowledged_at: dt.datetime,
    stream_version: int,
    recorded_at: dt.datetime,
) -> None:
    await conn.execute(
        """UPDATE submissions SET status = 'acknowledged', reference = $2, acknowledged_at = $3,
                  stream_version = $4, updated_at = $5
           WHERE submission_id = $1 AND stream_version < $4""",
        submission_id,
        reference,
        acknowledged_at,
        stream_version,
        recorded_at,
    )


async def store_external(
    conn: Connection,
    new: NewSubmission,
    *,
    submitted_at: dt.datetime,
    submitted_by_role: str,
    reference: str | None,
    recorded_at: dt.datetime,
) -> bool:
    """A submission made outside Sievert: a new row, or a draft's; one already submitted stays as
    it is (the first submission is the one the authority has). True if the row changed.

    stream_version stays 0: the envelope's version counts the deadlines service's stream, not
    reporting's, so it must not guard reporting's own events on this row."""
    changed = await conn.fetchval(
        """INSERT INTO submissions (submission_id, incident_id, trust, site, kind, authority, status,
                                    channel, submitted_at, submitted_by_role, reference, stream_version,
                                    updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, 'submitted', 'external', $7, $8, $9, 0, $10)
           ON CONFLICT (submission_id) DO UPDATE
              SET status = 'submitted', channel = 'external', submitted_at = $7, submitted_by_role = $8,
                  reference = $9, updated_at = GREATEST(submissions.updated_at, $10)
            WHERE submissions.status = 'draft'
           RETURNING true""",
        *new.parameters(),
        submitted_at,
        submitted_by_role,
        reference,
        recorded_at,
    )
    return bool(changed)


async def findings_for_update(conn: Connection, incident_id: uuid.UUID) -> tuple[Findings, int] | None:
    """The incident's findings and the stream version they were recorded at, locked; None if none."""
    row = await conn.fetchrow(
        "SELECT findings, stream_version FROM findings WHERE incident_id = $1 FOR UPDATE", incident_id
    )
    return (Findings.model_validate(row["findings"]), row["stream_version"]) if row else None


async def store_findings(
    conn: Connection,
    *,
    incident_id: uuid.UUID,
    trust: str,
    site: str,
    findings: Findings,
    recorded_by_role: str,
    stream_version: int,
    recorded_at: dt.datetime,
) -> None:
    await conn.execute(
        """INSERT INTO findings (incident_id, trust, site, findings, recorded_by_roles, stream_version,
                                 updated_at)
           VALUES ($1, $2, $3, $4, ARRAY[$5::text], $6, $7)
           ON CONFLICT (incident_id) DO UPDATE
              SET findings = $4, stream_version = $6, updated_at = $7,
                  recorded_by_roles = CASE WHEN $5::text = ANY(findings.recorded_by_roles)
                                           THEN findings.recorded_by_roles
                                           ELSE findings.recorded_by_roles || $5::text END""",
        incident_id,
        trust,
        site,
        findings.model_dump(mode="json"),
        recorded_by_role,
        stream_version,
        recorded_at,
    )


# -- reads -------------------------------------------------------------------------------------


async def submission(conn: Connection, trust: str, submission_id: uuid.UUID, *, lock: bool) -> asyncpg.Record:
    """The trust's submission; ``lock``: for a command's transaction."""
    row = await conn.fetchrow(
        f"""SELECT * FROM submissions WHERE submission_id = $1 AND trust = $2
            {"FOR UPDATE" if lock else ""}""",
        submission_id,
        trust,
    )
    if row is None:
        raise NotFoundError(f"no submission {submission_id} for trust {trust}")
    return row


async def any_submission(conn: Connection, submission_id: uuid.UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM submissions WHERE submission_id = $1", submission_id
    )
    return row


async def status_of(conn: Connection, submission_id: uuid.UUID) -> str | None:
    status: str | None = await conn.fetchval(
        "SELECT status FROM submissions WHERE submission_id = $1", submission_id
    )
    return status


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


async def findings(conn: Connection, incident_id: uuid.UUID) -> Findings:
    raw = await conn.fetchval("SELECT findings FROM findings WHERE incident_id = $1", incident_id)
    return Findings.model_validate(raw) if raw else Findings()


async def particulars_by_kind(conn: Connection, incident_id: uuid.UUID) -> dict[str, DocumentParticulars]:
    """Each of the incident's submissions' particulars, by kind."""
    rows = await conn.fetch("SELECT kind, particulars FROM submissions WHERE incident_id = $1", incident_id)
    return {row["kind"]: DocumentParticulars.model_validate(row["particulars"]) for row in rows}
