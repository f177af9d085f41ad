"""Dates as the services accept them at the door: written as dates, and plausible.

**Strict.** A date is ISO 8601 text, ``YYYY-MM-DD`` (or a ``date`` from Python callers). A number
is never a date: pydantic would read ``0`` as 1970-01-01 and ``"1700006400"`` as a day in 2023,
facts nobody sent. ``StrictDate`` refuses them; it is the type of every date a request carries.

**Plausible.** A day something *happened* (an incident discovered or occurred, a local
investigation closed, the authority's letter received) lies between the day IR(ME)R 2017 came
into force and tomorrow:

- not before **6 February 2018**: the Ionising Radiation (Medical Exposure) Regulations 2017
  came into force that day, and nothing before it is notifiable under them. The CQC guidance
  names the regulations (lines 36-39) but not the day they came into force; it dates from that
  day the change to ARSAC certificates the regulations made (line 96);
- not after **tomorrow**: one day of clock skew between the sender's clock and ours. A date
  further ahead has not happened; accepted, 9999-12-31 would start no clock at all (the
  deadline arithmetic overflows) and 0001-01-01 a window 2,000 years overdue.

A day that is *planned* (an extension's new last day) or a filter (``discovered_from``) need
only be a ``CalendarDate``: within a span every service's arithmetic can move by a century.
These checks apply where a request comes in; events keep their dates as they are.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator
from pydantic_core import PydanticCustomError

REGULATIONS_IN_FORCE = dt.date(2018, 2, 6)
CLOCK_SKEW = dt.timedelta(days=1)
#: The span of a ``CalendarDate``: far from ``date.min``/``date.max``, so adding a retention
#: period or a window never overflows.
EARLIEST_CALENDAR_DATE = dt.date(1900, 1, 1)
LATEST_CALENDAR_DATE = dt.date(2199, 12, 31)

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def only_date_text(value: Any) -> Any:
    """A ``date`` or ``YYYY-MM-DD`` text passes (pydantic then checks the calendar); anything
    else, a number above all, is refused as not a date."""
    if isinstance(value, dt.datetime):
        raise PydanticCustomError("date_type", "must be a date (YYYY-MM-DD), not a date and time")
    if isinstance(value, dt.date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise PydanticCustomError(
        "date_type", "must be a date written YYYY-MM-DD, not {kind}", {"kind": _kind(value)}
    )


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    return f"a {type(value).__name__}"


def implausible(day: dt.date, today: dt.date) -> str | None:
    """Why ``day`` cannot be the day something happened, seen on ``today`` (None: it can)."""
    if day < REGULATIONS_IN_FORCE:
        return (
            f"{day.isoformat()} is before IR(ME)R 2017 came into force ({REGULATIONS_IN_FORCE.isoformat()})"
        )
    if day > today + CLOCK_SKEW:
        return f"{day.isoformat()} is in the future (later than {(today + CLOCK_SKEW).isoformat()})"
    return None


def _calendar(day: dt.date) -> dt.date:
    if not EARLIEST_CALENDAR_DATE <= day <= LATEST_CALENDAR_DATE:
        raise PydanticCustomError(
            "date_range",
            "must be between {earliest} and {latest}",
            {"earliest": EARLIEST_CALENDAR_DATE.isoformat(), "latest": LATEST_CALENDAR_DATE.isoformat()},
        )
    return day


def _happened(day: dt.date) -> dt.date:
    # A request model has no clock of its own: the day is judged against the host's (UTC), with
    # the day of skew above covering the hours between UTC and Europe/London.
    why = implausible(day, dt.datetime.now(dt.UTC).date())
    if why:
        raise PydanticCustomError("date_implausible", "{why}", {"why": why})
    return day


StrictDate = Annotated[dt.date, BeforeValidator(only_date_text)]
CalendarDate = Annotated[dt.date, BeforeValidator(only_date_text), AfterValidator(_calendar)]
EventDate = Annotated[dt.date, BeforeValidator(only_date_text), AfterValidator(_happened)]


_ISO_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*")


def only_instant_text(value: Any) -> Any:
    """A ``datetime`` or ISO 8601 date-and-time text passes; a number (seconds since 1970, as
    pydantic would read it) or a bare date is refused."""
    if isinstance(value, dt.datetime) or (isinstance(value, str) and _ISO_INSTANT.fullmatch(value)):
        return value
    raise PydanticCustomError(
        "datetime_type",
        "must be a date and time written YYYY-MM-DDThh:mm:ss±hh:mm, not {kind}",
        {"kind": _kind(value)},
    )


def _instant_happened(instant: dt.datetime) -> dt.datetime:
    _happened(instant.astimezone(dt.UTC).date())
    return instant


#: An instant something happened (a notification sent, an acknowledgement received).
EventInstant = Annotated[AwareDatetime, BeforeValidator(only_instant_text), AfterValidator(_instant_happened)]
