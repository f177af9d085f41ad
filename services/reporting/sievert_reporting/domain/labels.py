"""Words for the values the documents carry, so a reader sees "Unintended exposure", not
"unintended": each enum value's label, and each notification code's exposure category with the
guidance lines that define it (lines 147-212). Pure."""

from __future__ import annotations

from enum import StrEnum

from sievert_shared.decision import OtherBody
from sievert_shared.events.reporting import DutyHolder, LicenceMissing, ProcessStep, SubmissionKind
from sievert_shared.facts import (
    AnatomyError,
    DeterministicEffect,
    DoseVolume,
    EmployerRole,
    EquipmentType,
    ExposureKind,
    GeographicalMiss,
    Modality,
    Nation,
    VerificationImagingCause,
)

_WORDS: tuple[tuple[StrEnum, str], ...] = (
    (ExposureKind.ACCIDENTAL, "Accidental exposure (no exposure was intended)"),
    (ExposureKind.UNINTENDED, "Unintended exposure (greater than or different from the intended exposure)"),
    (ExposureKind.NEAR_MISS, "Near miss (nobody was exposed)"),
    (ExposureKind.OCCUPATIONAL, "Occupational exposure (a worker)"),
    (ExposureKind.PUBLIC, "Exposure of a member of the public"),
    (Modality.RADIOGRAPHY, "Radiography"),
    (Modality.FLUOROSCOPY, "Fluoroscopy"),
    (Modality.CT, "Computed tomography (CT)"),
    (Modality.MAMMOGRAPHY, "Mammography"),
    (Modality.DENTAL, "Dental radiography"),
    (Modality.INTERVENTIONAL, "Interventional radiology or cardiology"),
    (Modality.DIAGNOSTIC_NUCLEAR_MEDICINE, "Diagnostic nuclear medicine"),
    (Modality.NUCLEAR_MEDICINE_THERAPY, "Nuclear medicine therapy"),
    (Modality.SIRT, "Selective internal radiation therapy (SIRT)"),
    (Modality.EXTERNAL_BEAM_RADIOTHERAPY, "External beam radiotherapy"),
    (Modality.BRACHYTHERAPY, "Brachytherapy"),
    (Modality.RADIOTHERAPY_PLANNING_IMAGING, "Radiotherapy planning imaging"),
    (Modality.RADIOTHERAPY_VERIFICATION_IMAGING, "Radiotherapy treatment verification imaging"),
    (Nation.ENGLAND, "England"),
    (Nation.WALES, "Wales"),
    (Nation.SCOTLAND, "Scotland"),
    (Nation.NORTHERN_IRELAND, "Northern Ireland"),
    (OtherBody.HSE, "Health and Safety Executive (IRR17 regulation 26)"),
    (OtherBody.HSENI, "Health and Safety Executive for Northern Ireland"),
    (OtherBody.MHRA, "Medicines and Healthcare products Regulatory Agency (MHRA)"),
    (OtherBody.HFS, "Health Facilities Scotland"),
    (OtherBody.NIAIC, "Northern Ireland Adverse Incident Centre"),
    (OtherBody.ARSAC, "ARSAC Support Unit (licensing breach, Regulation 5)"),
    (DoseVolume.PTV, "planning target volume"),
    (DoseVolume.ORGAN_AT_RISK, "organ at risk"),
    (GeographicalMiss.NONE, "no geographical miss"),
    (GeographicalMiss.PARTIAL, "partial geographical miss"),
    (GeographicalMiss.TOTAL, "total geographical miss"),
    (VerificationImagingCause.SET_UP_ERROR, "set-up error"),
    (VerificationImagingCause.PROTOCOL_FAILURE, "protocol failure"),
    (VerificationImagingCause.THEMATIC_EQUIPMENT_FAILURE, "thematic hardware or software failure"),
    (VerificationImagingCause.EQUIPMENT_FAILURE, "hardware or software failure (not thematic)"),
    (VerificationImagingCause.OTHER, "another cause"),
    (DeterministicEffect.NONE, "no observable deterministic effect"),
    (DeterministicEffect.TRANSIENT_ERYTHEMA, "transient erythema only"),
    (DeterministicEffect.OTHER, "an observable deterministic effect other than transient erythema"),
    (AnatomyError.NONE, "the intended side and site"),
    (AnatomyError.WRONG_SIDE, "the wrong side (incorrect laterality)"),
    (AnatomyError.WRONG_SITE, "the wrong anatomical site"),
    (EquipmentType.FIXED, "fixed"),
    (EquipmentType.MOBILE, "mobile"),
    (EquipmentType.PORTABLE, "portable"),
    (EquipmentType.HAND_HELD, "hand-held"),
    (LicenceMissing.EMPLOYER, "the employer's licence for the installation"),
    (LicenceMissing.PRACTITIONER, "the practitioner's licence"),
    (LicenceMissing.EMPLOYER_AND_PRACTITIONER, "the employer's and the practitioner's licences"),
    (DutyHolder.REFERRER, "referrer"),
    (DutyHolder.PRACTITIONER, "IR(ME)R practitioner"),
    (DutyHolder.OPERATOR, "operator"),
    (DutyHolder.EMPLOYERS_PROCEDURE, "employer's procedure"),
    (DutyHolder.EQUIPMENT, "equipment"),
    (ProcessStep.REFERRAL, "referral"),
    (ProcessStep.JUSTIFICATION, "justification"),
    (ProcessStep.IDENTIFICATION, "patient identification"),
    (ProcessStep.PREGNANCY_OR_BREASTFEEDING_ENQUIRY, "pregnancy or breastfeeding enquiry"),
    (ProcessStep.PLANNING, "planning"),
    (ProcessStep.EXPOSURE_OR_DELIVERY, "exposure or delivery"),
    (EmployerRole.REFERRING, "referring employer (the referrer's employer)"),
    (EmployerRole.PERFORMING, "performing employer (the exposure was performed under its procedures)"),
    (EmployerRole.REFERRING_AND_PERFORMING, "referring and performing employer"),
    (SubmissionKind.NOTIFICATION, "IR(ME)R statutory notification"),
    (SubmissionKind.INVESTIGATION_REPORT, "IR(ME)R investigation report"),
    (SubmissionKind.VOLUNTARY_NOTIFICATION, "IR(ME)R voluntary notification (code V)"),
    (SubmissionKind.LICENSING_BREACH_NOTIFICATION, "IR(ME)R licensing breach notification"),
)


