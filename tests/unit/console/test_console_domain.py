"""The console's pure parts: clocks, the work queue, the facts form, live changes, people."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from sievert_console.adapters.oidc import SignInRefusedError, person_from_claims
from sievert_console.domain.clocks import Clock, ClockState, days_phrase
from sievert_console.domain.facts_form import FIELDS_BY_NAME, amendment_patch, field_errors, ordered_fields
from sievert_console.domain.labels import AUTHORITIES, fact_label, label
from sievert_console.domain.live import QUEUE, THEMES, change_of, incident_signal
from sievert_console.domain.people import Person, roles_from_claim
from sievert_console.domain.queue import QueueFilter, Show, build_queue, incidents_to_check_for_facts
from sievert_console.settings import OidcSettings

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def window(
    incident: str = "i-1",
    kind: str = "notification",
    *,
    status: str = "open",
    due: dt.datetime = NOW + dt.timedelta(days=10),
    met_at: dt.datetime | None = None,
    site: str = "RXX01",
    authority: str | None = "cqc",
    extensions: int = 0,
) -> dict[str, Any]:
    """One window as the deadlines API answers it."""
    return {
        "incident_id": incident,
        "window": kind,
        "trust": "RXX",
        "site": site,
        "status": status,
        "due_at": due.isoformat(),
        "met_at": met_at.isoformat() if met_at else None,
        "authority": authority,
        "extensions": extensions,
    }


def incident(
    incident_id: str,
    *,
    notifiable: bool | None = True,
    discovered_on: str = "2026-03-01",
    codes: tuple[str, ...] = ("2.2",),
) -> dict[str, Any]:
    """One row of reporting's GET /v1/incidents."""
    return {
        "incident_id": incident_id,
        "site": "RXX01",
        "modality": "ct",
        "authority": "cqc",
        "codes": list(codes),
        "notifiable": notifiable,
        "discovered_on": discovered_on,
    }


# -- clocks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "state"),
    [
        pytest.param(window(due=NOW + dt.timedelta(days=8)), ClockState.OPEN, id="open-8-days-left"),
        pytest.param(window(due=NOW + dt.timedelta(days=7)), ClockState.DUE_SOON, id="due-soon-at-7-days"),
        pytest.param(
            window(due=NOW + dt.timedelta(minutes=1)), ClockState.DUE_SOON, id="due-soon-last-minute"
        ),
        # docs/deadlines.md: due_at is exclusive, so at due_at the window is already missed
        pytest.param(window(due=NOW), ClockState.OVERDUE, id="overdue-at-due-at"),
        pytest.param(
            window(status="met", due=NOW, met_at=NOW - dt.timedelta(seconds=1)),
            ClockState.MET,
            id="met-in-time",
        ),
        pytest.param(
            window(status="met", due=NOW, met_at=NOW), ClockState.MET_LATE, id="met-at-due-at-is-late"
        ),
        pytest.param(
            window(status="cancelled", due=NOW - dt.timedelta(days=3)), ClockState.CANCELLED, id="cancelled"
        ),
    ],
)
def test_a_window_reads_as_its_state(api: dict[str, Any], state: ClockState) -> None:
    assert Clock.from_api(api).state(NOW) is state


@pytest.mark.parametrize(
    ("due_at", "last_day"),
    [
        # docs/deadlines.md table: 00:00 London after the last day in time, in UTC
        pytest.param("2025-01-25T00:00:00+00:00", dt.date(2025, 1, 24), id="winter-gmt"),
        pytest.param("2025-03-30T23:00:00+00:00", dt.date(2025, 3, 30), id="spring-forward-bst"),
        pytest.param("2025-10-27T00:00:00+00:00", dt.date(2025, 10, 26), id="fall-back-gmt"),
    ],
)
def test_the_last_day_shown_is_the_london_day_before_the_window_closes(
    due_at: str, last_day: dt.date
) -> None:
    clock = Clock.from_api({**window(), "due_at": due_at})
    assert clock.last_day == last_day


@pytest.mark.parametrize(
    ("api", "text"),
    [
        pytest.param(
            window(due=dt.datetime(2026, 3, 20, 0, 0, tzinfo=dt.UTC)),
            "Due by the end of Thu 19 Mar 2026 — 9 days left",
            id="due",
        ),
        pytest.param(
            window(due=dt.datetime(2026, 3, 7, 0, 0, tzinfo=dt.UTC)),
            "Overdue by 3 days (last day was Fri 6 Mar 2026)",
            id="overdue",
        ),
        pytest.param(
            window(
                status="met",
                due=dt.datetime(2026, 3, 7, 0, 0, tzinfo=dt.UTC),
                met_at=dt.datetime(2026, 3, 8, 9, 0, tzinfo=dt.UTC),
            ),
            "Met on Sun 8 Mar 2026 (last day was Fri 6 Mar 2026) — 2 days late",
            id="met-late",
        ),
    ],
)
def test_a_clock_says_when_in_words(api: dict[str, Any], text: str) -> None:
    assert Clock.from_api(api).summary(NOW) == text


