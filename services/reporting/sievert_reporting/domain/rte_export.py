"""The radiotherapy events of one provider, for the national radiotherapy error and near miss
(RTE) analysis: each event's coding, and the monthly aggregates in the columns that analysis
counts by (per provider and month: classification level, process subcodes, failed safety
barriers, causative factors, method of detection). Pure.

Anonymised by construction: an event is its provider (the trust), its site code, the month it was
discovered in and its codes. No incident id, no date finer than the month, no free text: what the
national analysis counts, and nothing that could lead back to a patient (CQC guidance lines 122,
240: reports carry no patient identifiable information). ``domain.anonymity`` scans it in the tests.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sievert_reporting.domain.taxonomy import Taxonomies, level_label
from sievert_reporting.domain.view import Cell, Table


@dataclass(frozen=True)
class CodedEvent:
    """One radiotherapy incident as its close-out coded it (``local_investigations.rte_*``)."""

    site: str
    discovered_on: dt.date
    taxonomy_version: str
    level: int
    level_basis: str
    process_subcodes: tuple[str, ...] = ()
    failed_safety_barriers: tuple[str, ...] = ()
    effective_safety_barriers: tuple[str, ...] = ()
    causative_factors: tuple[str, ...] = ()
    detection_methods: tuple[str, ...] = ()


#: The code lists an event carries, in the export's order.
CODE_LISTS = (
    "process_subcodes",
    "failed_safety_barriers",
    "effective_safety_barriers",
    "causative_factors",
    "detection_methods",
)
#: The dimensions the monthly aggregates count, as the national analysis breaks them down:
#: (dimension, the event's list of codes; None for the level).
MONTHLY_DIMENSIONS: tuple[tuple[str, str | None], ...] = (
    ("level", None),
    ("process_subcode", "process_subcodes"),
    ("failed_safety_barrier", "failed_safety_barriers"),
    ("causative_factor", "causative_factors"),
    ("detection_method", "detection_methods"),
)
EVENT_COLUMNS = (
    "provider",
    "site",
    "month",
    "taxonomy_version",
    "level",
    "level_label",
    "level_basis",
    *CODE_LISTS,
)
MONTHLY_COLUMNS = ("provider", "month", "dimension", "code", "label", "events")


def _month(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _label(taxonomies: Taxonomies, version: str, list_name: str, code: str) -> str:
    """The published label of a code of ``version``'s list (the code itself if not held)."""
    taxonomy_list = {
        "process_subcodes": "process_subcodes",
        "failed_safety_barriers": "safety_barriers",
        "causative_factors": "causative_factors",
        "detection_methods": "detection_methods",
    }[list_name]
    for taxonomy in taxonomies.rte:
        if taxonomy.version == version:
            return taxonomy.lists[taxonomy_list].get(code, code)
    return code


def rte_export(
    provider: str,
    start: dt.date,
    end: dt.date,
    events: Sequence[CodedEvent],
    taxonomies: Taxonomies,
) -> dict[str, Any]:
    """The export's JSON: the provider, the period, the taxonomy versions used, every event (oldest
    month first) and the monthly aggregates (one row per provider, month, dimension and code)."""
    ordered = sorted(events, key=lambda e: (e.discovered_on, e.site, e.level, e.process_subcodes))
    rows = [
        {
            "provider": provider,
            "site": e.site,
            "month": _month(e.discovered_on),
            "taxonomy_version": e.taxonomy_version,
            "level": e.level,
            "level_label": level_label(taxonomies, e.taxonomy_version, e.level),
            "level_basis": e.level_basis,
            **{name: list(getattr(e, name)) for name in CODE_LISTS},
        }
        for e in ordered
    ]
    counts: Counter[tuple[str, str, str, str]] = Counter()
    labels: dict[tuple[str, str, str, str], str] = {}
    for e in ordered:
        month = _month(e.discovered_on)
        for dimension, list_name in MONTHLY_DIMENSIONS:
            if list_name is None:
                key = (month, dimension, e.taxonomy_version, str(e.level))
                counts[key] += 1
                labels[key] = level_label(taxonomies, e.taxonomy_version, e.level)
                continue
            for code in dict.fromkeys(getattr(e, list_name)):  # an event counts once per code
                key = (month, dimension, e.taxonomy_version, code)
                counts[key] += 1
                labels[key] = _label(taxonomies, e.taxonomy_version, list_name, code)
    dimension_order = {name: index for index, (name, _) in enumerate(MONTHLY_DIMENSIONS)}
    monthly = [
        {
            "provider": provider,
            "month": month,
            "dimension": dimension,
            "code": code,
            "label": labels[(month, dimension, version, code)],
            "events": count,
        }
        for (month, dimension, version, code), count in sorted(
            counts.items(), key=lambda kv: (kv[0][0], dimension_order[kv[0][1]], kv[0][2], kv[0][3])
        )
    ]
    return {
        "provider": provider,
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "taxonomy_versions": sorted({e.taxonomy_version for e in ordered}),
        "events": rows,
        "monthly": monthly,
    }


def _cell(value: object) -> Cell:
    if isinstance(value, list):
        return ";".join(str(v) for v in value)  # a list of codes in one CSV cell
    assert value is None or isinstance(value, str | int | float | bool), value
    return value


def export_tables(export: dict[str, Any]) -> dict[str, Table]:
    """The export as two tables, ``events`` and ``monthly``, for CSV (lists of codes joined by ';')."""
    return {
        "events": Table(
            "events",
            "Radiotherapy events",
            EVENT_COLUMNS,
            tuple(tuple(_cell(row[c]) for c in EVENT_COLUMNS) for row in export["events"]),
        ),
        "monthly": Table(
            "monthly",
            "Radiotherapy events by provider, month and code",
            MONTHLY_COLUMNS,
            tuple(tuple(_cell(row[c]) for c in MONTHLY_COLUMNS) for row in export["monthly"]),
        ),
    }
