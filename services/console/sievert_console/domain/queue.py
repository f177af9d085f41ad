"""The work queue: what needs doing, what is due first first.

Built from the deadlines service's open windows (``GET /v1/deadlines``, the clocks) and open
tasks (``GET /v1/tasks``: people's duties on a case) and the reporting read model's incidents
(``GET /v1/incidents``: site, modality, codes, authority), joined by incident id, plus which
non-notifiable incidents still need facts (from each one's decision). An incident is in the
queue while it has an open window, an open task, or needs facts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sievert_console.domain.clocks import Clock, ClockState
from sievert_console.domain.tasks import Task


class Show(StrEnum):
    """Which rows the queue shows."""

    ALL = "all"
    OVERDUE = "overdue"
    DUE_SOON = "due_soon"
    OPEN = "open"
    PROVISIONAL = "provisional"
    WITHDRAWAL_REQUESTED = "withdrawal_requested"
    TASKS = "tasks"
    NEEDS_FACTS = "needs_facts"


SHOW_LABELS: Mapping[Show, str] = {
    Show.ALL: "Everything to do",
    Show.OVERDUE: "Overdue",
    Show.DUE_SOON: "Due within 7 days",
    Show.OPEN: "Open windows",
    Show.PROVISIONAL: "Provisional clocks",
    Show.WITHDRAWAL_REQUESTED: "Withdrawal requested",
    Show.TASKS: "Tasks open",
    Show.NEEDS_FACTS: "Needs facts",
}


#: A row's state as its badge says it.
STATE_LABELS: Mapping[Show, str] = {
    Show.OVERDUE: "Overdue",
    Show.DUE_SOON: "Due soon",
    Show.OPEN: "Open",
    Show.TASKS: "Task open",
    Show.NEEDS_FACTS: "Needs facts",
}

#: What else a row's badges say beside its state: a notification clock running provisionally
#: while the decision waits for facts (guidance line 219), and a notification the authority is
#: asked to withdraw, whose report stays due until it agrees (lines 116-118, 221).
FLAG_LABELS: Mapping[Show, str] = {
    Show.PROVISIONAL: "Provisional",
    Show.WITHDRAWAL_REQUESTED: "Withdrawal requested",
}


@dataclass(frozen=True)
class QueueFilter:
    """Filters a person sets on the queue. Site and authority are known to both services; code
    and modality only to the reporting read model."""

    site: str | None = None
    authority: str | None = None
    code: str | None = None
    modality: str | None = None
    show: Show = Show.ALL

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> QueueFilter:
        def value(name: str) -> str | None:
            raw = query.get(name, "").strip()
            return raw[:64] or None

        try:
            show = Show(query.get("show", Show.ALL))
        except ValueError:
            show = Show.ALL
        return cls(value("site"), value("authority"), value("code"), value("modality"), show)

    def reporting_params(self) -> dict[str, str]:
        params = {
            "site": self.site,
            "authority": self.authority,
            "code": self.code,
            "modality": self.modality,
        }
        return {k: v for k, v in params.items() if v is not None}

    def deadlines_params(self) -> dict[str, str]:
        return {"site": self.site} if self.site else {}

    def query(self) -> dict[str, str]:
        """The filter as the page's query string (empty values left out)."""
        out = self.reporting_params()
        if self.show is not Show.ALL:
            out["show"] = self.show.value
        return out

    def admits_window_alone(self, clock: Clock) -> bool:
        """A window whose incident the read model has not listed (not projected yet, or beyond
        the page) is shown only if the filters can be checked on the window itself."""
        if self.code is not None or self.modality is not None:
            return False
        if self.site is not None and clock.site != self.site:
            return False
        return self.authority is None or clock.authority == self.authority


@dataclass(frozen=True)
class QueueRow:
    incident_id: str
    site: str
    modality: str | None
    authority: str | None
    codes: tuple[str, ...]
    notifiable: bool | None
    discovered_on: dt.date | None
    clocks: tuple[Clock, ...] = ()
    needs_facts: tuple[str, ...] = field(default=())
    #: open tasks, soonest due first (those without a due last)
    tasks: tuple[Task, ...] = ()

    @property
    def next_clock(self) -> Clock | None:
        return min(self.clocks, key=lambda c: c.due_at, default=None)

    @property
    def next_task_due(self) -> dt.datetime | None:
        return min((t.due_at for t in self.tasks if t.due_at is not None), default=None)

    @property
    def next_due(self) -> dt.datetime | None:
        """The soonest of its clocks and tasks."""
        clock = self.next_clock
        dues = [d for d in (clock.due_at if clock else None, self.next_task_due) if d is not None]
        return min(dues, default=None)

    @property
    def provisional(self) -> bool:
        return any(c.provisional for c in self.clocks)

    @property
    def withdrawal_requested(self) -> bool:
        return any(c.case_status == "withdrawal_requested" for c in self.clocks)

    @property
    def flags(self) -> tuple[Show, ...]:
        """The groups a row belongs to beside its state, in the order its badges show them."""
        found = ((Show.PROVISIONAL, self.provisional), (Show.WITHDRAWAL_REQUESTED, self.withdrawal_requested))
        return tuple(show for show, on in found if on)

    def state(self, now: dt.datetime) -> Show:
        """The most pressing thing about the row."""
        clock = self.next_clock
        if clock is None:
            return Show.TASKS if self.tasks else Show.NEEDS_FACTS
        match clock.state(now):
            case ClockState.OVERDUE:
                return Show.OVERDUE
            case ClockState.DUE_SOON:
                return Show.DUE_SOON
            case _:
                return Show.OPEN

    def shown_by(self, show: Show, now: dt.datetime) -> bool:
        if show is Show.ALL:
            return True
        if show is Show.NEEDS_FACTS:
            return bool(self.needs_facts)
        if show is Show.TASKS:
            return bool(self.tasks)
        if show is Show.OPEN:
            return bool(self.clocks)
        if show in FLAG_LABELS:
            return show in self.flags
        return self.state(now) is show

    def sort_key(self) -> tuple[int, dt.datetime, str]:
        """Soonest due first, clocks and tasks alike (overdue rows are due earliest of all),
        then rows with nothing due by discovery, oldest first: the longer a fact is missing,
        the later the decision."""
        due = self.next_due
        if due is not None:
            return (0, due, self.incident_id)
        discovered = self.discovered_on or dt.date.max
        return (1, dt.datetime.combine(discovered, dt.time(), dt.UTC), self.incident_id)


