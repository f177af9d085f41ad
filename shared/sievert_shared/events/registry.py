"""Event types, their versions, and upcasters that read old shapes as the current one.

An event in the log is never rewritten: it is the record of what happened, and other services
have already acted on it. So when a payload's shape changes, its ``schema_version`` goes up, the
new model is registered, and an upcaster turns the previous version's payload into the new one.
Consumers then only ever see the current shape, and a replay of a log written years ago still
decodes every event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from sievert_shared.envelope import EventEnvelope

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Event(BaseModel):
    """Base for event payloads. Subclasses set ``event_type`` and ``schema_version``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int]


class UnknownEventError(LookupError):
    """The log holds an event type or version this service has never heard of."""


class UndecodableEventError(ValueError):
    """The bytes or payload do not match the registered shape."""


@dataclass
class EventRegistry:
    """Maps ``(event_type, schema_version)`` to payload models and chains upcasters."""

    _models: dict[tuple[str, int], type[Event]] = field(default_factory=dict)
    _latest: dict[str, int] = field(default_factory=dict)
    _upcasters: dict[tuple[str, int], Upcaster] = field(default_factory=dict)

    def register(self, model: type[Event]) -> type[Event]:
        key = (model.event_type, model.schema_version)
        if key in self._models:
            raise ValueError(f"{key} registered twice")
        self._models[key] = model
        self._latest[model.event_type] = max(self._latest.get(model.event_type, 0), model.schema_version)
        return model

    def register_upcaster(self, event_type: str, from_version: int, upcaster: Upcaster) -> None:
        """``upcaster`` turns a ``from_version`` payload into a ``from_version + 1`` payload."""
        self._upcasters[(event_type, from_version)] = upcaster

    def latest_version(self, event_type: str) -> int:
        try:
            return self._latest[event_type]
        except KeyError:
            raise UnknownEventError(f"unknown event type {event_type!r}") from None

    def models(self) -> Iterable[type[Event]]:
        return (self._models[k] for k in sorted(self._models))

    def model_for(self, event_type: str, schema_version: int) -> type[Event]:
        try:
            return self._models[(event_type, schema_version)]
        except KeyError:
            raise UnknownEventError(f"unknown event {event_type!r} v{schema_version}") from None

    def decode(self, envelope: EventEnvelope) -> Event:
        """Read the envelope's payload as the latest version of its event type."""
        latest = self.latest_version(envelope.event_type)
        version = envelope.schema_version
        if version > latest:
            raise UnknownEventError(
                f"{envelope.event_type} v{version} is newer than this service knows (v{latest})"
            )
        payload = envelope.payload
        while version < latest:
            try:
                upcast = self._upcasters[(envelope.event_type, version)]
            except KeyError:
                raise UnknownEventError(
                    f"no upcaster from {envelope.event_type} v{version} to v{version + 1}"
                ) from None
            payload = upcast(payload)
            version += 1
        try:
            return self.model_for(envelope.event_type, latest).model_validate(payload)
        except ValidationError as exc:
            raise UndecodableEventError(
                f"{envelope.event_type} v{envelope.schema_version} payload is invalid: {exc}"
            ) from exc
