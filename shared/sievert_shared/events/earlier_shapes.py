"""Embedded models as earlier event versions carried them, kept so those versions never change.

An event version is a public contract (``contracts/events/<type>.v<n>.json``): the facts inside
``IncidentReported`` v1-v3 and ``IncidentFactsAmended`` v1-v3, and the decision inside
``IncidentClassified`` v1 and ``IncidentReclassified`` v1, must keep the shape they had when those
versions were current. The current models (``sievert_shared.facts.IncidentFacts``,
``sievert_shared.decision.ClassificationDecision``) have grown since; the registry reads the old
payloads as the current shapes through the upcasters.

The classes are named as the models were then (JSON Schema names its ``$defs`` after the class),
so the old contracts keep their names; import them by their ``V1``/``V2`` aliases.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, create_model, field_validator

from sievert_shared.decision import Authority, Citation, FactValue, OtherBody, Outcome
from sievert_shared.facts import IncidentFacts as CurrentIncidentFacts
from sievert_shared.facts import occurred_not_after_discovery

__all__ = ["ClassificationDecisionV1", "IncidentFactsV2", "IncidentFactsV3", "ReasonV1"]

#: The facts ``IncidentReported`` and ``IncidentFactsAmended`` carried up to v2, in their order.
#: Their definitions are the current ones: those fields have not changed since.
FACTS_V2_FIELDS = (
    "nation",
    "discovered_on",
    "occurred_on",
    "exposure_kind",
    "modality",
    "patient_age_years",
    "individuals_affected",
    "patient_pregnant",
    "patient_breastfeeding",
    "intended_effective_dose_msv",
    "total_effective_dose_msv",
    "foetal_dose_mgy",
    "breastfed_infant_effective_dose_msv",
    "prior_cumulative_effective_dose_msv",
    "rt_course_dose_ratio",
    "rt_max_fraction_dose_ratio",
    "rt_dose_volume",
    "geographical_miss",
    "geographical_miss_margin_ratio",
    "planning_scans",
    "verification_images_in_fraction",
    "verification_images_intended",
    "verification_images_additional",
    "verification_imaging_cause",
    "nm_prescribed_activity_mbq",
    "nm_delivered_activity_mbq",
    "deterministic_effect",
    "deterministic_effect_anticipated",
    "procedural_failure",
    "equipment_fault",
    "incorrect_radiopharmaceutical",
    "clinically_significant",
    "voluntary",
    "outside_arsac_licence",
    "worker_effective_dose_msv",
    "public_effective_dose_msv",
    "equipment_type",
    "setting",
)


#: The facts ``IncidentReported`` and ``IncidentFactsAmended`` v3 carried: v2's and the fields v3
#: added (radiotherapy doses in Gy, anatomy, thematic fault, medicine defect, equipment maker and
#: model, earlier exposures of the same area). v4 added ``employers``.
FACTS_V3_FIELDS = (
    *FACTS_V2_FIELDS,
    "rt_prescribed_dose_gy",
    "rt_delivered_dose_gy",
    "rt_prescribed_fraction_dose_gy",
    "rt_max_fraction_delivered_dose_gy",
    "rt_fractions_prescribed",
    "rt_fractions_delivered",
    "rt_whole_course_delivered",
    "anatomy_error",
    "equipment_fault_thematic",
    "medicine_defect",
    "equipment_manufacturer",
    "equipment_model",
    "prior_same_area_exposures",
    "prior_same_area_period_days",
    "prior_same_area_dose_mgy",
    "ct_perfusion",
    "deterministic_effects_expected",
)


def _not_after_discovery(cls: type[BaseModel], value: Any, info: ValidationInfo) -> Any:
    return occurred_not_after_discovery(value, info)


_current = CurrentIncidentFacts.model_fields

if TYPE_CHECKING:
    # To the type checker the old facts are the current ones: every field they had is still
    # there with the same type, which is all code reading a decoded old payload relies on.
    IncidentFactsV2 = CurrentIncidentFacts
    IncidentFactsV3 = CurrentIncidentFacts
else:
    #: ``IncidentFacts`` as ``IncidentReported``/``IncidentFactsAmended`` v1-v2 carried them.
    IncidentFactsV2 = create_model(
        "IncidentFacts",
        __config__=CurrentIncidentFacts.model_config,
        __doc__="The facts of one radiation incident, as known at the time of classification.",
        __module__=__name__,
        __validators__={"_not_after_discovery": field_validator("occurred_on")(_not_after_discovery)},
        **{name: (_current[name].annotation, _current[name]) for name in FACTS_V2_FIELDS},
    )
    #: ``IncidentFacts`` as ``IncidentReported``/``IncidentFactsAmended`` v3 carried them.
    IncidentFactsV3 = create_model(
        "IncidentFacts",
        __config__=CurrentIncidentFacts.model_config,
        __doc__="The facts of one radiation incident, as known at the time of classification.",
        __module__=__name__,
        __validators__={"_not_after_discovery": field_validator("occurred_on")(_not_after_discovery)},
        **{name: (_current[name].annotation, _current[name]) for name in FACTS_V3_FIELDS},
    )


class Reason(BaseModel):
    """One criterion, applied to the facts, with its outcome and citation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(
        description=(
            "Notification code (e.g. '2.2', '4.2b', 'M', 'C') or the name of the rule "
            "(e.g. 'ruleset', 'authority', 'hse', 'mhra', 'arsac', 'regulation-8(3)')."
        )
    )
    criterion: str = Field(description="The criterion as the guidance words it, with our reading if any.")
    citation: Citation = Field(description="Where the criterion is written.")
    facts: dict[str, FactValue] = Field(
        default_factory=dict, description="The fact values (and derived values) the criterion used."
    )
    outcome: Outcome = Field(description="met, not_met or needs_facts.")
    needs: tuple[str, ...] = Field(
        default=(), description="IncidentFacts fields this criterion still needs to be decided."
    )


