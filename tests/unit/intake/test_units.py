"""Unit conversion is explicit: each accepted unit and factor, and the refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sievert_intake.domain.inbound import OBSERVATION_CODES, FactKind
from sievert_intake.domain.units import (
    CANONICAL_UNIT,
    FACT_DIMENSIONS,
    Dimension,
    FactUnitsError,
    UnitError,
    convert,
    convert_fact,
    quantities_in_fact_units,
)
from sievert_shared.facts import IncidentFacts


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
        pytest.param("2", "Gy", Dimension.THERAPY_DOSE, 2.0, id="radiotherapy_gy-Gy-unchanged"),
        pytest.param("180", "cGy", Dimension.THERAPY_DOSE, 1.8, id="radiotherapy_gy-cGy-to-Gy"),
        pytest.param("500", "mGy", Dimension.THERAPY_DOSE, 0.5, id="radiotherapy_gy-mGy-to-Gy"),
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
        pytest.param("mSv", Dimension.THERAPY_DOSE, id="radiotherapy_gy-effective-is-not-therapy"),
        pytest.param("Sv", Dimension.THERAPY_DOSE, id="radiotherapy_gy-sievert-is-not-gray"),
    ],
)
def test_units_that_cannot_be_converted_are_refused(unit: str | None, dimension: Dimension) -> None:
    with pytest.raises(UnitError, match=r"accepted|needs a unit"):
        convert(Decimal(1), unit, dimension)


def test_every_quantity_fact_has_its_dimension_from_its_name() -> None:
    suffixes = ("_msv", "_mgy", "_gy", "_mbq", "_ratio")
    quantities = {name for name in IncidentFacts.model_fields if name.endswith(suffixes)}
    assert set(FACT_DIMENSIONS) == quantities
    assert FACT_DIMENSIONS["foetal_dose_mgy"] is Dimension.ABSORBED_DOSE
    assert FACT_DIMENSIONS["rt_delivered_dose_gy"] is Dimension.THERAPY_DOSE
    assert {
        CANONICAL_UNIT[FACT_DIMENSIONS[name]] for name in ("rt_prescribed_dose_gy", "rt_delivered_dose_gy")
    } == {"Gy"}


def test_observation_codes_convert_into_the_unit_their_fact_is_named_in() -> None:
    for spec in OBSERVATION_CODES.values():
        if spec.kind is FactKind.QUANTITY:
            assert spec.dimension is FACT_DIMENSIONS[spec.fact], spec.fact


@pytest.mark.parametrize(
    ("fact", "value", "unit", "expected"),
    [
        pytest.param("rt_delivered_dose_gy", "4000", "cGy", 40.0, id="radiotherapy_gy-cGy-for-a-Gy-fact"),
        pytest.param("total_effective_dose_msv", "12000", "uSv", 12.0, id="uSv-for-an-mSv-fact"),
        pytest.param("foetal_dose_mgy", "0.01", "Gy", 10.0, id="Gy-for-an-mGy-fact"),
        pytest.param("nm_delivered_activity_mbq", "5.5", "GBq", 5500.0, id="GBq-for-an-MBq-fact"),
    ],
)
def test_a_fact_is_converted_into_its_own_unit(fact: str, value: str, unit: str, expected: float) -> None:
    assert convert_fact(fact, Decimal(value), unit) == expected


@pytest.mark.parametrize(
    ("fact", "unit", "accepted"),
    [
        pytest.param(
            "total_effective_dose_msv", "Gy", "Sv, mSv, uSv, nSv", id="radiotherapy_gy-Gy-where-mSv"
        ),
        pytest.param("rt_delivered_dose_gy", "mSv", "Gy, cGy, mGy", id="radiotherapy_gy-mSv-where-Gy"),
        pytest.param("nm_delivered_activity_mbq", "mGy", "GBq, MBq", id="mGy-where-MBq"),
    ],
)
def test_a_unit_of_another_quantity_names_the_fact_and_the_units_it_accepts(
    fact: str, unit: str, accepted: str
) -> None:
    with pytest.raises(UnitError) as caught:
        convert_fact(fact, Decimal(2), unit)
    assert caught.value.fact == fact
    assert str(caught.value).startswith(f"{fact}: unit {unit!r}")
    assert accepted in str(caught.value)


def test_json_quantities_are_converted_and_bare_numbers_kept() -> None:
    raw = {
        "nation": "england",
        "rt_delivered_dose_gy": {"value": 180, "unit": "cGy"},
        "rt_prescribed_dose_gy": 60,
        "total_effective_dose_msv": {"value": "12000", "unit": "µSv"},
    }
    assert quantities_in_fact_units(raw) == {
        "nation": "england",
        "rt_delivered_dose_gy": 1.8,
        "rt_prescribed_dose_gy": 60,
        "total_effective_dose_msv": 12.0,
    }


def test_json_quantities_in_the_wrong_unit_are_all_named() -> None:
    raw = {
        "total_effective_dose_msv": {"value": 2, "unit": "Gy"},
        "rt_delivered_dose_gy": {"value": 2, "unit": "mSv"},
        "foetal_dose_mgy": {"value": 1, "unit": "mGy"},
    }
    with pytest.raises(FactUnitsError) as caught:
        quantities_in_fact_units(raw)
    assert [error.fact for error in caught.value.errors] == [
        "total_effective_dose_msv",
        "rt_delivered_dose_gy",
    ]
    assert "accepted: Gy, cGy, mGy" in str(caught.value)


def test_json_values_that_are_not_quantities_are_left_to_the_facts_model() -> None:
    raw = {"total_effective_dose_msv": {"value": "lots", "unit": "mSv"}, "foetal_dose_mgy": "3 mGy"}
    assert quantities_in_fact_units(raw) == raw
