"""Helpers for the deadlines domain tests: readable event summaries and a fake timer store."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sievert_deadlines.domain import (
    NOTIFICATION_DAYS,
    DeadlineEvent,
    DeadlinePolicy,
    Decision,
    IncidentDeadlines,
    PlannedTimer,
    fire,
    overdue_instant,
    reminder_instant,
)
from sievert_shared.events.cases import (
    CaseClosed,
    CaseReopened,
    CaseRetentionExpired,
    NotificationWithdrawalAgreed,
    NotificationWithdrawalRequested,
)
from sievert_shared.events.deadlines import (
    DeadlineApproaching,
    DeadlineCancelled,
    DeadlineExtended,
    DeadlineMet,
    DeadlineMissed,
    DeadlineOverdue,
    DeadlineScheduled,
)

LONDON = ZoneInfo("Europe/London")
INCIDENT = uuid.UUID("00000000-0000-4000-8000-000000000001")


def london(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=LONDON)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def zulu(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")


def describe(event: DeadlineEvent) -> str:
    """One line per event, so expected sequences read as a table."""
    match event:
        case DeadlineScheduled():
            provisional = " provisional" if event.provisional else ""
            return f"Scheduled {event.window} due {zulu(event.due_at)}{provisional}"
        case DeadlineApproaching():
            early = " early" if event.early else ""
            provisional = f" provisional awaiting {', '.join(event.needs_facts)}" if event.provisional else ""
            return f"Approaching {event.window} {event.reminder}{early}{provisional}"
        case DeadlineMissed():
            return f"Missed {event.window}"
        case DeadlineOverdue():
            return f"Overdue {event.window} {event.days_overdue}"
        case DeadlineMet():
            return f"Met {event.window} {'late' if event.late else 'on time'}"
        case DeadlineExtended():
            return f"Extended {event.window} due {zulu(event.due_at)}"
        case DeadlineCancelled():
            return f"Cancelled {event.window}"
        case NotificationWithdrawalRequested():
            return f"WithdrawalRequested {event.authority}"
        case NotificationWithdrawalAgreed():
            return f"WithdrawalAgreed {event.authority_reference}"
        case CaseClosed():
            return f"CaseClosed {event.basis} {event.closed_on} until {event.retain_until}"
        case CaseReopened():
            return "CaseReopened"
        case CaseRetentionExpired():
            return f"CaseRetentionExpired {event.retain_until}"


def describe_all(events: tuple[DeadlineEvent, ...] | list[DeadlineEvent]) -> list[str]:
    return [describe(event) for event in events]


def earliest_allowed(event: DeadlineEvent) -> dt.datetime | None:
    """The instant a timer-driven event may exist from, read off the event alone; ``None`` for
    events a transition emits (they have no timer)."""
    match event:
        case DeadlineApproaching():
            found = re.fullmatch(r"P(\d+)D", event.reminder)
            assert found, event.reminder
            if event.early:
                # n days after the day the 2 weeks count from, which is 15 days before the due's day
                counted_from = event.due_at.astimezone(LONDON).date() - dt.timedelta(
                    days=NOTIFICATION_DAYS + 1
                )
                day = counted_from + dt.timedelta(days=int(found.group(1)))
                return dt.datetime.combine(day, dt.time(0), tzinfo=LONDON)
            return reminder_instant(event.due_at, int(found.group(1)))
        case DeadlineMissed():
            return event.due_at
        case DeadlineOverdue():
            return overdue_instant(event.due_at, event.days_overdue)
        case _:
            return None


@dataclass
class FakeTimerStore:
    """The storage layer's timer table, in memory: apply decisions, claim and fire due timers."""

    policy: DeadlinePolicy
    deadlines: IncidentDeadlines | None = None
    timers: list[PlannedTimer] = field(default_factory=list)
    emitted: list[tuple[dt.datetime, DeadlineEvent]] = field(default_factory=list)

    def apply(self, decision: Decision, now: dt.datetime) -> None:
        self.deadlines = decision.deadlines
        self.timers = [t for t in self.timers if t.window not in decision.cancel_timers]
        self.timers.extend(decision.schedule_timers)
        self.emitted.extend((now, event) for event in decision.events)

    def claim_and_fire(self, now: dt.datetime) -> None:
        due = sorted((t for t in self.timers if t.fire_at <= now), key=lambda t: t.fire_at)
        for timer in due:
            self.timers.remove(timer)
            assert self.deadlines is not None
            firing = fire(timer, self.deadlines, self.policy, now)
            self.emitted.extend((now, event) for event in firing.events)
            if firing.next_timer is not None:
                assert firing.next_timer.fire_at > now
                self.timers.append(firing.next_timer)

    def events(self) -> list[str]:
        return [describe(event) for _, event in self.emitted]
