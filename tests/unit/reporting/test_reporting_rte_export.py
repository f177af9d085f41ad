"""The radiotherapy event export for the national analysis (``domain.rte_export``): events and
their monthly aggregates per provider, in JSON and as CSV tables, anonymised (the identifier
scanner finds nothing in either, and an incident id or a day never appears)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from sievert_reporting.adapters.render import table_csv
from sievert_reporting.domain.anonymity import find_identifiers, scan_fields
from sievert_reporting.domain.rte_export import (
    EVENT_COLUMNS,
    MONTHLY_COLUMNS,
    CodedEvent,
    export_tables,
    rte_export,
)
from sievert_reporting.domain.taxonomy import Taxonomies, packaged, parse_rte

START, END = dt.date(2025, 1, 1), dt.date(2025, 12, 31)
EVENTS = [
    CodedEvent("RXX01", dt.date(2025, 3, 14), "tsrt-2008", 1, "notifiable"),
    CodedEvent("RXX02", dt.date(2025, 3, 2), "tsrt-2008", 4, "near_miss"),
    CodedEvent("RXX01", dt.date(2025, 3, 28), "tsrt-2008", 4, "near_miss"),
    CodedEvent("RXX01", dt.date(2025, 4, 1), "tsrt-2008", 3, "stated"),
]


def with_codes() -> Taxonomies:
    """A version holding codes, for the aggregation only: the codes are this test's, not published."""
    (rte,) = packaged().rte
    data = {
        "taxonomy": "radiotherapy_event",
        "version": "test-codes",
        "valid_from": None,
        "status": "incomplete",
        "sources": [{"publisher": "this test", "title": "made-up codes to count"}],
        "levels": [{"code": str(k), "label": v} for k, v in rte.levels.items()],
        "process_subcodes": [{"code": "P1", "label": "Process one"}],
        "safety_barriers": [{"code": "B1", "label": "Barrier one"}],
        "causative_factors": [{"code": "C1", "label": "Cause one"}, {"code": "C2", "label": "Cause two"}],
        "detection_methods": [{"code": "D1", "label": "Detection one"}],
    }
    return Taxonomies((), (parse_rte(data),))


def test_rte_export_events_by_month_with_level_names() -> None:
    export = rte_export("RXX", START, END, EVENTS, packaged())
    assert export["provider"] == "RXX" and export["period"] == {"from": "2025-01-01", "to": "2025-12-31"}
    assert export["taxonomy_versions"] == ["tsrt-2008"]
    assert [(e["site"], e["month"], e["level"], e["level_label"]) for e in export["events"]] == [
        ("RXX02", "2025-03", 4, "Near miss"),
        ("RXX01", "2025-03", 1, "Reportable radiation incident"),
        ("RXX01", "2025-03", 4, "Near miss"),
        ("RXX01", "2025-04", 3, "Minor radiation incident"),
    ]
    assert [tuple(e) for e in export["events"]] == [EVENT_COLUMNS] * 4


def test_rte_export_monthly_aggregates_per_provider_month_and_level() -> None:
    monthly = rte_export("RXX", START, END, EVENTS, packaged())["monthly"]
    assert [(m["month"], m["dimension"], m["code"], m["label"], m["events"]) for m in monthly] == [
        ("2025-03", "level", "1", "Reportable radiation incident", 1),
        ("2025-03", "level", "4", "Near miss", 2),
        ("2025-04", "level", "3", "Minor radiation incident", 1),
    ]
    assert all(m["provider"] == "RXX" for m in monthly)


@pytest.mark.parametrize(
    ("dimension", "code", "events"),
    [
        pytest.param("process_subcode", "P1", 2, id="process-subcode"),
        pytest.param("failed_safety_barrier", "B1", 1, id="failed-barrier"),
        pytest.param("causative_factor", "C1", 2, id="causative-factor-once-per-event"),
        pytest.param("causative_factor", "C2", 1, id="second-causative-factor"),
        pytest.param("detection_method", "D1", 1, id="detection-method"),
    ],
)
def test_rte_export_monthly_counts_each_code_dimension(dimension: str, code: str, events: int) -> None:
    coded = [
        dataclasses.replace(
            EVENTS[0],
            taxonomy_version="test-codes",
            process_subcodes=("P1",),
            failed_safety_barriers=("B1",),
            effective_safety_barriers=("B1",),
            causative_factors=("C1", "C2", "C1"),
            detection_methods=("D1",),
        ),
        dataclasses.replace(
            EVENTS[2], taxonomy_version="test-codes", process_subcodes=("P1",), causative_factors=("C1",)
        ),
    ]
    monthly = rte_export("RXX", START, END, coded, with_codes())["monthly"]
    (row,) = [m for m in monthly if (m["dimension"], m["code"]) == (dimension, code)]
    assert row["events"] == events and row["month"] == "2025-03"
    assert row["label"] != code  # the version's label, not the bare code


def test_rte_export_csv_tables_have_the_national_columns_and_codes_joined() -> None:
    event = dataclasses.replace(EVENTS[0], taxonomy_version="test-codes", causative_factors=("C1", "C2"))
    tables = export_tables(rte_export("RXX", START, END, [event], with_codes()))
    events_csv = table_csv(tables["events"]).splitlines()
    assert events_csv[0] == ",".join(EVENT_COLUMNS)
    assert events_csv[1].startswith(
        "RXX,RXX01,2025-03,test-codes,1,Reportable radiation incident,notifiable,"
    )
    assert ",C1;C2," in events_csv[1]
    assert table_csv(tables["monthly"]).splitlines()[0] == ",".join(MONTHLY_COLUMNS)


def test_rte_export_is_anonymous_to_the_identifier_scanner() -> None:
    export = rte_export("RXX", START, END, EVENTS, packaged())
    assert scan_fields(export) == []
    for table in export_tables(export).values():
        assert find_identifiers(table.name, table_csv(table)) == []
    # no day finer than the month: the discovery days of the events are nowhere in it
    text = str(export)
    assert not any(e.discovered_on.isoformat() in text for e in EVENTS)
