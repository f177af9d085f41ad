"""The enforcing authority's correspondence about a notified incident (guidance lines 116-131):
its reference number (line 116), its queries and the trust's answers ("If we need more details we
may contact you", line 118), and its closure of the notification (line 129: "signal closure of
the notification by email"). Pure.

Only a notified incident has correspondence: one whose notification was issued in Sievert or
recorded as sent outside it. The commands decide an event, None for a repeat of what is recorded
already (the same answer, no second event), or a refusal.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from sievert_reporting.domain.view import Section, Table
from sievert_shared.errors import ConflictError, NotFoundError, UnprocessableError
from sievert_shared.events import AuthorityClosedCase, AuthorityQueryAnswered, AuthorityQueryReceived

_QUERY_NAMESPACE = uuid.UUID("0c5b7d0e-8a53-4a38-9d8e-2f3b6f0a4c71")
#: A letter may be dated tomorrow at most: a trust a time zone ahead of the server's UTC day.
FUTURE_ALLOWANCE = dt.timedelta(days=1)


@dataclass(frozen=True)
class Notified:
    """The incident's notification as the authority has it."""

    authority: str
    submitted_on: dt.date
    channel: str  # sievert | external
    reference: str | None  # the authority's (SubmissionAcknowledged, or given with an external one)


@dataclass(frozen=True)
class Query:
    query_id: uuid.UUID
    received_on: dt.date
    summary: str
    recorded_by_role: str
    answered_on: dt.date | None = None
    answer: str | None = None
    answered_by_role: str | None = None


@dataclass(frozen=True)
class Closure:
    authority: str
    closed_on: dt.date
    reference: str | None
    recorded_by_role: str
    recorded_at: dt.datetime


class NeverNotifiedError(ConflictError):
    title = "Never notified"

    def __init__(self, incident_id: uuid.UUID) -> None:
        super().__init__(
            f"incident {incident_id} was never notified to an enforcing authority (no notification was "
            "issued in Sievert nor recorded as sent outside it), so the authority has no case to write "
            "about or close"
        )


def _refuse(errors: list[dict[str, str]]) -> None:
    if errors:
        raise UnprocessableError(f"{len(errors)} field(s) are invalid; nothing was stored", errors=errors)


def _dated(
    field: str, day: dt.date, *, not_before: dt.date, what: str, today: dt.date
) -> list[dict[str, str]]:
    if day < not_before:
        return [{"path": f"body/{field}", "message": f"{day} is before {what} ({not_before})"}]
    if day > today + FUTURE_ALLOWANCE:
        return [{"path": f"body/{field}", "message": f"{day} is in the future (today is {today})"}]
    return []


def _blank(field: str, text: str) -> list[dict[str, str]]:
    return [{"path": f"body/{field}", "message": "must not be blank"}] if not text.strip() else []


def query_id_for(incident_id: uuid.UUID, received_on: dt.date, summary: str) -> uuid.UUID:
    """Derived from what was asked, so recording the same query twice finds the first."""
    return uuid.uuid5(_QUERY_NAMESPACE, f"{incident_id}/{received_on.isoformat()}/{summary.strip()}")


def receive_query(
    incident_id: uuid.UUID,
    notified: Notified | None,
    known: dict[uuid.UUID, Query],
    *,
    received_on: dt.date,
    summary: str,
    recorded_by_role: str,
    today: dt.date,
) -> tuple[uuid.UUID, AuthorityQueryReceived | None]:
    """The authority asked for more details (line 118). The query's id, and the event (None: this
    query is recorded already)."""
    if notified is None:
        raise NeverNotifiedError(incident_id)
    query_id = query_id_for(incident_id, received_on, summary)
    if query_id in known:
        return query_id, None
    _refuse(
        _blank("summary", summary)
        + _dated(
            "received_on",
            received_on,
            not_before=notified.submitted_on,
            what="the notification was sent",
            today=today,
        )
    )
    return query_id, AuthorityQueryReceived(
        query_id=query_id,
        authority=notified.authority,
        received_on=received_on,
        summary=summary.strip(),
        recorded_by_role=recorded_by_role,
    )


