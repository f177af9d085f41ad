"""The annual counts for one trust (totals, codes, rates, year on year, sites): pure arithmetic
over projected incident rows. ``domain.analysis`` builds the whole trend analysis on them and
``domain.analysis_view`` words it.

The enforcing authorities report by financial year (April to March); a calendar year is also
offered. Rates are per 1,000 examinations where the trust loaded its activity counts. A site
that reports far fewer incidents per examination than its sister sites is flagged: reporting
too little is itself a warning sign.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

from sievert_reporting.domain.documents import split_code


@dataclass(frozen=True)
class Period:
    label: str
    start: dt.date
    end: dt.date  # inclusive

    def previous(self) -> Period:
        if "/" in self.label:
            return financial_year(self.start.year - 1)
        return Period(
            str(self.start.year - 1),
            self.start.replace(year=self.start.year - 1),
            self.end.replace(year=self.end.year - 1),
        )


def financial_year(first_year: int) -> Period:
    return Period(
        f"{first_year}/{(first_year + 1) % 100:02d}",
        dt.date(first_year, 4, 1),
        dt.date(first_year + 1, 3, 31),
    )


def parse_period(text: str) -> Period:
    """``2024/25`` is the financial year from 1 April 2024; ``2024`` the calendar year."""
    if match := re.fullmatch(r"(\d{4})/(\d{2})", text):
        first = int(match.group(1))
        if (first + 1) % 100 != int(match.group(2)):
            raise ValueError(f"{text!r}: a financial year is written like 2024/25")
        return financial_year(first)
    if re.fullmatch(r"\d{4}", text):
        year = int(text)
        return Period(text, dt.date(year, 1, 1), dt.date(year, 12, 31))
    raise ValueError(f"{text!r}: give a financial year (2024/25) or a calendar year (2024)")


@dataclass(frozen=True)
class Row:
    site: str
    modality: str | None
    exposure_kind: str | None
    codes: tuple[str, ...]
    notifiable: bool | None
    discovered_on: dt.date
    duty_holder: str | None = None
    process_step: str | None = None
    #: the close-out's coding in CQC's published three-tier error taxonomy (codes), and the
    #: national radiotherapy event level (1-5, as text), when the investigation recorded them
    cqc_duty_holder: str | None = None
    cqc_pathway_point: str | None = None
    cqc_what_went_wrong: str | None = None
    rte_level: str | None = None


def _count(values: Iterable[str | None]) -> list[tuple[str, int]]:
    counts = Counter(v or "not recorded" for v in values)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _change(now: int, before: int) -> float | None:
    return None if before == 0 else round(100 * (now - before) / before, 1)


def annual_report(
    trust: str,
    period: Period,
    rows: Sequence[Row],
    previous_rows: Sequence[Row],
    activity: Mapping[tuple[str, str], int],
) -> dict[str, Any]:
    """Counts, rates, year-on-year change and site comparison. ``activity`` maps (site, modality)
    to examinations in the period."""
    categories = [split_code(c).category for r in rows for c in r.codes]
    by_modality = Counter(r.modality or "not recorded" for r in rows)
    before_modality = Counter(r.modality or "not recorded" for r in previous_rows)
    exams_by_modality: Counter[str] = Counter()
    for (_, modality), exams in activity.items():
        exams_by_modality[modality] += exams
    rates = [
        {
            "modality": m,
            "incidents": by_modality.get(m, 0),
            "examinations": exams,
            "per_1000": round(1000 * by_modality.get(m, 0) / exams, 3) if exams else None,
        }
        for m, exams in sorted(exams_by_modality.items())
    ]
    sites = sorted({r.site for r in rows} | {s for s, _ in activity})
    site_rows: list[dict[str, Any]] = []
    for site in sites:
        incidents = sum(1 for r in rows if r.site == site)
        exams = sum(e for (s, _), e in activity.items() if s == site)
        site_rows.append(
            {
                "site": site,
                "incidents": incidents,
                "notifiable": sum(1 for r in rows if r.site == site and r.notifiable),
                "examinations": exams or None,
                "per_1000": round(1000 * incidents / exams, 3) if exams else None,
            }
        )
    known: list[float] = [s["per_1000"] for s in site_rows if s["per_1000"] is not None]
    typical = median(known) if len(known) >= 2 else None
    for s in site_rows:
        rate: float | None = s["per_1000"]
        s["low_reporting"] = bool(typical and rate is not None and rate < typical / 2)
    modalities = sorted(set(by_modality) | set(before_modality))
    return {
        "trust": trust,
        "period": {"label": period.label, "start": period.start.isoformat(), "end": period.end.isoformat()},
        "previous_period": period.previous().label,
        "totals": {
            "incidents": len(rows),
            "notifiable": sum(1 for r in rows if r.notifiable),
            "previous_incidents": len(previous_rows),
            "change_percent": _change(len(rows), len(previous_rows)),
        },
        "by_code": _count(categories),
        "by_modality": _count(r.modality for r in rows),
        "by_exposure_kind": _count(r.exposure_kind for r in rows),
        "by_duty_holder": _count(r.duty_holder for r in rows),
        "by_process_step": _count(r.process_step for r in rows),
        "rates": rates,
        "year_on_year": [
            {
                "modality": m,
                "this_year": by_modality.get(m, 0),
                "previous_year": before_modality.get(m, 0),
                "change_percent": _change(by_modality.get(m, 0), before_modality.get(m, 0)),
            }
            for m in modalities
        ],
        "sites": site_rows,
    }
