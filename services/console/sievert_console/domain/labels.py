"""Words people read for the values the APIs answer with.

An unknown value is shown as it came (``label(ROLES, "new_role") == "new_role"``), so a service
that learns a new value never breaks a page.
"""

from __future__ import annotations

from collections.abc import Mapping

from sievert_shared.facts import IncidentFacts

ROLES: Mapping[str, str] = {
    "rp_lead": "Radiation protection lead",
    "trust_admin": "Trust administrator",
    "theme_reviewer": "Theme reviewer",
    "auditor": "Auditor",
    "integration": "Integration engine",
}

#: The roles a person may pick on the development sign-in page (an integration engine is no person).
PERSON_ROLES: tuple[str, ...] = ("rp_lead", "trust_admin", "theme_reviewer", "auditor")

WINDOWS: Mapping[str, str] = {
    "notification": "Notification (2 weeks)",
    "investigation_report": "Investigation report (12 weeks)",
    "local_investigation": "Local investigation",
}

AUTHORITIES: Mapping[str, str] = {
    "cqc": "CQC (England)",
    "hiw": "HIW (Wales)",
    "his": "HIS (Scotland)",
    "rqia": "RQIA (Northern Ireland)",
}

OTHER_BODIES: Mapping[str, str] = {
    "hse": "HSE",
    "hseni": "HSENI",
    "mhra": "MHRA",
    "hfs": "Health Facilities Scotland",
    "niaic": "NIAIC",
    "arsac": "ARSAC Support Unit",
}

MODALITIES: Mapping[str, str] = {
    "radiography": "Radiography",
    "fluoroscopy": "Fluoroscopy",
    "ct": "CT",
    "mammography": "Mammography",
    "dental": "Dental",
    "interventional": "Interventional",
    "diagnostic_nuclear_medicine": "Diagnostic nuclear medicine",
    "nuclear_medicine_therapy": "Nuclear medicine therapy",
    "sirt": "SIRT",
    "external_beam_radiotherapy": "External-beam radiotherapy",
    "brachytherapy": "Brachytherapy",
    "radiotherapy_planning_imaging": "Radiotherapy planning imaging",
    "radiotherapy_verification_imaging": "Radiotherapy verification imaging",
}

OUTCOMES: Mapping[str, str] = {"met": "Met", "not_met": "Not met", "needs_facts": "Needs facts"}

SUBMISSION_KINDS: Mapping[str, str] = {
    "notification": "Notification",
    "investigation_report": "Investigation report",
}

SUBMISSION_STATUSES: Mapping[str, str] = {
    "draft": "Draft",
    "submitted": "Submitted",
    "acknowledged": "Acknowledged",
}

EVENT_TYPES: Mapping[str, str] = {
    "IncidentReported": "Reported",
    "IncidentFactsAmended": "Facts amended",
}

_UNITS = {"_msv": "mSv", "_mgy": "mGy", "_mbq": "MBq", "_years": "years"}
_WORDS = {"rt": "RT", "nm": "NM", "arsac": "ARSAC", "csaue": "CSAUE"}


def label(table: Mapping[str, str], value: str | None) -> str:
    if value is None:
        return "—"
    return table.get(value, value)


def fact_label(name: str) -> str:
    """``total_effective_dose_msv`` -> ``Total effective dose (mSv)``."""
    unit = next((u for suffix, u in _UNITS.items() if name.endswith(suffix)), None)
    stem = name.removesuffix(next((s for s in _UNITS if name.endswith(s)), ""))
    words = [_WORDS.get(word, word) for word in stem.split("_")]
    text = " ".join(words)
    text = text[:1].upper() + text[1:]
    return f"{text} ({unit})" if unit else text


def fact_description(name: str) -> str:
    """The fact's meaning as the shared facts model documents it (what the classifier reads)."""
    field = IncidentFacts.model_fields.get(name)
    return (field.description or "") if field else ""
