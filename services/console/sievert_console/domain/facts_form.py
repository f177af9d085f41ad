"""The form that amends an incident's facts, built from the shared facts model.

The form posts strings; ``amendment_patch`` turns them into the JSON merge patch intake takes
(``POST /v1/incidents/{id}/amendments``): only the facts that changed, an emptied field as
``null`` (not known), and a value that does not parse sent as typed, so that intake names the
field in its 422 and the person sees their own text next to the message.
"""

from __future__ import annotations

import datetime as dt
import enum
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

from sievert_console.domain.labels import MODALITIES, fact_description, fact_label
from sievert_shared.facts import IncidentFacts

Kind = Literal["choice", "flag", "integer", "number", "date", "text"]

#: Facts intake requires on every report: they can be corrected, never emptied.
REQUIRED = frozenset(name for name, f in IncidentFacts.model_fields.items() if f.is_required())


@dataclass(frozen=True)
class FactField:
    name: str
    label: str
    description: str
    kind: Kind
    required: bool
    options: tuple[tuple[str, str], ...] = ()

    def shown(self, value: Any) -> str:
        """A stored value as the form shows it."""
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``; ``Annotated[X, ...]`` -> ``X``."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return _unwrap(args[0])
    metadata = getattr(annotation, "__metadata__", None)
    if metadata is not None:
        return _unwrap(get_args(annotation)[0])
    return annotation


def _options(name: str, enum_type: type[enum.Enum]) -> tuple[tuple[str, str], ...]:
    labels: Mapping[str, str] = MODALITIES if name == "modality" else {}
    return tuple(
        (str(m.value), labels.get(str(m.value), str(m.value).replace("_", " ").capitalize()))
        for m in enum_type
    )


def _field(name: str) -> FactField:
    info = IncidentFacts.model_fields[name]
    base = _unwrap(info.annotation)
    kind: Kind
    options: tuple[tuple[str, str], ...] = ()
    if isinstance(base, type) and issubclass(base, enum.Enum):
        kind, options = "choice", _options(name, base)
    elif base is bool:
        kind, options = "flag", (("true", "Yes"), ("false", "No"))
    elif base is int:
        kind = "integer"
    elif base is float:
        kind = "number"
    elif base is dt.date:
        kind = "date"
    elif base is str:
        kind = "text"  # free text as recorded, e.g. the equipment's manufacturer and model
    else:  # a new kind of fact: shown as a number is wrong, so fail loudly in the unit tests
        raise TypeError(f"no form control for fact {name}: {info.annotation!r}")
    return FactField(name, fact_label(name), fact_description(name), kind, name in REQUIRED, options)


#: Facts that are lists of structured entries (the employers involved) have no one form control:
#: they are corrected through intake's API, and the form leaves them alone.
NOT_IN_FORM = frozenset({"employers"})

FACT_FIELDS: tuple[FactField, ...] = tuple(
    _field(name) for name in IncidentFacts.model_fields if name not in NOT_IN_FORM
)
FIELDS_BY_NAME: Mapping[str, FactField] = {f.name: f for f in FACT_FIELDS}


def _parsed(field: FactField, raw: str) -> Any:
    """The JSON value for a typed string; the string itself when it does not parse."""
    text = raw.strip()
    if text == "":
        return None
    if field.kind == "flag":
        return {"true": True, "false": False}.get(text, text)
    if field.kind == "integer":
        try:
            return int(text)
        except ValueError:
            return text
    if field.kind == "number":
        try:
            return float(text)
        except ValueError:
            return text
    return text  # choices, dates and text travel as strings, as intake reads them


def amendment_patch(form: Mapping[str, str], current: Mapping[str, Any]) -> dict[str, Any]:
    """The facts whose submitted value differs from ``current``. Fields absent from the form are
    left alone, so a form that shows only some facts never clears the others."""
    patch: dict[str, Any] = {}
    for name, field in FIELDS_BY_NAME.items():
        if name not in form:
            continue
        value = _parsed(field, form[name])
        before = current.get(name)
        if value == before or (field.kind == "number" and _same_number(value, before)):
            continue
        patch[name] = value
    return patch


def _same_number(a: Any, b: Any) -> bool:
    return isinstance(a, int | float) and isinstance(b, int | float) and float(a) == float(b)


def field_errors(errors: Sequence[Mapping[str, Any]]) -> tuple[dict[str, str], list[str]]:
    """Intake's 422 ``errors`` ({path: 'body/facts/<name>', message}) as a message per fact
    field, and the ones that name no field (shown above the form)."""
    by_field: dict[str, str] = {}
    general: list[str] = []
    for error in errors:
        path = [p for p in str(error.get("path", "")).split("/") if p]
        message = str(error.get("message", "invalid"))
        name = path[2] if len(path) >= 3 and path[:2] == ["body", "facts"] else None
        if name in FIELDS_BY_NAME:
            assert name is not None
            by_field[name] = f"{by_field[name]}; {message}" if name in by_field else message
        else:
            general.append(f"{'/'.join(path) or 'request'}: {message}")
    return by_field, general


def ordered_fields(needs: Sequence[str]) -> tuple[tuple[FactField, ...], tuple[FactField, ...]]:
    """The fields the decision still needs (in its order), then every other one."""
    first = tuple(FIELDS_BY_NAME[n] for n in needs if n in FIELDS_BY_NAME)
    rest = tuple(f for f in FACT_FIELDS if f.name not in set(needs))
    return first, rest
