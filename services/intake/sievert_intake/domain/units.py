"""Explicit unit conversion for dose, activity and ratio facts.

Incident facts carry one unit per dimension (``shared/sievert_shared/facts.py``): effective dose in
mSv, absorbed dose in mGy, activity in MBq, ratios dimensionless. Hospitals send what their
systems record (µSv from a DAP meter, Gy from a planning system, mCi from an older calibrator),
so every conversion is listed here and nothing is guessed: a unit that is not in the table, or
that measures another quantity (mGy for an effective dose), is refused with the units that would
have been accepted.

Units are UCUM case-sensitive codes (``uSv``, ``mGy``, ``MBq``), plus the micro sign and Greek mu
spellings (``µSv``, ``μSv``) that engines copy from device displays. Conversion is done in
``Decimal`` so that 12000 µSv is exactly 12 mSv, and JSON, HL7 v2 and FHIR give identical facts.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from enum import StrEnum

__all__ = ["CANONICAL_UNIT", "Dimension", "UnitError", "accepted_units", "convert", "parse_decimal"]


class Dimension(StrEnum):
    EFFECTIVE_DOSE = "effective_dose"
    ABSORBED_DOSE = "absorbed_dose"
    ACTIVITY = "activity"
    RATIO = "ratio"


#: The unit each dimension is stored in, as UCUM codes.
CANONICAL_UNIT: dict[Dimension, str] = {
    Dimension.EFFECTIVE_DOSE: "mSv",
    Dimension.ABSORBED_DOSE: "mGy",
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


class UnitError(ValueError):
    """A unit that is missing, unknown, or measures another quantity."""

    def __init__(self, unit: str | None, dimension: Dimension) -> None:
        self.unit = unit
        self.dimension = dimension
        accepted = ", ".join(u for u in accepted_units(dimension) if u)
        if unit is None or unit == "":
            message = f"a {dimension.value.replace('_', ' ')} needs a unit (one of {accepted})"
        else:
            message = (
                f"unit {unit!r} cannot be converted to {CANONICAL_UNIT[dimension]} "
                f"for a {dimension.value.replace('_', ' ')} (accepted: {accepted})"
            )
        super().__init__(message)


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
