"""Occupational and public dose records, and what the classifier finds in them.

Intake emits ``DoseRecordReceived`` and ``DoseRecordCorrected`` (topic: ``Topics.doses``) for a
dosimetry report of one person over one period; the stream is the person's dose history
(``dose_history_stream``), so one person's records keep their order on the topic. The classifier
keeps each person's running totals per calendar year and emits ``WorkerDoseLimitExceeded``
(routed to HSE, or HSENI in Northern Ireland, under IRR17 regulation 26: CQC guidance lines
393-401), ``WorkerInvestigationLevelExceeded`` (a level the trust set, investigated locally) and
``WorkerDoseExceedanceWithdrawn`` (a correction brought a total back within it) on
``Topics.classifications``, in a stream per person and year (``worker_year_stream``).

No event carries a name: a person is their dosimetry pseudonym only (``PERSON_PSEUDONYM_PATTERN``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sievert_shared.decision import Citation, OtherBody
from sievert_shared.events.registry import Event
from sievert_shared.facts import Nation

__all__ = [
    "PERSON_PSEUDONYM_PATTERN",
    "DoseLimitCited",
    "DoseQuantity",
    "DoseRecordCorrected",
    "DoseRecordReceived",
    "ExceedancePeriod",
    "PersonCategory",
    "PersonalDoses",
    "WorkerDoseExceedanceWithdrawn",
    "WorkerDoseLimitExceeded",
    "WorkerInvestigationLevelExceeded",
    "dose_history_stream",
    "worker_year_stream",
]

#: A dosimetry service's wearer code or the trust's own pseudonym: letters, digits and ``._-``, with
#: at least one digit and no space (4 to 64 characters), so a name ("Jane Smith", "Smith", "O'Neil") never matches.
#: Intake refuses an NHS-number-shaped code as well (``sievert_intake.domain.dose_records``).
PERSON_PSEUDONYM_PATTERN = r"^(?:[0-9]|[A-Za-z][A-Za-z._-]*[0-9])[A-Za-z0-9._-]*$"

#: Namespaces of the derived stream ids: fixed forever, or streams would split.
_DOSE_HISTORY_NAMESPACE = uuid.UUID("0d05e5a1-7c1e-4e0a-9a57-5ee7e2700001")
_WORKER_YEAR_NAMESPACE = uuid.UUID("0d05e5a1-7c1e-4e0a-9a57-5ee7e2700002")


def dose_history_stream(trust: str, person_pseudonym: str) -> uuid.UUID:
    """The stream of one person's dose records within a trust (intake's events)."""
    return uuid.uuid5(_DOSE_HISTORY_NAMESPACE, f"{trust}\x1f{person_pseudonym}")


def worker_year_stream(trust: str, person_pseudonym: str, year: int) -> uuid.UUID:
    """The stream of what the classifier found in one person's doses of one calendar year."""
    return uuid.uuid5(_WORKER_YEAR_NAMESPACE, f"{trust}\x1f{person_pseudonym}\x1f{year}")


class PersonCategory(StrEnum):
    """Whom a dose record is about: it picks the rows of the dose limit table that apply."""

    #: An employee designated as a classified person (IRR17 regulation 21), aged 18 or over.
    CLASSIFIED_WORKER = "classified_worker"
    #: An employee aged 18 or over who is not classified.
    NON_CLASSIFIED_WORKER = "non_classified_worker"
    #: A trainee (student, apprentice) aged 18 or over.
    TRAINEE_18_OR_OVER = "trainee_18_or_over"
    #: A trainee aged under 18.
    TRAINEE_UNDER_18 = "trainee_under_18"
    #: A member of the public (any other person).
    MEMBER_OF_PUBLIC = "member_of_public"


class DoseQuantity(StrEnum):
    """The operational quantities a dosimetry report gives, each assessing one protection quantity."""

    #: Hp(10) of the body dosimeter: assesses the effective dose (and, for a declared pregnancy,
    #: the dose at the surface of the abdomen where the dosimeter is worn).
    HP10 = "hp10"
    #: Hp(0.07) of the body dosimeter: assesses the equivalent dose to the skin.
    HP007 = "hp007"
    #: Hp(3) of an eye dosimeter: assesses the equivalent dose to the lens of the eye.
    HP3 = "hp3"
    #: Hp(0.07) of a ring or wrist dosimeter: assesses the equivalent dose to the extremities.
    EXTREMITY = "extremity"


_Dose = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]


