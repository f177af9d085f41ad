"""The deadline counts dashboards hear: windows by status, and open windows closing within 7 days.
The read model counts them in PostgreSQL (``read_model.deadline_counts``), which the integration
test ``test_reporting_dashboard`` holds to this rule."""

from __future__ import annotations

import datetime as dt

import pytest

from sievert_reporting.domain.dashboard import deadline_counts

NOW = dt.datetime(2025, 6, 5, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param([], (0, 0, 0, 0), id="no-windows"),
        pytest.param([("open", NOW + 3 * DAY)], (1, 0, 0, 1), id="open-in-3-days-is-due-soon"),
        pytest.param([("open", NOW)], (1, 0, 0, 1), id="open-closing-now-is-due-soon"),
        pytest.param([("open", NOW + 7 * DAY)], (1, 0, 0, 1), id="open-at-exactly-7-days-is-due-soon"),
        pytest.param(
            [("open", NOW + 7 * DAY + dt.timedelta(seconds=1))], (1, 0, 0, 0), id="open-after-7-days"
        ),
        pytest.param([("open", NOW - DAY)], (1, 0, 0, 0), id="open-past-due-is-not-due-soon"),
        pytest.param([("missed", NOW + DAY)], (0, 1, 0, 0), id="missed-is-never-due-soon"),
        pytest.param([("met", NOW + DAY)], (0, 0, 1, 0), id="met-is-never-due-soon"),
        pytest.param([("cancelled", NOW + DAY)], (0, 0, 0, 0), id="cancelled-counts-nowhere"),
        pytest.param(
            [("open", NOW + DAY), ("open", NOW + 30 * DAY), ("missed", NOW - DAY), ("met", NOW)],
            (2, 1, 1, 1),
            id="mixed",
        ),
    ],
)
def test_deadline_counts(rows: list[tuple[str, dt.datetime]], expected: tuple[int, int, int, int]) -> None:
    counts = deadline_counts("RXX", rows, NOW)
    assert (counts.open, counts.missed, counts.met, counts.due_within_7_days) == expected
    assert counts.trust == "RXX"
