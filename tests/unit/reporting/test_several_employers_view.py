"""Several employers in reporting: the other trust's read-only part of an incident (only its own
part, never the reporting trust's facts), and the documents' employers in words."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from sievert_classifier.domain.classify import classify
from sievert_reporting.domain.document_views import employers_section
from sievert_reporting.domain.documents import employer_lines, incident_section
from sievert_reporting.domain.shared_incidents import (
    SharedIncidentRow,
    notification_stage,
    shared_incident_view,
)
from sievert_reporting.domain.submissions import (
    AnotherEmployerNotifiesError,
    IncidentState,
    refuse_unless_this_trust_notifies,
)
from sievert_shared.events.reporting import SubmissionKind
from sievert_shared.facts import IncidentFacts

INCIDENT = uuid.UUID("00000000-0000-0000-0000-00000000e301")
X = {"name": "Riverside NHS Trust", "trust_code": "RXX", "role": "referring", "notifies": False}
Y = {"name": "Hillside NHS Foundation Trust", "trust_code": "RYY", "role": "performing", "notifies": True}
PRIVATE = {
    "name": "Imaging Partners Ltd",
    "trust_code": None,
    "role": "referring_and_performing",
    "notifies": False,
}


def row(
    employers: list[dict[str, Any]], status: str | None = None, reference: str | None = None
) -> SharedIncidentRow:
    return SharedIncidentRow(
        incident_id=INCIDENT,
        discovered_on=dt.date(2025, 6, 2),
        modality="ct",
        employers=employers,
        notification_status=status,
        notification_authority="cqc" if status else None,
        notification_reference=reference,
    )


@pytest.mark.parametrize(
    ("trust", "shared", "expected"),
    [
        pytest.param(
            "RYY",
            row([X, Y]),
            {
                "own_role": "performing",
                "notifying_employer": "Hillside NHS Foundation Trust",
                "this_trust_notifies": True,
                "status": "not_notified",
            },
            id="the-other-trust-notifies-itself",
        ),
        pytest.param(
            "RYY",
            row([{**X, "notifies": True}, {**Y, "notifies": False}], "submitted"),
            {
                "own_role": "performing",
                "notifying_employer": "Riverside NHS Trust",
                "this_trust_notifies": False,
                "status": "notified",
            },
            id="the-reporting-trust-notified",
        ),
        pytest.param(
            "RYY",
            row([X, Y], "acknowledged", "IRMER/2025/1"),
            {
                "own_role": "performing",
                "notifying_employer": "Hillside NHS Foundation Trust",
                "this_trust_notifies": True,
                "status": "acknowledged",
                "reference": "IRMER/2025/1",
            },
            id="acknowledged-with-the-authoritys-reference",
        ),
        pytest.param("RZZ", row([X, Y]), None, id="a-trust-not-named-sees-nothing"),
        pytest.param("ryy", row([X, Y]), None, id="trust-codes-are-exact"),
    ],
)
def test_several_employers_shared_view(
    trust: str, shared: SharedIncidentRow, expected: dict[str, Any] | None
) -> None:
    view = shared_incident_view(trust, shared)
    if expected is None:
        assert view is None
        return
    assert view is not None
    assert set(view) == {
        "incident_id",
        "discovered_on",
        "modality",
        "own_role",
        "notifying_employer",
        "this_trust_notifies",
        "notification",
    }
    assert view["own_role"]["value"] == expected["own_role"] and view["own_role"]["label"].startswith(
        "performing"
    )
    assert view["modality"] == {"value": "ct", "label": "Computed tomography (CT)"}
    assert view["notifying_employer"] == expected["notifying_employer"]
    assert view["this_trust_notifies"] is expected["this_trust_notifies"]
    assert view["notification"]["status"] == expected["status"]
    assert view["notification"]["reference"] == expected.get("reference")


@pytest.mark.parametrize(
    ("status", "stage"),
    [
        pytest.param(None, "not_notified", id="no-notification"),
        pytest.param("draft", "not_notified", id="a-draft-is-the-reporting-trusts-own-work"),
        pytest.param("submitted", "notified", id="submitted"),
        pytest.param("acknowledged", "acknowledged", id="acknowledged"),
    ],
)
def test_several_employers_notification_stage(status: str | None, stage: str) -> None:
    assert notification_stage(status)[0] == stage


def test_several_employers_a_draft_shows_no_authority_or_reference() -> None:
    view = shared_incident_view("RYY", row([X, Y], "draft", "not-yet"))
    assert (
        view is not None
        and view["notification"]["authority"] is None
        and view["notification"]["reference"] is None
    )


FACTS: dict[str, Any] = {
    "nation": "england",
    "discovered_on": "2025-06-02",
    "exposure_kind": "unintended",
    "modality": "ct",
}


@pytest.mark.parametrize(
    ("employers", "lines", "reading"),
    [
        pytest.param(None, None, None, id="the-trust-alone-no-section"),
        pytest.param(
            [X, Y],
            [
                ("Riverside NHS Trust", "referring employer (the referrer's employer)", False),
                (
                    "Hillside NHS Foundation Trust",
                    "performing employer (the exposure was performed under its procedures)",
                    True,
                ),
            ],
            "Hillside NHS Foundation Trust makes this notification and sends the report for the exposure; the other employer (Riverside NHS Trust) is informed.",
            id="two-employers-the-performing-one-notifies",
        ),
        pytest.param(
            [{**X, "notifies": True}, {**Y, "notifies": False}, PRIVATE],
            [
                ("Riverside NHS Trust", "referring employer (the referrer's employer)", True),
                (
                    "Hillside NHS Foundation Trust",
                    "performing employer (the exposure was performed under its procedures)",
                    False,
                ),
                ("Imaging Partners Ltd", "referring and performing employer", False),
            ],
            "Riverside NHS Trust makes this notification and sends the report for the exposure; the other employers (Hillside NHS Foundation Trust, Imaging Partners Ltd) are informed.",
            id="three-employers",
        ),
    ],
)
def test_several_employers_in_the_documents(
    employers: list[dict[str, Any]] | None, lines: list[tuple[str, str, bool]] | None, reading: str | None
) -> None:
    facts = IncidentFacts.model_validate({**FACTS, "employers": employers})
    listed = employer_lines(facts)
    assert (None if listed is None else [(e.name, e.role.label, e.notifies) for e in listed]) == lines
    section = employers_section(incident_section(facts, classify(facts)))
    if reading is None:
        assert not section.paragraphs and not section.tables
        return
    assert section.paragraphs == (reading,)
    (table,) = section.tables
    assert table.name == "employers" and [r[0] for r in table.rows] == [name for name, _, _ in lines or []]


@pytest.mark.parametrize(
    ("trust", "employers", "kind", "refused"),
    [
        pytest.param("RXX", None, SubmissionKind.NOTIFICATION, False, id="the-trust-alone-notifies"),
        pytest.param(
            "RXX",
            [{**X, "notifies": True}, {**Y, "notifies": False}],
            SubmissionKind.NOTIFICATION,
            False,
            id="it-is-the-notifying-employer",
        ),
        pytest.param("RXX", [X, Y], SubmissionKind.NOTIFICATION, True, id="another-trust-notifies"),
        pytest.param("RXX", [X, Y], SubmissionKind.INVESTIGATION_REPORT, True, id="and-sends-the-report"),
        pytest.param(
            "RXX",
            [X, {**PRIVATE, "notifies": True}],
            SubmissionKind.NOTIFICATION,
            True,
            id="an-independent-provider-notifies",
        ),
        pytest.param(
            "RXX",
            [X, Y],
            SubmissionKind.VOLUNTARY_NOTIFICATION,
            False,
            id="a-voluntary-offer-is-the-trusts-own",
        ),
        pytest.param(
            "RXX", [X, Y], SubmissionKind.LICENSING_BREACH_NOTIFICATION, False, id="a-licensing-breach-too"
        ),
    ],
)
def test_several_employers_one_notification_per_exposure(
    trust: str, employers: list[dict[str, Any]] | None, kind: SubmissionKind, refused: bool
) -> None:
    facts = IncidentFacts.model_validate({**FACTS, "employers": employers})
    incident = IncidentState(INCIDENT, trust, f"{trust}01", facts, classify(facts, reporting_trust=trust))
    if not refused:
        refuse_unless_this_trust_notifies(kind, incident)
        return
    with pytest.raises(AnotherEmployerNotifiesError) as caught:
        refuse_unless_this_trust_notifies(kind, incident)
    assert caught.value.status == 409 and caught.value.extra["notifying_employer"] != "Riverside NHS Trust"
