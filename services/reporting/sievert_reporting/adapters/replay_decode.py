"""A replay's fast decoding of the events that change incidents' rows (the hot events: nearly all
of a real log), with pydantic as the judge of everything else.

Profiled (py-spy, 1,000,000 events), half of a replay's Python time was pydantic: the envelope
with ``model_validate_json``, then the payload again through the registry, then ``model_dump`` of
each decision for the jsonb column. Here the hot events (facts, decisions, deadline windows) are
decoded in one pass by msgspec into structs that mirror the pydantic models, generated from the
models themselves so they follow any change of shape.

The rule that keeps a replay exact: the fast path only ever *accepts*. It accepts a subset of
what pydantic accepts, and gives the same values; everything else (another event type, a
schema version that needs an upcaster, a model or constraint the mirror does not translate, a
value in a form it does not read, such as a timestamp with nanoseconds, or an invalid event) goes
to pydantic, which decodes it or rejects it exactly as the live consumer does. Both paths end in
the same ``IncidentChange``: ``domain.incident_row.incident_change`` builds it from the models.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import types
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from sys import intern
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import msgspec
from pydantic import AwareDatetime, BaseModel, BeforeValidator
from pydantic.fields import FieldInfo
from pydantic.types import AllowInfNan, Strict

from sievert_reporting.domain.incident_row import (
    DEADLINE_STATUS,
    DECISION_EVENTS,
    INCIDENT_ROW_EVENTS,
    DeadlinePart,
    DecisionPart,
    FactsPart,
    IncidentChange,
)
from sievert_shared.decision import ClassificationDecision
from sievert_shared.door_dates import only_date_text
from sievert_shared.envelope import EventEnvelope
from sievert_shared.events import REGISTRY, Event, EventRegistry
from sievert_shared.facts import IncidentFacts, employer_problems

_encode = msgspec.json.Encoder().encode


# -- the mirror: msgspec structs generated from the pydantic models --------------------------------


class Unsupported(TypeError):
    """The model uses something the mirror does not translate: its events go to pydantic."""


#: The RFC 3339 form of a timestamp that pydantic and ``datetime.fromisoformat`` read to the same
#: instant. msgspec's own datetime would round a seventh fractional digit where pydantic truncates
#: it, so timestamps are mirrored as strings of this form, and parsed (which also rejects a 13th
#: month) after decoding; any other form goes to pydantic.
INSTANT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})\Z"
_INSTANT = re.compile(INSTANT)
_Instant = str


def _instant(value: str) -> dt.datetime:
    if _INSTANT.search(value) is None:
        raise ValueError(f"not read here: {value!r}")
    return dt.datetime.fromisoformat(value)


@dataclass(frozen=True)
class _Pattern:
    """A pattern a string must match, checked in ``__post_init__``: msgspec's own pattern check
    cost 0.5 µs a string (measured), and organisation codes repeat, so matches are remembered."""

    regex: re.Pattern[str]


def _post_init(
    patterns: dict[str, re.Pattern[str]], then: Callable[[Any], None] | None
) -> Callable[[Any], None]:
    matched: set[str] = set()

    def check(self: Any) -> None:
        for name, regex in patterns.items():
            value = getattr(self, name)
            if value is not None and value not in matched:
                if regex.search(value) is None:
                    raise ValueError(f"{name} does not match {regex.pattern}")
                if len(matched) < 10_000:
                    matched.add(value)
        if then is not None:
            then(self)

    return check


def _facts_dates_in_order(self: Any) -> None:
    if self.occurred_on is not None and self.occurred_on > self.discovered_on:
        raise ValueError("must not be after discovered_on")


def _without_none(facts: dict[str, Any]) -> dict[str, Any]:
    """The facts as ``model_dump(exclude_none=True)`` gives them, which drops ``None`` at every
    depth: inside the employers' entries too (an employer without a trust code)."""
    return {
        k: [_without_none(item) if isinstance(item, dict) else item for item in v]
        if isinstance(v, list)
        else v
        for k, v in facts.items()
        if v is not None
    }


def _facts_in_order(self: Any) -> None:
    """The current facts' two checks: dates in order, and the employers' rule (one notifies)."""
    _facts_dates_in_order(self)
    if self.employers is not None and employer_problems(self.employers):
        raise ValueError("employers: not read here")


#: pydantic validators the mirror knows, as ``__post_init__`` checks of the mirrored struct; a
#: model with any other validator is not mirrored.
_KNOWN_VALIDATORS: dict[tuple[type[BaseModel], frozenset[str]], Callable[[Any], None]] = {
    (IncidentFacts, frozenset({"_not_after_discovery", "_employers_consistent"})): _facts_in_order,
}

_SCALARS = (str, int, float, bool, type(None))


