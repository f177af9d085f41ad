"""The Trends page's pure parts: the years offered, and the charts' geometry from the analysis."""

from __future__ import annotations

import datetime as dt

import pytest

from sievert_console.domain.trends import (
    CLASSES,
    category_bars,
    financial_year,
    monthly_columns,
    shared_scale,
    years_offered,
)

WORDS = {"notifiable": "Notifiable", "not_notifiable": "Not notifiable", "near_miss": "Near misses"}


@pytest.mark.parametrize(
    ("day", "year"),
    [
        pytest.param(dt.date(2025, 3, 31), "2024/25", id="last-day-of-the-year"),
        pytest.param(dt.date(2025, 4, 1), "2025/26", id="first-day-of-the-next"),
        pytest.param(dt.date(2099, 12, 31), "2099/00", id="century"),
    ],
)
def test_monthly_trend_financial_year_of_a_day(day: dt.date, year: str) -> None:
    assert financial_year(day) == year


def test_monthly_trend_years_offered_newest_first() -> None:
    assert years_offered(dt.date(2025, 6, 1), 3) == ["2025/26", "2024/25", "2023/24"]


def test_monthly_trend_columns_stack_the_classes_on_one_scale() -> None:
    series = {"notifiable": [2, 0], "not_notifiable": [1, 0], "near_miss": [1, 4]}
    chart = monthly_columns(["2024-04", "2024-05"], series, WORDS)
    assert [s.colour for s in chart.segments] == [c for _, c in CLASSES] + [CLASSES[2][1]]
    april, may = sum(s.height for s in chart.segments[:3]), chart.segments[3].height
    assert april == pytest.approx(may)  # 4 incidents each month: the same height
    assert chart.segments[0].title == "2024-04: 2 notifiable"
    assert [t[2] for t in chart.ticks] == ["0", "1", "2", "3", "4"]
    assert {t[2] for t in chart.titles} == {"Month discovered", "Incidents"}


def test_monthly_trend_bars_one_per_category_and_nothing_for_zero() -> None:
    items = [
        {
            "label": "Computed tomography (CT)",
            "incidents": 3,
            "notifiable": 3,
            "not_notifiable": 0,
            "near_miss": 0,
        },
        {"label": "Radiography", "incidents": 1, "notifiable": 0, "not_notifiable": 0, "near_miss": 1},
    ]
    chart = category_bars(items, WORDS)
    assert [label[2] for label in chart.labels] == ["Computed tomography (CT)", "Radiography"]
    assert len(chart.segments) == 2  # a class with no incident draws no rectangle
    assert chart.segments[0].width == pytest.approx(3 * chart.segments[1].width)


def test_monthly_trend_small_multiples_share_one_scale() -> None:
    busy = {"notifiable": [8, 0], "not_notifiable": [0, 0], "near_miss": [0, 0]}
    quiet = {"notifiable": [2, 0], "not_notifiable": [0, 0], "near_miss": [0, 0]}
    scale = shared_scale([busy, quiet])
    assert scale == 8
    months = ["2024-04", "2024-05"]
    charts = [
        monthly_columns(months, s, WORDS, small=True, scale=scale, heading=n)
        for n, s in (("A", busy), ("B", quiet))
    ]
    assert charts[0].segments[0].height == pytest.approx(4 * charts[1].segments[0].height)
    assert ("A" in {t[2] for t in charts[0].titles}) and ("B" in {t[2] for t in charts[1].titles})
