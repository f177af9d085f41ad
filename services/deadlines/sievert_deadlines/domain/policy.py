"""Per-trust deadline policy: the local-investigation window, when reminders fire, how long
closed cases are kept, and the due dates of people's tasks where the law gives none.

The two notifiable windows are statutory (Regulation 8(4)) and not configurable; their lengths
live in ``calendar.py``. What a trust may set is the Regulation 8(3) local-investigation length,
the reminder offsets for each window and for tasks, the early "as soon as possible" reminder
(line 218), the retention of closed cases' records ("in accordance with your local procedures",
line 227), and the working days its own procedures give for the duty of candour and for informing
under Regulation 8(1) (docs/deadlines.md, "Tasks").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sievert_shared.events.deadlines import Window

DEFAULT_LOCAL_INVESTIGATION_DAYS = 30
DEFAULT_TASK_WORKING_DAYS = 10
"""A common NHS local policy for telling the patient under the duty of candour: a policy choice,
not law (regulation 20 says "as soon as reasonably practicable")."""
DEFAULT_INFORM_OTHER_EMPLOYERS_WORKING_DAYS = 5
"""Several employers, and this trust notifies: working days from discovery to inform the others.
A policy choice: a week leaves the other employer time to confirm the notification within the
2 weeks of line 219."""
DEFAULT_ASAP_REMINDER_AFTER_DAYS = 2
"""Line 218: notify "as soon as possible" once the preliminary investigation shows the criteria
met. Two days after discovery is our default nudge, well before the first 2-week reminder."""
DEFAULT_RETENTION_YEARS_RADIOTHERAPY = 30
DEFAULT_RETENTION_YEARS_OTHER = 20

RADIOTHERAPY_MODALITIES = frozenset(
    {
        "external_beam_radiotherapy",
        "brachytherapy",
        "radiotherapy_planning_imaging",
        "radiotherapy_verification_imaging",
    }
)
"""Modalities whose cases are kept as radiotherapy records (``IncidentFacts.modality``)."""


def _largest_first(days: Iterable[int], name: str) -> tuple[int, ...]:
    offsets = tuple(sorted(set(days), reverse=True))
    if any(d < 1 for d in offsets):
        raise ValueError(f"{name}: reminder offsets are whole days before the due instant, at least 1")
    return offsets


@dataclass(frozen=True, slots=True)
class DeadlinePolicy:
    """A trust's deadline settings. Reminder offsets are calendar days before the due instant.

    Offsets are kept largest (earliest) first, without duplicates, whatever order they came in.
    """

    local_investigation_days: int = DEFAULT_LOCAL_INVESTIGATION_DAYS
    notification_reminders: tuple[int, ...] = (7, 3, 1)
    report_reminders: tuple[int, ...] = (28, 14, 7, 1)
    local_investigation_reminders: tuple[int, ...] = (7,)
    duty_of_candour_working_days: int = DEFAULT_TASK_WORKING_DAYS
    """Working days from discovery to tell the patient and apologise (trust policy, not law)."""
    regulation_8_1_working_days: int = DEFAULT_TASK_WORKING_DAYS
    """Working days from discovery to inform under Regulation 8(1) (the trust's CSAUE procedure)."""
    inform_other_employers_working_days: int = DEFAULT_INFORM_OTHER_EMPLOYERS_WORKING_DAYS
    """Working days from discovery for the notifying trust to inform the other employer(s)."""
    task_reminders: tuple[int, ...] = (3, 1)
    """Days before a task's due, e.g. [3, 1]."""
    asap_reminder_after_days: int | None = DEFAULT_ASAP_REMINDER_AFTER_DAYS
    """Days after the notification window starts counting when the early reminder fires;
    ``None``: no early reminder."""
    retention_years_radiotherapy: int = DEFAULT_RETENTION_YEARS_RADIOTHERAPY
    retention_years_other: int = DEFAULT_RETENTION_YEARS_OTHER

    def __post_init__(self) -> None:
        if self.local_investigation_days < 1:
            raise ValueError("local_investigation_days must be at least 1")
        if (
            min(
                self.duty_of_candour_working_days,
                self.regulation_8_1_working_days,
                self.inform_other_employers_working_days,
            )
            < 1
        ):
            raise ValueError("a task's working days must be at least 1")
        if self.asap_reminder_after_days is not None and not 1 <= self.asap_reminder_after_days <= 13:
            raise ValueError("asap_reminder_after_days: between 1 and 13 days, inside the 2 weeks")
        for name in ("retention_years_radiotherapy", "retention_years_other"):
            if not 1 <= getattr(self, name) <= 100:
                raise ValueError(f"{name}: between 1 and 100 years")
        for name in (
            "notification_reminders",
            "report_reminders",
            "local_investigation_reminders",
            "task_reminders",
        ):
            # Frozen: normalise once, at construction.
            object.__setattr__(self, name, _largest_first(getattr(self, name), name))

    def reminders(self, window: Window) -> tuple[int, ...]:
        """Reminder offsets for ``window``, in days before due, largest (earliest) first."""
        match window:
            case Window.NOTIFICATION:
                return self.notification_reminders
            case Window.INVESTIGATION_REPORT:
                return self.report_reminders
            case Window.LOCAL_INVESTIGATION:
                return self.local_investigation_reminders

    def retention_years(self, modality: str | None) -> int:
        """How long a closed case is kept. A case whose modality is not known is kept for the
        longer period: destroying a record too early cannot be undone."""
        if modality is None:
            return max(self.retention_years_radiotherapy, self.retention_years_other)
        if modality in RADIOTHERAPY_MODALITIES:
            return self.retention_years_radiotherapy
        return self.retention_years_other


DEFAULT_POLICY = DeadlinePolicy()
