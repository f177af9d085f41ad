"""A clock tests move by hand, so deadline and classification code can be tested across weeks."""

from __future__ import annotations

import datetime as dt


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        self._now += delta
        return self._now

    def set(self, instant: dt.datetime) -> None:
        self._now = instant
