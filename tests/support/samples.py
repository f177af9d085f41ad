"""Sample incident facts for integration and e2e tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sievert_shared.facts import IncidentFacts

#: A made-up patient whose every identifier is distinctive, so a test that finds one of them on a
#: topic, in a log or in a database knows where it leaked from. The NHS number's checksum is valid.
PATIENT: dict[str, str] = {
    "nhs_number": "943 476 5919",
    "hospital_number": "MRN-778899",
    "family_name": "Zebedee-Quixote",
    "given_names": "Ottoline",
    "birth_date": "1971-03-14",
    "address": "12 Larkspur Row, Exeter EX1 9ZZ",
}


def ct_overexposure(
    trust: str = "RXX", site: str = "RXX01", discovered_on: dt.date = dt.date(2025, 6, 2)
) -> dict[str, Any]:
    """England, adult CT given 12x the intended 1 mSv: code 2.2 (CQC table: 10x or more)."""
    return {
        "trust": trust,
        "site": site,
        "facts": {
            "nation": "england",
            "discovered_on": discovered_on.isoformat(),
            "occurred_on": (discovered_on - dt.timedelta(days=3)).isoformat(),
            "exposure_kind": "unintended",
            "modality": "ct",
            "patient_age_years": 54,
            "intended_effective_dose_msv": 1.0,
            "total_effective_dose_msv": 12.0,
        },
    }


def small_radiography_repeat(trust: str = "RXX", site: str = "RXX01") -> dict[str, Any]:
    """England, adult chest radiograph repeated once: far below every threshold."""
    return {
        "trust": trust,
        "site": site,
        "facts": {
            "nation": "england",
            "discovered_on": "2025-06-03",
            "exposure_kind": "unintended",
            "modality": "radiography",
            "patient_age_years": 40,
            "intended_effective_dose_msv": 0.02,
            "total_effective_dose_msv": 0.04,
        },
    }


def one_individual(report: dict[str, Any]) -> dict[str, Any]:
    """The report with the number of individuals exposed (1), which a notification states (line 207)."""
    return {**report, "facts": {**report["facts"], "individuals_affected": 1}}


#: What a notification adds to the facts (line 218): the preliminary investigation and what was done.
NOTIFICATION_PARTICULARS: dict[str, Any] = {
    "preliminary_investigation": "A CT head protocol was selected for a CT abdomen request.",
    "immediate_actions": ["Protocol list reviewed on both scanners"],
}


def hand_held_dental(discovered: dt.date, **changes: Any) -> IncidentFacts:
    """A hand-held dental unit fired twice: one person, far below every dose threshold, so only a
    theme can make it notifiable (code M, guidance lines 276-281)."""
    base: dict[str, Any] = {
        "nation": "england",
        "discovered_on": discovered.isoformat(),
        "exposure_kind": "unintended",
        "modality": "dental",
        "patient_age_years": 40,
        "intended_effective_dose_msv": 0.005,
        "total_effective_dose_msv": 0.01,
        "equipment_type": "hand_held",
    }
    return IncidentFacts.model_validate({**base, **changes})


#: What a 12-week report asks of the investigation (guidance lines 229-238), in the order its
#: checklist lists them; the dose estimate is not among them: it comes from the facts.
REPORT_FINDINGS_ITEMS = (
    "what_happened",
    "dose_assessment",
    "root_causes",
    "contributory_factors",
    "similar_incidents_confirmed",
    "duty_of_candour_met",
    "csaue_procedure_applied",
    "learning",
    "learning_shared_how",
    "corrective_actions",
)