def _pattern(pattern: str) -> str:
    # pydantic matches patterns with Rust's regex, where "$" is the end of the text; Python's "$"
    # also matches before a final newline, so only "^...$" patterns are translated, to "\Z".
    if not (pattern.startswith("^") and pattern.endswith("$")) or "$" in pattern[:-1] or "\\" in pattern:
        raise Unsupported(f"pattern {pattern!r}")
    return pattern[:-1] + r"\Z"


def _meta(tp: Any, metadata: Iterable[Any]) -> Any:
    """``tp`` with pydantic's constraints as a msgspec ``Meta``. Strictness and ``allow_inf_nan``
    need no translation: msgspec is strict (no "1" for 1, no 1.0 for an int, no 1 for true) and
    cannot read an infinite or NaN number from JSON, so it accepts a subset either way."""
    kwargs: dict[str, Any] = {}
    pattern: _Pattern | None = None
    for item in metadata:
        if isinstance(item, Strict | AllowInfNan):
            continue
        if isinstance(item, BeforeValidator) and item.func is only_date_text:
            continue  # msgspec reads a date only from YYYY-MM-DD text, never from a number
        if isinstance(item, annotated_types.Ge):
            kwargs["ge"] = item.ge
        elif isinstance(item, annotated_types.Gt):
            kwargs["gt"] = item.gt
        elif isinstance(item, annotated_types.Le):
            kwargs["le"] = item.le
        elif isinstance(item, annotated_types.Lt):
            kwargs["lt"] = item.lt
        elif isinstance(item, annotated_types.MinLen):
            kwargs["min_length"] = item.min_length
        elif isinstance(item, annotated_types.MaxLen):
            kwargs["max_length"] = item.max_length
        elif type(item).__name__ == "_PydanticGeneralMetadata" and set(vars(item)) <= {"pattern"}:
            if "pattern" in vars(item):
                pattern = _Pattern(re.compile(_pattern(item.pattern)))
        else:
            raise Unsupported(f"constraint {item!r}")
    numeric = {"ge", "gt", "le", "lt"} & kwargs.keys()
    if (numeric and tp not in (int, float)) or (pattern is not None and tp is not str):
        raise Unsupported(f"constraints {kwargs} {pattern} on {tp!r}")
    if pattern is not None:
        return Annotated[tp, msgspec.Meta(**kwargs), pattern]
    return Annotated[tp, msgspec.Meta(**kwargs)] if kwargs else tp


def _mirror_type(
    tp: Any, metadata: list[Any], structs: dict[type[BaseModel], Any], *, top: bool = False
) -> Any:
    """``top``: a field of the struct itself, where a timestamp may be (``Mirror.instants``)."""
    origin = get_origin(tp)
    if origin is Annotated:
        base, *extra = get_args(tp)
        for item in extra:
            if isinstance(item, FieldInfo):
                if not item.is_required():
                    raise Unsupported(f"default inside Annotated: {item!r}")
                metadata = [*metadata, *item.metadata]
            else:
                metadata = [*metadata, item]
        return _mirror_type(base, metadata, structs, top=top)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if len(args) == 2 and type(None) in args:
            (inner,) = (a for a in args if a is not type(None))
            return _mirror_type(inner, metadata, structs, top=top) | None
        if metadata or not all(a in _SCALARS for a in args):
            raise Unsupported(f"union {tp!r}")
        # smart-mode pydantic keeps a JSON scalar's own type in a union of scalars, as msgspec does
        return tp
    if origin is Literal:
        if metadata or not all(type(a) is str for a in get_args(tp)):
            raise Unsupported(f"literal {tp!r}")
        return tp
    if origin in (tuple, list):
        args = get_args(tp)
        if origin is tuple and (len(args) != 2 or args[1] is not Ellipsis):
            raise Unsupported(f"tuple {tp!r}")
        return _meta(list[_inner(args[0], structs)], metadata)  # type: ignore[misc]
    if origin is dict:
        key, value = get_args(tp)
        if key is not str or metadata:
            raise Unsupported(f"dict {tp!r}")
        return dict[str, _inner(value, structs)]  # type: ignore[misc]
    if origin is not None:
        raise Unsupported(f"type {tp!r}")
    if tp in (str, int, float):
        return _meta(tp, metadata)
    if tp is bool or tp is uuid.UUID or tp is dt.date:
        # msgspec reads booleans, hyphenated or plain hex UUIDs and YYYY-MM-DD dates only
        return _meta(tp, metadata)
    if tp is AwareDatetime or tp is dt.datetime:
        if metadata or not top:
            raise Unsupported(f"timestamp {tp!r} with constraints or inside another type")
        return _Instant  # it requires an offset: a subset of what a naive datetime accepts too
    if isinstance(tp, type) and issubclass(tp, enum.Enum) and all(type(m.value) is str for m in tp):
        return _meta(tp, metadata)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if metadata:
            raise Unsupported(f"constraints on model {tp!r}")
        struct = mirror(tp, structs)
        if INSTANTS[struct]:
            raise Unsupported(f"timestamps inside {tp!r}")
        return struct
    raise Unsupported(f"type {tp!r}")


