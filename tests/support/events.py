"""Envelopes as they would sit in the log, for tests of decoding and upcasting (no I/O)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sievert_shared.envelope import EventEnvelope, Tenant


def logged_envelope(
    event_type: str, version: int, payload: dict[str, Any], *, at: dt.datetime, producer: str = "test"
) -> EventEnvelope:
    """An envelope of ``event_type`` at schema ``version`` carrying ``payload`` as written, so a
    test can hand the registry an older shape than the models produce today."""
    return EventEnvelope(
        event_id=uuid.uuid4(),
        event_type=event_type,
        schema_version=version,
        stream_id=uuid.uuid4(),
        stream_version=1,
        occurred_at=at,
        recorded_at=at,
        tenant=Tenant(trust="RXX", site="RXX01"),
        correlation_id="corr-1",
        producer=producer,
        payload=payload,
    )
