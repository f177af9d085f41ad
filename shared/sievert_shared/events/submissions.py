"""Events about regulator submissions (topic: ``Topics.submissions``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AwareDatetime, Field

from sievert_shared.events.registry import Event


class NotificationSubmitted(Event):
    """The IR(ME)R notification went to the enforcing authority: meets the 2-week window."""

    event_type: ClassVar[str] = "NotificationSubmitted"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "submissions"

    authority: str
    submitted_at: AwareDatetime
    submitted_by_role: str = Field(max_length=100, description="Staff appear by role, never by name.")


class InvestigationReportSubmitted(Event):
    """The investigation report went to the enforcing authority: meets the 12-week window."""

    event_type: ClassVar[str] = "InvestigationReportSubmitted"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "submissions"

    authority: str
    submitted_at: AwareDatetime
    submitted_by_role: str = Field(max_length=100)
