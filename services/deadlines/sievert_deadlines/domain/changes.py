"""What one transition produces, and the working set transitions build it with.

A ``Decision`` holds the new state, the events to publish in order, the timers to delete (by
window; ``None`` is the case's own retention timer) and the timers to insert (always in the
future). The storage layer applies all four in one transaction: delete first, then insert.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from sievert_deadlines.domain.policy import DeadlinePolicy
from sievert_deadlines.domain.state import DeadlineEvent, IncidentDeadlines, WindowState
from sievert_deadlines.domain.timers import PlannedTimer, settle
from sievert_shared.events.deadlines import DeadlineScheduled, Window


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one transition. Empty events and timers mean nothing changed."""

    deadlines: IncidentDeadlines | None
    events: tuple[DeadlineEvent, ...] = ()
    cancel_timers: tuple[Window | None, ...] = ()
    """Delete every pending timer of these windows (of this incident) before inserting; ``None``
    is the case's retention timer."""
    schedule_timers: tuple[PlannedTimer, ...] = ()


@dataclass
class Changes:
    deadlines: IncidentDeadlines
    policy: DeadlinePolicy
    now: dt.datetime
    modality: str | None = None
    events: list[DeadlineEvent] = field(default_factory=list)
    cancel: list[Window | None] = field(default_factory=list)
    schedule: list[PlannedTimer] = field(default_factory=list)
    original: IncidentDeadlines | None = None

    def __post_init__(self) -> None:
        if self.original is None:
            self.original = self.deadlines

    def put(self, state: WindowState) -> None:
        self.deadlines = self.deadlines.with_window(state)

    def replan(self, state: WindowState) -> None:
        """Replace the window's timers with a fresh plan; fire at once what is already due."""
        self.put(state)
        self.drop_timers(state.window)
        events, pending = settle(self.deadlines.incident_id, state, self.policy, self.now)
        self.events.extend(events)
        self.schedule.extend(pending)

    def drop_timers(self, window: Window | None) -> None:
        if window not in self.cancel:
            self.cancel.append(window)
        if window is None:
            self.schedule = [t for t in self.schedule if t.window is not None]

    def decision(self) -> Decision:
        deadlines = self.deadlines
        if self.original is not None and deadlines != self.original:
            deadlines = replace(deadlines, version=self.original.version + 1)
        return Decision(deadlines, tuple(self.events), tuple(self.cancel), tuple(self.schedule))


def scheduled(state: WindowState) -> DeadlineScheduled:
    return DeadlineScheduled(
        window=state.window,
        due_at=state.due_at,
        discovered_on=state.discovered_on,
        authority=state.authority,
        clock_from=state.counts_from,
        provisional=state.provisional,
        needs_facts=list(state.needs_facts),
    )
