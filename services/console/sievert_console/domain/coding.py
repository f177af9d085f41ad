"""The local investigation's close-out coded in the published taxonomies, as a form offers it: CQC's
three error tiers (duty holder, point in the pathway, what went wrong) and, for a radiotherapy
incident, the national radiotherapy event (RTE) classification: its level and its code lists.

Input is reporting's ``GET /v1/incidents/{id}/local-investigation/coding`` (the versions in force on
the incident's discovery day, the level where reporting derives it); the console holds no copy of
the taxonomies, so the form follows whatever versions reporting publishes.

The three tiers are one choice (``error_category``: ``duty_holder/pathway_point[/what_went_wrong]``),
grouped by duty holder, so a tier 2 is always offered under its own tier 1 without any script.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: The RTE code lists, by the close-out's field name, and how the form heads each.
RTE_LISTS: Mapping[str, str] = {
    "process_subcodes": "Pathway process subcodes",
    "failed_safety_barriers": "Safety barriers that failed",
    "effective_safety_barriers": "Safety barriers that worked",
    "causative_factors": "Causative factors",
    "detection_methods": "How it was detected",
}
#: The form's fields for the codings, each a 422's field name (``coding_errors``).
CODING_FIELDS = ("error_category", "rte_level", *(f"rte_{name}" for name in RTE_LISTS))


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class TierGroup:
    """One duty holder (tier 1) and the choices under it."""

    label: str
    options: tuple[Option, ...]


@dataclass(frozen=True)
class DerivedLevel:
    level: int
    label: str
    why: str


@dataclass(frozen=True)
class CodeList:
    field: str
    heading: str
    options: tuple[Option, ...]


@dataclass(frozen=True)
class RadiotherapyChoices:
    version: str
    complete: bool
    levels: tuple[Option, ...]
    derived: DerivedLevel | None
    lists: tuple[CodeList, ...]

    @property
    def codes_available(self) -> bool:
        return any(code_list.options for code_list in self.lists)

    def level_label(self, level: int | None) -> str:
        return next((o.label for o in self.levels if o.value == str(level)), str(level))


@dataclass(frozen=True)
class CodingChoices:
    discovered_on: str
    cqc_version: str | None
    cqc_complete: bool
    tiers: tuple[TierGroup, ...]
    radiotherapy: RadiotherapyChoices | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> CodingChoices:
        cqc = data.get("error_category")
        rte = data.get("radiotherapy_event")
        return cls(
            discovered_on=str(data.get("discovered_on") or ""),
            cqc_version=cqc["version"] if cqc else None,
            cqc_complete=bool(cqc and cqc.get("status") == "complete"),
            tiers=_tiers(cqc["duty_holders"]) if cqc else (),
            radiotherapy=_radiotherapy(rte) if rte else None,
        )

    def category_label(self, value: str) -> str:
        """The words of a tiers choice (its codes if the version holds them no longer)."""
        for group in self.tiers:
            for option in group.options:
                if option.value == value:
                    return option.label
        return value.replace("/", " → ").replace("_", " ")


def _tiers(duty_holders: Sequence[Mapping[str, Any]]) -> tuple[TierGroup, ...]:
    groups: list[TierGroup] = []
    for one in duty_holders:
        options: list[Option] = []
        for two in one["pathway_points"]:
            path = f"{one['code']}/{two['code']}"
            words = f"{one['label']} → {two['label']}"
            options.append(Option(path, words))
            options.extend(
                Option(f"{path}/{three['code']}", f"{words} → {three['label']}")
                for three in two["what_went_wrong"]
            )
        groups.append(TierGroup(str(one["label"]), tuple(options)))
    return tuple(groups)


def _radiotherapy(rte: Mapping[str, Any]) -> RadiotherapyChoices:
    levels = tuple(Option(str(lv["level"]), f"Level {lv['level']}: {lv['label']}") for lv in rte["levels"])
    derived = rte.get("derived_level")
    lists = rte.get("code_lists") or {}
    return RadiotherapyChoices(
        version=str(rte["version"]),
        complete=rte.get("status") == "complete",
        levels=levels,
        derived=None
        if not derived
        else DerivedLevel(
            int(derived["level"]),
            next((o.label for o in levels if o.value == str(derived["level"])), str(derived["level"])),
            str(derived["why"]),
        ),
        lists=tuple(
            CodeList(field, heading, tuple(Option(c["code"], c["label"]) for c in lists.get(field) or ()))
            for field, heading in RTE_LISTS.items()
        ),
    )


def coding_body(form: Mapping[str, str], lists: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The close-out's ``error_category`` and ``radiotherapy_event`` from the form: the tiers
    choice split into its codes, the level as typed (reporting refuses one it does not hold, or a
    missing one it needs), each code list's ticked codes. A part nobody filled in is not sent
    (reporting then asks for the level where it needs it)."""
    body: dict[str, Any] = {}
    category = form.get("error_category", "").strip()
    if category:
        tiers = category.split("/")
        body["error_category"] = {
            "duty_holder": tiers[0],
            "pathway_point": tiers[1] if len(tiers) > 1 else "",
            **({"what_went_wrong": tiers[2]} if len(tiers) > 2 else {}),
        }
    if form.get("radiotherapy") == "yes":
        event: dict[str, Any] = {field: list(lists.get(field) or ()) for field in RTE_LISTS}
        level = form.get("rte_level", "").strip()
        if level:
            event["level"] = int(level) if level.isdigit() else level
        body["radiotherapy_event"] = event
    return body


def coding_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Reporting's 422 ``errors`` with the codings' paths named by the form's fields: any tier
    (``body/error_category/duty_holder``) is the tiers choice, ``body/radiotherapy_event/level``
    the level, ``body/radiotherapy_event/causative_factors/0`` that list's field. Others as given."""
    named: list[dict[str, Any]] = []
    for error in errors:
        path = [p for p in re.split(r"[/.]", str(error.get("path", ""))) if p]
        if path[:2] == ["body", "radiotherapy_event"] and len(path) > 2 and f"rte_{path[2]}" in CODING_FIELDS:
            error = {**error, "path": f"body/rte_{path[2]}"}
        named.append(dict(error))
    return named


def recorded_category(category: Mapping[str, Any] | None) -> str | None:
    """A recorded ``error_category`` as the tiers choice's value (None: not coded)."""
    if not category:
        return None
    tiers = [category.get("duty_holder"), category.get("pathway_point"), category.get("what_went_wrong")]
    return "/".join(str(t) for t in tiers if t)
