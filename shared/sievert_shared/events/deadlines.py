"""Events the deadlines service emits (topic: ``Topics.deadlines``)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import ClassVar

from pydantic import AwareDatetime, Field

from sievert_shared.events.registry import Event


class Window(enum.StrEnum):
    NOTIFICATION = "notification"
    """Regulation 8(4): notify the enforcing authority no later than 2 weeks after discovery."""
    INVESTIGATION_REPORT = "investigation_report"
    """Regulation 8(4): send the investigation report no later than 12 weeks after discovery."""
    LOCAL_INVESTIGATION = "local_investigation"
    """Regulation 8(3): non-notifiable incidents are investigated locally; the length is trust policy."""


class _DeadlineEvent(Event):
    topic: ClassVar[str] = "deadlines"

    window: Window
    due_at: AwareDatetime = Field(description="The instant the window closes (UTC).")


class DeadlineScheduled(_DeadlineEvent):
    event_type: ClassVar[str] = "DeadlineScheduled"
    schema_version: ClassVar[int] = 1

    discovered_on: dt.date
    authority: str | None = Field(default=None, description="Enforcing authority for notifiable windows.")


class DeadlineApproaching(_DeadlineEvent):
    event_type: ClassVar[str] = "DeadlineApproaching"
    schema_version: ClassVar[int] = 1

    reminder: str = Field(description="The reminder offset that fired, ISO 8601 duration, e.g. 'P7D'.")


class DeadlineMissed(_DeadlineEvent):
    event_type: ClassVar[str] = "DeadlineMissed"
    schema_version: ClassVar[int] = 1


class DeadlineOverdue(_DeadlineEvent):
    event_type: ClassVar[str] = "DeadlineOverdue"
    schema_version: ClassVar[int] = 1

    days_overdue: int = Field(ge=1)


class DeadlineMet(_DeadlineEvent):
    event_type: ClassVar[str] = "DeadlineMet"
    schema_version: ClassVar[int] = 1

    met_at: AwareDatetime
    late: bool


class DeadlineExtended(_DeadlineEvent):
    event_type: ClassVar[str] = "DeadlineExtended"
    schema_version: ClassVar[int] = 1

    previous_due_at: AwareDatetime
    agreed_by: str = Field(max_length=200, description="Role and body who agreed, e.g. 'CQC inspector'.")
    reason: str = Field(max_length=1000)


class DeadlineCancelled(_DeadlineEvent):
    event_type: ClassVar[str] = "DeadlineCancelled"
    schema_version: ClassVar[int] = 1

    reason: str
