"""Explicit unit conversion for dose, activity and ratio facts.

Incident facts carry one unit per dimension (``shared/sievert_shared/facts.py``): effective dose in
mSv, absorbed dose in mGy, radiotherapy doses in Gy (as radiotherapy records them), activity in MBq,
ratios dimensionless. A fact's name ends in its unit (``_msv``, ``_mgy``, ``_gy``, ``_mbq``,
``_ratio``), and ``FACT_DIMENSIONS`` reads the dimension of every quantity fact from it. Hospitals send what their
systems record (µSv from a DAP meter, Gy from a planning system, mCi from an older calibrator),
so every conversion is listed here and nothing is guessed: a unit that is not in the table, or
that measures another quantity (mGy for an effective dose), is refused with the units that would
have been accepted.

Units are UCUM case-sensitive codes (``uSv``, ``mGy``, ``MBq``), plus the micro sign and Greek mu
spellings (``µSv``, ``μSv``) that engines copy from device displays. Conversion is done in
``Decimal`` so that 12000 µSv is exactly 12 mSv, and JSON, HL7 v2 and FHIR give identical facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from sievert_shared.facts import IncidentFacts

__all__ = [
    "CANONICAL_UNIT",
    "FACT_DIMENSIONS",
    "Dimension",
    "FactUnitsError",
    "UnitError",
    "accepted_units",
    "convert",
    "convert_fact",
    "parse_decimal",
    "quantities_in_fact_units",
]


class Dimension(StrEnum):
    EFFECTIVE_DOSE = "effective_dose"
    ABSORBED_DOSE = "absorbed_dose"
    #: An absorbed dose as radiotherapy prescribes and records it: stored in Gy, not mGy, so a
    #: 2 Gy fraction is 2.0 and no therapy dose is ever mistaken for an imaging one.
    THERAPY_DOSE = "therapy_dose"
    ACTIVITY = "activity"
    RATIO = "ratio"


#: The unit each dimension is stored in, as UCUM codes.
CANONICAL_UNIT: dict[Dimension, str] = {
    Dimension.EFFECTIVE_DOSE: "mSv",
    Dimension.ABSORBED_DOSE: "mGy",
    Dimension.THERAPY_DOSE: "Gy",
    Dimension.ACTIVITY: "MBq",
    Dimension.RATIO: "1",
}

# Factor from each accepted unit to the canonical one. 1 Ci = 3.7e10 Bq by definition, so
# 1 mCi = 37 MBq exactly.
_FACTORS: dict[Dimension, dict[str, Decimal]] = {
    Dimension.EFFECTIVE_DOSE: {
        "Sv": Decimal(1000),
        "mSv": Decimal(1),
        "uSv": Decimal("0.001"),
        "nSv": Decimal("0.000001"),
    },
    Dimension.ABSORBED_DOSE: {
        "Gy": Decimal(1000),
        "cGy": Decimal(10),
        "mGy": Decimal(1),
        "uGy": Decimal("0.001"),
    },
    Dimension.THERAPY_DOSE: {
        "Gy": Decimal(1),
        "cGy": Decimal("0.01"),
        "mGy": Decimal("0.001"),
    },
    Dimension.ACTIVITY: {
        "GBq": Decimal(1000),
        "MBq": Decimal(1),
        "kBq": Decimal("0.001"),
        "Bq": Decimal("0.000001"),
        "Ci": Decimal(37000),
        "mCi": Decimal(37),
        "uCi": Decimal("0.037"),
    },
    # A ratio may come as a plain number (UCUM "1", or the annotation "{ratio}") or as a percentage.
    Dimension.RATIO: {
        "": Decimal(1),
        "1": Decimal(1),
        "{ratio}": Decimal(1),
        "%": Decimal("0.01"),
    },
}

# Spellings of "micro" seen in the wild, folded to UCUM's ASCII "u".
_MICRO = str.maketrans({"µ": "u", "μ": "u"})


#: The dimension of every quantity fact, read from the unit its name ends in.
_SUFFIXES = (
    ("_msv", Dimension.EFFECTIVE_DOSE),
    ("_mgy", Dimension.ABSORBED_DOSE),
    ("_gy", Dimension.THERAPY_DOSE),
    ("_mbq", Dimension.ACTIVITY),
    ("_ratio", Dimension.RATIO),
)
FACT_DIMENSIONS: dict[str, Dimension] = {
    name: dimension
    for name in IncidentFacts.model_fields
    for suffix, dimension in _SUFFIXES
    if name.endswith(suffix)
}


class UnitError(ValueError):
    """A unit that is missing, unknown, or measures another quantity; ``fact`` names the fact
    it was sent for, when known, and the message then starts with it."""

    def __init__(self, unit: str | None, dimension: Dimension, fact: str | None = None) -> None:
        self.unit = unit
        self.dimension = dimension
        self.fact = fact
        accepted = ", ".join(u for u in accepted_units(dimension) if u)
        quantity = dimension.value.replace("_", " ")
        article = "an" if quantity[0] in "aeiou" else "a"
        if unit is None or unit == "":
            message = f"{article} {quantity} needs a unit (one of {accepted})"
        else:
            message = (
                f"unit {unit!r} cannot be converted to {CANONICAL_UNIT[dimension]} "
                f"for {article} {quantity} (accepted: {accepted})"
            )
        super().__init__(message if fact is None else f"{fact}: {message}")


class FactUnitsError(ValueError):
    """Every fact whose value came with a unit that cannot be converted to the fact's own."""

    def __init__(self, errors: list[UnitError]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = errors


def accepted_units(dimension: Dimension) -> list[str]:
    return list(_FACTORS[dimension])


def parse_decimal(text: str) -> Decimal:
    """A finite decimal number, as HL7 NM and FHIR decimal write it; ``ValueError`` otherwise."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a finite number")
    return value


def convert(value: Decimal, unit: str | None, dimension: Dimension) -> float:
    """``value`` in ``unit``, expressed in the dimension's canonical unit."""
    key = (unit or "").strip().translate(_MICRO)
    factor = _FACTORS[dimension].get(key)
    if factor is None:
        raise UnitError(unit, dimension)
    # normalize() drops trailing zeros so "12.000" and "12" give the same float.
    return float((value * factor).normalize())


def convert_fact(fact: str, value: Decimal, unit: str | None) -> float:
    """``value`` in ``unit``, expressed in the unit of ``fact`` (``rt_delivered_dose_gy``: Gy).

    ``UnitError`` names the fact and the units it accepts: a dose in Gy is refused for
    ``total_effective_dose_msv``, an effective dose in mSv for ``rt_delivered_dose_gy``.
    ``KeyError`` if ``fact`` is not a quantity fact.
    """
    dimension = FACT_DIMENSIONS[fact]
    try:
        return convert(value, unit, dimension)
    except UnitError as exc:
        raise UnitError(unit, dimension, fact) from exc


def quantities_in_fact_units(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Facts as JSON sent them, with every quantity given as ``{"value": v, "unit": u}`` (UCUM)
    converted to the fact's own unit; a bare number is already in it and stays as it is.

    ``FactUnitsError`` lists every fact whose unit cannot be converted, each naming the fact
    and the units it accepts. A value that is neither a number nor such an object is left for
    the facts model to refuse, as it refuses any value of the wrong type.
    """
    converted = dict(raw)
    errors: list[UnitError] = []
    for fact, value in raw.items():
        if fact not in FACT_DIMENSIONS or not isinstance(value, Mapping) or set(value) != {"value", "unit"}:
            continue
        number, unit = value["value"], value["unit"]
        if isinstance(number, bool) or not isinstance(number, int | float | str):
            continue
        if unit is not None and not isinstance(unit, str):
            continue
        try:
            converted[fact] = convert_fact(fact, parse_decimal(str(number)), unit)
        except UnitError as exc:
            errors.append(exc)
        except ValueError:
            continue  # not a number: the facts model names the field
    if errors:
        raise FactUnitsError(errors)
    return converted
