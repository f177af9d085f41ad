"""Unit conversion is explicit: each accepted unit and factor, and the refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sievert_intake.domain.units import Dimension, UnitError, convert


@pytest.mark.parametrize(
    ("value", "unit", "dimension", "expected"),
    [
        pytest.param("12000", "uSv", Dimension.EFFECTIVE_DOSE, 12.0, id="uSv-to-mSv"),
        pytest.param("12000", "µSv", Dimension.EFFECTIVE_DOSE, 12.0, id="micro-sign"),
        pytest.param("12000", "μSv", Dimension.EFFECTIVE_DOSE, 12.0, id="greek-mu"),
        pytest.param("0.012", "Sv", Dimension.EFFECTIVE_DOSE, 12.0, id="Sv-to-mSv"),
        pytest.param("12", "mSv", Dimension.EFFECTIVE_DOSE, 12.0, id="mSv-unchanged"),
        pytest.param("0.5", "cGy", Dimension.ABSORBED_DOSE, 5.0, id="cGy-to-mGy"),
        pytest.param("2", "Gy", Dimension.ABSORBED_DOSE, 2000.0, id="Gy-to-mGy"),
        pytest.param("300", "uGy", Dimension.ABSORBED_DOSE, 0.3, id="uGy-to-mGy"),
        pytest.param("100", "mCi", Dimension.ACTIVITY, 3700.0, id="mCi-to-MBq-exactly-37"),
        pytest.param("5.55", "GBq", Dimension.ACTIVITY, 5550.0, id="GBq-to-MBq"),
        pytest.param("1", "Ci", Dimension.ACTIVITY, 37000.0, id="Ci-to-MBq"),
        pytest.param("150", "%", Dimension.RATIO, 1.5, id="percent-to-ratio"),
        pytest.param("1.5", "", Dimension.RATIO, 1.5, id="ratio-without-unit"),
        pytest.param("1.5", "{ratio}", Dimension.RATIO, 1.5, id="ratio-annotation"),
    ],
)
def test_conversions(value: str, unit: str, dimension: Dimension, expected: float) -> None:
    assert convert(Decimal(value), unit, dimension) == expected


@pytest.mark.parametrize(
    ("unit", "dimension"),
    [
        pytest.param("mGy", Dimension.EFFECTIVE_DOSE, id="absorbed-is-not-effective"),
        pytest.param("mSv", Dimension.ABSORBED_DOSE, id="effective-is-not-absorbed"),
        pytest.param("MSv", Dimension.EFFECTIVE_DOSE, id="ucum-is-case-sensitive"),
        pytest.param("", Dimension.EFFECTIVE_DOSE, id="a-dose-needs-a-unit"),
        pytest.param(None, Dimension.ACTIVITY, id="an-activity-needs-a-unit"),
        pytest.param("rem", Dimension.EFFECTIVE_DOSE, id="unknown-unit"),
    ],
)
def test_units_that_cannot_be_converted_are_refused(unit: str | None, dimension: Dimension) -> None:
    with pytest.raises(UnitError, match=r"accepted|needs a unit"):
        convert(Decimal(1), unit, dimension)
