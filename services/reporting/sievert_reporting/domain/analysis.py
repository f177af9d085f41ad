"""The trend analysis of one trust's incidents: what changed month by month through a year and
across five years, by class (notifiable, not notifiable, near miss) and by each breakdown
dimension; rates per 1,000 examinations; how timely the notifications and reports were, from the
clocks' own events; and the trust's notifiable incidents beside the published national figures.
Pure arithmetic over projected rows; ``as_of`` (today) is given.

A near miss is an incident whose facts say ``exposure_kind: near_miss`` (nobody was exposed,
guidance line 223). It is never notifiable, so the three classes do not overlap: notifiable
(the decision says so), near miss, and every other incident (not notifiable, or not decided yet).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

from sievert_reporting.domain import national
from sievert_reporting.domain.annual import Period, Row, annual_report
from sievert_reporting.domain.documents import split_code
from sievert_reporting.domain.labels import CODE_CATEGORIES, COMPLEMENTARY, label
from sievert_reporting.domain.taxonomy import cqc_label, packaged, rte_level_label
from sievert_shared.events.reporting import DutyHolder, ProcessStep
from sievert_shared.facts import ExposureKind, Modality

_LONDON = ZoneInfo("Europe/London")
NOT_RECORDED = "not_recorded"
YEARS = 5

#: The classes every series is split into, in the order they are shown.
CLASSES: dict[str, str] = {
    "notifiable": "Notifiable incidents",
    "not_notifiable": "Incidents not notifiable (or not decided yet)",
    "near_miss": "Near misses (nobody exposed)",
}


def incident_class(row: Row) -> str:
    if row.notifiable:
        return "notifiable"
    if row.exposure_kind == ExposureKind.NEAR_MISS.value:
        return "near_miss"
    return "not_notifiable"


def _enum_words(enum: type[StrEnum]) -> Callable[[str], str]:
    def words(value: str) -> str:
        try:
            return label(enum(value))
        except ValueError:
            return value

    return words


def code_words(category: str) -> str:
    """A code category with its meaning: "2.2: Unintended exposure, intended dose between ..."."""
    meaning = CODE_CATEGORIES.get(category) or COMPLEMENTARY.get(category)
    return f"{category}: {meaning[0]}" if meaning else category


def _one(value: str | None) -> tuple[str, ...]:
    return (value or NOT_RECORDED,)


@dataclass(frozen=True)
class Dimension:
    """One way of breaking the incidents down: its name (the JSON key and CSV name), its caption,
    the values a row has in it (a row may have several, e.g. codes), and their words."""

    name: str
    caption: str
    values: Callable[[Row], tuple[str, ...]]
    words: Callable[[str], str]
    #: shown on the console's Trends page and charted
    charted: bool = True


#: The breakdowns, data-driven: a new tier of the error taxonomy is one more line here (with its
#: field on ``Row``). An incident without a value is counted as "not recorded", once.
DIMENSIONS: tuple[Dimension, ...] = (
    Dimension(
        "code",
        "Notification code (category)",
        lambda r: tuple(dict.fromkeys(split_code(c).category for c in r.codes)) or ("none",),
        lambda v: "no code (not notifiable)" if v == "none" else code_words(v),
    ),
    Dimension("modality", "Modality", lambda r: _one(r.modality), _enum_words(Modality)),
    Dimension("exposure_kind", "Exposure kind", lambda r: _one(r.exposure_kind), _enum_words(ExposureKind)),
    Dimension("site", "Site", lambda r: (r.site,), str, charted=False),
    Dimension(
        "duty_holder",
        "Cause: duty holder (error taxonomy tier 1)",
        lambda r: _one(r.duty_holder),
        _enum_words(DutyHolder),
    ),
    Dimension(
        "process_step",
        "Cause: process step (error taxonomy tier 2)",
        lambda r: _one(r.process_step),
        _enum_words(ProcessStep),
    ),
    Dimension(
        "cqc_duty_holder",
        "Error origin: duty holder (CQC error taxonomy tier 1)",
        lambda r: _one(r.cqc_duty_holder),
        lambda v: cqc_label(packaged(), 1, v),
    ),
    Dimension(
        "cqc_pathway_point",
        "Error origin: point in the pathway (CQC error taxonomy tier 2)",
        lambda r: _one(r.cqc_pathway_point),
        lambda v: cqc_label(packaged(), 2, v),
    ),
    Dimension(
        "cqc_what_went_wrong",
        "What went wrong (CQC error taxonomy tier 3)",
        lambda r: _one(r.cqc_what_went_wrong),
        lambda v: cqc_label(packaged(), 3, v),
    ),
    Dimension(
        "rte_level",
        "Radiotherapy event level (national RTE classification)",
        lambda r: _one(r.rte_level),
        lambda v: rte_level_label(packaged(), v),
    ),
)


def words_for(dimension: Dimension, value: str) -> str:
    return "not recorded" if value == NOT_RECORDED else dimension.words(value)


def months_of(start: dt.date, end: dt.date) -> list[str]:
    """``YYYY-MM`` of every month from ``start`` to ``end`` inclusive."""
    months, year, month = [], start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _month(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def monthly_series(rows: Iterable[Row], months: Sequence[str]) -> dict[str, list[int]]:
    """Per class, the incidents discovered in each of ``months``."""
    counts: Counter[tuple[str, str]] = Counter((incident_class(r), _month(r.discovered_on)) for r in rows)
    return {cls: [counts[(cls, m)] for m in months] for cls in CLASSES}


def breakdown(dimension: Dimension, rows: Sequence[Row], months: Sequence[str]) -> dict[str, Any]:
    """Counts per value of ``dimension`` (most first), each split by class and by month."""
    per_value: dict[str, Counter[str]] = defaultdict(Counter)
    per_month: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        for value in dimension.values(row):
            per_value[value][incident_class(row)] += 1
            per_month[value][_month(row.discovered_on)] += 1
    ordered = sorted(
        per_value.items(), key=lambda kv: (-kv[1].total(), kv[0] == NOT_RECORDED, words_for(dimension, kv[0]))
    )
    items: list[dict[str, Any]] = [
        {
            "value": value,
            "label": words_for(dimension, value),
            "incidents": sum(classes.values()),
            **{cls: classes[cls] for cls in CLASSES},
            "monthly": [per_month[value][m] for m in months],
        }
        for value, classes in ordered
    ]
    return {"dimension": dimension.name, "caption": dimension.caption, "items": items}


def _per_1000(incidents: int, examinations: int | None) -> float | None:
    return round(1000 * incidents / examinations, 3) if examinations else None


def five_years(
    rows: Sequence[Row], period: Period, activity_by_year: Mapping[str, Mapping[tuple[str, str], int]]
) -> dict[str, Any]:
    """The five years ending with ``period``: monthly series, and per year the classes and the
    rate per 1,000 examinations where that year's activity counts were loaded."""
    periods = [period]
    for _ in range(YEARS - 1):
        periods.insert(0, periods[0].previous())
    months = months_of(periods[0].start, period.end)
    years = []
    for each in periods:
        inside = [r for r in rows if each.start <= r.discovered_on <= each.end]
        classes = Counter(incident_class(r) for r in inside)
        exams = sum(activity_by_year.get(each.label, {}).values()) or None
        years.append(
            {
                "label": each.label,
                "incidents": len(inside),
                **{cls: classes[cls] for cls in CLASSES},
                "examinations": exams,
                "per_1000": _per_1000(len(inside), exams),
            }
        )
    return {"months": months, "series": monthly_series(rows, months), "years": years}


