"""Occupational and public dose limits as data: one versioned table per jurisdiction.

The law is in the tables, not in the code: ``sievert_classifier.domain.cumulative`` sums a
person's records and compares the totals with whatever rows the table in force gives, so a
jurisdiction with other limits (or a new version of the UK's) is a new table, not new code.

Two tables ship:

* ``UK_IRR17`` (jurisdiction ``uk``): Schedule 3 of the Ionising Radiation Regulations 2017
  (SI 2017/1075), in force from 1 January 2018. Its text is not among the project's domain
  sources; the values are the limits as we know IRR17 Schedule 3, and docs/classifier.md
  ("Occupational and public dose limits") says what we relied on.
* ``AERB_2022`` (jurisdiction ``in-aerb``): the dose limits of the hospital radiation safety policy
  under India's AERB code (``hospital-radiation-safety-policy-aerb.txt``, issued 22 April 2022),
  cited by line.

A trust's own investigation levels are rows of the same shape (``investigation_levels``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from sievert_shared.decision import Citation
from sievert_shared.events.doses import DoseLimitCited, DoseQuantity, ExceedancePeriod, PersonCategory

__all__ = [
    "AERB_2022",
    "DEFAULT_JURISDICTION",
    "TABLES",
    "UK_IRR17",
    "DoseLimit",
    "DoseLimitTable",
    "DosePolicy",
    "investigation_levels",
    "select_table",
]

DEFAULT_JURISDICTION = "uk"

#: The table id of a trust's own investigation levels.
TRUST_LEVELS = "trust"

HP10, HP007, HP3, EXTREMITY = DoseQuantity.HP10, DoseQuantity.HP007, DoseQuantity.HP3, DoseQuantity.EXTREMITY
YEAR = ExceedancePeriod.CALENDAR_YEAR
FIVE_YEARS = ExceedancePeriod.FIVE_CALENDAR_YEARS
PREGNANCY = ExceedancePeriod.DECLARED_PREGNANCY

#: Adults at work: employees (classified or not) and trainees aged 18 or over.
ADULT_WORKERS = frozenset(
    {
        PersonCategory.CLASSIFIED_WORKER,
        PersonCategory.NON_CLASSIFIED_WORKER,
        PersonCategory.TRAINEE_18_OR_OVER,
    }
)
EMPLOYEES = frozenset({PersonCategory.CLASSIFIED_WORKER, PersonCategory.NON_CLASSIFIED_WORKER})
TRAINEES = frozenset({PersonCategory.TRAINEE_18_OR_OVER, PersonCategory.TRAINEE_UNDER_18})
YOUNG_TRAINEES = frozenset({PersonCategory.TRAINEE_UNDER_18})
PUBLIC = frozenset({PersonCategory.MEMBER_OF_PUBLIC})


@dataclass(frozen=True, slots=True)
class DoseLimit:
    """One row: whom it binds, on which quantity, over which period, and where it is written."""

    key: str
    quantity: DoseQuantity
    limit_msv: float
    persons: frozenset[PersonCategory]
    period: ExceedancePeriod
    text: str
    citation: Citation

    def cited(self, table: str) -> DoseLimitCited:
        return DoseLimitCited(
            key=self.key,
            table=table,
            quantity=self.quantity,
            limit_msv=self.limit_msv,
            period=self.period,
            text=self.text,
            citation=self.citation,
        )


@dataclass(frozen=True, slots=True)
class DoseLimitTable:
    """A jurisdiction's limits as in force from ``applies_from``."""

    id: str
    jurisdiction: str
    applies_from: date
    limits: tuple[DoseLimit, ...]

    def __post_init__(self) -> None:
        keys = [limit.key for limit in self.limits]
        if len(keys) != len(set(keys)):
            raise ValueError(f"{self.id}: a limit key appears twice")


def _irr17(part: str) -> Citation:
    # The IRR17 text is not in the domain sources: cited by Schedule and Part, with no line numbers.
    return Citation(source=f"SI 2017/1075 (IRR17) Schedule 3, {part}", lines=())


_IRR17_ADULTS = _irr17("Part 1: employees and trainees aged 18 or over")
_IRR17_YOUNG_TRAINEES = _irr17("Part 1: trainees aged under 18")
_IRR17_OTHERS = _irr17("Part 1: any other person")

