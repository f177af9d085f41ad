"""Submissions to the authorities: their ids, what refuses a command, and what an incident must
hold before a document is built. Pure."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from sievert_reporting.domain.anonymity import IdentifierFound, scan_fields
from sievert_shared.decision import ClassificationDecision
from sievert_shared.errors import ConflictError, NotFoundError, UnprocessableError
from sievert_shared.events import (
    InvestigationReportSubmitted,
    NotificationSubmitted,
    SubmissionAcknowledged,
    SubmissionDrafted,
    SubmissionIssued,
)
from sievert_shared.events.reporting import SubmissionKind
from sievert_shared.facts import IncidentFacts, notifying_employer

#: The producer name on reporting's own envelopes (its runtime's name).
OWN_PRODUCER = "reporting"
_SUBMISSION_NAMESPACE = uuid.UUID("6f1f8a52-64c4-4c0b-9d53-5e7f3e0c2a11")

#: The status each of reporting's own submission events leaves its submission in.
STATUS_AFTER = {
    SubmissionDrafted: "draft",
    SubmissionIssued: "submitted",
    SubmissionAcknowledged: "acknowledged",
}


def submission_id_for(incident_id: uuid.UUID, kind: SubmissionKind) -> uuid.UUID:
    """One submission per incident and kind: the id is derived, so a repeat finds the first, and a
    submission made outside Sievert lands on the same row."""
    return uuid.uuid5(_SUBMISSION_NAMESPACE, f"{incident_id}/{kind.value}")


def kind_submitted(event: NotificationSubmitted | InvestigationReportSubmitted) -> SubmissionKind:
    return (
        SubmissionKind.NOTIFICATION
        if isinstance(event, NotificationSubmitted)
        else SubmissionKind.INVESTIGATION_REPORT
    )


@dataclass(frozen=True)
class IncidentState:
    """A classified incident of the read model, as the documents need it."""

    incident_id: uuid.UUID
    trust: str
    site: str
    facts: IncidentFacts
    decision: ClassificationDecision


class IdentifiersFoundError(UnprocessableError):
    title = "Identifiers are not allowed"

    def __init__(self, found: list[IdentifierFound]) -> None:
        super().__init__(
            "free text must not identify a patient or a member of staff; nothing was stored",
            errors=[{"path": f"body/{f.path}", "message": f.message, "type": f.kind} for f in found],
        )
        self.found = found


class IncompleteDocumentError(ConflictError):
    """A document lacks items its type and codes require (``domain.completeness``): nothing is sent."""

    title = "Document incomplete"

    def __init__(self, kind: SubmissionKind, missing: list[dict[str, Any]]) -> None:
        listed = "; ".join(
            f"{m['item']} (line{'s' if len(m['guidance_lines']) > 1 else ''} "
            f"{', '.join(map(str, m['guidance_lines']))})"
            for m in missing
        )
        super().__init__(
            f"the {kind.value.replace('_', ' ')} lacks {len(missing)} item(s) the guidance requires: "
            f"{listed}; nothing was sent",
            missing=missing,
        )
        self.missing = missing


class NotNotifiableError(ConflictError):
    """The incident's current decision does not call for this document."""

    title = "Not a statutory notification"


def refuse_unless_decision_allows(kind: SubmissionKind, incident: IncidentState) -> None:
    """Drafting and issuing check the current decision (it may have changed since the draft):
    a statutory notification or report needs a notifiable incident (line 218: the criteria shown
    to be met); a voluntary one needs an incident below the statutory criteria (line 268); a
    licensing-breach notification is not a Regulation 8(4) notification and needs neither."""
    decision = incident.decision
    if kind in (SubmissionKind.NOTIFICATION, SubmissionKind.INVESTIGATION_REPORT) and not decision.notifiable:
        open_facts = ", ".join(decision.needs_facts_for_notification)
        why = (
            f"undecided: it still needs {open_facts}"
            if decision.status.value == "undecided"
            else "no statutory criterion is met"
        )
        raise NotNotifiableError(
            f"incident {incident.incident_id} is not notifiable ({why}); a statutory "
            f"{kind.value.replace('_', ' ')} cannot be sent. It is investigated locally under Regulation 8(3), "
            "and a voluntary notification (kind voluntary_notification, code V, line 268) is still possible",
            decision_status=decision.status.value,
        )
    if kind is SubmissionKind.VOLUNTARY_NOTIFICATION and decision.notifiable:
        raise NotNotifiableError(
            f"incident {incident.incident_id} is notifiable ({', '.join(decision.codes) or 'code to be named'}): "
            "it needs the statutory notification (kind notification), not a voluntary one",
            decision_status=decision.status.value,
        )


class AnotherEmployerNotifiesError(ConflictError):
    """Several employers, and another one makes the statutory notification and report."""

    title = "Another employer notifies"


def refuse_unless_this_trust_notifies(kind: SubmissionKind, incident: IncidentState) -> None:
    """Several employers (docs/classifier.md, "Several employers"): one notifies and reports for the
    exposure (lines 43, 51, 216), so the authority gets one notification with one reference (line
    116). A trust whose duty rests with another employer does not send a second one: it records the
    other's notification as made outside Sievert, with the authority's reference."""
    if kind not in (SubmissionKind.NOTIFICATION, SubmissionKind.INVESTIGATION_REPORT):
        return
    notifier = notifying_employer(incident.facts.employers)
    if notifier is None or notifier.trust_code == incident.trust:
        return
    raise AnotherEmployerNotifiesError(
        f"the {kind.value.replace('_', ' ')} for incident {incident.incident_id} is made by {notifier.name}, "
        "the notifying employer named in its facts; record it with the authority's reference as made outside "
        "Sievert (the deadlines service's POST /v1/incidents/{id}/submissions) rather than send a second one",
        notifying_employer=notifier.name,
    )


class SubmissionExistsError(ConflictError):
    """The incident has a submission of that kind already; the answer points at it."""

    def __init__(self, detail: str, submission_id: uuid.UUID) -> None:
        super().__init__(detail, submission_id=str(submission_id))
        self.location = f"/v1/submissions/{submission_id}"


class SubmissionRow(Protocol):
    """A submission's row of the read model, read by column name."""

    def __getitem__(self, column: str, /) -> Any: ...


def refuse_identifiers(fields: dict[str, object]) -> None:
    found = scan_fields(fields)
    if found:
        raise IdentifiersFoundError(found)


def sent_outside(row: SubmissionRow) -> str:
    """Why reporting will not draft or issue a submission the trust already made outside Sievert."""
    reference = f", reference {row['reference']}" if row["reference"] else ""
    submitted_at: dt.datetime = row["submitted_at"]
    return (
        f"the {row['kind'].replace('_', ' ')} for incident {row['incident_id']} was submitted outside "
        f"Sievert ({row['authority']}, {submitted_at.isoformat()}, by {row['submitted_by_role']}"
        f"{reference}); Sievert does not draft or issue a second one"
    )


def no_copy_of(row: SubmissionRow) -> NotFoundError:
    """Sent outside Sievert: the document the authority has is not Sievert's to show, and building
    one now would pass off today's read model as what was sent."""
    return NotFoundError(f"{sent_outside(row)}; Sievert holds no copy of its document")
