"""Annual (and five-year, and pregnancy) dose limits over a person's records, one row per limit on
each side of it, citing where the limit is written.

Ids read ``<table>-<limit>-<case>``; IRR17 rows cite Schedule 3 (its text is not among the domain
sources, docs/classifier.md says what we relied on), AERB rows the lines of
hospital-radiation-safety-policy-aerb.txt.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest

from sievert_classifier.domain.cumulative import (
    Assessment,
    CountedRecord,
    annual_totals,
    assess,
    changes,
)
from sievert_classifier.domain.dose_limits import (
    AERB_2022,
    TRUST_LEVELS,
    UK_IRR17,
    DoseLimit,
    DoseLimitTable,
    DosePolicy,
    select_table,
)
from sievert_shared.events.doses import DoseQuantity, PersonalDoses, PersonCategory

CLASSIFIED = PersonCategory.CLASSIFIED_WORKER
NON_CLASSIFIED = PersonCategory.NON_CLASSIFIED_WORKER
ADULT_TRAINEE = PersonCategory.TRAINEE_18_OR_OVER
YOUNG_TRAINEE = PersonCategory.TRAINEE_UNDER_18
PUBLIC = PersonCategory.MEMBER_OF_PUBLIC


def record(
    category: PersonCategory = CLASSIFIED,
    month: int = 1,
    year: int = 2024,
    pregnancy: dt.date | None = None,
    **doses: float,
) -> CountedRecord:
    """One month's record (period ending on the 28th of ``month``)."""
    return CountedRecord(
        record_id=uuid.uuid4(),
        category=category,
        period_end=dt.date(year, month, 28),
        doses=PersonalDoses.model_validate({f"{name}_msv": value for name, value in doses.items()}),
        pregnancy_declared_on=pregnancy,
    )


#: Twelve monthly Hp(10) readings that add up to 20 mSv exactly, as written; added as binary
#: floats they come to 20.000000000000004, which would pass the limit by a rounding error.
TWELVE_MONTHS_OF_20 = (3.28, 0.66, 0.51, 0.61, 1.54, 0.96, 1.04, 1.9, 2.79, 1.14, 2.51, 3.06)


def monthly(readings: Sequence[float]) -> list[CountedRecord]:
    """One record a month of 2024 with each Hp(10) reading."""
    return [record(month=month, hp10=value) for month, value in enumerate(readings, start=1)]


def exceeded(records: Sequence[CountedRecord], table: DoseLimitTable) -> set[str]:
    found = assess(records, lambda _year: [(table.id, table.limits)])
    return {a.limit.key for a in found if a.exceeded}


