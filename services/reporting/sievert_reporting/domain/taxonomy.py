"""The error taxonomies a local investigation's close-out is coded with, as versioned data. Pure.

Two taxonomies, each a set of published versions in ``domain/taxonomies/*.json`` (each file names
its source, its version, the day it came into force and whether it is complete):

- CQC's three-tier error taxonomy, which its IR(ME)R annual reports use for every modality: the
  duty holder from whom the error originated (tier 1), the point in the pathway where it first
  occurred (tier 2) and what went wrong (tier 3), e.g. Referrer -> Incorrect referral -> Wrong
  patient;
- the national radiotherapy error and near miss (RTE) classification, for radiotherapy incidents
  only: the classification level 1-5 (Towards Safer Radiotherapy), the pathway process subcodes,
  the failed and effective safety barriers, the causative factors and the method of detection.

The version in force on the incident's day (its discovery, the day the reports count it by) is
the latest whose ``valid_from`` is not after it. A code that version does not hold is refused
(422, naming the field and the version): a code is what was published, never free text.

The RTE level follows from what Sievert knows in two cases (``derive_level``); otherwise the
person closing the investigation states it.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal, TypeVar

from sievert_shared.errors import UnprocessableError
from sievert_shared.events import ErrorCategory, RadiotherapyEventCoding
from sievert_shared.facts import ExposureKind, Modality

#: The modalities of the radiotherapy pathway, whose incidents the RTE classification codes
#: (planning and verification imaging are part of that pathway, as in the national analysis).
RADIOTHERAPY_MODALITIES = frozenset(
    {
        Modality.EXTERNAL_BEAM_RADIOTHERAPY,
        Modality.BRACHYTHERAPY,
        Modality.RADIOTHERAPY_PLANNING_IMAGING,
        Modality.RADIOTHERAPY_VERIFICATION_IMAGING,
    }
)

#: The RTE code lists besides the level, by the name the close-out and the event give them.
RTE_CODE_LISTS: Mapping[str, str] = {
    "process_subcodes": "process_subcodes",
    "failed_safety_barriers": "safety_barriers",
    "effective_safety_barriers": "safety_barriers",
    "causative_factors": "causative_factors",
    "detection_methods": "detection_methods",
}

LevelBasis = Literal["notifiable", "near_miss", "stated"]


@dataclass(frozen=True)
class Source:
    publisher: str
    title: str
    url: str | None = None


@dataclass(frozen=True)
class Tier2:
    label: str
    #: tier 3 code -> label
    tier3: Mapping[str, str]


@dataclass(frozen=True)
class Tier1:
    label: str
    tier2: Mapping[str, Tier2]


@dataclass(frozen=True)
class CqcErrorTaxonomy:
    version: str
    valid_from: dt.date | None
    status: Literal["complete", "incomplete"]
    sources: tuple[Source, ...]
    tier1: Mapping[str, Tier1]


@dataclass(frozen=True)
class RadiotherapyEventTaxonomy:
    version: str
    valid_from: dt.date | None
    status: Literal["complete", "incomplete"]
    sources: tuple[Source, ...]
    #: level (1-5) -> label
    levels: Mapping[int, str]
    #: list name (``process_subcodes``, ``safety_barriers``, ...) -> code -> label
    lists: Mapping[str, Mapping[str, str]]


def _day(text: str | None) -> dt.date | None:
    return None if text is None else dt.date.fromisoformat(text)


def _sources(data: Mapping[str, Any]) -> tuple[Source, ...]:
    return tuple(Source(s["publisher"], s["title"], s.get("url")) for s in data["sources"])


def _codes(items: Iterable[Mapping[str, str]]) -> dict[str, str]:
    codes: dict[str, str] = {}
    for item in items:
        if item["code"] in codes:
            raise ValueError(f"code {item['code']!r} is listed twice")
        codes[item["code"]] = item["label"]
    return codes


def parse_cqc(data: Mapping[str, Any]) -> CqcErrorTaxonomy:
    """One version of CQC's error taxonomy from its data file's content."""
    if data["taxonomy"] != "cqc_irmer_error":
        raise ValueError(f"not CQC's error taxonomy: {data['taxonomy']!r}")
    tier1 = {
        one["code"]: Tier1(
            one["label"],
            {two["code"]: Tier2(two["label"], _codes(two["tier3"])) for two in one["tier2"]},
        )
        for one in data["tier1"]
    }
    return CqcErrorTaxonomy(data["version"], _day(data["valid_from"]), data["status"], _sources(data), tier1)


def parse_rte(data: Mapping[str, Any]) -> RadiotherapyEventTaxonomy:
    """One version of the radiotherapy event taxonomy from its data file's content."""
    if data["taxonomy"] != "radiotherapy_event":
        raise ValueError(f"not the radiotherapy event taxonomy: {data['taxonomy']!r}")
    levels = {int(code): label for code, label in _codes(data["levels"]).items()}
    lists = {name: _codes(data[name]) for name in sorted(set(RTE_CODE_LISTS.values()))}
    return RadiotherapyEventTaxonomy(
        data["version"], _day(data["valid_from"]), data["status"], _sources(data), levels, lists
    )


