"""What dashboards hear of a trust's deadline windows (topic ``dashboard``), so a dashboard
subscribes instead of polling. Pure."""

from __future__ import annotations

import datetime as dt
import uuid

from sievert_shared.events import DeadlineCountsChanged

_NAMESPACE = uuid.UUID("2b0f8f36-4c36-4a0e-9b7e-1d0c5f1d7a3e")
DUE_SOON = dt.timedelta(days=7)


def trust_stream(trust: str) -> uuid.UUID:
    """The dashboard stream (and Kafka key) of a trust's counts, so they stay in order."""
    return uuid.uuid5(_NAMESPACE, f"trust/{trust}")


def deadline_counts(
    trust: str, rows: list[tuple[str, dt.datetime]], now: dt.datetime
) -> DeadlineCountsChanged:
    """Counts of a trust's windows by status; "due soon" is an open window closing within 7 days.
    The rule the read model counts by in PostgreSQL (``adapters.read_model.deadline_counts``), so
    that a trust's windows are not read out to count them."""
    by_status = {"open": 0, "missed": 0, "met": 0}
    due_soon = 0
    for status, due_at in rows:
        if status in by_status:
            by_status[status] += 1
        if status == "open" and now <= due_at <= now + DUE_SOON:
            due_soon += 1
    return DeadlineCountsChanged(trust=trust, due_within_7_days=due_soon, **by_status)
