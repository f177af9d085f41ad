"""How the fault runs split a stall at a restarted dependency's return (tests/support/chaos.py)."""

from __future__ import annotations

from tests.support.chaos import stalls_after_outages

GROUPS = ["classifier", "deadlines"]


def test_a_stall_across_an_outage_counts_from_the_dependencys_answer() -> None:
    # the broker was down from 100 to 140; the classifier moved again at 143
    longest, recovery = stalls_after_outages(
        [("classifier", "incidents/0", 95.0, 143.0)], [(100.0, 140.0)], GROUPS
    )
    assert longest == {"classifier": 3.0, "deadlines": 0.0}
    assert recovery == {"classifier": 3.0, "deadlines": 0.0}


def test_a_stall_apart_from_the_outage_counts_whole_and_is_no_recovery() -> None:
    stalls = [("deadlines", "cases/1", 20.0, 33.0), ("deadlines", "cases/2", 120.0, 141.5)]
    longest, recovery = stalls_after_outages(stalls, [(100.0, 140.0)], GROUPS)
    assert longest["deadlines"] == 13.0  # the one before the outage, whole
    assert recovery["deadlines"] == 1.5  # the one across it, from the answer at 140


def test_without_an_outage_the_stalls_are_as_measured() -> None:
    longest, recovery = stalls_after_outages([("classifier", "incidents/1", 10.0, 17.5)], [], GROUPS)
    assert longest["classifier"] == 7.5
    assert recovery["classifier"] == 0.0