_Version = TypeVar("_Version", CqcErrorTaxonomy, RadiotherapyEventTaxonomy)


def _in_force(versions: Sequence[_Version], day: dt.date) -> _Version | None:
    """The latest version whose ``valid_from`` is not after ``day`` (None: in force from the start)."""
    in_force = [v for v in versions if v.valid_from is None or v.valid_from <= day]
    return max(in_force, key=lambda v: v.valid_from or dt.date.min, default=None)


@dataclass(frozen=True)
class Taxonomies:
    cqc: tuple[CqcErrorTaxonomy, ...]
    rte: tuple[RadiotherapyEventTaxonomy, ...]

    def cqc_in_force(self, day: dt.date) -> CqcErrorTaxonomy | None:
        return _in_force(self.cqc, day)

    def rte_in_force(self, day: dt.date) -> RadiotherapyEventTaxonomy | None:
        return _in_force(self.rte, day)


def parse_all(files: Iterable[Mapping[str, Any]]) -> Taxonomies:
    """Every version among ``files``' contents, by taxonomy; two files of one version are refused."""
    cqc: list[CqcErrorTaxonomy] = []
    rte: list[RadiotherapyEventTaxonomy] = []
    for data in files:
        if data["taxonomy"] == "cqc_irmer_error":
            cqc.append(parse_cqc(data))
        else:
            rte.append(parse_rte(data))
    for versions in (cqc, rte):
        names = [v.version for v in versions]
        if len(names) != len(set(names)):
            raise ValueError(f"a version is given twice: {sorted(names)}")
    return Taxonomies(tuple(cqc), tuple(rte))


@functools.cache
def packaged() -> Taxonomies:
    """The versions shipped with Sievert (``domain/taxonomies/*.json``): package data, read once."""
    folder = resources.files("sievert_reporting.domain.taxonomies")
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".json")), key=lambda f: f.name)
    return parse_all(json.loads(f.read_text(encoding="utf-8")) for f in files)


# -- checking what a close-out records ---------------------------------------------------------------


class TaxonomyCodeError(UnprocessableError):
    title = "Unknown taxonomy code"


def _error(path: str, message: str) -> dict[str, str]:
    return {"path": f"body/{path}", "message": message}


def _refuse(errors: list[dict[str, str]]) -> None:
    if errors:
        raise TaxonomyCodeError("; ".join(f"{e['path']}: {e['message']}" for e in errors), errors=errors)


@dataclass(frozen=True)
class ErrorCategoryInput:
    """CQC's three tiers as a person states them (codes of the version in force)."""

    duty_holder: str
    pathway_point: str
    what_went_wrong: str | None = None


def check_error_category(taxonomies: Taxonomies, day: dt.date, given: ErrorCategoryInput) -> ErrorCategory:
    """The three tiers checked against the version in force on ``day``; 422 naming the first
    tier the version does not hold, and the version."""
    version = taxonomies.cqc_in_force(day)
    path = "error_category"
    if version is None:
        _refuse([_error(path, f"no version of CQC's error taxonomy is in force on {day}")])
    assert version is not None
    named = f"CQC error taxonomy {version.version}"
    tier1 = version.tier1.get(given.duty_holder)
    if tier1 is None:
        _refuse([_error(f"{path}/duty_holder", f"{given.duty_holder!r} is not a tier 1 code of {named}")])
    assert tier1 is not None
    tier2 = tier1.tier2.get(given.pathway_point)
    if tier2 is None:
        _refuse(
            [
                _error(
                    f"{path}/pathway_point",
                    f"{given.pathway_point!r} is not a tier 2 code under {given.duty_holder!r} in {named}",
                )
            ]
        )
    assert tier2 is not None
    if given.what_went_wrong is not None and given.what_went_wrong not in tier2.tier3:
        _refuse(
            [
                _error(
                    f"{path}/what_went_wrong",
                    f"{given.what_went_wrong!r} is not a tier 3 code under {given.pathway_point!r} in {named}",
                )
            ]
        )
    return ErrorCategory(
        taxonomy_version=version.version,
        duty_holder=given.duty_holder,
        pathway_point=given.pathway_point,
        what_went_wrong=given.what_went_wrong,
    )


