"""Anonymity by construction: free text never carries a patient or staff identifier.

Incident facts carry no identifiers (``IncidentFacts`` forbids unknown fields), so the only way an
identifier could reach a submission is free text typed by a person. Such text is checked here and
refused, never silently rewritten: the person who typed it must decide what the anonymised
sentence says. The authorities require reports to be anonymised with names redacted (CQC guidance
line 240; "must not include any patient identifiable information", line 122).

The checks are deliberately broad: a false alarm costs a re-wording, a miss costs a data breach.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["IdentifierFound", "find_identifiers", "scan_fields"]


@dataclass(frozen=True)
class IdentifierFound:
    """An identifier-like pattern in one field. The matched text itself is never echoed back."""

    path: str
    kind: str
    message: str


# NHS numbers are 10 digits, often written 3-3-4 with spaces or hyphens. Any 10-digit run is
# refused whether or not its modulus-11 check digit is valid: a mistyped NHS number still identifies.
_NHS_NUMBER = re.compile(r"(?<!\d)\d{3}[ -]?\d{3}[ -]?\d{4}(?!\d)")
_NHS_KEYWORD = re.compile(r"\bNHS\s*(?:no\.?|num(?:ber)?|#)", re.IGNORECASE)
# Hospital (MRN, PAS, CHI in Scotland, H&C in Northern Ireland) numbers: a keyword, or letters
# followed by 6 or more digits such as "RXX1234567" or "MRN 0012345".
_HOSPITAL_KEYWORD = re.compile(
    r"\b(?:hospital\s*(?:no\.?|num(?:ber)?)|MRN|PAS\s*(?:no\.?|num(?:ber)?)|CHI\s*(?:no\.?|num(?:ber)?)"
    r"|H\s*&\s*C\s*(?:no\.?|num(?:ber)?)|patient\s*(?:id|identifier|no\.?|number))\b",
    re.IGNORECASE,
)
_HOSPITAL_NUMBER = re.compile(r"\b[A-Z]{1,4}[ -]?\d{6,}\b")
_DOB_KEYWORD = re.compile(r"\b(?:d\.?\s?o\.?\s?b\.?|date\s+of\s+birth|born(?:\s+on)?)\b", re.IGNORECASE)
_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|jun(?:e)?|jul(?:y)?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
# A date with a year before 2000 in a narrative about an exposure is a date of birth in all but
# name; recent dates (when things happened) are allowed.
_OLD_DATE = re.compile(
    r"\b(?:\d{1,2}[/.-]\d{1,2}[/.-](?:18|19)\d{2}|(?:18|19)\d{2}-\d{1,2}-\d{1,2}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTHS}\s+(?:18|19)\d{{2}})\b",
    re.IGNORECASE,
)
_AGE_WITH_BIRTH = re.compile(r"\baged?\s+\d{1,3}\s*(?:years?|yrs?)?\s+(?:born|dob)\b", re.IGNORECASE)
# Addresses: a UK postcode, or a house number followed by a street word.
_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b")
_STREET = re.compile(
    r"\b\d{1,4}[a-z]?\s+(?:[A-Z][a-z]+\s+){1,3}(?:Road|Rd|Street|St|Avenue|Ave|Lane|Ln|Close|Drive|Dr"
    r"|Way|Crescent|Court|Gardens|Place|Terrace|Grove|Hill|Park|Square)\b"
)
# Names: an honorific followed by a capitalised word ("Mrs Smith", "Dr. Jones"). Staff appear
# by role ("the reporting radiographer"), patients as "the patient".
_TITLED_NAME = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sister|Nurse)\.?\s+[A-Z][a-z'-]+")
_NAME_KEYWORD = re.compile(r"\b(?:patient(?:'s)?\s+name|name\s+of\s+(?:the\s+)?patient)\b", re.IGNORECASE)

_CHECKS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (_NHS_NUMBER, "nhs_number", "looks like an NHS number (10 digits); refer to 'the patient'"),
    (_NHS_KEYWORD, "nhs_number", "mentions an NHS number; submissions never carry one"),
    (_HOSPITAL_KEYWORD, "hospital_number", "mentions a hospital or patient number; leave it out"),
    (_HOSPITAL_NUMBER, "hospital_number", "looks like a hospital number (letters and 6+ digits)"),
    (_DOB_KEYWORD, "date_of_birth", "mentions a date of birth; give the age in years instead"),
    (_OLD_DATE, "date_of_birth", "contains a date before 2000, which reads as a date of birth"),
    (_AGE_WITH_BIRTH, "date_of_birth", "mentions when the patient was born"),
    (_POSTCODE, "address", "looks like a postcode; leave addresses out"),
    (_STREET, "address", "looks like a street address; leave addresses out"),
    (_TITLED_NAME, "name", "looks like a person's name; name staff by role and patients not at all"),
    (_NAME_KEYWORD, "name", "mentions a patient's name; leave it out"),
)


def find_identifiers(path: str, text: str) -> list[IdentifierFound]:
    """Every kind of identifier-like pattern found in ``text``, once per kind."""
    found: dict[str, IdentifierFound] = {}
    for pattern, kind, message in _CHECKS:
        if kind not in found and pattern.search(text):
            found[kind] = IdentifierFound(path=path, kind=kind, message=message)
    return list(found.values())


def scan_fields(fields: Mapping[str, object]) -> list[IdentifierFound]:
    """Check every string (or list of strings) among ``fields``; paths name list items by index."""
    problems: list[IdentifierFound] = []
    for name, value in fields.items():
        for path, text in _strings(name, value):
            problems.extend(find_identifiers(path, text))
    return problems


def _strings(path: str, value: object) -> Iterable[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(f"{path}/{index}", item)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(f"{path}/{key}", item)
