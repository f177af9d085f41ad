"""Builders shared by the classifier's unit tests (plain data, no I/O).

``facts()`` starts from a fully known adult CT incident in England, discovered under
the April 2023 criteria, so a test names only the facts its row is about and every
flag a complementary code asks for is already answered.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sievert_shared.facts import IncidentFacts

#: Discovered under the current criteria (guidance updated 19 April 2023, line 5).
AFTER_2023 = date(2024, 6, 3)
#: Discovered under the August 2020 criteria.
BEFORE_2023 = date(2022, 6, 3)

BASE: dict[str, Any] = {
    "nation": "england",
    "discovered_on": AFTER_2023,
    "exposure_kind": "unintended",
    "modality": "ct",
    "patient_age_years": 40,
    "individuals_affected": 1,
    "equipment_fault": False,
    "clinically_significant": False,
    "procedural_failure": False,
}


def facts(**changes: Any) -> IncidentFacts:
    """The base incident with ``changes``; a value of ``None`` unsets a base fact."""
    return IncidentFacts.model_validate({**BASE, **changes})


def accidental(**changes: Any) -> IncidentFacts:
    return facts(**{"exposure_kind": "accidental", **changes})


def ct(intended: float, total: float, **changes: Any) -> IncidentFacts:
    return facts(**{"intended_effective_dose_msv": intended, "total_effective_dose_msv": total, **changes})


def verification(**changes: Any) -> IncidentFacts:
    """Radiotherapy verification imaging; the images' own dose band is small and known."""
    return facts(
        **{
            "modality": "radiotherapy_verification_imaging",
            "intended_effective_dose_msv": 0.1,
            "total_effective_dose_msv": 0.2,
            **changes,
        }
    )


def planning(scans: int, **changes: Any) -> IncidentFacts:
    return facts(
        **{
            "modality": "radiotherapy_planning_imaging",
            "intended_effective_dose_msv": 5.0,
            "total_effective_dose_msv": 5.0 * scans,
            "planning_scans": scans,
            **changes,
        }
    )


def radiotherapy(**changes: Any) -> IncidentFacts:
    """External-beam radiotherapy to the PTV, delivered as planned unless changed."""
    return facts(
        **{
            "modality": "external_beam_radiotherapy",
            "rt_course_dose_ratio": 1.0,
            "rt_max_fraction_dose_ratio": 1.0,
            "rt_dose_volume": "ptv",
            "geographical_miss": "none",
            **changes,
        }
    )


def nuclear_medicine(**changes: Any) -> IncidentFacts:
    """Diagnostic nuclear medicine, right radiopharmaceutical, licensed, dose as intended."""
    return facts(
        **{
            "modality": "diagnostic_nuclear_medicine",
            "intended_effective_dose_msv": 3.0,
            "total_effective_dose_msv": 3.0,
            "incorrect_radiopharmaceutical": False,
            "outside_arsac_licence": False,
            **changes,
        }
    )


def nm_therapy(modality: str, prescribed: float, delivered: float, **changes: Any) -> IncidentFacts:
    return facts(
        **{
            "modality": modality,
            "nm_prescribed_activity_mbq": prescribed,
            "nm_delivered_activity_mbq": delivered,
            "incorrect_radiopharmaceutical": False,
            "outside_arsac_licence": False,
            **changes,
        }
    )


def interventional(**changes: Any) -> IncidentFacts:
    """Interventional; its dose is known and as intended, so a row is about code 3 unless it
    changes the doses (interventional exposures are dose-banded too, line 159)."""
    return facts(
        **{
            "modality": "interventional",
            "intended_effective_dose_msv": 5.0,
            "total_effective_dose_msv": 5.0,
            **changes,
        }
    )
