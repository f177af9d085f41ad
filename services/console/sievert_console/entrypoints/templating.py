"""Jinja2 for the pages: autoescaped templates, and the filters that turn API values into words."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi.templating import Jinja2Templates

from sievert_console.domain import labels, tasks
from sievert_console.domain.clocks import LONDON, format_day
from sievert_console.domain.coding import RTE_LISTS
from sievert_console.domain.employers import employers_of
from sievert_console.domain.facts_form import FIELDS_BY_NAME
from sievert_console.domain.live import incident_signal
from sievert_console.domain.people import ACT_ON_TASKS, AMEND, DRAFT_AND_ISSUE, RECORD_SUBMISSION
from sievert_console.domain.report import FINDINGS

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def when(value: Any) -> str:
    """An instant from an API (ISO 8601) in London time: 'Tue 2 Dec 2026, 14:05'."""
    if not value:
        return "—"
    instant = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    local = instant.astimezone(LONDON)
    return f"{format_day(local.date())}, {local:%H:%M}"


def day(value: Any) -> str:
    if not value:
        return "—"
    return format_day(value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)))


def fact_value(value: Any, name: str = "") -> str:
    if value is None:
        return "not known"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    field = FIELDS_BY_NAME.get(name)
    if field is not None and field.options:
        return dict(field.options).get(str(value), str(value))
    if name.endswith("_on"):
        return day(value)
    return str(value)


def templates() -> Jinja2Templates:
    found = Jinja2Templates(directory=str(TEMPLATES))
    env = found.env
    env.filters.update(when=when, day=day, fact_value=fact_value)
    env.globals.update(
        label=labels.label,
        fact_label=labels.fact_label,
        fact_description=labels.fact_description,
        incident_signal=incident_signal,
        labels=labels,
        task_labels=tasks,
        coding_lists=RTE_LISTS,
        employers_of=employers_of,
        findings_fields=FINDINGS,
        epoch=time.time,
        urlencode=urlencode,
        AMEND=AMEND,
        RECORD_SUBMISSION=RECORD_SUBMISSION,
        DRAFT_AND_ISSUE=DRAFT_AND_ISSUE,
        ACT_ON_TASKS=ACT_ON_TASKS,
    )
    return found