class ClassificationDecision(BaseModel):
    """Whether and to whom an incident must be notified, and why.

    ``notifiable`` is true only when the known facts meet a criterion (guidance line
    218: notify once the criteria are shown to be met). ``notifiable`` false with a
    non-empty ``needs_facts`` means "not shown yet": supply those facts and classify
    again.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    notifiable: bool = Field(
        description="A statutory notification to the enforcing authority is due (SAUE or CSAUE)."
    )
    codes: tuple[str, ...] = Field(
        description=(
            "Notification codes, most relevant first. The first carries the complementary "
            "prefixes in the order M, E, V, C (e.g. 'ME2.1'); later codes are further criteria met."
        )
    )
    authority: Authority = Field(
        description="IR(ME)R enforcing authority for the site's nation; it receives any notification."
    )
    other_bodies: tuple[OtherBody, ...] = Field(description="Other bodies to tell, in a stable order.")
    csaue: bool = Field(description="Clinically significant accidental or unintended exposure (code C).")
    voluntary: bool = Field(description="Not statutory, but offered voluntarily for learning (code V).")
    local_investigation: bool = Field(
        description="A local investigation and record are required under Regulation 8(3) (line 223)."
    )
    ruleset: str = Field(description="Ruleset that decided, e.g. 'irmer-2023-04' or 'irmer-2020-08'.")
    needs_facts: tuple[str, ...] = Field(
        description="IncidentFacts fields still needed by some criterion, in field order."
    )
    reasons: tuple[Reason, ...] = Field(description="Every criterion applied, in the order applied.")


#: ``Reason`` as ``IncidentClassified``/``IncidentReclassified`` v1 carried it.
ReasonV1 = Reason
#: ``ClassificationDecision`` as ``IncidentClassified``/``IncidentReclassified`` v1 carried it.
ClassificationDecisionV1 = ClassificationDecision