IRR17_ROWS = [
    # Schedule 3 Part 1: employees and trainees aged 18 or over, 20 mSv effective a calendar year.
    pytest.param([record(hp10=20.0)], set(), id="irr17-effective-adult-at-20-Sch3-P1"),
    pytest.param([record(hp10=12.0), record(month=6, hp10=8.01)], {"effective-adult"},
                 id="irr17-effective-adult-above-20-over-two-records-Sch3-P1"),
    pytest.param(monthly(TWELVE_MONTHS_OF_20), set(), id="irr17-effective-adult-twelve-twelfths-of-20-Sch3-P1"),
    pytest.param([record(NON_CLASSIFIED, hp10=20.5)], {"effective-adult"},
                 id="irr17-effective-non-classified-above-20-Sch3-P1"),
    pytest.param([record(ADULT_TRAINEE, hp10=20.5)], {"effective-adult"},
                 id="irr17-effective-adult-trainee-above-20-Sch3-P1"),
    pytest.param([record(hp3=20.0)], set(), id="irr17-lens-adult-at-20-Sch3-P1"),
    pytest.param([record(hp3=20.1)], {"lens-adult"}, id="irr17-lens-adult-above-20-Sch3-P1"),
    pytest.param([record(hp007=500.0)], set(), id="irr17-skin-adult-at-500-Sch3-P1"),
    pytest.param([record(hp007=500.1)], {"skin-adult"}, id="irr17-skin-adult-above-500-Sch3-P1"),
    pytest.param([record(extremity=300.0), record(month=2, extremity=200.5)], {"extremities-adult"},
                 id="irr17-extremities-adult-above-500-Sch3-P1"),
    # Schedule 3 Part 1: trainees aged under 18.
    pytest.param([record(YOUNG_TRAINEE, hp10=6.0)], set(), id="irr17-effective-trainee-under-18-at-6-Sch3-P1"),
    pytest.param([record(YOUNG_TRAINEE, hp10=6.1)], {"effective-trainee-under-18"},
                 id="irr17-effective-trainee-under-18-above-6-Sch3-P1"),
    pytest.param([record(YOUNG_TRAINEE, hp3=15.1)], {"lens-trainee-under-18"},
                 id="irr17-lens-trainee-under-18-above-15-Sch3-P1"),
    pytest.param([record(YOUNG_TRAINEE, hp007=150.1)], {"skin-trainee-under-18"},
                 id="irr17-skin-trainee-under-18-above-150-Sch3-P1"),
    pytest.param([record(YOUNG_TRAINEE, extremity=150.0)], set(),
                 id="irr17-extremities-trainee-under-18-at-150-Sch3-P1"),
    pytest.param([record(YOUNG_TRAINEE, extremity=150.1)], {"extremities-trainee-under-18"},
                 id="irr17-extremities-trainee-under-18-above-150-Sch3-P1"),
    # Schedule 3 Part 1: any other person (a member of the public).
    pytest.param([record(PUBLIC, hp10=1.0)], set(), id="irr17-effective-public-at-1-Sch3-P1"),
    pytest.param([record(PUBLIC, hp10=0.6), record(PUBLIC, month=9, hp10=0.41)], {"effective-public"},
                 id="irr17-effective-public-above-1-over-two-records-Sch3-P1"),
    pytest.param([record(PUBLIC, hp3=15.1)], {"lens-public"}, id="irr17-lens-public-above-15-Sch3-P1"),
    pytest.param([record(PUBLIC, hp007=50.1)], {"skin-public"}, id="irr17-skin-public-above-50-Sch3-P1"),
    pytest.param([record(PUBLIC, extremity=50.1)], {"extremities-public"},
                 id="irr17-extremities-public-above-50-Sch3-P1"),
    # Per calendar year: 15 mSv in each of two years exceeds nothing.
    pytest.param([record(hp10=15.0, year=2023, month=12), record(hp10=15.0, year=2024)], set(),
                 id="irr17-effective-adult-per-calendar-year-Sch3-P1"),
    # A year in which the person was a trainee under 18 and then an adult worker: the stricter binds.
    pytest.param([record(YOUNG_TRAINEE, month=3, hp10=4.0), record(CLASSIFIED, month=9, hp10=3.0)],
                 {"effective-trainee-under-18"}, id="irr17-effective-turned-18-in-the-year-stricter-binds-Sch3-P1"),
]  # fmt: skip


@pytest.mark.parametrize(("records", "expected"), IRR17_ROWS)
def test_annual_dose_limit_irr17(records: list[CountedRecord], expected: set[str]) -> None:
    assert exceeded(records, UK_IRR17) == expected