@dataclass(frozen=True)
class RadiotherapyEventInput:
    """The RTE coding as a person states it; the level may be left to ``derive_level``."""

    level: int | None = None
    process_subcodes: tuple[str, ...] = ()
    failed_safety_barriers: tuple[str, ...] = ()
    effective_safety_barriers: tuple[str, ...] = ()
    causative_factors: tuple[str, ...] = ()
    detection_methods: tuple[str, ...] = ()


@dataclass(frozen=True)
class IncidentBasis:
    """What Sievert knows of the incident that the coding depends on."""

    discovered_on: dt.date
    modality: Modality
    exposure_kind: ExposureKind
    #: the current decision: a statutory notification is due (None: not decided yet)
    notifiable: bool | None


@dataclass(frozen=True)
class DerivedLevel:
    level: int
    basis: LevelBasis
    why: str


def derive_level(incident: IncidentBasis) -> DerivedLevel | None:
    """The RTE level where it follows from what Sievert knows; None: a person must state it.

    - Notifiable (a significant accidental or unintended exposure the enforcing authority must be
      told of under Regulation 8(4), CQC guidance lines 201 and 218): level 1, "Reportable
      radiation incident", which Towards Safer Radiotherapy defines as one reportable under the
      regulations.
    - A near miss (nobody was exposed; the error was caught before the exposure, line 223): level
      4, "Near miss".
    Anything else (levels 2, 3 and 5 turn on clinical judgement Sievert does not record) is asked."""
    if incident.notifiable:
        return DerivedLevel(
            1,
            "notifiable",
            "notifiable to the enforcing authority under Regulation 8(4) (guidance lines 201, 218): "
            "a reportable radiation incident",
        )
    if incident.exposure_kind == ExposureKind.NEAR_MISS:
        return DerivedLevel(4, "near_miss", "a near miss: nobody was exposed (guidance line 223)")
    return None


def code_radiotherapy_event(
    taxonomies: Taxonomies, incident: IncidentBasis, given: RadiotherapyEventInput | None
) -> RadiotherapyEventCoding | None:
    """The RTE coding a close-out records: None for an incident outside radiotherapy (coding one is
    refused); for a radiotherapy incident, the level derived or stated (a stated level that
    contradicts the derived one is refused, as is none where none can be derived) and every code
    checked against the version in force on the discovery day. Refusals are 422, naming each field."""
    path = "radiotherapy_event"
    if incident.modality not in RADIOTHERAPY_MODALITIES:
        if given is not None:
            _refuse(
                [
                    _error(
                        path,
                        f"the radiotherapy event taxonomy codes radiotherapy incidents, not {incident.modality}",
                    )
                ]
            )
        return None
    version = taxonomies.rte_in_force(incident.discovered_on)
    if version is None:
        _refuse(
            [
                _error(
                    path,
                    f"no version of the radiotherapy event taxonomy is in force on {incident.discovered_on}",
                )
            ]
        )
    assert version is not None
    named = f"radiotherapy event taxonomy {version.version}"
    stated = given or RadiotherapyEventInput()
    derived = derive_level(incident)
    errors: list[dict[str, str]] = []
    if derived is not None and stated.level is not None and stated.level != derived.level:
        errors.append(
            _error(
                f"{path}/level",
                f"the level is {derived.level}, since the incident is {derived.why}; not {stated.level}",
            )
        )
    if derived is None and stated.level is None:
        errors.append(
            _error(
                f"{path}/level",
                "state the classification level (1-5): it does not follow from the incident's facts and decision",
            )
        )
    if stated.level is not None and stated.level not in version.levels:
        errors.append(_error(f"{path}/level", f"{stated.level} is not a level of {named}"))
    for field, list_name in RTE_CODE_LISTS.items():
        known = version.lists[list_name]
        for index, code in enumerate(getattr(stated, field)):
            if code not in known:
                held = "" if known else f" (this copy of {version.version} holds none: it is incomplete)"
                errors.append(_error(f"{path}/{field}/{index}", f"{code!r} is not a code of {named}{held}"))
    _refuse(errors)
    level = derived.level if derived is not None else stated.level
    assert level is not None
    return RadiotherapyEventCoding(
        taxonomy_version=version.version,
        level=level,
        level_basis=derived.basis if derived is not None else "stated",
        process_subcodes=list(stated.process_subcodes),
        failed_safety_barriers=list(stated.failed_safety_barriers),
        effective_safety_barriers=list(stated.effective_safety_barriers),
        causative_factors=list(stated.causative_factors),
        detection_methods=list(stated.detection_methods),
    )


