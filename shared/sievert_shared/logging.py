"""JSON logs through structlog, with the correlation id bound per request or per event."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import time
from collections.abc import Callable, Hashable, Iterator, MutableMapping
from typing import Any

import structlog

from sievert_shared.tracing import add_trace_ids

# While a dependency is down, clients retry many times a second and would log every attempt
# (aiokafka: tens of thousands of "Unable connect to node" lines in seconds). One line per kind
# of failure per window is enough to see what is wrong; the next says how many were held back.
REPEAT_WINDOW_SECONDS = 30.0


class Throttle:
    """At most one line per key per window."""

    def __init__(
        self, window: float = REPEAT_WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._window = window
        self._clock = clock
        self._last: dict[Hashable, float] = {}
        self._held: dict[Hashable, int] = {}

    def allow(self, key: Hashable) -> tuple[bool, int]:
        """Whether to write this line, and how many like it were held back since the last one."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._window:
            self._held[key] = self._held.get(key, 0) + 1
            return False, 0
        self._last[key] = now
        return True, self._held.pop(key, 0)


class RepeatFilter(logging.Filter):
    """For stdlib loggers (aiokafka's, uvicorn's): a warning or error repeated within the window
    is written once; the next one after the window counts the ones held back."""

    def __init__(self, window: float = REPEAT_WINDOW_SECONDS) -> None:
        super().__init__()
        self._throttle = Throttle(window)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        allowed, held_back = self._throttle.allow((record.name, record.levelno, str(record.msg)))
        if allowed and held_back:
            record.msg = f"{record.msg} ({held_back} similar lines held back)"
        return allowed


_deferred: contextvars.ContextVar[list[tuple[str, dict[str, Any]]] | None] = contextvars.ContextVar(
    "sievert_logged_after_commit", default=None
)
_DEFERRED_LEVELS = frozenset({"debug", "info"})


def _defer_until_commit(
    _logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    pending = _deferred.get()
    if pending is not None and method_name in _DEFERRED_LEVELS:
        pending.append((method_name, dict(event_dict)))
        raise structlog.DropEvent
    return event_dict


@contextlib.contextmanager
def logged_after_commit() -> Iterator[None]:
    """Hold back the info and debug lines logged inside the block (they describe effects) until
    it ends without an error, i.e. after the transaction it wraps has committed; drop them if it
    fails. Warnings and errors are written at once: they describe failures, not effects."""
    pending: list[tuple[str, dict[str, Any]]] = []
    token = _deferred.set(pending)
    try:
        yield
    finally:
        _deferred.reset(token)
    logger = structlog.get_logger()
    for method_name, event_dict in pending:
        getattr(logger, method_name)(**event_dict)


def configure_logging(service: str, level: str = "info") -> None:
    logging.basicConfig(format="%(message)s", stream=sys.stdout, level=level.upper())
    # uvicorn and aiokafka log through stdlib; route them through the same JSON renderer.
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _defer_until_commit,  # after the merge, so a held-back line keeps its event's context
            *shared_processors[1:],
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(),
        ],
        foreign_pre_chain=[*shared_processors, structlog.stdlib.add_logger_name],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    for noisy in ("aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