AERB_ROWS = [
    # Line 535: workers, 30 mSv effective in a calendar year.
    pytest.param([record(hp10=30.0)], set(), id="aerb-effective-worker-at-30-L535"),
    pytest.param([record(hp10=30.1)], {"effective-worker"}, id="aerb-effective-worker-above-30-L535"),
    # Line 534: 100 mSv over five years, read as five consecutive calendar years.
    pytest.param([record(hp10=25.0, year=y, month=6) for y in range(2021, 2025)], set(),
                 id="aerb-effective-worker-100-in-four-years-L534"),
    pytest.param([record(hp10=25.0, year=y, month=6) for y in range(2020, 2025)], {"effective-worker-five-years"},
                 id="aerb-effective-worker-125-in-five-years-L534"),
    pytest.param([record(hp10=25.0, year=y, month=6) for y in (2018, 2019, 2020, 2023, 2024)], set(),
                 id="aerb-effective-worker-125-over-seven-years-L534"),
    # Line 536-537: lens 150, skin 500, hands and feet 500 mSv.
    pytest.param([record(hp3=150.0)], set(), id="aerb-lens-worker-at-150-L536"),
    pytest.param([record(hp3=150.1)], {"lens-worker"}, id="aerb-lens-worker-above-150-L536"),
    pytest.param([record(hp007=500.1)], {"skin-worker"}, id="aerb-skin-worker-above-500-L537"),
    pytest.param([record(extremity=500.1)], {"extremities-worker"}, id="aerb-extremities-worker-above-500-L537"),
    # Line 538: 2 mSv to the abdomen for the remainder of a declared pregnancy, across years.
    pytest.param([record(month=11, year=2023, pregnancy=dt.date(2023, 10, 2), hp10=1.0),
                  record(month=2, pregnancy=dt.date(2023, 10, 2), hp10=1.0)], set(),
                 id="aerb-pregnant-worker-at-2-L538"),
    pytest.param([record(month=11, year=2023, pregnancy=dt.date(2023, 10, 2), hp10=1.0),
                  record(month=2, pregnancy=dt.date(2023, 10, 2), hp10=1.1)], {"abdomen-pregnant-worker"},
                 id="aerb-pregnant-worker-above-2-across-years-L538"),
    pytest.param([record(month=1, hp10=1.5), record(month=6, pregnancy=dt.date(2024, 5, 2), hp10=1.5)], set(),
                 id="aerb-pregnant-worker-counts-only-the-pregnancy-L538"),
    # Line 486, 541: trainees 6 mSv, whatever their age.
    pytest.param([record(ADULT_TRAINEE, hp10=6.1)], {"effective-trainee"}, id="aerb-effective-trainee-above-6-L541"),
    pytest.param([record(YOUNG_TRAINEE, hp3=100.0)], set(), id="aerb-trainee-has-no-lens-limit-L539-541"),
    # Line 543: public 1 mSv.
    pytest.param([record(PUBLIC, hp10=1.0)], set(), id="aerb-effective-public-at-1-L543"),
    pytest.param([record(PUBLIC, hp10=1.01)], {"effective-public"}, id="aerb-effective-public-above-1-L543"),
]  # fmt: skip


@pytest.mark.parametrize(("records", "expected"), AERB_ROWS)
def test_annual_dose_limit_aerb(records: list[CountedRecord], expected: set[str]) -> None:
    assert exceeded(records, AERB_2022) == expected


SAME_RECORDS_TWO_LAWS = [
    # The same records, judged under each table: the table, not the code, decides.
    pytest.param([record(hp10=25.0)], {"effective-adult"}, set(), id="effective-25-irr17-20-aerb-30"),
    pytest.param([record(hp3=60.0)], {"lens-adult"}, set(), id="lens-60-irr17-20-aerb-150"),
    pytest.param([record(ADULT_TRAINEE, hp10=10.0)], set(), {"effective-trainee"},
                 id="adult-trainee-10-irr17-as-employee-aerb-as-trainee"),
    pytest.param([record(YOUNG_TRAINEE, hp3=20.0)], {"lens-trainee-under-18"}, set(),
                 id="young-trainee-lens-20-irr17-15-aerb-none"),
    pytest.param([record(PUBLIC, hp3=20.0)], {"lens-public"}, set(), id="public-lens-20-irr17-15-aerb-none"),
    pytest.param([record(pregnancy=dt.date(2024, 1, 2), hp10=3.0)], set(), {"abdomen-pregnant-worker"},
                 id="pregnant-3-irr17-no-row-aerb-2"),
]  # fmt: skip


@pytest.mark.parametrize(("records", "under_irr17", "under_aerb"), SAME_RECORDS_TWO_LAWS)
def test_annual_dose_limit_same_records_under_two_tables(
    records: list[CountedRecord], under_irr17: set[str], under_aerb: set[str]
) -> None:
    assert exceeded(records, UK_IRR17) == under_irr17
    assert exceeded(records, AERB_2022) == under_aerb


def test_annual_dose_limit_tables_are_chosen_by_jurisdiction_and_year() -> None:
    policy = DosePolicy({"RIN": "in-aerb"}, {})
    assert policy.table("RXX", 2024) is UK_IRR17
    assert policy.table("RIN", 2024) is AERB_2022
    assert policy.table("RIN", 2022) is AERB_2022  # in force before the year ended
    assert policy.table("RIN", 2021) is None and select_table("uk", 2017) is None
    with pytest.raises(ValueError, match="no dose limit table"):
        DosePolicy({"RXX": "mars"}, {})


