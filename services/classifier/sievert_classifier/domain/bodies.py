"""Who hears about an incident besides the enforcing authority, and the local investigation.

Pure rules over the case; line numbers refer to cqc-irmer-notification-guidance-2023.txt.
"""

from __future__ import annotations

from sievert_classifier.domain.model import Case, Finding
from sievert_classifier.domain.rules import EXPOSED, NUCLEAR_MEDICINE
from sievert_shared.decision import Authority, FactValue, OtherBody, Outcome
from sievert_shared.facts import ExposureKind, Nation

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


_AUTHORITY_FINDINGS = {
    nation: Finding("authority", Outcome.MET, {"nation": nation, "authority": body})
    for nation, body in AUTHORITY.items()
}
_INVESTIGATION_FINDINGS = {
    kind: Finding("regulation-8(3)", Outcome.MET, {"exposure_kind": kind}) for kind in ExposureKind
}


def authority(c: Case) -> Finding:
    """The enforcing authority for the site's nation (line 351-373)."""
    return _AUTHORITY_FINDINGS[c.facts.nation]


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


def device_regulator(c: Case) -> Finding | None:
    """MHRA, HFS or NIAIC when equipment failed (line 375-391), SAUE or not (line 391)."""
    f = c.facts
    if f.equipment_fault is not True:
        return None
    body = DEVICE_BODY[f.nation]
    return Finding("device", Outcome.MET, {"equipment_fault": True, "nation": f.nation}, body=body)


def arsac(c: Case) -> Finding | None:
    """ARSAC for an administration outside a licence, Regulation 5 (line 45, 87-98).

    Asked of nuclear medicine exposures; a recorded breach is honoured for any modality
    (e.g. permanent brachytherapy implants are licensed too).
    """
    f = c.facts
    breach = f.outside_arsac_licence
    facts: dict[str, FactValue] = {"outside_arsac_licence": breach}
    if breach is True:
        return Finding("arsac", Outcome.MET, facts, body=OtherBody.ARSAC)
    if f.modality not in NUCLEAR_MEDICINE or f.exposure_kind not in EXPOSED:
        return None
    if breach is None:
        return Finding("arsac", Outcome.NEEDS_FACTS, facts, ("outside_arsac_licence",))
    return Finding("arsac", Outcome.NOT_MET, facts)


def local_investigation(c: Case) -> Finding:
    """Regulation 8(3): every incident is investigated and recorded locally (line 223, 227)."""
    return _INVESTIGATION_FINDINGS[c.facts.exposure_kind]
