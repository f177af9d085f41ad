"""Who hears about an incident besides the enforcing authority, and the local investigation.

Pure rules over the case; line numbers refer to cqc-irmer-notification-guidance-2023.txt.
"""

from __future__ import annotations

from sievert_classifier.domain.model import Case, Finding, applies
from sievert_classifier.domain.rules import EXPOSED, NUCLEAR_MEDICINE
from sievert_shared.decision import Authority, FactValue, OtherBody, Outcome
from sievert_shared.facts import ExposureKind, IncidentFacts, Nation

#: The key of the finding that sends the enforcing authority its licensing breach form.
LICENSING_BREACH = "licensing-breach"

#: Line 351-373: the IR(ME)R enforcing authority of each nation.
AUTHORITY = {
    Nation.ENGLAND: Authority.CQC,
    Nation.WALES: Authority.HIW,
    Nation.SCOTLAND: Authority.HIS,
    Nation.NORTHERN_IRELAND: Authority.RQIA,
}

#: Line 379-389: device incidents go to MHRA in England and Wales, HFS in Scotland and
#: NIAIC in Northern Ireland.
DEVICE_BODY = {
    Nation.ENGLAND: OtherBody.MHRA,
    Nation.WALES: OtherBody.MHRA,
    Nation.SCOTLAND: OtherBody.HFS,
    Nation.NORTHERN_IRELAND: OtherBody.NIAIC,
}


#: The enforcing authority for the site's nation (line 351-373): met for every incident.
AUTHORITY_FINDINGS = {
    nation: Finding("authority", Outcome.MET, {"nation": nation, "authority": body})
    for nation, body in AUTHORITY.items()
}
#: Regulation 8(3): every incident is investigated and recorded locally (line 223, 227).
INVESTIGATION_FINDINGS = {
    kind: Finding("regulation-8(3)", Outcome.MET, {"exposure_kind": kind}) for kind in ExposureKind
}


def health_and_safety(c: Case) -> Finding | None:
    """HSE (HSENI in Northern Ireland) for worker or public over-exposures, IRR17 reg 26 (line 393-403).

    An over-exposure is a dose above the IRR17 annual limit (20 mSv for an employee,
    1 mSv for a member of the public); the incident's own dose is compared, never an
    earlier cumulative dose. A dose exactly at the limit does not exceed it.
    """
    f = c.facts
    rs = c.rs
    worker = f.worker_effective_dose_msv
    public = f.public_effective_dose_msv
    kind = f.exposure_kind
    asked = kind in (ExposureKind.OCCUPATIONAL, ExposureKind.PUBLIC)
    if worker is None and public is None and not asked:
        return None
    body = OtherBody.HSENI if f.nation is Nation.NORTHERN_IRELAND else OtherBody.HSE
    facts: dict[str, FactValue] = {
        "worker_effective_dose_msv": worker,
        "public_effective_dose_msv": public,
        "worker_limit_msv": rs.worker_limit_msv,
        "public_limit_msv": rs.public_limit_msv,
    }
    if (worker is not None and worker > rs.worker_limit_msv) or (
        public is not None and public > rs.public_limit_msv
    ):
        return Finding("hse", Outcome.MET, facts, body=body)
    if kind is ExposureKind.OCCUPATIONAL and worker is None:
        return Finding("hse", Outcome.NEEDS_FACTS, facts, ("worker_effective_dose_msv",))
    if kind is ExposureKind.PUBLIC and public is None:
        return Finding("hse", Outcome.NEEDS_FACTS, facts, ("public_effective_dose_msv",))
    return Finding("hse", Outcome.NOT_MET, facts)


def device_facts(f: IncidentFacts) -> dict[str, FactValue]:
    """The device as the report to the device regulator names it: type, maker and model."""
    return {
        "equipment_type": f.equipment_type,
        "equipment_manufacturer": f.equipment_manufacturer,
        "equipment_model": f.equipment_model,
    }


def device_regulator(c: Case) -> Finding | None:
    """MHRA, HFS or NIAIC when equipment failed (line 375-391), SAUE or not (line 391).

    The reason names the device (type, manufacturer, model, as far as they are recorded), so
    the report to the regulator can say which one failed.
    """
    f = c.facts
    if f.equipment_fault is not True:
        return None
    body = DEVICE_BODY[f.nation]
    facts: dict[str, FactValue] = {"equipment_fault": True, "nation": f.nation, **device_facts(f)}
    return Finding("device", Outcome.MET, facts, body=body)


def medicine_regulator(c: Case) -> Finding | None:
    """A defective or mislabelled medicine, e.g. a radiopharmaceutical vial mislabelled by the
    supplier: "device and medicine-related incidents" go to MHRA in England and Wales, HFS in
    Scotland, NIAIC in Northern Ireland (line 377-391), whether or not it was a SAUE (line 391).

    Asked of nobody: only a recorded defect is routed, as the guidance asks employers to
    "consider" reporting, and it cannot change the notification.
    """
    f = c.facts
    if f.medicine_defect is not True:
        return None
    facts: dict[str, FactValue] = {"medicine_defect": True, "nation": f.nation}
    return Finding("medicine", Outcome.MET, facts, body=DEVICE_BODY[f.nation])


def _administered(f: IncidentFacts) -> bool:
    """Something was administered: a patient was exposed, and no delivered activity of 0 MBq
    says otherwise. A near miss administered nothing."""
    return f.exposure_kind in EXPOSED and f.nm_delivered_activity_mbq != 0


def arsac(c: Case) -> Finding | None:
    """ARSAC for an administration outside a licence, Regulation 5 (line 45, 87-98).

    Line 94: the breach is administering "without having the appropriate licence", so the
    licence matters only when something was administered: a near miss (or 0 MBq delivered)
    is never asked, and a licence problem recorded for one is not a breach. Asked of nuclear
    medicine exposures; a recorded breach is honoured for any modality (e.g. permanent
    brachytherapy implants are licensed too). It decides a route only, never the notification.
    """
    f = c.facts
    breach = f.outside_arsac_licence
    if breach is not True and f.modality not in NUCLEAR_MEDICINE:
        return None
    administered = _administered(f)
    if breach is not True and not administered:
        return None
    facts: dict[str, FactValue] = {"outside_arsac_licence": breach, "administered": administered}
    if breach is None:
        return Finding("arsac", Outcome.NEEDS_FACTS, facts, ("outside_arsac_licence",))
    if breach and administered:
        return Finding("arsac", Outcome.MET, facts, body=OtherBody.ARSAC)
    return Finding("arsac", Outcome.NOT_MET, facts)


@applies(kinds=EXPOSED)
def licensing_breach(c: Case) -> Finding | None:
    """The enforcing authority's own licensing breach form (line 45, 98, 112).

    Line 45: "The employer should also tell us if radioactive substances are administered
    without having the correct licence"; line 98 encourages it, and line 112 gives the form.
    A separate route from the Regulation 8(4) notification: it never makes an incident
    notifiable. Recorded only for a breach ARSAC is told about (``arsac`` above).
    """
    f = c.facts
    if f.outside_arsac_licence is not True or not _administered(f):
        return None
    facts: dict[str, FactValue] = {"outside_arsac_licence": True, "authority": AUTHORITY[f.nation]}
    return Finding(LICENSING_BREACH, Outcome.MET, facts)
