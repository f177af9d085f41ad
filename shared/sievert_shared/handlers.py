"""How a service says which event its consumer reacts to, and how.

Every service registers its handlers the same way::

    handlers = EventHandlers()
    handlers.add(IncidentReported, on_incident_facts)
    handlers.add(IncidentFactsAmended, on_incident_facts)

Each handler receives its event already typed (``on_incident_facts`` declares
``IncidentReported | IncidentFactsAmended`` and needs no ``isinstance`` of its own), and the
result is the ``Mapping[str, Handler]`` the idempotent consumer and a replay both read, so the
live path and a rebuild apply the very same functions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, TypeVar, overload

from sievert_shared.consumer import AfterBatch, BeforeBatch, Handler
from sievert_shared.db import Connection
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import Event

E = TypeVar("E", bound=Event)
E2 = TypeVar("E2", bound=Event)
E3 = TypeVar("E3", bound=Event)

TypedHandler = Callable[[Connection, EventEnvelope, E], Awaitable[None]]


class EventHandlers(Mapping[str, Handler]):
    """The handlers of one consumer, keyed by event type. One handler per type: registering a
    second is a wiring mistake and fails at start-up, not at the first event."""

    def __init__(
        self, after_batch: AfterBatch | None = None, before_batch: BeforeBatch | None = None
    ) -> None:
        self._by_type: dict[str, Handler] = {}
        #: what the idempotent consumer runs once per batch after these handlers, and before
        #: them (a replay applies the handlers only)
        self.after_batch = after_batch
        self.before_batch = before_batch

    def add(self, event_class: type[E], handler: TypedHandler[E]) -> None:
        event_type = event_class.event_type
        if event_type in self._by_type:
            raise ValueError(f"a handler for {event_type} is registered already")

        async def typed(conn: Connection, envelope: EventEnvelope, event: Event) -> None:
            # The registry decodes an event type to its latest class, so this holds unless the
            # registry and this wiring disagree; then the event is dead-lettered with the reason.
            if not isinstance(event, event_class):
                raise TypeError(f"{event_type} decoded as {type(event).__name__}, not {event_class.__name__}")
            await handler(conn, envelope, event)

        typed.__qualname__ = getattr(handler, "__qualname__", typed.__qualname__)
        self._by_type[event_type] = typed

    @overload
    def on(self, a: type[E], /) -> Callable[[TypedHandler[E]], TypedHandler[E]]: ...
    @overload
    def on(self, a: type[E], b: type[E2], /) -> Callable[[TypedHandler[E | E2]], TypedHandler[E | E2]]: ...
    @overload
    def on(
        self, a: type[E], b: type[E2], c: type[E3], /
    ) -> Callable[[TypedHandler[E | E2 | E3]], TypedHandler[E | E2 | E3]]: ...

    def on(self, *event_classes: type[Event]) -> Callable[[Any], Any]:
        """Decorator form of ``add``: one handler for up to three event classes, whose event
        parameter is typed as their union."""

        def register(handler: Any) -> Any:
            for event_class in event_classes:
                self.add(event_class, handler)
            return handler

        return register

    def extended(self, other: Mapping[str, Handler]) -> EventHandlers:
        """A new set with ``other``'s handlers replacing these for the types both have, and its
        ``after_batch`` and ``before_batch`` if it has them: how a live consumer adds
        announcements (and reads ahead) on top of a projection that a replay applies bare."""
        combined = EventHandlers(
            getattr(other, "after_batch", None) or self.after_batch,
            getattr(other, "before_batch", None) or self.before_batch,
        )
        combined._by_type = {**self._by_type, **other}
        return combined

    def __getitem__(self, event_type: str) -> Handler:
        return self._by_type[event_type]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_type)

    def __len__(self) -> int:
        return len(self._by_type)
