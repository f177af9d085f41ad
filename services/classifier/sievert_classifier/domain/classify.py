"""Assemble one decision from the criteria of the ruleset in force.

``classify`` is total and pure: the ruleset is chosen by the discovery date carried in
the facts, so "now" never enters a decision and a replay always gives the same answer.
"""

from __future__ import annotations

from datetime import date

from sievert_classifier.domain import bodies, rules
from sievert_classifier.domain.employers import employers_reason
from sievert_classifier.domain.model import WRONG_ANATOMY, Case, Finding, Kind, Ruleset
from sievert_classifier.domain.rulesets import select_ruleset
from sievert_shared.decision import (
    ClassificationDecision,
    DecisionStatus,
    OtherBody,
    Outcome,
    Reason,
)
from sievert_shared.facts import (
    ExposureKind,
    GeographicalMiss,
    IncidentFacts,
    Modality,
    Nation,
    VerificationImagingCause,
)

__all__ = ["category", "classify"]

#: needs_facts is listed in the order the facts model declares its fields.
_FIELD_ORDER = {name: index for index, name in enumerate(IncidentFacts.model_fields)}
_BODY_ORDER = {body: index for index, body in enumerate(OtherBody)}
#: Line 207-212 lists the complementary codes in this order; prefixes follow it.
_PREFIX_ORDER = ("M", "E", "V", "C")
MET = Outcome.MET
NOTIFICATION = Kind.NOTIFICATION
COMPLEMENTARY = Kind.COMPLEMENTARY

_CATEGORY_BY_MODALITY = {
    Modality.INTERVENTIONAL: "3",
    Modality.RADIOTHERAPY_PLANNING_IMAGING: "4.1",
    Modality.SIRT: "10.1",
    Modality.NUCLEAR_MEDICINE_THERAPY: "10.2",
}
_CATEGORY_BY_CAUSE = {
    VerificationImagingCause.SET_UP_ERROR: "4.2a",
    VerificationImagingCause.PROTOCOL_FAILURE: "4.2b",
    VerificationImagingCause.THEMATIC_EQUIPMENT_FAILURE: "4.2c",
    VerificationImagingCause.EQUIPMENT_FAILURE: "4.2c",
}


def classify(
    facts: IncidentFacts, *, theme_individuals: int | None = None, reporting_trust: str | None = None
) -> ClassificationDecision:
    """Decide whether, to whom and under which codes an incident is notified.

    ``theme_individuals`` is the number of individuals across a theme found by a
    thematic review; more than one gives code M even if this incident exposed one
    person (line 276-281). ``reporting_trust`` (the trust it was reported under) only
    words the reason saying which of several employers notifies (``domain/employers.py``).
    """
    rs = select_ruleset(facts.discovered_on)
    case = Case(facts, rs, theme_individuals)
    findings: list[Finding] = []
    for rule in rs.dispatch[case.kind, facts.modality]:
        finding = rule(case)
        if finding is not None:
            findings.append(finding)

    criteria = rs.criteria
    met_codes: set[str] = set()
    complementary: set[str] = set()
    other_bodies: set[OtherBody] = set()
    licensing_breach = False
    # Missing facts, by what they could change: the notification (or its codes), or only a
    # route or a label. A fact some notification criterion needs is never "only routing".
    for_notification: set[str] = set()
    for_routing: set[str] = set()
    # The ruleset, the authority and Regulation 8(3) are met for every incident and add only
    # their reasons, which repeat for every incident of a discovery date, nation or kind.
    reasons: list[Reason] = [_every_incident_reason(rs, "ruleset", facts.discovered_on)]
    for finding in findings:
        reasons.append(_reason(rs, finding))
        if finding.needs:
            if finding.key in rs.routing_only:
                for_routing.update(finding.needs)
            else:
                for_notification.update(finding.needs)
        elif finding.outcome is MET:
            item = criteria[finding.key]
            if item.kind is NOTIFICATION:
                met_codes.add(item.code)
            elif item.kind is COMPLEMENTARY:
                complementary.add(item.code)
            if finding.body is not None:
                other_bodies.add(finding.body)
            if finding.key == bodies.LICENSING_BREACH:
                licensing_breach = True

    reasons.append(_every_incident_reason(rs, "authority", facts.nation))
    reasons.append(_every_incident_reason(rs, "regulation-8(3)", facts.exposure_kind))
    who_notifies = employers_reason(facts, reporting_trust) if facts.employers else None
    if who_notifies is not None:
        reasons.append(who_notifies)

    # A notification code met, or M or C, notifiable regardless of dose (line 78, 207, 276).
    notifiable = facts.exposure_kind in rules.EXPOSED and bool(
        met_codes or "M" in complementary or "C" in complementary
    )
    # Line 268: V is for incidents that do not meet the statutory criteria.
    voluntary = not notifiable and "V" in complementary

    codes: tuple[str, ...] = ()
    if notifiable or voluntary:
        ordered = sorted(met_codes, key=rs.relevance.index)
        if not ordered:
            # Line 287: a complementary code needs the most relevant code 1 to 9 even when
            # that code's own threshold is not met.
            primary, missing = category(case)
            # Naming the code of a notification changes its codes; of a voluntary offer, a label.
            (for_notification if notifiable else for_routing).update(missing)
            ordered = [primary] if primary is not None else []
        if ordered:
            if complementary:
                prefix = "".join(
                    letter
                    for letter in _PREFIX_ORDER
                    if letter in complementary and (letter != "V" or voluntary)
                )
                ordered[0] = prefix + ordered[0]
            codes = tuple(ordered)

    if notifiable:
        status = DecisionStatus.NOTIFIABLE
    else:
        status = DecisionStatus.UNDECIDED if for_notification else DecisionStatus.NOT_NOTIFIABLE
    needs_for_notification = _in_field_order(for_notification)
    needs_for_routing = _in_field_order(for_routing - for_notification) if for_routing else ()
    needs = (
        _in_field_order(for_notification | for_routing)
        if needs_for_notification and needs_for_routing
        else needs_for_notification or needs_for_routing
    )
    # Validated in one pass by pydantic-core; reasons come from the memo as instances.
    return ClassificationDecision.model_validate(
        {
            "notifiable": notifiable,
            "status": status,
            "codes": codes,
            "authority": bodies.AUTHORITY[facts.nation],
            "other_bodies": sorted(other_bodies, key=_BODY_ORDER.__getitem__),
            "csaue": "C" in complementary,
            "voluntary": voluntary,
            "local_investigation": True,
            "ruleset": rs.id,
            "licensing_breach": licensing_breach,
            "needs_facts": needs,
            "needs_facts_for_notification": needs_for_notification,
            "needs_facts_for_routing": needs_for_routing,
            "reasons": reasons,
        }
    )