UK_IRR17 = DoseLimitTable(
    id="uk-irr17-2018",
    jurisdiction="uk",
    applies_from=date(2018, 1, 1),
    limits=(
        DoseLimit("effective-adult", HP10, 20, ADULT_WORKERS, YEAR,
                  "Effective dose, employees and trainees aged 18 or over: 20 mSv in a calendar year.",
                  _IRR17_ADULTS),
        DoseLimit("lens-adult", HP3, 20, ADULT_WORKERS, YEAR,
                  "Equivalent dose to the lens of the eye, employees and trainees aged 18 or over: 20 mSv "
                  "in a calendar year.", _IRR17_ADULTS),
        DoseLimit("skin-adult", HP007, 500, ADULT_WORKERS, YEAR,
                  "Equivalent dose to the skin (averaged over any area of 1 cm2), employees and trainees "
                  "aged 18 or over: 500 mSv in a calendar year.", _IRR17_ADULTS),
        DoseLimit("extremities-adult", EXTREMITY, 500, ADULT_WORKERS, YEAR,
                  "Equivalent dose to the hands, forearms, feet and ankles, employees and trainees aged "
                  "18 or over: 500 mSv in a calendar year.", _IRR17_ADULTS),
        DoseLimit("effective-trainee-under-18", HP10, 6, YOUNG_TRAINEES, YEAR,
                  "Effective dose, trainees aged under 18: 6 mSv in a calendar year.", _IRR17_YOUNG_TRAINEES),
        DoseLimit("lens-trainee-under-18", HP3, 15, YOUNG_TRAINEES, YEAR,
                  "Equivalent dose to the lens of the eye, trainees aged under 18: 15 mSv in a calendar year.",
                  _IRR17_YOUNG_TRAINEES),
        DoseLimit("skin-trainee-under-18", HP007, 150, YOUNG_TRAINEES, YEAR,
                  "Equivalent dose to the skin (averaged over 1 cm2), trainees aged under 18: 150 mSv in a "
                  "calendar year.", _IRR17_YOUNG_TRAINEES),
        DoseLimit("extremities-trainee-under-18", EXTREMITY, 150, YOUNG_TRAINEES, YEAR,
                  "Equivalent dose to the extremities, trainees aged under 18: 150 mSv in a calendar year.",
                  _IRR17_YOUNG_TRAINEES),
        DoseLimit("effective-public", HP10, 1, PUBLIC, YEAR,
                  "Effective dose, any other person (a member of the public): 1 mSv in a calendar year.",
                  _IRR17_OTHERS),
        DoseLimit("lens-public", HP3, 15, PUBLIC, YEAR,
                  "Equivalent dose to the lens of the eye, any other person: 15 mSv in a calendar year.",
                  _IRR17_OTHERS),
        DoseLimit("skin-public", HP007, 50, PUBLIC, YEAR,
                  "Equivalent dose to the skin (averaged over 1 cm2), any other person: 50 mSv in a "
                  "calendar year.", _IRR17_OTHERS),
        DoseLimit("extremities-public", EXTREMITY, 50, PUBLIC, YEAR,
                  "Equivalent dose to the extremities, any other person: 50 mSv in a calendar year.",
                  _IRR17_OTHERS),
    ),
)  # fmt: skip

_AERB = "hospital-radiation-safety-policy-aerb.txt"


def _aerb(*lines: int) -> Citation:
    return Citation(source=_AERB, lines=lines)