@dataclass(frozen=True)
class Queue:
    rows: tuple[QueueRow, ...]
    counts: Mapping[Show, int]


def _date(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(str(value)) if value else None


def build_queue(
    incidents: Sequence[Mapping[str, Any]],
    windows: Iterable[Mapping[str, Any]],
    needs_facts: Mapping[str, Sequence[str]],
    *,
    where: QueueFilter,
    now: dt.datetime,
    tasks: Iterable[Mapping[str, Any]] = (),
) -> Queue:
    """``incidents``: reporting's rows (already filtered by the API); ``windows``: deadlines'
    windows (any status: only open ones count); ``needs_facts``: incident id -> facts its
    decision still needs; ``tasks``: deadlines' tasks (only open ones count)."""
    by_incident: dict[str, list[Clock]] = {}
    for window in windows:
        clock = Clock.from_api(window)
        if clock.is_open:
            by_incident.setdefault(clock.incident_id, []).append(clock)
    tasks_of: dict[str, list[Task]] = {}
    task_sites: dict[str, str] = {}
    for raw in tasks:
        task = Task.from_api(raw)
        if task.is_open:
            tasks_of.setdefault(task.incident_id, []).append(task)
            task_sites[task.incident_id] = str(raw.get("site", ""))

    rows: list[QueueRow] = []
    listed: set[str] = set()
    for incident in incidents:
        incident_id = str(incident["incident_id"])
        listed.add(incident_id)
        row = QueueRow(
            incident_id=incident_id,
            site=str(incident.get("site", "")),
            modality=incident.get("modality"),
            authority=incident.get("authority"),
            codes=tuple(incident.get("codes") or ()),
            notifiable=incident.get("notifiable"),
            discovered_on=_date(incident.get("discovered_on")),
            clocks=tuple(sorted(by_incident.get(incident_id, ()), key=lambda c: c.due_at)),
            needs_facts=tuple(needs_facts.get(incident_id, ())),
            tasks=_soonest_first(tasks_of.get(incident_id, ())),
        )
        if row.clocks or row.needs_facts or row.tasks:
            rows.append(row)

    for incident_id, clocks in by_incident.items():
        if incident_id in listed or not all(where.admits_window_alone(c) for c in clocks):
            continue
        first = clocks[0]
        rows.append(
            QueueRow(
                incident_id=incident_id,
                site=first.site,
                modality=None,
                authority=first.authority,
                codes=(),
                notifiable=None,
                discovered_on=None,
                clocks=tuple(sorted(clocks, key=lambda c: c.due_at)),
                tasks=_soonest_first(tasks_of.get(incident_id, ())),
            )
        )
        listed.add(incident_id)

    for incident_id, open_tasks in tasks_of.items():
        # A case with tasks only (its windows met or cancelled), not listed by reporting's page.
        site = task_sites.get(incident_id, "")
        if incident_id in listed or where.code or where.modality or where.authority:
            continue
        if where.site is not None and site != where.site:
            continue
        rows.append(
            QueueRow(
                incident_id=incident_id,
                site=site,
                modality=None,
                authority=None,
                codes=(),
                notifiable=None,
                discovered_on=None,
                tasks=_soonest_first(open_tasks),
            )
        )

    rows.sort(key=QueueRow.sort_key)
    counts = {show: sum(1 for r in rows if r.shown_by(show, now)) for show in Show}
    shown = [r for r in rows if r.shown_by(where.show, now)]
    if where.show is Show.TASKS:
        # the group of tasks: by the task due first, whatever the clocks
        far = dt.datetime.max.replace(tzinfo=dt.UTC)
        shown.sort(key=lambda r: (r.next_task_due or far, r.incident_id))
    return Queue(rows=tuple(shown), counts=counts)


def _soonest_first(tasks: Iterable[Task]) -> tuple[Task, ...]:
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    return tuple(sorted(tasks, key=lambda t: (t.due_at or far, t.kind)))


def incidents_to_check_for_facts(incidents: Sequence[Mapping[str, Any]], limit: int) -> list[str]:
    """Which listed incidents' decisions to read for missing facts. The list does not carry
    ``needs_facts``, so each costs a call: only decided, non-notifiable ones (a notifiable one
    is already on the clock), at most ``limit``."""
    wanted = [str(i["incident_id"]) for i in incidents if i.get("notifiable") is False]
    return wanted[:limit]
