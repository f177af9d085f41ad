"""Whether a topic keeps its events as long as Sievert asks: -1 is for ever on both sides."""

from __future__ import annotations

import pytest

from sievert_shared.kafka import retention_falls_short
from sievert_shared.settings import KafkaSettings

DAY = 86_400_000


@pytest.mark.parametrize(
    ("retention_ms", "wanted_ms", "short"),
    [
        (-1, -1, False),  # for ever, as asked
        (7 * DAY, -1, True),  # the broker's default where for ever is asked
        (DAY, -1, True),
        (-1, 7 * DAY, False),  # keeps longer than asked
        (30 * DAY, 7 * DAY, False),
        (7 * DAY, 7 * DAY, False),  # exactly as asked
        (7 * DAY - 1, 7 * DAY, True),
    ],
)
def test_retention_falls_short(retention_ms: int, wanted_ms: int, short: bool) -> None:
    assert retention_falls_short(retention_ms, wanted_ms) is short


def test_topics_keep_events_for_ever_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_TOPIC_RETENTION_MS", raising=False)
    assert KafkaSettings().topic_retention_ms == -1
    monkeypatch.setenv("KAFKA_TOPIC_RETENTION_MS", str(DAY))
    assert KafkaSettings().topic_retention_ms == DAY