# Keyed by the enum as well as the value: members of a StrEnum are equal to their strings, so
# DutyHolder.PRACTITIONER and LicenceMissing.PRACTITIONER (or the several "none") would collide.
_LABELS: dict[tuple[type[StrEnum], str], str] = {(type(k), k.value): v for k, v in _WORDS}


def label(value: StrEnum) -> str:
    """The words for an enum value; every value the documents show has one (a unit test checks)."""
    return _LABELS[(type(value), value.value)]


def labelled_enums() -> tuple[type[StrEnum], ...]:
    return (
        ExposureKind,
        Modality,
        Nation,
        OtherBody,
        DoseVolume,
        GeographicalMiss,
        VerificationImagingCause,
        DeterministicEffect,
        AnatomyError,
        EquipmentType,
        LicenceMissing,
        DutyHolder,
        ProcessStep,
        SubmissionKind,
        EmployerRole,
    )


#: Each notification code's exposure category, in words, and the lines of the table that define it.
CODE_CATEGORIES: dict[str, tuple[str, tuple[int, ...]]] = {
    "1": ("Accidental exposure, all modalities including therapy", (150, 151)),
    "2.1": ("Unintended exposure, intended dose less than 0.3 mSv", (162,)),
    "2.2": ("Unintended exposure, intended dose between 0.3 mSv and 2.5 mSv", (163,)),
    "2.3": ("Unintended exposure, intended dose between 2.5 mSv and 10 mSv", (164,)),
    "2.4": ("Unintended exposure, intended dose more than 10 mSv", (165,)),
    "3": ("Interventional radiology or cardiology", (166, 295, 296)),
    "4.1": ("Radiotherapy planning scans", (167,)),
    "4.2a": ("Radiotherapy treatment verification images, one fraction", (170,)),
    "4.2b": ("Radiotherapy treatment verification images, course (protocol failure)", (171,)),
    "4.2c": ("Radiotherapy treatment verification images, course (thematic equipment failure)", (174,)),
    "5": ("Foetal exposure, all modalities", (175,)),
    "6": ("Breastfeeding infant, nuclear medicine", (176,)),
    "7": ("Incorrect radiopharmaceutical", (177, 334)),
    "8.1": ("Radiotherapy over-exposure", (182,)),
    "8.2": ("Radiotherapy under-exposure", (183,)),
    "9.1": ("Radiotherapy total geographical miss", (188,)),
    "9.2": ("Radiotherapy partial geographical miss", (191,)),
    "10.1": ("Selective internal radiation therapy", (196,)),
    "10.2": ("Other nuclear medicine therapy", (197,)),
}

#: The complementary codes (lines 199-212, 262-287).
COMPLEMENTARY: dict[str, tuple[str, str, tuple[int, ...]]] = {
    "M": (
        "More than one individual",
        "More than one individual exposed within the same incident or theme: notifiable whatever the dose",
        (207, 276, 277, 278, 279, 281),
    ),
    "E": (
        "Equipment fault",
        "An equipment failure was the direct cause of the exposure",
        (210, 252, 285),
    ),
    "V": (
        "Voluntary notification",
        "Below the statutory criteria, but submitted because of significant or unusual circumstances, to share learning",
        (211, 266, 268),
    ),
    "C": (
        "Clinically significant",
        "A clinically significant accidental or unintended exposure (CSAUE), judged by professional-body criteria",
        (78, 212, 270, 272),
    ),
}


def is_child(age_years: int, nation: Nation) -> bool:
    """Line 150: a child has not reached 18 (16 in Scotland)."""
    return age_years < (16 if nation is Nation.SCOTLAND else 18)


#: The rulesets the classifier decides by (docs/classifier.md, "Rulesets"), as a reader knows them.
RULESETS = {
    "irmer-2023-04": "the enforcing authorities' IR(ME)R guidance updated 19 April 2023",
    "irmer-2020-08": "the enforcing authorities' IR(ME)R guidance of August 2020",
}


def ruleset_label(ruleset: str) -> str:
    words = RULESETS.get(ruleset)
    return f"{words} ({ruleset})" if words else ruleset
