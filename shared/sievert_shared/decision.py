"""The classifier's decision about one incident, with the reasons behind it.

A decision is a value: the same facts and ruleset always give the same decision,
so it can be stored in an event and replayed.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "EMPLOYERS_REASON",
    "GUIDANCE_SOURCE",
    "Authority",
    "Citation",
    "ClassificationDecision",
    "DecisionStatus",
    "FactValue",
    "NeedsAffect",
    "OtherBody",
    "Outcome",
    "Reason",
    "notifying_employer_of",
    "upcast_decision_v1",
]

#: The document the classifier's line numbers refer to.
GUIDANCE_SOURCE = "cqc-irmer-notification-guidance-2023.txt"

#: The code of the reason that names which of several employers notifies (the classifier's
#: ``domain/employers.py``); its facts carry ``notifying_employer`` and ``notifying_trust_code``.
EMPLOYERS_REASON = "employers"

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


class NeedsAffect(StrEnum):
    """What the facts a criterion still needs could change."""

    #: Whether the incident is notifiable, or its notification codes 1-10, M or C.
    NOTIFICATION = "notification"
    #: Only a route (another body to tell) or a label (complementary code E or V).
    ROUTING = "routing"


class DecisionStatus(StrEnum):
    """What is settled about the notification, whatever routing facts are still open."""

    #: Some criterion is met on the known facts: a Regulation 8(4) notification is due.
    NOTIFIABLE = "notifiable"
    #: No criterion is met, and no missing fact could make one met: settled, not notifiable.
    NOT_NOTIFIABLE = "not_notifiable"
    #: Not shown notifiable, and some missing fact could make it notifiable or change its codes.
    UNDECIDED = "undecided"


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
    needs_affect: NeedsAffect | None = Field(
        default=None,
        description=(
            "What the facts in needs could change: 'notification' (whether the incident is notifiable, "
            "or its codes 1-10, M or C) or 'routing' (only another body to tell, or the label E or V). "
            "null when needs is empty."
        ),
    )


class ClassificationDecision(BaseModel):
    """Whether and to whom an incident must be notified, and why.

    ``notifiable`` is true only when the known facts meet a criterion (guidance line
    218: notify once the criteria are shown to be met). ``status`` separates what is
    settled from what is open: ``undecided`` means a missing fact in
    ``needs_facts_for_notification`` could still make the incident notifiable (or change
    its codes); ``not_notifiable`` is settled even while ``needs_facts_for_routing`` asks
    which other body to tell. ``needs_facts`` is the union of both, for older readers.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    notifiable: bool = Field(
        description="A statutory notification to the enforcing authority is due (SAUE or CSAUE)."
    )
    status: DecisionStatus = Field(
        description=(
            "notifiable; not_notifiable (settled, whatever routing facts are open); or undecided "
            "(not shown notifiable, and a fact in needs_facts_for_notification could make it so)."
        )
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
    licensing_breach: bool = Field(
        description=(
            "Radioactive substances were administered without the appropriate licence (Regulation 5): "
            "tell ARSAC (in other_bodies) and send the enforcing authority its IR(ME)R licensing breach "
            "form (line 45, 98, 112). Not a Regulation 8(4) notification in itself."
        )
    )
    needs_facts: tuple[str, ...] = Field(
        description=(
            "IncidentFacts fields still needed by some criterion, in field order: the union of "
            "needs_facts_for_notification and needs_facts_for_routing."
        )
    )
    needs_facts_for_notification: tuple[str, ...] = Field(
        description=(
            "Missing facts that could change whether the incident is notifiable, or its codes, in "
            "field order. While non-empty and not notifiable, the decision is undecided."
        )
    )
    needs_facts_for_routing: tuple[str, ...] = Field(
        description=(
            "Missing facts that only decide another body to tell (HSE, MHRA, ARSAC, ...) or a label "
            "(code E or V), in field order. They never hold the notification decision open."
        )
    )
    reasons: tuple[Reason, ...] = Field(description="Every criterion applied, in the order applied.")


def upcast_decision_v1(decision: Mapping[str, Any]) -> dict[str, Any]:
    """A decision as v1 events carried it (before ``status`` and the split of ``needs_facts``),
    read as the current shape.

    The conservative reading: v1 did not say what its missing facts could change, so every one
    of them is counted as able to change the notification (``needs_facts_for_notification``),
    none as routing only, and a v1 decision that was not notifiable but needed facts is
    ``undecided``. A v1 decision had no licensing-breach route, so ``licensing_breach`` is false.
    A decision already in the current shape (it has ``status``) is returned unchanged, so a
    reader may apply this to stored decisions of either shape.
    """
    if "status" in decision:
        return dict(decision)
    needs = list(decision.get("needs_facts", ()))
    if decision["notifiable"]:
        status = DecisionStatus.NOTIFIABLE
    else:
        status = DecisionStatus.UNDECIDED if needs else DecisionStatus.NOT_NOTIFIABLE
    reasons = [
        {**reason, "needs_affect": NeedsAffect.NOTIFICATION.value if reason.get("needs") else None}
        for reason in decision.get("reasons", ())
    ]
    return {
        **decision,
        "status": status.value,
        "licensing_breach": False,
        "needs_facts_for_notification": needs,
        "needs_facts_for_routing": [],
        "reasons": reasons,
    }


def notifying_employer_of(decision: ClassificationDecision) -> tuple[str, str | None] | None:
    """The notifying employer's name and trust code (None outside this deployment), as the
    decision's ``employers`` reason gives them; None when the facts named no employers."""
    for reason in decision.reasons:
        if reason.code == EMPLOYERS_REASON:
            name, code = reason.facts.get("notifying_employer"), reason.facts.get("notifying_trust_code")
            return str(name), None if code is None else str(code)
    return None
