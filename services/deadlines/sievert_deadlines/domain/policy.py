"""Per-trust deadline policy: the local-investigation window and when reminders fire.

The two notifiable windows are statutory (Regulation 8(4)) and not configurable; their lengths
live in ``calendar.py``. What a trust may set is the Regulation 8(3) local-investigation length
and the reminder offsets for each window.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sievert_shared.events.deadlines import Window

DEFAULT_LOCAL_INVESTIGATION_DAYS = 30


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

    def __post_init__(self) -> None:
        if self.local_investigation_days < 1:
            raise ValueError("local_investigation_days must be at least 1")
        for name in ("notification_reminders", "report_reminders", "local_investigation_reminders"):
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


DEFAULT_POLICY = DeadlinePolicy()
