"""Submission events in the log before v2 (no ``reference``) still decode, as v2 with none: the
deadlines service meets windows from them and reporting projects them."""

from __future__ import annotations

import datetime as dt
import uuid
from functools import partial
from typing import Any

import pytest

from sievert_shared.events import (
    REGISTRY,
    InvestigationReportSubmitted,
    NotificationSubmitted,
    SubmissionStatusChanged,
)
from sievert_shared.events.reporting import SubmissionKind
from tests.support.events import logged_envelope

NOW = dt.datetime(2025, 6, 5, 9, 0, tzinfo=dt.UTC)
SUBMITTED = {"authority": "cqc", "submitted_at": "2025-06-04T15:30:00Z", "submitted_by_role": "RPA"}


logged = partial(logged_envelope, at=NOW, producer="deadlines")


@pytest.mark.parametrize(
    ("event_type", "version", "payload", "expected"),
    [
        pytest.param(
            "NotificationSubmitted",
            1,
            SUBMITTED,
            NotificationSubmitted(
                authority="cqc",
                submitted_at=dt.datetime(2025, 6, 4, 15, 30, tzinfo=dt.UTC),
                submitted_by_role="RPA",
            ),
            id="notification-v1-no-reference",
        ),
        pytest.param(
            "InvestigationReportSubmitted",
            1,
            SUBMITTED,
            InvestigationReportSubmitted(
                authority="cqc",
                submitted_at=dt.datetime(2025, 6, 4, 15, 30, tzinfo=dt.UTC),
                submitted_by_role="RPA",
            ),
            id="report-v1-no-reference",
        ),
        pytest.param(
            "NotificationSubmitted",
            2,
            {**SUBMITTED, "reference": "IRMER-2025-0042"},
            NotificationSubmitted(
                authority="cqc",
                submitted_at=dt.datetime(2025, 6, 4, 15, 30, tzinfo=dt.UTC),
                submitted_by_role="RPA",
                reference="IRMER-2025-0042",
            ),
            id="notification-v2-with-reference",
        ),
        pytest.param(
            "SubmissionStatusChanged",
            1,
            {"submission_id": str(uuid.UUID(int=1)), "kind": "notification", "status": "submitted"},
            SubmissionStatusChanged(
                submission_id=uuid.UUID(int=1),
                kind=SubmissionKind.NOTIFICATION,
                status="submitted",
                channel="sievert",
            ),
            id="status-v1-was-always-sievert",
        ),
    ],
)
def test_earlier_versions_read_as_the_current_one(
    event_type: str, version: int, payload: dict[str, Any], expected: object
) -> None:
    assert REGISTRY.decode(logged(event_type, version, payload)) == expected