AERB_2022 = DoseLimitTable(
    id="in-aerb-2022",
    jurisdiction="in-aerb",
    applies_from=date(2022, 4, 22),  # the policy's issue date (line 7)
    limits=(
        DoseLimit("effective-worker-five-years", HP10, 100, EMPLOYEES, FIVE_YEARS,
                  "Workers: the cumulative effective dose over a block of five years shall not exceed "
                  "100 mSv. Read as any five consecutive calendar years ending with the year assessed.",
                  _aerb(533, 534)),
        DoseLimit("effective-worker", HP10, 30, EMPLOYEES, YEAR,
                  "Workers: the effective dose in any calendar year during a five-year block shall not "
                  "exceed 30 mSv.", _aerb(533, 535)),
        DoseLimit("lens-worker", HP3, 150, EMPLOYEES, YEAR,
                  "Workers: the equivalent dose in any calendar year to the lens of the eye shall not exceed "
                  "150 mSv.", _aerb(533, 536)),
        DoseLimit("skin-worker", HP007, 500, EMPLOYEES, YEAR,
                  "Workers: the equivalent dose in any calendar year to the skin shall not exceed 500 mSv.",
                  _aerb(533, 537)),
        DoseLimit("extremities-worker", EXTREMITY, 500, EMPLOYEES, YEAR,
                  "Workers: the equivalent dose in any calendar year to the hands and feet shall not "
                  "exceed 500 mSv.", _aerb(533, 537)),
        DoseLimit("abdomen-pregnant-worker", HP10, 2, EMPLOYEES, PREGNANCY,
                  "A woman worker, once pregnancy has been established: 2 mSv equivalent dose to the surface "
                  "of the abdomen for the remainder of the pregnancy. Read from Hp(10) of the body "
                  "dosimeter over the records of the declared pregnancy.", _aerb(538)),
        DoseLimit("effective-trainee", HP10, 6, TRAINEES, YEAR,
                  "Trainees: the effective dose in any calendar year shall not exceed 6 mSv.",
                  _aerb(486, 539, 541)),
        DoseLimit("effective-public", HP10, 1, PUBLIC, YEAR,
                  "Public: the effective dose in any calendar year shall not exceed 1 mSv (the higher value "
                  "allowed in special circumstances, line 544, is not assumed).", _aerb(542, 543)),
    ),
)  # fmt: skip

#: Every table, by jurisdiction, oldest first.
TABLES: Mapping[str, tuple[DoseLimitTable, ...]] = {
    "uk": (UK_IRR17,),
    "in-aerb": (AERB_2022,),
}


def select_table(jurisdiction: str, year: int) -> DoseLimitTable | None:
    """The table of ``jurisdiction`` in force at the end of ``year``; None before its first."""
    end_of_year = date(year, 12, 31)
    in_force = [table for table in TABLES[jurisdiction] if table.applies_from <= end_of_year]
    return in_force[-1] if in_force else None


def investigation_levels(levels: Mapping[DoseQuantity, float]) -> tuple[DoseLimit, ...]:
    """A trust's investigation levels, per quantity in mSv over a calendar year, for every person."""
    everyone = frozenset(PersonCategory)
    return tuple(
        DoseLimit(
            key=f"investigation-{quantity.value}",
            quantity=quantity,
            limit_msv=value,
            persons=everyone,
            period=YEAR,
            text=f"The trust's investigation level for {quantity.value}: {value:g} mSv in a calendar year.",
            citation=Citation(
                source="the trust's investigation levels (CLASSIFIER_DOSE_INVESTIGATION_LEVELS)", lines=()
            ),
        )
        for quantity, value in sorted(levels.items())
    )


@dataclass(frozen=True)
class DosePolicy:
    """Which jurisdiction's table each trust is under (default ``uk``) and its investigation levels."""

    jurisdictions: Mapping[str, str]
    levels: Mapping[str, Mapping[DoseQuantity, float]]

    def __post_init__(self) -> None:
        unknown = set(self.jurisdictions.values()) - set(TABLES)
        if unknown:
            raise ValueError(f"no dose limit table for jurisdiction(s) {sorted(unknown)}")

    def jurisdiction(self, trust: str) -> str:
        return self.jurisdictions.get(trust, DEFAULT_JURISDICTION)

    def table(self, trust: str, year: int) -> DoseLimitTable | None:
        return select_table(self.jurisdiction(trust), year)

    def levels_of(self, trust: str) -> Sequence[DoseLimit]:
        return investigation_levels(self.levels.get(trust, {}))

    def limits_for(self, trust: str, year: int) -> list[tuple[str, Sequence[DoseLimit]]]:
        """The rows binding the trust's people in ``year``, by table id: the jurisdiction's table in
        force (none before its first) and the trust's investigation levels."""
        found: list[tuple[str, Sequence[DoseLimit]]] = []
        table = self.table(trust, year)
        if table is not None:
            found.append((table.id, table.limits))
        levels = self.levels_of(trust)
        if levels:
            found.append((TRUST_LEVELS, levels))
        return found