@pytest.mark.parametrize(
    ("span", "words"),
    [
        pytest.param(dt.timedelta(days=1), "1 day", id="one-day"),
        pytest.param(dt.timedelta(days=2, hours=23), "2 days", id="whole-days-only"),
        pytest.param(dt.timedelta(hours=5), "5 hours", id="hours-under-a-day"),
        pytest.param(dt.timedelta(minutes=59), "less than an hour", id="minutes"),
    ],
)
def test_days_phrase(span: dt.timedelta, words: str) -> None:
    assert days_phrase(span) == words


# -- the work queue ---------------------------------------------------------------------------------


def test_the_queue_puts_what_is_due_first_first_and_rows_without_a_clock_last() -> None:
    windows = [
        window("late", due=NOW - dt.timedelta(days=2)),
        window("soon", due=NOW + dt.timedelta(days=3)),
        window("later", due=NOW + dt.timedelta(days=40), kind="investigation_report"),
        window("later", due=NOW + dt.timedelta(days=12)),
        window("done", status="met", due=NOW + dt.timedelta(days=1), met_at=NOW),
    ]
    incidents = [
        incident("later"),
        incident("soon"),
        incident("late"),
        incident("done"),
        incident("waiting-new", notifiable=False, codes=(), discovered_on="2026-03-09"),
        incident("waiting-old", notifiable=False, codes=(), discovered_on="2026-02-01"),
    ]
    needs = {"waiting-new": ["total_effective_dose_msv"], "waiting-old": ["individuals_affected"]}

    queue = build_queue(incidents, windows, needs, where=QueueFilter(), now=NOW)

    assert [r.incident_id for r in queue.rows] == ["late", "soon", "later", "waiting-old", "waiting-new"]
    assert [r.state(NOW) for r in queue.rows] == [
        Show.OVERDUE,
        Show.DUE_SOON,
        Show.OPEN,
        Show.NEEDS_FACTS,
        Show.NEEDS_FACTS,
    ]
    assert queue.rows[2].next_clock is not None and queue.rows[2].next_clock.window == "notification"
    assert queue.counts == {
        Show.ALL: 5,
        Show.OVERDUE: 1,
        Show.DUE_SOON: 1,
        Show.OPEN: 3,
        Show.PROVISIONAL: 0,
        Show.WITHDRAWAL_REQUESTED: 0,
        Show.TASKS: 0,
        Show.NEEDS_FACTS: 2,
    }


@pytest.mark.parametrize(
    ("show", "expected"),
    [
        pytest.param(Show.ALL, ["late", "soon", "needs"], id="all"),
        pytest.param(Show.OVERDUE, ["late"], id="overdue"),
        pytest.param(Show.DUE_SOON, ["soon"], id="due-soon"),
        pytest.param(Show.OPEN, ["late", "soon"], id="open-windows"),
        pytest.param(Show.NEEDS_FACTS, ["needs"], id="needs-facts"),
    ],
)
def test_the_queue_shows_one_state(show: Show, expected: list[str]) -> None:
    windows = [
        window("late", due=NOW - dt.timedelta(hours=1)),
        window("soon", due=NOW + dt.timedelta(days=2)),
    ]
    incidents = [incident("late"), incident("soon"), incident("needs", notifiable=False)]
    queue = build_queue(
        incidents, windows, {"needs": ["clinically_significant"]}, where=QueueFilter(show=show), now=NOW
    )
    assert [r.incident_id for r in queue.rows] == expected


@pytest.mark.parametrize(
    ("where", "shown"),
    [
        pytest.param(QueueFilter(), True, id="no-filter"),
        pytest.param(QueueFilter(site="RXX01"), True, id="same-site"),
        pytest.param(QueueFilter(site="RXX02"), False, id="other-site"),
        pytest.param(QueueFilter(authority="cqc"), True, id="same-authority"),
        pytest.param(QueueFilter(authority="hiw"), False, id="other-authority"),
        # The window alone cannot say its codes or modality: not shown rather than shown wrongly.
        pytest.param(QueueFilter(code="2.2"), False, id="code-unknowable"),
        pytest.param(QueueFilter(modality="ct"), False, id="modality-unknowable"),
    ],
)
def test_a_window_not_yet_in_the_read_model_is_shown_only_where_the_filters_can_be_checked(
    where: QueueFilter, shown: bool
) -> None:
    queue = build_queue([], [window("unprojected")], {}, where=where, now=NOW)
    assert [r.incident_id for r in queue.rows] == (["unprojected"] if shown else [])