def _inner(tp: Any, structs: dict[type[BaseModel], Any]) -> Any:
    """The type of a list's items or a dict's values: ``__post_init__`` checks no pattern there."""
    inner = _mirror_type(tp, [], structs)
    if _top_pattern(inner) is not None:
        raise Unsupported(f"pattern inside a list or dict: {tp!r}")
    return inner


def mirror(
    model: type[BaseModel],
    structs: dict[type[BaseModel], Any] | None = None,
    *,
    replace: dict[str, Any] | None = None,
) -> Any:
    """A msgspec struct accepting a subset of what ``model`` accepts from JSON, with equal values.

    ``replace`` gives some fields another (already mirrored) type: the envelope's ``payload`` is
    the event's struct, and its ``event_type`` the one type it reads."""
    structs = {} if structs is None else structs
    if model in structs and replace is None:
        return structs[model]
    config = model.model_config
    if config.get("extra", "ignore") not in ("forbid", "ignore") or config.get("strict"):
        raise Unsupported(f"{model.__name__}: config {config}")
    decorators = model.__pydantic_decorators__
    names = frozenset(decorators.field_validators) | frozenset(decorators.model_validators)
    if decorators.validators or decorators.root_validators:
        raise Unsupported(f"{model.__name__}: validators")
    validator = None
    if names:
        validator = _KNOWN_VALIDATORS.get((model, names))
        if validator is None:
            raise Unsupported(f"{model.__name__}: validators {sorted(names)}")
    fields: list[Any] = []
    instants: list[str] = []
    patterns: dict[str, re.Pattern[str]] = {}
    for name, info in model.model_fields.items():
        if info.alias or info.validation_alias:
            raise Unsupported(f"{model.__name__}.{name}: alias")
        if replace and name in replace:
            tp = replace[name]
        else:
            tp = _mirror_type(info.annotation, info.metadata, structs, top=True)
            if (regex := _top_pattern(tp)) is not None:
                patterns[name] = regex
            if _is_instant(info.annotation):
                instants.append(name)
        if info.is_required():
            fields.append((name, tp))
        elif info.default_factory is not None:
            fields.append((name, tp, msgspec.field(default_factory=info.default_factory)))  # type: ignore[arg-type]
        elif isinstance(info.default, tuple | list):
            default = list(info.default)
            fields.append((name, tp, msgspec.field(default_factory=lambda d=default: list(d))))  # type: ignore[misc]
        elif info.default is None or type(info.default) in (str, int, float, bool):
            fields.append((name, tp, info.default))
        else:
            raise Unsupported(f"{model.__name__}.{name}: default {info.default!r}")
    options: dict[str, Any] = {"kw_only": True, "forbid_unknown_fields": config.get("extra") == "forbid"}
    struct = msgspec.defstruct(
        f"Mirror{model.__name__}",
        fields,
        namespace={"__post_init__": _post_init(patterns, validator)} if patterns or validator else None,
        **options,
    )
    INSTANTS[struct] = tuple(instants)
    if replace is None:
        structs[model] = struct
    return struct


#: The timestamp fields of each mirrored struct: strings of the ``INSTANT`` form, to parse.
INSTANTS: dict[Any, tuple[str, ...]] = {}


def _top_pattern(tp: Any) -> re.Pattern[str] | None:
    """The pattern of a ``str`` or ``str | None`` field; a pattern deeper down is not mirrored."""
    for candidate in get_args(tp) if get_origin(tp) in (Union, types.UnionType) else (tp,):
        if get_origin(candidate) is Annotated:
            markers = [m for m in get_args(candidate)[1:] if isinstance(m, _Pattern)]
            if markers:
                return markers[0].regex
    return None


def _is_instant(annotation: Any) -> bool:
    args = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    return any(a is AwareDatetime or a is dt.datetime for a in args)


