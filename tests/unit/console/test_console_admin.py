"""Trust administration forms as the intake and deadlines APIs take them."""

from __future__ import annotations

from typing import Any

import pytest

from sievert_console.domain.admin import (
    client_sites,
    day_list,
    field_messages,
    policy_body,
    policy_form_values,
)


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        pytest.param("7, 3, 1", [7, 3, 1], id="commas"),
        pytest.param("28 14 7 1", [28, 14, 7, 1], id="spaces"),
        pytest.param("", [], id="none"),
        pytest.param("7, soon", "7, soon", id="not-numbers-sent-as-typed"),
    ],
)
def test_reminder_days(raw: str, parsed: list[int] | str) -> None:
    assert day_list(raw) == parsed


def test_the_policy_form_round_trips() -> None:
    policy = {
        "local_investigation_days": 30,
        "notification_reminders": [7, 3, 1],
        "report_reminders": [28, 14, 7, 1],
        "local_investigation_reminders": [7],
    }
    assert policy_body(policy_form_values(policy)) == policy


@pytest.mark.parametrize(
    ("typed", "days"),
    [
        pytest.param("21", 21, id="number"),
        pytest.param(" twenty ", "twenty", id="as-typed-for-the-service-to-refuse"),
    ],
)
def test_the_local_window_is_sent_as_a_number_when_it_is_one(typed: str, days: Any) -> None:
    assert policy_body({"local_investigation_days": typed})["local_investigation_days"] == days


def test_a_services_errors_by_field() -> None:
    errors = [
        {"path": "body/local_investigation_days", "message": "Input should be a valid integer"},
        {"path": "body/notification_reminders/1", "message": "Input should be a valid integer"},
        {"path": "body", "message": "reminder offsets must be positive"},
        {"path": "sites", "message": "RXX09 is not a registered site"},
    ]
    assert field_messages(errors) == {
        "local_investigation_days": "Input should be a valid integer",
        "notification_reminders": "Input should be a valid integer",
        "request": "reminder offsets must be positive",
        "sites": "RXX09 is not a registered site",
    }


def test_the_sites_ticked_for_a_client() -> None:
    items = [("csrf_token", "t"), ("name", "engine"), ("sites", "RXX01"), ("sites", ""), ("sites", "RXX02")]
    assert client_sites(items) == ["RXX01", "RXX02"]
