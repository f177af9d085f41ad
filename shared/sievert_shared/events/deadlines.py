"""Events the deadlines service emits (topic: ``Topics.deadlines``).

v2 of ``DeadlineScheduled`` and ``DeadlineApproaching`` say whether the window is provisional (the
decision is still undecided and the facts it waits for), the day the window counts from, and
whether a reminder is the early "as soon as possible" one; v2 of ``DeadlineMet`` and
``DeadlineExtended`` keep lateness honest (days late against the due that binds, an extension
agreed after the due). Earlier versions stay in the log and are read as v2 through the upcasters
at the end of this module.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, Field

from sievert_shared.events.registry import Event

_LONDON = ZoneInfo("Europe/London")


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


class DeadlineScheduledV1(_DeadlineEvent):
    event_type: ClassVar[str] = "DeadlineScheduled"
    schema_version: ClassVar[int] = 1

    discovered_on: dt.date
    authority: str | None = Field(default=None, description="Enforcing authority for notifiable windows.")


class DeadlineScheduled(_DeadlineEvent):
    """A window opened, or changed (firm after provisional, moved, another authority)."""

    event_type: ClassVar[str] = "DeadlineScheduled"
    schema_version: ClassVar[int] = 2

    discovered_on: dt.date
    authority: str | None = Field(default=None, description="Enforcing authority for notifiable windows.")
    clock_from: dt.date | None = Field(
        default=None,
        description=(
            "The day the window counts from: the discovery date, or for code M from a thematic "
            "review, the day the theme was identified (line 278). Read as discovered_on when absent."
        ),
    )
    provisional: bool = Field(
        default=False,
        description=(
            "The decision is undecided: the 2-week notification window runs from discovery while "
            "the facts in needs_facts are awaited (line 219); it becomes firm or is cancelled when "
            "they arrive."
        ),
    )
    needs_facts: list[str] = Field(
        default_factory=list, description="Provisional windows: the facts that would settle the decision."
    )


class DeadlineApproachingV1(_DeadlineEvent):
    event_type: ClassVar[str] = "DeadlineApproaching"
    schema_version: ClassVar[int] = 1

    reminder: str = Field(description="The reminder offset that fired, ISO 8601 duration, e.g. 'P7D'.")


class DeadlineApproaching(_DeadlineEvent):
    event_type: ClassVar[str] = "DeadlineApproaching"
    schema_version: ClassVar[int] = 2

    reminder: str = Field(
        description=(
            "The reminder offset that fired, ISO 8601 duration: before the due (e.g. 'P7D'), or for "
            "the early reminder, after the day the window counts from (e.g. 'P2D')."
        )
    )
    early: bool = Field(
        default=False,
        description=(
            "The early reminder of the notification window: notify 'as soon as possible' once the "
            "criteria are shown to be met (line 218), long before the 2 weeks are up."
        ),
    )
    provisional: bool = Field(default=False, description="The window is provisional (decision undecided).")
    needs_facts: list[str] = Field(
        default_factory=list, description="Provisional windows: the facts still missing when it fired."
    )


class DeadlineMissed(_DeadlineEvent):
    event_type: ClassVar[str] = "DeadlineMissed"
    schema_version: ClassVar[int] = 1


class DeadlineOverdue(_DeadlineEvent):
    event_type: ClassVar[str] = "DeadlineOverdue"
    schema_version: ClassVar[int] = 1

    days_overdue: int = Field(ge=1)


class DeadlineMetV1(_DeadlineEvent):
    event_type: ClassVar[str] = "DeadlineMet"
    schema_version: ClassVar[int] = 1

    met_at: AwareDatetime
    late: bool


class DeadlineMet(_DeadlineEvent):
    """The window was met. ``due_at`` is the window's current due (an agreed extension's, if
    any); lateness is counted against the due that binds: the statutory one, unless an extension
    agreed before it passed moved it."""

    event_type: ClassVar[str] = "DeadlineMet"
    schema_version: ClassVar[int] = 2

    met_at: AwareDatetime
    late: bool = Field(description="Met after the due that binds: exactly when days_late > 0.")
    days_late: int = Field(
        default=0,
        ge=0,
        description=(
            "Calendar days (Europe/London) after the last day in time that binds; 0 when on time. "
            "An extension agreed after the due had passed does not excuse the days before it."
        ),
    )


class DeadlineExtendedV1(_DeadlineEvent):
    event_type: ClassVar[str] = "DeadlineExtended"
    schema_version: ClassVar[int] = 1

    previous_due_at: AwareDatetime
    agreed_by: str = Field(max_length=200, description="Role and body who agreed, e.g. 'CQC inspector'.")
    reason: str = Field(max_length=1000)


class DeadlineExtended(_DeadlineEvent):
    event_type: ClassVar[str] = "DeadlineExtended"
    schema_version: ClassVar[int] = 2

    previous_due_at: AwareDatetime
    agreed_by: str = Field(max_length=200, description="Role and body who agreed, e.g. 'CQC inspector'.")
    reason: str = Field(max_length=1000)
    agreed_after_due: bool = Field(
        default=False,
        description=(
            "Agreed after the due that bound the window had passed: the miss stays on record, and a "
            "report met later is counted late against that due."
        ),
    )
    missed_at: AwareDatetime | None = Field(
        default=None, description="When agreed after the due: the instant the window was missed."
    )


class DeadlineCancelled(_DeadlineEvent):
    event_type: ClassVar[str] = "DeadlineCancelled"
    schema_version: ClassVar[int] = 1

    reason: str


# -- upcasters: v1 payloads read as v2 --------------------------------------------------------


def upcast_scheduled_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 windows were always firm and counted from discovery."""
    return {**payload, "clock_from": payload["discovered_on"], "provisional": False, "needs_facts": []}


def upcast_approaching_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 had no early reminder and no provisional window."""
    return {**payload, "early": False, "provisional": False, "needs_facts": []}


def upcast_met_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 said late or not against its ``due_at``; the days are counted against the same due."""
    days = 0
    if payload["late"]:
        due = dt.datetime.fromisoformat(payload["due_at"]).astimezone(_LONDON)
        met = dt.datetime.fromisoformat(payload["met_at"]).astimezone(_LONDON)
        last_day_in_time = (due - dt.timedelta(microseconds=1)).date()
        days = max(1, (met.date() - last_day_in_time).days)
    return {**payload, "days_late": days}


def upcast_extended_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 did not record when an extension was agreed, so none is read as agreed after its due."""
    return {**payload, "agreed_after_due": False, "missed_at": None}