@dataclass(frozen=True)
class FastDecoder:
    """Decodes the hot events of the registry's latest versions in one pass, or returns None."""

    #: event type -> (its envelope's decoder, the schema version mirrored, the payload's timestamps)
    types: dict[str, tuple[msgspec.json.Decoder[Any], int, tuple[str, ...]]]

    @classmethod
    def build(cls, registry: EventRegistry = REGISTRY) -> FastDecoder:
        structs: dict[type[BaseModel], Any] = {}
        known: dict[str, tuple[msgspec.json.Decoder[Any], int, tuple[str, ...]]] = {}
        for event_type in sorted(INCIDENT_ROW_EVENTS):
            version = registry.latest_version(event_type)
            model = registry.model_for(event_type, version)
            if not _parts_readable(model):
                continue
            try:
                payload = mirror(model, structs)
                # a Literal, not a msgspec tag: a tagged struct on its own accepts a missing tag
                envelope = mirror(
                    EventEnvelope,
                    structs,
                    replace={"payload": payload, "event_type": Literal[event_type]},
                )
            except Unsupported:
                continue  # every event of this type goes through pydantic
            if INSTANTS[envelope] != ("occurred_at", "recorded_at"):
                continue
            known[event_type] = (msgspec.json.Decoder(envelope), version, INSTANTS[payload])
        return cls(known)

    def decode(self, raw: bytes, event_type: str | None) -> IncidentChange | None:
        """The hot record of ``raw``, or None if pydantic must decide.

        ``event_type`` (the record's header) picks the decoder, which checks it against the
        envelope's own: a union of every type would cost twice as much (measured)."""
        if event_type is None or (known := self.types.get(event_type)) is None:
            return None
        decoder, version, instants = known
        try:
            env = decoder.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
        if env.schema_version != version:
            return None  # an older version is upcast by the registry; a newer one is unknown
        payload = env.payload
        due_at: dt.datetime | None = None
        met_at: dt.datetime | None = None
        try:
            _instant(env.occurred_at)
            recorded_at = _instant(env.recorded_at)
            for name in instants:
                if (value := getattr(payload, name)) is not None:
                    parsed = _instant(value)
                    if name == "due_at":
                        due_at = parsed
                    elif name == "met_at":
                        met_at = parsed
        except ValueError:
            return None  # e.g. a 13th month, or hour 24: pydantic decides
        part: FactsPart | DecisionPart | DeadlinePart
        if event_type in DEADLINE_STATUS:
            if due_at is None:
                return None
            part = _deadline_part(event_type, payload, due_at, met_at)
        elif event_type in DECISION_EVENTS:
            decision = payload.decision
            # the struct encoded as it is, with facts_version added at the end of the object, as
            # the handlers' dict gives it: a third of the cost of building that dict first
            # (``to_builtins``), which was a tenth of a replay's decoding (profiled)
            part = DecisionPart(
                payload.facts_version,
                decision.notifiable,
                decision.codes,
                decision.authority.value,
                decision.csaue,
                decision.ruleset,
                b'%s,"facts_version":%d}' % (_encode(decision)[:-1], payload.facts_version),
            )
        else:
            facts = payload.facts
            part = FactsPart(
                facts.nation.value,
                facts.modality.value,
                facts.exposure_kind.value,
                facts.discovered_on,
                facts.occurred_on,
                _encode(_without_none(msgspec.to_builtins(facts))),
            )
        return IncidentChange(
            env.event_id,
            event_type,
            env.stream_id,
            env.stream_version,
            recorded_at,
            # one string per trust and site, not one per event: an incident's row and its stream's
            # binding keep them until the replay ends
            intern(env.tenant.trust),
            intern(env.tenant.site),
            part,
        )


def _deadline_part(
    event_type: str, payload: Any, due_at: dt.datetime, met_at: dt.datetime | None
) -> DeadlinePart:
    """As ``incident_change`` reads a deadline event: its window, and the timeliness it states."""
    clock_from = None
    if event_type == "DeadlineScheduled":
        clock_from = (payload.clock_from or payload.discovered_on).isoformat()
    met = event_type == "DeadlineMet"
    return DeadlinePart(
        payload.window.value,
        due_at.isoformat(),
        DEADLINE_STATUS[event_type],
        clock_from=clock_from,
        met_at=met_at.isoformat() if met and met_at is not None else None,
        days_late=payload.days_late if met else None,
    )


def _parts_readable(model: type[Event]) -> bool:
    """The fields ``decode`` reads are there with the types it reads them as."""
    fields = model.model_fields
    if model.event_type in DEADLINE_STATUS:
        stated = {
            "DeadlineScheduled": ("clock_from", "discovered_on"),
            "DeadlineMet": ("met_at", "days_late"),
        }
        return {"window", "due_at", *stated.get(model.event_type, ())} <= set(fields)
    if model.event_type in DECISION_EVENTS:
        return (
            fields.get("decision") is not None
            and fields["decision"].annotation is ClassificationDecision
            and "facts_version" in fields
            # the decision's JSON gets facts_version appended: it must not have one of its own
            and "facts_version" not in ClassificationDecision.model_fields
        )
    return fields.get("facts") is not None and fields["facts"].annotation is IncidentFacts
