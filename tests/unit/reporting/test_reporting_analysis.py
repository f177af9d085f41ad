"""The trend analysis's pure rules: classes, monthly series, breakdowns in words, five years and
their rates, timeliness from the clocks, and the national comparison."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from sievert_reporting.domain import national
from sievert_reporting.domain.analysis import (
    DIMENSIONS,
    Clock,
    analysis,
    breakdown,
    incident_class,
    last_day_in_time,
    monthly_series,
    months_of,
    national_comparison,
    timeliness,
)
from sievert_reporting.domain.analysis_view import analysis_view
from sievert_reporting.domain.annual import Row, parse_period
from sievert_shared.facts import Modality

FY = parse_period("2024/25")
UTC = dt.UTC


def row(day: dt.date, **changes: Any) -> Row:
    base = Row(
        site="RXX01",
        modality="ct",
        exposure_kind="unintended",
        codes=("2.2",),
        notifiable=True,
        discovered_on=day,
    )
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param({}, "notifiable", id="notifiable"),
        pytest.param({"notifiable": False, "codes": ()}, "not_notifiable", id="not-notifiable"),
        pytest.param(
            {"notifiable": None, "codes": ()}, "not_notifiable", id="undecided-counts-as-not-notifiable"
        ),
        pytest.param(
            {"notifiable": False, "codes": (), "exposure_kind": "near_miss"}, "near_miss", id="near-miss"
        ),
    ],
)
def test_monthly_trend_classes(changes: dict[str, Any], expected: str) -> None:
    assert incident_class(row(dt.date(2024, 5, 1), **changes)) == expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        pytest.param(dt.date(2024, 4, 1), dt.date(2025, 3, 31), 12, id="financial-year"),
        pytest.param(dt.date(2024, 1, 1), dt.date(2024, 12, 31), 12, id="calendar-year"),
        pytest.param(dt.date(2020, 4, 1), dt.date(2025, 3, 31), 60, id="five-years"),
    ],
)
def test_monthly_trend_months(start: dt.date, end: dt.date, expected: int) -> None:
    months = months_of(start, end)
    assert len(months) == expected
    assert (
        months[0] == f"{start.year:04d}-{start.month:02d}" and months[-1] == f"{end.year:04d}-{end.month:02d}"
    )


def test_monthly_trend_series_count_each_class_in_its_month() -> None:
    rows = [
        row(dt.date(2024, 4, 30)),
        row(dt.date(2024, 4, 2), notifiable=False, codes=()),
        row(dt.date(2024, 5, 1), notifiable=False, codes=(), exposure_kind="near_miss"),
        row(dt.date(2025, 3, 31)),
    ]
    series = monthly_series(rows, months_of(FY.start, FY.end))
    assert series["notifiable"][0] == 1 and series["notifiable"][11] == 1
    assert series["not_notifiable"][0] == 1
    assert series["near_miss"][1] == 1
    assert sum(sum(v) for v in series.values()) == 4


@pytest.mark.parametrize(
    ("dimension", "changes", "value", "words"),
    [
        pytest.param("modality", {}, "ct", "Computed tomography (CT)", id="modality-in-words"),
        pytest.param(
            "code",
            {"codes": ("ME2.2",)},
            "2.2",
            "2.2: Unintended exposure, intended dose between 0.3 mSv and 2.5 mSv",
            id="code-with-its-meaning",
        ),
        pytest.param(
            "code", {"codes": (), "notifiable": False}, "none", "no code (not notifiable)", id="no-code"
        ),
        pytest.param("duty_holder", {}, "not_recorded", "not recorded", id="cause-not-recorded"),
        pytest.param("duty_holder", {"duty_holder": "operator"}, "operator", "operator", id="duty-holder"),
        pytest.param(
            "process_step",
            {"process_step": "identification"},
            "identification",
            "patient identification",
            id="process-step",
        ),
        pytest.param(
            "exposure_kind",
            {"exposure_kind": "near_miss"},
            "near_miss",
            "Near miss (nobody was exposed)",
            id="exposure-kind",
        ),
        pytest.param(
            "cqc_duty_holder", {"cqc_duty_holder": "referrer"}, "referrer", "Referrer", id="taxonomy-tier-1"
        ),
        pytest.param(
            "cqc_pathway_point",
            {"cqc_pathway_point": "incorrect_referral"},
            "incorrect_referral",
            "Incorrect referral",
            id="taxonomy-tier-2",
        ),
        pytest.param(
            "cqc_what_went_wrong",
            {"cqc_what_went_wrong": "wrong_patient"},
            "wrong_patient",
            "Wrong patient",
            id="taxonomy-tier-3",
        ),
        pytest.param("cqc_duty_holder", {}, "not_recorded", "not recorded", id="taxonomy-not-coded"),
        pytest.param("rte_level", {"rte_level": "4"}, "4", "Level 4: Near miss", id="taxonomy-rte-level"),
    ],
)
def test_monthly_trend_breakdowns_in_words(
    dimension: str, changes: dict[str, Any], value: str, words: str
) -> None:
    found = next(d for d in DIMENSIONS if d.name == dimension)
    result = breakdown(found, [row(dt.date(2024, 6, 3), **changes)], months_of(FY.start, FY.end))
    [item] = result["items"]
    assert (item["value"], item["label"], item["incidents"]) == (value, words, 1)
    assert item["monthly"][2] == 1  # June is the third month of the financial year


def test_monthly_trend_a_new_dimension_is_one_line() -> None:
    """A breakdown is data: the analysis has one per dimension, in their order."""
    report = analysis("RXX", FY, [row(dt.date(2024, 6, 3))], {}, [], dt.date(2025, 6, 1))
    assert [b["dimension"] for b in report["breakdowns"]] == [d.name for d in DIMENSIONS]


def test_monthly_trend_five_years_and_rates() -> None:
    rows = [
        row(dt.date(2020, 5, 1)),
        row(dt.date(2024, 5, 1)),
        row(dt.date(2024, 6, 1)),
        row(dt.date(2019, 5, 1)),
    ]
    activity = {"2024/25": {("RXX01", "ct"): 20_000}, "2020/21": {("RXX01", "ct"): 10_000}}
    report = analysis("RXX", FY, rows, activity, [], dt.date(2025, 6, 1))
    years = {y["label"]: y for y in report["five_years"]["years"]}
    assert list(years) == ["2020/21", "2021/22", "2022/23", "2023/24", "2024/25"]  # 2019 is outside
    assert (years["2024/25"]["incidents"], years["2024/25"]["per_1000"]) == (2, 0.1)
    assert (years["2020/21"]["incidents"], years["2020/21"]["per_1000"]) == (1, 0.1)
    assert years["2022/23"]["per_1000"] is None  # no activity loaded: no rate, not zero
    assert len(report["five_years"]["months"]) == 60
    assert report["totals"]["incidents"] == 2


def test_monthly_trend_an_empty_year_is_an_honest_empty_report() -> None:
    report = analysis("RXX", FY, [], {}, [], dt.date(2025, 6, 1))
    assert report["totals"]["incidents"] == 0
    assert all(sum(v) == 0 for v in report["monthly"]["series"].values())
    assert all(b["items"] == [] for b in report["breakdowns"])
    assert report["timeliness"]["windows"][0]["on_time_percent"] is None
    view = analysis_view(report)
    assert "No incidents were discovered in 2024/25." in view.sections[0].paragraphs
    monthly = next(t for t in view.tables() if t.name == "monthly")
    assert len(monthly.headers) == 1 + len(report["classes"]) and len(monthly.rows) == 12


def _clock(window: str, status: str, clock_from: dt.date, **changes: Any) -> Clock:
    days = 14 if window == "notification" else 84
    due = dt.datetime.combine(clock_from + dt.timedelta(days=days + 1), dt.time(), tzinfo=UTC)
    return Clock(
        incident_id=changes.pop("incident_id", "i1"),
        site="RXX01",
        window=window,
        status=status,
        due_at=changes.pop("due_at", due - dt.timedelta(hours=1)),  # 00:00 London in summer
        clock_from=clock_from,
        **changes,
    )


D = dt.date(2024, 6, 3)


@pytest.mark.parametrize(
    ("clock", "on_time", "late", "overdue", "taken", "days_late"),
    [
        pytest.param(
            _clock("notification", "met", D, met_at=dt.datetime(2024, 6, 10, 9, tzinfo=UTC), days_late=0),
            1,
            0,
            0,
            7,
            None,
            id="sent-in-time",
        ),
        pytest.param(
            _clock("notification", "met", D, met_at=dt.datetime(2024, 6, 20, 9, tzinfo=UTC), days_late=3),
            0,
            1,
            0,
            17,
            3,
            id="sent-late-by-the-services-count",
        ),
        pytest.param(_clock("notification", "missed", D), 0, 0, 1, None, 349, id="missed-not-sent"),
        pytest.param(_clock("notification", "open", D), 0, 0, 1, None, 349, id="open-past-its-last-day"),
        pytest.param(
            _clock("notification", "open", dt.date(2025, 5, 30)), 0, 0, 0, None, None, id="running-in-time"
        ),
        pytest.param(
            _clock("notification", "cancelled", D), 0, 0, 0, None, None, id="cancelled-not-measured"
        ),
    ],
)
def test_timeliness_of_one_window(
    clock: Clock, on_time: int, late: int, overdue: int, taken: int | None, days_late: int | None
) -> None:
    [notification, _report] = timeliness([clock], dt.date(2025, 6, 1))["windows"]
    assert (notification["on_time"], notification["late"], notification["overdue"]) == (
        on_time,
        late,
        overdue,
    )
    assert notification["worst_days"] == taken
    if days_late is None:
        assert notification["late_items"] == []
    else:
        [item] = notification["late_items"]
        assert item["days_late"] == days_late


def test_timeliness_shares_median_and_worst() -> None:
    met = [
        _clock(
            "notification",
            "met",
            D,
            incident_id=f"i{n}",
            met_at=dt.datetime(2024, 6, 3 + n, 9, tzinfo=UTC),
            days_late=0,
        )
        for n in (2, 4, 12)
    ]
    late = _clock(
        "notification",
        "met",
        D,
        incident_id="late",
        met_at=dt.datetime(2024, 6, 25, 9, tzinfo=UTC),
        days_late=8,
    )
    report = _clock(
        "investigation_report", "met", D, met_at=dt.datetime(2024, 8, 1, 9, tzinfo=UTC), days_late=0
    )
    [notification, investigation] = timeliness([*met, late, report], dt.date(2025, 6, 1))["windows"]
    assert notification["on_time_percent"] == 75.0
    assert notification["median_days"] == 8  # 2, 4, 12, 22
    assert notification["worst_days"] == 22
    assert [i["incident_id"] for i in notification["late_items"]] == ["late"]
    assert investigation["on_time_percent"] == 100.0 and investigation["median_days"] == 59


@pytest.mark.parametrize(
    ("due_at", "last_day"),
    [
        pytest.param(dt.datetime(2024, 6, 17, 23, tzinfo=UTC), dt.date(2024, 6, 17), id="summer-time"),
        pytest.param(dt.datetime(2024, 12, 18, 0, tzinfo=UTC), dt.date(2024, 12, 17), id="winter-time"),
    ],
)
def test_timeliness_last_day_is_the_london_day_before_the_due(due_at: dt.datetime, last_day: dt.date) -> None:
    assert last_day_in_time(due_at) == last_day


def test_national_comparison_proportions_by_modality_group() -> None:
    rows = [
        row(dt.date(2024, 6, 1)),
        row(dt.date(2024, 6, 2), modality=Modality.EXTERNAL_BEAM_RADIOTHERAPY.value),
        row(dt.date(2024, 6, 3), modality=Modality.EXTERNAL_BEAM_RADIOTHERAPY.value),
        row(dt.date(2024, 6, 4), modality=Modality.SIRT.value),
        row(dt.date(2024, 6, 5), notifiable=False, codes=()),  # not a notification: not compared
    ]
    comparison = national_comparison(rows, parse_period("2022/23"))
    groups = {g["group"]: g for g in comparison["by_modality_group"]}
    assert (groups["radiotherapy"]["trust_notifiable"], groups["radiotherapy"]["trust_percent"]) == (2, 50.0)
    assert groups["nuclear_medicine"]["trust_percent"] == 25.0
    # CQC 2022/23: 727 notifications, 52% diagnostic imaging, 11% nuclear medicine, 37% radiotherapy
    assert comparison["national_notifications"] == 727
    assert [
        round(groups[g]["national_percent"])
        for g in ("diagnostic_imaging", "nuclear_medicine", "radiotherapy")
    ] == [52, 11, 37]
    assert comparison["national_year"] == "2022/23" and "CQC" in comparison["source"]
    assert "never rates" in comparison["note"]


@pytest.mark.parametrize(
    ("year", "used"),
    [
        pytest.param("2022/23", "2022/23", id="same-year"),
        pytest.param("2023/24", "2023/24", id="later-year"),
        pytest.param("2025/26", "2023/24", id="no-figures-yet-latest-earlier"),
        pytest.param("2021/22", "2021/22", id="earlier-year"),
        pytest.param("2019/20", "2021/22", id="before-the-table-earliest"),
    ],
)
def test_national_comparison_names_the_year_it_used(year: str, used: str) -> None:
    comparison = national_comparison([], parse_period(year))
    assert comparison["national_year"] == used
    assert (f"No national figures for {year}" in comparison["note"]) == (year != used)


def test_national_comparison_table_is_consistent() -> None:
    """Every group is counted, every modality is in one group, and years are in order."""
    assert [n.year for n in national.NATIONAL] == sorted(n.year for n in national.NATIONAL)
    for year in national.NATIONAL:
        assert set(year.notifications) == set(national.MODALITY_GROUPS)
        assert set(year.diagnostic_tier1) <= set(national.TIER1_OF_DUTY_HOLDER.values())
        assert year.source and year.url.startswith("https://")
    assert set(national.GROUP_OF) == {m.value for m in Modality}


def test_national_comparison_by_duty_holder_within_diagnostic_imaging() -> None:
    rows = [
        row(dt.date(2023, 6, 1), duty_holder="operator"),
        row(dt.date(2023, 6, 2), duty_holder="referrer"),
    ]
    comparison = national_comparison(rows, parse_period("2023/24"))
    tiers = {t["duty_holder"]: t for t in comparison["diagnostic_by_duty_holder"]}
    assert tiers["Operator"]["trust_percent"] == 50.0
    assert tiers["Operator"]["national_notifications"] == 183
    assert tiers["Operator"]["national_percent"] == round(100 * 183 / 447, 1)
