"""National figures to set a trust's notifiable incidents beside: the counts the enforcing
authority published in its IR(ME)R annual reports, as a versioned data table. Pure data.

Only published figures are here, each with its source and year; a new year is one more entry
(and ``VERSION`` moves on). They are counts of statutory SAUE notifications received in England,
so a trust's notifiable incidents are compared with them as proportions (its share of diagnostic
imaging, nuclear medicine and radiotherapy against the national share), never as rates: the
national activity counts below are England's, not the trust's denominator.
"""

from __future__ import annotations

from dataclasses import dataclass

from sievert_shared.facts import Modality

#: The table's version: bump it when a figure is added or corrected.
VERSION = "2024-09.2"


@dataclass(frozen=True)
class NationalYear:
    year: str  # financial year, as the reports name it
    authority: str
    source: str  # the publication, named
    url: str
    #: statutory SAUE notifications received, by modality group
    notifications: dict[str, int]
    #: diagnostic imaging notifications by the duty holder the error originated with (tier 1),
    #: where the report gives them; the denominator is all diagnostic imaging notifications
    diagnostic_tier1: dict[str, int]
    #: the year's activity in England, for context only (never a denominator here)
    activity: tuple[str, ...]


#: The modality groups the reports count by. Radiotherapy's own imaging (planning and
#: verification) is radiotherapy; SIRT is a nuclear medicine therapy.
MODALITY_GROUPS: dict[str, tuple[str, tuple[Modality, ...]]] = {
    "diagnostic_imaging": (
        "Diagnostic imaging",
        (
            Modality.RADIOGRAPHY,
            Modality.FLUOROSCOPY,
            Modality.CT,
            Modality.MAMMOGRAPHY,
            Modality.DENTAL,
            Modality.INTERVENTIONAL,
        ),
    ),
    "nuclear_medicine": (
        "Nuclear medicine",
        (Modality.DIAGNOSTIC_NUCLEAR_MEDICINE, Modality.NUCLEAR_MEDICINE_THERAPY, Modality.SIRT),
    ),
    "radiotherapy": (
        "Radiotherapy",
        (
            Modality.EXTERNAL_BEAM_RADIOTHERAPY,
            Modality.BRACHYTHERAPY,
            Modality.RADIOTHERAPY_PLANNING_IMAGING,
            Modality.RADIOTHERAPY_VERIFICATION_IMAGING,
        ),
    ),
}
GROUP_OF: dict[str, str] = {m.value: group for group, (_, ms) in MODALITY_GROUPS.items() for m in ms}

#: The duty holders of the reports' tier 1, by the values of the findings' ``error_duty_holder``.
TIER1_OF_DUTY_HOLDER = {
    "referrer": "Referrer",
    "practitioner": "Practitioner",
    "operator": "Operator",
    "employers_procedure": "Employer",
    "equipment": "Equipment",
}

NATIONAL: tuple[NationalYear, ...] = (
    NationalYear(
        year="2021/22",
        authority="CQC (England)",
        source="CQC, IR(ME)R annual report 2021 to 2022 (published 9 November 2022), 'Key points'",
        url="https://www.cqc.org.uk/irmer-annual-report-2021-2022",
        notifications={"diagnostic_imaging": 366, "nuclear_medicine": 63, "radiotherapy": 182},
        diagnostic_tier1={},
        activity=(),
    ),
    NationalYear(
        year="2022/23",
        authority="CQC (England)",
        source="CQC, IR(ME)R annual report 2022/23, 'Notifications received in 2022/23'",
        url="https://www.cqc.org.uk/publications/irmer-annual-report/irmer-annual-report-202223/notifications-received-202223",
        notifications={"diagnostic_imaging": 380, "nuclear_medicine": 77, "radiotherapy": 270},
        diagnostic_tier1={},
        activity=(
            "29.2 million imaging tests using ionising radiation (NHS England Diagnostic Imaging Dataset)",
            "over 142,000 episodes of radiotherapy treatment (Radiotherapy Dataset)",
        ),
    ),
    NationalYear(
        year="2023/24",
        authority="CQC (England)",
        source="CQC, IR(ME)R annual report 2023/24 (published 26 September 2024): news release and 'Diagnostic imaging activity'",
        url="https://cqc.org.uk/news/cqc-publish-irmer-report-2023-2024",
        notifications={"diagnostic_imaging": 447, "nuclear_medicine": 128, "radiotherapy": 244},
        diagnostic_tier1={
            "Referrer": 146,
            "Operator": 183,
            "Equipment": 67,
            "Practitioner": 10,
            "Employer": 2,
        },
        activity=(
            "over 30 million diagnostic imaging examinations using ionising radiation",
            "116,000 episodes of radiotherapy treatment",
        ),
    ),
)


def national_year(label: str) -> NationalYear:
    """The published year matching ``label``, else the latest published before it, else the
    earliest: the comparison names which year it used."""
    by_year = {n.year: n for n in NATIONAL}
    if label in by_year:
        return by_year[label]
    earlier = [n for n in NATIONAL if n.year < label]
    return earlier[-1] if earlier else NATIONAL[0]