def _in_field_order(names: set[str]) -> tuple[str, ...]:
    return tuple(sorted(names, key=_FIELD_ORDER.__getitem__)) if names else ()


def category(case: Case) -> tuple[str | None, tuple[str, ...]]:
    """The most relevant code 1-10 for an incident whatever its dose, or the facts needed to name it.

    Used when M, C or V applies but no notification code is met (line 201-204, 287).
    """
    f = case.facts
    # The kind as judged: a wrong side or site recorded as accidental is unintended (line 349).
    if case.kind is ExposureKind.ACCIDENTAL:
        return "1", ()
    modality = f.modality
    fixed = _CATEGORY_BY_MODALITY.get(modality)
    if fixed is not None:
        return fixed, ()
    if modality in rules.RADIOTHERAPY:
        miss = f.geographical_miss
        # A wrong side or site is a total miss of the intended target (rules.code_9_1).
        if miss is GeographicalMiss.TOTAL or f.anatomy_error in WRONG_ANATOMY:
            return "9.1", ()
        if miss is GeographicalMiss.PARTIAL:
            return "9.2", ()
        course = f.rt_course_dose_ratio
        if course is None and f.rt_delivered_dose_gy is not None and f.rt_prescribed_dose_gy:
            course = f.rt_delivered_dose_gy / f.rt_prescribed_dose_gy
        # Over-exposure (8.1) unless the course is known to be under-dosed (8.2).
        return ("8.2" if course is not None and course < 1 else "8.1"), ()
    if modality is Modality.RADIOTHERAPY_VERIFICATION_IMAGING:
        cause = f.verification_imaging_cause
        if cause is None:
            return None, ("verification_imaging_cause",)
        by_cause = _CATEGORY_BY_CAUSE.get(cause)
        if by_cause is not None:
            return by_cause, ()
    if (
        modality is Modality.DIAGNOSTIC_NUCLEAR_MEDICINE
        and f.incorrect_radiopharmaceutical
        and "7" in case.rs.relevance
    ):
        return "7", ()
    return _band(case.rs, f.intended_effective_dose_msv)


def _band(rs: Ruleset, intended: float | None) -> tuple[str | None, tuple[str, ...]]:
    if intended is None:
        return None, ("intended_effective_dose_msv",)
    if intended < rs.band_2_2_from_msv:
        return "2.1", ()
    if intended < rs.band_2_3_from_msv:
        return "2.2", ()
    if intended <= rs.band_2_4_above_msv:
        return "2.3", ()
    return "2.4", ()


#: Reasons are immutable values, and most repeat across incidents (the authority of a
#: nation, "one individual", "no equipment fault"), so each distinct one is built and
#: validated once. Bounded: cleared when full, which only costs rebuilding.
_REASONS: dict[tuple[object, ...], Reason] = {}
_REASONS_MAX = 8192


_EVERY_INCIDENT: dict[tuple[str, str, object], Reason] = {}


def _every_incident_reason(rs: Ruleset, key: str, value: date | Nation | ExposureKind) -> Reason:
    """The reason of a criterion met by every incident, by the one fact it depends on."""
    memo_key = (rs.id, key, value)
    reason = _EVERY_INCIDENT.get(memo_key)
    if reason is None:
        if isinstance(value, date):
            finding = Finding("ruleset", MET, {"discovered_on": value.isoformat()})
        elif isinstance(value, Nation):
            finding = bodies.AUTHORITY_FINDINGS[value]
        else:
            finding = bodies.INVESTIGATION_FINDINGS[value]
        reason = _reason(rs, finding)
        if len(_EVERY_INCIDENT) >= _REASONS_MAX:
            _EVERY_INCIDENT.clear()
        _EVERY_INCIDENT[memo_key] = reason
    return reason


def _reason(rs: Ruleset, finding: Finding) -> Reason:
    # Fact names have one type each, so equal values (1 == 1.0 == True) never cross types.
    key = (rs.id, finding.key, finding.outcome, finding.needs, *finding.facts.items())
    reason = _REASONS.get(key)
    if reason is None:
        item = rs.criteria[finding.key]
        reason = Reason(
            code=item.code,
            criterion=item.text,
            citation=item.citation,
            facts=finding.facts,
            outcome=finding.outcome,
            needs=finding.needs,
            needs_affect=item.needs_affect if finding.needs else None,
        )
        if len(_REASONS) >= _REASONS_MAX:
            _REASONS.clear()
        _REASONS[key] = reason
    return reason
