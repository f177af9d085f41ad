"""The one door to patient identifiers, and erasure by crypto-shredding."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse, Response

from sievert_intake.entrypoints.deps import CorrelationIdDep, Eraser, IdentifierReader, IntakeDep, VaultDep
from sievert_intake.service_layer.errors import IdentifiersErasedError, IncidentNotFoundError
from sievert_shared.errors import NotFoundError

router = APIRouter(prefix="/v1")


@router.get("/incidents/{incident_id}/patient", responses={404: {}})
async def patient_identifiers(
    incident_id: uuid.UUID,
    intake: IntakeDep,
    vault: VaultDep,
    caller: IdentifierReader,
    correlation_id: CorrelationIdDep,
) -> JSONResponse:
    """The one door to identifiers (duty of candour): each read is written to the audit
    trail, in the same transaction as the decryption."""
    latest, _facts = await intake.current(incident_id)
    if not caller.sees(latest.tenant.trust):
        raise IncidentNotFoundError(incident_id)
    revealed = await vault.reveal(incident_id, actor=caller.subject, correlation_id=correlation_id)
    if revealed is None:
        raise NotFoundError(f"no patient identifiers were sent for incident {incident_id}")
    if revealed.identifiers is None:
        raise IdentifiersErasedError(revealed.pseudonym)
    return JSONResponse(
        {
            "incident_id": str(incident_id),
            "patient_pseudonym": revealed.pseudonym,
            "identifiers": revealed.identifiers.to_json(),
        },
        headers={"Cache-Control": "no-store"},
    )


@router.delete("/patients/{pseudonym}", status_code=204, responses={404: {}})
async def erase_patient(
    pseudonym: Annotated[str, Path(pattern=r"^pt-[0-9a-f]{24}$")],
    vault: VaultDep,
    caller: Eraser,
    correlation_id: CorrelationIdDep,
) -> Response:
    """Erasure by crypto-shredding: the patient's data key is deleted, so every stored copy
    of their identifiers is unreadable. Incidents, events and reports keep the pseudonym."""
    trust = await vault.trust_of_patient(pseudonym)
    if trust is None or not caller.sees(trust):
        raise NotFoundError(f"no patient {pseudonym}")
    if not await vault.erase(pseudonym, actor=caller.subject, correlation_id=correlation_id):
        raise NotFoundError(f"patient {pseudonym} has no key (already erased?)")
    return Response(status_code=204)