def level_label(taxonomies: Taxonomies, version: str, level: int) -> str:
    """The published name of ``level`` in ``version`` (the level itself if the version is unknown)."""
    for taxonomy in taxonomies.rte:
        if taxonomy.version == version:
            return taxonomy.levels.get(level, str(level))
    return str(level)


def cqc_label(taxonomies: Taxonomies, tier: Literal[1, 2, 3], code: str) -> str:
    """The published words of a CQC error code of ``tier``, from the newest version that holds it
    (the code itself if none does): a trend over years spans versions, and a code's words do not
    change its meaning between them."""
    for taxonomy in sorted(taxonomies.cqc, key=lambda t: t.valid_from or dt.date.min, reverse=True):
        for code1, tier1 in taxonomy.tier1.items():
            if tier == 1 and code1 == code:
                return tier1.label
            for code2, tier2 in tier1.tier2.items():
                if tier == 2 and code2 == code:
                    return tier2.label
                if tier == 3 and code in tier2.tier3:
                    return tier2.tier3[code]
    return code


def rte_level_label(taxonomies: Taxonomies, level: str) -> str:
    """A radiotherapy event level (as text) with its published name, from the newest version."""
    for taxonomy in sorted(taxonomies.rte, key=lambda t: t.valid_from or dt.date.min, reverse=True):
        name = taxonomy.levels.get(int(level)) if level.isdigit() else None
        if name:
            return f"Level {level}: {name}"
    return level


# -- what a close-out may be coded with ---------------------------------------------------------------


def _listed(codes: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"code": code, "label": label} for code, label in codes.items()]


def _cqc_choices(version: CqcErrorTaxonomy) -> dict[str, Any]:
    return {
        "version": version.version,
        "status": version.status,
        "duty_holders": [
            {
                "code": code,
                "label": one.label,
                "pathway_points": [
                    {"code": code2, "label": two.label, "what_went_wrong": _listed(two.tier3)}
                    for code2, two in one.tier2.items()
                ],
            }
            for code, one in version.tier1.items()
        ],
    }


def _rte_choices(version: RadiotherapyEventTaxonomy, incident: IncidentBasis) -> dict[str, Any]:
    derived = derive_level(incident)
    return {
        "version": version.version,
        "status": version.status,
        "levels": [{"level": level, "label": label} for level, label in sorted(version.levels.items())],
        "derived_level": None
        if derived is None
        else {"level": derived.level, "basis": derived.basis, "why": derived.why},
        "code_lists": {field: _listed(version.lists[name]) for field, name in RTE_CODE_LISTS.items()},
    }


def choices(taxonomies: Taxonomies, incident: IncidentBasis) -> dict[str, Any]:
    """What a close-out of ``incident`` may be coded with, as a form offers it: CQC's tiers of the
    version in force on its discovery day (None: no version is), and for a radiotherapy incident
    the RTE version in force, its levels, the level derived from the incident (None: a person
    states it) and each code list (empty where the data holds none yet); None outside radiotherapy."""
    cqc = taxonomies.cqc_in_force(incident.discovered_on)
    rte = taxonomies.rte_in_force(incident.discovered_on)
    radiotherapy = incident.modality in RADIOTHERAPY_MODALITIES
    return {
        "discovered_on": incident.discovered_on.isoformat(),
        "error_category": None if cqc is None else _cqc_choices(cqc),
        "radiotherapy_event": _rte_choices(rte, incident) if radiotherapy and rte is not None else None,
    }