def answer_query(
    query: Query | None,
    query_id: uuid.UUID,
    *,
    answered_on: dt.date,
    summary: str,
    answered_by_role: str,
    today: dt.date,
) -> AuthorityQueryAnswered | None:
    """The trust's answer to a query. None: this answer is recorded already; a different answer to
    an answered query is refused (409): the authority has the first."""
    if query is None:
        raise NotFoundError(f"no authority query {query_id} for this incident")
    if query.answered_on is not None:
        if query.answered_on == answered_on and query.answer == summary.strip():
            return None
        raise ConflictError(
            f"query {query_id} was answered on {query.answered_on} by {query.answered_by_role}; "
            "record further correspondence as a new query"
        )
    _refuse(
        _blank("summary", summary)
        + _dated(
            "answered_on",
            answered_on,
            not_before=query.received_on,
            what="the query was received",
            today=today,
        )
    )
    return AuthorityQueryAnswered(
        query_id=query_id, answered_on=answered_on, summary=summary.strip(), answered_by_role=answered_by_role
    )


def record_closure(
    incident_id: uuid.UUID,
    notified: Notified | None,
    current: Closure | None,
    *,
    case_reopened_at: dt.datetime | None,
    closed_on: dt.date,
    reference: str | None,
    recorded_by_role: str,
    today: dt.date,
) -> AuthorityClosedCase | None:
    """The authority closed the notification (line 129). None: this closure is recorded already.
    Another closure is refused (409) unless the case was reopened after the recorded one (the
    authority wrote again, and closes it again)."""
    if notified is None:
        raise NeverNotifiedError(incident_id)
    reference = reference or notified.reference
    if current is not None and (case_reopened_at is None or case_reopened_at < current.recorded_at):
        if current.closed_on == closed_on and current.reference == reference:
            return None
        raise ConflictError(
            f"the authority's closure of {current.closed_on} (reference {current.reference or 'none'}) "
            "is recorded already"
        )
    _refuse(
        _dated(
            "closed_on",
            closed_on,
            not_before=notified.submitted_on,
            what="the notification was sent",
            today=today,
        )
    )
    return AuthorityClosedCase(
        authority=notified.authority,
        closed_on=closed_on,
        reference=reference,
        recorded_by_role=recorded_by_role,
    )


# -- in the 12-week report ---------------------------------------------------------------------


class CorrespondenceQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    received_on: dt.date
    summary: str
    answered_on: dt.date | None
    answer: str | None


class AuthorityCorrespondence(BaseModel):
    """The authority's reference (line 116: "Use this reference number whenever you contact us")
    and what it asked and was answered (line 118), as the investigation report carries them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reference: str | None
    queries: list[CorrespondenceQuery]


def correspondence(notified: Notified, queries: list[Query]) -> AuthorityCorrespondence:
    return AuthorityCorrespondence(
        reference=notified.reference,
        queries=[
            CorrespondenceQuery(
                received_on=q.received_on, summary=q.summary, answered_on=q.answered_on, answer=q.answer
            )
            for q in sorted(queries, key=lambda q: (q.received_on, str(q.query_id)))
        ],
    )


def correspondence_section(found: AuthorityCorrespondence) -> Section:
    """The report's section "Correspondence with the authority": its reference and the queries."""
    return Section(
        "Correspondence with the authority",
        fields=(("Authority's reference", found.reference or "not given"),),
        tables=(
            Table(
                "authority_correspondence",
                "Details the authority asked for, and the answers",
                ("received_on", "query", "answered_on", "answer"),
                tuple(
                    (
                        q.received_on.isoformat(),
                        q.summary,
                        q.answered_on.isoformat() if q.answered_on else None,
                        q.answer,
                    )
                    for q in found.queries
                ),
            ),
        ),
    )


def authority_view(
    notified: Notified | None, queries: list[Query], closure: Closure | None
) -> dict[str, Any]:
    """What ``GET /v1/incidents/{id}/authority`` shows."""
    ordered = sorted(queries, key=lambda q: (q.received_on, str(q.query_id)))
    return {
        "notified": notified is not None,
        "authority": notified.authority if notified else None,
        "reference": notified.reference if notified else None,
        "notification": (
            {"submitted_on": notified.submitted_on.isoformat(), "channel": notified.channel}
            if notified
            else None
        ),
        "queries": [
            {
                "query_id": str(q.query_id),
                "received_on": q.received_on.isoformat(),
                "summary": q.summary,
                "recorded_by_role": q.recorded_by_role,
                "status": "answered" if q.answered_on else "open",
                "answered_on": q.answered_on.isoformat() if q.answered_on else None,
                "answer": q.answer,
                "answered_by_role": q.answered_by_role,
            }
            for q in ordered
        ],
        "open_queries": sum(1 for q in queries if q.answered_on is None),
        "closure": (
            {
                "closed_on": closure.closed_on.isoformat(),
                "reference": closure.reference,
                "recorded_by_role": closure.recorded_by_role,
            }
            if closure
            else None
        ),
    }
