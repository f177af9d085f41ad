"""Occupational and public dose records: what ``POST /v1/dose-records`` accepts, and when a
record overlaps one already received.

Pure: no I/O. A record names its person by a pseudonym only; anything that looks like a name or
an NHS number is refused, as intake keeps every identifier out of the log. Doses are personal dose
equivalents in mSv; a dose may come as ``{"value": 1500, "unit": "uSv"}`` and is converted
explicitly (``domain/units.py``), and a unit of another quantity (a Gy for an Hp(10)) is refused
naming the field and the units it accepts.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from sievert_intake.domain.unit_errors import validated_beside_unit_errors
from sievert_intake.domain.units import Dimension, UnitError, accepted_units, convert, parse_decimal
from sievert_shared.door_dates import CalendarDate
from sievert_shared.envelope import SiteId, Tenant, TrustId
from sievert_shared.errors import ConflictError
from sievert_shared.events.doses import PersonalDoses, PersonCategory
from sievert_shared.facts import Nation

__all__ = [
    "DoseRecordOverlapError",
    "DoseRecordReport",
    "HeldRecord",
    "pseudonym_problem",
    "superseded_by",
]

#: Personal dose equivalents are doses in sieverts: the units an effective dose accepts.
_DOSE_UNITS = ", ".join(unit for unit in accepted_units(Dimension.EFFECTIVE_DOSE) if unit)
_CODE_CHARACTERS = re.compile(r"^[A-Za-z0-9._-]+$")
#: An NHS number is ten digits, often written 3-3-4 with spaces or hyphens.
_NHS_NUMBER = re.compile(r"^\d{3}[ -]?\d{3}[ -]?\d{4}$")


def pseudonym_problem(value: str) -> str | None:
    """Why ``value`` cannot be a person's pseudonym, or None if it can.

    A pseudonym is a dosimetry wearer code or the trust's own code: 4 to 64 letters, digits and
    ``._-``, with at least one digit. A name has a space, an apostrophe or no digit; an NHS number
    is ten digits. Either is refused, so no name or national identifier reaches the log.
    """
    if _NHS_NUMBER.match(value):
        return "looks like an NHS number: send the worker's dosimetry pseudonym, never an identifier"
    if any(ch.isspace() for ch in value) or not _CODE_CHARACTERS.match(value):
        return "looks like a name: a pseudonym is letters, digits and . _ - only, with no spaces"
    if not any(ch.isdigit() for ch in value):
        return "looks like a name: a pseudonym has at least one digit"
    if not 4 <= len(value) <= 64:
        return "a pseudonym is 4 to 64 characters"
    return None


class DoseRecordReport(BaseModel):
    """``POST /v1/dose-records``: one person's dosimetry report over one period."""

    model_config = ConfigDict(extra="forbid")

    trust: TrustId
    site: SiteId
    nation: Nation = Field(description="UK nation of the site: HSE, or HSENI in Northern Ireland.")
    person_pseudonym: str = Field(
        description="The worker's (or member of the public's) dosimetry pseudonym: never a name or NHS number."
    )
    category: PersonCategory
    period_start: CalendarDate = Field(description="First day the record covers (inclusive).")
    period_end: CalendarDate = Field(description="Last day the record covers (inclusive).")
    doses: PersonalDoses = Field(
        description='Doses in mSv, or each as {"value": v, "unit": u} with u one of Sv, mSv, uSv, nSv.'
    )
    pregnancy_declared_on: CalendarDate | None = Field(
        default=None, description="For a worker who declared a pregnancy: the date she declared it."
    )
    correction: StrictBool = Field(
        default=False,
        description=(
            "This record corrects the records of the same person whose periods it overlaps: they are "
            "superseded. Without it, an overlapping record is refused (409)."
        ),
    )

    @property
    def tenant(self) -> Tenant:
        return Tenant(trust=self.trust, site=self.site)

    @field_validator("person_pseudonym")
    @classmethod
    def _a_pseudonym(cls, value: str) -> str:
        problem = pseudonym_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("doses", mode="wrap")
    @classmethod
    def _doses_in_msv(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Every ``{"value", "unit"}`` converted to mSv; a unit of another quantity is refused at
        ``doses/<field>`` naming the units the field accepts, alongside every other bad dose."""
        if not isinstance(value, dict):
            return handler(value)
        converted, errors = _in_msv(value)
        return validated_beside_unit_errors(handler, converted, errors, "PersonalDoses")

    @model_validator(mode="after")
    def _dates_in_order(self) -> DoseRecordReport:
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        if self.pregnancy_declared_on is not None and self.pregnancy_declared_on > self.period_end:
            raise ValueError("pregnancy_declared_on is after period_end: the record is not of that pregnancy")
        return self


def _in_msv(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[InitErrorDetails]]:
    converted = dict(raw)
    errors: list[InitErrorDetails] = []
    for name, value in raw.items():
        if not isinstance(value, Mapping) or set(value) != {"value", "unit"}:
            continue
        number, unit = value["value"], value["unit"]
        if isinstance(number, bool) or not isinstance(number, int | float | str):
            continue
        try:
            converted[name] = convert(parse_decimal(str(number)), unit, Dimension.EFFECTIVE_DOSE)
        except UnitError:
            message = f"{name}: unit {unit!r} is not a dose equivalent; {name} accepts {_DOSE_UNITS}"
            errors.append(
                InitErrorDetails(
                    type=PydanticCustomError("unit", "{message}", {"message": message}),
                    loc=(name,),
                    input=value,
                )
            )
        except ValueError:
            continue  # not a number: the model names the field
    return converted, errors


@dataclass(frozen=True)
class HeldRecord:
    """A record of the person already received and still in force."""

    record_id: uuid.UUID
    period_start: dt.date
    period_end: dt.date


class DoseRecordOverlapError(ConflictError):
    """The period overlaps a record already received for the person; nothing was stored."""

    title = "Dose record overlaps"

    def __init__(self, overlapping: Sequence[HeldRecord]) -> None:
        super().__init__(
            "the period overlaps a dose record already received for this person; send it with "
            '"correction": true to supersede that record',
            overlapping=[
                {
                    "record_id": str(held.record_id),
                    "period_start": held.period_start.isoformat(),
                    "period_end": held.period_end.isoformat(),
                }
                for held in overlapping
            ],
        )


def superseded_by(report: DoseRecordReport, held: Sequence[HeldRecord]) -> list[uuid.UUID]:
    """The records a new record replaces: none when its period overlaps none; those it overlaps
    when it is a correction; and ``DoseRecordOverlapError`` for an overlap without one, since two
    reports of one period would count its dose twice."""
    overlapping = [
        record
        for record in held
        if record.period_start <= report.period_end and report.period_start <= record.period_end
    ]
    if overlapping and not report.correction:
        raise DoseRecordOverlapError(overlapping)
    return [record.record_id for record in overlapping]
