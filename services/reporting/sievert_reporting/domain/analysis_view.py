"""The trend analysis as a document view: every value in words, each code with its meaning, each
table a CSV. HTML, PDF and CSV render this one view (``adapters.render``). Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sievert_reporting.domain.analysis import CLASSES
from sievert_reporting.domain.labels import label
from sievert_reporting.domain.view import DocumentView, Section, Table
from sievert_shared.facts import Modality

#: The classes as table headers: short, so a year or a count keeps its column on paper.
_CLASS_HEADERS = ("Notifiable", "Not notifiable (or undecided)", "Near misses")


def _modality_words(value: str) -> str:
    try:
        return label(Modality(value))
    except ValueError:
        return value


def _named(charts: Sequence[str], name: str) -> tuple[str, ...]:
    return tuple(c for c in charts if c == name)


def _classes(item: dict[str, Any]) -> tuple[int, ...]:
    return tuple(item[c] for c in CLASSES)


def _summary(report: dict[str, Any], charts: Sequence[str]) -> Section:
    totals = report["totals"]
    change = totals["change_percent"]
    fields = [("Incidents discovered", str(totals["incidents"]))]
    fields += [(c["label"], str(c["incidents"])) for c in report["classes"]]
    fields += [
        (f"Incidents in {report['previous_period']}", str(totals["previous_incidents"])),
        ("Change on the year before", "no incidents the year before" if change is None else f"{change:+g}%"),
    ]
    empty = () if totals["incidents"] else (f"No incidents were discovered in {report['period']['label']}.",)
    return Section(
        "Summary", fields=tuple(fields), paragraphs=empty, images=_named(charts, "chart-monthly.png")
    )


def _monthly(report: dict[str, Any], charts: Sequence[str]) -> Section:
    monthly = report["monthly"]
    rows = tuple(
        (month, *(monthly["series"][c][i] for c in CLASSES)) for i, month in enumerate(monthly["months"])
    )
    five = report["five_years"]
    years = tuple(
        (y["label"], y["incidents"], *_classes(y), y["examinations"], y["per_1000"]) for y in five["years"]
    )
    return Section(
        "Month by month, and across five years",
        paragraphs=(
            "Incidents by the month they were discovered. Rates are per 1,000 examinations where the "
            "trust loaded that year's activity counts.",
        ),
        tables=(
            Table(
                "monthly", f"Month by month, {report['period']['label']}", ("Month", *_CLASS_HEADERS), rows
            ),
            Table(
                "five_years",
                "Five years",
                ("Year", "Incidents", *_CLASS_HEADERS, "Examinations", "Per 1,000 examinations"),
                years,
            ),
        ),
        images=_named(charts, "chart-five_years.png"),
    )


def _breakdowns(report: dict[str, Any], charts: Sequence[str]) -> Section:
    tables = tuple(
        Table(
            f"by_{b['dimension']}",
            b["caption"],
            (b["caption"], "Incidents", *_CLASS_HEADERS),
            tuple((item["label"], item["incidents"], *_classes(item)) for item in b["items"]),
        )
        for b in report["breakdowns"]
    )
    return Section(
        "By code, modality, cause and site",
        paragraphs=("An incident with several codes is counted once under each.",),
        tables=tables,
        images=tuple(c for c in charts if c.startswith("chart-by_")),
    )


def _rates_and_sites(report: dict[str, Any], charts: Sequence[str]) -> tuple[Section, ...]:
    rates = Table(
        "rates",
        "By modality, where activity counts were loaded",
        ("modality", "incidents", "examinations", "per 1,000 examinations"),
        tuple((r["modality"], r["incidents"], r["examinations"], r["per_1000"]) for r in report["rates"]),
    )
    rate_words = Table(
        "rates_in_words",
        "Rates per 1,000 examinations by modality",
        ("Modality", "Incidents", "Examinations", "Per 1,000 examinations"),
        tuple(
            (_modality_words(r["modality"]), r["incidents"], r["examinations"], r["per_1000"])
            for r in report["rates"]
        ),
    )
    year_on_year = Table(
        "year_on_year",
        f"{report['period']['label']} against {report['previous_period']}",
        ("Modality", "This year", "The year before", "Change (%)"),
        tuple(
            (_modality_words(r["modality"]), r["this_year"], r["previous_year"], r["change_percent"])
            for r in report["year_on_year"]
        ),
    )
    sites = Table(
        "sites",
        "Sites",
        ("site", "incidents", "notifiable", "examinations", "per_1000", "low_reporting"),
        tuple(
            (s["site"], s["incidents"], s["notifiable"], s["examinations"], s["per_1000"], s["low_reporting"])
            for s in report["sites"]
        ),
    )
    return (
        Section("Rates per 1,000 examinations", tables=(rate_words, year_on_year)),
        Section(
            "Sites",
            paragraphs=(
                "A site reporting under half the trust's median rate is flagged: too few reports is itself a warning sign.",
            ),
            tables=(sites,),
            images=_named(charts, "chart-sites_monthly.png"),
        ),
        Section("Machine-readable rates", tables=(rates,)),
    )


def _timeliness(report: dict[str, Any], charts: Sequence[str]) -> Section:
    timely = report["timeliness"]
    summary = Table(
        "timeliness",
        f"Sent in time (as of {timely['as_of']})",
        (
            "Document",
            "Rule",
            "Measured",
            "In time",
            "Late",
            "Overdue, not sent",
            "In time (%)",
            "Median days",
            "Longest days",
        ),
        tuple(
            (
                w["label"],
                w["rule"],
                w["measured"],
                w["on_time"],
                w["late"],
                w["overdue"],
                w["on_time_percent"],
                w["median_days"],
                w["worst_days"],
            )
            for w in timely["windows"]
        ),
    )
    late = Table(
        "late",
        "Late or overdue",
        ("Document", "Incident", "Site", "Clock from", "Last day in time", "Sent on", "Days late"),
        tuple(
            (
                w["label"],
                i["incident_id"],
                i["site"],
                i["clock_from"],
                i["last_day"],
                i["sent_on"] or "not sent",
                i["days_late"],
            )
            for w in timely["windows"]
            for i in w["late_items"]
        ),
    )
    return Section(
        "Timeliness",
        paragraphs=(
            "From the clocks' own events: a window met is late by the deadlines service's count against "
            "the due that binds; an overdue one not sent yet counts its days to the date above. Days "
            "are counted from the day the clock started (discovery, or for code M the day the theme "
            "was identified) to the day sent.",
        ),
        tables=(summary, late),
        images=_named(charts, "chart-timeliness.png"),
    )


def _national(report: dict[str, Any], charts: Sequence[str]) -> Section:
    comparison = report["national_comparison"]
    groups = Table(
        "national_comparison",
        f"Notifiable incidents by modality group: the trust ({report['period']['label']}) and England ({comparison['national_year']})",
        ("Modality group", "Trust: notifiable", "Trust (%)", "England: notifications", "England (%)"),
        tuple(
            (
                g["label"],
                g["trust_notifiable"],
                g["trust_percent"],
                g["national_notifications"],
                g["national_percent"],
            )
            for g in comparison["by_modality_group"]
        ),
    )
    tables = [groups]
    if comparison["diagnostic_by_duty_holder"]:
        tables.append(
            Table(
                "national_duty_holder",
                "Diagnostic imaging notifications by the duty holder the error originated with (tier 1)",
                ("Duty holder", "Trust: notifiable", "Trust (%)", "England: notifications", "England (%)"),
                tuple(
                    (
                        t["duty_holder"],
                        t["trust_notifiable"],
                        t["trust_percent"],
                        t["national_notifications"],
                        t["national_percent"],
                    )
                    for t in comparison["diagnostic_by_duty_holder"]
                ),
            )
        )
    return Section(
        "Beside the national figures",
        paragraphs=(
            comparison["note"],
            f"Source: {comparison['source']} ({comparison['url']}); national figures table version "
            f"{comparison['table_version']}.",
            *(
                (
                    "For context only, activity in England that year: "
                    + "; ".join(comparison["context"])
                    + ".",
                )
                if comparison["context"]
                else ()
            ),
        ),
        tables=tuple(tables),
        images=_named(charts, "chart-national_comparison.png"),
    )


def analysis_view(report: dict[str, Any], charts: Sequence[str] = ()) -> DocumentView:
    """``charts``: the PNG names beside the document (``adapters.charts``), each shown in its section."""
    return DocumentView(
        title=f"IR(ME)R incident trends - {report['trust']}",
        subtitle=f"{report['period']['label']} ({report['period']['start']} to {report['period']['end']})",
        sections=(
            _summary(report, charts),
            _monthly(report, charts),
            _breakdowns(report, charts),
            *_rates_and_sites(report, charts),
            _timeliness(report, charts),
            _national(report, charts),
        ),
    )
