"""The employers involved in an exposure, in words (``domain/employers.py``): each employer's part,
this trust marked, and who notifies and who is informed."""

from __future__ import annotations

from typing import Any

import pytest

from sievert_console.domain.employers import EMPLOYER_ROLES, employers_of
from sievert_shared.facts import EmployerRole

RIVERSIDE = {"name": "Riverside NHS Trust", "trust_code": "RXX", "role": "referring"}
HILLSIDE = {"name": "Hillside NHS Foundation Trust", "trust_code": "RYY", "role": "performing"}
CLINIC = {"name": "Scan Clinic Ltd", "trust_code": None, "role": "performing"}


def test_employer_roles_are_the_shared_ones() -> None:
    assert set(EMPLOYER_ROLES) == {r.value for r in EmployerRole}


@pytest.mark.parametrize(
    ("employers", "trust", "words"),
    [
        pytest.param(
            [{**RIVERSIDE, "notifies": True}, HILLSIDE],
            "RXX",
            "This trust makes the notification and sends the report; "
            "Hillside NHS Foundation Trust is informed.",
            id="we-notify",
        ),
        pytest.param(
            [RIVERSIDE, {**HILLSIDE, "notifies": True}],
            "RXX",
            "Hillside NHS Foundation Trust makes the notification and sends the report; "
            "Riverside NHS Trust is informed.",
            id="the-other-notifies",
        ),
        pytest.param(
            [{**RIVERSIDE, "notifies": True}, HILLSIDE, CLINIC],
            "RXX",
            "This trust makes the notification and sends the report; "
            "Hillside NHS Foundation Trust and Scan Clinic Ltd are informed.",
            id="two-informed",
        ),
        pytest.param(
            [RIVERSIDE, HILLSIDE], "RXX", "No employer is named as the one that notifies.", id="none-notifies"
        ),
    ],
)
def test_who_notifies_in_words(employers: list[dict[str, Any]], trust: str, words: str) -> None:
    shown = employers_of({"employers": employers}, trust)
    assert shown is not None and shown.who_notifies == words
    assert [e.own for e in shown.lines] == [e["trust_code"] == trust for e in employers]
    assert shown.lines[0].role == "Referring employer"


@pytest.mark.parametrize(
    "facts", [pytest.param({}, id="absent"), pytest.param({"employers": []}, id="empty")]
)
def test_no_employers_named_shows_nothing(facts: dict[str, Any]) -> None:
    assert employers_of(facts, "RXX") is None