# -- timeliness ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    """One Regulation 8(4) window of an incident, as its clock's events left it."""

    incident_id: str
    site: str
    window: str  # notification | investigation_report
    status: str  # open | met | missed | cancelled
    due_at: dt.datetime
    clock_from: dt.date
    met_at: dt.datetime | None = None
    days_late: int | None = None


#: The windows whose timeliness is measured, with the law's words for them (Regulation 8(4)).
TIMED_WINDOWS: dict[str, tuple[str, str]] = {
    "notification": ("Notifications to the enforcing authority", "within 2 weeks of discovery"),
    "investigation_report": ("Investigation reports", "within 12 weeks of discovery"),
}


def last_day_in_time(due_at: dt.datetime) -> dt.date:
    """``due_at`` is the exclusive instant (00:00 London after the last day): the day before it."""
    return (due_at.astimezone(_LONDON) - dt.timedelta(microseconds=1)).date()


def timeliness(clocks: Iterable[Clock], as_of: dt.date) -> dict[str, Any]:
    """Per window: how many were sent in time, late, or are overdue and not sent; the median and
    the longest days from the clock's start to sending; and every late or overdue one. Lateness is
    the deadlines service's own (``days_late`` of ``DeadlineMet``, against the due that binds);
    an overdue window not sent yet counts its days to ``as_of``. Cancelled windows and windows
    still running in time are not measured."""
    windows = []
    for window, (caption, rule) in TIMED_WINDOWS.items():
        mine = [c for c in clocks if c.window == window]
        met = [c for c in mine if c.status == "met" and c.met_at is not None]
        overdue = [
            c
            for c in mine
            if c.status == "missed" or (c.status == "open" and last_day_in_time(c.due_at) < as_of)
        ]
        taken = [(c.met_at.astimezone(_LONDON).date() - c.clock_from).days for c in met if c.met_at]
        late_items = [
            {
                "incident_id": c.incident_id,
                "site": c.site,
                "clock_from": c.clock_from.isoformat(),
                "last_day": last_day_in_time(c.due_at).isoformat(),
                "sent_on": c.met_at.astimezone(_LONDON).date().isoformat() if c.met_at else None,
                "days_late": c.days_late or 0,
                "still_overdue": False,
            }
            for c in met
            if (c.days_late or 0) > 0
        ] + [
            {
                "incident_id": c.incident_id,
                "site": c.site,
                "clock_from": c.clock_from.isoformat(),
                "last_day": last_day_in_time(c.due_at).isoformat(),
                "sent_on": None,
                "days_late": (as_of - last_day_in_time(c.due_at)).days,
                "still_overdue": True,
            }
            for c in overdue
        ]
        late_items.sort(key=lambda item: (-int(item["days_late"] or 0), str(item["incident_id"])))
        on_time = sum(1 for c in met if not c.days_late)
        measured = len(met) + len(overdue)
        windows.append(
            {
                "window": window,
                "label": caption,
                "rule": rule,
                "measured": measured,
                "on_time": on_time,
                "late": len(met) - on_time,
                "overdue": len(overdue),
                "on_time_percent": round(100 * on_time / measured, 1) if measured else None,
                "median_days": median(taken) if taken else None,
                "worst_days": max(taken) if taken else None,
                "late_items": late_items,
            }
        )
    return {"as_of": as_of.isoformat(), "windows": windows}