def test_an_incident_with_nothing_open_and_nothing_missing_is_not_in_the_queue() -> None:
    windows = [
        window("i", status="cancelled"),
        window("i", kind="local_investigation", status="met", met_at=NOW),
    ]
    assert build_queue([incident("i")], windows, {}, where=QueueFilter(), now=NOW).rows == ()


@pytest.mark.parametrize(
    ("query", "where"),
    [
        pytest.param({}, QueueFilter(), id="empty"),
        pytest.param({"site": " RXX01 ", "code": ""}, QueueFilter(site="RXX01"), id="trimmed-and-blank"),
        pytest.param({"show": "overdue"}, QueueFilter(show=Show.OVERDUE), id="show"),
        pytest.param({"show": "everything"}, QueueFilter(), id="unknown-show-is-all"),
    ],
)
def test_queue_filters_from_the_query_string(query: dict[str, str], where: QueueFilter) -> None:
    assert QueueFilter.from_query(query) == where


def test_queue_filters_go_to_the_apis_that_know_them() -> None:
    where = QueueFilter(site="RXX01", authority="cqc", code="2.2", modality="ct", show=Show.OVERDUE)
    assert where.reporting_params() == {"site": "RXX01", "authority": "cqc", "code": "2.2", "modality": "ct"}
    assert where.deadlines_params() == {"site": "RXX01"}
    assert where.query()["show"] == "overdue"


def test_only_decided_non_notifiable_incidents_are_read_for_missing_facts() -> None:
    listed = [
        incident("a"),
        incident("b", notifiable=False),
        incident("c", notifiable=None),
        incident("d", notifiable=False),
    ]
    assert incidents_to_check_for_facts(listed, limit=5) == ["b", "d"]
    assert incidents_to_check_for_facts(listed, limit=1) == ["b"]


# -- the facts form -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "required"),
    [
        pytest.param("nation", "choice", True, id="enum"),
        pytest.param("discovered_on", "date", True, id="date"),
        pytest.param("total_effective_dose_msv", "number", False, id="dose"),
        pytest.param("individuals_affected", "integer", False, id="count"),
        pytest.param("equipment_fault", "flag", False, id="flag"),
        pytest.param("rt_dose_volume", "choice", False, id="optional-enum"),
        pytest.param("equipment_manufacturer", "text", False, id="free-text"),
    ],
)
def test_every_fact_has_a_form_control(name: str, kind: str, required: bool) -> None:
    field = FIELDS_BY_NAME[name]
    assert (field.kind, field.required) == (kind, required)
    assert field.description  # the shared model documents every fact


CURRENT = {
    "nation": "england",
    "modality": "ct",
    "total_effective_dose_msv": None,
    "intended_effective_dose_msv": 1.0,
    "individuals_affected": None,
    "equipment_fault": None,
}


@pytest.mark.parametrize(
    ("form", "patch"),
    [
        pytest.param({"total_effective_dose_msv": "12"}, {"total_effective_dose_msv": 12.0}, id="answered"),
        pytest.param({"intended_effective_dose_msv": "1"}, {}, id="same-number-written-otherwise"),
        pytest.param(
            {"intended_effective_dose_msv": ""},
            {"intended_effective_dose_msv": None},
            id="emptied-is-unknown",
        ),
        pytest.param({"individuals_affected": "2"}, {"individuals_affected": 2}, id="count"),
        pytest.param(
            {"individuals_affected": "2.5"}, {"individuals_affected": "2.5"}, id="bad-count-sent-as-typed"
        ),
        pytest.param(
            {"total_effective_dose_msv": "twelve"},
            {"total_effective_dose_msv": "twelve"},
            id="bad-dose-as-typed",
        ),
        pytest.param({"equipment_fault": "true"}, {"equipment_fault": True}, id="flag-yes"),
        pytest.param({"equipment_fault": ""}, {}, id="flag-still-unknown"),
        pytest.param({"modality": "ct", "nation": "wales"}, {"nation": "wales"}, id="only-what-changed"),
        pytest.param({"reason": "x", "csrf_token": "y"}, {}, id="other-fields-ignored"),
    ],
)
def test_the_form_becomes_a_merge_patch_of_what_changed(form: dict[str, str], patch: dict[str, Any]) -> None:
    assert amendment_patch(form, CURRENT) == patch


def test_intakes_field_errors_go_next_to_their_fields() -> None:
    errors = [
        {"path": "body/facts/total_effective_dose_msv", "message": "Input should be a valid number"},
        {"path": "body/facts/total_effective_dose_msv", "message": "must not be negative"},
        {"path": "body/facts/occurred_on", "message": "Value error, must not be after discovered_on"},
        {"path": "body/reason", "message": "String should have at least 1 character"},
    ]
    by_field, general = field_errors(errors)
    assert by_field == {
        "total_effective_dose_msv": "Input should be a valid number; must not be negative",
        "occurred_on": "Value error, must not be after discovered_on",
    }
    assert general == ["body/reason: String should have at least 1 character"]