class PersonalDoses(BaseModel):
    """Doses of one record in mSv (intake converts Sv and µSv; a Gy is refused)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hp10_msv: _Dose | None = Field(default=None, description="Hp(10), mSv: assesses the effective dose.")
    hp007_msv: _Dose | None = Field(
        default=None, description="Hp(0.07) of the body dosimeter, mSv: assesses the skin dose."
    )
    hp3_msv: _Dose | None = Field(
        default=None, description="Hp(3), mSv: assesses the dose to the lens of the eye."
    )
    extremity_msv: _Dose | None = Field(
        default=None, description="Hp(0.07) of a ring or wrist dosimeter, mSv: assesses the extremity dose."
    )

    @model_validator(mode="after")
    def _at_least_one(self) -> PersonalDoses:
        if all(value is None for value in self.model_dump().values()):
            raise ValueError("a dose record needs at least one dose")
        return self

    def of(self, quantity: DoseQuantity) -> float | None:
        value: float | None = getattr(self, f"{quantity.value}_msv")
        return value


class _DoseRecordFields(Event):
    record_id: uuid.UUID = Field(description="Intake's id of this record.")
    person_pseudonym: str = Field(
        pattern=PERSON_PSEUDONYM_PATTERN,
        min_length=4,
        max_length=64,
        description="The worker's (or member of the public's) pseudonym: never a name.",
    )
    category: PersonCategory = Field(description="Whom the record is about: picks the limits that apply.")
    nation: Nation = Field(description="UK nation of the site: HSE, or HSENI in Northern Ireland.")
    period_start: dt.date = Field(description="First day the record covers (inclusive).")
    period_end: dt.date = Field(
        description="Last day the record covers (inclusive); its calendar year is the year the doses count in."
    )
    doses: PersonalDoses
    pregnancy_declared_on: dt.date | None = Field(
        default=None,
        description="The date the worker declared the pregnancy this record falls in; null when none.",
    )

    @model_validator(mode="after")
    def _period_in_order(self) -> _DoseRecordFields:
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        return self


class DoseRecordReceived(_DoseRecordFields):
    """A dosimetry report of one person over one period was received."""

    event_type: ClassVar[str] = "DoseRecordReceived"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "doses"


class DoseRecordCorrected(_DoseRecordFields):
    """A corrected dosimetry report replaced the records of the same person whose periods it
    overlaps (``supersedes``): they no longer count in any total."""

    event_type: ClassVar[str] = "DoseRecordCorrected"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "doses"

    supersedes: list[uuid.UUID] = Field(min_length=1, description="Record ids this record replaces.")


class ExceedancePeriod(StrEnum):
    """What a limit's total is summed over."""

    CALENDAR_YEAR = "calendar_year"
    #: The calendar year and the four before it.
    FIVE_CALENDAR_YEARS = "five_calendar_years"
    #: The records of one declared pregnancy (same ``pregnancy_declared_on``).
    DECLARED_PREGNANCY = "declared_pregnancy"


class DoseLimitCited(BaseModel):
    """A dose limit (or a trust's investigation level) as the table in force states it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(description="Stable key of the row, e.g. 'effective-employee'.")
    table: str = Field(description="The table it comes from, e.g. 'uk-irr17-2018', or 'trust' for a level.")
    quantity: DoseQuantity
    limit_msv: float = Field(description="The limit in mSv; a total above it exceeds it.")
    period: ExceedancePeriod
    text: str = Field(description="The limit as its source words it, with our reading if any.")
    citation: Citation = Field(description="Where the limit is written.")


class _Exceedance(Event):
    person_pseudonym: str = Field(pattern=PERSON_PSEUDONYM_PATTERN, min_length=4, max_length=64)
    category: PersonCategory
    year: int = Field(ge=1900, le=9999, description="Calendar year of the total.")
    limit: DoseLimitCited
    total_msv: float = Field(description="The total the limit is compared with, in mSv.")
    totals_msv: dict[DoseQuantity, float] = Field(
        description="The person's totals of the calendar year, by quantity, in mSv."
    )
    records: list[uuid.UUID] = Field(description="The records counted in total_msv.")


class WorkerDoseLimitExceeded(_Exceedance):
    """A person's total passed a dose limit: an over-exposure to report to HSE (HSENI in Northern
    Ireland) under IRR17 regulation 26 (CQC guidance lines 393-401)."""

    event_type: ClassVar[str] = "WorkerDoseLimitExceeded"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "classifications"

    notify: OtherBody = Field(description="hse, or hseni for a site in Northern Ireland.")
    notify_citation: Citation = Field(description="Where the guidance sends an over-exposure there.")


class WorkerInvestigationLevelExceeded(_Exceedance):
    """A person's total passed an investigation level the trust set: investigate locally."""

    event_type: ClassVar[str] = "WorkerInvestigationLevelExceeded"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "classifications"


class WorkerDoseExceedanceWithdrawn(_Exceedance):
    """A corrected record brought a total back within a limit or level announced as exceeded."""

    event_type: ClassVar[str] = "WorkerDoseExceedanceWithdrawn"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = "classifications"
