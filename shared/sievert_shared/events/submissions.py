"""Events about regulator submissions (topic: ``Topics.submissions``).

Two producers emit them: reporting, when it issues a document it drafted (``producer`` =
``reporting``, always right after its ``SubmissionIssued``), and the deadlines service's
``POST /v1/incidents/{id}/submissions``, when the trust sent the notification or report outside
Sievert, e.g. through the regulator's portal (``producer`` = ``deadlines``). The deadlines service
meets the window either way; reporting records the second kind as submitted externally.

v2 of both adds ``reference``: the authority's reference for a submission made outside Sievert,
if the trust has one. v1 events are read as v2 with none (``upcast_submitted_v1_to_v2``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import AwareDatetime, Field

from sievert_shared.events.registry import Event

_REFERENCE = Field(
    default=None,
    min_length=1,
    max_length=64,
    pattern=r"^[A-Za-z0-9][A-Za-z0-9/_.-]*$",
    description="The authority's reference (e.g. from its portal), if given; never a patient identifier.",
)


class NotificationSubmittedV1(Event):
    """The IR(ME)R notification went to the enforcing authority: meets the 2-week window."""

    event_type: ClassVar[str] = "NotificationSubmitted"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "submissions"

    authority: str
    submitted_at: AwareDatetime
    submitted_by_role: str = Field(max_length=100, description="Staff appear by role, never by name.")


class NotificationSubmitted(Event):
    """The IR(ME)R notification went to the enforcing authority: meets the 2-week window.

    v2 added ``reference``; v1 is read as v2 with none."""

    event_type: ClassVar[str] = "NotificationSubmitted"
    schema_version: ClassVar[int] = 2
    topic: ClassVar[str] = "submissions"

    authority: str
    submitted_at: AwareDatetime
    submitted_by_role: str = Field(max_length=100, description="Staff appear by role, never by name.")
    reference: str | None = _REFERENCE


class InvestigationReportSubmittedV1(Event):
    """The investigation report went to the enforcing authority: meets the 12-week window."""

    event_type: ClassVar[str] = "InvestigationReportSubmitted"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "submissions"

    authority: str
    submitted_at: AwareDatetime
    submitted_by_role: str = Field(max_length=100)


class InvestigationReportSubmitted(Event):
    """The investigation report went to the enforcing authority: meets the 12-week window.

    v2 added ``reference``; v1 is read as v2 with none."""

    event_type: ClassVar[str] = "InvestigationReportSubmitted"
    schema_version: ClassVar[int] = 2
    topic: ClassVar[str] = "submissions"

    authority: str
    submitted_at: AwareDatetime
    submitted_by_role: str = Field(max_length=100)
    reference: str | None = _REFERENCE


def upcast_submitted_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 had no reference: the submission is read as one without a reference."""
    return {**payload, "reference": None}