# -- the national comparison ---------------------------------------------------------------------


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def national_comparison(rows: Sequence[Row], period: Period) -> dict[str, Any]:
    """The trust's notifiable incidents by modality group (and, within diagnostic imaging, by the
    duty holder of the error) as proportions, beside the published national proportions."""
    figures = national.national_year(period.label)
    notifiable = [r for r in rows if r.notifiable]
    groups = Counter(national.GROUP_OF.get(r.modality or "", "other") for r in notifiable)
    trust_total = len(notifiable)
    national_total = sum(figures.notifications.values())
    by_group = [
        {
            "group": group,
            "label": words,
            "trust_notifiable": groups[group],
            "trust_percent": _percent(groups[group], trust_total),
            "national_notifications": figures.notifications[group],
            "national_percent": _percent(figures.notifications[group], national_total),
        }
        for group, (words, _) in national.MODALITY_GROUPS.items()
    ]
    diagnostic = [r for r in notifiable if national.GROUP_OF.get(r.modality or "") == "diagnostic_imaging"]
    tiers = Counter(
        national.TIER1_OF_DUTY_HOLDER.get(r.duty_holder or "", "not recorded") for r in diagnostic
    )
    by_tier1 = []
    if figures.diagnostic_tier1:
        for tier in national.TIER1_OF_DUTY_HOLDER.values():
            by_tier1.append(
                {
                    "duty_holder": tier,
                    "trust_notifiable": tiers[tier],
                    "trust_percent": _percent(tiers[tier], len(diagnostic)),
                    "national_notifications": figures.diagnostic_tier1.get(tier, 0),
                    "national_percent": _percent(
                        figures.diagnostic_tier1.get(tier, 0), figures.notifications["diagnostic_imaging"]
                    ),
                }
            )
    return {
        "table_version": national.VERSION,
        "national_year": figures.year,
        "authority": figures.authority,
        "source": figures.source,
        "url": figures.url,
        "context": list(figures.activity),
        "trust_notifiable": trust_total,
        "national_notifications": national_total,
        "by_modality_group": by_group,
        "diagnostic_by_duty_holder": by_tier1,
        "note": (
            "Proportions are compared, never rates: the national figures are notifications received "
            "across England, whose activity is not this trust's denominator. The trust's share "
            "counts only its notifiable incidents, the national share only statutory notifications."
            + (
                ""
                if figures.year == period.label
                else f" No national figures for {period.label} are in the table; the latest earlier year is shown."
            )
        ),
    }


# -- the whole analysis --------------------------------------------------------------------------


def analysis(
    trust: str,
    period: Period,
    rows: Sequence[Row],
    activity_by_year: Mapping[str, Mapping[tuple[str, str], int]],
    clocks: Sequence[Clock],
    as_of: dt.date,
) -> dict[str, Any]:
    """Everything the annual report, its HTTP route and the console's Trends page show. ``rows``:
    the five years ending with ``period``; ``activity_by_year``: period label -> (site, modality)
    -> examinations; ``clocks``: the windows of the incidents discovered in ``period``."""
    this_year = [r for r in rows if period.start <= r.discovered_on <= period.end]
    before = period.previous()
    previous = [r for r in rows if before.start <= r.discovered_on <= before.end]
    report = annual_report(trust, period, this_year, previous, activity_by_year.get(period.label, {}))
    months = months_of(period.start, period.end)
    classes = Counter(incident_class(r) for r in this_year)
    sites = sorted({r.site for r in this_year})
    return {
        **report,
        "classes": [{"class": c, "label": words, "incidents": classes[c]} for c, words in CLASSES.items()],
        "monthly": {"months": months, "series": monthly_series(this_year, months)},
        "breakdowns": [breakdown(d, this_year, months) for d in DIMENSIONS],
        "sites_monthly": [
            {"site": s, "series": monthly_series([r for r in this_year if r.site == s], months)}
            for s in sites
        ],
        "five_years": five_years(rows, period, activity_by_year),
        "timeliness": timeliness(clocks, as_of),
        "national_comparison": national_comparison(this_year, period),
    }


def analysis_span(period: Period) -> Period:
    """The five years the analysis reads: from the start of the fifth year back to ``period``'s end."""
    first = period
    for _ in range(YEARS - 1):
        first = first.previous()
    return Period(f"{first.label}-{period.label}", first.start, period.end)