#: Lines of hospital-radiation-safety-policy-aerb.txt (568 lines): the "DOSE LIMITS" section is
#: 532-544, and line 486 gives the trainees' limit again.
AERB_LINES = 568


def test_annual_dose_limit_every_row_states_its_value_and_cites_its_source() -> None:
    for limit in AERB_2022.limits:
        assert f"{limit.limit_msv:g} mSv" in limit.text, limit.key
        assert limit.citation.source == "hospital-radiation-safety-policy-aerb.txt"
        assert limit.citation.lines and all(532 <= n <= 544 or n == 486 for n in limit.citation.lines)
        assert max(limit.citation.lines) <= AERB_LINES
    for limit in UK_IRR17.limits:
        assert f"{limit.limit_msv:g} mSv" in limit.text, limit.key
        assert limit.citation.source.startswith("SI 2017/1075 (IRR17) Schedule 3")


def test_annual_dose_limit_investigation_levels_are_the_trusts() -> None:
    policy = DosePolicy({}, {"RXX": {DoseQuantity.HP10: 6.0}})
    records = [record(hp10=4.0), record(month=5, hp10=2.5)]
    found = assess(records, lambda year: policy.limits_for("RXX", year))
    assert {(a.table, a.limit.key) for a in found if a.exceeded} == {(TRUST_LEVELS, "investigation-hp10")}
    assert policy.limits_for("ROTHER", 2024) == [(UK_IRR17.id, UK_IRR17.limits)]


def test_annual_dose_limit_totals_are_decimal_sums_per_calendar_year() -> None:
    readings = monthly(TWELVE_MONTHS_OF_20)
    records = [*readings, record(hp3=0.1), record(month=2, hp3=0.2), record(year=2023, hp10=9.0)]
    assert annual_totals(records, 2024) == {DoseQuantity.HP10: Decimal(20), DoseQuantity.HP3: Decimal("0.3")}


def _assessments(records: list[CountedRecord]) -> list[Assessment]:
    return assess(records, lambda _year: [(UK_IRR17.id, UK_IRR17.limits)])


def test_annual_dose_limit_is_announced_once_and_withdrawn_when_a_correction_brings_it_back() -> None:
    first = record(month=3, hp10=12.0)
    second = record(month=8, hp10=9.0)
    key = (UK_IRR17.id, "effective-adult", "2024")
    crossed = changes(_assessments([first, second]), announced=[])
    assert [a.key for a in crossed.exceeded] == [key] and not crossed.withdrawn
    assert crossed.exceeded[0].total_msv == Decimal("21.0")
    assert crossed.exceeded[0].records == (first.record_id, second.record_id)
    # A later record keeps it exceeded: nothing new to announce.
    again = changes(_assessments([first, second, record(month=9, hp10=1.0)]), announced=[key])
    assert not again.exceeded and not again.withdrawn
    # A correction of the second record to 7 mSv replaces it: 19 mSv, withdrawn.
    corrected = record(month=8, hp10=7.0)
    back = changes(_assessments([first, corrected]), announced=[key])
    assert not back.exceeded
    [(withdrawn_key, now)] = back.withdrawn
    assert withdrawn_key == key and now is not None and now.total_msv == Decimal("19.0")


def test_annual_dose_limit_withdrawn_when_no_record_of_the_period_is_left() -> None:
    key = (UK_IRR17.id, "effective-adult", "2023")
    found = changes(_assessments([record(hp10=3.0)]), announced=[key])
    assert found.withdrawn == [(key, None)]


def test_annual_dose_limit_rows_are_data() -> None:
    # Every table is rows of one shape; a key names one row only.
    for table in (UK_IRR17, AERB_2022):
        assert all(isinstance(limit, DoseLimit) and limit.text for limit in table.limits)
    duplicate: Any = UK_IRR17.limits[0]
    with pytest.raises(ValueError, match="twice"):
        DoseLimitTable("x", "uk", dt.date(2030, 1, 1), (duplicate, duplicate))
