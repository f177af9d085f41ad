"""The classifier's decision about one incident, with the reasons behind it.

A decision is a value: the same facts and ruleset always give the same decision,
so it can be stored in an event and replayed.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "GUIDANCE_SOURCE",
    "Authority",
    "Citation",
    "ClassificationDecision",
    "FactValue",
    "OtherBody",
    "Outcome",
    "Reason",
]

#: The document the classifier's line numbers refer to.
GUIDANCE_SOURCE = "cqc-irmer-notification-guidance-2023.txt"

#: A fact value as recorded in a reason: JSON scalars only, so reasons serialise as-is.
FactValue = str | int | float | bool | None


class Authority(StrEnum):
    """IR(ME)R enforcing authority of a nation (guidance lines 351-373)."""

    #: Care Quality Commission, England.
    CQC = "cqc"
    #: Healthcare Inspectorate Wales.
    HIW = "hiw"
    #: Healthcare Improvement Scotland.
    HIS = "his"
    #: Regulation and Quality Improvement Authority, Northern Ireland.
    RQIA = "rqia"


class OtherBody(StrEnum):
    """Bodies other than the IR(ME)R enforcing authority that should be told."""

    #: Health and Safety Executive: worker or public over-exposure, IRR17 regulation 26 (line 395).
    HSE = "hse"
    #: Health and Safety Executive Northern Ireland (line 401).
    HSENI = "hseni"
    #: Medicines and Healthcare products Regulatory Agency, England and Wales (line 379-381).
    MHRA = "mhra"
    #: Health Facilities Scotland (line 383-385).
    HFS = "hfs"
    #: Northern Ireland Adverse Incident Centre (line 387-389).
    NIAIC = "niaic"
    #: ARSAC Support Unit: administration outside a licence, Regulation 5 (line 98).
    ARSAC = "arsac"


class Outcome(StrEnum):
    """How one criterion came out on the facts given."""

    MET = "met"
    NOT_MET = "not_met"
    #: The criterion cannot be decided without the facts listed in ``Reason.needs``.
    NEEDS_FACTS = "needs_facts"


class Citation(BaseModel):
    """Where in the guidance a criterion is written."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(default=GUIDANCE_SOURCE, description="Document the line numbers refer to.")
    lines: tuple[int, ...] = Field(description="1-based line numbers of the cited text in the source.")


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
