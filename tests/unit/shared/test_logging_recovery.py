"""Logging while things fail: repeated connection errors are written once per window, and lines
about effects are written only after their transaction committed."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from sievert_shared.logging import RepeatFilter, Throttle, configure_logging, logged_after_commit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_throttle_lets_one_line_per_key_per_window_and_counts_the_rest() -> None:
    clock = Clock()
    throttle = Throttle(window=30, clock=clock)
    assert throttle.allow("refused") == (True, 0)
    assert [throttle.allow("refused") for _ in range(3)] == [(False, 0)] * 3
    assert throttle.allow("reset") == (True, 0)  # another kind of failure is news
    clock.now = 31
    assert throttle.allow("refused") == (True, 3)
    assert throttle.allow("refused") == (False, 0)


def test_a_flood_of_one_stdlib_error_is_one_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RepeatFilter(window=30))
    logger = logging.getLogger("test.aiokafka.flood")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        for node in range(38_000):
            logger.error("Unable connect to node with id %s: %s", node % 3, "Connect call failed")
        logger.info("reconnected")  # below warning: never held back
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue().splitlines() == [
        "Unable connect to node with id 0: Connect call failed",
        "reconnected",
    ]


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    try:
        yield capsys
    finally:
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()
        logging.getLogger().handlers = []


def _events(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [
        json.loads(line)["event"] for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]


def test_effect_lines_are_written_after_the_commit(json_logs: pytest.CaptureFixture[str]) -> None:
    configure_logging("test", "info")  # here: the captured stdout exists only while the test runs
    log = structlog.get_logger("test")
    with logged_after_commit():
        log.info("consumer.event_applied", offset=1)
        log.warning("consumer.handler_rejected")  # a failure is written at once
        assert _events(json_logs) == ["consumer.handler_rejected"]
    assert _events(json_logs) == ["consumer.event_applied"]


def test_effect_lines_of_a_rolled_back_transaction_are_never_written(
    json_logs: pytest.CaptureFixture[str],
) -> None:
    configure_logging("test", "info")
    log = structlog.get_logger("test")
    with pytest.raises(ConnectionResetError), logged_after_commit():
        log.info("consumer.event_applied", offset=1)
        raise ConnectionResetError("killed mid-transaction")
    log.info("after")
    assert _events(json_logs) == ["after"]
