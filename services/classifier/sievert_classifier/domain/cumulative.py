"""A person's running dose totals, and which limits (or investigation levels) they exceed.

Pure: the caller gives the person's records still in force (a corrected record is replaced by
its correction) and, for each calendar year, the limits in force; ``assess`` gives every
(limit, period) the records reach, with its total, and ``exceeded`` says which pass.

Readings, each written in docs/classifier.md ("Occupational and public dose limits"):

* A record counts in the calendar year its period ends in (dosimetry wear periods may straddle
  the new year; the year of the report is the one its dose is recorded in).
* A total exceeds a limit when it is above it; a total exactly at the limit does not (IRR17 and
  AERB both say "shall not exceed"). Sums are decimal, as the doses were written, so twelve
  monthly 1.666... do not drift past a limit by a rounding error.
* A period in which a person's records name more than one category (a trainee who turned 18, a
  worker newly classified) is held to the limits of every category named: the stricter binds.
* A five-year limit (AERB's "block of five years") is read as every run of five consecutive
  calendar years ending with a year that has records: any fixed block that is exceeded is then
  exceeded in one of these windows too, at the latest when it is.
* A pregnancy limit sums the records that carry the same declaration date, across years.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sievert_classifier.domain.dose_limits import DoseLimit
from sievert_classifier.domain.model import dec
from sievert_shared.events.doses import DoseQuantity, ExceedancePeriod, PersonalDoses, PersonCategory

__all__ = ["Assessment", "Changes", "CountedRecord", "annual_totals", "assess", "changes", "year_of"]


def year_of(period_end: date) -> int:
    """The calendar year a record counts in: the year its period ends."""
    return period_end.year


@dataclass(frozen=True, slots=True)
class CountedRecord:
    """One record still in force, as the totals need it."""

    record_id: uuid.UUID
    category: PersonCategory
    period_end: date
    doses: PersonalDoses
    pregnancy_declared_on: date | None = None

    @property
    def year(self) -> int:
        return year_of(self.period_end)


@dataclass(frozen=True, slots=True)
class Assessment:
    """One limit over one period: the total the records reach and which records made it."""

    limit: DoseLimit
    table: str
    #: The period's key: "2024", "2020-2024" (five calendar years), "pregnancy:2024-03-04".
    period_key: str
    #: The calendar year the finding is announced in (the period's last year).
    year: int
    total_msv: Decimal
    records: tuple[uuid.UUID, ...]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.table, self.limit.key, self.period_key)

    @property
    def exceeded(self) -> bool:
        return self.total_msv > dec(self.limit.limit_msv)


def _total(records: Iterable[CountedRecord], quantity: DoseQuantity) -> tuple[Decimal, tuple[uuid.UUID, ...]]:
    total = Decimal(0)
    counted: list[uuid.UUID] = []
    for record in records:
        value = record.doses.of(quantity)
        if value is not None:
            total += dec(value)
            counted.append(record.record_id)
    return total, tuple(counted)


def annual_totals(records: Iterable[CountedRecord], year: int) -> dict[DoseQuantity, Decimal]:
    """The person's totals of one calendar year, by quantity (only quantities recorded)."""
    of_year = [record for record in records if record.year == year]
    totals: dict[DoseQuantity, Decimal] = {}
    for quantity in DoseQuantity:
        total, counted = _total(of_year, quantity)
        if counted:
            totals[quantity] = total
    return totals


#: The limits in force for a calendar year, as (table id, rows): the jurisdiction's table and the
#: trust's investigation levels.
LimitsOfYear = Callable[[int], Sequence[tuple[str, Sequence[DoseLimit]]]]


def assess(records: Sequence[CountedRecord], limits_of_year: LimitsOfYear) -> list[Assessment]:
    """Every (limit, period) that applies to the person's records, with its total."""
    found: list[Assessment] = []
    for year in sorted({record.year for record in records}):
        of_year = [record for record in records if record.year == year]
        categories = {record.category for record in of_year}
        for table, limits in limits_of_year(year):
            for limit in limits:
                if not categories & limit.persons:
                    continue
                found.extend(_periods(limit, table, year, records, of_year))
    return found


def _periods(
    limit: DoseLimit,
    table: str,
    year: int,
    records: Sequence[CountedRecord],
    of_year: Sequence[CountedRecord],
) -> Iterable[Assessment]:
    period = limit.period
    if period is ExceedancePeriod.CALENDAR_YEAR:
        total, counted = _total(of_year, limit.quantity)
        if counted:
            yield Assessment(limit, table, str(year), year, total, counted)
    elif period is ExceedancePeriod.FIVE_CALENDAR_YEARS:
        window = [record for record in records if year - 4 <= record.year <= year]
        total, counted = _total(window, limit.quantity)
        if counted:
            yield Assessment(limit, table, f"{year - 4}-{year}", year, total, counted)
    else:
        # A pregnancy is assessed in the year of its latest record, over all of its records.
        declared = {r.pregnancy_declared_on for r in of_year if r.pregnancy_declared_on is not None}
        for on in sorted(declared):
            pregnancy = [record for record in records if record.pregnancy_declared_on == on]
            if max(record.year for record in pregnancy) != year:
                continue
            total, counted = _total(pregnancy, limit.quantity)
            if counted:
                yield Assessment(limit, table, f"pregnancy:{on.isoformat()}", year, total, counted)


@dataclass(frozen=True)
class Changes:
    """What to announce: limits newly exceeded, and announced ones a correction brought back within
    (with their assessment now, or None when no record of the period is left)."""

    exceeded: list[Assessment]
    withdrawn: list[tuple[tuple[str, str, str], Assessment | None]]


def changes(assessments: Sequence[Assessment], announced: Iterable[tuple[str, str, str]]) -> Changes:
    """Compare the assessments with what was announced before: each exceedance is announced once,
    and withdrawn once when it no longer holds."""
    before = set(announced)
    by_key = {assessment.key: assessment for assessment in assessments}
    exceeded = [a for a in assessments if a.exceeded and a.key not in before]
    withdrawn = [
        (key, by_key.get(key)) for key in sorted(before) if key not in by_key or not by_key[key].exceeded
    ]
    return Changes(exceeded, withdrawn)