def test_the_facts_the_decision_needs_come_first() -> None:
    needed, others = ordered_fields(["total_effective_dose_msv", "not_a_fact", "equipment_fault"])
    assert [f.name for f in needed] == ["total_effective_dose_msv", "equipment_fault"]
    assert len(needed) + len(others) == len(FIELDS_BY_NAME)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        pytest.param("total_effective_dose_msv", "Total effective dose (mSv)", id="msv"),
        pytest.param("foetal_dose_mgy", "Foetal dose (mGy)", id="mgy"),
        pytest.param("nm_prescribed_activity_mbq", "NM prescribed activity (MBq)", id="mbq"),
        pytest.param("patient_age_years", "Patient age (years)", id="years"),
        pytest.param("outside_arsac_licence", "Outside ARSAC licence", id="acronym"),
    ],
)
def test_fact_labels(name: str, text: str) -> None:
    assert fact_label(name) == text


def test_an_unknown_value_is_shown_as_it_came() -> None:
    assert label(AUTHORITIES, "cqc") == "CQC (England)"
    assert label(AUTHORITIES, "new-body") == "new-body"


# -- live changes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "payload", "signals", "facts_version"),
    [
        pytest.param("IncidentReported", {}, ("incident-s",), None, id="facts"),
        pytest.param("IncidentFactsAmended", {}, ("incident-s",), None, id="amended"),
        pytest.param("IncidentClassified", {"facts_version": 1}, ("incident-s", QUEUE), 1, id="decided"),
        pytest.param("IncidentReclassified", {"facts_version": 3}, ("incident-s", QUEUE), 3, id="re-decided"),
        pytest.param("DeadlineScheduled", {}, ("incident-s", QUEUE), None, id="window"),
        pytest.param("DeadlineMet", {}, ("incident-s", QUEUE), None, id="met"),
        pytest.param("SubmissionStatusChanged", {}, ("incident-s", QUEUE), None, id="submission"),
        pytest.param("DeadlineCountsChanged", {}, (QUEUE,), None, id="counts-are-trust-wide"),
        pytest.param("ThemeUpdated", {}, (THEMES,), None, id="theme"),
    ],
)
def test_an_event_names_the_fragments_it_changes(
    event_type: str, payload: dict[str, Any], signals: tuple[str, ...], facts_version: int | None
) -> None:
    change = change_of(event_type, "RXX", "s", payload)
    assert change is not None
    assert (change.trust, change.signals, change.decision_facts_version) == ("RXX", signals, facts_version)


def test_an_event_no_page_shows_changes_nothing() -> None:
    assert change_of("ThemeShared", "RXX", "s", {}) is None
    assert incident_signal("abc") == "incident-abc"


# -- people ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claim", "roles"),
    [
        pytest.param(["rp_lead", "auditor"], ("rp_lead", "auditor"), id="list"),
        pytest.param("rp_lead auditor", ("rp_lead", "auditor"), id="space-separated"),
        pytest.param("rp_lead,trust_admin", ("rp_lead", "trust_admin"), id="comma-separated"),
        pytest.param(["payroll", "rp_lead", "rp_lead"], ("rp_lead",), id="unknown-and-repeats-dropped"),
        pytest.param(None, (), id="absent"),
    ],
)
def test_roles_from_an_identity_providers_claim(claim: Any, roles: tuple[str, ...]) -> None:
    assert roles_from_claim(claim) == roles


OIDC = OidcSettings(
    metadata_url="https://idp.example.nhs.uk/.well-known/openid-configuration",
    client_id="sievert-console",
    roles_claim="sievert_roles",
    trust_claim="ods_trust",
)


def test_a_person_from_the_providers_claims() -> None:
    person = person_from_claims(
        {"sub": "u-1", "name": "A. Physicist", "ods_trust": "RXX"}, {"sievert_roles": ["rp_lead"]}, OIDC
    )
    assert person == Person("u-1", "A. Physicist", "RXX", ("rp_lead",), via="oidc")
    assert Person.from_session(person.to_session()) == person


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"sub": "u-1", "sievert_roles": ["rp_lead"]}, id="no-trust"),
        pytest.param({"sub": "u-1", "ods_trust": "RXX", "sievert_roles": ["payroll"]}, id="no-sievert-role"),
    ],
)
def test_an_account_without_a_trust_or_a_role_is_refused(claims: dict[str, Any]) -> None:
    with pytest.raises(SignInRefusedError):
        person_from_claims(claims, {}, OIDC)
